import type * as k8s from "@pulumi/kubernetes";
import { dnsEgress, egressToPods, ingressFromPods } from "./addresses";
import type { HubNamespacePods } from "./pods";

/**
 * The proxy's public port is open to anyone (it is the way in, through proxy-public); its REST API,
 * which rewrites the routing table, only to the hub. It forwards to the hub and the user pods, and
 * needs DNS to find the hub by its Service name.
 */
export function proxySpec(pods: HubNamespacePods): k8s.types.input.networking.v1.NetworkPolicySpec {
  return {
    podSelector: { matchLabels: pods.proxy.selector },
    policyTypes: ["Ingress", "Egress"],
    ingress: [
      { ports: [{ protocol: "TCP", port: pods.proxy.port }] },
      ingressFromPods([pods.hub.selector], [pods.proxy.apiPort]),
    ],
    egress: [
      egressToPods(pods.hub.selector, [pods.hub.port]),
      egressToPods(pods.userPods.selector, [pods.userPods.port]),
      dnsEgress,
    ],
  };
}
