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
 * Writes a config folder as the hub's ConfigMap volume makes it: `siblings` (the ConfigMap's other
 * files, such as hubExtraConfig snippets), then jupyterhub_config.py. Returns the config file's path.
 */
function writeConfigFolder(dir: string, configText: string, siblings: Record<string, string>): string {
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(siblings)) fs.writeFileSync(path.join(dir, name), text);
  const file = path.join(dir, "jupyterhub_config.py");
  fs.writeFileSync(file, configText);
  return file;
}

/**
 * Loads a jupyterhub_config.py with traitlets' PyFileConfigLoader, as JupyterHub does at start-up,
 * in the hub image's Python environment (versions/hub.lock: the image's traitlets), isolated (-I: no
 * user site, no PYTHON* variables) and with exactly `env` as its environment; `siblings` are the
 * other files of its folder (the hub's ConfigMap).
 */
export function loadHubConfig(
  configText: string,
  env: Record<string, string> = {},
  siblings: Record<string, string> = {},
): LoadResult {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hub-config-"));
  try {
    const file = writeConfigFolder(dir, configText, siblings);
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
  configs: { name: string; configText: string; env?: Record<string, string>; siblings?: Record<string, string> }[],
): Record<string, string[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hub-configs-"));
  try {
    const items = configs.map((c, i) => {
      const file = writeConfigFolder(path.join(dir, String(i)), c.configText, c.siblings ?? {});
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

const podScript = path.join(__dirname, "kubespawner_pod.py");

/** A kubeconfig for KubeSpawner's constructor, which loads one; it names an address nothing listens on. */
const unusedKubeconfig = [
  "apiVersion: v1",
  "kind: Config",
  'clusters: [{name: none, cluster: {server: "https://127.0.0.1:9"}}]',
  "users: [{name: none, user: {token: none}}]",
  "contexts: [{name: none, context: {cluster: none, user: none}}]",
  "current-context: none",
  "",
].join("\n");

/** A user's server to build the pod of: the hub's user name, whether an admin, the server's name. */
export interface PodRequest {
  user: string;
  admin: boolean;
  /** The user's JupyterHub groups (what a group-restricted profile is matched against). */
  groups?: string[];
  /** A named server's name; the default server when left out. */
  server?: string;
  /** The spawn request's options (a form's fields, a POST body), as the user sent them. */
  options?: Record<string, unknown>;
}

/**
 * The pod as the API server would receive it, or why KubeSpawner or the config's modify_pod_hook
 * refused the spawn; with profiles, also the slugs offered to the user and the spawn form's HTML.
 */
export type PodResult = ({ pod: Record<string, unknown> } | { error: string }) & { offered?: string[]; form?: string };

/**
 * The pods the hub image's KubeSpawner makes from each jupyterhub_config.py (loaded as JupyterHub
 * loads it) for its requests: load_user_options(), get_pod_manifest(), then the config's
 * modify_pod_hook, as KubeSpawner's start does before it creates the pod
 * (test/support/kubespawner_pod.py), all in one Python process. No cluster is involved.
 */
export function userPodsFromConfigs(
  items: { configText: string; requests: PodRequest[]; siblings?: Record<string, string> }[],
  env: Record<string, string> = {},
): PodResult[][] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hub-pods-"));
  try {
    const input = items.map((item, i) => {
      // Each in a folder of its own, with its ConfigMap's other files (hubExtraConfig snippets).
      const config = writeConfigFolder(path.join(dir, String(i)), item.configText, item.siblings ?? {});
      return { config, requests: item.requests };
    });
    const kubeconfig = path.join(dir, "kubeconfig");
    fs.writeFileSync(kubeconfig, unusedKubeconfig);
    const out = spawnSync(path.join(pythonEnvBin("hub"), "python"), ["-I", podScript], {
      encoding: "utf8",
      input: JSON.stringify(input),
      env: { PATH: "/usr/bin:/bin", LANG: "C.UTF-8", KUBECONFIG: kubeconfig, ...env },
      cwd: dir,
    });
    if (out.error) throw out.error;
    if (out.status !== 0) throw new Error(`KubeSpawner could not build the pods:\n${out.stderr.trim()}`);
    return JSON.parse(out.stdout) as PodResult[][];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** userPodsFromConfigs for one config (and the other files of its folder). */
export function userPodsFromConfig(
  configText: string,
  requests: PodRequest[],
  env: Record<string, string> = {},
  siblings: Record<string, string> = {},
): PodResult[] {
  return userPodsFromConfigs([{ configText, requests, siblings }], env)[0];
}
