import type * as k8s from "@pulumi/kubernetes";
import { ingressFromPods } from "./addresses";
import type { HubNamespacePods, PodsOnPort } from "./pods";

/** The test LDAP server speaks plain LDAP with users' passwords: the hub alone may ask it. */
export function testLdapSpec(
  pods: HubNamespacePods,
  testLdap: PodsOnPort,
): k8s.types.input.networking.v1.NetworkPolicySpec {
  return {
    podSelector: { matchLabels: testLdap.selector },
    policyTypes: ["Ingress", "Egress"],
    ingress: [ingressFromPods([pods.hub.selector], [testLdap.port])],
    egress: [],
  };
}
