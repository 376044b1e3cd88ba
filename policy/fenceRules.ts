import type { PolicyResource, ReportViolation, StackValidationArgs, StackValidationPolicy } from "@pulumi/policy";
import { hubConfigTexts, lastSetting, listSetting, pythonLiteral } from "./hubConfigText";

export { pythonLiteral } from "./hubConfigText";
import { allowed, inCidr, selecting, type PodRef } from "./networkPolicy";
import { isRecord, podSpecOf, podTemplateOf, record, records, strings, type Json } from "./props";
import { projectValue, type StackConfig } from "./stackConfig";

/**
 * Stack rules for the fence around user pods and the file browser (issue 8). They need the whole
 * stack (a Service and the pods it selects, a namespace and its NetworkPolicies), so they run as
 * stack validations, on the resources' outputs, after the preview or update has planned them.
 */

const labelsOf = (v: unknown): Record<string, string> =>
  Object.fromEntries(Object.entries(record(v)).filter((e): e is [string, string] => typeof e[1] === "string"));

const metadataOf = (r: PolicyResource) => record(r.props.metadata);
const namespaceOf = (r: PolicyResource) => String(metadataOf(r).namespace ?? "default");
const nameOf = (r: PolicyResource) => String(metadataOf(r).name ?? r.name);

/** The metadata server of GCE (and most clouds), which hands out the node's credentials. */
export const metadataAddress = "169.254.169.254";
/** Where GKE's metadata server answers pods on clusters whose NetworkPolicy is Calico's (1.21.0-gke.1000 on). */
const gkeMetadataServerAddress = { ip: "169.254.169.252", port: 988 };
/** The node label of GKE nodes running the GKE metadata server (Workload Identity Federation). */
const gkeMetadataServerNodeLabel = "iam.gke.io/gke-metadata-server-enabled";

/**
 * The labels KubeSpawner 7 puts on every user pod (`common_labels`, then `_build_pod_labels` with
 * the default `component_label`); a policy that selects user pods selects some of these.
 */
export const kubeSpawnerUserPodLabels: Readonly<Record<string, string>> = {
  "app.kubernetes.io/name": "jupyterhub",
  "app.kubernetes.io/managed-by": "kubespawner",
  app: "jupyterhub",
  heritage: "jupyterhub",
  "app.kubernetes.io/component": "singleuser-server",
  component: "singleuser-server",
  "hub.jupyter.org/username": "any-user",
  "hub.jupyter.org/servername": "",
};

/** One address in each range user code must not reach unless the stack opens it, and the ports that matter there. */
const privateProbes = ["10.0.0.10", "172.16.0.10", "192.168.0.10", "100.64.0.10"];
const privateProbePorts = [2049, 8080, 10250];

/**
 * NodeLocal DNSCache's address (GKE: always on in Autopilot, on by default in Standard from
 * 1.34.1-gke.3720000). Like Cloud DNS on the metadata address, it is a host-network endpoint: no pod
 * or namespace selector matches it, only an ipBlock, so a fence written for kube-dns takes DNS away
 * there. It must be open on port 53 and no other: where the address sits on the node itself (the
 * upstream add-on's dummy interface), every host-network service listening on all addresses
 * answers there too, the kubelet's 10250 among them (80: a plain web port; 8080: the cache's own
 * health endpoint).
 */
export const nodeLocalDnsAddress = "169.254.20.10";
const nodeLocalDnsProbePorts = [80, 8080, 10250];

/** Where a pod may be told to send its DNS queries on GKE, besides kube-dns: both link-local. */
const linkLocalResolvers = [nodeLocalDnsAddress, metadataAddress];

/** kube-dns's pods, by the label both kube-dns and CoreDNS carry; the address is one in 10/8. */
const kubeDnsPod: PodRef = { namespace: "kube-system", labels: { "k8s-app": "kube-dns" }, ip: "10.0.0.53" };

/**
 * The link-local resolvers `pod` may not reach on port 53, as "169.254.20.10:53 (UDP, TCP)":
 * both protocols (answers too large for UDP are retried over TCP).
 */
