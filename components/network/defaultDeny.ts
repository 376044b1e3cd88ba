import type * as k8s from "@pulumi/kubernetes";

/**
 * Every pod of the namespace is isolated both ways unless another policy opens a path. A pod the
 * other policies do not select (a user pod whose labels KubeSpawner changed, say) gets no network
 * at all: the fence fails closed, never open.
 */
export function defaultDenySpec(): k8s.types.input.networking.v1.NetworkPolicySpec {
  return { podSelector: {}, policyTypes: ["Ingress", "Egress"] };
}
