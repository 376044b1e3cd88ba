import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { labelsFor } from "../common";

export interface NfsVolumeArgs {
  /**
   * The NFS server's address, as an output of what assigned it, never typed by hand: the NFS
   * Service's ClusterIP, or the Filestore instance's address.
   */
  server: pulumi.Input<string>;
  /**
   * The exported path: "/" (the default) for the in-cluster server, whose export is the NFSv4
   * pseudo-root; `/<share>` for Filestore.
   */
  path?: pulumi.Input<string>;
  /** How the kubelet mounts it (nfs(5)); by default `nfsMountOptions`. */
  mountOptions?: string[];
  /** Size the volume advertises (the backing disk's); NFS does not enforce it. */
  capacity: pulumi.Input<string>;
  /** Namespace and name of the ReadWriteMany claim the hub and file browser mount. */
  claimNamespace: pulumi.Input<string>;
  claimName: string;
}

/**
 * How the kubelet mounts the export (nfs(5)); set on purpose rather than left to each node's defaults:
 * - nfsvers=4.1: NFSv4 (the server serves v4 on 2049 alone), and 4.1 for sessions: exactly-once
 *   semantics for retried requests and a defined state reclaim after the server restarts (the
 *   server's grace period is 10 s, `rpc.nfsd -G 10`), provided the restarted server is the same
 *   server to the client: the same server scope, which the kernel NFS server takes from its host
 *   name, hence the NFS server pod's fixed `hostname` (NfsServerArgs.hostname); with another scope
 *   a client may skip the reclaim and fail the files it held. 4.2 adds server-side copy and sparse
 *   files, which notebooks do not need; 4.1 works with more node kernels.
 * - hard: while the server is away, file operations wait and retry, never fail. `soft` would return
 *   EIO after the retries, and a notebook save could leave a truncated file.
 * - timeo=600,retrans=2: the Linux defaults for TCP (60 s before the first retransmission, longer
 *   after each; after two the kernel logs "server not responding, still trying" and, being hard,
 *   keeps trying), written down so that a node image with other defaults does not change them.
 */
export const nfsMountOptions = ["nfsvers=4.1", "hard", "timeo=600", "retrans=2"];

/** The shared NFS export as a ReadWriteMany PersistentVolume, and a claim bound to exactly it. */
export class NfsVolume extends pulumi.ComponentResource {
  public readonly volumeName: pulumi.Output<string>;
  public readonly claimName: pulumi.Output<string>;

  constructor(name: string, args: NfsVolumeArgs, opts?: pulumi.ComponentResourceOptions) {
    super("jupyterhub-nfs:storage:NfsVolume", name, {}, opts);
    const labels = labelsFor("notebooks-volume", name);

    // spec.nfs is immutable, so a new server address means a new volume. The volume is
    // auto-named so the replacement exists before the old one goes.
    const volume = new k8s.core.v1.PersistentVolume(
      `${name}-pv`,
      {
        metadata: { labels },
        spec: {
          capacity: { storage: args.capacity },
          accessModes: ["ReadWriteMany"],
          // Deleting the claim must never touch the files: the export is the user's data.
          persistentVolumeReclaimPolicy: "Retain",
          storageClassName: "",
          // The in-cluster NFS server exports /exports alone, with fsid=0: the NFSv4 pseudo-root,
          // so its path is "/".
          nfs: { server: args.server, path: args.path ?? "/" },
          mountOptions: args.mountOptions ?? nfsMountOptions,
        },
      },
      { parent: this, replaceOnChanges: ["spec.nfs"] },
    );

    const claim = new k8s.core.v1.PersistentVolumeClaim(
      `${name}-pvc`,
      {
        metadata: { name: args.claimName, namespace: args.claimNamespace, labels },
        spec: {
          accessModes: ["ReadWriteMany"],
          // "" and volumeName: bind to the NFS volume, never let a default class provision a disk.
          storageClassName: "",
          volumeName: volume.metadata.name,
          resources: { requests: { storage: args.capacity } },
        },
      },
      // A claim's volumeName cannot change; its name is fixed, so the old one goes first.
      // Its request is what it asked for when it was made, and stays so: a claim of class "" may
      // not grow (kube-apiserver admission PersistentVolumeClaimResize: "only dynamically
      // provisioned pvc can be resized ..."), and NFS enforces no size anyway. The volume's
      // capacity (mutable) is the one that follows the disk; the claim still asks for no more.
      {
        parent: this,
        replaceOnChanges: ["spec.volumeName"],
        deleteBeforeReplace: true,
        ignoreChanges: ["spec.resources"],
      },
    );

    this.volumeName = volume.metadata.name;
    this.claimName = claim.metadata.name;
    this.registerOutputs({ volumeName: this.volumeName, claimName: this.claimName });
  }
}