function dnsGaps(policies: Json[], pod: PodRef): string[] {
  return linkLocalResolvers.flatMap((ip) => {
    const closed = (["UDP", "TCP"] as const).filter(
      (protocol) => !allowed(policies, pod, { ip }, { port: 53, protocol }),
    );
    return closed.length > 0 ? [`${ip}:53 (${closed.join(", ")})`] : [];
  });
}

/** Whether `pod` may ask kube-dns (its pods) on port 53: then it means to resolve names. */
function resolvesAtKubeDns(policies: Json[], pod: PodRef): boolean {
  return (["UDP", "TCP"] as const).some((protocol) =>
    allowed(policies, pod, { pod: kubeDnsPod }, { port: 53, protocol }),
  );
}

/**
 * The namespaces where someone may create pods at run time: a Role that grants `create` on pods
 * (KubeSpawner's hub). User pods are started there, not by Pulumi, so only the namespace's
 * NetworkPolicies stand between them and the rest.
 */
function spawnNamespaces(resources: PolicyResource[]): string[] {
  const found = resources
    .filter((r) => r.type === "kubernetes:rbac.authorization.k8s.io/v1:Role")
    .filter((r) =>
      records(r.props.rules).some(
        (rule) =>
          strings(rule.apiGroups).some((g) => g === "" || g === "*") &&
          strings(rule.resources).some((x) => x === "pods" || x === "*") &&
          strings(rule.verbs).some((v) => v === "create" || v === "*"),
      ),
    )
    .map(namespaceOf);
  return [...new Set(found)];
}

function networkPoliciesOf(resources: PolicyResource[]): Json[] {
  return resources.filter((r) => r.type === "kubernetes:networking.k8s.io/v1:NetworkPolicy").map((r) => r.props);
}

export function makeUserPodsFenced(stack: StackConfig): StackValidationPolicy {
  return {
    name: "user-pods-fenced",
    description:
      "In every namespace where pods are spawned at run time (a Role may create pods), a NetworkPolicy limits " +
      "the egress of KubeSpawner's user pods, never to the metadata server (169.254.169.254; 169.254.169.252:988), " +
      "except port 80 (and 169.254.169.252:988) when the stack mounts a Cloud Storage bucket (userVolumes) and " +
      "the hub's config keeps user pods on nodes running the GKE metadata server; never to a " +
      "private address the stack did not open with userEgressAllowedCidrs, and to 169.254.20.10 on port 53 " +
      "alone; user pods, and every pod there that may ask kube-dns, reach DNS on 169.254.20.10 (NodeLocal " +
      "DNSCache) and 169.254.169.254 (Cloud DNS) on port 53, UDP and TCP. A stack that set " +
      "networkPolicies: false (a cluster that enforces none) is exempt.",
    enforcementLevel: "mandatory",
    validateStack: (args: StackValidationArgs, reportViolation: ReportViolation) => {
      if (projectValue(stack, "networkPolicies") === "false") return;
      const opened = parseList(projectValue(stack, "userEgressAllowedCidrs"));
      const policies = networkPoliciesOf(args.resources);
      for (const namespace of spawnNamespaces(args.resources)) {
        const userPod: PodRef = { namespace, labels: { ...kubeSpawnerUserPodLabels }, ip: "10.0.0.20" };
        if (selecting(policies, userPod, "Egress").length === 0) {
          reportViolation(
            `Namespace ${namespace}: no NetworkPolicy limits the egress of KubeSpawner's user pods ` +
              "(component: singleuser-server): user code reaches the NFS server, the file browser and the metadata server.",
          );
          continue;
        }
        // With a Cloud Storage bucket mounted, the gcsfuse sidecar in the user pod asks the GKE
        // metadata server for its ServiceAccount's token: port 80 (and Calico's 169.254.169.252:988)
        // may be open, if the hub's config keeps user pods on nodes that run it (never the node's credentials).
        const metadataServer = bucketVolumes(stack) && pinnedToGkeMetadataServer(args.resources, namespace);
        const metadataPorts: { ip: string; port: number; open: boolean; what: string }[] = [
          {
            ip: metadataAddress,
            port: 80,
            open: metadataServer,
            what: "the metadata server and the node's credentials",
          },
          { ip: metadataAddress, port: 443, open: false, what: "the metadata server and the node's credentials" },
          {
            ...gkeMetadataServerAddress,
            open: metadataServer,
            what: "the GKE metadata server (Calico sends a pod's 169.254.169.254:80 there: its ServiceAccount's Google token)",
          },
        ];
        for (const { ip, port, what } of metadataPorts.filter((p) => !p.open)) {
          if (allowed(policies, userPod, { ip }, { port, protocol: "TCP" })) {
            const bucketNote =
              port !== 443 && bucketVolumes(stack)
                ? ` A Cloud Storage bucket needs it, and only with the hub's config requiring nodes labelled ${gkeMetadataServerNodeLabel}=true for user pods.`
                : "";
            reportViolation(
              `Namespace ${namespace}: the NetworkPolicies let user pods reach ${ip}:${port}, ${what}.${bucketNote}`,
            );
          }
        }
        for (const ip of privateProbes.filter((a) => !opened.some((range) => inCidr(a, range)))) {
          const open = privateProbePorts.filter((port) =>
            allowed(policies, userPod, { ip }, { port, protocol: "TCP" }),
          );
          if (open.length > 0) {
            reportViolation(
              `Namespace ${namespace}: the NetworkPolicies let user pods reach the private address ${ip} ` +
                `(ports ${open.join(", ")}), which userEgressAllowedCidrs does not open.`,
            );
          }
        }
        if (!opened.some((range) => inCidr(nodeLocalDnsAddress, range))) {
          const open = nodeLocalDnsProbePorts.filter((port) =>
            allowed(policies, userPod, { ip: nodeLocalDnsAddress }, { port, protocol: "TCP" }),
          );
          if (open.length > 0) {
            reportViolation(
              `Namespace ${namespace}: the NetworkPolicies let user pods reach ${nodeLocalDnsAddress} ` +
                `(ports ${open.join(", ")}), NodeLocal DNSCache's address, beyond DNS (port 53): where it is an ` +
                "address of the node, every host-network service listening on all addresses answers there too.",
            );
          }
        }
        reportDnsGaps(namespace, policies, userPod, args.resources, reportViolation);
      }
    },
  };
}

