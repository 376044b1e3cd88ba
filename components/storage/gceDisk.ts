import type * as gcp from "@pulumi/gcp";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { labelsFor } from "../common";
import { gcp as loadGcp } from "../gcp";

export interface GceDiskArgs {
  /** Namespace of the ReadWriteOnce claim (the NFS server's namespace). */
  namespace: pulumi.Input<string>;
  /** Name of the GCE disk and of the claim. */
  diskName: string;
  zone: string;
  sizeGb: number;
  /** pd-standard, pd-balanced or pd-ssd. */
  diskType: string;
  /**
   * A snapshot to create the disk from (name, `projects/<p>/global/snapshots/<name>` or URL). GCE
   * reads it only when it creates the disk; a different snapshot means a different disk.
   */
  snapshot?: string;
  /**
   * Name of the StorageClass made for this disk's volume and claim (cluster-scoped: unique per
   * stack). It provisions nothing (the claim names its volume); it lets the claim grow.
   */
  storageClassName: string;
  /**
   * The file system pd.csi formats a new disk with (and mounts it as): XFS for per-user quotas
   * (project quotas), else ext4. Recorded in the disk's label `file-system`, which
   * stacks/diskShrink.ts reads to refuse mounting an existing disk as another file system.
   * Default ext4.
   */
  fileSystem?: DiskFileSystem;
  /** Mount the file system with project quotas on (XFS `prjquota`): per-user quotas. Default off. */
  projectQuotas?: boolean;
  /** A daily snapshot schedule, or none. */
  snapshots?: { retentionDays: number; startTime: string };
  /** Keep the disk when Pulumi deletes or replaces it (on by default in the stack config). */
  retainOnDelete: boolean;
  /** Refuse any plan that deletes the disk. */
  protect: boolean;
  /**
   * Take over the disk `diskName` that already exists in `zone` (kept by an earlier destroy)
   * instead of creating it: Pulumi imports it, and refuses when it differs from these args.
   */
  adopt?: boolean;
}

export type DiskFileSystem = "ext4" | "xfs";

/** The disk label that records the file system the disk was made with (absent: ext4, as before). */
export const fileSystemLabel = "file-system";

/** The import ID of a zonal disk, in a form the GCP provider accepts with or without a project set. */
export function gceDiskId(project: string | undefined, zone: string, name: string): string {
  return project ? `projects/${project}/zones/${zone}/disks/${name}` : `${zone}/${name}`;
}

/**
 * A GCE persistent disk with the notebooks on it, exposed to the cluster as a static
 * PersistentVolume through the GKE PD CSI driver and a claim bound to exactly that volume, both
 * of a StorageClass that lets them grow with the disk.
 */
export class GceDisk extends pulumi.ComponentResource {
  public readonly disk: gcp.compute.Disk;
  public readonly diskName: pulumi.Output<string>;
  public readonly volumeName: pulumi.Output<string>;
  public readonly claimName: pulumi.Output<string>;

