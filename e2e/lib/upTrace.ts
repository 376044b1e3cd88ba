import type { Deployment } from "@pulumi/pulumi/automation";
import type { StepSpan } from "./pulumi-op";

/**
 * Where a `pulumi up` spends its time (npm run bench): each resource's step from the engine's
 * events (pulumi-op.ts), the longest chain of waits through the dependency graph the state
 * records, and what each link of it waits on.
 */

/** What the Kubernetes provider (4.x) waits for before it reports a step done, by resource type. */
const WAITS: [RegExp, string][] = [
  [/^pulumi:providers:/, "the provider plugin to start and configure"],
  [/:PersistentVolumeClaim$/, "the claim to be Bound"],
  [/:apps\/v1:Deployment$/, "the Deployment to be Available (its pods Ready)"],
  [/:apps\/v1:StatefulSet$/, "the StatefulSet's pods Ready"],
  [/:core\/v1:Service$/, "ready endpoints behind the selector (a load balancer: its address)"],
  [/:core\/v1:Pod$/, "the pod Ready"],
  [/:batch\/v1:Job$/, "the Job to complete"],
  [/:Ingress$/, "the Ingress's address"],
];

export function waitsOn(type: string): string {
  return WAITS.find(([re]) => re.test(type))?.[1] ?? "the API's answer (no readiness wait)";
}

export interface ChainLink {
  urn: string;
  type: string;
  start: number;
  end: number;
  /** Seconds between the link before it ending (or the operation starting) and this one starting. */
  gap: number;
}

interface StateResource {
  urn: string;
  type: string;
  custom?: boolean;
  dependencies?: string[];
  provider?: string;
}

/**
 * The longest chain of waits: from the custom resource (or provider) whose step ended last, back
 * through, at each link, the dependency (or provider) whose step ended last, which is the one this
 * step could not start without. Components are left out: they wait on nothing of their own.
 */
export function longestChain(spans: StepSpan[], deployment: Deployment): ChainLink[] {
  const resources = (deployment.deployment as { resources?: StateResource[] }).resources ?? [];
  const byUrn = new Map(resources.map((r) => [r.urn, r]));
  const done = new Map(
    spans
      .filter((s): s is StepSpan & { end: number } => s.end !== undefined && byUrn.get(s.urn)?.custom === true)
      .map((s) => [s.urn, s]),
  );
  const preds = (urn: string): string[] => {
    const r = byUrn.get(urn);
    // A provider reference is "<urn>::<id>".
    const provider = r?.provider ? [r.provider.slice(0, r.provider.lastIndexOf("::"))] : [];
    return [...(r?.dependencies ?? []), ...provider].filter((u) => done.has(u));
  };
  let current = [...done.values()].sort((a, b) => b.end - a.end)[0];
  const chain: ChainLink[] = [];
  while (current) {
    const before = preds(current.urn)
      .map((u) => done.get(u) as StepSpan & { end: number })
      .sort((a, b) => b.end - a.end)[0];
    chain.unshift({
      urn: current.urn,
      type: current.type,
      start: current.start,
      end: current.end,
      gap: current.start - (before?.end ?? 0),
    });
    current = before;
  }
  return chain;
}

/** The resource's name as the URN ends: `...::<name>`. */
function nameOf(urn: string): string {
  return urn.slice(urn.lastIndexOf("::") + 2);
}

export function chainSeconds(chain: ChainLink[]): number {
  return chain.reduce((sum, l) => sum + (l.end - l.start), 0);
}

interface OpTimes {
  seconds: number;
  programStartedAt?: number;
  loadSeconds: number;
  /** The whole process, as a user waits for it (Node.js and the Automation API's start-up included). */
  processSeconds?: number;
}

const f = (x: number): string => x.toFixed(2).padStart(6);

/** What happened before the first step (the program's start), then every step from start to end. */
function stepLines(spans: StepSpan[], op: OpTimes): string[] {
  const first = Math.min(...spans.map((s) => s.start));
  return [
    ...(op.programStartedAt !== undefined
      ? [
          `  ours before any resource: the engine asked for the program at ${op.programStartedAt.toFixed(2)} s; ` +
            `loading its modules took ${op.loadSeconds.toFixed(2)} s; the first step started at ${first.toFixed(2)} s`,
        ]
      : []),
    `  ${"start".padStart(6)} ${"end".padStart(6)} ${"took".padStart(6)}  resource`,
    ...[...spans]
      .sort((a, b) => a.start - b.start)
      .map(
        (s) =>
          `  ${f(s.start)} ${s.end === undefined ? "     -" : f(s.end)} ${s.end === undefined ? "     -" : f(s.end - s.start)}  ${s.type} ${nameOf(s.urn)}`,
      ),
  ];
}

/** Where a no-change `up` spends its time: the process around the operation, the program's start, every (same) step. */
export function formatNoChangeTrace(spans: StepSpan[], op: OpTimes): string[] {
  const lastEnd = Math.max(...spans.map((s) => s.end ?? s.start));
  return [
    `trace of one no-change \`pulumi up\` (engine events; times in s since the operation started, ±0.2 s)`,
    ...stepLines(spans, op),
    `  after the last step: ${(op.seconds - lastEnd).toFixed(2)} s to the end of the operation` +
      (op.processSeconds !== undefined
        ? `; the process took ${op.processSeconds.toFixed(2)} s in all (${(op.processSeconds - op.seconds).toFixed(2)} s outside the operation)`
        : ""),
  ];
}

/** The trace as the bench prints it: every step, then the chain, what each link waits on, and the time outside steps. */
export function formatTrace(spans: StepSpan[], chain: ChainLink[], up: OpTimes): string[] {
  const lines = [
    `trace of one \`pulumi up\` from empty (engine events; times in s since the operation started, ±0.2 s)`,
    ...stepLines(spans, up),
    `the longest chain of waits (${chain.length} steps, ${chainSeconds(chain).toFixed(1)} s of steps, ` +
      `${chain.reduce((a, l) => a + l.gap, 0).toFixed(1)} s between them):`,
    ...chain.map(
      (l) =>
        `  ${f(l.start)} +${(l.end - l.start).toFixed(2)} s (after ${l.gap.toFixed(2)} s)  ${l.type} ${nameOf(l.urn)}: waits on ${waitsOn(l.type)}`,
    ),
  ];
  const last = chain.at(-1);
  if (last) lines.push(`  after the chain: ${(up.seconds - last.end).toFixed(2)} s to the end of the operation`);
  return lines;
}
