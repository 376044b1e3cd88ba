/**
 * The network policy lab: our rendered NetworkPolicies enforced by a real policy engine
 * (kube-router v2.1.0's network policy controller, built from the Go module proxy) in a real kernel
 * (the kernel lab's user-mode Linux), with real connections between pods' network namespaces.
 *
 * Inside the lab's kernel (e2e/netpolLab/node.sh): the node's namespace (its eth0, the pods'
 * bridge with br_netfilter, NodeLocal DNSCache's and the metadata server's link-local addresses
 * with stand-ins answering there, kube-router), one network namespace per pod at the address the
 * lab assigns and writes back into the pod's status, and a namespace standing for the internet.
 * Services are DNAT rules in the node's nat table, as kube-proxy's iptables mode writes them.
 * On this machine: the control plane (etcd, kube-apiserver and the rest, kwokctl's binary runtime,
 * on 127.0.0.1), where `pulumi up` (the project's program, the real CLI) deploys the dev or prod
 * stack (e2e/netpolLab/stack.ts) and the lab adds users' pods and kube-dns; a network namespace the
 * test makes, holding the host end of the kernel's TAP device and a relay (relay.py) to the API
 * server, which kube-router and the hub's pod reach through it.
 *
 * What stands in: the pods' programs (podnet.py answers on every port the pod's containers
 * declare, with the pod's name); the kubelet (kwok marks the lab node's pods Running and Ready, with
 * addresses from the node's pod range, which the lab then gives their network namespaces); kube-dns,
 * NodeLocal DNSCache and Cloud DNS (podnet.py answering the Services' names from the API server's
 * ClusterIPs); the metadata server (a greeting on 169.254.169.254:80); kube-proxy (the lab's DNAT
 * rules).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { KwokCluster, type KubeObject } from "../lib/cluster";
import { applyLocalStorage, localStackVolumes } from "../lib/localStorage";
import { alive } from "../lib/processes";
import { PulumiEnv } from "../lib/pulumi";
import { writeNodePlugins } from "../lib/toolchain";
import { startWatchdog, stopWatchdog } from "../lib/watchdog";
import { KernelLab } from "../kernelLab";
import { q } from "../journey/containerProcess";
import { kwokLeavesTheStandInAlone } from "../journey/journeyStack";
import type { JsonObject } from "../../render/mocks";
import { userPodsFromConfig } from "../../test/support/hubConfigPython";
import { labStack } from "./stack";

const here = __dirname;
const nodeScript = path.join(here, "node.sh");
const podnet = path.join(here, "podnet.py");
const relayScript = path.join(here, "relay.py");

/** The lab's node, as the API server knows it, and its addresses (all inside the lab's kernel). */
export const labNode = {
  name: "netpol-lab",
  /** The node's eth0; the other end of the TAP device is the test's namespace on this machine. */
  ip: "10.199.0.2",
  hostSide: "10.199.0.1",
  /**
   * The pods' bridge (their gateway) and range (the node's podCIDR, from which kwok hands out the
   * pods' addresses, lowest first: the bridge takes the range's last one).
   */
  bridgeIp: "10.64.0.254",
  podCidr: "10.64.0.0/24",
  /** An address outside every private range, answered from the lab's "internet" namespace. */
  publicIp: "198.51.100.10",
  nodeLocalDnsIp: "169.254.20.10",
  metadataIp: "169.254.169.254",
  /** Where the relay listens for the API server, on the TAP's host side. */
  apiServerPort: 443,
} as const;

/**
 * The addresses the matrix's cells name (`via address`, but the API server's), where each lives in
 * the lab (the internet stand-in's namespace behind the node, or the node itself) and what answers
 * there: a greeting on these TCP ports, and DNS on 53 (UDP and TCP) where `dns` is set.
 */
const labAddresses: Record<string, { ip: string; at: "internet" | "node"; tcp: number[]; dns?: true }> = {
  /** Users' code on the internet; the organisation's LDAP over TLS (636) for the hub. */
  public: { ip: labNode.publicIp, at: "internet", tcp: [80, 443, 636] },
  /** A private address outside the cluster (a database in the VPC): the fence keeps users off it. */
  "private-db": { ip: "172.16.5.4", at: "internet", tcp: [5432] },
  /** The shared address space (100.64.0.0/10, carrier-grade NAT; GKE may use it for pods). */
  "shared-space": { ip: "100.64.3.2", at: "internet", tcp: [80] },
  /** NodeLocal DNSCache: DNS, and its health port. */
  "nodelocal-dns": { ip: labNode.nodeLocalDnsIp, at: "node", tcp: [8080], dns: true },
  /** The metadata server: Cloud DNS on 53, the node's credentials on 80. */
  metadata: { ip: labNode.metadataIp, at: "node", tcp: [80], dns: true },
  /** The node's own address: its kubelet's port. */
  "node-address": { ip: labNode.ip, at: "node", tcp: [10250] },
};

