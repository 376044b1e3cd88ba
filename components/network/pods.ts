import type { PodsElsewhere } from "./addresses";

/** A set of pods, by the labels that select them, and the port they listen on. */
export interface PodsOnPort {
  selector: Record<string, string>;
  port: number;
}

/** Who is in the hub namespace, and what each listens on: what the policies are written from. */
export interface HubNamespacePods {
  hub: PodsOnPort;
  /**
   * configurable-http-proxy: `port` is its public port, `apiPort` its REST API (the hub's only),
   * `metricsPort` its metrics, when it serves them.
   */
  proxy: PodsOnPort & { apiPort: number; metricsPort?: number };
  /** The user pods KubeSpawner starts, by the labels it puts on them. */
  userPods: PodsOnPort;
  /**
   * The file browser, whether its Service is exposed beyond the cluster (NodePort, LoadBalancer),
   * and the NFS server's usage exporter whose usage page it proxies (per-user quotas on).
   */
  fileBrowser?: PodsOnPort & { exposed: boolean; usageExporter?: PodsElsewhere & { port: number } };
  testLdap?: PodsOnPort;
  /** The user scheduler's pods (components/capacity), which talk to the Kubernetes API only. */
  userScheduler?: Record<string, string>;
}
