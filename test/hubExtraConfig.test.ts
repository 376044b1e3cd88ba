import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, it } from "node:test";
import { hubAppSections, protectedSettings } from "../components/jupyterhub/hubExtraConfig";
import { StackConfigError } from "../stacks";
import { loadHubConfig } from "./support/hubConfigPython";
import { hubPodOf } from "./support/hubPod";
import { pythonEnvBin } from "./support/pythonEnv";
import { rendered } from "./support/rendered";
import { validate } from "./support/validate";

/**
 * hubExtraConfig: named Python snippets the hub runs after our jupyterhub_config.py, in name order,
 * and the guard that stops the hub when one changes a setting the stack's config decides. Every
 * config here is loaded by traitlets' PyFileConfigLoader in the hub venv, as JupyterHub loads it.
 */

const snippets = (...s: { name: string; python: string }[]) => `hubExtraConfig=${JSON.stringify(s)}`;

/** The rendered dev config with these snippets, loaded as the hub loads it. */
async function load(...s: { name: string; python: string }[]) {
  const hub = hubPodOf(await rendered("dev", [snippets(...s)]));
  return loadHubConfig(hub.configText, hub.env, hub.configFiles);
}

describe("hubExtraConfig snippets run after our config, in name order", () => {
  it("each is a file of the hub's ConfigMap; the later name wins, whatever the list's order", async () => {
    const hub = hubPodOf(
      await rendered("dev", [
        snippets(
          { name: "20-second", python: "c.JupyterHub.template_vars = {'announcement': 'second'}\n" },
          {
            name: "10-first",
            python: "c.JupyterHub.template_vars = {'announcement': 'first'}\nc.JupyterHub.shutdown_on_logout = True\n",
          },
        ),
      ]),
    );
    assert.deepEqual(Object.keys(hub.configFiles).sort(), [
      "extra-config-10-first.py",
      "extra-config-20-second.py",
      "jupyterhub_config.py",
    ]);
    const loaded = loadHubConfig(hub.configText, hub.env, hub.configFiles);
    assert.ok(loaded.ok, loaded.ok ? "" : loaded.error);
    assert.deepEqual(loaded.config.JupyterHub.template_vars, { announcement: "second" });
    assert.equal(loaded.config.JupyterHub.shutdown_on_logout, true);
  });

  it("they share one namespace of their own: a helper from one is there in the next, ours is not", async () => {
    const loaded = await load(
      { name: "10-helper", python: "def motd(text):\n    return {'announcement': text}\n" },
      {
        name: "20-use",
        python: "c.JupyterHub.template_vars = motd('from a helper')\nassert '_run_extra_config' not in globals()\n",
      },
    );
    assert.ok(loaded.ok, loaded.ok ? "" : loaded.error);
    assert.deepEqual(loaded.config.JupyterHub.template_vars, { announcement: "from a helper" });
  });

  it("a snippet that does not run (a syntax error) stops the hub, naming its file", async () => {
    const loaded = await load({ name: "30-broken", python: "c.JupyterHub.template_vars = {\n" });
    assert.equal(loaded.ok, false);
    assert.match(loaded.ok ? "" : loaded.error, /extra-config-30-broken\.py[\s\S]*SyntaxError/);
  });

  it("without snippets, the config runs none and has no guard", async () => {
    const hub = hubPodOf(await rendered("dev", []));
    assert.deepEqual(Object.keys(hub.configFiles), ["jupyterhub_config.py"]);
    assert.ok(!hub.configText.includes("hubExtraConfig"));
  });
});

