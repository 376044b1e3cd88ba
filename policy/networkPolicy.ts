import { BlockList, isIPv4, isIPv6 } from "node:net";
import { isRecord, record, records, strings, type Json } from "./props";

/**
 * Kubernetes NetworkPolicy semantics, for the plain objects a policy pack or a test sees: which
 * connections a set of policies admits. Written from the API reference (networking.k8s.io/v1):
 * a pod selected by a policy of a type (Ingress, Egress) is isolated for that direction, and then
 * admits only what some selecting policy's rules allow; a connection needs the source's egress and
 * the destination's ingress. Where implementations differ (an ipBlock naming a pod's address),
 * the more permissive reading is taken, so a check built on this never calls a fence tighter than
 * some cluster would enforce.
 */

export interface PodRef {
  namespace: string;
  /** Labels of the pod's namespace; `kubernetes.io/metadata.name` is added from `namespace`. */
  namespaceLabels?: Record<string, string>;
  labels: Record<string, string>;
  /** The pod's address, for ipBlock rules that name it (some implementations match pod addresses). */
  ip?: string;
}

/** A destination: a pod, or an address outside the cluster. */
export type Endpoint = { pod: PodRef } | { ip: string };

export interface Port {
  port: number;
  protocol?: "TCP" | "UDP" | "SCTP";
  /** The container port's name, for rules that name ports. */
  name?: string;
}

/** Whether a LabelSelector (matchLabels and matchExpressions; `{}` selects everything) selects these labels. */
export function selects(selector: unknown, labels: Record<string, string>): boolean {
  const s = record(selector);
  for (const [k, v] of Object.entries(record(s.matchLabels))) if (labels[k] !== v) return false;
  for (const e of records(s.matchExpressions)) {
    const key = String(e.key);
    const values = strings(e.values);
    const has = Object.prototype.hasOwnProperty.call(labels, key);
    switch (e.operator) {
      case "In":
        if (!has || !values.includes(labels[key])) return false;
        break;
      case "NotIn":
        if (has && values.includes(labels[key])) return false;
        break;
      case "Exists":
        if (!has) return false;
        break;
      case "DoesNotExist":
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

/** Whether `address` is in CIDR `range` (same family only). */
export function inCidr(address: string, range: string): boolean {
  const [network, prefix] = range.split("/");
  const family = isIPv6(network) ? "ipv6" : isIPv4(network) ? "ipv4" : undefined;
  if (!family || family !== (isIPv6(address) ? "ipv6" : "ipv4")) return false;
  const list = new BlockList();
  list.addSubnet(network, Number(prefix), family);
  return list.check(address, family);
}

function namespaceLabelsOf(pod: PodRef): Record<string, string> {
  return { ...pod.namespaceLabels, "kubernetes.io/metadata.name": pod.namespace };
}

/** Whether a `from`/`to` peer matches an endpoint, for a policy in `policyNamespace`. */
function peerMatches(peer: Json, policyNamespace: string, who: Endpoint): boolean {
  if (isRecord(peer.ipBlock)) {
    const ip = "ip" in who ? who.ip : who.pod.ip;
    if (!ip) return false;
    const block = peer.ipBlock;
    return inCidr(ip, String(block.cidr)) && !strings(block.except).some((e) => inCidr(ip, e));
  }
  if (!("pod" in who)) return false;
  const pod = who.pod;
  const namespaceOk =
    peer.namespaceSelector !== undefined
      ? selects(peer.namespaceSelector, namespaceLabelsOf(pod))
      : pod.namespace === policyNamespace;
  const podOk = peer.podSelector !== undefined ? selects(peer.podSelector, pod.labels) : true;
  return namespaceOk && podOk && (peer.podSelector !== undefined || peer.namespaceSelector !== undefined);
}

function portMatches(rulePorts: unknown, port: Port): boolean {
  const ports = records(rulePorts);
  if (!Array.isArray(rulePorts) || ports.length === 0) return true;
  return ports.some((p) => {
    if ((p.protocol ?? "TCP") !== (port.protocol ?? "TCP")) return false;
    if (p.port === undefined) return true;
    if (typeof p.port === "string" && !/^\d+$/.test(p.port)) return p.port === port.name;
    const from = Number(p.port);
    const to = typeof p.endPort === "number" ? p.endPort : from;
    return port.port >= from && port.port <= to;
  });
}

function policyTypes(spec: Json): string[] {
  const declared = strings(spec.policyTypes);
  if (declared.length > 0) return declared;
  return spec.egress !== undefined ? ["Ingress", "Egress"] : ["Ingress"];
}

/** The policies (plain NetworkPolicy objects) in the pod's namespace that select it for a direction. */
export function selecting(policies: Json[], pod: PodRef, direction: "Ingress" | "Egress"): Json[] {
  return policies.filter((p) => {
    const meta = record(p.metadata);
    const spec = record(p.spec);
    return (
      meta.namespace === pod.namespace &&
      policyTypes(spec).includes(direction) &&
      selects(spec.podSelector ?? {}, pod.labels)
    );
  });
}

function admits(policies: Json[], pod: PodRef, direction: "Ingress" | "Egress", peer: Endpoint, port: Port) {
  const applying = selecting(policies, pod, direction);
  if (applying.length === 0) return true;
  const field = direction === "Ingress" ? "ingress" : "egress";
  const peers = direction === "Ingress" ? "from" : "to";
  return applying.some((p) => {
    const namespace = String(record(p.metadata).namespace);
    return records(record(p.spec)[field]).some((rule) => {
      if (!portMatches(rule.ports, port)) return false;
      // "If this field is empty or missing, this rule matches all sources/destinations."
      const listed = records(rule[peers]);
      return listed.length === 0 || listed.some((peerRule) => peerMatches(peerRule, namespace, peer));
    });
  });
}

/** Whether the policies let `source` open a connection to `destination` on `port`. */
export function allowed(policies: Json[], source: PodRef, destination: Endpoint, port: Port): boolean {
  if (!admits(policies, source, "Egress", destination, port)) return false;
  if ("pod" in destination) return admits(policies, destination.pod, "Ingress", { pod: source }, port);
  return true;
}
