/**
 * The pre-flight checks as pure functions: what the cluster told us (ClusterFacts, gathered by
 * preflight/cluster.ts) and the stack's validated config in, one CheckResult per check out. No I/O
 * here, so every verdict is unit-tested (test/preflight.test.ts).
 */
import { podSecurityLevel, stackAnnotation } from "../components/common";
import type { StackConfig } from "../stacks";

export type Status = "pass" | "warn" | "fail" | "skip";

export interface CheckResult {
  /** Stable name of the check, e.g. `storage-class` or `namespace:jupyterhub`. */
  check: string;
  status: Status;
  detail: string;
  /** What to do about a warning or failure. */
  fix?: string;
}

/** An answer from the API server: the value, or the error it gave (forbidden, unreachable, ...). */
export type Fact<T> = { ok: true; value: T } | { ok: false; error: string };

export interface StorageClassFacts {
  name: string;
  provisioner: string;
  reclaimPolicy: string;
  allowVolumeExpansion: boolean;
  isDefault: boolean;
}

export interface NamespaceFacts {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  phase: string;
}

/** A node's zone labels (undefined where a node has none). */
export interface NodeZone {
  node: string;
  /** `topology.kubernetes.io/zone`, the well-known label. */
  zone: string | undefined;
  /** `topology.gke.io/zone`, the pd.csi driver's topology key, which the disk's PersistentVolume selects nodes by. */
  gkeZone: string | undefined;
}

/** What a server-side dry run of creating (or relabelling) a namespace with our labels answered. */
export type DryRunFacts = { allowed: true } | { allowed: false; code: number; message: string };

export interface ClusterFacts {
  /** The server's gitVersion, e.g. `v1.36.1` or `v1.33.5-gke.1308000`. */
  version: string;
  /** DaemonSets in every namespace, as `namespace/name`. */
  daemonSets: Fact<string[]>;
  storageClasses: Fact<StorageClassFacts[]>;
  nodeZones: Fact<NodeZone[]>;
  csiDrivers: Fact<string[]>;
  /** Each of our namespaces: undefined when it does not exist. */
  namespaces: Record<string, Fact<NamespaceFacts | undefined>>;
  podSecurityDryRun: Record<string, Fact<DryRunFacts>>;
}

/** The oldest Kubernetes minor release the rendered objects are checked against (test/consumers). */
export const oldestCheckedMinor = 30;

/** The GCE persistent disk CSI driver: static volumes for a GCE disk need it (components/storage/gceDisk). */
export const gcePdCsiDriver = "pd.csi.storage.gke.io";

/**
 * NetworkPolicy implementations recognised by the name of the DaemonSet that runs them. A heuristic:
 * Kubernetes has no API that says whether NetworkPolicies are enforced, and a CNI may run under
 * another name (or enforce policies only when configured to).
 */
export const networkPolicyDaemonSets: ReadonlyMap<string, string> = new Map([
  ["anetd", "GKE Dataplane V2 (Cilium)"],
  ["cilium", "Cilium"],
  ["calico-node", "Calico (also GKE's network policy add-on)"],
  ["canal", "Canal (Calico policies)"],
  ["antrea-agent", "Antrea"],
  ["kube-router", "kube-router"],
  ["weave-net", "Weave Net"],
]);

export function kubernetesVersion(gitVersion: string): CheckResult {
  const check = "kubernetes-version";
  const m = /^v?(\d+)\.(\d+)/.exec(gitVersion);
  if (!m) return { check, status: "warn", detail: `cannot read the server version "${gitVersion}"` };
  const [major, minor] = [Number(m[1]), Number(m[2])];
  if (major === 1 && minor < oldestCheckedMinor) {
    return {
      check,
      status: "warn",
      detail: `server ${gitVersion} is older than 1.${oldestCheckedMinor}, the oldest release the objects are checked against`,
      fix: "upgrade the cluster",
    };
  }
  return { check, status: "pass", detail: `server ${gitVersion}` };
}

