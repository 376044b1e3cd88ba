import type * as k8s from "@pulumi/kubernetes";
import { egressToNamespace, ingressFromPods } from "./addresses";
import type { HubNamespacePods } from "./pods";

/**
 * The file browser reads every user's folder. Behind a ClusterIP Service only the hub's pod is
 * admitted (a trusted pod, and the one the real-cluster check compares user pods against); admins
 * use `kubectl port-forward`, which enters the pod's own network namespace and is not subject to
 * NetworkPolicy. Behind a NodePort or LoadBalancer, clients arrive from outside the cluster (often
 * with a node's address after SNAT), so the port is open and basic auth is what keeps them out;
 * user pods still cannot reach the pod's private address (their own egress policy). nginx calls
 * out to one thing only, the NFS server's usage exporter, for its usage page (per-user quotas on):
 * to that port of those pods and nowhere else (it is given the Service's address, so no DNS).
 */
export function fileBrowserSpec(
  pods: HubNamespacePods,
  fileBrowser: NonNullable<HubNamespacePods["fileBrowser"]>,
): k8s.types.input.networking.v1.NetworkPolicySpec {
  return {
    podSelector: { matchLabels: fileBrowser.selector },
    policyTypes: ["Ingress", "Egress"],
    ingress: [
      fileBrowser.exposed
        ? { ports: [{ protocol: "TCP", port: fileBrowser.port }] }
        : ingressFromPods([pods.hub.selector], [fileBrowser.port]),
    ],
    egress: fileBrowser.usageExporter
      ? [egressToNamespace(fileBrowser.usageExporter, [fileBrowser.usageExporter.port])]
      : [],
  };
}
