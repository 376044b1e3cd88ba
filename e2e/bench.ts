/**
 * Benchmark (npm run bench): medians over several runs of
 *   - evaluating the whole program offline (`npm run render`, a cold process each time): wall
 *     time and peak RSS (GNU time's %M);
 *   - on the local control plane (kwok, as in the e2e test): wall time of `pulumi preview` on an
 *     empty stack, `pulumi up` from empty, a no-change `up`, and `destroy`;
 * each Pulumi operation measured three ways of loading the TypeScript program:
 *   tsx                esbuild transpile-only (what `PULUMI_NODEJS_TRANSPILE_ONLY=true` buys)
 *   ts-node-typecheck  ts-node with type-checking, as the Node.js language host does by default
 *   js                 the precompiled program (`npm run build`, dist/index.js)
 *
 *   npm run bench [-- --runs N]
 */
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { KwokCluster } from "./lib/cluster";
import { PulumiEnv } from "./lib/pulumi";
import { localStackConfig } from "./lib/stackConfig";
import type { LoadMode } from "./lib/pulumi-op";
import { ensureToolchain, repoRoot, writeNodePlugins } from "./lib/toolchain";

const runsArg = process.argv.indexOf("--runs");
const RUNS = runsArg > 0 ? parseInt(process.argv[runsArg + 1], 10) : 3;
const CLASS = "bench-local";

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Runs a command under GNU time: wall seconds and peak RSS in MiB. */
function timed(cmd: string, args: string[]): { seconds: number; maxRssMiB: number } {
  const out = path.join(os.tmpdir(), `bench-time-${process.pid}`);
  const r = spawnSync("/usr/bin/time", ["-o", out, "-f", "%e %M", cmd, ...args], {
    cwd: repoRoot,
    stdio: ["ignore", "ignore", "pipe"],
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.stderr}`);
  const [e, m] = fs.readFileSync(out, "utf8").trim().split(/\s+/).map(Number);
  fs.rmSync(out);
  return { seconds: e, maxRssMiB: m / 1024 };
}

function benchRender(): string[] {
  const lines: string[] = [];
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "bench-render-"));
  const variants: [string, string[]][] = [
    ["render, tsx (npm run render)", ["--import", "tsx", "render/cli.ts"]],
    ["render, precompiled (dist/render/cli.js)", ["dist/render/cli.js"]],
  ];
  for (const [label, args] of variants) {
    const samples = Array.from({ length: RUNS + 2 }, () =>
      timed(process.execPath, [...args, "--stack", "dev", "--out", out]),
    );
    lines.push(
      `${label.padEnd(44)} ${median(samples.map((s) => s.seconds)).toFixed(2)} s   peak RSS ${median(
        samples.map((s) => s.maxRssMiB),
      ).toFixed(0)} MiB   (median of ${samples.length})`,
    );
  }
  fs.rmSync(out, { recursive: true, force: true });
  return lines;
}

const benchConfig = localStackConfig({
  hubNamespace: "bench-hub",
  nfsNamespace: "bench-nfs",
  storageClass: CLASS,
  diskName: "notebook-disk",
  // Destroy everything each round, so the next `up` starts from empty.
  retainDisk: false,
});

/** Fresh pre-bound volumes for the two ReadWriteOnce claims (a released volume never rebinds). */
function resetVolumes(c: KwokCluster, tmp: string): void {
  c.kubectl(["delete", "pv", "bench-data", "bench-hub-db", "--ignore-not-found", "--wait=true"]);
  for (const [name, size, ns, claim] of [
    ["bench-data", "10Gi", "bench-nfs", "notebook-disk"],
    ["bench-hub-db", "1Gi", "bench-hub", "hub-db"],
  ]) {
    c.apply({
      apiVersion: "v1",
      kind: "PersistentVolume",
      metadata: { name },
      spec: {
        capacity: { storage: size },
        accessModes: ["ReadWriteOnce"],
        persistentVolumeReclaimPolicy: "Retain",
        storageClassName: CLASS,
        hostPath: { path: path.join(tmp, name), type: "DirectoryOrCreate" },
        claimRef: { namespace: ns, name: claim },
      },
    });
  }
}

async function benchPulumi(): Promise<string[]> {
  const lines: string[] = [];
  const bin = ensureToolchain();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "jhnfs-bench-"));
  const pluginDir = writeNodePlugins(path.join(tmp, "plugins"));
  const cluster = new KwokCluster(bin, tmp, "jhnfs-bench");
  const stop = (): void => cluster.stop();
  process.once("SIGINT", () => {
    stop();
    process.exit(130);
  });
  try {
    cluster.start();
    cluster.apply({
      apiVersion: "storage.k8s.io/v1",
      kind: "StorageClass",
      metadata: { name: CLASS },
      provisioner: "kubernetes.io/no-provisioner",
      volumeBindingMode: "Immediate",
    });
    const pulumi = new PulumiEnv({ bin, pluginDir, tmp, kubeconfig: cluster.kubeconfig, stackName: "bench" });
    await pulumi.createStack(benchConfig);
    const modes: LoadMode[] = ["tsx", "ts-node-typecheck", "js"];
    for (const mode of modes) {
      const t: Record<string, number[]> = { preview: [], up: [], "no-change up": [], destroy: [] };
      for (let i = 0; i < RUNS; i++) {
        resetVolumes(cluster, tmp);
        const steps: [string, () => ReturnType<PulumiEnv["run"]>][] = [
          ["preview", () => pulumi.run("preview", { loadMode: mode })],
          ["up", () => pulumi.run("up", { loadMode: mode })],
          ["no-change up", () => pulumi.run("up", { loadMode: mode, expectNoChanges: true })],
          ["destroy", () => pulumi.run("destroy", { loadMode: mode })],
        ];
        for (const [label, run] of steps) {
          const r = await run();
          if (!r.ok) throw new Error(`${mode} ${label} failed: ${r.error}\n${r.stdout}`);
          t[label].push(r.processSeconds);
          console.error(`bench: ${mode} run ${i + 1} ${label} ${r.processSeconds.toFixed(1)} s`);
        }
      }
      for (const [label, xs] of Object.entries(t)) {
        lines.push(
          `pulumi ${label.padEnd(13)} ${mode.padEnd(18)} ${median(xs).toFixed(1)} s   (median of ${xs.length})`,
        );
      }
    }
    await pulumi.removeStack();
  } finally {
    stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return lines;
}

async function main(): Promise<void> {
  execFileSync("npm", ["run", "build"], { cwd: repoRoot, stdio: "inherit" });
  const cpu = os.cpus()[0]?.model ?? "unknown CPU";
  const header = `machine: ${os.cpus().length} cores (${cpu}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node.js ${process.version}, runs per figure: ${RUNS}`;
  const render = benchRender();
  console.log([header, ...render].join("\n"));
  const pulumi = await benchPulumi();
  console.log(["", header, ...render, ...pulumi].join("\n"));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
