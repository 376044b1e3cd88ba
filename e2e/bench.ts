/**
 * Benchmark (npm run bench): medians over several runs of
 *   - evaluating the whole program offline (`npm run render`, a cold process each time): wall
 *     time and peak RSS (GNU time's %M);
 *   - on the local control plane (kwok, as in the e2e test): wall time of `pulumi preview` on an
 *     empty stack, `pulumi up` from empty, a no-change `up`, and `destroy`;
 *     each Pulumi operation measured three ways of loading the TypeScript program:
 *       tsx                esbuild transpile-only (what `PULUMI_NODEJS_TRANSPILE_ONLY=true` buys)
 *       ts-node-typecheck  ts-node with type-checking, as the Node.js language host does by default
 *       js                 the precompiled program (`npm run build`, dist/index.js)
 *   - the user's journey (as in e2e/journey.test.ts: the real hub, proxy, slapd and users' servers,
 *     the kubelet stand-in for the container runtime): from the login request to the user's
 *     server answering through the proxy, a second start of it, and the hub's start-up from
 *     process start to /hub/health answering. No image pulls: the spawn's own cost.
 *   - the burst (e2e/journey/burst.ts): `--users N` users (30 unless given) log in at the same
 *     moment, each runs a cell in a kernel and stops; per user and p50/p95/max, the hub's CPU and
 *     memory, its API-server requests per spawn.
 *
 *   npm run bench [-- --runs N] [-- --only render|pulumi|journey|burst] [-- --users N]
 *                 [-- --modes tsx,ts-node-typecheck,js]   (the Pulumi figures' ways of loading the program)
 */
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { KwokCluster } from "./lib/cluster";
import { PulumiEnv } from "./lib/pulumi";
import { applyLocalStorage, localStackVolumes } from "./lib/localStorage";
import { type LocalStackNames, localStackConfig } from "./lib/stackConfig";
import type { LoadMode } from "./lib/pulumi-op";
import { ensureToolchain, repoRoot, writeNodePlugins } from "./lib/toolchain";
import { chainSeconds, formatNoChangeTrace, formatTrace, longestChain } from "./lib/upTrace";
import { journeyImages } from "./journey/journeyImages";
import { JourneyStack } from "./journey/journeyStack";
import { loginAndSpawn, startAgain, stopServer } from "./journey/journeySteps";
import { burstNames, failures, formatBurst, runBurst } from "./journey/burst";

const PARTS = ["render", "pulumi", "journey", "burst"] as const;
type Part = (typeof PARTS)[number];

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

const RUNS = Number(argValue("--runs") ?? "3");
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error(`--runs must be a whole number of at least 1`);
const BURST_USERS = Number(argValue("--users") ?? "30");
if (!Number.isInteger(BURST_USERS) || BURST_USERS < 1) throw new Error(`--users must be a whole number of at least 1`);
const MODES = (argValue("--modes") ?? "tsx,ts-node-typecheck,js").split(",") as LoadMode[];
const knownModes: readonly string[] = ["tsx", "ts-node-typecheck", "js"];
if (MODES.some((m) => !knownModes.includes(m)))
  throw new Error(`--modes takes ${knownModes.join(", ")}, not ${MODES.join(",")}`);
const only = argValue("--only");
if (only !== undefined && !(PARTS as readonly string[]).includes(only)) {
  throw new Error(`--only must be one of ${PARTS.join(", ")}, not ${only}`);
}
const parts: readonly Part[] = only ? [only as Part] : PARTS;

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

const benchNames: LocalStackNames = {
  hubNamespace: "bench-hub",
  nfsNamespace: "bench-nfs",
  storageClass: "bench-local",
  diskName: "notebook-disk",
  // Destroy everything each round, so the next `up` starts from empty.
  retainDisk: false,
};

/** Fresh pre-bound volumes for the two ReadWriteOnce claims (a released volume never rebinds). */
function resetVolumes(c: KwokCluster, tmp: string): void {
  const { data, hubDb } = localStackVolumes(benchNames, "bench", tmp);
  c.kubectl(["delete", "pv", data.name, hubDb.name, "--ignore-not-found", "--wait=true"]);
  applyLocalStorage(c, benchNames, [data, hubDb]);
}

/** The engine floor's programs (e2e/engineFloor/), each on a stack of its own next to ours. */
const FLOOR_PROGRAMS: [string, string][] = [
  ["empty program", path.join(repoRoot, "e2e", "engineFloor", "empty.ts")],
  ["one ConfigMap", path.join(repoRoot, "e2e", "engineFloor", "oneResource.ts")],
];

type PulumiStep = "preview" | "up" | "no-change up" | "destroy";

