import { hubExtraConfigLines, type HubConfigSnippet } from "./hubExtraConfig";
import { oauthConfigLines, type OAuthSettings } from "./oauthConfig";
import { py, pySet } from "./pythonLiteral";
import { profileGroupLines } from "./profiles";
import { userServerConfigLines, type UserServerSettings } from "./userServers";

/**
 * The login names the hub takes at its form, and the names config accepts for users: what real
 * directories hold (`john.doe`, `2ndyear`, `Mary_Ann`), typed with any capitals. LDAPAuthenticator
 * 2.0's own default (`^[a-z][.a-z0-9_-]*$`) refuses a capital or a leading digit before it asks the
 * directory, so `John.Doe` got "Invalid username or password" with the right password. LDAP
 * matches uid and cn case-insensitively, and JupyterHub lower-cases the name after a login (and
 * allowed_users and admin_users at start-up), so `John.Doe` and `john.doe` are one hub user. The
 * regex no longer guards against LDAP injection: LDAPAuthenticator 2 escapes the name in DNs and
 * search filters itself. It is LDAP's alone: an OAuth provider's names were not typed at this form,
 * and JupyterHub applies no pattern to them (stacks/authenticator.ts checks config names against
 * the claim's form instead; docs/authentication.md, names users type).
 */
export const loginNamePattern = "^[A-Za-z0-9][A-Za-z0-9._-]*$";

/** LDAP settings as LDAPAuthenticator 2 takes them. */
export interface LdapSettings {
  serverAddress: string;
  serverPort: number;
  tlsStrategy: "before_bind" | "on_connect" | "insecure";
  /**
   * With before_bind or on_connect: check the server's certificate (and its host name) against the
   * system CA bundle, or against `tlsCaFile` alone when given. ldap3's own default checks nothing.
   */
  tlsVerify: boolean;
  /** Path in the hub container of a PEM file with the CA(s) to trust for LDAP, instead of the system bundle. */
  tlsCaFile?: string;
  /** DN templates with `{username}`; empty when lookupDn is used. */
  bindDnTemplates: string[];
  lookupDn?: {
    userSearchBase: string;
    userAttribute: string;
    /** DN to search as; empty binds anonymously. */
    searchUser: string;
    /** Name of the environment variable that holds the search user's password, if any. */
    searchPasswordEnv?: string;
  };
  allowedGroups: string[];
}

/** Everything jupyterhub_config.py depends on. No secret values: those come from the environment. */
export interface HubSettings {
  /** Namespace of the hub, the proxy and the user pods. */
  namespace: string;
  /** URL at which user pods reach the hub's API. */
  hubConnectUrl: string;
  /** URL of the proxy's REST API. */
  proxyApiUrl: string;
  /** Path of the hub's sqlite database, on its own claim. */
  databasePath: string;
  /** `https://<domain>/` when the hub is exposed over HTTPS. */
  publicUrl?: string;
  /** How users log in: LDAP, or (when given) an OAuth provider, never both. */
  ldap?: LdapSettings;
  oauth?: OAuthSettings;
  allowedUsers: string[];
  allowAllUsers: boolean;
  adminUsers: string[];
  /** The user pods KubeSpawner makes (userServers.ts). */
  singleuser: UserServerSettings;
  /** How many named servers each user may have besides the default one; 0: none. */
  namedServersPerUser: number;
  /** Idle servers are stopped after this many seconds; 0 turns the culler off. */
  cullIdleSeconds: number;
  /** The culler also stops servers older than this, busy or not; 0: never. */
  cullMaxAgeSeconds: number;
  /** How many requests the culler has in flight at the hub at once. */
  cullConcurrency: number;
  /** How many servers may be starting at once (JupyterHub's concurrent_spawn_limit); 0: no limit. */
  concurrentSpawnLimit: number;
  /** How many servers may run at once (JupyterHub's active_server_limit); 0: no limit. */
  activeServerLimit: number;
  /** Python run after all of the above, in name order, each from its own file next to this one (hubExtraConfig.ts). */
  extraConfig?: HubConfigSnippet[];
  /**
   * A metrics scraper (GMP's collector): a JupyterHub service of this name whose token, read from
   * the environment variable `tokenEnv`, has the `read:metrics` scope and nothing else.
   */
  metricsScraper?: MetricsScraper;
}