/** The Services' range (kubeadm's default), given to the API server and to kube-router. */
const serviceCidr = "10.96.0.0/12";

/** The lab's network namespaces on this machine are named this, then the test process's pid. */
const netnsPrefix = "jhnfs-netpol-";

/** Where the matrix's cells start or end that are no pod: the node itself and the internet stand-in. */
const placesNotPods = ["node", "internet"];

/** One cell of the connectivity matrix (e2e/netpolLab/matrix.tsv). */
export interface Cell {
  from: string;
  to: string;
  port: number;
  probe: "tcp" | "dns-udp" | "dns-tcp" | "https";
  via: "service" | "pod" | "address";
  expect: "answer" | "none";
  why: string;
}

export const matrixFile = path.join(here, "matrix.tsv");

/** The matrix, as both this lab and scripts/kind-cluster-check.sh read it. */
export function readMatrix(file = matrixFile): Cell[] {
  const rows = fs
    .readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "" && !l.startsWith("#"))
    .map((l) => l.split("\t"));
  const [header, ...cells] = rows;
  const columns = ["from", "to", "port", "probe", "via", "expect", "why"];
  if (header.join(",") !== columns.join(",")) throw new Error(`${file}: the header is not ${columns.join(" ")}`);
  return cells.map((c, i) => {
    const cell = Object.fromEntries(columns.map((k, j) => [k, c[j]])) as Record<string, string>;
    const where = `${file}, cell ${i + 1}`;
    if (c.length !== columns.length) throw new Error(`${where}: ${c.length} columns, not ${columns.length}`);
    if (!["tcp", "dns-udp", "dns-tcp", "https"].includes(cell.probe)) throw new Error(`${where}: probe ${cell.probe}`);
    if (!["service", "pod", "address"].includes(cell.via)) throw new Error(`${where}: via ${cell.via}`);
    if (!["answer", "none"].includes(cell.expect)) throw new Error(`${where}: expect ${cell.expect}`);
    const port = Number(cell.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`${where}: port ${cell.port}`);
    return { ...cell, port } as Cell;
  });
}

/** The cell's name, as the test and the report print it. */
export function cellName(c: Cell): string {
  return `${c.from} -> ${c.to}:${c.port} (${c.probe}, via ${c.via}): ${c.expect}`;
}

/** A pod of the lab: its API object's identity and labels, the ports it answers on, its address. */
export interface LabPod {
  /** The matrix's name for it (hub, proxy, user-pod, ...). */
  role: string;
  name: string;
  namespace: string;
  labels: Record<string, string>;
  ports: { name?: string; containerPort: number; protocol?: string }[];
  ip: string;
}

export interface ProbeResult {
  result: "answered" | "refused" | "timeout" | "unreachable" | "error";
  detail: string;
}

/** kube-dns, as GKE runs it: pods labelled k8s-app=kube-dns in kube-system (added by the lab). */
const kubeDns: Omit<LabPod, "ip"> = {
  role: "kube-dns",
  name: "kube-dns-lab",
  namespace: "kube-system",
  labels: { "k8s-app": "kube-dns" },
  ports: [
    { name: "dns", containerPort: 53, protocol: "UDP" },
    { name: "dns-tcp", containerPort: 53, protocol: "TCP" },
  ],
};

/**
 * Pods no policy of ours names: one in the hub's namespace (someone's `kubectl run debug`: the
 * namespace's default deny leaves it no network), one in a namespace of its own (another team's
 * workload, which our policies judge as any other pod outside the hub's namespace).
 */
function strangers(hubNamespace: string): Omit<LabPod, "ip">[] {
  return [
    { role: "stray-pod", name: "debug", namespace: hubNamespace, labels: { run: "debug" }, ports: [] },
    { role: "elsewhere-pod", name: "elsewhere", namespace: "elsewhere", labels: { app: "anything" }, ports: [] },
  ];
}

