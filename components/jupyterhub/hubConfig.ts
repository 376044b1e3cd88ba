/**
 * KubeSpawner 7 puts its `component_label` on every user pod as both `component` and
 * `app.kubernetes.io/component`; the NetworkPolicies select user pods by these labels, so the
 * config sets the label rather than trusting the default.
 */
export const userPodComponent = "singleuser-server";
export const userPodSelector: Record<string, string> = {
  component: userPodComponent,
  "app.kubernetes.io/component": userPodComponent,
};
/** The port the single-user server listens on (KubeSpawner's default, set explicitly for the same reason). */
export const userPodPort = 8888;

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
  ldap: LdapSettings;
  allowedUsers: string[];
  allowAllUsers: boolean;
  adminUsers: string[];
  singleuser: {
    image: string;
    uid: number;
    gid: number;
    /** CPU limit in cores. */
    cpuLimit: number;
    /** CPU request in cores: what the scheduler reserves for each user. */
    cpuGuarantee: number;
    /** Memory limit in bytes. */
    memoryLimitBytes: number;
    /** Memory request in bytes. */
    memoryGuaranteeBytes: number;
    /** Shared ReadWriteMany claim with everyone's notebooks. */
    notebooksClaim: string;
    /** Directory of the claim under which each user gets a folder. */
    notebooksDir: string;
    /** Fixed path where the user's folder is mounted; notebook_dir points here. */
    mountPath: string;
    /**
     * The NFS server's pod: user pods prefer other nodes. An NFS client on the server's own node
     * can deadlock under memory pressure (reclaim waits on writeback to a server that needs memory
     * to answer), and a loss of that node would take both down at once.
     */
    avoidNodeOf?: { namespace: string; podLabels: Record<string, string> };
  };
  /** Idle servers are stopped after this many seconds; 0 turns the culler off. */
  cullIdleSeconds: number;
}