  constructor(name: string, args: GceDiskArgs, opts?: pulumi.ComponentResourceOptions) {
    super("jupyterhub-nfs:storage:GceDisk", name, {}, opts);
    const labels = labelsFor("notebook-disk", name);
    const fileSystem = args.fileSystem ?? "ext4";
    const { compute, config } = loadGcp();

    // The disk is the user's data: retention and protection sit on it, not on this component.
    this.disk = new compute.Disk(
      `${name}-disk`,
      {
        name: args.diskName,
        zone: args.zone,
        // Growing is an update in place (GCE disks.resize); shrinking would be a replacement by an
        // empty disk (see `size` in @pulumi/gcp's compute/disk.d.ts), which stacks/diskShrink.ts
        // refuses before anything is registered.
        size: args.sizeGb,
        type: args.diskType,
        ...(args.snapshot ? { snapshot: args.snapshot } : {}),
        // The engine does not show resource options to policy packs: this label mirrors retainOnDelete
        // so that policy/ (gce-disk-retained-on-delete) can check it at preview time.
        labels: {
          "part-of": "jupyterhub-nfs",
          "retain-on-delete": String(args.retainOnDelete),
          // Disks made before this label are ext4; only XFS ones carry it, so they keep their labels.
          ...(fileSystem !== "ext4" && { [fileSystemLabel]: fileSystem }),
        },
      },
      {
        parent: this,
        retainOnDelete: args.retainOnDelete,
        protect: args.protect,
        // Without it, a kept disk makes the next `up` fail (GCE: alreadyExists). A CLI `pulumi import`
        // cannot stand in: after a destroy this component is not in the state to be its parent.
        // The engine imports only while the state has no such disk (or another import ID), so the
        // option may stay set once the disk is ours.
        ...(args.adopt ? { import: gceDiskId(config.project, args.zone, args.diskName) } : {}),
      },
    );

    if (args.snapshots) {
      const region = args.zone.replace(/-[a-z]$/, "");
      const schedule = new compute.ResourcePolicy(
        `${name}-snapshots`,
        {
          name: `${args.diskName}-daily`,
          region,
          snapshotSchedulePolicy: {
            schedule: { dailySchedule: { daysInCycle: 1, startTime: args.snapshots.startTime } },
            retentionPolicy: {
              maxRetentionDays: args.snapshots.retentionDays,
              // Snapshots outlive the disk: they are the way back after an accidental delete.
              onSourceDiskDelete: "KEEP_AUTO_SNAPSHOTS",
            },
            snapshotProperties: { labels: { "part-of": "jupyterhub-nfs" } },
          },
        },
        { parent: this },
      );
      new compute.DiskResourcePolicyAttachment(
        `${name}-snapshots`,
        { disk: this.disk.name, zone: args.zone, name: schedule.name },
        { parent: this },
      );
    }

    // How the file system on the disk grows when diskSize grows, with no restart:
    // a claim bound to a static volume may only grow if its storageClassName names a class with
    // allowVolumeExpansion (kube-apiserver admission plugin PersistentVolumeClaimResize,
    // plugin/pkg/admission/storage/persistentvolume/resize/admission.go in k8s.io/kubernetes: with
    // class "" it refuses "only dynamically provisioned pvc can be resized and the storageclass that
    // provisions the pvc must support resize"). With such a class the CSI external-resizer (GKE runs
    // it for pd.csi) calls ControllerExpandVolume, which finds the disk already grown by Pulumi and
    // returns its size (gcp-compute-persistent-disk-csi-driver pkg/gce-cloud-provider/compute/
    // gce-compute.go ResizeDisk: "If disk is already of size equal or greater than requested size,
    // we simply return the found size"), sets the volume's capacity and marks the claim
    // FileSystemResizePending; the kubelet then calls NodeExpandVolume, which runs resize2fs on the
    // mounted volume, or xfs_growfs for XFS (pkg/gce-pd-csi-driver/node.go, resizefs.NewResizeFs(...).Resize), online.
    // The driver's own guide for pre-provisioned disks gives the volume a class the same way
    // (docs/kubernetes/user-guides/pre-provisioned.md: storageClassName "csi-gce-pd").
    // The class provisions nothing here: the claim names its volume, so it is bound, not provisioned.
    const storageClass = new k8s.storage.v1.StorageClass(
      `${name}-class`,
      {
        metadata: { name: args.storageClassName, labels },
        provisioner: "pd.csi.storage.gke.io",
        allowVolumeExpansion: true,
        reclaimPolicy: "Retain",
        volumeBindingMode: "WaitForFirstConsumer",
        parameters: { type: args.diskType },
      },
      { parent: this },
    );

    const capacity = `${args.sizeGb}Gi`;
    const volume = new k8s.core.v1.PersistentVolume(
      `${name}-pv`,
      {
        metadata: { labels },
        spec: {
          // Mutable: grows with the disk (the external-resizer writes the same value).
          capacity: { storage: capacity },
          accessModes: ["ReadWriteOnce"],
          persistentVolumeReclaimPolicy: "Retain",
          storageClassName: storageClass.metadata.name,
          csi: {
            driver: "pd.csi.storage.gke.io",
            volumeHandle: pulumi.interpolate`projects/${this.disk.project}/zones/${args.zone}/disks/${this.disk.name}`,
            // pd.csi formats a blank disk with it at its first mount (NodeStageVolume), and mounts
            // it with the volume's mountOptions (the CSI mount flags) at every mount.
            fsType: fileSystem,
          },
          // XFS turns project quota accounting and enforcement on only at mount time.
          ...(args.projectQuotas && { mountOptions: ["prjquota"] }),
          // A zonal disk attaches only to nodes in its zone.
          nodeAffinity: {
            required: {
              nodeSelectorTerms: [
                {
                  matchExpressions: [{ key: "topology.gke.io/zone", operator: "In", values: [args.zone] }],
                },
              ],
            },
          },
        },
      },
      // The claim's class cannot change in place (it is replaced, and a replaced claim cannot bind a
      // volume still bound to the old one): a new class means a new volume as well. Auto-named, so
      // the new volume exists before the old one goes; neither touches the disk (Retain).
      { parent: this, replaceOnChanges: ["spec.storageClassName"] },
    );

    // volumeName: bind to this volume, never let the class provision another disk.
    const claim = new k8s.core.v1.PersistentVolumeClaim(
      `${name}-pvc`,
      {
        metadata: { name: args.diskName, namespace: args.namespace, labels },
        spec: {
          accessModes: ["ReadWriteOnce"],
          storageClassName: storageClass.metadata.name,
          volumeName: volume.metadata.name,
          // Grows in place (the class allows expansion); the API server refuses a request at or below
          // the claim's actual capacity, and stacks/diskShrink.ts a size below the disk's.
          resources: { requests: { storage: capacity } },
        },
      },
      { parent: this },
    );

    this.diskName = this.disk.name;
    this.volumeName = volume.metadata.name;
    this.claimName = claim.metadata.name;
    this.registerOutputs({
      diskName: this.diskName,
      volumeName: this.volumeName,
      claimName: this.claimName,
    });
  }
}
