import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pythonEnvBin } from "./pythonEnv";

const loaderScript = path.join(__dirname, "load_traitlets_config.py");

/** A value as the loader prints it: JSON, with sets as {"$set": [...]}. */
export type PyValue = null | boolean | number | string | PyValue[] | { [key: string]: PyValue };
export type PyConfig = Record<string, Record<string, PyValue>>;

export type LoadResult = { ok: true; config: PyConfig } | { ok: false; error: string };

/**
 * Loads a jupyterhub_config.py with traitlets' PyFileConfigLoader, as JupyterHub does at start-up,
 * in the hub image's Python environment (versions/hub.lock: the image's traitlets), isolated (-I: no
 * user site, no PYTHON* variables) and with exactly `env` as its environment.
 */
export function loadHubConfig(configText: string, env: Record<string, string> = {}): LoadResult {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hub-config-"));
  try {
    const file = path.join(dir, "jupyterhub_config.py");
    fs.writeFileSync(file, configText);
    const out = spawnSync(path.join(pythonEnvBin("hub"), "python"), ["-I", loaderScript, file], {
      encoding: "utf8",
      env: { PATH: "/usr/bin:/bin", LANG: "C.UTF-8", ...env },
      cwd: dir,
    });
    if (out.error) throw out.error;
    if (out.status !== 0) return { ok: false, error: out.stderr.trim() };
    return { ok: true, config: JSON.parse(out.stdout) as PyConfig };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * For each named jupyterhub_config.py, the options no class of the hub image would read (misspelt
 * sections or keys, each as `c.Section.key: why`); [] when every option is known. All files are
 * checked in one Python process of the hub venv (importing JupyterHub takes seconds), each loaded
 * with exactly its `env`. Throws when a file does not load at all (see loadHubConfig).
 */
export function unrecognisedHubOptions(
  configs: { name: string; configText: string; env?: Record<string, string> }[],
): Record<string, string[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hub-configs-"));
  try {
    const items = configs.map((c, i) => {
      const file = path.join(dir, `${i}.py`);
      fs.writeFileSync(file, c.configText);
      return { name: c.name, path: file, env: { PATH: "/usr/bin:/bin", LANG: "C.UTF-8", ...c.env } };
    });
    const out = spawnSync(path.join(pythonEnvBin("hub"), "python"), ["-I", loaderScript, "--unrecognised"], {
      encoding: "utf8",
      input: JSON.stringify(items),
      env: { PATH: "/usr/bin:/bin", LANG: "C.UTF-8" },
      cwd: dir,
    });
    if (out.error) throw out.error;
    if (out.status !== 0) throw new Error(`the hub's option check failed:\n${out.stderr.trim()}`);
    return JSON.parse(out.stdout) as Record<string, string[]>;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A Python set as the loader prints it, as a sorted array; throws if the value is not a set. */
export function pySet(value: PyValue | undefined): string[] {
  if (value === null || typeof value !== "object" || Array.isArray(value) || !Array.isArray(value.$set)) {
    throw new Error(`expected a Python set, got ${JSON.stringify(value)}`);
  }
  return value.$set.map(String).sort();
}
