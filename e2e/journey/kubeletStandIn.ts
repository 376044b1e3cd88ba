import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as path from "node:path";
import type { KubeObject } from "../lib/cluster";
import { repoRoot } from "../lib/toolchain";
import type { KubeApi } from "./kubeApi";
import { type ContainerProcess, execArgv, innerPid, startedMarker } from "./containerProcess";
import { pipeSockets, type SandboxSpec } from "./podSandbox";
import {
  type Container,
  type ImageStandIn,
  type LocalVolume,
  type PodSpec,
  commandOf,
  containerCommandLine,
  localVolumes,
  resolveEnv,
} from "./podSpec";

export interface KubeletStandInOptions {
  api: KubeApi;
  nodeName: string;
  /** Folder for the pods' sandboxes, volumes and logs. */
  workDir: string;
  /**
   * The image stand-in, or "not-run" for a container this stand-in does not run but reports
   * running (the kernel NFS server: its export is the folder nfsExport returns).
   */
  image: (c: Container) => ImageStandIn | "not-run";
  /** The folder on this machine that stands in for an NFS export (server, path as in the PV). */
  nfsExport: (server: string, exportPath: string) => string;
  /**
   * Model an export with root_squash: a container process running as uid 0 that mounts an NFS
   * volume runs as nobody (65534:65534) with no capabilities. On the export that is exactly
   * what the server enforces; off the export such a process also loses root, which a real
   * squash would not do (no container we run needs root anywhere else).
   */
  rootSquash: boolean;
  /** Host loopback ports a pod may connect to at 127.0.0.1:<port> (the hub's API). */
  egressPorts: () => number[];
  log: (line: string) => void;
  /**
   * What the Node advertises besides a plain node's: labels, taints and extended resources (a GPU
   * node's `nvidia.com/gpu`, as a device plugin would report it). The scheduler matches pods
   * against them; the stand-in runs the pods it is given whatever they ask for.
   */
  node?: {
    labels?: Record<string, string>;
    taints?: { key: string; value?: string; effect: "NoSchedule" | "PreferNoSchedule" | "NoExecute" }[];
    extendedResources?: Record<string, string>;
  };
  /** Pod addresses, shared by the stand-ins of one test so that no two pods get the same. */
  addresses?: Iterator<string>;
}

type ContainerState =
  | { waiting: { reason: string; message?: string } }
  | { running: { startedAt: string } }
  | { terminated: { exitCode: number; reason: string; startedAt: string; finishedAt: string } };

interface RunningPod {
  uid: string;
  namespace: string;
  name: string;
  ip: string;
  dir: string;
  sandbox?: ChildProcess;
  servers: net.Server[];
  processes: ChildProcess[];
  stopping: boolean;
}

/** A container the stand-in started: its process as the spec makes it, where it runs, its exit. */
interface StartedContainer {
  exited: Promise<number>;
  process?: ContainerProcess;
  /** The container's own process (in the pod's PID namespace), once it runs. */
  pid?: number;
  /** The process group of everything started for it. */
  group?: number;
}

/** The annotation on the stand-in's Node (kwok is told to leave nodes carrying it alone). */
export const STAND_IN_ANNOTATION = "jupyterhub-nfs.e2e/kubelet-stand-in";

const now = (): string => new Date().toISOString().replace(/\.\d+Z$/, "Z");

/** A pod's address: a loopback address of its own, never a simulated 10.x address. */
export function* loopbackAddresses(): Generator<string> {
  // A random second octet, so two test runs on one machine do not share addresses.
  const b = 100 + Math.floor(Math.random() * 150);
  for (let c = 0; c < 256; c++) for (let d = 2; d < 255; d++) yield `127.${b}.${c}.${d}`;
}

/**
 * A kubelet stand-in: test infrastructure, not a kubelet. It registers a Node of its own on the
 * API server (kwok manages only nodes carrying its annotation, so it leaves this one alone),
 * keeps it Ready, and for every pod bound to it runs the containers as processes on this
 * machine: init containers first, in order; each in the pod's own network and PID namespace
 * (podSandbox.ts) and a private mount namespace with the pod's volumes bind-mounted (subPath and
 * readOnly honoured, a missing subPath created owned by root with the volume's mode, as the
 * kubelet does; parents before the mounts inside them, a missing mount point made by root, as the
 * runtime does); with the uid, gid, supplementary groups, capabilities and no_new_privs of the
 * spec; with the spec's environment; and where the spec sets no command, the image's own
 * ENTRYPOINT/CMD. It reports the pod Running and Ready (after the readiness probe passes) at a
 * loopback address. Deleting the pod ends its processes.
 *
 * Not emulated: image file systems (programs come from this machine, see ImageStandIn), the
 * kernel NFS mount (the export is a local folder), cgroup limits (requests and limits are not
 * enforced), container restarts (a failed container is reported terminated and left so),
 * liveness probes, Service IPs, DNS, and any volume type but persistentVolumeClaim (hostPath or
 * NFS volumes), emptyDir, configMap and secret.
 */
