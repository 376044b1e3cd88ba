import type * as k8s from "@pulumi/kubernetes";
import { dnsEgress, egressToPods, ingressFromNamespace, ingressFromPods, type PodsElsewhere } from "./addresses";
import type { HubNamespacePods } from "./pods";

/**
 * The proxy's public port is open to anyone (it is the way in, through proxy-public); its REST API,
 * which rewrites the routing table, only to the hub; its metrics port (unauthenticated) only to the
 * metrics collector. It forwards to the hub and the user pods, and
 * needs DNS to find the hub by its Service name.
 */
export function proxySpec(
  pods: HubNamespacePods,
  metricsCollector?: PodsElsewhere,
): k8s.types.input.networking.v1.NetworkPolicySpec {
  const metricsPort = pods.proxy.metricsPort;
  return {
    podSelector: { matchLabels: pods.proxy.selector },
    policyTypes: ["Ingress", "Egress"],
    ingress: [
      { ports: [{ protocol: "TCP", port: pods.proxy.port }] },
      ingressFromPods([pods.hub.selector], [pods.proxy.apiPort]),
      ...(metricsCollector && metricsPort !== undefined ? [ingressFromNamespace(metricsCollector, [metricsPort])] : []),
    ],
    egress: [
      egressToPods(pods.hub.selector, [pods.hub.port]),
      egressToPods(pods.userPods.selector, [pods.userPods.port]),
      dnsEgress,
    ],
  };
}