/**
 * User servers need DNS (the hub's API is a Service name), and so does any pod of the namespace
 * whose policies let it ask kube-dns; on GKE their queries go to a link-local resolver instead.
 */
function reportDnsGaps(
  namespace: string,
  policies: Json[],
  userPod: PodRef,
  resources: PolicyResource[],
  reportViolation: ReportViolation,
) {
  const userGaps = dnsGaps(policies, userPod);
  if (userGaps.length > 0) {
    reportViolation(
      `Namespace ${namespace}: the NetworkPolicies give user pods no DNS at ${userGaps.join(", ")}, where ` +
        "NodeLocal DNSCache answers (GKE Autopilot, and Standard by default): user servers resolve no name, " +
        "the hub's included. Open port 53 there with an ipBlock (host-network pods: no pod or namespace " +
        "selector matches them).",
    );
  }
  for (const w of workloadsOf(resources).filter((x) => x.namespace === namespace)) {
    const pod: PodRef = { namespace, labels: w.labels, ip: "10.0.0.21" };
    if (selecting(policies, pod, "Egress").length === 0 || !resolvesAtKubeDns(policies, pod)) continue;
    const gaps = dnsGaps(policies, pod);
    if (gaps.length === 0) continue;
    reportViolation(
      `Namespace ${namespace}: the NetworkPolicies let ${namespace}/${nameOf(w.resource)} resolve names at ` +
        `kube-dns but give it no DNS at ${gaps.join(", ")}, where NodeLocal DNSCache and Cloud DNS answer on ` +
        "GKE. Open port 53 there with an ipBlock.",
      w.resource.urn,
    );
  }
}

/** Whether the stack mounts a Cloud Storage bucket in user pods (an item of userVolumes with `bucket`). */
function bucketVolumes(stack: StackConfig): boolean {
  const raw = projectValue(stack, "userVolumes");
  try {
    return raw !== undefined && records(JSON.parse(raw)).some((v) => typeof v.bucket === "string");
  } catch {
    return false;
  }
}

/**
 * Whether the hub's config in `namespace` (with its snippets) requires, for every user pod, a node
 * labelled as running the GKE metadata server: there 169.254.169.254 answers for the pod's own
 * ServiceAccount and conceals the node's credentials.
 */
