import * as gcp from "@pulumi/gcp";
import { StackConfigError } from "./index";
import { diskGb } from "./quantity";
import type { StackConfig } from "./schema";

/**
 * Refuses a diskSize smaller than the GCE disk that already exists, before any resource is
 * registered.
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
  cfg: Pick<StackConfig, "diskKind" | "diskName" | "diskZone" | "diskSize">,
  project: string,
): Promise<void> {
  if (cfg.diskKind !== "gce") return;
  const currentGb = await existingDiskGb(cfg.diskName, cfg.diskZone);
  const wantedGb = diskGb(cfg.diskSize);
  if (currentGb !== undefined && wantedGb < currentGb) {
    throw new StackConfigError(project, [
      {
        key: "diskSize",
        message:
          `"${cfg.diskSize}" is smaller than the disk ${cfg.diskName} as it is (${currentGb} GiB): GCE cannot ` +
          "shrink a disk, and Pulumi would replace it with a new, empty one. Keep at least its current size.",
      },
    ]);
  }
}

/** The disk's size in GiB, or undefined when there is no such disk. */
async function existingDiskGb(name: string, zone: string): Promise<number | undefined> {
  try {
    const disk = await gcp.compute.getDisk({ name, zone });
    // Older GCP providers answer a missing disk with an empty result rather than an error.
    return disk.size > 0 ? disk.size : undefined;
  } catch (err) {
    if (/not ?found|\b404\b/i.test(err instanceof Error ? err.message : String(err))) return undefined;
    throw err;
  }
}
