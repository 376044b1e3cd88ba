import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

const repoRoot = path.resolve(__dirname, "..", "..");
const buildScript = path.join(repoRoot, "e2e", "toolchain", "build.sh");

/**
 * The real promtool (github.com/prometheus/prometheus/cmd/promtool, the toolchain's `promtool`
 * part, pinned in e2e/toolchain/build.sh). Never built here: a unit test must not start a Go build
 * of minutes. Missing, it is an error that says how to build it (scripts/setup.sh does).
 */
export function promtoolPath(): string {
  const bin = execFileSync("bash", [buildScript, "--print-bin"], { encoding: "utf8" }).trim();
  const promtool = path.join(bin, "promtool");
  if (!fs.existsSync(promtool)) {
    throw new Error(
      `promtool is not built (no ${promtool}): run \`bash e2e/toolchain/build.sh --only promtool\` ` +
        "(scripts/setup.sh runs it; a few minutes cold, from the Go module proxy)",
    );
  }
  return promtool;
}

export interface PromtoolResult {
  status: number | null;
  /** stdout and stderr together, as promtool prints its findings on either. */
  output: string;
}

/** Runs promtool with `args` in `cwd` (its rule and test files are found relative to it). */
export function promtool(args: string[], cwd: string, input?: string): PromtoolResult {
  const r = spawnSync(promtoolPath(), args, { cwd, input, encoding: "utf8", timeout: 60_000 });
  if (r.error) throw r.error;
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}
