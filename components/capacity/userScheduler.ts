import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import { labelsFor, restrictedContainerSecurity, restrictedPodSecurity, selectorFor } from "../common";
import { userSchedulerConfigYaml } from "./schedulerConfig";

export interface UserSchedulerArgs {
  /** The hub namespace: where the scheduler runs, and the only namespace whose pods it may place. */
  namespace: string;
  /** kube-scheduler's image; its minor version must not be newer than the cluster's API server. */
  image: pulumi.Input<string>;
  /** The profile's schedulerName (cluster-wide: unique per stack). */
  schedulerName: string;
}

/** Where the configuration is mounted, and the port kube-scheduler serves /healthz on (its default). */
const configDir = "/etc/user-scheduler";
export const userSchedulerHealthPort = 10259;
/** The Lease the replicas elect their leader on, in the hub namespace. */
const leaseName = "user-scheduler";

/**
 * What kube-scheduler reads across the cluster, and nothing more: the informers its default
 * plugins start (kubernetes v1.36.1 pkg/scheduler: the pods and nodes it places and counts, the
 * claims and storage objects of VolumeBinding and NodeVolumeLimits, the owners PodTopologySpread's
 * default constraints select by, PDBs for preemption, namespaces for affinity, DRA's classes,
 * claims and slices). Read only: where system:kube-scheduler (which z2jh binds) also lets it write
 * claims, volumes and DRA claims, delete any pod and create token and access reviews, this one
 * writes only in the hub namespace (userSchedulerRoleRules). The e2e test runs the real binary
 * under exactly these rules and checks it was refused nothing.
 */
export const userSchedulerClusterRules: k8s.types.input.rbac.v1.PolicyRule[] = [
  {
    apiGroups: [""],
    resources: [
      "pods",
      "nodes",
      "namespaces",
      "services",
      "replicationcontrollers",
      "persistentvolumeclaims",
      "persistentvolumes",
    ],
    verbs: ["get", "list", "watch"],
  },
  { apiGroups: ["apps"], resources: ["replicasets", "statefulsets"], verbs: ["get", "list", "watch"] },
  { apiGroups: ["policy"], resources: ["poddisruptionbudgets"], verbs: ["get", "list", "watch"] },
  {
    apiGroups: ["storage.k8s.io"],
    resources: ["storageclasses", "csinodes", "csidrivers", "csistoragecapacities", "volumeattachments"],
    verbs: ["get", "list", "watch"],
  },
  {
    apiGroups: ["resource.k8s.io"],
    resources: ["deviceclasses", "resourceclaims", "resourceslices"],
    verbs: ["get", "list", "watch"],
  },
];

/**
 * What it writes, in the hub namespace only: binds pods there, records why one cannot be placed
 * (pods/status, events), deletes a lower-priority pod there to make room (preemption of a
 * placeholder), and holds its own Lease. A pod elsewhere naming this scheduler is never bound (the
 * API server refuses the binding), and it can preempt no pod outside the hub namespace.
 */
