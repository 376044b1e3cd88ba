import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pythonEnvBin } from "./pythonEnv";

const script = path.join(__dirname, "hub_ldap_login.py");

export interface LoginResult {
  /** The hub user name JupyterHub would log in, or null when refused. */
  user: string | null;
  /** An exception the login raised (a TLS failure, for one), as `Type: message`. */
  error: string | null;
  /** The groups the login hands JupyterHub (with manage_groups), when the config's post_auth_hook sets them. */
  groups?: string[];
}

export interface HubLoginRequest {
  /** Users already in the hub's database: JupyterHub hands each to Authenticator.add_user at start-up. */
  existingUsers?: string[];
  logins: { username: string; password: string }[];
  /** Files the hub pod would see (container path -> content), e.g. a mounted CA certificate. */
  files?: Record<string, string>;
  /** The other files of the config's folder (the hub's ConfigMap), such as hubExtraConfig snippets. */
  configFiles?: Record<string, string>;
}

/**
 * Logs users in through the hub image's JupyterHub and LDAPAuthenticator (the hub venv of
 * versions/hub.lock), configured by loading `configText` as JupyterHub does; see hub_ldap_login.py.
 * Files of the pod are written under a temporary root, and absolute paths in the LDAP TLS settings
 * are read from there.
 */
export function hubLdapLogin(configText: string, request: HubLoginRequest): { results: LoginResult[]; log: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hub-ldap-login-"));
  try {
    for (const [name, text] of Object.entries(request.configFiles ?? {})) fs.writeFileSync(path.join(dir, name), text);
    const configFile = path.join(dir, "jupyterhub_config.py");
    fs.writeFileSync(configFile, configText);
    const root = path.join(dir, "root");
    for (const [file, content] of Object.entries(request.files ?? {})) {
      const target = path.join(root, file);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, content);
    }
    const out = spawnSync(path.join(pythonEnvBin("hub"), "python"), ["-I", script, configFile, root], {
      input: JSON.stringify({ existing_users: request.existingUsers ?? [], logins: request.logins }),
      encoding: "utf8",
      env: { PATH: "/usr/bin:/bin", LANG: "C.UTF-8", HOME: dir },
      cwd: dir,
      timeout: 60_000,
    });
    if (out.error) throw out.error;
    if (out.status !== 0) throw new Error(`hub_ldap_login.py failed (${out.status}):\n${out.stderr}`);
    return { results: JSON.parse(out.stdout) as LoginResult[], log: out.stderr };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