/** preview, up, no-change up and destroy of one stack, RUNS times; each op's wall times. */
async function pulumiRounds(
  pulumi: PulumiEnv,
  label: string,
  options: { loadMode?: LoadMode; entry?: string },
  beforeRound: () => void,
  afterStep?: (step: PulumiStep, result: Awaited<ReturnType<PulumiEnv["run"]>>, round: number) => Promise<void>,
): Promise<Record<PulumiStep, number[]>> {
  const t: Record<PulumiStep, number[]> = { preview: [], up: [], "no-change up": [], destroy: [] };
  for (let i = 0; i < RUNS; i++) {
    beforeRound();
    const steps: [PulumiStep, () => ReturnType<PulumiEnv["run"]>][] = [
      ["preview", () => pulumi.run("preview", options)],
      ["up", () => pulumi.run("up", options)],
      ["no-change up", () => pulumi.run("up", { ...options, expectNoChanges: true })],
      ["destroy", () => pulumi.run("destroy", options)],
    ];
    for (const [step, run] of steps) {
      const r = await run();
      if (!r.ok) throw new Error(`${label} ${step} failed: ${r.error}\n${r.stdout}`);
      t[step].push(r.processSeconds);
      console.error(`bench: ${label} run ${i + 1} ${step} ${r.processSeconds.toFixed(1)} s`);
      if (afterStep) await afterStep(step, r, i);
    }
  }
  return t;
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
  const line = (label: string, mode: string, xs: number[]): string =>
    `pulumi ${label.padEnd(13)} ${mode.padEnd(18)} ${median(xs).toFixed(1)} s   (median of ${xs.length})`;
  try {
    cluster.start();
    const env = (stackName: string): PulumiEnv =>
      new PulumiEnv({ bin, pluginDir, tmp, kubeconfig: cluster.kubeconfig, stackName });
    // The floor first: the same CLI, engine, backend and Kubernetes plugin, with (next to) nothing to do.
    let floorNoChange = 0;
    for (const [label, entry] of FLOOR_PROGRAMS) {
      const floor = env(`floor-${path.basename(entry, ".ts").toLowerCase()}`);
      await floor.createStack({});
      const t = await pulumiRounds(floor, `floor (${label})`, { entry }, () => undefined);
      for (const [step, xs] of Object.entries(t)) lines.push(line(step, `floor: ${label}`, xs));
      if (entry === FLOOR_PROGRAMS[1][1]) floorNoChange = median(t["no-change up"]);
      await floor.removeStack();
    }
    const pulumi = env("bench");
    await pulumi.createStack(localStackConfig(benchNames));
    const modes = MODES;
    let trace: string[] = [];
    let noChangeTrace: string[] = [];
    let ratios: string[] = [];
    for (const mode of modes) {
      const t = await pulumiRounds(
        pulumi,
        mode,
        { loadMode: mode },
        () => resetVolumes(cluster, tmp),
        async (step, up, round) => {
          // One trace of each: the first `up` and no-change `up` of the mode users run (transpile-only).
          if (mode !== "tsx" || round !== 0) return;
          if (step === "no-change up") noChangeTrace = formatNoChangeTrace(up.spans, up);
          if (step !== "up") return;
          const chain = longestChain(up.spans, await pulumi.exportStack());
          trace = formatTrace(up.spans, chain, up);
          // The whole `up` as a user waits for it (the process, Node.js start-up included) over the chain.
          ratios = [
            `  up / its longest chain: ${up.processSeconds.toFixed(1)} s / ${chainSeconds(chain).toFixed(1)} s = ` +
              `${(up.processSeconds / chainSeconds(chain)).toFixed(2)} (aim: 1.5 or less)`,
          ];
        },
      );
      for (const [step, xs] of Object.entries(t)) lines.push(line(step, mode, xs));
      if (mode === "tsx") {
        const noChange = median(t["no-change up"]);
        ratios.push(
          `  no-change up / full up: ${(noChange / median(t.up)).toFixed(2)} (aim: 0.15 or less; medians)`,
          // What of the no-change up is ours: above what the engine takes for one resource that does not change.
          `  the engine floor's no-change up (one ConfigMap) / our full up: ${(floorNoChange / median(t.up)).toFixed(2)}; ` +
            `ours above that floor: ${(noChange - floorNoChange).toFixed(1)} s = ${((noChange - floorNoChange) / median(t.up)).toFixed(2)} of the full up`,
        );
      }
    }
    lines.push(...trace, ...noChangeTrace, "ratios (tsx):", ...ratios);
    await pulumi.removeStack();
  } finally {
    stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return lines;
}

/**
 * The journey's figures. One stack, deployed once; each round a user who never logged in before
 * (a fresh folder for the init container to make) logs in and waits for the server, stops it,
 * starts it again, stops it; between rounds the hub restarts (SIGTERM, as a rollout stops it).
 */
async function benchJourney(): Promise<string[]> {
  const bin = ensureToolchain();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "jhnfs-bench-journey-"));
  const users = Array.from({ length: RUNS }, (_, i) => `bench-${i + 1}`);
  const stack = new JourneyStack(bin, tmp, journeyImages(path.join(tmp, "images")), true, users);
  const stop = async (): Promise<void> => {
    const errors = await stack.stop();
    if (errors.length > 0) throw errors[0];
  };
  process.once("SIGINT", () => {
    void stop().finally(() => process.exit(130));
  });
  const t: Record<"login" | "again" | "hub", number[]> = { login: [], again: [], hub: [] };
  let freshHub: number;
  try {
    await stack.deploy();
    await stack.startStandIn();
    await stack.startLdap();
    await stack.startProxy();
    freshHub = await stack.startHub();
    const passwords = stack.outputs.ldapTestPasswords as Record<string, string>;
    for (const [i, user] of users.entries()) {
      const first = await loginAndSpawn(stack, user, stack.need(passwords[user], `${user}'s LDAP password`));
      await stopServer(stack, first.client, user);
      const again = await startAgain(stack, first.client, user);
      await stopServer(stack, first.client, user);
      const hub = await stack.restartHub();
      t.login.push(first.seconds);
      t.again.push(again);
      t.hub.push(hub);
      console.error(
        `bench: journey run ${i + 1} login to server ${first.seconds.toFixed(1)} s, second start ` +
          `${again.toFixed(1)} s, hub restart to /hub/health ${hub.toFixed(1)} s`,
      );
    }
  } finally {
    await stop();
  }
  fs.rmSync(tmp, { recursive: true, force: true });
  const line = (label: string, xs: number[], note = ""): string =>
    `journey ${label.padEnd(54)} ${median(xs).toFixed(1)} s   (median of ${xs.length}${note})`;
  return [
    line("login to the user's server answering through the proxy", t.login),
    line("second start (stopped, started again)", t.again),
    line("hub start-up, process start to /hub/health", t.hub, `; first start, new database: ${freshHub.toFixed(1)} s`),
  ];
}

