import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { JsonObject } from "../../render/mocks";
import type { HubPod } from "./hubPod";
import { pythonEnvBin } from "./pythonEnv";

const script = path.join(__dirname, "kubespawner_pod.py");

/** A kubeconfig that names a server nothing listens on: KubeSpawner sets up its client, never calls it. */
const unusedKubeconfig = [
  "apiVersion: v1",
  "kind: Config",
  "clusters: [{name: none, cluster: {server: 'https://127.0.0.1:1'}}]",
  "users: [{name: none, user: {}}]",
  "contexts: [{name: none, context: {cluster: none, user: none}}]",
  "current-context: none",
  "",
].join("\n");

/**
 * The pod KubeSpawner 7.0.0 (the hub venv) makes for `username` from the hub's rendered config
 * folder, loaded with the hub pod's environment (see kubespawner_pod.py).
 */
export function kubeSpawnerPod(hub: Pick<HubPod, "configFiles" | "env">, username: string): JsonObject {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kubespawner-pod-"));
  try {
    const config = path.join(dir, "config");
    fs.mkdirSync(config);
    for (const [name, text] of Object.entries(hub.configFiles)) fs.writeFileSync(path.join(config, name), text);
    fs.writeFileSync(path.join(dir, "kubeconfig"), unusedKubeconfig);
    const out = spawnSync(
      path.join(pythonEnvBin("hub"), "python"),
      ["-I", script, path.join(config, "jupyterhub_config.py"), username],
      {
        encoding: "utf8",
        env: {
          PATH: "/usr/bin:/bin",
          LANG: "C.UTF-8",
          HOME: dir,
          KUBECONFIG: path.join(dir, "kubeconfig"),
          ...hub.env,
        },
        cwd: dir,
        timeout: 60_000,
      },
    );
    if (out.error) throw out.error;
    if (out.status !== 0) throw new Error(`kubespawner_pod.py failed (${out.status}):\n${out.stderr}`);
    return JSON.parse(out.stdout) as JsonObject;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
