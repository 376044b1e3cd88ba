import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { type BindMount, innerPid } from "./containerProcess";
import type { KubeApi } from "./kubeApi";
import {
  type Container,
  type ImageStandIn,
  type PodSpec,
  commandOf,
  containerCommandLine,
  localVolumes,
  resolveEnv,
} from "./podSpec";

export interface DeploymentProcessOptions {
  api: KubeApi;
  namespace: string;
  /** The Deployment, and the container of its pod template to run. */
  deployment: string;
  container: string;
  image: ImageStandIn;
  /** Folder for its volumes, scratch space and log. */
  workDir: string;
  /**
   * The only changes to the container's command line: addresses that differ on loopback. Gets
   * the command line as the runtime would run it (ENTRYPOINT/CMD replaced by command/args),
   * returns it changed; every change is listed in e2e/README.md.
   */
  overrideCommand: (argv: string[]) => string[];
  /** Environment the kubelet would add (the API server's address for a pod with a token). */
  extraEnv?: Record<string, string>;
  /** Files the kubelet would project (a service-account token). */
  extraMounts?: BindMount[];
}

/**
 * One container of a live Deployment's pod template, run as a process on this machine's
 * network (loopback only: its listen addresses are among the overrides): the Deployment's
 * command, environment (Secret values resolved on the API server), volumes, user, groups and
 * capabilities, through the same code as the kubelet stand-in's containers. The test starts,
 * stops and restarts it; it ends with the test process.
 */
export class DeploymentProcess {
  private child?: ChildProcess;
  private spawnedPids: number[] = [];
  readonly logFile: string;

  constructor(private readonly o: DeploymentProcessOptions) {
    this.logFile = path.join(o.workDir, `${o.deployment}.log`);
  }

  /** Every process started so far (the outer PID of each start), for the leak check. */
  get startedPids(): number[] {
    return [...this.spawnedPids];
  }

  /** The program's own PID (inside its PID namespace it is 1), while it runs: its /proc is its CPU time and memory. */
  get pid(): number | undefined {
    return this.running ? innerPid(this.child?.pid) : undefined;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(): Promise<void> {
    if (this.running) throw new Error(`${this.o.deployment} is already running`);
    const d = await this.o.api.request(
      "GET",
      `/apis/apps/v1/namespaces/${this.o.namespace}/deployments/${this.o.deployment}`,
    );
    const template = (d.spec?.template as { spec: PodSpec } | undefined)?.spec;
    const c: Container | undefined = template?.containers.find((x) => x.name === this.o.container);
    if (!template || !c) throw new Error(`Deployment ${this.o.deployment} has no container ${this.o.container}`);
    const volumes = await localVolumes(this.o.api, this.o.namespace, template, this.o.workDir, () => {
      throw new Error(`${this.o.deployment} mounts an NFS volume: not expected`);
    });
    const env = await resolveEnv(this.o.api, this.o.namespace, c.env ?? [], {
      "metadata.namespace": this.o.namespace,
    });
    // The whole command line as the runtime makes it (ENTRYPOINT/CMD rules), then the address overrides.
    const command = this.o.overrideCommand(commandOf(c, this.o.image));
    const { process: proc, argv } = containerCommandLine({
      spec: template,
      container: { ...c, command, args: [] },
      image: this.o.image,
      volumes,
      env: { ...env, ...this.o.extraEnv },
      rootSquash: false,
      scratchDir: path.join(this.o.workDir, "scratch", `${this.o.deployment}-${Date.now()}`),
      extraMounts: this.o.extraMounts,
    });
    const log = fs.openSync(this.logFile, "a");
    // The process's own: a program that reopens /dev/stderr may, as in a runtime.
    fs.fchownSync(log, proc.uid, proc.gid);
    fs.writeSync(log, `\n=== ${new Date().toISOString()} start: ${command.join(" ")}\n`);
    this.child = spawn(argv[0], argv.slice(1), { stdio: ["ignore", log, log], detached: true });
    fs.closeSync(log);
    if (this.child.pid) this.spawnedPids.push(this.child.pid);
  }

  /**
   * Stops it: SIGTERM to the program itself (PID 1 of its PID namespace, so its children go with
   * it), SIGKILL after `graceMs`; `signal: "SIGKILL"` kills at once (a crash).
   */
  async stop(signal: "SIGTERM" | "SIGKILL" = "SIGTERM", graceMs = 10_000): Promise<void> {
    const child = this.child;
    if (!child?.pid || !this.running) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    const inner = innerPid(child.pid);
    try {
      process.kill(signal === "SIGKILL" ? -child.pid : (inner ?? child.pid), signal);
    } catch {
      // already gone
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-(child.pid as number), "SIGKILL");
      } catch {
        // already gone
      }
    }, graceMs);
    await exited;
    clearTimeout(timer);
  }
}