export interface MetricsScraper {
  serviceName: string;
  tokenEnv: string;
}

/**
 * `LDAPAuthenticator.tls_kwargs`, the keyword arguments of ldap3's `Tls` (ldap3 2.9.1). `Tls`
 * defaults to `validate=ssl.CERT_NONE`; with `CERT_REQUIRED` and no `version` it builds
 * `ssl.create_default_context(cafile=ca_certs_file)`, which loads the system CA bundle when no file
 * is given and only that file when one is, then checks the certificate against `server_address`.
 */
function ldapTlsLines(ldap: LdapSettings): string[] {
  if (ldap.tlsStrategy === "insecure") {
    return ["# Plain LDAP (tls_strategy insecure): no TLS, so no certificate to check."];
  }
  if (!ldap.tlsVerify) {
    return [
      "# INSECURE (ldapTlsInsecureSkipVerify): the LDAP server's certificate is not checked.",
      'c.LDAPAuthenticator.tls_kwargs = {"validate": ssl.CERT_NONE}',
    ];
  }
  if (ldap.tlsCaFile !== undefined) {
    return [
      "# Verify the LDAP server's certificate against the configured CA only (ldapTlsCaCertificate).",
      `c.LDAPAuthenticator.tls_kwargs = {"validate": ssl.CERT_REQUIRED, "ca_certs_file": ${py(ldap.tlsCaFile)}}`,
    ];
  }
  return [
    "# Verify the LDAP server's certificate against the system CA bundle (ldap3's default checks nothing).",
    'c.LDAPAuthenticator.tls_kwargs = {"validate": ssl.CERT_REQUIRED}',
  ];
}

/**
 * Named servers: JupyterHub's limit counts the named servers a user has, running or stopped (a
 * stopped one counts until the user deletes it), not the default server; its 0 means no limit,
 * ours means none at all.
 */
function namedServerLines(perUser: number): string[] {
  if (perUser === 0)
    return [
      "# Named servers: off (namedServersPerUser 0); each user has the default server only.",
      "c.JupyterHub.allow_named_servers = False",
    ];
  return [
    "# Named servers, each in a pod of its own with the same home folder as the default server.",
    "c.JupyterHub.allow_named_servers = True",
    `c.JupyterHub.named_server_limit_per_user = ${py(perUser)}`,
  ];
}

/** JupyterHub 5.5's own defaults of the two limits (app.py), which the stack's defaults are. */
const jupyterhubDefaults = { concurrentSpawnLimit: 100, activeServerLimit: 0 };

/**
 * A class logging in at once (docs/operations.md): past these limits the hub answers a spawn with
 * 429 ("Too many users trying to log in right now" / "Active user limit exceeded", try again
 * later) rather than letting every spawn slow down until start_timeout fails them all. Written
 * only when they differ from JupyterHub's defaults, so that a stack that does not set them keeps
 * its hub config, and its hub is not rolled by an upgrade of this program.
 */
function spawnLimitLines(s: HubSettings): string[] {
  if (
    s.concurrentSpawnLimit === jupyterhubDefaults.concurrentSpawnLimit &&
    s.activeServerLimit === jupyterhubDefaults.activeServerLimit
  ) {
    return [];
  }
  return [
    "# Spawn limits (concurrentSpawnLimit, activeServerLimit): past them a spawn is refused with 429, try again later.",
    `c.JupyterHub.concurrent_spawn_limit = ${py(s.concurrentSpawnLimit)}`,
    `c.JupyterHub.active_server_limit = ${py(s.activeServerLimit)}`,
  ];
}

/**
 * jupyterhub-idle-culler 1.4's options: it stops idle named servers as well as default ones
 * (`--cull-named-servers` defaults to true) and keeps them for their users to start again.
 */
function cullerArgs(s: HubSettings): string[] {
  return [
    `--timeout=${s.cullIdleSeconds}`,
    ...(s.cullMaxAgeSeconds > 0 ? [`--max-age=${s.cullMaxAgeSeconds}`] : []),
    `--concurrency=${s.cullConcurrency}`,
  ];
}

