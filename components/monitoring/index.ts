import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { labelsFor } from "../common";
import { hubRuleGroups, storageRuleGroups, type RuleGroup } from "./alertRules";

export { hubRuleGroups, storageRuleGroups, type AlertRule, type RuleGroup } from "./alertRules";

/** Google Cloud Managed Service for Prometheus (GMP): its custom resources' API version. */
export const gmpApiVersion = "monitoring.googleapis.com/v1";

/**
 * GMP's collector: the ServiceAccount its scraping DaemonSet runs as, in the namespace GKE runs it
 * in (managed collection: gmp-system/collector), and the labels of its pods (for NetworkPolicies).
 * It reads a PodMonitoring's credentials Secret with its own token, so it needs RBAC on that Secret.
 */
export const gmpCollector = {
  namespace: "gmp-system",
  serviceAccount: "collector",
  podSelector: { "app.kubernetes.io/name": "collector" },
} as const;

/** How often GMP scrapes each target (a PodMonitoring endpoint's `interval`). */
const scrapeInterval = "30s";

/** A pod port GMP scrapes: the pods' labels, the port's name, the path. */
export interface ScrapeTarget {
  podSelector: Record<string, string>;
  port: string;
  path: string;
}

export interface HubMonitoringArgs {
  /** The hub namespace: the hub's and the proxy's PodMonitorings and their Rules. */
  namespace: pulumi.Input<string>;
  /** The hub's `/hub/metrics`, scraped with a token of the `read:metrics` scope kept in `tokenSecret`. */
  hub: ScrapeTarget & { tokenSecret: { name: pulumi.Input<string>; key: string } };
  /** configurable-http-proxy's own metrics port (no authentication; the NetworkPolicy admits the collector). */
  proxy: ScrapeTarget;
  /**
   * The NFS server's usage exporter (it runs only when per-user quotas are on): its PodMonitoring and
   * the storage Rules, in its own namespace (a namespaced Rules object sees only its namespace's series).
   */
  storage?: ScrapeTarget & { namespace: pulumi.Input<string> };
}

/** The PodMonitoring and Rules names, which are also the `job` label of what they scrape. */
export const monitoringJobs = { hub: "hub", proxy: "proxy", storage: "nfs-server" } as const;

/**
 * JupyterHub watched by GKE's Managed Service for Prometheus: a PodMonitoring per scraped pod
 * (the hub, the proxy and, when given, the NFS server's usage exporter), the alert rules as GMP
 * `Rules`, and the RBAC that lets GMP's collector read the hub's metrics token, and nothing else.
 * Alerts go wherever the cluster's GMP OperatorConfig sends them (docs/operations.md, Alerts).
 */
export class HubMonitoring extends pulumi.ComponentResource {
  /** The rule groups of each Rules object, by namespace role. */
  public readonly ruleGroups: { hub: RuleGroup[]; storage?: RuleGroup[] };

  constructor(name: string, args: HubMonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
    super("jupyterhub-nfs:monitoring:HubMonitoring", name, {}, opts);
    const child = { parent: this };
    const labels = labelsFor("monitoring", name);

    // Least privilege: the collector may read this one Secret (by name), in this namespace only.
    // get, list and watch: Prometheus's Kubernetes secret provider, which GMP's collector runs,
    // watches the Secret it reads (GMP's own example grants the same three).
    const reader = new k8s.rbac.v1.Role(
      `${name}-metrics-token-reader`,
      {
        metadata: { name: "gmp-collector-metrics-token", namespace: args.namespace, labels },
        rules: [
          {
            apiGroups: [""],
            resources: ["secrets"],
            resourceNames: [args.hub.tokenSecret.name],
            verbs: ["get", "list", "watch"],
          },
        ],
      },
      child,
    );
    new k8s.rbac.v1.RoleBinding(
      `${name}-metrics-token-reader`,
      {
        metadata: { name: "gmp-collector-metrics-token", namespace: args.namespace, labels },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: reader.metadata.name },
        subjects: [{ kind: "ServiceAccount", name: gmpCollector.serviceAccount, namespace: gmpCollector.namespace }],
      },
      child,
    );

    const podMonitoring = (job: string, namespace: pulumi.Input<string>, endpoint: ScrapeTarget, extra = {}) =>
      new k8s.apiextensions.CustomResource(
        `${name}-${job}`,
        {
          apiVersion: gmpApiVersion,
          kind: "PodMonitoring",
          metadata: { name: job, namespace, labels },
          spec: {
            selector: { matchLabels: endpoint.podSelector },
            endpoints: [{ port: endpoint.port, path: endpoint.path, interval: scrapeInterval, ...extra }],
          },
        },
        child,
      );
    const rules = (group: string, namespace: pulumi.Input<string>, groups: RuleGroup[]) =>
      new k8s.apiextensions.CustomResource(
        `${name}-${group}-rules`,
        {
          apiVersion: gmpApiVersion,
          kind: "Rules",
          metadata: { name: group, namespace, labels },
          spec: { groups },
        },
        child,
      );

    podMonitoring(monitoringJobs.hub, args.namespace, args.hub, {
      authorization: {
        type: "Bearer",
        credentials: { secret: { name: args.hub.tokenSecret.name, key: args.hub.tokenSecret.key } },
      },
    });
    podMonitoring(monitoringJobs.proxy, args.namespace, args.proxy);
    this.ruleGroups = { hub: hubRuleGroups(monitoringJobs) };
    rules("jupyterhub", args.namespace, this.ruleGroups.hub);

    if (args.storage) {
      podMonitoring(monitoringJobs.storage, args.storage.namespace, args.storage);
      this.ruleGroups.storage = storageRuleGroups(monitoringJobs.storage);
      rules("jupyterhub-nfs-storage", args.storage.namespace, this.ruleGroups.storage);
    }
    this.registerOutputs({});
  }
}