export class KubeletStandIn {
  private readonly pods = new Map<string, RunningPod>();
  private readonly addresses: Iterator<string>;
  private watch?: { stop(): void };
  private heartbeat?: NodeJS.Timeout;
  /** Every process started (sandboxes and containers), for the test's leak check. */
  readonly startedPids: number[] = [];

  constructor(private readonly o: KubeletStandInOptions) {
    this.addresses = o.addresses ?? loopbackAddresses();
  }

  private get api(): KubeApi {
    return this.o.api;
  }

  /** Registers the Node, keeps it Ready, and starts running the pods bound to it. */
  async start(): Promise<void> {
    const node = this.o.nodeName;
    await this.api.request("POST", "/api/v1/nodes", {
      apiVersion: "v1",
      kind: "Node",
      metadata: {
        name: node,
        labels: {
          ...this.o.node?.labels,
          "kubernetes.io/hostname": node,
          "kubernetes.io/os": "linux",
          "kubernetes.io/arch": "amd64",
        },
        annotations: { [STAND_IN_ANNOTATION]: "true" },
      },
      ...(this.o.node?.taints ? { spec: { taints: this.o.node.taints } } : {}),
    });
    await this.reportNodeReady();
    this.heartbeat = setInterval(() => {
      this.reportNodeReady().catch((err: unknown) => this.o.log(`node heartbeat: ${String(err)}`));
    }, 10_000);
    this.watch = this.api.watch(
      `/api/v1/pods?fieldSelector=spec.nodeName%3D${node}`,
      (e) => {
        if (e.type === "ERROR" || e.type === "BOOKMARK") return;
        this.onPod(e.type, e.object).catch((err: unknown) =>
          this.o.log(`pod ${e.object.metadata.namespace}/${e.object.metadata.name}: ${String(err)}`),
        );
      },
      (err) => this.o.log(`pod watch: ${err.message}`),
    );
  }

  private async reportNodeReady(): Promise<void> {
    const t = now();
    const resources = { cpu: "8", memory: "16Gi", pods: "50", ...this.o.node?.extendedResources };
    await this.api.mergePatch(`/api/v1/nodes/${this.o.nodeName}/status`, {
      status: {
        capacity: resources,
        allocatable: resources,
        addresses: [{ type: "Hostname", address: this.o.nodeName }],
        conditions: [
          {
            type: "Ready",
            status: "True",
            reason: "KubeletStandInReady",
            message: "the journey's kubelet stand-in is running",
            lastHeartbeatTime: t,
            lastTransitionTime: t,
          },
        ],
        nodeInfo: { kubeletVersion: "stand-in", operatingSystem: "linux", architecture: "amd64" },
      },
    });
  }

  private async onPod(type: string, pod: KubeObject): Promise<void> {
    const uid = pod.metadata.uid;
    const known = this.pods.get(uid);
    if (type === "DELETED" || pod.metadata.deletionTimestamp) {
      if (known && !known.stopping) await this.stopPod(known, type !== "DELETED");
      return;
    }
    if (known) return;
    const ip = this.nextAddress();
    const run: RunningPod = {
      uid,
      namespace: pod.metadata.namespace ?? "default",
      name: pod.metadata.name,
      ip,
      // Short: Unix socket paths (the pod's network, in this folder) are limited to 107 bytes.
      dir: path.join(this.o.workDir, uid.slice(0, 13)),
      servers: [],
      processes: [],
      stopping: false,
    };
    this.pods.set(uid, run);
    this.o.log(`${run.namespace}/${run.name}: pod ${uid} at ${ip}, folder ${run.dir}`);
    try {
      await this.runPod(run, pod.spec as unknown as PodSpec);
    } catch (err: unknown) {
      this.o.log(`${run.namespace}/${run.name}: ${String(err)}`);
      await this.patchStatus(run, {
        phase: "Failed",
        reason: "KubeletStandInError",
        message: String(err).slice(0, 1000),
      }).catch(() => undefined);
    }
  }