export function networkPolicy(cfg: StackConfig, daemonSets: Fact<string[]>): CheckResult {
  const check = "network-policy";
  if (!daemonSets.ok) {
    return {
      check,
      status: "warn",
      detail: `cannot tell whether NetworkPolicies are enforced: listing DaemonSets failed (${daemonSets.error})`,
    };
  }
  const found = daemonSets.value
    .map((ref) => ({ ref, what: networkPolicyDaemonSets.get(ref.split("/").pop() ?? "") }))
    .filter((x) => x.what !== undefined);
  if (found.length > 0) {
    const names = found.map((x) => `${x.what} (DaemonSet ${x.ref})`).join(", ");
    return { check, status: "pass", detail: `NetworkPolicy implementation found by name (a heuristic): ${names}` };
  }
  const known = [...networkPolicyDaemonSets.keys()].join(", ");
  return {
    check,
    status: "warn",
    detail:
      `no known NetworkPolicy implementation (a heuristic: no DaemonSet named ${known}); ` +
      (cfg.networkPolicies
        ? "the hub namespace's NetworkPolicies (the user-pod fence) would be created but not enforced"
        : "networkPolicies is off, so user pods can reach the NFS export and every service"),
    fix: "on GKE enable Dataplane V2 or network policy enforcement; elsewhere use a CNI that enforces NetworkPolicy",
  };
}

function classNames(classes: StorageClassFacts[]): string {
  return classes.length === 0 ? "none" : classes.map((c) => c.name).join(", ");
}

/** The NFS server's data claim on the StorageClass path: the class must exist. */
export function storageClass(cfg: StackConfig, classes: Fact<StorageClassFacts[]>): CheckResult {
  const check = "storage-class";
  if (cfg.diskKind !== "storageClass") return { check, status: "skip", detail: "diskKind is gce" };
  if (!classes.ok) return { check, status: "fail", detail: `listing StorageClasses failed: ${classes.error}` };
  const sc = classes.value.find((c) => c.name === cfg.storageClassName);
  if (!sc) {
    return {
      check,
      status: "fail",
      detail: `StorageClass ${cfg.storageClassName} does not exist (the cluster has: ${classNames(classes.value)})`,
      fix: "pulumi config set storageClassName <one of them>",
    };
  }
  return {
    check,
    status: "pass",
    detail: `StorageClass ${sc.name} exists (provisioner ${sc.provisioner}, reclaimPolicy ${sc.reclaimPolicy})`,
  };
}

/** Whether raising diskSize later can grow the data claim (StorageClass path). */
export function volumeExpansion(cfg: StackConfig, classes: Fact<StorageClassFacts[]>): CheckResult {
  const check = "volume-expansion";
  if (cfg.diskKind !== "storageClass") return { check, status: "skip", detail: "diskKind is gce" };
  const sc = classes.ok ? classes.value.find((c) => c.name === cfg.storageClassName) : undefined;
  if (!sc) return { check, status: "skip", detail: "no such StorageClass (see storage-class)" };
  if (sc.allowVolumeExpansion) {
    return {
      check,
      status: "pass",
      detail: `StorageClass ${sc.name} allows volume expansion: diskSize can grow later`,
    };
  }
  return {
    check,
    status: "warn",
    detail: `StorageClass ${sc.name} does not allow volume expansion: raising diskSize later will be refused`,
    fix: `if its provisioner can resize: kubectl patch storageclass ${sc.name} -p '{"allowVolumeExpansion": true}'`,
  };
}

/** The hub database claim: a named class must exist; unnamed, the cluster needs a default class. */
export function hubDbStorageClass(cfg: StackConfig, classes: Fact<StorageClassFacts[]>): CheckResult {
  const check = "hub-db-storage-class";
  if (!classes.ok) return { check, status: "fail", detail: `listing StorageClasses failed: ${classes.error}` };
  if (cfg.hubDbStorageClassName !== "") {
    const sc = classes.value.find((c) => c.name === cfg.hubDbStorageClassName);
    return sc
      ? { check, status: "pass", detail: `StorageClass ${sc.name} exists` }
      : {
          check,
          status: "fail",
          detail: `StorageClass ${cfg.hubDbStorageClassName} does not exist (the cluster has: ${classNames(classes.value)})`,
          fix: "pulumi config set hubDbStorageClassName <one of them>",
        };
  }
  const defaults = classes.value.filter((c) => c.isDefault);
  if (defaults.length === 0) {
    return {
      check,
      status: "fail",
      detail:
        "hubDbStorageClassName is unset and the cluster has no default StorageClass: the hub-db claim would stay Pending",
      fix: "pulumi config set hubDbStorageClassName <a StorageClass>",
    };
  }
  return { check, status: "pass", detail: `the cluster's default StorageClass ${defaults[0].name}` };
}

