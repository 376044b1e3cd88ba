import { stringify } from "yaml";

/**
 * The user scheduler's KubeSchedulerConfiguration: z2jh 4.4.0's (jupyterhub/values.yaml,
 * scheduling.userScheduler.plugins and pluginConfig; templates/scheduling/user-scheduler/configmap.yaml).
 * One profile, named for this stack, that scores nodes by how full they already are
 * (NodeResourcesFit's MostAllocated) instead of the default scheduler's emptiest-first
 * (LeastAllocated, with NodeResourcesBalancedAllocation), so user pods fill one node before the
 * next and the cluster autoscaler can remove the nodes left empty when users leave.
 */
export interface SchedulerConfigArgs {
  /** The profile's schedulerName: what KubeSpawner's scheduler_name and the placeholders name. */
  schedulerName: string;
  /** The Lease the replicas elect a leader on (one schedules, the other waits). */
  lease: { namespace: string; name: string };
}

export function userSchedulerConfig(args: SchedulerConfigArgs): Record<string, unknown> {
  return {
    apiVersion: "kubescheduler.config.k8s.io/v1",
    kind: "KubeSchedulerConfiguration",
    leaderElection: {
      leaderElect: true,
      resourceLock: "leases",
      resourceName: args.lease.name,
      resourceNamespace: args.lease.namespace,
    },
    profiles: [
      {
        schedulerName: args.schedulerName,
        plugins: {
          score: {
            // A plugin is enabled again with another weight only after it is disabled. Balanced
            // allocation is left off: it would pull towards spreading, against MostAllocated.
            disabled: [
              { name: "NodeResourcesBalancedAllocation" },
              { name: "NodeAffinity" },
              { name: "InterPodAffinity" },
              { name: "NodeResourcesFit" },
              { name: "ImageLocality" },
            ],
            // z2jh's weights: a preference a pod states (affinity) outweighs packing, which outweighs
            // an image already on the node. TaintToleration, PodTopologySpread and VolumeBinding keep
            // their default weights.
            enabled: [
              { name: "NodeAffinity", weight: 14631 },
              { name: "InterPodAffinity", weight: 1331 },
              { name: "NodeResourcesFit", weight: 121 },
              { name: "ImageLocality", weight: 11 },
            ],
          },
        },
        pluginConfig: [
          {
            name: "NodeResourcesFit",
            args: {
              scoringStrategy: {
                type: "MostAllocated",
                resources: [
                  { name: "cpu", weight: 1 },
                  { name: "memory", weight: 1 },
                ],
              },
            },
          },
        ],
      },
    ],
  };
}

/** The configuration as the file kube-scheduler reads (`--config`). */
export function userSchedulerConfigYaml(args: SchedulerConfigArgs): string {
  return stringify(userSchedulerConfig(args), { lineWidth: 0 });
}
