import * as gcp from "@pulumi/gcp";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { labelsFor } from "../common";

export interface GceDiskArgs {
  /** Namespace of the ReadWriteOnce claim (the NFS server's namespace). */
  namespace: pulumi.Input<string>;
  /** Name of the GCE disk and of the claim. */
  diskName: string;
  zone: string;
  sizeGb: number;
  /** pd-standard, pd-balanced or pd-ssd. */
  diskType: string;
  /** A daily snapshot schedule, or none. */
  snapshots?: { retentionDays: number; startTime: string };
  /** Keep the disk when Pulumi deletes or replaces it (on by default in the stack config). */
  retainOnDelete: boolean;
  /** Refuse any plan that deletes the disk. */
  protect: boolean;
}

/**
 * A GCE persistent disk with the notebooks on it, exposed to the cluster as a static
 * PersistentVolume through the GKE PD CSI driver and a claim bound to exactly that volume.
 */
export class GceDisk extends pulumi.ComponentResource {
  public readonly disk: gcp.compute.Disk;
  public readonly diskName: pulumi.Output<string>;
  public readonly volumeName: pulumi.Output<string>;
  public readonly claimName: pulumi.Output<string>;

  constructor(name: string, args: GceDiskArgs, opts?: pulumi.ComponentResourceOptions) {
    super("jupyterhub-nfs:storage:GceDisk", name, {}, opts);
    const labels = labelsFor("notebook-disk", name);

    // The disk is the user's data: retention and protection sit on it, not on this component.
    this.disk = new gcp.compute.Disk(
      `${name}-disk`,
      {
        name: args.diskName,
        zone: args.zone,
        size: args.sizeGb,
        type: args.diskType,
        // The engine does not show resource options to policy packs: this label mirrors retainOnDelete
        // so that policy/ (gce-disk-retained-on-delete) can check it at preview time.
        labels: { "part-of": "jupyterhub-nfs", "retain-on-delete": String(args.retainOnDelete) },
      },
      { parent: this, retainOnDelete: args.retainOnDelete, protect: args.protect },
    );

    if (args.snapshots) {
      const region = args.zone.replace(/-[a-z]$/, "");
      const schedule = new gcp.compute.ResourcePolicy(
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
      new gcp.compute.DiskResourcePolicyAttachment(
        `${name}-snapshots`,
        { disk: this.disk.name, zone: args.zone, name: schedule.name },
        { parent: this },
      );
    }

    const capacity = `${args.sizeGb}Gi`;
    const volume = new k8s.core.v1.PersistentVolume(
      `${name}-pv`,
      {
        metadata: { labels },
        spec: {
          capacity: { storage: capacity },
          accessModes: ["ReadWriteOnce"],
          persistentVolumeReclaimPolicy: "Retain",
          storageClassName: "",
          csi: {
            driver: "pd.csi.storage.gke.io",
            volumeHandle: pulumi.interpolate`projects/${this.disk.project}/zones/${args.zone}/disks/${this.disk.name}`,
            fsType: "ext4",
          },
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
      { parent: this },
    );

    // storageClassName "" plus volumeName: bind to this volume, never let a default class provision one.
    const claim = new k8s.core.v1.PersistentVolumeClaim(
      `${name}-pvc`,
      {
        metadata: { name: args.diskName, namespace: args.namespace, labels },
        spec: {
          accessModes: ["ReadWriteOnce"],
          storageClassName: "",
          volumeName: volume.metadata.name,
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
