import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { labelsFor } from "../common";
import { ownedFoldersContainer, type OwnedFolder } from "./nfsServer";

export interface ShareFoldersArgs {
  /** Namespace of the notebooks claim (the hub's). */
  namespace: pulumi.Input<string>;
  /** The notebooks claim, mounted whole. */
  claimName: pulumi.Input<string>;
  /** An image with `sh`, `mkdir`, `chmod` and `chown`. */
  image: pulumi.Input<string>;
  /** The top folders of the share, as the in-cluster NFS server's init container makes them. */
  folders: OwnedFolder[];
}

/**
 * The top folders of a share no NFS server pod of ours serves (Filestore): a Job that makes them
 * once, through the notebooks claim, with the mount every user pod gets. What the in-cluster NFS
 * server's init container does on its own disk, done here from a client: the same container
 * (root with CHOWN and FOWNER only, every other capability dropped, no privilege escalation, no
 * service account token), which works because the share does not squash root (see Filestore).
 * It runs to completion before the hub is made (the provider awaits the Job), so no user's pod
 * starts before `notebooks/` exists; it runs again only when its spec changes (a Job's pod
 * template is immutable, so Pulumi replaces it), and each run leaves existing folders' contents
 * alone.
 */
export class ShareFolders extends pulumi.ComponentResource {
  public readonly job: k8s.batch.v1.Job;

  constructor(name: string, args: ShareFoldersArgs, opts?: pulumi.ComponentResourceOptions) {
    super("jupyterhub-nfs:storage:ShareFolders", name, {}, opts);
    const labels = labelsFor("share-folders", name);
    this.job = new k8s.batch.v1.Job(
      `${name}-job`,
      {
        metadata: { labels, namespace: args.namespace },
        spec: {
          backoffLimit: 6,
          template: {
            metadata: { labels },
            spec: {
              restartPolicy: "OnFailure",
              automountServiceAccountToken: false,
              containers: [ownedFoldersContainer(args.image, args.folders, "notebooks", "/share")],
              volumes: [{ name: "notebooks", persistentVolumeClaim: { claimName: args.claimName } }],
            },
          },
        },
      },
      { parent: this },
    );
    this.registerOutputs({});
  }
}
