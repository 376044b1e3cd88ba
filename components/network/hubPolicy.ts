import type * as k8s from "@pulumi/kubernetes";
import { ingressFromNamespace, ingressFromPods, type PodsElsewhere } from "./addresses";
import type { HubNamespacePods } from "./pods";

/**
 * The hub's API answers the proxy, the user pods (jupyterhub-singleuser reports to it) and the hub
 * itself (the idle culler, a hub-managed service, calls the API through the hub's Service, which
 * some CNIs treat as traffic from outside the pod), and the metrics collector when there is one;
 * no one else. Its egress stays open: it talks to the Kubernetes API, the organisation's LDAP server, the
 * proxy's API and the user pods, and on Cilium (GKE Dataplane V2) no ipBlock selects an API server
 * that runs on a node, so a narrower rule could cut the hub off from the API it spawns pods with.
 */
export function hubSpec(
  pods: HubNamespacePods,
  metricsCollector?: PodsElsewhere,
): k8s.types.input.networking.v1.NetworkPolicySpec {
  return {
    podSelector: { matchLabels: pods.hub.selector },
    policyTypes: ["Ingress", "Egress"],
    ingress: [
      ingressFromPods([pods.proxy.selector, pods.userPods.selector, pods.hub.selector], [pods.hub.port]),
      // The metrics scraper reads /hub/metrics on the same port (with its read:metrics token).
      ...(metricsCollector ? [ingressFromNamespace(metricsCollector, [pods.hub.port])] : []),
    ],
    egress: [{}],
  };
}
