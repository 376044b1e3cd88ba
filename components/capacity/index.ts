import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { labelsFor, restrictedPodSecurity, selectorFor } from "../common";
import type { Toleration } from "../jupyterhub/profiles";

export { UserScheduler, type UserSchedulerArgs } from "./userScheduler";

/**
 * Priorities, as z2jh's `scheduling.podPriority`: user pods above the image puller above the
 * placeholders, all at or below the hub, the proxy and the file browser (0, no class) and far below
 * the NFS server. A user's pod preempts placeholders (lower), never another user's (equal).
 * -10 is the cluster autoscaler's default cut-off (`--expendable-pods-priority-cutoff`, GKE's too):
 * a pod below it never makes the autoscaler add a node; a placeholder at it does, which is how a
 * preempted placeholder, Pending again, asks for the next node before the next user needs it.
 */
export const priorities = { user: 0, imagePuller: -5, placeholder: -10 } as const;

/** Nothing requested: the pre-puller's containers run nothing and must never keep a user off a node. */
const nothing = { requests: { cpu: "0", memory: "0" } };

/** Settings of the pause container and the pre-puller's containers (Pod Security `restricted`). */
const idleContainerSecurity: k8s.types.input.core.v1.SecurityContext = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ["ALL"] },
};

/** Where user pods may go: what the placeholders copy and the pre-puller covers. */
export interface UserPlacement {
  nodeSelector: Record<string, string>;
  tolerations: Toleration[];
  /** The user pods' own preference (off the NFS server's node), so placeholders sit where users would. */
  affinity?: k8s.types.input.core.v1.Affinity;
}

export interface UserCapacityArgs {
  namespace: pulumi.Input<string>;
  /** The pause image (registry.k8s.io/pause), for the placeholders and the pre-puller's one container. */
  pauseImage: pulumi.Input<string>;
  /**
   * Names of the PriorityClasses (cluster-scoped: unique per stack) for user pods, the image puller
   * and the placeholders. Made only when given.
   */
  priorityClassNames?: { user: string; imagePuller: string; placeholder: string };
  /**
   * Placeholders: `count` pause pods, each requesting what one user's pod is guaranteed (cores,
   * bytes), placed where a user's pod would be; each preempted by the first user who needs its room.
   * Needs priorityClassNames.
   */
  placeholders?: { count: number; cpu: number; memoryBytes: number; placement: UserPlacement };
  /**
   * The pre-puller: a DaemonSet whose pods pull these images (every image a user's pod may start
   * from) on every node user pods may use (`tolerations`: every taint some user pod tolerates).
   */
  prePuller?: { images: string[]; tolerations: Toleration[] };
  /** The user scheduler's name, when it places the placeholders (so they sit where it packs users). */
  schedulerName?: string;
}

/**
 * What keeps a class's logins fast on an autoscaling cluster (z2jh's `scheduling` and `prePuller`):
 * the PriorityClasses, the user placeholders and the continuous image pre-puller. None of them
 * serves a request; each only holds room or images for the user pods KubeSpawner starts.
 */
export class UserCapacity extends pulumi.ComponentResource {
  /** The user pods' PriorityClass (KubeSpawner's priority_class_name), when made. */
  public readonly userPriorityClassName?: pulumi.Output<string>;