/** jupyterhub_config.py's authentication section for LDAP (LDAPAuthenticator 2). */
function ldapConfigLines(ldap: LdapSettings): string[] {
  const lines: string[] = [
    "# Authentication: LDAPAuthenticator 2.",
    'c.JupyterHub.authenticator_class = "ldap"',
    `c.LDAPAuthenticator.server_address = ${py(ldap.serverAddress)}`,
    `c.LDAPAuthenticator.server_port = ${py(ldap.serverPort)}`,
    `c.LDAPAuthenticator.tls_strategy = ${py(ldap.tlsStrategy)}`,
    "# Names as directories hold them, typed with any capitals (see loginNamePattern in hubConfig.ts).",
    `c.LDAPAuthenticator.valid_username_regex = ${py(loginNamePattern)}`,
    ...ldapTlsLines(ldap),
  ];
  if (ldap.lookupDn) {
    const l = ldap.lookupDn;
    lines.push(
      "c.LDAPAuthenticator.lookup_dn = True",
      `c.LDAPAuthenticator.user_search_base = ${py(l.userSearchBase)}`,
      `c.LDAPAuthenticator.user_attribute = ${py(l.userAttribute)}`,
      // The lookup returns this attribute's value as the hub user name (default "cn", a full
      // name): keep it the login attribute. With no bind_dn_template the found DN is bound.
      `c.LDAPAuthenticator.lookup_dn_user_dn_attribute = ${py(l.userAttribute)}`,
    );
    if (l.searchUser !== "") {
      lines.push(`c.LDAPAuthenticator.lookup_dn_search_user = ${py(l.searchUser)}`);
    }
    if (l.searchPasswordEnv) {
      lines.push(`c.LDAPAuthenticator.lookup_dn_search_password = os.environ[${py(l.searchPasswordEnv)}]`);
    }
  } else {
    lines.push(`c.LDAPAuthenticator.bind_dn_template = ${py(ldap.bindDnTemplates)}`);
  }
  if (ldap.allowedGroups.length > 0) {
    lines.push(`c.LDAPAuthenticator.allowed_groups = ${py(ldap.allowedGroups)}`);
  }
  return lines;
}

/** The authentication section: LDAP, or an OAuth provider (oauthConfig.ts). */
function authenticatorLines(s: HubSettings): string[] {
  if (s.oauth && s.ldap) throw new Error("the hub takes one authenticator: LDAP or an OAuth provider, not both");
  if (s.oauth) return oauthConfigLines(s.oauth);
  if (s.ldap) return ldapConfigLines(s.ldap);
  throw new Error("the hub needs an authenticator: LDAP or an OAuth provider");
}

/** A JupyterHub service (c.JupyterHub.services), its role, and why it is there. */
interface HubService {
  name: string;
  comment: string;
  role: { name: string; scopes: string[] };
  /** The service's other dict entries as Python source (`"key": value`): the values are expressions. */
  entries: string[];
}

/**
 * The hub's services: the idle culler (jupyterhub-idle-culler ships in the hub image; the hub runs
 * it) and the metrics scraper (an external service: GMP's collector with its token). Each gets a
 * role of exactly the scopes it uses.
 */
function hubServiceLines(s: HubSettings): string[] {
  const services: HubService[] = [];
  if (s.cullIdleSeconds > 0) {
    services.push({
      comment: "Idle culling: jupyterhub-idle-culler ships in the hub image.",
      name: "idle-culler",
      role: { name: "idle-culler", scopes: ["list:users", "read:users:activity", "read:servers", "delete:servers"] },
      entries: [`"command": [sys.executable, "-m", "jupyterhub_idle_culler", ${cullerArgs(s).map(py).join(", ")}]`],
    });
  }
  if (s.metricsScraper) {
    const m = s.metricsScraper;
    services.push({
      comment:
        "Metrics: /hub/metrics needs the read:metrics scope (authenticate_prometheus stays on); the scraper's " +
        "token comes from the environment (a Secret the collector may read), never from this file.",
      name: m.serviceName,
      role: { name: "metrics-scraper", scopes: ["read:metrics"] },
      entries: [`"api_token": os.environ[${py(m.tokenEnv)}]`],
    });
  }
  if (services.length === 0) return [];
  return [
    "",
    ...services.map((x) => `# ${x.comment}`),
    `c.JupyterHub.load_roles = ${py(services.map((x) => ({ ...x.role, services: [x.name] })))}`,
    "c.JupyterHub.services = [",
    ...services.flatMap((x, i) => [
      "    {",
      ...[`"name": ${py(x.name)}`, ...x.entries].map((e) => `        ${e},`),
      i < services.length - 1 ? "    }," : "    }",
    ]),
    "]",
  ];
}

