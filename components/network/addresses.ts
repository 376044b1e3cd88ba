import type * as k8s from "@pulumi/kubernetes";

type EgressRule = k8s.types.input.networking.v1.NetworkPolicyEgressRule;
type Peer = k8s.types.input.networking.v1.NetworkPolicyPeer;

/** The cloud metadata server (GCE, and most clouds): it hands out the node's credentials. */
export const metadataServerIp = "169.254.169.254";

/**
 * NodeLocal DNSCache's address: a DNS cache on every node, in a host-network pod. GKE runs it in
 * every Autopilot cluster and, from 1.34.1-gke.3720000, in Standard clusters by default; pods there
 * send their queries to it, not to kube-dns.
 */
export const nodeLocalDnsIp = "169.254.20.10";

/** RFC 1918 ranges: where pods, Services and nodes live on GKE and most clusters. */
export const privateRanges = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"];

/**
 * Everything that is not a public address: the RFC 1918 ranges, the shared address space
 * (100.64.0.0/10, which GKE may use for pods and Services) and link-local (169.254.0.0/16, the
 * metadata server among it). z2jh's `nonPrivateIPs` excepts the RFC 1918 ranges and the metadata
 * address; we except these two ranges whole as well. What answers on link-local addresses is the
 * node (the metadata server; NodeLocal DNSCache, whose address sits on a dummy interface of the
 * node, where every host-network service listening on all addresses answers too, the kubelet's
 * 10250 included): no more "public" than a node's private address. The DNS resolvers among them
 * are opened by `dnsEgress`, on port 53 alone.
 */
export const nonPublicRanges = [...privateRanges, "100.64.0.0/10", "169.254.0.0/16"];

/** The namespace label the API server sets on every namespace (Kubernetes 1.22+). */
const namespaceNameLabel = "kubernetes.io/metadata.name";

/**
 * DNS, wherever the cluster answers it (z2jh's `dnsPortsKubeSystemNamespace`,
 * `dnsPortsCloudMetadataServer` and `dnsPortsPrivateIPs`, and NodeLocal DNSCache): kube-dns pods in
 * kube-system, the metadata server's address (Cloud DNS for GKE answers there), private addresses
 * (a DNS Service's ClusterIP where policy is applied before the Service is resolved), and
 * NodeLocal DNSCache's address. Cloud DNS and NodeLocal DNSCache are host-network endpoints, which
 * no pod or namespace selector matches (on GKE Dataplane V2 only an ipBlock admits them), hence
 * their ipBlocks. z2jh needs no rule for NodeLocal DNSCache: its public rule excepts only
 * 169.254.169.254/32, so 169.254.20.10 is open to user code on every port. We except all of
 * link-local from "public" (see `nonPublicRanges`) and open the cache here, on port 53 alone.
 * Port 53 only, UDP and TCP (answers too large for UDP are retried over TCP): the metadata
 * server's credentials are on port 80 and stay out of reach.
 */
export const dnsEgress: EgressRule = {
  ports: [
    { protocol: "UDP", port: 53 },
    { protocol: "TCP", port: 53 },
  ],
  to: [
    { namespaceSelector: { matchLabels: { [namespaceNameLabel]: "kube-system" } } },
    { ipBlock: { cidr: `${metadataServerIp}/32` } },
    { ipBlock: { cidr: `${nodeLocalDnsIp}/32` } },
    ...privateRanges.map((cidr): Peer => ({ ipBlock: { cidr } })),
  ],
};

/**
 * The GKE metadata server, for pods that need their Kubernetes ServiceAccount's Google token
 * (Workload Identity Federation; here the Cloud Storage FUSE sidecar in a user's pod). Where GKE
 * Dataplane V2 enforces NetworkPolicy, a pod's request to 169.254.169.254:80 is judged at that
 * address; with Calico (network policy enforcement, GKE 1.21.0-gke.1000 and later) it reaches the
 * metadata server at 169.254.169.252:988. Nothing else of link-local opens: DNS has its own rule.
 * Only safe for pods bound to nodes that run the GKE metadata server (the node label
 * iam.gke.io/gke-metadata-server-enabled), where 169.254.169.254 answers for the pod's own
 * ServiceAccount and conceals the node's credentials.
 */
export const gkeMetadataServerEgress: EgressRule[] = [
  { to: [{ ipBlock: { cidr: `${metadataServerIp}/32` } }], ports: [{ protocol: "TCP", port: 80 }] },
  { to: [{ ipBlock: { cidr: "169.254.169.252/32" } }], ports: [{ protocol: "TCP", port: 988 }] },
];

/** Public addresses only (z2jh's `nonPrivateIPs`): never the metadata server, never a cluster address. */
export const publicEgress: EgressRule = {
  to: [{ ipBlock: { cidr: "0.0.0.0/0", except: nonPublicRanges } }],
};

/** Egress to pods with these labels (in the policy's namespace) on these TCP ports. */
export function egressToPods(matchLabels: Record<string, string>, ports: number[]): EgressRule {
  return { to: [{ podSelector: { matchLabels } }], ports: ports.map((port) => ({ protocol: "TCP", port })) };
}

/** Ingress from pods with these labels (in the policy's namespace) on these TCP ports. */
/** Pods of another namespace, by its name and their labels (GMP's collector, for instance). */
export interface PodsElsewhere {
  namespace: string;
  podSelector: Record<string, string>;
}

/** The peer that selects those pods: their namespace by its name label, and their labels. */
function peerElsewhere(pods: PodsElsewhere): k8s.types.input.networking.v1.NetworkPolicyPeer {
  return {
    namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": pods.namespace } },
    podSelector: { matchLabels: pods.podSelector },
  };
}

/** Ingress from pods of another namespace on `ports`. */
export function ingressFromNamespace(
  source: PodsElsewhere,
  ports: number[],
): k8s.types.input.networking.v1.NetworkPolicyIngressRule {
  return { from: [peerElsewhere(source)], ports: ports.map((port) => ({ protocol: "TCP", port })) };
}

/** Egress to pods of another namespace on these TCP ports. */
export function egressToNamespace(target: PodsElsewhere, ports: number[]): EgressRule {
  return { to: [peerElsewhere(target)], ports: ports.map((port) => ({ protocol: "TCP", port })) };
}

export function ingressFromPods(
  sources: Record<string, string>[],
  ports: number[],
): k8s.types.input.networking.v1.NetworkPolicyIngressRule {
  return {
    from: sources.map((matchLabels) => ({ podSelector: { matchLabels } })),
    ports: ports.map((port) => ({ protocol: "TCP", port })),
  };
}
