import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, test } from "node:test";
import type { Rendering } from "../../render";
import type { JsonObject } from "../../render/mocks";
import { loadHubConfig, pySet, unrecognisedHubOptions, type PyConfig, type PyValue } from "../support/hubConfigPython";
import { hubPodOf, secretFileAt, type HubPod } from "../support/hubPod";
import { pythonEnvBin } from "../support/pythonEnv";
import { configOf, renderVariation, variations } from "../support/variations";
import type { StackConfig } from "../../stacks";

const obj = (v: unknown): JsonObject =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? (v as JsonObject) : {};
const list = (v: unknown): JsonObject[] => (Array.isArray(v) ? (v as JsonObject[]) : []);
const nameOf = (m: JsonObject) => String(obj(m.metadata).name);
const namespaceOf = (m: JsonObject) => String(obj(m.metadata).namespace);

/** The rendered Service that a URL or host name `name.namespace.svc[:port]` points at, checked to offer `port`. */
function assertServiceAt(r: Rendering, host: string, port: number, what: string): void {
  const m = /^([a-z0-9-]+)\.([a-z0-9-]+)\.svc(?:\.cluster\.local)?$/.exec(host);
  assert.ok(m, `${what}: ${host} is not an in-cluster Service name`);
  const service = r.manifests.find((x) => x.kind === "Service" && nameOf(x) === m[1] && namespaceOf(x) === m[2]);
  assert.ok(service, `${what}: no Service ${m[2]}/${m[1]} is rendered`);
  const ports = list(obj(service.spec).ports).map((p) => Number(p.port));
  assert.ok(ports.includes(port), `${what}: Service ${m[2]}/${m[1]} offers ports ${ports.join(", ")}, not ${port}`);
}

function assertUrlOfService(r: Rendering, url: PyValue | undefined, what: string): void {
  assert.equal(typeof url, "string", `${what} is not set`);
  const u = new URL(String(url));
  assert.equal(u.protocol, "http:");
  assertServiceAt(r, u.hostname, Number(u.port), what);
}

/** Every key anywhere in the loaded config, as `Section.key.sub...`. */
function allKeys(value: PyValue, prefix = ""): string[] {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return [];
  return Object.entries(value).flatMap(([k, v]) => [`${prefix}${k}`, ...allKeys(v, `${prefix}${k}.`)]);
}

/** Python's ssl.VerifyMode values, as the loader prints them (IntEnum, so JSON numbers). */
const CERT_NONE = 0;
const CERT_REQUIRED = 2;

/**
 * LDAPAuthenticator hands `tls_kwargs` to ldap3's `Tls`, whose default is `validate=CERT_NONE`:
 * with TLS, verification must be asked for, against the system bundle or the mounted CA, and is off
 * only with ldapTlsInsecureSkipVerify.
 */
function assertLdapTlsVerified(tlsKwargs: PyValue | undefined, cfg: StackConfig, hub: HubPod): void {
  if (cfg.ldapTlsStrategy === "insecure") {
    assert.ok(cfg.ldapTlsInsecureSkipVerify, "plain LDAP to the organisation's server without the explicit key");
    assert.equal(tlsKwargs, undefined);
    return;
  }
  const kwargs = obj(tlsKwargs);
  if (cfg.ldapTlsInsecureSkipVerify) {
    assert.deepEqual(kwargs, { validate: CERT_NONE });
    return;
  }
  assert.equal(kwargs.validate, CERT_REQUIRED, `LDAP TLS is not verified: tls_kwargs = ${JSON.stringify(tlsKwargs)}`);
  if (cfg.ldapTlsCaCertificate === "") {
    assert.deepEqual(Object.keys(kwargs), ["validate"], "only the system CA bundle (ca_certs_file unset)");
    return;
  }
  // The CA file is a Secret mounted into the hub container, and holds exactly the configured PEM.
  const caFile = String(kwargs.ca_certs_file);
  assert.equal(secretFileAt(hub, caFile), cfg.ldapTlsCaCertificate, `the file at ${caFile}`);
  assert.ok(!hub.configText.includes("BEGIN CERTIFICATE"), "the CA is pasted into jupyterhub_config.py");
}