  private nextAddress(): string {
    for (;;) {
      const a = this.addresses.next();
      if (a.done) throw new Error("no loopback address left");
      if (![...this.pods.values()].some((p) => p.ip === a.value)) return a.value;
    }
  }

  private patchStatus(run: RunningPod, status: Record<string, unknown>): Promise<KubeObject> {
    return this.api.mergePatch(`/api/v1/namespaces/${run.namespace}/pods/${run.name}/status`, { status });
  }

  private async runPod(run: RunningPod, spec: PodSpec): Promise<void> {
    fs.mkdirSync(run.dir, { recursive: true });
    const startTime = now();
    const conditions = (init: boolean, ready: boolean): object[] =>
      [
        ["PodReadyToStartContainers", true],
        ["Initialized", init],
        ["ContainersReady", ready],
        ["Ready", ready],
        ["PodScheduled", true],
      ].map(([type, ok]) => ({ type, status: ok ? "True" : "False", lastTransitionTime: now() }));
    const initContainers = spec.initContainers ?? [];
    const status = (
      phase: string,
      init: ContainerState[],
      main: ContainerState[],
      ready: boolean[],
    ): Record<string, unknown> => ({
      phase,
      hostIP: "127.0.0.1",
      podIP: run.ip,
      podIPs: [{ ip: run.ip }],
      startTime,
      conditions: conditions(
        init.every((s) => "terminated" in s && s.terminated.exitCode === 0),
        ready.every(Boolean),
      ),
      initContainerStatuses: initContainers.map((c, i) => ({
        name: c.name,
        image: c.image,
        imageID: "",
        ready: "terminated" in init[i] && init[i].terminated.exitCode === 0,
        restartCount: 0,
        state: init[i],
      })),
      containerStatuses: spec.containers.map((c, i) => ({
        name: c.name,
        image: c.image,
        imageID: "",
        ready: ready[i],
        started: "running" in main[i],
        restartCount: 0,
        state: main[i],
        ...(lastStates[i] && { lastState: lastStates[i] }),
      })),
    });
    const initStates: ContainerState[] = initContainers.map(() => ({ waiting: { reason: "PodInitializing" } }));
    const mainStates: ContainerState[] = spec.containers.map(() => ({ waiting: { reason: "PodInitializing" } }));
    const ready = spec.containers.map(() => false);
    const lastStates: (ContainerState | undefined)[] = spec.containers.map(() => undefined);
    await this.patchStatus(run, status("Pending", initStates, mainStates, ready));

    const volumes = await localVolumes(this.api, run.namespace, spec, run.dir, this.o.nfsExport);
    await this.startSandbox(run, spec);

    for (const [i, c] of initContainers.entries()) {
      const startedAt = now();
      initStates[i] = { running: { startedAt } };
      await this.patchStatus(run, status("Pending", initStates, mainStates, ready));
      const code = await (await this.startContainer(run, spec, c, volumes, true)).exited;
      if (run.stopping) return;
      initStates[i] = {
        terminated: { exitCode: code, reason: code === 0 ? "Completed" : "Error", startedAt, finishedAt: now() },
      };
      if (code !== 0) {
        this.o.log(`${run.namespace}/${run.name}: init container ${c.name} exited ${code}`);
        await this.patchStatus(run, status("Pending", initStates, mainStates, ready));
        return;
      }
    }
    // One after the other, as the kubelet starts them: a container with a postStart hook is
    // reported running only once the hook has succeeded, and the next one starts after it.
    const hookFailed: (string | undefined)[] = spec.containers.map(() => undefined);
    for (const [i, c] of spec.containers.entries()) {
      if (run.stopping) return;
      const startedAt = now();
      const started = await this.startContainer(run, spec, c, volumes, false);
      void started.exited.then(async (code) => {
        if (run.stopping) return;
        this.o.log(`${run.namespace}/${run.name}: container ${c.name} exited ${code}`);
        const terminated: ContainerState = {
          terminated: { exitCode: code, reason: code === 0 ? "Completed" : "Error", startedAt, finishedAt: now() },
        };
        // After a failed postStart hook the kubelet reports the next start's wait, the killed
        // container as the last state (it would restart it; the stand-in does not).
        const failure = hookFailed[i];
        mainStates[i] =
          failure !== undefined ? { waiting: { reason: "PostStartHookError", message: failure } } : terminated;
        lastStates[i] = failure !== undefined ? terminated : undefined;
        ready[i] = false;
        await this.patchStatus(run, status("Running", initStates, mainStates, ready)).catch(() => undefined);
      });
      const hook = c.lifecycle?.postStart?.exec?.command;
      if (hook && started.process) {
        const failure = await this.postStart(run, c, started.process, started.pid, hook);
        if (failure !== undefined) {
          // Killed as the kubelet kills it: SIGTERM, SIGKILL after the pod's grace period (at least 2 s).
          hookFailed[i] = failure;
          await this.killContainer(started, Math.max(spec.terminationGracePeriodSeconds ?? 30, 2));
          continue;
        }
      }
      mainStates[i] = { running: { startedAt } };
      await this.patchStatus(run, status("Running", initStates, mainStates, ready));
    }
    await Promise.all(
      spec.containers.map(async (c, i) => {
        if (hookFailed[i] === undefined) ready[i] = await this.probe(run, c);
      }),
    );
    if (!run.stopping) await this.patchStatus(run, status("Running", initStates, mainStates, ready));
  }