/**
 * A GCE disk attaches only to nodes in its own zone, and its PersistentVolume (components/storage/gceDisk)
 * selects them by the pd.csi driver's `topology.gke.io/zone` label.
 */
export function diskZoneNodes(cfg: StackConfig, nodeZones: ClusterFacts["nodeZones"]): CheckResult {
  const check = "disk-zone-nodes";
  if (cfg.diskKind !== "gce") return { check, status: "skip", detail: "diskKind is storageClass" };
  if (!nodeZones.ok) return { check, status: "fail", detail: `listing nodes failed: ${nodeZones.error}` };
  const nodes = nodeZones.value;
  const inZone = nodes.filter((n) => n.gkeZone === cfg.diskZone);
  if (inZone.length > 0) {
    return { check, status: "pass", detail: `${inZone.length} of ${nodes.length} node(s) in ${cfg.diskZone}` };
  }
  const unlabelled = nodes.filter((n) => n.zone === cfg.diskZone);
  if (unlabelled.length > 0) {
    return {
      check,
      status: "fail",
      detail:
        `${unlabelled.length} node(s) in ${cfg.diskZone} by topology.kubernetes.io/zone, but none carries ` +
        "topology.gke.io/zone, which the disk's PersistentVolume selects nodes by (the pd.csi driver's node plugin sets it)",
      fix: "enable the pd.csi driver (see pd-csi-driver) and check its node pods run",
    };
  }
  const zones = [...new Set(nodes.map((n) => n.zone).filter((z) => z !== undefined))].sort();
  return {
    check,
    status: "fail",
    detail:
      `no node in ${cfg.diskZone}, where the disk would be ` +
      `(${nodes.length} node(s), zones: ${zones.length > 0 ? zones.join(", ") : "no topology.kubernetes.io/zone label"})`,
    fix:
      zones.length > 0
        ? `pulumi config set diskZone <one of ${zones.join(", ")}>, or add nodes in ${cfg.diskZone}`
        : `add nodes in ${cfg.diskZone}`,
  };
}

export function pdCsiDriver(cfg: StackConfig, drivers: Fact<string[]>): CheckResult {
  const check = "pd-csi-driver";
  if (cfg.diskKind !== "gce") return { check, status: "skip", detail: "diskKind is storageClass" };
  if (!drivers.ok) return { check, status: "warn", detail: `listing CSIDrivers failed: ${drivers.error}` };
  if (drivers.value.includes(gcePdCsiDriver)) return { check, status: "pass", detail: `CSIDriver ${gcePdCsiDriver}` };
  return {
    check,
    status: "fail",
    detail: `CSIDriver ${gcePdCsiDriver} is not installed: the disk's PersistentVolume could not be mounted`,
    fix: "gcloud container clusters update <cluster> --update-addons=GcePersistentDiskCsiDriver=ENABLED",
  };
}