function pinnedToGkeMetadataServer(resources: PolicyResource[], namespace: string): boolean {
  const configs = resources
    .filter((r) => r.type === "kubernetes:core/v1:ConfigMap" && namespaceOf(r) === namespace)
    .flatMap((r) => hubConfigTexts(r.props.data));
  return (
    configs.length > 0 &&
    configs.every((c) => {
      const terms = pythonLiteral(lastSetting(c.text, "KubeSpawner", "node_affinity_required") ?? "");
      // A required node affinity is met by any one of its terms: each must demand the label.
      return (
        Array.isArray(terms) &&
        terms.length > 0 &&
        records(terms).every((term) =>
          records(term.matchExpressions).some(
            (e) =>
              e.key === gkeMetadataServerNodeLabel &&
              e.operator === "In" &&
              JSON.stringify(strings(e.values)) === JSON.stringify(["true"]),
          ),
        )
      );
    })
  );
}

/** A list value as the CLI hands it to the pack (a JSON array in a string), or none. */
function parseList(raw: string | undefined): string[] {
  if (raw === undefined) return [];
  try {
    return strings(JSON.parse(raw));
  } catch {
    return [];
  }
}

interface Workload {
  resource: PolicyResource;
  namespace: string;
  labels: Record<string, string>;
  pod: Json;
}

function workloadsOf(resources: PolicyResource[]): Workload[] {
  return resources.flatMap((r) => {
    const template = podTemplateOf(r.type, r.props);
    const pod = podSpecOf(r.type, r.props);
    if (!template || !pod) return [];
    return [{ resource: r, namespace: namespaceOf(r), labels: labelsOf(record(template.metadata).labels), pod }];
  });
}

function containersOf(pod: Json): Json[] {
  return [...records(pod.initContainers), ...records(pod.containers)];
}

/** The claims that hold everyone's notebooks: the ReadWriteMany claims (`namespace/name`). */
function sharedClaims(resources: PolicyResource[]): Set<string> {
  return new Set(
    resources
      .filter((r) => r.type === "kubernetes:core/v1:PersistentVolumeClaim")
      .filter((r) => strings(record(r.props.spec).accessModes).includes("ReadWriteMany"))
      .map((r) => `${namespaceOf(r)}/${nameOf(r)}`),
  );
}

/**
 * The hub configs of the stack that tell KubeSpawner what to mount (`c.KubeSpawner.volume_mounts`),
 * each read with the hubExtraConfig snippets it runs (hubConfigText.ts).
 */
function hubConfigs(resources: PolicyResource[]): { resource: PolicyResource; text: string }[] {
  return resources
    .filter((r) => r.type === "kubernetes:core/v1:ConfigMap")
    .flatMap((r) =>
      hubConfigTexts(r.props.data)
        .filter(({ text }) => /^c\.KubeSpawner\.volume_mounts\s*=/m.test(text))
        .map(({ text }) => ({ resource: r, text })),
    );
}

const perUser = "/{username}";

/**
 * The folders under which KubeSpawner gives each user a folder of their own: the subPath
 * `<folder>/{username}` of a hub config's `volume_mounts` (`notebooks` for ours).
 */
function perUserParents(resources: PolicyResource[]): string[] {
  return hubConfigs(resources).flatMap(({ text }) => {
    const mounts = listSetting(text, "KubeSpawner", "volume_mounts");
    return records(mounts)
      .map((m) => String(m.subPath ?? ""))
      .filter((sub) => sub.endsWith(perUser))
      .map((sub) => sub.slice(0, -perUser.length));
  });
}

/**
 * Whether a subPath of the shared claim shows other users' folders: the whole claim, a per-user
 * parent or a folder above it, or one user's folder named outright (`notebooks/alice`).
 */
function seesUsersFolders(subPath: string, parents: string[]): boolean {
  const sub = subPath.replace(/^\/+|\/+$/g, "");
  return (
    sub === "" ||
    parents.some((p) => p === sub || p.startsWith(`${sub}/`) || (sub.startsWith(`${p}/`) && !sub.includes("{")))
  );
}

/**
 * The shared claims a workload mounts so that every user's folder shows: whole (no subPath), or the
 * folder the per-user folders are in (a hub config's `<folder>/{username}`).
 */