/** A NetworkPolicy as the API server holds it, without what the server adds (uid, versions, ...). */
export interface Policy {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string };
  spec: JsonObject;
}

export class NetpolLab {
  private relay?: ChildProcess;
  private syncs = 0;
  private pods: LabPod[] = [];
  private services: KubeObject[] = [];

  private constructor(
    readonly cluster: KwokCluster,
    readonly lab: KernelLab,
    readonly netns: string,
    readonly tmp: string,
    private readonly bin: string,
    private readonly watchdog: number,
  ) {}

  /** The relay's pid (the watchdog test checks it is gone with the test that started it). */
  get relayPid(): number | undefined {
    return this.relay?.pid;
  }

  /**
   * Deletes the lab's network namespaces whose test process is gone (their names carry its pid):
   * what a test killed together with its watchdog left. The kernels in them are ended by
   * KernelLab.boot, the control planes' processes by their own watchdogs.
   */
  static endLeftovers(): void {
    const listed = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout ?? "";
    for (const line of listed.split("\n")) {
      const name = line.split(" ")[0];
      const owner = Number(name.slice(netnsPrefix.length));
      if (!name.startsWith(netnsPrefix) || !Number.isInteger(owner) || alive(owner)) continue;
      console.log(`# deleting network namespace ${name}, left by test process ${owner}`);
      spawnSync("ip", ["netns", "del", name]);
    }
  }

