import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { renderHubConfig, type HubSettings, type LdapSettings } from "../components/jupyterhub/hubConfig";
import type { UserProfile } from "../components/jupyterhub/profiles";
import { py } from "../components/jupyterhub/pythonLiteral";
import { images } from "../versions/images";

const base: HubSettings & { ldap: LdapSettings } = {
  namespace: "jupyterhub",
  hubConnectUrl: "http://hub.jupyterhub.svc:8081",
  proxyApiUrl: "http://proxy-api.jupyterhub.svc:8001",
  databasePath: "/srv/jupyterhub/jupyterhub.sqlite",
  ldap: {
    serverAddress: "ldap.example.org",
    serverPort: 636,
    tlsStrategy: "on_connect",
    tlsVerify: true,
    bindDnTemplates: ["uid={username},ou=people,dc=example,dc=org"],
    allowedGroups: [],
  },
  allowedUsers: ["alice", "bob"],
  allowAllUsers: false,
  adminUsers: ["alice"],
  singleuser: {
    image: images.singleuser.reference,
    uid: 1000,
    gid: 100,
    cpuLimit: 0.5,
    memoryLimitBytes: 2147483648,
    cpuGuarantee: 0.1,
    memoryGuaranteeBytes: 1073741824,
    notebooksClaim: "notebooks",
    notebooksDir: "notebooks",
    mountPath: "/home/jovyan",
    folders: { sharedFolder: false, adminAllUsersFolder: false },
    defaultUrl: "/lab",
    startTimeoutSeconds: 300,
    httpTimeoutSeconds: 30,
    profiles: [],
  },
  namedServersPerUser: 0,
  cullIdleSeconds: 3600,
  cullMaxAgeSeconds: 0,
  cullConcurrency: 10,
  concurrentSpawnLimit: 100,
  activeServerLimit: 0,
};

function lines(text: string): string[] {
  return text.split("\n");
}

