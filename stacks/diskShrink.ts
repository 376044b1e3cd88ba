import { StackConfigError } from "./index";
import { diskGb } from "./quantity";
import type { StackConfig } from "./schema";
import { gcp } from "../components/gcp";
import { fileSystemLabel, type DiskFileSystem } from "../components/storage/gceDisk";

/**
 * Refuses a diskSize smaller than the GCE disk that already exists, and per-user quotas on a disk
 * that is not XFS (refuseOtherFileSystem), before any resource is registered.
 *
 * Why the program must: GCE cannot shrink a disk, and the GCP provider does not refuse a smaller
 * `size` either: it plans a replacement, a new, empty disk ("the provider updates the disk size if
 * upsizing is detected but recreates the disk if downsizing is requested": `size` in
 * @pulumi/gcp compute/disk.d.ts). retainOnDelete would keep the old disk, but the NFS server would
 * then export an empty one.
 *
 * How it knows the current size: a Pulumi program sees no earlier state of its own stack (a
 * StackReference to itself reads the last completed update's outputs, which are missing on a new
 * stack and stale after a failed one, and a resource's `get` registers a resource). An invoke is
 * no registration: `gcp.compute.getDisk` asks GCE for the disk as it is now, in previews too.
 * A disk that does not exist yet (a new stack, or a restore under a new diskName) has nothing to
 * shrink. Any other failure (credentials, API) stops the run: the check is never skipped silently.
 *
 * On the StorageClass path there is no such read (the Kubernetes provider offers no invoke that
 * reads an object); the API server refuses a claim request at or below the claim's actual capacity
 * (`spec.resources.requests.storage: Forbidden: field can not be less than status.capacity`,
 * ValidatePersistentVolumeClaimUpdate in k8s.io/kubernetes pkg/apis/core/validation/validation.go;
 * a request above it that was never fulfilled may be lowered, to recover from a failed expansion).
 */
export async function refuseDiskShrink(
  cfg: Pick<StackConfig, "diskKind" | "diskName" | "diskZone" | "diskSize" | "userQuotaDefault">,
  project: string,
): Promise<void> {
  if (cfg.diskKind !== "gce") return;
  const current = await existingDisk(cfg.diskName, cfg.diskZone);
  if (current === undefined) return;
  const wantedGb = diskGb(cfg.diskSize);
  if (wantedGb < current.sizeGb) {
    throw new StackConfigError(project, [
      {
        key: "diskSize",
        message:
          `"${cfg.diskSize}" is smaller than the disk ${cfg.diskName} as it is (${current.sizeGb} GiB): GCE cannot ` +
          "shrink a disk, and Pulumi would replace it with a new, empty one. Keep at least its current size.",
      },
    ]);
  }
  refuseOtherFileSystem(cfg, current.fileSystem, project);
}

/**
 * Per-user quotas need XFS, and pd.csi formats a disk only when it is blank: a disk made as ext4
 * stays ext4, and mounting it as XFS would fail in the kubelet (the NFS server pod would never
 * start). The disk's label says what it was made with (GceDisk: `file-system`, absent on ext4).
 */
function refuseOtherFileSystem(
  cfg: Pick<StackConfig, "diskName" | "userQuotaDefault">,
  fileSystem: DiskFileSystem,
  project: string,
): void {
  const quotasOn = cfg.userQuotaDefault !== "";
  if (quotasOn && fileSystem !== "xfs") {
    throw new StackConfigError(project, [
      {
        key: "userQuotaDefault",
        message:
          `needs an XFS disk, and the disk ${cfg.diskName} is ${fileSystem} (made without quotas): a disk is formatted ` +
          "only when it is new. Copy the notebooks to a new XFS disk first (docs/operations.md, Per-user quotas: from an ext4 disk to XFS).",
      },
    ]);
  }
  if (!quotasOn && fileSystem === "xfs") {
    throw new StackConfigError(project, [
      {
        key: "userQuotaDefault",
        message:
          `is empty, but the disk ${cfg.diskName} is XFS (made with per-user quotas) and would be mounted as ext4: ` +
          "keep quotas on (a userQuotaDefault as large as diskSize limits nobody).",
      },
    ]);
  }
}

/** The disk's size in GiB and file system, or undefined when there is no such disk. */
async function existingDisk(
  name: string,
  zone: string,
): Promise<{ sizeGb: number; fileSystem: DiskFileSystem } | undefined> {
  try {
    const disk = await gcp().compute.getDisk({ name, zone });
    // Older GCP providers answer a missing disk with an empty result rather than an error.
    if (!(disk.size > 0)) return undefined;
    return { sizeGb: disk.size, fileSystem: disk.labels?.[fileSystemLabel] === "xfs" ? "xfs" : "ext4" };
  } catch (err) {
    if (/not ?found|\b404\b/i.test(err instanceof Error ? err.message : String(err))) return undefined;
    throw err;
  }
}
