import type * as k8s from "@pulumi/kubernetes";
import { dnsEgress, egressToPods, gkeMetadataServerEgress, ingressFromPods, publicEgress } from "./addresses";
import type { HubNamespacePods } from "./pods";

/**
 * The user pods run the users' code. z2jh's singleuser policy: in, only the hub and the proxy;
 * out, only the hub's API, the proxy, DNS and public addresses — never the metadata server (the
 * node's credentials), never a private address (the NFS server, the file browser, the nodes),
 * unless the operator lists a range in `extraEgressCidrs`. With `gkeMetadataServer`, the GKE
 * metadata server's port (gkeMetadataServerEgress): only for user pods bound to nodes that run it.
 */
export function userPodsSpec(
  pods: HubNamespacePods,
  extraEgressCidrs: string[],
  gkeMetadataServer = false,
): k8s.types.input.networking.v1.NetworkPolicySpec {
  return {
    podSelector: { matchLabels: pods.userPods.selector },
    policyTypes: ["Ingress", "Egress"],
    ingress: [ingressFromPods([pods.hub.selector, pods.proxy.selector], [pods.userPods.port])],
    egress: [
      egressToPods(pods.hub.selector, [pods.hub.port]),
      egressToPods(pods.proxy.selector, [pods.proxy.port]),
      dnsEgress,
      publicEgress,
      ...(extraEgressCidrs.length > 0 ? [{ to: extraEgressCidrs.map((cidr) => ({ ipBlock: { cidr } })) }] : []),
      ...(gkeMetadataServer ? gkeMetadataServerEgress : []),
    ],
  };
}