/** A namespace we would create must be free, or already this stack's. */
export function namespaceOwner(
  key: "namespace" | "nfsNamespace",
  name: string,
  stack: string,
  ns: Fact<NamespaceFacts | undefined>,
): CheckResult {
  const check = `namespace:${name}`;
  const elsewhere = `pulumi config set ${key} <another name>`;
  if (!ns.ok) return { check, status: "fail", detail: `reading namespace ${name} failed: ${ns.error}` };
  if (ns.value === undefined) return { check, status: "pass", detail: `${name} is free (up creates it)` };
  const { labels, annotations, phase } = ns.value;
  if (phase === "Terminating") {
    return { check, status: "fail", detail: `${name} is being deleted`, fix: `wait until it is gone, or ${elsewhere}` };
  }
  const owner = annotations[stackAnnotation];
  if (labels["app.kubernetes.io/part-of"] === "jupyterhub-nfs") {
    if (owner === stack) return { check, status: "pass", detail: `${name} is already ours (stack ${stack})` };
    if (owner !== undefined) {
      return {
        check,
        status: "fail",
        detail: `${name} belongs to another stack of this project (${owner})`,
        fix: elsewhere,
      };
    }
  }
  if (labels["app.kubernetes.io/managed-by"] === "pulumi") {
    return {
      check,
      status: "warn",
      detail: `${name} exists, managed by Pulumi but not marked as stack ${stack}'s (an older version of this program, or another Pulumi program)`,
      fix: `if it is not this stack's: ${elsewhere}`,
    };
  }
  return {
    check,
    status: "fail",
    detail: `${name} exists and is not ours (no app.kubernetes.io/part-of=jupyterhub-nfs label, no ${stackAnnotation} annotation)`,
    fix: `${elsewhere}, or delete it if it is an unused leftover`,
  };
}

/** A server-side dry run of our namespace, with its Pod Security labels, through admission. */
export function podSecurityAdmission(name: string, level: string, dryRun: Fact<DryRunFacts>): CheckResult {
  const check = `pod-security:${name}`;
  if (!dryRun.ok) return { check, status: "fail", detail: `dry run for ${name} failed: ${dryRun.error}` };
  if (dryRun.value.allowed) {
    return {
      check,
      status: "pass",
      detail: `admission accepts ${name} with pod-security.kubernetes.io/enforce=${level} (server-side dry run)`,
    };
  }
  const { code, message } = dryRun.value;
  return {
    check,
    status: "fail",
    detail: `admission refuses ${name} with pod-security.kubernetes.io/enforce=${level} (HTTP ${code}): ${message}`,
    fix: /cannot (create|update) resource "namespaces"/.test(message)
      ? "your credentials may not create or update namespaces, and `pulumi up` needs to: ask for that right"
      : level === "privileged"
        ? "the NFS server must run privileged: ask the cluster's admins to exempt this namespace from the policy"
        : "ask the cluster's admins to allow the label, or change the policy",
  };
}

/** Every check, in the order they are printed. */
export function runChecks(cfg: StackConfig, stack: string, facts: ClusterFacts): CheckResult[] {
  return [
    kubernetesVersion(facts.version),
    networkPolicy(cfg, facts.daemonSets),
    storageClass(cfg, facts.storageClasses),
    volumeExpansion(cfg, facts.storageClasses),
    hubDbStorageClass(cfg, facts.storageClasses),
    diskZoneNodes(cfg, facts.nodeZones),
    pdCsiDriver(cfg, facts.csiDrivers),
    ...ourNamespaces(cfg).flatMap(({ key, name, role }) => [
      namespaceOwner(key, name, stack, facts.namespaces[name] ?? missingFact(name)),
      podSecurityAdmission(name, podSecurityLevel[role], facts.podSecurityDryRun[name] ?? missingFact(name)),
    ]),
  ];
}

function missingFact(name: string): Fact<never> {
  return { ok: false, error: `nothing gathered for ${name}` };
}

/** The namespaces the program creates (index.ts), with the config key that names each. */
export function ourNamespaces(
  cfg: StackConfig,
): { key: "namespace" | "nfsNamespace"; name: string; role: keyof typeof podSecurityLevel }[] {
  return [
    { key: "namespace", name: cfg.namespace, role: "hub" },
    { key: "nfsNamespace", name: cfg.nfsNamespace, role: "nfs" },
  ];
}

/** One line per check: `PASS storage-class: ... (fix: ...)`. */
export function formatResult(r: CheckResult): string {
  return `${r.status.toUpperCase().padEnd(4)} ${r.check}: ${r.detail}${r.fix ? ` (fix: ${r.fix})` : ""}`;
}

export function failed(results: CheckResult[]): boolean {
  return results.some((r) => r.status === "fail");
}