function wholeClaimMounts(w: Workload, claims: Set<string>, parents: string[]): string[] {
  const volumes = records(w.pod.volumes).filter((v) =>
    claims.has(`${w.namespace}/${String(record(v.persistentVolumeClaim).claimName)}`),
  );
  return volumes
    .filter((v) =>
      containersOf(w.pod).some((c) =>
        records(c.volumeMounts).some(
          (m) => m.name === v.name && !m.subPathExpr && seesUsersFolders(String(m.subPath ?? ""), parents),
        ),
      ),
    )
    .map((v) => String(record(v.persistentVolumeClaim).claimName));
}

/** The text of each server block's top level (nested blocks removed), and every `location` with its body. */
function nginxBlocks(conf: string): { serverTop: string[]; locations: { head: string; body: string }[] } {
  const serverTop: string[] = [];
  const locations: { head: string; body: string }[] = [];
  const text = conf.replace(/#[^\n]*/g, "");
  const serverRe = /\bserver\s*\{/g;
  for (let m = serverRe.exec(text); m; m = serverRe.exec(text)) {
    const start = m.index + m[0].length;
    let depth = 1;
    let i = start;
    let top = "";
    let blockStart = -1;
    let head = "";
    for (; i < text.length && depth > 0; i++) {
      const ch = text[i];
      if (ch === "{") {
        depth++;
        if (depth === 2) {
          blockStart = i + 1;
          head = top.slice(top.lastIndexOf(";") + 1).trim();
          top = top.slice(0, top.lastIndexOf(";") + 1);
        }
      } else if (ch === "}") {
        depth--;
        if (depth === 1) locations.push({ head, body: text.slice(blockStart, i) });
      } else if (depth === 1) {
        top += ch;
      }
    }
    serverTop.push(top);
    serverRe.lastIndex = i;
  }
  return { serverTop, locations };
}

/**
 * Whether nginx config (the server blocks of a ConfigMap) demands basic auth on every request but
 * exact-match locations (a readiness probe), with its user file in `secretDirs` (mounted Secrets).
 */
export function nginxRequiresAuth(conf: string, secretDirs: string[]): boolean {
  const { serverTop, locations } = nginxBlocks(conf);
  if (serverTop.length === 0) return false;
  const everyServer = serverTop.every((top) => {
    const realm = /(?:^|[;\s])auth_basic\s+("[^"]*"|\S+)\s*;/.exec(top)?.[1];
    const file = /(?:^|[;\s])auth_basic_user_file\s+(\S+)\s*;/.exec(top)?.[1];
    return (
      realm !== undefined &&
      realm !== "off" &&
      file !== undefined &&
      secretDirs.some((dir) => file.startsWith(dir.endsWith("/") ? dir : `${dir}/`))
    );
  });
  const offOnlyInExactLocations = locations.every(
    (l) => !/(?:^|[;\s])auth_basic\s+off\s*;/.test(l.body) || /^location\s*=/.test(l.head),
  );
  return everyServer && offOnlyInExactLocations;
}

/** Whether a workload's pod serves nginx config (a mounted ConfigMap) that requires basic auth. */
function servesWithAuth(w: Workload, configMaps: PolicyResource[]): boolean {
  const volumes = records(w.pod.volumes);
  const mountPaths = (name: unknown) =>
    containersOf(w.pod).flatMap((c) =>
      records(c.volumeMounts)
        .filter((m) => m.name === name)
        .map((m) => String(m.mountPath)),
    );
  const secretDirs = volumes.filter((v) => isRecord(v.secret)).flatMap((v) => mountPaths(v.name));
  const confs = volumes
    .filter((v) => isRecord(v.configMap))
    .map((v) => String(record(v.configMap).name))
    .flatMap((name) =>
      configMaps.filter((c) => namespaceOf(c) === w.namespace && nameOf(c) === name).map((c) => record(c.props.data)),
    )
    .flatMap((data) =>
      Object.values(data).filter((t): t is string => typeof t === "string" && /\bserver\s*\{/.test(t)),
    );
  return confs.length > 0 && confs.every((conf) => nginxRequiresAuth(conf, secretDirs));
}

export const notebooksNotServedUnauthenticated: StackValidationPolicy = {
  name: "notebooks-not-served-unauthenticated",
  description:
    "No Service selects pods that mount the whole shared notebooks claim (a ReadWriteMany claim, mounted " +
    "without subPath, or at the folder of the per-user folders) unless those pods serve nginx config that " +
    "requires basic auth on every path but exact-match probe locations, with its user file in a mounted Secret.",
  enforcementLevel: "mandatory",
  validateStack: (args: StackValidationArgs, reportViolation: ReportViolation) => {
    const claims = sharedClaims(args.resources);
    const parents = perUserParents(args.resources);
    const services = args.resources.filter((r) => r.type === "kubernetes:core/v1:Service");
    const configMaps = args.resources.filter((r) => r.type === "kubernetes:core/v1:ConfigMap");
    for (const w of workloadsOf(args.resources)) {
      const mounted = wholeClaimMounts(w, claims, parents);
      if (mounted.length === 0) continue;
      const exposing = services.filter((s) => {
        const selector = labelsOf(record(s.props.spec).selector);
        return (
          namespaceOf(s) === w.namespace &&
          Object.keys(selector).length > 0 &&
          Object.entries(selector).every(([k, v]) => w.labels[k] === v)
        );
      });
      if (exposing.length === 0 || servesWithAuth(w, configMaps)) continue;
      reportViolation(
        `Service ${exposing.map((s) => `${namespaceOf(s)}/${nameOf(s)}`).join(", ")} exposes ` +
          `${w.namespace}/${nameOf(w.resource)}, whose pods mount the whole claim ${mounted.join(", ")} ` +
          "(every user's notebooks), without authentication.",
        w.resource.urn,
      );
    }
  },
};

export const userServersMountOwnFolder: StackValidationPolicy = {
  name: "user-servers-mount-own-folder",
  description:
    "The mounts KubeSpawner gives every user's server (c.KubeSpawner.volume_mounts in the hub's " +
    "jupyterhub_config.py, a Python literal, extended by literals, read with the hubExtraConfig snippets it runs) mount a ReadWriteMany claim read-write only at the user's own " +
    "folder (a subPath ending in /{username}), and read-only only where no user's folder shows (the shared " +
    "folder): never the whole claim or the folder of the per-user folders. (Admins' extra mounts are added " +
    "per user by the config's modify_pod_hook, which checks every pod itself.)",
  enforcementLevel: "mandatory",
  validateStack: (args: StackValidationArgs, reportViolation: ReportViolation) => {
    const claims = sharedClaims(args.resources);
    const parents = perUserParents(args.resources);
    for (const { resource, text } of hubConfigs(args.resources)) {
      const where = `ConfigMap ${namespaceOf(resource)}/${nameOf(resource)}`;
      // As the hub ends up with them: assigned, then extended (userVolumes), after the snippets.
      const volumes = listSetting(text, "KubeSpawner", "volumes");
      const mounts = listSetting(text, "KubeSpawner", "volume_mounts");
      if (!Array.isArray(volumes) || !Array.isArray(mounts)) {
        reportViolation(
          `${where}: c.KubeSpawner.volumes and volume_mounts must be literal lists (extended with literal lists), or what every user's server ` +
            "mounts cannot be checked.",
          resource.urn,
        );
        continue;
      }
      const shared = new Set(
        records(volumes)
          .filter((v) => claims.has(`${namespaceOf(resource)}/${String(record(v.persistentVolumeClaim).claimName)}`))
          .map((v) => String(v.name)),
      );
      for (const m of records(mounts).filter((x) => shared.has(String(x.name)))) {
        const sub = String(m.subPath ?? "");
        const own = sub.endsWith(perUser) && !sub.slice(0, -perUser.length).includes("{");
        const fine = m.readOnly === true ? !seesUsersFolders(sub, parents) : own;
        if (!fine) {
          reportViolation(
            `${where}: every user's server would mount ${sub === "" ? "the whole claim" : sub} of volume ` +
              `${String(m.name)} at ${String(m.mountPath)} ${m.readOnly === true ? "read-only" : "read-write"}: ` +
              "read-write only its own folder (<folder>/{username}), read-only only a folder with no user's in it.",
            resource.urn,
          );
        }
      }
    }
  },
};