/**
 * Generates jupyterhub_config.py. Pure and deterministic: the same settings give the same text,
 * so a changed text means a changed ConfigMap and a rolled hub.
 */
export function renderHubConfig(s: HubSettings): string {
  const lines: string[] = [
    "# Generated by jupyterhub-nfs (components/jupyterhub/hubConfig.ts). Do not edit: change the stack config.",
    "# Secrets are not in this file: JupyterHub reads JPY_COOKIE_SECRET and CONFIGPROXY_AUTH_TOKEN",
    "# from the environment, which the hub Deployment fills from a Kubernetes Secret.",
    "import os",
    "import ssl",
    "import sys",
    "",
    "c = get_config()  # noqa: F821",
    "",
    "# Hub: listens for the proxy and the user pods; its database lives on its own claim.",
    'c.JupyterHub.hub_ip = "0.0.0.0"',
    "c.JupyterHub.hub_port = 8081",
    `c.JupyterHub.hub_connect_url = ${py(s.hubConnectUrl)}`,
    `c.JupyterHub.db_url = ${py("sqlite:///" + s.databasePath)}`,
    "# The proxy runs as its own Deployment: keep user servers running when the hub restarts.",
    "c.JupyterHub.cleanup_servers = False",
    "c.ConfigurableHTTPProxy.should_start = False",
    `c.ConfigurableHTTPProxy.api_url = ${py(s.proxyApiUrl)}`,
    "# A proxy that restarts (an upgrade, a new node) comes back with no routes: users reach only the",
    "# hub until the hub's next route check, which runs with its activity poll every",
    "# last_activity_interval (JupyterHub's default 300 s, z2jh's 60 s). 30 s bounds that outage; each",
    "# check is one GET of the route table and one database commit. The same poll carries the activity",
    "# the culler judges servers by, so a busy user is never culled for a stale last_activity.",
    "c.JupyterHub.last_activity_interval = 30",
    ...spawnLimitLines(s),
    ...(s.publicUrl !== undefined
      ? [
          "# Served over HTTPS by a TLS-terminating load balancer: JupyterHub takes the scheme from here",
          "# (not from forwarded headers) and marks its cookies Secure.",
          `c.JupyterHub.public_url = ${py(s.publicUrl)}`,
        ]
      : []),
    "",
    ...authenticatorLines(s),
  ];
  lines.push(
    "# JupyterHub 5 lets nobody in unless one of allowed_users, allowed_groups or allow_all is set.",
    `c.Authenticator.allowed_users = ${pySet(s.allowedUsers)}`,
    `c.Authenticator.allow_all = ${py(s.allowAllUsers)}`,
    "# JupyterHub 5 defaults this to True whenever allowed_users is set: everyone already in the hub's",
    "# database would keep logging in after being removed from allowedUsers. Access is what the config says.",
    "c.Authenticator.allow_existing_users = False",
    `c.Authenticator.admin_users = ${pySet(s.adminUsers)}`,
    // OAuthenticator's manage_groups makes the groups claim the user's hub groups itself.
    ...(s.oauth ? [] : profileGroupLines(s.singleuser.profiles)),
    "",
    ...namedServerLines(s.namedServersPerUser),
    "",
    ...userServerConfigLines(s.namespace, s.singleuser),
  );
  lines.push(...hubServiceLines(s));
  lines.push(...hubExtraConfigLines(s.extraConfig ?? []));
  return lines.join("\n") + "\n";
}
