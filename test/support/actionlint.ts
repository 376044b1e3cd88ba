import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** Where scripts/setup.sh builds actionlint (kept in step with it), unless $ACTIONLINT names another. */
export function actionlintPath(): string {
  if (process.env.ACTIONLINT) return process.env.ACTIONLINT;
  const cache = process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache");
  return path.join(cache, "jupyterhub-nfs-tools", "bin", "actionlint");
}

export interface ActionlintError {
  message: string;
  filepath: string;
  line: number;
  column: number;
  kind: string;
}

export interface ActionlintResult {
  status: number | null;
  errors: ActionlintError[];
  stderr: string;
}

/**
 * Runs actionlint on workflow files (paths relative to `cwd`, which must hold `.github/workflows`
 * for actionlint to find the repository's settings) and returns its findings as data.
 */
export function actionlint(cwd: string, files: string[]): ActionlintResult {
  const bin = actionlintPath();
  if (!fs.existsSync(bin)) {
    throw new Error(`actionlint is not at ${bin}: run \`bash scripts/setup.sh\` (or set ACTIONLINT)`);
  }
  const run = spawnSync(bin, ["-no-color", "-format", "{{json .}}", ...files], { cwd, encoding: "utf8" });
  if (run.error) throw run.error;
  const out = run.stdout.trim();
  const errors = out === "" || out === "null" ? [] : (JSON.parse(out) as ActionlintError[]);
  return { status: run.status, errors, stderr: run.stderr };
}

export function formatErrors(errors: ActionlintError[]): string {
  return errors.map((e) => `${e.filepath}:${e.line}:${e.column}: ${e.message} [${e.kind}]`).join("\n");
}