  /**
   * The control plane on this machine, a network namespace with the TAP device and the relay to the
   * API server, the lab's kernel booted on that TAP device, and the node's network in it.
   */
  static async start(bin: string): Promise<NetpolLab> {
    NetpolLab.endLeftovers();
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "netpol-lab-"));
    const netns = `${netnsPrefix}${process.pid}`;
    const cluster = new KwokCluster(
      bin,
      tmp,
      `jhnfs-netpol-${process.pid}`,
      // kwok manages the lab's node (annotated as kwok's) and gives it the address of the lab
      // kernel's eth0 (these two lines extend kwokLeavesTheStandInAlone's kwok-controller
      // arguments); the Service range is set, as kube-router must be told it.
      `${kwokLeavesTheStandInAlone}  - key: node-ip\n    value: ${labNode.ip}\n` +
        `- name: kube-apiserver\n  extraArgs:\n  - key: service-cluster-ip-range\n    value: ${serviceCidr}\n`,
    );
    // If this test process is SIGKILLed: its namespace and scratch folder go (the relay dies with
    // it, the kernel and the control plane by their own watchdogs).
    const watchdog = startWatchdog(`ip netns del ${q(netns)} 2>/dev/null\nsleep 20\nrm -rf ${q(tmp)}`);
    let lab: KernelLab | undefined;
    let started: NetpolLab | undefined;
    try {
      cluster.start();
      // kwokctl's own node would take pods too: the lab's node is the only one.
      cluster.kubectl(["delete", "nodes", "--all", "--wait"]);
      cluster.apply({
        apiVersion: "v1",
        kind: "Node",
        metadata: {
          name: labNode.name,
          annotations: { "kwok.x-k8s.io/node": "fake" },
          labels: { "kubernetes.io/hostname": labNode.name, "kubernetes.io/os": "linux" },
        },
        spec: { podCIDR: labNode.podCidr, podCIDRs: [labNode.podCidr] },
      });
      cluster.kubectl(["wait", "--for=condition=Ready", `node/${labNode.name}`, "--timeout=120s"]);
      await run("ip", ["netns", "add", netns]);
      await run("ip", ["-n", netns, "tuntap", "add", "dev", "tap0", "mode", "tap"]);
      await run("ip", ["-n", netns, "addr", "add", `${labNode.hostSide}/30`, "dev", "tap0"]);
      await run("ip", ["-n", netns, "link", "set", "tap0", "up"]);
      // The way back to the pods (the hub's pod reaches the API server through the relay).
      await run("ip", ["-n", netns, "route", "add", labNode.podCidr, "via", labNode.ip]);
      lab = await KernelLab.boot({
        fileSystem: "ext4",
        diskMiB: 16,
        memoryMiB: 1024,
        network: { namespace: netns, kernelArgs: ["eth0=tuntap,tap0"] },
      });
      started = new NetpolLab(cluster, lab, netns, tmp, bin, watchdog);
      await started.startRelay();
      const onTheInternet = Object.values(labAddresses).filter((a) => a.at === "internet");
      const internetSpec = started.writeSpec("internet", {
        name: "internet",
        tcp: onTheInternet.flatMap((a) => a.tcp.map((port) => `${a.ip}:${port}`)),
      });
      await started.node(
        [
          `node_up ${labNode.ip}/30 ${labNode.bridgeIp}/24 ${labNode.publicIp}`,
          // The internet stand-in answers for the other outside addresses too, routed to it.
          ...onTheInternet
            .filter((a) => a.ip !== labNode.publicIp)
            .flatMap((a) => [
              `ip -n internet addr add ${a.ip}/32 dev eth0`,
              `ip route add ${a.ip}/32 via ${labNode.publicIp}`,
            ]),
          `serve internet ${q(internetSpec)} /run/internet.log`,
          "serve_wait /run/internet.log",
        ].join("\n"),
      );
      return started;
    } catch (e) {
      if (started) await started.stop();
      else {
        await lab?.shutdown();
        await run("ip", ["netns", "del", netns]).catch(() => undefined);
        cluster.stop();
        stopWatchdog(watchdog);
        fs.rmSync(tmp, { recursive: true, force: true });
      }
      throw e;
    }
  }

  /** Runs a script on the lab's node with node.sh's functions. */
  node(script: string): Promise<string> {
    return this.lab.ok(`set -e\npodnet=${q(podnet)}\n. ${q(nodeScript)}\n${script}`);
  }

  private writeSpec(name: string, spec: object): string {
    const file = path.join(this.lab.dir, `${name}.json`);
    fs.writeFileSync(file, JSON.stringify(spec));
    return file;
  }

  /** The relay from the TAP device's host side to the API server on 127.0.0.1. */
  private async startRelay(): Promise<void> {
    const server = new URL(
      this.kubectl(["config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"]),
    );
    const relay = spawn(
      "python3",
      [relayScript, `/run/netns/${this.netns}`, `${labNode.hostSide}:${labNode.apiServerPort}`, server.host],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    this.relay = relay;
    await new Promise<void>((resolve, reject) => {
      relay.once("exit", (code) => reject(new Error(`the API server relay exited (${code})`)));
      relay.stdout?.once("data", () => resolve());
    });
  }

  kubectl(args: string[], input?: string): string {
    return this.cluster.kubectl(args, input);
  }

  /**
   * Deploys the dev or prod stack (e2e/netpolLab/stack.ts) with `pulumi up`: the project's program,
   * the real CLI and Kubernetes provider, against this control plane, whose kwok marks the pods of
   * the lab's node Running and Ready with addresses from the node's pod range (Pulumi waits for
   * that). Then adds what the stack does not make: alice's and bob's servers (their labels and
   * ports as the hub image's KubeSpawner makes them from the jupyterhub_config.py `pulumi up`
   * deployed), kube-dns with its Service, and two pods no policy names (strangers()). Then, in the kernel, each pod's namespace at the
   * address kwok gave it, with its listeners, the node's DNS and metadata stand-ins, and the
   * Services' DNAT rules. Resolves with the seconds `pulumi up` took.
   */
  async deploy(stack: string): Promise<{ upSeconds: number }> {
    const { names, config } = labStack(stack);
    const volumes = localStackVolumes(names, `netpol-${stack}`, this.tmp);
    applyLocalStorage(this.cluster, names, [volumes.data, volumes.hubDb]);
    const pulumi = new PulumiEnv({
      bin: this.bin,
      pluginDir: writeNodePlugins(path.join(this.tmp, "plugins")),
      tmp: this.tmp,
      kubeconfig: this.cluster.kubeconfig,
      stackName: stack,
    });
    await pulumi.createStack(config);
    const up = await pulumi.run("up");
    if (!up.ok) throw new Error(`pulumi up (${stack}) failed: ${up.error}\n${up.stderr.slice(-4000)}`);

    const namespaces = [names.hubNamespace, names.nfsNamespace];
    const hubConfig = this.cluster
      .list("configmap", names.hubNamespace)
      .map((c) => (c as KubeObject & { data?: Record<string, string> }).data ?? {})
      .find((data) => "jupyterhub_config.py" in data);
    if (!hubConfig) throw new Error(`pulumi up (${stack}) made no ConfigMap with jupyterhub_config.py`);
    const { "jupyterhub_config.py": configText, ...siblings } = hubConfig;
    const users = userPodsFromConfig(
      configText,
      [
        { user: "alice", admin: false },
        { user: "bob", admin: false },
      ],
      {},
      siblings,
    ).map((result, i): Omit<LabPod, "ip"> => {
      if (!("pod" in result)) throw new Error(`KubeSpawner refused the pod: ${result.error}`);
      const pod = result.pod as {
        metadata: { name: string; labels: Record<string, string> };
        spec: { containers: { ports?: LabPod["ports"] }[] };
      };
      return {
        role: i === 0 ? "user-pod" : "other-user-pod",
        name: pod.metadata.name,
        namespace: names.hubNamespace,
        labels: pod.metadata.labels,
        ports: pod.spec.containers.flatMap((c) => c.ports ?? []),
      };
    });
    const extras = [...users, kubeDns, ...strangers(names.hubNamespace)];
    this.apply([
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "elsewhere" } },
      // The pods as the hub (or GKE) would create them: their labels and ports, on the lab's node.
      ...extras.map((p) => ({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: p.name, namespace: p.namespace, labels: p.labels },
        spec: {
          nodeName: labNode.name,
          automountServiceAccountToken: false,
          containers: [{ name: "main", image: "lab.invalid/stand-in", ports: p.ports }],
        },
      })),
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "kube-dns", namespace: kubeDns.namespace },
        spec: {
          selector: kubeDns.labels,
          ports: kubeDns.ports.map((x) => ({ name: x.name ?? "", port: 53, protocol: x.protocol, targetPort: 53 })),
        },
      },
    ]);

    // Every pod on the lab's node, once kwok has given it an address: the Deployments' pods (role:
    // their Deployment's name) and the lab's.
    const deployments = this.cluster
      .list("deployment")
      .filter((d) => namespaces.includes(String(d.metadata.namespace)));
    const roleOf = (p: KubeObject): string | undefined => {
      const extra = extras.find((x) => x.name === p.metadata.name && x.namespace === p.metadata.namespace);
      if (extra) return extra.role;
      const owner = deployments.find((d) => {
        const selector = ((d.spec?.selector as { matchLabels?: Record<string, string> }).matchLabels ?? {}) as Record<
          string,
          string
        >;
        return (
          d.metadata.namespace === p.metadata.namespace &&
          Object.entries(selector).every(([k, v]) => p.metadata.labels?.[k] === v)
        );
      });
      return owner?.metadata.name;
    };
    const deadline = Date.now() + 120_000;
    for (;;) {
      const onNode = this.cluster
        .list("pod")
        .filter((p) => p.spec?.nodeName === labNode.name && !p.metadata.deletionTimestamp)
        .map((p) => ({ p, ip: (p as KubeObject & { status?: { podIP?: string } }).status?.podIP }));
      const roles = new Set(onNode.map(({ p }) => roleOf(p)));
      const missing = [...deployments.map((d) => d.metadata.name), ...extras.map((x) => x.role)].filter(
        (r) => !roles.has(r),
      );
      if (missing.length === 0 && onNode.every(({ ip }) => ip)) {
        this.pods = onNode.map(({ p, ip }) => {
          const role = roleOf(p);
          if (!role) throw new Error(`pod ${p.metadata.namespace}/${p.metadata.name} on the lab's node is no one's`);
          if (!ip?.startsWith("10.64.0.") || ip === labNode.bridgeIp)
            throw new Error(`pod ${p.metadata.name} got ${ip}, not an address of the lab's pod range`);
          const containers = (p.spec?.containers ?? []) as { ports?: LabPod["ports"] }[];
          return {
            role,
            name: p.metadata.name,
            namespace: String(p.metadata.namespace),
            labels: p.metadata.labels ?? {},
            ports: containers.flatMap((c) => c.ports ?? []),
            ip,
          };
        });
        break;
      }
      if (Date.now() > deadline)
        throw new Error(`pods without an address after 120 s (missing: ${missing.join(", ") || "none"})`);
      await new Promise((r) => setTimeout(r, 500));
    }
    const podNamespaces = new Set(this.pods.map((p) => p.namespace));
    this.services = this.cluster.list("service").filter((s) => podNamespaces.has(String(s.metadata.namespace)));
    const dns = this.pods.find((p) => p.role === "kube-dns");

    const records = Object.fromEntries(
      this.services.map((s) => [
        `${s.metadata.name}.${s.metadata.namespace}.svc.cluster.local`,
        String(s.spec?.clusterIP),
      ]),
    );
    const lines: string[] = [];
    for (const [i, p] of this.pods.entries()) {
      const spec = this.writeSpec(p.name, {
        name: p.role,
        ...(p === dns
          ? { dns: [`${p.ip}:53`] }
          : { tcp: p.ports.filter((x) => (x.protocol ?? "TCP") === "TCP").map((x) => `${p.ip}:${x.containerPort}`) }),
        records,
      });
      lines.push(
        `pod_up ${q(p.name)} veth${i} ${p.ip}/24 ${labNode.bridgeIp}`,
        `serve ${q(p.name)} ${q(spec)} /run/${p.name}.log`,
      );
    }
    // On the node: NodeLocal DNSCache, the metadata server, the kubelet's port (labAddresses).
    const onTheNode = Object.values(labAddresses).filter((a) => a.at === "node");
    const nodeSpec = this.writeSpec("node", {
      name: "node",
      tcp: onTheNode.flatMap((a) => a.tcp.map((port) => `${a.ip}:${port}`)),
      dns: onTheNode.filter((a) => a.dns).map((a) => `${a.ip}:53`),
      records,
    });
    lines.push(`serve "" ${q(nodeSpec)} /run/node.log`);
    lines.push(...this.serviceRules());
    lines.push(`serve_wait /run/node.log ${this.pods.map((p) => `/run/${p.name}.log`).join(" ")}`);
    await this.node(lines.join("\n"));
    return { upSeconds: up.seconds };
  }

  /** Applies objects in one request; resolves with them as the API server returns them. */
  private apply(objects: object[]): KubeObject[] {
    const out = this.kubectl(
      ["apply", "-f", "-", "-o", "json"],
      JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }),
    );
    const parsed = JSON.parse(out) as KubeObject | { items: KubeObject[] };
    return "items" in parsed ? parsed.items : [parsed];
  }

  /**
   * kube-proxy's part, as its iptables mode does it: each Service port DNATed to its pod, and a pod's
   * connection to its own Service masqueraded (kube-proxy's KUBE-MARK-MASQ for hairpin traffic: the
   * pod would otherwise answer itself directly, from its own address, and the reply would not match).
   */
  private serviceRules(): string[] {
    const rules = this.pods.map((p) => `iptables -t nat -A POSTROUTING -s ${p.ip}/32 -d ${p.ip}/32 -j MASQUERADE`);
    for (const s of this.services) {
      const selector = (s.spec?.selector ?? {}) as Record<string, string>;
      if (s.spec?.clusterIP === "None") continue; // headless: no address to translate
      const pod = this.pods.find(
        (p) => p.namespace === s.metadata.namespace && Object.entries(selector).every(([k, v]) => p.labels[k] === v),
      );
      if (!pod) continue;
      for (const port of (s.spec?.ports ?? []) as { port: number; protocol?: string; targetPort?: number | string }[]) {
        const target =
          typeof port.targetPort === "string"
            ? pod.ports.find((x) => x.name === port.targetPort)?.containerPort
            : (port.targetPort ?? port.port);
        if (target === undefined) throw new Error(`Service ${s.metadata.name}: no port ${port.targetPort} on its pod`);
        const proto = (port.protocol ?? "TCP").toLowerCase();
        rules.push(
          `iptables -t nat -A PREROUTING -d ${String(s.spec?.clusterIP)}/32 -p ${proto} --dport ${port.port} -j DNAT --to-destination ${pod.ip}:${target}`,
        );
      }
    }
    return rules;
  }

  /** The NetworkPolicies on the API server (`pulumi up`'s, or those applyPolicies put there). */
  policies(): Policy[] {
    return this.cluster.list("networkpolicy").map((p) => ({
      apiVersion: p.apiVersion,
      kind: p.kind,
      metadata: { name: p.metadata.name, namespace: String(p.metadata.namespace) },
      spec: p.spec as JsonObject,
    }));
  }

  /** Replaces every NetworkPolicy of the lab's namespaces with these. */
  applyPolicies(policies: JsonObject[]): void {
    const namespaces = new Set(policies.map((p) => String((p.metadata as JsonObject).namespace)));
    for (const ns of namespaces) this.kubectl(["-n", ns, "delete", "networkpolicy", "--all"]);
    this.apply(policies);
  }

  /**
   * Starts kube-router with its network policy controller only (no routing, no service proxy),
   * on the lab's node, against the API server through the relay; resolves once it has written
   * its rules (its first full sync).
   */
  async startKubeRouter(): Promise<void> {
    const config = JSON.parse(this.kubectl(["config", "view", "--minify", "--raw", "--flatten", "-o", "json"])) as {
      clusters: { cluster: { server: string; "tls-server-name"?: string } }[];
    };
    const cluster = config.clusters[0].cluster;
    // Through the relay; the API server's certificate names 127.0.0.1, where it listens.
    cluster["tls-server-name"] = new URL(cluster.server).hostname;
    cluster.server = `https://${labNode.hostSide}:${labNode.apiServerPort}`;
    const kubeconfig = path.join(this.lab.dir, "kube-router.kubeconfig");
    fs.writeFileSync(kubeconfig, JSON.stringify(config));
    await this.node(
      [
        `setsid ${q(path.join(this.bin, "kube-router"))} --kubeconfig=${q(kubeconfig)} --hostname-override=${labNode.name}`,
        "--run-firewall=true --run-router=false --run-service-proxy=false --enable-cni=false",
        `--service-cluster-ip-range=${serviceCidr} --enable-ipv6=false --health-port=0 --metrics-port=0 -v=1`,
        ">/run/kube-router.log 2>&1 </dev/null &",
        "\necho $! >/run/kube-router.pid",
      ].join(" "),
    );
    await this.waitForSync();
  }

  /** The kube-router log so far (kept in the lab's kernel), and whether it still runs. */
  async kubeRouterLog(): Promise<{ log: string; running: boolean }> {
    const out = await this.node(
      "kill -0 $(cat /run/kube-router.pid) 2>/dev/null && echo running || echo exited\ncat /run/kube-router.log",
    );
    const [state, ...log] = out.split("\n");
    return { log: log.join("\n"), running: state === "running" };
  }

  /** Waits until kube-router has finished one more full sync of its rules than before. */
  async waitForSync(): Promise<void> {
    const deadline = Date.now() + 120_000;
    for (;;) {
      const { log, running } = await this.kubeRouterLog();
      const done = log.split("\n").filter((l) => l.includes("sync iptables took")).length;
      if (done > this.syncs) {
        this.syncs = done;
        return;
      }
      if (!running || Date.now() > deadline) {
        throw new Error(
          `kube-router ${running ? "wrote no rules in 120 s" : "exited"}:\n${log.split("\n").slice(-30).join("\n")}`,
        );
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** Whether this stack has the cell's ends (prod has no test LDAP server). */
  places(c: Cell): boolean {
    const here = (role: string) => placesNotPods.includes(role) || this.pods.some((p) => p.role === role);
    return here(c.from) && (c.via === "address" || here(c.to));
  }

  pod(role: string): LabPod {
    const p = this.pods.find((x) => x.role === role);
    if (!p) throw new Error(`no pod ${role} in the lab`);
    return p;
  }

  /** Where a cell's connection goes: a Service's ClusterIP, a pod's IP, or a node address. */
  private target(c: Cell): { ip: string; port: number } {
    if (c.via === "address") {
      if (c.to === "api-server") return { ip: labNode.hostSide, port: labNode.apiServerPort };
      const address = labAddresses[c.to] as (typeof labAddresses)[string] | undefined;
      if (!address) throw new Error(`${cellName(c)}: no address ${c.to} in the lab`);
      const served = c.probe.startsWith("dns") ? address.dns && c.port === 53 : address.tcp.includes(c.port);
      if (!served) throw new Error(`${cellName(c)}: nothing listens on ${c.to}:${c.port} in the lab`);
      return { ip: address.ip, port: c.port };
    }
    const pod = this.pod(c.to);
    if (!pod.ports.some((x) => x.containerPort === c.port))
      throw new Error(`${cellName(c)}: ${c.to}'s containers declare no port ${c.port}`);
    if (c.via === "pod") return { ip: pod.ip, port: c.port };
    for (const s of this.services) {
      const selector = (s.spec?.selector ?? {}) as Record<string, string>;
      if (s.metadata.namespace !== pod.namespace || !Object.entries(selector).every(([k, v]) => pod.labels[k] === v))
        continue;
      for (const port of (s.spec?.ports ?? []) as { port: number; targetPort?: number | string }[]) {
        const target =
          typeof port.targetPort === "string"
            ? pod.ports.find((x) => x.name === port.targetPort)?.containerPort
            : (port.targetPort ?? port.port);
        if (target === c.port) return { ip: String(s.spec?.clusterIP), port: port.port };
      }
    }
    throw new Error(`${cellName(c)}: no Service in front of ${c.to}:${c.port}`);
  }

  /** The hub's Service name, which every DNS probe asks for. */
  private hubName(): { name: string; ip: string } {
    const hub = this.services.find((s) => s.metadata.name === "hub");
    if (!hub) throw new Error("no hub Service");
    return { name: `hub.${hub.metadata.namespace}.svc.cluster.local`, ip: String(hub.spec?.clusterIP) };
  }

  /**
   * Runs every cell from its source pod's network namespace (one process per source, the cells at
   * once) and returns what happened to each, with whether it matches what the cell expects (an
   * answer: the greeting of the pod or stand-in meant, or the hub's address from DNS, or the API
   * server's HTTP status; none: refused, timed out or unreachable).
   */
  async probe(cells: Cell[]): Promise<{ cell: Cell; seen: ProbeResult; ok: boolean }[]> {
    const hub = this.hubName();
    const bySource = new Map<string, { id: string; cell: Cell }[]>();
    cells.forEach((cell, i) => bySource.set(cell.from, [...(bySource.get(cell.from) ?? []), { id: String(i), cell }]));
    const results = new Map<string, ProbeResult>();
    const scripts: string[] = [];
    const outputs: string[] = [];
    for (const [from, items] of bySource) {
      // From the node's own namespace (the kubelet's, a host-network pod's), the internet
      // stand-in's, or the pod's.
      const where =
        from === "node" ? "" : `ip netns exec ${q(from === "internet" ? "internet" : this.pod(from).name)} `;
      const file = this.writeSpec(
        `probe-${from}`,
        items.map(({ id, cell }) => ({ id, kind: cell.probe, ...this.target(cell), name: hub.name })),
      );
      const out = path.join(this.lab.dir, `probe-${from}.out`);
      outputs.push(out);
      scripts.push(`${where}python3 ${q(podnet)} probe ${q(file)} >${q(out)} &`);
    }
    await this.node(`${scripts.join("\n")}\nwait`);
    for (const out of outputs) {
      for (const [id, r] of Object.entries(JSON.parse(fs.readFileSync(out, "utf8")) as Record<string, ProbeResult>))
        results.set(id, r);
    }
    return cells.map((cell, i) => {
      const seen = results.get(String(i)) ?? { result: "error", detail: "no result" };
      const answered =
        seen.result === "answered" &&
        (cell.probe.startsWith("dns")
          ? seen.detail.split(" ").includes(hub.ip)
          : cell.probe === "https"
            ? /^HTTP\/1\.1 \d{3}/.test(seen.detail)
            : seen.detail === `${greeter(cell)} ${cell.port}`);
      const none = ["refused", "timeout", "unreachable"].includes(seen.result);
      return { cell, seen, ok: cell.expect === "answer" ? answered : none };
    });
  }

  /** Stops kube-router, the kernel, the relay, the namespace, the control plane and the watchdog. */
  async stop(): Promise<void> {
    const errors: unknown[] = [];
    const attempt = async (f: () => unknown) => {
      try {
        await f();
      } catch (e) {
        errors.push(e);
      }
    };
    await attempt(() => this.lab.shutdown());
    await attempt(() => {
      if (this.relay?.exitCode === null) this.relay.kill("SIGKILL");
    });
    await attempt(() => run("ip", ["netns", "del", this.netns]));
    await attempt(() => this.cluster.stop());
    stopWatchdog(this.watchdog);
    fs.rmSync(this.tmp, { recursive: true, force: true });
    if (errors.length > 0) throw errors[0];
  }
}

/** Who answers a TCP cell, as its greeting names it: the pod meant, or the node's or the internet's stand-in. */
function greeter(c: Cell): string {
  if (c.via !== "address") return c.to;
  return labAddresses[c.to].at;
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(command, args, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    p.stderr.on("data", (d: Buffer) => (err += d.toString()));
    p.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(" ")}: ${err}`))));
  });
}