describe("renderHubConfig", () => {
  it("LDAP with a bind DN template", () => {
    const text = renderHubConfig(base);
    const expected = [
      'c.JupyterHub.authenticator_class = "ldap"',
      'c.LDAPAuthenticator.server_address = "ldap.example.org"',
      "c.LDAPAuthenticator.server_port = 636",
      'c.LDAPAuthenticator.tls_strategy = "on_connect"',
      'c.LDAPAuthenticator.bind_dn_template = ["uid={username},ou=people,dc=example,dc=org"]',
      'c.Authenticator.allowed_users = {"alice", "bob"}',
      "c.Authenticator.allow_all = False",
      "c.Authenticator.allow_existing_users = False",
      'c.Authenticator.admin_users = {"alice"}',
    ];
    for (const line of expected) assert.ok(lines(text).includes(line), `missing: ${line}\n---\n${text}`);
    assert.ok(!text.includes("lookup_dn"), "no lookup settings with a template");
    assert.ok(!text.includes("LDAPAuthenticator.allowed_groups"), "no group filter unless asked");
  });

  it("LDAP with a DN lookup and a search user whose password comes from the environment", () => {
    const text = renderHubConfig({
      ...base,
      ldap: {
        ...base.ldap,
        bindDnTemplates: [],
        lookupDn: {
          userSearchBase: "ou=people,dc=example,dc=org",
          userAttribute: "sAMAccountName",
          searchUser: "cn=reader,dc=example,dc=org",
          searchPasswordEnv: "LDAP_LOOKUP_DN_SEARCH_PASSWORD",
        },
      },
    });
    const expected = [
      "c.LDAPAuthenticator.lookup_dn = True",
      'c.LDAPAuthenticator.user_search_base = "ou=people,dc=example,dc=org"',
      'c.LDAPAuthenticator.user_attribute = "sAMAccountName"',
      'c.LDAPAuthenticator.lookup_dn_user_dn_attribute = "sAMAccountName"',
      'c.LDAPAuthenticator.lookup_dn_search_user = "cn=reader,dc=example,dc=org"',
      'c.LDAPAuthenticator.lookup_dn_search_password = os.environ["LDAP_LOOKUP_DN_SEARCH_PASSWORD"]',
    ];
    for (const line of expected) assert.ok(lines(text).includes(line), `missing: ${line}`);
    assert.ok(!text.includes("bind_dn_template"));
  });

  it("LDAP with allowed groups", () => {
    const text = renderHubConfig({
      ...base,
      allowedUsers: [],
      ldap: { ...base.ldap, allowedGroups: ["cn=jupyter,ou=groups,dc=example,dc=org"] },
    });
    assert.ok(lines(text).includes('c.LDAPAuthenticator.allowed_groups = ["cn=jupyter,ou=groups,dc=example,dc=org"]'));
    assert.ok(lines(text).includes("c.Authenticator.allowed_users = set()"));
  });

  it("LDAP over TLS verifies the server's certificate against the system CA bundle by default", () => {
    for (const tlsStrategy of ["on_connect", "before_bind"] as const) {
      const text = renderHubConfig({ ...base, ldap: { ...base.ldap, tlsStrategy } });
      assert.ok(lines(text).includes("import ssl"));
      assert.ok(lines(text).includes('c.LDAPAuthenticator.tls_kwargs = {"validate": ssl.CERT_REQUIRED}'), text);
      assert.ok(!text.includes("CERT_NONE"));
    }
  });

  it("LDAP over TLS with a configured CA verifies against that file only", () => {
    const text = renderHubConfig({ ...base, ldap: { ...base.ldap, tlsCaFile: "/etc/jupyterhub-ldap-ca/ca.crt" } });
    assert.ok(
      lines(text).includes(
        'c.LDAPAuthenticator.tls_kwargs = {"validate": ssl.CERT_REQUIRED, "ca_certs_file": "/etc/jupyterhub-ldap-ca/ca.crt"}',
      ),
      text,
    );
  });

  it("skips verification only when told to, and says so in the file", () => {
    const text = renderHubConfig({ ...base, ldap: { ...base.ldap, tlsVerify: false } });
    assert.ok(lines(text).includes('c.LDAPAuthenticator.tls_kwargs = {"validate": ssl.CERT_NONE}'));
    assert.match(text, /# INSECURE \(ldapTlsInsecureSkipVerify\)/);
  });

  it("plain LDAP (tls_strategy insecure) sets no tls_kwargs", () => {
    const text = renderHubConfig({ ...base, ldap: { ...base.ldap, tlsStrategy: "insecure", tlsVerify: false } });
    assert.ok(lines(text).includes('c.LDAPAuthenticator.tls_strategy = "insecure"'));
    assert.ok(!text.includes("tls_kwargs"));
  });

  it("behind HTTPS, takes its scheme from the public URL (Secure cookies)", () => {
    assert.ok(!renderHubConfig(base).includes("public_url"));
    const text = renderHubConfig({ ...base, publicUrl: "https://hub.example.org/" });
    assert.ok(lines(text).includes('c.JupyterHub.public_url = "https://hub.example.org/"'));
  });

  it("never emits the deprecated use_ssl, and no secret", () => {
    const text = renderHubConfig(base);
    assert.ok(!text.includes("use_ssl"));
    assert.ok(!/cookie_secret\s*=|auth_token\s*=/.test(text), "secrets come from the environment");
  });

  it("mounts each user's folder at a fixed path and points notebook_dir there", () => {
    const text = renderHubConfig(base);
    assert.ok(
      lines(text).includes(
        'c.KubeSpawner.volume_mounts = [{"name": "notebooks", "mountPath": "/home/jovyan", "subPath": "notebooks/{username}"}]',
      ),
    );
    assert.ok(lines(text).includes('c.Spawner.notebook_dir = "/home/jovyan"'));
    assert.ok(lines(text).includes("c.KubeSpawner.delete_pvc = False"));
    assert.ok(lines(text).includes("c.KubeSpawner.storage_pvc_ensure = False"));
    // The hub's own single-user server: the image's CMD (`jupyter lab`) never answers the hub.
    assert.ok(lines(text).includes('c.KubeSpawner.cmd = ["jupyterhub-singleuser"]'));
    assert.ok(lines(text).includes("c.KubeSpawner.uid = 1000"));
    assert.ok(lines(text).includes("c.KubeSpawner.gid = 100"));
    assert.ok(lines(text).includes("c.KubeSpawner.mem_limit = 2147483648"));
    assert.ok(lines(text).includes("c.KubeSpawner.cpu_limit = 0.5"));
    // The init container makes the same (escaped) folder as the notebook user itself: no root, no
    // capability; with no course folders there is no mount point to make in it.
    const command = /"command": (\["sh", "-c", .*?, "make-notebook-dir", "\/srv\/notebooks\/\{username\}"\])/.exec(
      text,
    );
    assert.ok(command, "the init container's command");
    const [sh, dashC, script, name] = JSON.parse(command[1]) as string[];
    // Run here: the folder is 0750, or 0751 with mount points in it (the runtime, nobody on an
    // export that squashes root, must search it to reach them; the kernel lab shows both).
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "home-"));
    try {
      for (const [home, points, mode] of [
        ["plain", [], "750"],
        ["course", ["shared", "allusers"], "751"],
      ] as const) {
        const run = spawnSync(sh, [dashC, script, name, path.join(tmp, home), ...points], { encoding: "utf8" });
        assert.equal(run.status, 0, run.stderr);
        assert.equal((fs.statSync(path.join(tmp, home)).mode & 0o777).toString(8), mode, home);
        for (const p of points) assert.ok(fs.statSync(path.join(tmp, home, p)).isDirectory(), p);
      }
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    assert.match(
      text,
      /"securityContext": \{"runAsUser": 1000, "runAsGroup": 100, "runAsNonRoot": True, "allowPrivilegeEscalation": False, "capabilities": \{"drop": \["ALL"\]\}\}/,
    );
  });

  it("talks to the separate proxy and keeps user servers across hub restarts", () => {
    const text = renderHubConfig(base);
    assert.ok(lines(text).includes("c.ConfigurableHTTPProxy.should_start = False"));
    assert.ok(lines(text).includes('c.ConfigurableHTTPProxy.api_url = "http://proxy-api.jupyterhub.svc:8001"'));
    assert.ok(lines(text).includes("c.JupyterHub.cleanup_servers = False"));
    // Routes lost by a restarted proxy come back within this (the hub's route check rides on it).
    assert.ok(lines(text).includes("c.JupyterHub.last_activity_interval = 30"));
    assert.ok(lines(text).includes('c.JupyterHub.db_url = "sqlite:////srv/jupyterhub/jupyterhub.sqlite"'));
  });

  it("writes the spawn limits only when they are not JupyterHub's own defaults (an upgrade rolls no hub)", () => {
    assert.ok(!/concurrent_spawn_limit|active_server_limit/.test(renderHubConfig(base)));
    const text = lines(renderHubConfig({ ...base, concurrentSpawnLimit: 30, activeServerLimit: 500 }));
    assert.ok(text.includes("c.JupyterHub.concurrent_spawn_limit = 30"));
    assert.ok(text.includes("c.JupyterHub.active_server_limit = 500"));
    assert.ok(
      lines(renderHubConfig({ ...base, activeServerLimit: 0, concurrentSpawnLimit: 0 })).includes(
        "c.JupyterHub.concurrent_spawn_limit = 0",
      ),
    );
  });

  it("turns the idle culler on and off, with its age limit and concurrency", () => {
    assert.match(renderHubConfig(base), /"jupyterhub_idle_culler", "--timeout=3600", "--concurrency=10"\]/);
    assert.match(
      renderHubConfig({ ...base, cullMaxAgeSeconds: 28800, cullConcurrency: 2 }),
      /"jupyterhub_idle_culler", "--timeout=3600", "--max-age=28800", "--concurrency=2"\]/,
    );
    assert.ok(!renderHubConfig({ ...base, cullIdleSeconds: 0 }).includes("idle"));
  });

  it("allows named servers up to the limit, or none", () => {
    assert.ok(lines(renderHubConfig(base)).includes("c.JupyterHub.allow_named_servers = False"));
    assert.ok(!renderHubConfig(base).includes("named_server_limit_per_user"), "JupyterHub's 0 would mean no limit");
    const text = renderHubConfig({ ...base, namedServersPerUser: 2 });
    assert.ok(lines(text).includes("c.JupyterHub.allow_named_servers = True"));
    assert.ok(lines(text).includes("c.JupyterHub.named_server_limit_per_user = 2"));
  });

  it("sets the default URL and the spawn and HTTP timeouts", () => {
    const text = renderHubConfig({
      ...base,
      singleuser: { ...base.singleuser, defaultUrl: "/tree", startTimeoutSeconds: 900, httpTimeoutSeconds: 120 },
    });
    assert.ok(lines(text).includes('c.Spawner.default_url = "/tree"'));
    assert.ok(lines(text).includes("c.KubeSpawner.start_timeout = 900"));
    assert.ok(lines(text).includes("c.KubeSpawner.http_timeout = 120"));
  });

  it("profiles: profile_list a function of the user's groups; LDAP groups handed to the hub only when a profile has groups", () => {
    const open: UserProfile = {
      slug: "small",
      displayName: "Small",
      description: "",
      default: true,
      imageChoices: [],
      nodeSelector: {},
      tolerations: [],
      groups: [],
    };
    const withProfiles = (profiles: UserProfile[]) =>
      renderHubConfig({ ...base, singleuser: { ...base.singleuser, profiles } });
    assert.ok(!renderHubConfig(base).includes("profile_list"), "no profiles, no form");
    const openOnly = withProfiles([open]);
    assert.ok(lines(openOnly).includes("c.KubeSpawner.profile_list = _profiles_for"));
    assert.ok(!/^c\.Authenticator\.(manage_groups|post_auth_hook)/m.test(openOnly), "groups taken over with no use");
    const restricted = withProfiles([
      open,
      { ...open, slug: "gpu", default: false, groups: ["cn=gpu,dc=example,dc=org"] },
    ]);
    assert.ok(lines(restricted).includes("c.Authenticator.manage_groups = True"));
    assert.ok(lines(restricted).includes("c.Authenticator.post_auth_hook = _ldap_groups_as_hub_groups"));
    // Each profile with the groups it is kept for (none: everyone).
    assert.match(restricted, /^ {4}\(\[\], \{"slug": "small", /m);
    assert.match(restricted, /^ {4}\(\["cn=gpu,dc=example,dc=org"\], \{"slug": "gpu", /m);
  });

  it("is deterministic", () => {
    assert.equal(renderHubConfig(base), renderHubConfig(structuredClone(base)));
  });
});

describe("py", () => {
  it("writes Python literals, escaping strings", () => {
    assert.equal(py({ a: [1, true, null, 'q"uote\\'] }), '{"a": [1, True, None, "q\\"uote\\\\"]}');
    assert.throws(() => py(Number.NaN));
  });
});
