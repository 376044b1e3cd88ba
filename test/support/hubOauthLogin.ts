import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { PyValue } from "./hubConfigPython";
import { pythonEnvBin } from "./pythonEnv";

const script = path.join(__dirname, "hub_oauth_login.py");

export interface OAuthLogin {
  /** The hub user name, or null when refused. */
  user: string | null;
  admin: boolean | null;
  /** The hub groups the login sets (manage_groups), or null when the authenticator sets none. */
  groups: string[] | null;
  /** A refusal with a reason (an HTTP 403 from the authenticator), as `status message`. */
  error: string | null;
  /** The user's folder under notebooks/, by KubeSpawner's own safe_slug (absent when refused). */
  folder?: string;
}

export interface OAuthLoginResult {
  /** The authenticator class JupyterHub resolved from authenticator_class. */
  class: string;
  traits: Record<string, PyValue>;
  logins: OAuthLogin[];
}

/**
 * The hub image's JupyterHub and OAuthenticator (the hub venv of versions/hub.lock), configured by
 * loading `configText` as JupyterHub does, logging in each of `users` (the user info a provider
 * would answer with); see hub_oauth_login.py. `env` is the hub's whole environment.
 */
export function hubOauthLogin(
  configText: string,
  request: { traits: string[]; users: Record<string, unknown>[] },
  env: Record<string, string>,
): OAuthLoginResult {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hub-oauth-login-"));
  try {
    const configFile = path.join(dir, "jupyterhub_config.py");
    fs.writeFileSync(configFile, configText);
    const out = spawnSync(path.join(pythonEnvBin("hub"), "python"), ["-I", script, configFile], {
      input: JSON.stringify(request),
      encoding: "utf8",
      env: { PATH: "/usr/bin:/bin", LANG: "C.UTF-8", HOME: dir, ...env },
      cwd: dir,
      timeout: 60_000,
    });
    if (out.error) throw out.error;
    if (out.status !== 0) throw new Error(`hub_oauth_login.py failed (${out.status}):\n${out.stderr}`);
    return JSON.parse(out.stdout) as OAuthLoginResult;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
