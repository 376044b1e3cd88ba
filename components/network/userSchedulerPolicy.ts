import type * as k8s from "@pulumi/kubernetes";

/**
 * The user scheduler talks to the Kubernetes API and nothing else, and no pod talks to it (the
 * kubelet's probes of /healthz come from the node, which NetworkPolicy does not fence). Its egress
 * is open as the hub's is: on Cilium (GKE Dataplane V2) no ipBlock selects an API server that runs
 * on a node, so a narrower rule could cut it off from the API.
 */
export function userSchedulerSpec(selector: Record<string, string>): k8s.types.input.networking.v1.NetworkPolicySpec {
  return { podSelector: { matchLabels: selector }, policyTypes: ["Ingress", "Egress"], egress: [{}] };
}