  constructor(name: string, args: UserCapacityArgs, opts?: pulumi.ComponentResourceOptions) {
    super("jupyterhub-nfs:capacity:UserCapacity", name, {}, opts);
    const child = { parent: this };
    const classes = args.priorityClassNames;
    const priorityClass = (key: keyof typeof priorities, description: string) =>
      classes
        ? new k8s.scheduling.v1.PriorityClass(
            `${name}-${key}-priority`,
            {
              metadata: { name: classes[key], labels: labelsFor("user-capacity", name) },
              value: priorities[key],
              globalDefault: false,
              description,
            },
            child,
          ).metadata.name
        : undefined;
    this.userPriorityClassName = priorityClass(
      "user",
      "JupyterHub user servers: they preempt the placeholders and the image puller.",
    );
    const placeholderClass = priorityClass(
      "placeholder",
      "JupyterHub user placeholders: preempted by user servers; at the autoscaler's cut-off, so a Pending one adds a node.",
    );
    if (args.placeholders && !placeholderClass) {
      // stacks/schema.ts refuses this config; a program using the component directly gets the same rule.
      throw new Error("UserCapacity: placeholders need priorityClassNames (without them no user could preempt one)");
    }

    if (args.placeholders && placeholderClass) {
      const p = args.placeholders;
      const labels = labelsFor("user-placeholder", name);
      new k8s.apps.v1.Deployment(
        `${name}-placeholders`,
        {
          metadata: {
            name: "user-placeholder",
            namespace: args.namespace,
            labels,
            // On a full cluster placeholders wait for a node (that is their point): `pulumi up` must
            // not wait for them to run.
            annotations: { "pulumi.com/skipAwait": "true" },
          },
          spec: {
            replicas: p.count,
            selector: { matchLabels: selectorFor("user-placeholder", name) },
            template: {
              metadata: { labels },
              spec: {
                priorityClassName: placeholderClass,
                ...(args.schedulerName !== undefined && { schedulerName: args.schedulerName }),
                nodeSelector: p.placement.nodeSelector,
                tolerations: p.placement.tolerations,
                affinity: p.placement.affinity,
                // A preempted placeholder gives its room at once.
                terminationGracePeriodSeconds: 0,
                automountServiceAccountToken: false,
                enableServiceLinks: false,
                securityContext: restrictedPodSecurity(65534, 65534),
                containers: [
                  {
                    name: "pause",
                    image: args.pauseImage,
                    // Requests only: the room a user's pod is guaranteed; the pause process uses none of it.
                    resources: { requests: { cpu: String(p.cpu), memory: String(p.memoryBytes) } },
                    securityContext: idleContainerSecurity,
                  },
                ],
              },
            },
          },
        },
        child,
      );
    }

    if (args.prePuller) {
      const labels = labelsFor("image-puller", name);
      const pullerClass = priorityClass(
        "imagePuller",
        "JupyterHub image pre-puller: below user servers (it holds a node's pod slot, nothing else).",
      );
      new k8s.apps.v1.DaemonSet(
        `${name}-image-puller`,
        {
          metadata: {
            name: "image-puller",
            namespace: args.namespace,
            labels,
            // Pulling a notebook image takes minutes on every node; `pulumi up` need not wait for it.
            annotations: { "pulumi.com/skipAwait": "true" },
          },
          spec: {
            selector: { matchLabels: selectorFor("image-puller", name) },
            // All at once: a new image is pulled on every node together, and the pods hold nothing.
            updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: "100%" } },
            template: {
              metadata: { labels },
              spec: {
                ...(pullerClass && { priorityClassName: pullerClass }),
                tolerations: args.prePuller.tolerations,
                terminationGracePeriodSeconds: 0,
                automountServiceAccountToken: false,
                enableServiceLinks: false,
                securityContext: restrictedPodSecurity(65534, 65534),
                // The kubelet pulls an init container's image before it runs it: each one pulls an
                // image and ends at once (z2jh's way: the image's own shell, so each image needs
                // /bin/sh, as the user pod's init container needs sh). The pod then idles in pause.
                initContainers: args.prePuller.images.map((image, i) => ({
                  name: `pull-${i}`,
                  image,
                  command: ["/bin/sh", "-c", "echo pulled"],
                  resources: nothing,
                  securityContext: idleContainerSecurity,
                })),
                containers: [
                  { name: "pause", image: args.pauseImage, resources: nothing, securityContext: idleContainerSecurity },
                ],
              },
            },
          },
        },
        child,
      );
    }
    this.registerOutputs({ userPriorityClassName: this.userPriorityClassName });
  }
}