/** The burst: one stack, BURST_USERS users of its test directory logging in at once. */
async function benchBurst(): Promise<string[]> {
  const bin = ensureToolchain();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "jhnfs-bench-burst-"));
  const names = burstNames(BURST_USERS);
  const stack = new JourneyStack(
    bin,
    tmp,
    journeyImages(path.join(tmp, "images")),
    true,
    names.map((n) => n.user),
  );
  const stop = async (): Promise<void> => {
    const errors = await stack.stop();
    if (errors.length > 0) throw errors[0];
  };
  process.once("SIGINT", () => {
    void stop().finally(() => process.exit(130));
  });
  let lines: string[];
  try {
    await stack.deploy();
    await stack.startStandIn();
    await stack.startLdap();
    await stack.startProxy();
    await stack.startHub();
    const passwords = stack.outputs.ldapTestPasswords as Record<string, string>;
    const report = await runBurst(
      stack,
      names.map((n) => ({ ...n, password: stack.need(passwords[n.user], `${n.user}'s LDAP password`) })),
    );
    lines = formatBurst(report);
    const failed = failures(report);
    if (failed.length > 0) lines.push(`--- the stand-in's and the harness's last notes:`, stack.notes(40));
  } finally {
    await stop();
  }
  fs.rmSync(tmp, { recursive: true, force: true });
  return lines;
}

async function main(): Promise<void> {
  const cpu = os.cpus()[0]?.model ?? "unknown CPU";
  const header = `machine: ${os.cpus().length} cores (${cpu}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node.js ${process.version}, runs per figure: ${RUNS}`;
  const lines: string[] = [];
  // The precompiled program (dist/), which the render and the Pulumi figures time.
  if (parts.includes("render") || (parts.includes("pulumi") && MODES.includes("js"))) {
    execFileSync("npm", ["run", "build"], { cwd: repoRoot, stdio: "inherit" });
  }
  const benches: Record<Part, () => Promise<string[]> | string[]> = {
    render: benchRender,
    pulumi: benchPulumi,
    journey: benchJourney,
    burst: benchBurst,
  };
  for (const part of parts) {
    lines.push(...(await benches[part]()));
    // Each part's figures as soon as they are in: a later part takes minutes.
    console.log([header, ...lines].join("\n"));
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
