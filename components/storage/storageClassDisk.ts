import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { labelsFor } from "../common";

export interface StorageClassDiskArgs {
  /** Namespace of the claim (the NFS server's namespace). */
  namespace: pulumi.Input<string>;
  claimName: string;
  storageClassName: string;
  /** Kubernetes quantity, e.g. 200Gi. */
  size: string;
  /** Keep the claim (and so its volume) when Pulumi deletes or replaces it. */
  retainOnDelete: boolean;
  /** Refuse any plan that deletes the claim. */
  protect: boolean;
}

/**
 * A ReadWriteOnce claim provisioned by a StorageClass: the seed recipe's dynamic disk, and what
 * clusters outside GCP use. The claim is the user's data, so retention and protection sit on it.
 */
export class StorageClassDisk extends pulumi.ComponentResource {
  public readonly claimName: pulumi.Output<string>;

  constructor(name: string, args: StorageClassDiskArgs, opts?: pulumi.ComponentResourceOptions) {
    super("jupyterhub-nfs:storage:StorageClassDisk", name, {}, opts);

    const claim = new k8s.core.v1.PersistentVolumeClaim(
      `${name}-pvc`,
      {
        metadata: { name: args.claimName, namespace: args.namespace, labels: labelsFor("notebook-disk", name) },
        spec: {
          accessModes: ["ReadWriteOnce"],
          storageClassName: args.storageClassName,
          resources: { requests: { storage: args.size } },
        },
      },
      { parent: this, retainOnDelete: args.retainOnDelete, protect: args.protect },
    );

    this.claimName = claim.metadata.name;
    this.registerOutputs({ claimName: this.claimName });
  }
}