/** The culler of the hub image parses these options (with --help it then stops), or this fails. */
function assertCullerTakes(args: string[]): void {
  const out = spawnSync(
    path.join(pythonEnvBin("hub"), "python"),
    ["-I", "-m", "jupyterhub_idle_culler", ...args, "--help"],
    { encoding: "utf8", env: { PATH: "/usr/bin:/bin", LANG: "C.UTF-8" } },
  );
  assert.equal(
    out.status,
    0,
    `jupyterhub-idle-culler refuses ${args.join(" ")}:\n${out.stderr.trim().split("\n").at(-1)}`,
  );
}

describe("jupyterhub_config.py loaded by traitlets' PyFileConfigLoader (the hub image's Python packages)", () => {
  for (const v of variations()) {
    const cfg = configOf(v);
    test(v.name, async () => {
      const r = await renderVariation(v);
      const hub = hubPodOf(r);
      const loaded = loadHubConfig(hub.configText, hub.env, hub.configFiles);
      assert.ok(loaded.ok, `the config does not load:\n${loaded.ok ? "" : loaded.error}`);
      const c: PyConfig = loaded.config;
      const hubApp = c.JupyterHub ?? {};
      const ldap = c.LDAPAuthenticator ?? {};
      const spawner = c.KubeSpawner ?? {};

      // Authentication: LDAPAuthenticator 2.
      assert.equal(hubApp.authenticator_class, "ldap");
      assert.ok(!("use_ssl" in ldap), "use_ssl is deprecated and ignored by LDAPAuthenticator 2");
      if (cfg.ldapTestServer) {
        assert.equal(typeof ldap.server_address, "string");
        assertServiceAt(r, String(ldap.server_address), Number(ldap.server_port), "LDAP test server");
        assert.equal(ldap.tls_strategy, "insecure", "the in-cluster test server speaks plain LDAP");
        assert.ok(Array.isArray(ldap.bind_dn_template) && ldap.bind_dn_template.length === 1);
        assert.match(String(ldap.bind_dn_template[0]), /\{username\}/);
        assert.ok(!("tls_kwargs" in ldap), "tls_kwargs for a server without TLS");
      } else {
        assert.equal(ldap.server_address, cfg.ldapServer);
        assert.equal(ldap.server_port, cfg.ldapPort);
        assert.equal(ldap.tls_strategy, cfg.ldapTlsStrategy);
        assertLdapTlsVerified(ldap.tls_kwargs, cfg, hub);
      }
      if (cfg.ldapLookupDn) {
        assert.equal(ldap.lookup_dn, true);
        assert.equal(ldap.user_search_base, cfg.ldapUserSearchBase);
        assert.equal(ldap.user_attribute, cfg.ldapUserAttribute);
        assert.ok(!("bind_dn_template" in ldap), "bind_dn_template set although lookup_dn is on");
        if (cfg.ldapLookupDnSearchUser !== "") assert.equal(ldap.lookup_dn_search_user, cfg.ldapLookupDnSearchUser);
        else assert.ok(!("lookup_dn_search_user" in ldap), "anonymous search, yet a search user is set");
        if (cfg.ldapLookupDnSearchPassword !== "") {
          // Read from the environment, which Kubernetes fills from the Secret: never in the file.
          assert.equal(ldap.lookup_dn_search_password, cfg.ldapLookupDnSearchPassword);
          assert.ok(!hub.configText.includes(cfg.ldapLookupDnSearchPassword), "the search password is in the file");
          assert.match(hub.configText, /lookup_dn_search_password = os\.environ\[/);
          const envName = /lookup_dn_search_password = os\.environ\["([A-Z0-9_]+)"\]/.exec(hub.configText)?.[1];
          assert.ok(envName && hub.fromSecret.has(envName), `${envName} must come from a Secret`);
        } else {
          assert.ok(!("lookup_dn_search_password" in ldap));
        }
      } else if (!cfg.ldapTestServer) {
        assert.ok(!("lookup_dn" in ldap) || ldap.lookup_dn === false);
        assert.deepEqual(ldap.bind_dn_template, cfg.ldapBindDnTemplates);
      }
      if (cfg.allowedGroups.length > 0) assert.deepEqual(ldap.allowed_groups, cfg.allowedGroups);
      else assert.ok(!("allowed_groups" in ldap));
      const auth = c.Authenticator ?? {};
      assert.deepEqual(pySet(auth.allowed_users), [...cfg.allowedUsers].sort());
      assert.deepEqual(pySet(auth.admin_users), [...cfg.adminUsers].sort());
      assert.equal(auth.allow_all, cfg.allowAllUsers);
      // Removing a user from allowedUsers must revoke them (JupyterHub 5 defaults this to True).
      assert.equal(auth.allow_existing_users, false, "allow_existing_users is not set to False");

      // User pods carry the label the singleuser NetworkPolicy selects them by (KubeSpawner 7 sets
      // `component` and `app.kubernetes.io/component` from component_label) and listen where it admits.
      if (cfg.networkPolicies) {
        const policy = r.manifests.find(
          (m) => m.kind === "NetworkPolicy" && (m.metadata as { name?: string }).name === "singleuser",
        );
        assert.ok(policy, "no singleuser NetworkPolicy");
        const spec = policy.spec as {
          podSelector: { matchLabels: Record<string, string> };
          ingress: { ports: { port: number }[] }[];
        };
        assert.deepEqual(spec.podSelector.matchLabels, {
          component: spawner.component_label,
          "app.kubernetes.io/component": spawner.component_label,
        });
        assert.deepEqual(spec.ingress[0].ports, [{ protocol: "TCP", port: spawner.port }]);
      }

      // Spawner: the shared NFS claim, one subPath per user, the notebook user.
      assert.equal(hubApp.spawner_class, "kubespawner.KubeSpawner");
      assert.equal(spawner.namespace, cfg.namespace);
      // Ours first, then the stack's own (userVolumes), which userServerExtras.test.ts follows into the pod.
      assert.ok(Array.isArray(spawner.volumes), "no user volumes");
      assert.deepEqual(
        spawner.volumes.slice(1).map((x) => obj(x).name),
        cfg.userVolumes.map((x) => x.name),
      );
      const volume = obj(spawner.volumes[0]);
      const claimName = obj(volume.persistentVolumeClaim).claimName;
      const claim = r.manifests.find(
        (m) => m.kind === "PersistentVolumeClaim" && nameOf(m) === claimName && namespaceOf(m) === cfg.namespace,
      );
      assert.ok(claim, `user pods mount claim ${String(claimName)}, which is not rendered in ${cfg.namespace}`);
      assert.equal(obj(claim.spec).storageClassName, "", "the user claim must bind the static NFS volume");
      const pv = r.manifests.find((m) => m.kind === "PersistentVolume" && nameOf(m) === obj(claim.spec).volumeName);
      assert.ok(pv && obj(obj(pv.spec).nfs).server, "the user claim is not bound to the NFS PersistentVolume");
      // Every user's own folder, and with sharedFolder the shared one, read-only (admins' are made
      // read-write by the modify_pod_hook: test/userPods.test.ts builds the pods); then the stack's
      // own (userVolumes), which userServerExtras.test.ts follows into the pod.
      assert.ok(Array.isArray(spawner.volume_mounts));
      const own = cfg.sharedFolder ? 2 : 1;
      assert.deepEqual(
        spawner.volume_mounts
          .slice(0, own)
          .map(obj)
          .map((m) => [m.name, m.subPath, m.readOnly ?? false]),
        [[volume.name, "notebooks/{username}", false], ...(cfg.sharedFolder ? [[volume.name, "shared", true]] : [])],
      );
      assert.deepEqual(
        spawner.volume_mounts.slice(own).map((x) => obj(x).mountPath),
        cfg.userVolumes.map((x) => x.mountPath),
      );
      const mount = obj(spawner.volume_mounts[0]);
      assert.match(String(obj(spawner.modify_pod_hook).$repr), /^<function course_folders /);
      assert.equal(c.Spawner?.default_url, cfg.userDefaultUrl);
      assert.equal(spawner.start_timeout, cfg.userStartTimeoutSeconds);
      assert.equal(spawner.http_timeout, cfg.userHttpTimeoutSeconds);
      assert.equal(hubApp.allow_named_servers, cfg.namedServersPerUser > 0);
      assert.equal(
        hubApp.named_server_limit_per_user,
        cfg.namedServersPerUser > 0 ? cfg.namedServersPerUser : undefined,
      );
      // The spawn limits as JupyterHub holds them (its defaults, 100 and 0, when the stack keeps ours).
      assert.equal(hubApp.concurrent_spawn_limit ?? 100, cfg.concurrentSpawnLimit);
      assert.equal(hubApp.active_server_limit ?? 0, cfg.activeServerLimit);
      assert.deepEqual(hub.container.resources, {
        requests: { cpu: cfg.hubCpuGuarantee, memory: cfg.hubMemoryGuarantee },
        limits: { memory: cfg.hubMemoryLimit },
      });
      assert.equal(c.Spawner?.notebook_dir, mount.mountPath, "notebook_dir must be the fixed mount path");
      assert.equal(spawner.uid, 1000);
      assert.equal(spawner.gid, 100);
      assert.equal(spawner.delete_pvc, false);
      assert.equal(spawner.storage_pvc_ensure, false);

      // Proxy: its own Deployment, reached through the proxy-api Service; the hub through its Service.
      assert.equal(c.ConfigurableHTTPProxy?.should_start, false);
      assertUrlOfService(r, c.ConfigurableHTTPProxy?.api_url, "ConfigurableHTTPProxy.api_url");
      assertUrlOfService(r, hubApp.hub_connect_url, "JupyterHub.hub_connect_url");

      // Exposed over HTTPS: JupyterHub builds its URLs (and Secure cookies) from the public URL.
      if (cfg.hubDomain !== "") assert.equal(hubApp.public_url, `https://${cfg.hubDomain}/`);
      else assert.ok(!("public_url" in hubApp), "public_url without hubDomain");

      // The database lives on the hub's own claim.
      const dbPath = /^sqlite:\/\/\/(\/.+)$/.exec(String(hubApp.db_url))?.[1];
      assert.ok(dbPath, `db_url ${String(hubApp.db_url)} is not an absolute sqlite path`);
      const dbMount = list(hub.container.volumeMounts).find((vm) => dbPath.startsWith(`${String(vm.mountPath)}/`));
      const dbVolume = hub.volumes.find((vol) => vol.name === dbMount?.name);
      assert.ok(dbVolume?.persistentVolumeClaim, `the database ${dbPath} is not on a claim mounted in the hub`);

      // Idle culler as a hub service, only when asked for.
      if (cfg.cullIdleSeconds > 0) {
        const services = Array.isArray(hubApp.services) ? hubApp.services.map(obj) : [];
        const culler = services.find((s) => s.name === "idle-culler");
        assert.ok(culler, "no idle-culler service");
        assert.deepEqual(list(culler.command).slice(1), [
          "-m",
          "jupyterhub_idle_culler",
          `--timeout=${cfg.cullIdleSeconds}`,
          ...(cfg.cullMaxAgeSeconds > 0 ? [`--max-age=${cfg.cullMaxAgeSeconds}`] : []),
          `--concurrency=${cfg.cullConcurrency}`,
        ]);
        assertCullerTakes(list(culler.command).slice(3).map(String));
      } else {
        assert.ok(!("services" in hubApp), "a culler is configured although cullIdleSeconds is 0");
      }

      // Secrets come from the environment (a Kubernetes Secret), never from the file.
      assert.ok(hub.fromSecret.has("JPY_COOKIE_SECRET"), "JPY_COOKIE_SECRET must come from a Secret");
      assert.ok(hub.fromSecret.has("CONFIGPROXY_AUTH_TOKEN"), "CONFIGPROXY_AUTH_TOKEN must come from a Secret");
      const secretKeys = allKeys(c as PyValue).filter((k) => /cookie_secret|auth_token|api_token|password/.test(k));
      const allowed = cfg.ldapLookupDnSearchPassword !== "" ? ["LDAPAuthenticator.lookup_dn_search_password"] : [];
      assert.deepEqual(secretKeys, allowed, "secret-looking settings in jupyterhub_config.py");
      for (const value of hub.secretValues) {
        assert.ok(!hub.configText.includes(value), "a value of the hub's Secret appears in jupyterhub_config.py");
      }

      // The stack's environment, postStart and snippets, as the hub ends up with them.
      assert.deepEqual(
        Object.keys(obj(spawner.environment)),
        cfg.userEnvironment.map((e) => e.name),
      );
      if (cfg.userPostStart.length > 0) {
        assert.deepEqual(spawner.lifecycle_hooks, { postStart: { exec: { command: cfg.userPostStart } } });
      } else assert.ok(!("lifecycle_hooks" in spawner));
      assert.deepEqual(
        Object.keys(hub.configFiles).sort(),
        ["jupyterhub_config.py", ...cfg.hubExtraConfig.map((x) => `extra-config-${x.name}.py`)].sort(),
      );
    });
  }
});

test("every option of every variation's jupyterhub_config.py is one the hub image's classes have", async () => {
  const configs = await Promise.all(
    variations().map(async (v) => {
      const hub = hubPodOf(await renderVariation(v));
      return { name: v.name, configText: hub.configText, env: hub.env, siblings: hub.configFiles };
    }),
  );
  const found = unrecognisedHubOptions(configs);
  assert.deepEqual(found, Object.fromEntries(configs.map((c) => [c.name, []])));
});

describe("the traitlets check itself fails on a config JupyterHub could not load", () => {
  const stack = variations()[0];

  test("a Python syntax error in the rendered config", async () => {
    const hub = hubPodOf(await renderVariation(stack));
    const broken = hub.configText.replace(
      'c.JupyterHub.authenticator_class = "ldap"',
      'c.JupyterHub.authenticator_class = "ldap"(',
    );
    assert.notEqual(broken, hub.configText);
    const loaded = loadHubConfig(broken, hub.env);
    assert.equal(loaded.ok, false);
    assert.match(loaded.ok ? "" : loaded.error, /SyntaxError/);
  });

  test("an option no class of the hub image has: a misspelt key, a misspelt section", async () => {
    const hub = hubPodOf(await renderVariation(stack));
    const misspelt = {
      key: ["c.LDAPAuthenticator.server_address", "c.LDAPAuthenticator.server_adress"],
      section: ["c.KubeSpawner.volume_mounts", "c.KubeSpawnr.volume_mounts"],
    };
    const found = unrecognisedHubOptions(
      Object.entries(misspelt).map(([name, [from, to]]) => {
        assert.ok(hub.configText.includes(from), `${from} is in the rendered config`);
        return { name, configText: hub.configText.replace(from, to), env: hub.env };
      }),
    );
    assert.deepEqual(found, {
      key: ["c.LDAPAuthenticator.server_adress: LDAPAuthenticator has no option server_adress"],
      section: ["c.KubeSpawnr: no class of the hub is called KubeSpawnr"],
    });
  });

  test("an environment variable the pod does not get", () => {
    const loaded = loadHubConfig(
      'import os\nc = get_config()\nc.LDAPAuthenticator.lookup_dn_search_password = os.environ["NOT_SET"]\n',
    );
    assert.equal(loaded.ok, false);
    assert.match(loaded.ok ? "" : loaded.error, /KeyError: 'NOT_SET'/);
  });
});