describe("a snippet that changes a protected setting stops the hub at start-up, however it changes it", () => {
  // Each changes a setting without naming it in plain sight: the program's own check cannot see
  // these, only Python can. [what, python, the setting the error must name]
  const cases: [string, string, string][] = [
    [
      "setattr with a computed name",
      "setattr(c.Authenticator, 'allow_existing_' + 'users', True)",
      "c.Authenticator.allow_existing_users",
    ],
    [
      "a base class's section (Configurable)",
      "setattr(c.Configurable, 'allow_' + 'all', True)",
      "c.Configurable.allow_all",
    ],
    [
      "nested under the hub's own section, where the authenticator's parent reads it",
      "import ssl\nsetattr(c.JupyterHub.LDAPAuthenticator, 'tls_' + 'kwargs', {'validate': ssl.CERT_NONE})",
      "c.JupyterHub.LDAPAuthenticator.tls_kwargs",
    ],
    [
      "a list changed in place",
      "getattr(c.KubeSpawner, 'vol' + 'umes').append({'name': 'x', 'emptyDir': {}})",
      "c.KubeSpawner.volumes",
    ],
    ["a whole section replaced", "setattr(c, 'Kube' + 'Spawner', type(c)())", "c.KubeSpawner.uid"],
    ["a section removed", "delattr(c, 'LDAP' + 'Authenticator')", "c.LDAPAuthenticator.tls_strategy"],
    [
      "a pod setting we never set",
      "setattr(c.KubeSpawner, 'extra_' + 'pod_config', {'hostNetwork': True})",
      "c.KubeSpawner.extra_pod_config",
    ],
  ];
  for (const [what, python, setting] of cases) {
    it(what, async () => {
      const loaded = await load(
        { name: "10-fine", python: "c.JupyterHub.template_vars = {}\n" },
        { name: "20-sneaky", python: `${python}\n` },
      );
      assert.equal(loaded.ok, false, `loaded although 20-sneaky changes ${setting}`);
      const error = loaded.ok ? "" : loaded.error;
      assert.match(error, /ProtectedSettingChanged: hubExtraConfig snippet '20-sneaky' changes /);
      assert.ok(error.includes(setting), `the error names ${setting}:\n${error.split("\n").slice(-2).join("\n")}`);
    });
  }

  it("the class sections the guard watches are those traitlets reads, in the hub image (the classes' MROs)", () => {
    const classes: Record<string, string> = {
      "jupyterhub.app.JupyterHub": "authenticator_class",
      "ldapauthenticator.LDAPAuthenticator": "tls_kwargs",
      "kubespawner.KubeSpawner": "uid",
      "oauthenticator.generic.GenericOAuthenticator": "auth_state_groups_key",
      "oauthenticator.github.GitHubOAuthenticator": "allowed_organizations",
      "oauthenticator.google.GoogleOAuthenticator": "hosted_domain",
    };
    const code = [
      "import importlib, json, sys",
      "from traitlets.config import Configurable",
      "out = {}",
      "for path in json.loads(sys.argv[1]):",
      "    module, _, name = path.rpartition('.')",
      "    cls = getattr(importlib.import_module(module), name)",
      "    out[path] = [k.__name__ for k in cls.__mro__ if isinstance(k, type) and issubclass(k, Configurable)]",
      "print(json.dumps(out))",
    ].join("\n");
    const out = spawnSync(
      path.join(pythonEnvBin("hub"), "python"),
      ["-I", "-c", code, JSON.stringify(Object.keys(classes))],
      {
        encoding: "utf8",
        env: { PATH: "/usr/bin:/bin", LANG: "C.UTF-8" },
      },
    );
    assert.equal(out.status, 0, out.stderr);
    const mros = JSON.parse(out.stdout) as Record<string, string[]>;
    for (const [cls, key] of Object.entries(classes)) {
      const group = protectedSettings.find((p) => p.keys.includes(key) && p.sections[0] === cls.split(".").pop());
      assert.deepEqual(group?.sections, mros[cls], cls);
    }
    assert.deepEqual(hubAppSections, mros["jupyterhub.app.JupyterHub"]);
  });
});

describe("the program refuses what it can see before deploying", () => {
  /** The problems of a dev stack with one snippet. */
  function problems(python: string): { key: string; message: string }[] {
    try {
      validate("dev", [snippets({ name: "50-x", python })]);
    } catch (err) {
      assert.ok(err instanceof StackConfigError, String(err));
      return [...err.problems];
    }
    return [];
  }

  const refused: [string, string][] = [
    ["c.Authenticator.allow_existing_users = True", "allow_existing_users"],
    ["c.LDAPAuthenticator.tls_kwargs = {}", "tls_kwargs"],
    ["c.LDAPAuthenticator.tls_strategy='insecure'", "tls_strategy"],
    ["c.KubeSpawner.volumes.append({})", "volumes"],
    ["c.KubeSpawner.environment['X'] = '1'", "environment"],
    ["c.KubeSpawner.uid += 0", "uid"],
    ['c["KubeSpawner"]["privileged"] = True', "privileged"],
    ['setattr(c.KubeSpawner, "service_account", "default")', "service_account"],
  ];
  for (const [python, key] of refused) {
    it(`${python}: refused, naming ${key}`, () => {
      const found = problems(python);
      assert.deepEqual(
        found.map((p) => p.key),
        ["hubExtraConfig[0][python]"],
      );
      assert.match(found[0].message, new RegExp(`changes ${key}, one of the settings the stack's config decides`));
    });
  }

  it("reading a protected setting is fine (a hook that looks at the spawner's namespace)", () => {
    assert.deepEqual(
      problems("def hook(spawner):\n    spawner.log.info(spawner.namespace)\nc.Spawner.pre_spawn_hook = hook\n"),
      [],
    );
  });

  it("a snippet holding a credential is refused, and the error does not repeat it", () => {
    const secret = "c.JupyterHub.extra_password = 'Tr0ub4dor&3-horse'\n";
    const found = problems(secret);
    assert.deepEqual(
      found.map((p) => p.key),
      ["hubExtraConfig[0][python]"],
    );
    assert.match(found[0].message, /lands in a ConfigMap|land in a ConfigMap/);
    assert.ok(!found[0].message.includes("Tr0ub4dor"), found[0].message);
  });

  it("names: unique, and safe as a file name", () => {
    const bad = (name: string) => {
      try {
        validate("dev", [snippets({ name, python: "pass" }, { name: "ok", python: "pass" })]);
      } catch (err) {
        return (err as StackConfigError).problems.map((p) => p.key);
      }
      return [];
    };
    for (const name of ["../x", "Upper", "a b", "", "-x"])
      assert.deepEqual(bad(name), ["hubExtraConfig[0][name]"], name);
    assert.deepEqual(bad("ok"), ["hubExtraConfig[1][name]"]);
  });
});