export function userSchedulerRoleRules(lease: string): k8s.types.input.rbac.v1.PolicyRule[] {
  return [
    { apiGroups: [""], resources: ["pods/binding"], verbs: ["create"] },
    { apiGroups: [""], resources: ["pods/status"], verbs: ["patch", "update"] },
    { apiGroups: [""], resources: ["pods"], verbs: ["delete"] },
    // Scheduling events go through events.k8s.io; leader election still records in the core group.
    { apiGroups: ["", "events.k8s.io"], resources: ["events"], verbs: ["create", "patch", "update"] },
    // create cannot be limited to a name (the object has none yet when it is checked).
    { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create"] },
    { apiGroups: ["coordination.k8s.io"], resources: ["leases"], resourceNames: [lease], verbs: ["get", "update"] },
  ];
}

/**
 * The optional user scheduler (z2jh's `scheduling.userScheduler`): kube-scheduler with one profile
 * that packs user pods onto the fewest nodes (schedulerConfig.ts), so that the cluster autoscaler
 * can remove the nodes users leave. KubeSpawner (`scheduler_name`) and the placeholders name it;
 * every other pod keeps the cluster's default scheduler. Two replicas, one leading: if a spawn
 * finds the scheduler down, the user's pod waits, and the spawn times out.
 */
export class UserScheduler extends pulumi.ComponentResource {
  public readonly schedulerName: string;
  /** The scheduler's pods (the network fence opens their way to the API server). */
  public readonly podSelector: Record<string, string>;

  constructor(name: string, args: UserSchedulerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("jupyterhub-nfs:capacity:UserScheduler", name, {}, opts);
    const child = { parent: this };
    const labels = labelsFor("user-scheduler", name);
    this.podSelector = selectorFor("user-scheduler", name);
    this.schedulerName = args.schedulerName;
    const configYaml = userSchedulerConfigYaml({
      schedulerName: args.schedulerName,
      lease: { namespace: args.namespace, name: leaseName },
    });

    const account = new k8s.core.v1.ServiceAccount(
      `${name}-account`,
      { metadata: { name: "user-scheduler", namespace: args.namespace, labels } },
      child,
    );
    const subjects = [{ kind: "ServiceAccount", name: account.metadata.name, namespace: args.namespace }];
    // Cluster-scoped, so named after the stack's own scheduler name (unique in the cluster).
    const clusterRole = new k8s.rbac.v1.ClusterRole(
      `${name}-read`,
      { metadata: { name: args.schedulerName, labels }, rules: userSchedulerClusterRules },
      child,
    );
    new k8s.rbac.v1.ClusterRoleBinding(
      `${name}-read`,
      {
        metadata: { name: args.schedulerName, labels },
        subjects,
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: clusterRole.metadata.name },
      },
      child,
    );
    const role = new k8s.rbac.v1.Role(
      `${name}-write`,
      {
        metadata: { name: "user-scheduler", namespace: args.namespace, labels },
        rules: userSchedulerRoleRules(leaseName),
      },
      child,
    );
    new k8s.rbac.v1.RoleBinding(
      `${name}-write`,
      {
        metadata: { name: "user-scheduler", namespace: args.namespace, labels },
        subjects,
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role.metadata.name },
      },
      child,
    );
    const config = new k8s.core.v1.ConfigMap(
      `${name}-config`,
      { metadata: { name: "user-scheduler", namespace: args.namespace, labels }, data: { "config.yaml": configYaml } },
      child,
    );

    new k8s.apps.v1.Deployment(
      `${name}-deployment`,
      {
        metadata: { name: "user-scheduler", namespace: args.namespace, labels },
        spec: {
          replicas: 2,
          selector: { matchLabels: this.podSelector },
          template: {
            metadata: {
              labels,
              // kube-scheduler reads its configuration once: a changed one rolls the pods.
              annotations: {
                "jupyterhub-nfs/config-checksum": createHash("sha256").update(configYaml).digest("hex"),
              },
            },
            spec: {
              serviceAccountName: account.metadata.name,
              securityContext: restrictedPodSecurity(65534, 65534),
              volumes: [{ name: "config", configMap: { name: config.metadata.name } }],
              containers: [
                {
                  name: "kube-scheduler",
                  image: args.image,
                  command: [
                    "/usr/local/bin/kube-scheduler",
                    `--config=${configDir}/config.yaml`,
                    // No ConfigMap lookup in kube-system for client certificates (nothing but the
                    // kubelet's probes of /healthz, which needs no authentication, calls it), and no
                    // permission to read it.
                    "--authentication-skip-lookup=true",
                  ],
                  volumeMounts: [{ name: "config", mountPath: configDir, readOnly: true }],
                  securityContext: restrictedContainerSecurity,
                  ports: [{ name: "healthz", containerPort: userSchedulerHealthPort }],
                  livenessProbe: {
                    httpGet: { path: "/healthz", port: "healthz", scheme: "HTTPS" },
                    initialDelaySeconds: 15,
                  },
                  readinessProbe: { httpGet: { path: "/healthz", port: "healthz", scheme: "HTTPS" } },
                  resources: { requests: { cpu: "50m", memory: "128Mi" }, limits: { memory: "512Mi" } },
                },
              ],
            },
          },
        },
      },
      child,
    );
    this.registerOutputs({ schedulerName: this.schedulerName });
  }
}
