/**
 * Runs one Pulumi operation (preview, up, destroy) on the program, in its own process, through
 * the Automation API with the program as an inline program, and writes an OpResult as JSON to
 * the file named by the second argument. Usage (as e2e/lib/pulumi.ts calls it):
 *
 *   node --import tsx e2e/lib/pulumi-op.ts <request.json> <result.json>
 *
 * Why inline: the Node.js language host (pulumi-language-nodejs) cannot be built here (the Go
 * module proxy refuses its module), and an inline program needs none: @pulumi/pulumi serves the
 * language runtime itself and the CLI connects to it (`pulumi up --client=...`). The engine, the
 * providers, the state backend and the CLI's diff and update logic are the real ones.
 *
 * One process per operation: the program runs as a fresh process would under the CLI (config read
 * at start, nothing cached from a previous run), and its start-up cost is part of what is timed.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import {
  type EngineEvent,
  LocalWorkspace,
  type OpMap,
  type OpType,
  PulumiCommand,
  Stack,
} from "@pulumi/pulumi/automation";
import { alive, childrenRunning, descendants } from "./processes";

/** How the program's TypeScript is loaded: the three ways the benchmark compares. */
export type LoadMode = "tsx" | "ts-node-typecheck" | "js";

export interface OpRequest {
  op: "preview" | "up" | "destroy";
  stackName: string;
  /** Folder with Pulumi.yaml and Pulumi.<stack>.yaml (a temporary copy, not the repo). */
  workDir: string;
  /** Toolchain root: <root>/bin/pulumi is the CLI. */
  pulumiRoot: string;
  /** The program's entry module (repo/index.ts, or dist/index.js for "js"). */
  entry: string;
  loadMode: LoadMode;
  expectNoChanges?: boolean;
  envVars: Record<string, string>;
  /**
   * Fault injection: SIGKILL the pulumi CLI `afterMs` after the engine starts creating the first
   * resource whose URN ends with `urnSuffix`, as a CI runner's kill or an OOM kill would.
   */
  killCli?: { urnSuffix: string; afterMs: number };
}

export interface KillRecord {
  /** The resource whose creation started the countdown. */
  urn: string;
  pid: number;
  /** Processes the CLI had started (plugins) that were still running after it died, then killed. */
  orphansKilled: number[];
}

export interface StepRecord {
  op: OpType;
  urn: string;
  type: string;
  diffs: string[];
}

/**
 * One resource's step as the engine's events show it: from its ResourcePreEvent (the engine starts
 * the step) to its ResOutputsEvent (the step is done, outputs known), in seconds since the
 * operation started in this process. The Automation API reads the engine's event log by polling
 * it every 200 ms, so each time is late by up to that much.
 */
export interface StepSpan {
  urn: string;
  type: string;
  op: OpType;
  start: number;
  end?: number;
}

export interface OpResult {
  ok: boolean;
  error?: string;
  changeSummary: OpMap | Record<string, number>;
  steps: StepRecord[];
  stdout: string;
  stderr: string;
  /** Wall time of the operation inside this process (the CLI run, the program included). */
  seconds: number;
  /** Seconds the program module took to load. */
  loadSeconds: number;
  /** Seconds since the operation started at which the engine asked for the program (preview and up). */
  programStartedAt?: number;
  /** Each resource's step, in the order the engine started them. */
  spans: StepSpan[];
  killed?: KillRecord;
}

type ProgramResult = Record<string, unknown> | undefined;

function loadProgram(req: OpRequest): { program: () => ProgramResult; seconds: number } {
  const started = performance.now();
  // For "ts-node-typecheck" this process was started with ts-node's require hook (see
  // PulumiEnv.run), so this require type-checks the program as the language host would; for
  // "tsx" tsx's hook transpiles it; for "js" it is the precompiled dist/index.js.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(req.entry) as (() => ProgramResult) | { default: () => ProgramResult };
  const program = typeof mod === "function" ? mod : mod.default;
  return { program, seconds: (performance.now() - started) / 1000 };
}

/**
 * SIGKILLs the pulumi CLI this process started (found by parent PID and executable, never by name),
 * then, once it is gone, any process it had started (the provider plugins) that outlived it.
 */
