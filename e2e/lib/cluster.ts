import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { alive } from "./processes";
import { startWatchdog, stopWatchdog } from "./watchdog";

/** A Kubernetes object as kubectl prints it with `-o json`. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    uid: string;
    resourceVersion: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: string;
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  rules?: PolicyRule[];
}

export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

/**
 * A control plane on loopback: etcd, kube-apiserver, kube-controller-manager, kube-scheduler
 * and the kwok controller, started by kwokctl's binary runtime from the locally built binaries
 * (never downloaded), with its work folder and kubeconfig in a temporary folder. kwok simulates
 * the node: pods get scheduled, get an IP and turn Ready without any container running.
 */
export class KwokCluster {
  readonly kubeconfig: string;
  private readonly workDir: string;
  private readonly env: NodeJS.ProcessEnv;
  private pids: number[] = [];
  private watchdog: number | undefined;

  constructor(
    private readonly bin: string,
    tmp: string,
    readonly name = "jhnfs-e2e",
    /** Extra kwokctl configuration documents (YAML), e.g. a KwokConfiguration for the kwok controller. */
    private readonly config?: string,
    /** The API server's audit policy (YAML); its log is then at `auditLog`. */
    private readonly auditPolicy?: string,
  ) {
    this.workDir = path.join(tmp, "kwok");
    this.kubeconfig = path.join(tmp, "kubeconfig");
    fs.mkdirSync(this.workDir, { recursive: true });
    this.env = {
      ...process.env,
      PATH: `${bin}:${process.env.PATH ?? "/usr/bin:/bin"}`,
      KWOK_WORKDIR: this.workDir,
      KWOK_RUNTIME: "binary",
      KWOK_KUBE_APISERVER_BINARY: path.join(bin, "kube-apiserver"),
      KWOK_KUBE_CONTROLLER_MANAGER_BINARY: path.join(bin, "kube-controller-manager"),
      KWOK_KUBE_SCHEDULER_BINARY: path.join(bin, "kube-scheduler"),
      KWOK_KUBECTL_BINARY: path.join(bin, "kubectl"),
      KWOK_ETCD_BINARY: path.join(bin, "etcd"),
      KWOK_CONTROLLER_BINARY: path.join(bin, "kwok"),
      KUBECONFIG: this.kubeconfig,
    };
  }