/** A Python literal for a JSON-like value (strings are JSON-escaped, which Python accepts). */
export function py(value: unknown): string {
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new Error(`cannot write ${value} as a Python literal`);
    return String(value);
  }
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(py).join(", ")}]`;
  if (typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).map(([k, v]) => `${py(k)}: ${py(v)}`);
    return `{${entries.join(", ")}}`;
  }
  throw new Error(`cannot write a ${typeof value} as a Python literal`);
}

/** A Python set literal (an empty set is `set()`). */
function pySet(values: string[]): string {
  return values.length === 0 ? "set()" : `{${values.map(py).join(", ")}}`;
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
 * Generates jupyterhub_config.py. Pure and deterministic: the same settings give the same text,
 * so a changed text means a changed ConfigMap and a rolled hub.
 */
export function renderHubConfig(s: HubSettings): string {
  const u = s.singleuser;
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
    ...(s.publicUrl !== undefined
      ? [
          "# Served over HTTPS by a TLS-terminating load balancer: JupyterHub takes the scheme from here",
          "# (not from forwarded headers) and marks its cookies Secure.",
          `c.JupyterHub.public_url = ${py(s.publicUrl)}`,
        ]
      : []),
    "",
    "# Authentication: LDAPAuthenticator 2.",
    'c.JupyterHub.authenticator_class = "ldap"',
    `c.LDAPAuthenticator.server_address = ${py(s.ldap.serverAddress)}`,
    `c.LDAPAuthenticator.server_port = ${py(s.ldap.serverPort)}`,
    `c.LDAPAuthenticator.tls_strategy = ${py(s.ldap.tlsStrategy)}`,
    ...ldapTlsLines(s.ldap),
  ];
  if (s.ldap.lookupDn) {
    const l = s.ldap.lookupDn;
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
    lines.push(`c.LDAPAuthenticator.bind_dn_template = ${py(s.ldap.bindDnTemplates)}`);
  }
  if (s.ldap.allowedGroups.length > 0) {
    lines.push(`c.LDAPAuthenticator.allowed_groups = ${py(s.ldap.allowedGroups)}`);
  }
  lines.push(
    "# JupyterHub 5 lets nobody in unless one of allowed_users, allowed_groups or allow_all is set.",
    `c.Authenticator.allowed_users = ${pySet(s.allowedUsers)}`,
    `c.Authenticator.allow_all = ${py(s.allowAllUsers)}`,
    "# JupyterHub 5 defaults this to True whenever allowed_users is set: everyone already in the hub's",
    "# database would keep logging in after being removed from allowedUsers. Access is what the config says.",
    "c.Authenticator.allow_existing_users = False",
    `c.Authenticator.admin_users = ${pySet(s.adminUsers)}`,
    "",
    "# Spawner: one pod per user in this namespace.",
    'c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"',
    `c.KubeSpawner.namespace = ${py(s.namespace)}`,
    `c.KubeSpawner.image = ${py(u.image)}`,
    "# The image's own CMD is `jupyter lab`, which ignores the hub (its JUPYTERHUB_* settings: the URL",
    "# to serve, the hub's auth) and listens on localhost at /: the hub waits for a server that never",
    "# answers. KubeSpawner passes this as the container's args (the image's ENTRYPOINT, tini, stays).",
    'c.KubeSpawner.cmd = ["jupyterhub-singleuser"]',
    `c.KubeSpawner.uid = ${py(u.uid)}`,
    `c.KubeSpawner.gid = ${py(u.gid)}`,
    `c.KubeSpawner.fs_gid = ${py(u.gid)}`,
    "# Guarantees are the pod's requests (what the scheduler reserves), limits its ceiling. With a",
    "# limit and no guarantee the API server would copy the limit into the request.",
    `c.KubeSpawner.cpu_limit = ${py(u.cpuLimit)}`,
    `c.KubeSpawner.cpu_guarantee = ${py(u.cpuGuarantee)}`,
    `c.KubeSpawner.mem_limit = ${py(u.memoryLimitBytes)}`,
    `c.KubeSpawner.mem_guarantee = ${py(u.memoryGuaranteeBytes)}`,
    "c.KubeSpawner.allow_privilege_escalation = False",
    `c.KubeSpawner.container_security_context = ${py({ capabilities: { drop: ["ALL"] }, runAsNonRoot: true })}`,
    "# User pods do not talk to the Kubernetes API.",
    "c.KubeSpawner.automount_service_account_token = False",
    "c.KubeSpawner.start_timeout = 300",
    "# The NetworkPolicies select user pods by this label and admit the hub and proxy on this port.",
    `c.KubeSpawner.component_label = ${py(userPodComponent)}`,
    `c.KubeSpawner.port = ${py(userPodPort)}`,
    "",
    "# Storage: everyone's notebooks are on one shared NFS claim; each user sees only their folder.",
    "# KubeSpawner expands {username} (escaped) in the subPath and the init container alike, and the",
    "# folder is mounted at a fixed path, so notebook_dir never depends on how the name is escaped.",
    "c.KubeSpawner.storage_pvc_ensure = False",
    "# The claim is shared: deleting a user must never delete it.",
    "c.KubeSpawner.delete_pvc = False",
    `c.KubeSpawner.volumes = ${py([{ name: "notebooks", persistentVolumeClaim: { claimName: u.notebooksClaim } }])}`,
    `c.KubeSpawner.volume_mounts = ${py([
      { name: "notebooks", mountPath: u.mountPath, subPath: `${u.notebooksDir}/{username}` },
    ])}`,
    "# The user's folder is made by the notebook user itself, so it works whether or not the export",
    "# squashes root (a squashed root may neither create nor chown there) and needs no root at all;",
    "# the NFS server makes the notebooks folder, owned by the notebook user (NfsServer ownedFolders).",
    "# The owner may chmod its own folder on any file system, also one that checks permissions on the",
    "# client. Mode 0750: the read-only file browser reads through the users group; other users' pods",
    "# never mount it. KubeSpawner expands {username} here as in the subPath.",
    `c.KubeSpawner.init_containers = ${py([
      {
        name: "make-notebook-dir",
        image: u.image,
        command: ["sh", "-c", `mkdir -p /srv/notebooks/{username} && chmod 0750 /srv/notebooks/{username}`],
        securityContext: {
          runAsUser: u.uid,
          runAsGroup: u.gid,
          runAsNonRoot: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ["ALL"] },
        },
        volumeMounts: [{ name: "notebooks", mountPath: "/srv/notebooks", subPath: u.notebooksDir }],
      },
    ])}`,
    `c.Spawner.notebook_dir = ${py(u.mountPath)}`,
  );
  if (u.avoidNodeOf) {
    lines.push(
      "# Keep user pods off the NFS server's node when there is another: preferred, not required, so",
      "# a one-node cluster still schedules them.",
      `c.KubeSpawner.pod_anti_affinity_preferred = ${py([
        {
          weight: 100,
          podAffinityTerm: {
            labelSelector: { matchLabels: u.avoidNodeOf.podLabels },
            namespaces: [u.avoidNodeOf.namespace],
            topologyKey: "kubernetes.io/hostname",
          },
        },
      ])}`,
    );
  }
  if (s.cullIdleSeconds > 0) {
    lines.push(
      "",
      "# Idle culling: jupyterhub-idle-culler ships in the hub image.",
      `c.JupyterHub.load_roles = ${py([
        {
          name: "idle-culler",
          scopes: ["list:users", "read:users:activity", "read:servers", "delete:servers"],
          services: ["idle-culler"],
        },
      ])}`,
      "c.JupyterHub.services = [",
      "    {",
      '        "name": "idle-culler",',
      `        "command": [sys.executable, "-m", "jupyterhub_idle_culler", ${py(`--timeout=${s.cullIdleSeconds}`)}],`,
      "    }",
      "]",
    );
  }
  return lines.join("\n") + "\n";
}
