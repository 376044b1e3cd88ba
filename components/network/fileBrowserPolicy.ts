import type * as k8s from "@pulumi/kubernetes";
import { ingressFromPods } from "./addresses";
import type { HubNamespacePods, PodsOnPort } from "./pods";

/**
 * The file browser reads every user's folder. Behind a ClusterIP Service only the hub's pod is
 * admitted (a trusted pod, and the one the real-cluster check compares user pods against); admins
 * use `kubectl port-forward`, which enters the pod's own network namespace and is not subject to
 * NetworkPolicy. Behind a NodePort or LoadBalancer, clients arrive from outside the cluster (often
 * with a node's address after SNAT), so the port is open and basic auth is what keeps them out;
 * user pods still cannot reach the pod's private address (their own egress policy). nginx itself
 * calls out to nothing: no egress.
 */
export function fileBrowserSpec(
  pods: HubNamespacePods,
  fileBrowser: PodsOnPort & { exposed: boolean },
): k8s.types.input.networking.v1.NetworkPolicySpec {
  return {
    podSelector: { matchLabels: fileBrowser.selector },
    policyTypes: ["Ingress", "Egress"],
    ingress: [
      fileBrowser.exposed
        ? { ports: [{ protocol: "TCP", port: fileBrowser.port }] }
        : ingressFromPods([pods.hub.selector], [fileBrowser.port]),
    ],
    egress: [],
  };
}