  private kwokctl(args: string[], timeoutMs = 180_000): string {
    const r = spawnSync(path.join(this.bin, "kwokctl"), ["--name", this.name, ...args], {
      env: this.env,
      encoding: "utf8",
      timeout: timeoutMs,
    });
    if (r.status !== 0) {
      throw new Error(`kwokctl ${args.join(" ")} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
    }
    return r.stdout;
  }

  /** Starts the control plane and one simulated node, and waits until the node is Ready. */
  start(): void {
    const config: string[] = [];
    if (this.config) {
      const file = path.join(this.workDir, "extra-config.yaml");
      fs.writeFileSync(file, this.config);
      config.push("--config", file);
    }
    if (this.auditPolicy) {
      const file = path.join(this.workDir, "audit-policy.yaml");
      fs.writeFileSync(file, this.auditPolicy);
      config.push("--kube-audit-policy", file);
    }
    for (let attempt = 1; ; attempt++) {
      this.kwokctl([
        "create",
        "cluster",
        "--runtime",
        "binary",
        "--kubeconfig",
        this.kubeconfig,
        "--wait",
        "120s",
        ...config,
      ]);
      this.pids = this.readPids();
      this.startWatchdog();
      this.kwokctl(["scale", "node", "--replicas", "1"]);
      this.kubectl(["wait", "--for=condition=Ready", "node", "--all", "--timeout=120s"]);
      // On a loaded machine kube-controller-manager gives up (and exits) when the API server's
      // RBAC bootstrap takes longer than its start-up wait; kwokctl's binary runtime does not
      // restart it, and without it no claim ever binds. Seen at load average 11 on 2 cores.
      const exited = this.exitedComponents();
      if (exited.length === 0) return;
      const message = `control plane component(s) exited during start-up: ${exited.join(", ")}`;
      if (attempt === 2) throw new Error(message);
      console.log(`# ${message}; starting the control plane once more`);
      this.stop();
    }
  }

  /** Names of the components (kwokctl's pid files) whose process is no longer running. */
  private exitedComponents(): string[] {
    const dir = this.pidDir();
    return fs
      .readdirSync(dir)
      .filter((f) => !KwokCluster.alive(parseInt(fs.readFileSync(path.join(dir, f), "utf8").trim(), 10)))
      .map((f) => f.replace(/\.pid$/, ""));
  }

  /** The API server's audit log (kwokctl's binary runtime writes it there), when an audit policy is set. */
  get auditLog(): string {
    return path.join(this.workDir, "clusters", this.name, "logs", "audit.log");
  }

  private pidDir(): string {
    return path.join(this.workDir, "clusters", this.name, "pids");
  }

  /**
   * A watchdog (e2e/lib/watchdog.ts) that, unless stop() ran first and ended it, deletes the
   * cluster and SIGKILLs what is left of it once this process is gone. It only kills PIDs that
   * kwokctl recorded for this cluster and whose command line still names this cluster's work folder.
   */
  private startWatchdog(): void {
    const q = (x: string): string => `'${x.replace(/'/g, "'\\''")}'`;
    const script = [
      `${q(path.join(this.bin, "kwokctl"))} --name ${q(this.name)} delete cluster --kubeconfig ${q(this.kubeconfig)} >/dev/null 2>&1`,
      `for p in ${this.pids.join(" ")}; do`,
      `  if [ -r /proc/$p/cmdline ] && tr '\\0' ' ' < /proc/$p/cmdline | grep -qF ${q(this.workDir)}; then kill -9 $p; fi`,
      "done",
    ].join("\n");
    this.watchdog = startWatchdog(script, this.env);
  }

  /** PIDs of the control plane's processes, from kwokctl's pid files. */
  readPids(): number[] {
    const dir = this.pidDir();
    if (!fs.existsSync(dir)) return [];
    return fs
      .readdirSync(dir)
      .map((f) => parseInt(fs.readFileSync(path.join(dir, f), "utf8").trim(), 10))
      .filter((p) => Number.isInteger(p) && p > 0);
  }

  static alive(pid: number): boolean {
    return alive(pid);
  }

  /**
   * Deletes the cluster, then checks that every process it started is gone. Any that is not
   * (only PIDs this cluster recorded, never by name) is killed, and that is reported as an error.
   */
  stop(): void {
    try {
      this.stopCluster();
    } finally {
      // Only now: if this process is killed half-way through stopCluster, the watchdog finishes it.
      stopWatchdog(this.watchdog);
      this.watchdog = undefined;
    }
  }

  private stopCluster(): void {
    const pids = [...new Set([...this.pids, ...this.readPids()])];
    let deleteError: unknown;
    try {
      this.kwokctl(["delete", "cluster", "--kubeconfig", this.kubeconfig], 120_000);
    } catch (err: unknown) {
      deleteError = err;
    }
    const deadline = Date.now() + 15_000;
    while (pids.some(KwokCluster.alive) && Date.now() < deadline) {
      spawnSync("sleep", ["0.2"]);
    }
    const leftover = pids.filter(KwokCluster.alive);
    for (const p of leftover) {
      try {
        process.kill(p, "SIGKILL");
      } catch {
        // already gone
      }
    }
    if (deleteError) throw deleteError;
    if (leftover.length > 0) throw new Error(`control plane processes still running after delete: ${leftover}`);
  }

  get startedPids(): number[] {
    return [...this.pids];
  }

  kubectl(args: string[], input?: string): string {
    return execFileSync(path.join(this.bin, "kubectl"), ["--kubeconfig", this.kubeconfig, ...args], {
      encoding: "utf8",
      input,
      stdio: ["pipe", "pipe", "pipe"],
      timeout: 180_000,
    });
  }

  apply(manifest: object): void {
    this.kubectl(["apply", "-f", "-"], JSON.stringify(manifest));
  }

  /** One object, or undefined when the API server answers NotFound. */
  get(kind: string, name: string, namespace?: string): KubeObject | undefined {
    const ns = namespace ? ["-n", namespace] : [];
    const r = spawnSync(
      path.join(this.bin, "kubectl"),
      ["--kubeconfig", this.kubeconfig, "get", kind, name, ...ns, "-o", "json"],
      { encoding: "utf8", timeout: 60_000 },
    );
    if (r.status === 0) return JSON.parse(r.stdout) as KubeObject;
    if (/NotFound|not found/.test(r.stderr)) return undefined;
    throw new Error(`kubectl get ${kind} ${name}: ${r.stderr}`);
  }

  list(kind: string, namespace?: string): KubeObject[] {
    const ns = namespace ? ["-n", namespace] : ["--all-namespaces"];
    return (JSON.parse(this.kubectl(["get", kind, ...ns, "-o", "json"])) as { items: KubeObject[] }).items;
  }
}