async function killCliLater(req: OpRequest, urn: string, afterMs: number): Promise<KillRecord> {
  await new Promise((r) => setTimeout(r, afterMs));
  const clis = childrenRunning(process.pid, fs.realpathSync(path.join(req.pulumiRoot, "bin", "pulumi")));
  if (clis.length !== 1) throw new Error(`expected one pulumi CLI child of ${process.pid}, found ${clis.length}`);
  const pid = clis[0];
  const plugins = descendants(pid);
  process.kill(pid, "SIGKILL");
  const deadline = Date.now() + 5000;
  while (plugins.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  const orphansKilled = plugins.filter(alive);
  for (const p of orphansKilled) process.kill(p, "SIGKILL");
  return { urn, pid, orphansKilled };
}

async function main(): Promise<void> {
  const [requestFile, resultFile] = process.argv.slice(2);
  const req = JSON.parse(fs.readFileSync(requestFile, "utf8")) as OpRequest;
  const steps: StepRecord[] = [];
  // Settled, never rejected: a failed kill is reported in the result, not as an unhandled rejection.
  let killer: Promise<KillRecord | Error> | undefined;
  const spans = new Map<string, StepSpan>();
  const started = performance.now();
  const now = (): number => (performance.now() - started) / 1000;
  const onEvent = (e: EngineEvent): void => {
    const m = e.resourcePreEvent?.metadata;
    if (m) {
      steps.push({ op: m.op, urn: m.urn, type: m.type, diffs: m.diffs ?? [] });
      spans.set(m.urn, { urn: m.urn, type: m.type, op: m.op, start: now() });
    }
    const done = e.resOutputsEvent?.metadata;
    const span = done ? spans.get(done.urn) : undefined;
    if (span) span.end = now();
    const kill = req.killCli;
    if (m && kill && !killer && m.op === "create" && m.urn.endsWith(kill.urnSuffix)) {
      killer = killCliLater(req, m.urn, kill.afterMs).catch((err: unknown) =>
        err instanceof Error ? err : new Error(String(err)),
      );
    }
  };
  const result: OpResult = {
    ok: false,
    changeSummary: {},
    steps,
    stdout: "",
    stderr: "",
    seconds: 0,
    loadSeconds: 0,
    spans: [],
  };
  try {
    const pulumiCommand = await PulumiCommand.get({ root: req.pulumiRoot, skipVersionCheck: true });
    const ws = await LocalWorkspace.create({
      workDir: req.workDir,
      pulumiCommand,
      envVars: req.envVars,
      // Loaded when the engine asks for the program, as the language host loads it when its Run
      // is called; `destroy` never runs the program, so it never loads it.
      program: async () => {
        result.programStartedAt = now();
        const { program, seconds } = loadProgram(req);
        result.loadSeconds = seconds;
        return program();
      },
    });
    const stack = await Stack.select(req.stackName, ws);
    if (req.op === "preview") {
      const r = await stack.preview({ expectNoChanges: req.expectNoChanges, onEvent, diff: true });
      Object.assign(result, { changeSummary: r.changeSummary, stdout: r.stdout, stderr: r.stderr });
    } else if (req.op === "up") {
      const r = await stack.up({ expectNoChanges: req.expectNoChanges, onEvent, diff: true });
      Object.assign(result, {
        changeSummary: r.summary.resourceChanges ?? {},
        stdout: r.stdout,
        stderr: r.stderr,
      });
    } else {
      const r = await stack.destroy({ onEvent });
      Object.assign(result, {
        changeSummary: r.summary.resourceChanges ?? {},
        stdout: r.stdout,
        stderr: r.stderr,
      });
    }
    result.ok = true;
  } catch (err: unknown) {
    result.error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  }
  result.seconds = now();
  result.spans = [...spans.values()];
  const killed = await killer;
  if (killed instanceof Error) result.error = `${result.error ?? ""}\nkilling the CLI failed: ${killed.message}`;
  else result.killed = killed;
  fs.writeFileSync(resultFile, JSON.stringify(result, null, 2));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(2);
  },
);
