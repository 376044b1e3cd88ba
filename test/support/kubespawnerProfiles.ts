import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { JsonObject } from "../../render/mocks";
import { pythonEnvBin } from "./pythonEnv";

const script = path.join(__dirname, "kubespawner_profiles.py");

/** A start request by a user in some JupyterHub groups, with its user_options (`{}`: none named). */
export interface ProfileCase {
  case: string;
  user: string;
  groups: string[];
  userOptions: Record<string, string>;
}

export interface ProfileOutcome {
  /** Slugs of the profiles profile_list offers the user. */
  offered: string[];
  /** The spawn form's HTML as KubeSpawner renders it for the user. */
  form: string;
  /** The pod KubeSpawner would create, or the error that refused the start. */
  pod: JsonObject | null;
  error: string | null;
}

/**
 * Runs the hub image's KubeSpawner on a jupyterhub_config.py (test/support/kubespawner_profiles.py):
 * for each case, what the user is offered and what a start with those options makes or why it is
 * refused; and each auth model as the config's post_auth_hook returns it.
 */
export function runProfiles(
  configText: string,
  cases: ProfileCase[],
  authModels: JsonObject[] = [],
): { cases: Record<string, ProfileOutcome>; postAuth: (JsonObject | null)[] } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kubespawner-profiles-"));
  try {
    const config = path.join(dir, "jupyterhub_config.py");
    fs.writeFileSync(config, configText);
    // KubeSpawner loads a kubeconfig when it is made; nothing here calls the server it names.
    const kubeconfig = path.join(dir, "kubeconfig");
    fs.writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "none", cluster: { server: "https://127.0.0.1:9" } }],
        users: [{ name: "none", user: {} }],
        contexts: [{ name: "none", context: { cluster: "none", user: "none" } }],
        "current-context": "none",
      }),
    );
    const out = spawnSync(path.join(pythonEnvBin("hub"), "python"), ["-I", script], {
      encoding: "utf8",
      input: JSON.stringify({
        config,
        cases: cases.map((c) => ({ case: c.case, user: c.user, groups: c.groups, user_options: c.userOptions })),
        auth_models: authModels,
      }),
      env: { PATH: "/usr/bin:/bin", LANG: "C.UTF-8", KUBECONFIG: kubeconfig, HOME: dir },
      cwd: dir,
    });
    if (out.error) throw out.error;
    if (out.status !== 0) throw new Error(`KubeSpawner's profile code failed:\n${out.stderr.trim()}`);
    const result = JSON.parse(out.stdout) as {
      cases: Record<string, ProfileOutcome>;
      post_auth: (JsonObject | null)[];
    };
    return { cases: result.cases, postAuth: result.post_auth };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