  /** The readiness probe (httpGet or tcpSocket) through the pod's address, until it passes. */
  private async probe(run: RunningPod, c: Container): Promise<boolean> {
    const p = c.readinessProbe;
    if (this.o.image(c) === "not-run" || !p) return true;
    const portOf = (port: number | string): number =>
      typeof port === "number" ? port : ((c.ports ?? []).find((x) => x.name === port)?.containerPort ?? NaN);
    const deadline = Date.now() + 120_000;
    while (!run.stopping && Date.now() < deadline) {
      const ok = await new Promise<boolean>((resolve) => {
        if (p.httpGet) {
          const req = http.get(
            { host: run.ip, port: portOf(p.httpGet.port), path: p.httpGet.path, timeout: 1000 },
            (res) => {
              res.resume();
              resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 400);
            },
          );
          req.on("error", () => resolve(false));
          req.on("timeout", () => req.destroy());
        } else if (p.tcpSocket) {
          const s = net.connect(portOf(p.tcpSocket.port), run.ip, () => {
            s.destroy();
            resolve(true);
          });
          s.on("error", () => resolve(false));
        } else resolve(true);
      });
      if (ok) return true;
      await new Promise((r) => setTimeout(r, 250));
    }
    return false;
  }

  /** The pod's network and PID namespaces, and the loopback address that leads into them. */
  private async startSandbox(run: RunningPod, spec: PodSpec): Promise<void> {
    const ports = [
      ...new Set(
        spec.containers
          .filter((c) => this.o.image(c) !== "not-run")
          .flatMap((c) => (c.ports ?? []).map((p) => p.containerPort)),
      ),
    ];
    const egress = this.o.egressPorts();
    const sandboxSpec: SandboxSpec = { dir: run.dir, podIP: run.ip, ingressPorts: ports, egressPorts: egress };
    for (const port of egress) {
      const sock = path.join(run.dir, `out-${port}.sock`);
      fs.rmSync(sock, { force: true });
      const server = net.createServer((c) => pipeSockets(c, net.connect(port, "127.0.0.1")));
      await new Promise<void>((resolve) => server.listen(sock, resolve));
      run.servers.push(server);
    }
    const tsx = path.join(repoRoot, "node_modules", "tsx", "dist", "loader.mjs");
    const sandbox = spawn(
      "setpriv",
      [
        "--pdeathsig=KILL",
        "--",
        "unshare",
        "--net",
        "--pid",
        "--fork",
        "--kill-child",
        "--",
        process.execPath,
        "--import",
        tsx,
        path.join(__dirname, "podSandbox.ts"),
        JSON.stringify(sandboxSpec),
      ],
      { stdio: ["ignore", "inherit", "inherit"] },
    );
    run.sandbox = sandbox;
    if (sandbox.pid) this.startedPids.push(sandbox.pid);
    const ready = path.join(run.dir, "sandbox-ready");
    const deadline = Date.now() + 30_000;
    while (!fs.existsSync(ready)) {
      if (Date.now() > deadline || sandbox.exitCode !== null) throw new Error("the pod sandbox did not start");
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const port of ports) {
      const server = net.createServer((c) => pipeSockets(c, net.connect(path.join(run.dir, `in-${port}.sock`))));
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, run.ip, resolve);
      });
      run.servers.push(server);
    }
  }

  /** PID of the sandbox's first process inside the pod's namespaces (unshare forks it). */
  private sandboxInnerPid(run: RunningPod): number {
    const pid = innerPid(run.sandbox?.pid);
    if (pid === undefined) throw new Error(`the sandbox of ${run.namespace}/${run.name} is gone`);
    return pid;
  }

  /**
   * Starts one container: resolves once it runs (set up, its process started), with its process
   * as the spec makes it and a promise of its exit code.
   */
  private async startContainer(
    run: RunningPod,
    spec: PodSpec,
    c: Container,
    volumes: Map<string, LocalVolume>,
    init: boolean,
  ): Promise<StartedContainer> {
    const image = this.o.image(c);
    if (image === "not-run") {
      this.o.log(`${run.namespace}/${run.name}: container ${c.name} (${c.image}) is not run here, reported running`);
      return { exited: init ? Promise.resolve(0) : new Promise<number>(() => undefined) };
    }
    const env = await resolveEnv(this.api, run.namespace, c.env ?? [], {
      "status.podIP": run.ip,
      "metadata.name": run.name,
      "metadata.namespace": run.namespace,
    });
    const { process: proc, argv } = containerCommandLine({
      spec,
      container: c,
      image,
      volumes,
      env: { HOSTNAME: run.name, ...env },
      rootSquash: this.o.rootSquash,
      scratchDir: path.join(run.dir, "scratch", c.name),
      sandboxPid: this.sandboxInnerPid(run),
    });
    const logFile = path.join(run.dir, `${init ? "init-" : ""}${c.name}.log`);
    const log = fs.openSync(logFile, "a");
    // The container's own: a program that reopens /dev/stderr (nginx) may, as in a runtime.
    fs.fchownSync(log, proc.uid, proc.gid);
    const child = spawn(argv[0], argv.slice(1), { stdio: ["ignore", log, log], detached: true });
    fs.closeSync(log);
    run.processes.push(child);
    if (child.pid) this.startedPids.push(child.pid);
    const caps = proc.capabilities === "all" ? "all" : proc.capabilities.join(",");
    this.o.log(
      `${run.namespace}/${run.name}: ${init ? "init " : ""}container ${c.name} as ${proc.uid}:${proc.gid} ` +
        `groups [${proc.groups.join(",")}] caps [${caps}]${proc.noNewPrivs ? " no_new_privs" : ""}: ` +
        `${c.command ? "" : "(image ENTRYPOINT/CMD) "}${commandOf(c, image).join(" ")} (log ${logFile})`,
    );
    const exited = new Promise<number>((resolve) =>
      child.on("exit", (code, signal) => resolve(code ?? (signal ? 128 : 1))),
    );
    // Running: set up (its mounts, root and working folder) and its process started.
    const marker = startedMarker(proc);
    let gone = false;
    void exited.then(() => (gone = true));
    while (!fs.existsSync(marker) && !gone) await new Promise((r) => setTimeout(r, 20));
    return { exited, process: proc, pid: gone ? undefined : innerPid(child.pid), group: child.pid };
  }

  /**
   * Runs a container's postStart exec hook as the kubelet does (1.34, kuberuntime_container.go
   * startContainer, lifecycle/handlers.go): right after the container started, in the container
   * (its namespaces, root, working folder, user, capabilities and environment: execArgv), with no
   * timeout. On a failure, the Warning event FailedPostStartHook on the pod ("PostStartHook
   * failed": the output stays out of events, as the kubelet keeps it); resolves with the kubelet's
   * message (with the output) for the container's status, or undefined when the hook succeeded. The
   * caller kills the container, as the kubelet does next.
   */
  private async postStart(
    run: RunningPod,
    c: Container,
    proc: ContainerProcess,
    containerPid: number | undefined,
    command: string[],
  ): Promise<string | undefined> {
    const pod = `${run.name}_${run.namespace}(${run.uid})`;
    let error: string;
    let output = "";
    if (containerPid === undefined) {
      error = "container is not running";
    } else {
      const argv = execArgv(proc, containerPid, command);
      const hook = spawn(argv[0], argv.slice(1), { stdio: ["ignore", "pipe", "pipe"], detached: true });
      run.processes.push(hook);
      if (hook.pid) this.startedPids.push(hook.pid);
      // ExecSync's output: stdout, then stderr (the kubelet appends one to the other).
      let stdout = "";
      let stderr = "";
      hook.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      hook.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number>((resolve) =>
        hook.on("close", (exitCode, signal) => resolve(exitCode ?? (signal ? 128 : 1))),
      );
      this.o.log(`${run.namespace}/${run.name}: container ${c.name} postStart ${command.join(" ")} exited ${code}`);
      if (code === 0) return undefined;
      output = stdout + stderr;
      error = `command '${command.join(" ")}' exited with ${code}: ${stderr}`;
    }
    const message =
      `Exec lifecycle hook ([${command.join(" ")}]) for Container ${JSON.stringify(c.name)} in Pod ` +
      `${JSON.stringify(pod)} failed - error: ${error}, message: ${JSON.stringify(output)}`;
    await this.event(run, c, "Warning", "FailedPostStartHook", "PostStartHook failed");
    return message;
  }

  /**
   * Stops one container as a runtime's StopContainer does: SIGTERM to its process, SIGKILL to all of
   * it once `graceSeconds` have passed; resolves when it has exited.
   */
  private async killContainer(c: StartedContainer, graceSeconds: number): Promise<void> {
    const signal = (pid: number | undefined, sig: NodeJS.Signals) => {
      try {
        if (pid !== undefined) process.kill(pid, sig);
      } catch {
        // gone
      }
    };
    signal(c.pid, "SIGTERM");
    const timer = setTimeout(
      () => signal(c.group !== undefined ? -c.group : undefined, "SIGKILL"),
      graceSeconds * 1000,
    );
    await c.exited;
    clearTimeout(timer);
  }

  /** An Event about a container of the pod, as the kubelet records one. */
  private async event(run: RunningPod, c: Container, type: string, reason: string, message: string): Promise<void> {
    const t = new Date().toISOString();
    await this.api
      .request("POST", `/api/v1/namespaces/${run.namespace}/events`, {
        apiVersion: "v1",
        kind: "Event",
        metadata: { generateName: `${run.name}.`, namespace: run.namespace },
        involvedObject: {
          apiVersion: "v1",
          kind: "Pod",
          name: run.name,
          namespace: run.namespace,
          uid: run.uid,
          fieldPath: `spec.containers{${c.name}}`,
        },
        type,
        reason,
        message,
        source: { component: "kubelet", host: this.o.nodeName },
        firstTimestamp: t,
        lastTimestamp: t,
        count: 1,
      })
      .catch((err: unknown) => this.o.log(`${run.namespace}/${run.name}: event ${reason}: ${String(err)}`));
  }

  /**
   * Ends the pod's processes (SIGTERM, then SIGKILL of the whole pod after a grace period),
   * then, if the pod is still on the API server, removes it as the kubelet does (grace 0).
   */
  private async stopPod(run: RunningPod, deleteFromApi: boolean): Promise<void> {
    run.stopping = true;
    for (const p of run.processes) {
      if (p.exitCode === null && p.pid) {
        try {
          process.kill(-p.pid, "SIGTERM");
        } catch {
          // already gone
        }
      }
    }
    const deadline = Date.now() + 5_000;
    while (run.processes.some((p) => p.exitCode === null && p.signalCode === null) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    // The sandbox is PID 1 of the pod: when it ends, the kernel ends every process of the pod.
    if (run.sandbox && run.sandbox.exitCode === null) run.sandbox.kill("SIGKILL");
    for (const s of run.servers) s.close();
    await new Promise((r) => setTimeout(r, 100));
    this.pods.delete(run.uid);
    this.o.log(`${run.namespace}/${run.name}: stopped`);
    if (deleteFromApi) {
      await this.api
        .request("DELETE", `/api/v1/namespaces/${run.namespace}/pods/${run.name}`, {
          gracePeriodSeconds: 0,
          preconditions: { uid: run.uid },
        })
        .catch((err: unknown) => {
          if ((err as { status?: number }).status !== 404 && (err as { status?: number }).status !== 409) throw err;
        });
    }
  }

  /** Stops every pod's processes and the Node's heartbeat (the Node object is left to the cluster). */
  async stop(): Promise<void> {
    this.watch?.stop();
    if (this.heartbeat) clearInterval(this.heartbeat);
    await Promise.all([...this.pods.values()].map((p) => this.stopPod(p, false)));
  }
}
