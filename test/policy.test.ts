import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import type { ResourceValidationPolicy } from "@pulumi/policy";
import Ajv from "ajv";
import { parse } from "yaml";
import {
  makeGceDiskRetained,
  makeLoadBalancersWhereAsked,
  makePolicies,
  nfsClaimBindsStatically,
  nfsServerComponent,
  shareFoldersComponent,
  noPrivilegedContainers,
  noSecretsInConfigMaps,
  noWildcardRoles,
  podsRunAsNonRoot,
  retainLabel,
} from "../policy/rules";
import { findSecretsInText } from "../policy/secretLike";
import { parseStackConfig, type StackConfig } from "../policy/stackConfig";
import { loadCliConfig } from "../render/stackConfig";
import { renderedUrn, runResourcePolicy, urnFor, violationsOf, type ResourceUnderTest } from "./support/policyHarness";
import { startPolicyPack, unknown, type RunningPack } from "./support/policyRunner";
import { renderVariation, variations, type Variation } from "./support/variations";

const repoRoot = path.resolve(__dirname, "..");
const noStackConfig: StackConfig = new Map();

/** A Deployment around a pod spec, at the top of the stack or inside a component. */
function deployment(podSpec: Record<string, unknown>, components: string[] = []): ResourceUnderTest {
  const type = "kubernetes:apps/v1:Deployment";
  return {
    type,
    name: "app",
    urn: urnFor("test", [...components, type], "app"),
    props: {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "app", namespace: "ns" },
      spec: { selector: { matchLabels: { app: "x" } }, template: { metadata: {}, spec: podSpec } },
    },
  };
}

const restricted = { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } };
const nonRootPod = { securityContext: { runAsNonRoot: true, runAsUser: 1000 } };

function container(securityContext?: Record<string, unknown>, name = "main") {
  return { name, image: "example/app:1", ...(securityContext ? { securityContext } : {}) };
}

function role(rules: Record<string, unknown>[], kind = "Role"): ResourceUnderTest {
  return {
    type: `kubernetes:rbac.authorization.k8s.io/v1:${kind}`,
    name: "r",
    props: { kind, metadata: { name: "r", namespace: kind === "Role" ? "ns" : undefined }, rules },
  };
}

function configMap(data: Record<string, string>, binaryData?: Record<string, string>): ResourceUnderTest {
  return {
    type: "kubernetes:core/v1:ConfigMap",
    name: "cm",
    props: {
      kind: "ConfigMap",
      metadata: { name: "cm", namespace: "ns" },
      data,
      ...(binaryData ? { binaryData } : {}),
    },
  };
}

function claim(spec: Record<string, unknown>): ResourceUnderTest {
  return {
    type: "kubernetes:core/v1:PersistentVolumeClaim",
    name: "c",
    props: { kind: "PersistentVolumeClaim", metadata: { name: "notebooks", namespace: "ns" }, spec },
  };
}

function service(name: string, type: string): ResourceUnderTest {
  return {
    type: "kubernetes:core/v1:Service",
    name: `svc-${name}`,
    props: { kind: "Service", metadata: { name, namespace: "hub" }, spec: { type, ports: [{ port: 80 }] } },
  };
}

function disk(labels?: Record<string, string>): ResourceUnderTest {
  return {
    type: "gcp:compute/disk:Disk",
    name: "notebook-disk-disk",
    props: { name: "notebooks", zone: "europe-west1-b", size: 10, ...(labels ? { labels } : {}) },
  };
}

const stackConfig = (values: Record<string, string>): StackConfig => parseStackConfig(JSON.stringify(values));

async function violations(policy: ResourceValidationPolicy, r: ResourceUnderTest, config: object = {}) {
  return runResourcePolicy(policy, r, config);
}

describe("policy pack: shape", () => {
  it("is a CrossGuard pack Pulumi can load from policy/ with the root's node_modules", () => {
    const meta = parse(fs.readFileSync(path.join(repoRoot, "policy", "PulumiPolicy.yaml"), "utf8")) as Record<
      string,
      unknown
    >;
    assert.equal(meta.runtime, "nodejs");
    // PolicyPack reads its version from the package.json in the directory Pulumi starts it in.
    const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, "policy", "package.json"), "utf8")) as Record<
      string,
      unknown
    >;
    assert.match(String(pkg.version), /^\d+\.\d+\.\d+/);
    assert.ok(fs.existsSync(path.join(repoRoot, "policy", String(pkg.main))), "package.json main exists");
    const root = JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8")) as {
      devDependencies?: Record<string, string>;
    };
    assert.ok(root.devDependencies?.["@pulumi/policy"], "@pulumi/policy is a root dev dependency");
  });

  it("has uniquely named, mandatory policies, thirteen of them", () => {
    const policies = makePolicies(noStackConfig);
    assert.equal(policies.length, 13);
    assert.equal(new Set(policies.map((p) => p.name)).size, policies.length);
    for (const p of policies) assert.equal(p.enforcementLevel, "mandatory", p.name);
  });

  it("ships an example --policy-pack-config that each policy's configSchema accepts, defaults included", () => {
    const example = JSON.parse(fs.readFileSync(path.join(repoRoot, "policy", "config.example.json"), "utf8")) as Record<
      string,
      object
    >;
    const policies = new Map(makePolicies(noStackConfig).map((p) => [p.name, p]));
    const ajv = new Ajv({ strict: false, useDefaults: true });
    for (const [name, config] of Object.entries(example)) {
      const schema = policies.get(name)?.configSchema;
      assert.ok(schema, `${name}: no such policy, or it takes no config`);
      const validate = ajv.compile({ type: "object", ...schema, additionalProperties: false });
      assert.ok(validate(config), `${name}: ${ajv.errorsText(validate.errors)}`);
      // The example shows every option, at its default.
      const defaults = Object.fromEntries(Object.entries(schema.properties).map(([k, v]) => [k, v.default]));
      assert.deepEqual(config, defaults, name);
    }
    const configurable = [...policies.values()].filter((p) => p.configSchema).map((p) => p.name);
    assert.deepEqual(Object.keys(example).sort(), configurable.sort());
  });

  it("reads the stack config from PULUMI_CONFIG, either key spelling", () => {
    const c = parseStackConfig(
      '{"jupyterhub-nfs:proxyServiceType":"LoadBalancer","jupyterhub-nfs:config:diskRetainOnDelete":"false"}',
    );
    assert.equal(c.get("jupyterhub-nfs:proxyServiceType"), "LoadBalancer");
    assert.equal(c.get("jupyterhub-nfs:diskRetainOnDelete"), "false");
    assert.equal(parseStackConfig(undefined).size, 0);
    assert.throws(() => parseStackConfig("[1]"), /not a JSON object/);
  });
});

describe("policy no-privileged-containers", () => {
  it("reports a privileged container, init container included", async () => {
    const msgs = await violations(
      noPrivilegedContainers,
      deployment({
        initContainers: [container({ privileged: true }, "setup")],
        containers: [container({ ...restricted, privileged: true })],
      }),
    );
    assert.equal(msgs.length, 2);
    assert.match(msgs[0], /ns\/app: initContainer 'setup' is privileged/);
    assert.match(msgs[1], /container 'main' is privileged/);
  });

  it("reports one in a CronJob and a bare Pod", async () => {
    const pod = { containers: [container({ privileged: true })] };
    const cron: ResourceUnderTest = {
      type: "kubernetes:batch/v1:CronJob",
      name: "cj",
      props: { spec: { jobTemplate: { spec: { template: { spec: pod } } } } },
    };
    assert.equal((await violations(noPrivilegedContainers, cron)).length, 1);
    const bare: ResourceUnderTest = { type: "kubernetes:core/v1:Pod", name: "p", props: { spec: pod } };
    assert.equal((await violations(noPrivilegedContainers, bare)).length, 1);
  });

  it("lets the NFS server's Deployment (inside the NfsServer component) be privileged, and only it", async () => {
    const nfs = deployment({ containers: [container({ privileged: true })] }, [nfsServerComponent]);
    assert.deepEqual(await violations(noPrivilegedContainers, nfs), []);
    assert.equal((await violations(noPrivilegedContainers, nfs, { exemptComponents: [] })).length, 1);
    const other = deployment({ containers: [container({ privileged: true })] }, ["jupyterhub-nfs:hub:JupyterHub"]);
    assert.equal((await violations(noPrivilegedContainers, other)).length, 1);
  });

  it("passes unprivileged containers and ignores non-workloads", async () => {
    assert.deepEqual(await violations(noPrivilegedContainers, deployment({ containers: [container(restricted)] })), []);
    assert.deepEqual(await violations(noPrivilegedContainers, service("x", "ClusterIP")), []);
  });
});

describe("policy pods-run-as-non-root", () => {
  it("passes a pod-level runAsNonRoot with escalation off in every container", async () => {
    const d = deployment({
      ...nonRootPod,
      containers: [container(restricted)],
      initContainers: [container(restricted, "i")],
    });
    assert.deepEqual(await violations(podsRunAsNonRoot, d), []);
  });

  it("passes a container-level non-zero runAsUser without runAsNonRoot", async () => {
    const d = deployment({ containers: [container({ ...restricted, runAsUser: 101 })] });
    assert.deepEqual(await violations(podsRunAsNonRoot, d), []);
  });

  it("reports a pod with no user settings at all", async () => {
    const msgs = await violations(podsRunAsNonRoot, deployment({ containers: [container(restricted)] }));
    assert.deepEqual(msgs.length, 1);
    assert.match(msgs[0], /may run as root/);
  });

  it("reports runAsUser 0 even with runAsNonRoot, and a container overriding the pod to root", async () => {
    const explicitRoot = deployment({
      securityContext: { runAsNonRoot: true },
      containers: [container({ ...restricted, runAsUser: 0 })],
    });
    assert.match((await violations(podsRunAsNonRoot, explicitRoot))[0], /runs as root \(runAsUser: 0\)/);
    const override = deployment({ ...nonRootPod, containers: [container({ ...restricted, runAsNonRoot: false })] });
    assert.match((await violations(podsRunAsNonRoot, override))[0], /runAsNonRoot: false/);
  });

  it("reports a container that leaves privilege escalation on (unset or true)", async () => {
    const unset = deployment({ ...nonRootPod, containers: [container({ capabilities: { drop: ["ALL"] } })] });
    assert.match((await violations(podsRunAsNonRoot, unset))[0], /allowPrivilegeEscalation: false/);
    const on = deployment({
      ...nonRootPod,
      initContainers: [container({ allowPrivilegeEscalation: true }, "init")],
      containers: [container(restricted)],
    });
    const msgs = await violations(podsRunAsNonRoot, on);
    assert.equal(msgs.length, 1);
    assert.match(msgs[0], /initContainer 'init' does not set allowPrivilegeEscalation/);
  });

  it("exempts the NFS server only", async () => {
    const rootNfs = deployment({ containers: [container({ privileged: true })] }, [nfsServerComponent]);
    assert.deepEqual(await violations(podsRunAsNonRoot, rootNfs), []);
    assert.ok((await violations(podsRunAsNonRoot, rootNfs, { exemptComponents: [] })).length >= 2);
  });

  it("lets the Filestore share's folder Job run as root, but not privileged", async () => {
    const rootJob = deployment({ containers: [container({ ...restricted, runAsUser: 0 })] }, [shareFoldersComponent]);
    assert.deepEqual(await violations(podsRunAsNonRoot, rootJob), []);
    assert.equal((await violations(podsRunAsNonRoot, rootJob, { exemptComponents: [] })).length, 1);
    const privileged = deployment({ containers: [container({ privileged: true })] }, [shareFoldersComponent]);
    assert.equal((await violations(noPrivilegedContainers, privileged)).length, 1);
  });
});

describe("policy no-wildcard-rbac", () => {
  const ok = { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch", "create", "delete"] };

  it("passes named verbs, resources and groups", async () => {
    assert.deepEqual(await violations(noWildcardRoles, role([ok])), []);
  });

  for (const [field, value] of [
    ["verbs", ["get", "*"]],
    ["resources", ["*"]],
    ["resources", ["pods/*"]],
    ["apiGroups", ["*"]],
  ] as const) {
    it(`reports ${JSON.stringify(value)} in ${field}, in a Role and a ClusterRole`, async () => {
      for (const kind of ["Role", "ClusterRole"]) {
        const msgs = await violations(noWildcardRoles, role([ok, { ...ok, [field]: value }], kind));
        assert.equal(msgs.length, 1, kind);
        assert.match(msgs[0], new RegExp(`${kind} .*rule 1 has a wildcard in ${field}`));
      }
    });
  }
});

describe("policy no-secrets-in-configmaps", () => {
  const jupyterhubConfig = [
    "# Secrets are not in this file: JupyterHub reads JPY_COOKIE_SECRET and CONFIGPROXY_AUTH_TOKEN",
    "# from the environment, which the hub Deployment fills from a Kubernetes Secret.",
    "import os",
    'c.JupyterHub.cookie_secret_file = "/srv/jupyterhub/jupyterhub_cookie_secret"',
    'c.ConfigurableHTTPProxy.auth_token = os.environ["CONFIGPROXY_AUTH_TOKEN"]',
    'c.LDAPAuthenticator.lookup_dn_search_password = os.environ["LDAP_SEARCH_PASSWORD"]',
    'c.LDAPAuthenticator.lookup_dn_search_password = os.environ.get("LDAP_SEARCH_PASSWORD", "")',
    "c.KubeSpawner.automount_service_account_token = False",
    'c.KubeSpawner.image = "quay.io/jupyterhub/k8s-singleuser-sample@sha256:' + "ab12".repeat(16) + '"',
    'c.KubeSpawner.environment = {"JUPYTERHUB_API_TOKEN_FILE": "/var/run/token"}',
    "secretName: hub-secret",
    "password_env = LDAP_PASSWORD",
    "token: ${HUB_TOKEN}",
    'c.LDAPAuthenticator.bind_dn_template = ["uid={username},ou=people,dc=example,dc=org"]',
  ].join("\n");

  it("passes configuration that names secrets without holding them", async () => {
    assert.deepEqual(findSecretsInText("jupyterhub_config.py", jupyterhubConfig), []);
    assert.deepEqual(
      await violations(noSecretsInConfigMaps, configMap({ "jupyterhub_config.py": jupyterhubConfig })),
      [],
    );
  });

  const randomHex = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
  const randomB64 = "q7Zk2XyP9LmN4vBt8RcW1sJf6HdG3aEu0TiOy5Qn";
  const leaks: Array<[string, Record<string, string>, RegExp]> = [
    [
      "a literal cookie secret",
      { "jupyterhub_config.py": `c.JupyterHub.cookie_secret = "${randomHex}"` },
      /literal value to 'c.JupyterHub.cookie_secret'/,
    ],
    [
      "a literal LDAP search password",
      { "jupyterhub_config.py": 'c.LDAPAuthenticator.lookup_dn_search_password = "hunter2hunter2"' },
      /lookup_dn_search_password/,
    ],
    ["a password in YAML", { "app.yaml": "db:\n  password: S3cretPassw0rd\n" }, /literal value to 'password'/],
    ["an env-file token", { ".env": `API_TOKEN=${randomB64}\n` }, /API_TOKEN/],
    ["a JSON api key", { "settings.json": '{"user":"bob","api_key":"abc123def456"}' }, /api_key/],
    ["a key named password", { password: "hunter22" }, /key names a credential/],
    [
      "a PEM private key",
      { "tls.key": "-----BEGIN RSA PRIVATE KEY-----\nMIIEow...\n-----END RSA PRIVATE KEY-----\n" },
      /PEM private key/,
    ],
    ["a random hex string with no telling name", { "notes.txt": `remember ${randomHex}` }, /random-looking/],
    ["a random base64 string with no telling name", { "x.conf": `value ${randomB64}` }, /random-looking/],
    [
      "an htpasswd line",
      { htpasswd: "alice:$2y$10$" + "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0" + "\n" },
      /bcrypt/,
    ],
    ["a URL with a password", { "db.conf": "url = postgres://hub:pa55word@db:5432/hub" }, /URL with a password/],
    ["a GitHub token", { "ci.conf": "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8" }, /GitHub token/],
  ];
  for (const [what, data, reason] of leaks) {
    it(`reports ${what}`, async () => {
      const msgs = await violations(noSecretsInConfigMaps, configMap(data));
      assert.ok(msgs.length > 0, `no violation for ${JSON.stringify(data)}`);
      assert.ok(
        msgs.some((m) => reason.test(m)),
        msgs.join("\n"),
      );
      for (const m of msgs)
        assert.ok(!m.includes("hunter2") && !m.includes(randomHex), "message must not echo the value");
    });
  }

  it("reports a credential in binaryData", async () => {
    const msgs = await violations(
      noSecretsInConfigMaps,
      configMap({}, { "creds.env": Buffer.from(`TOKEN=${randomB64}`).toString("base64") }),
    );
    assert.ok(msgs.some((m) => /'creds.env'/.test(m)));
  });
});

describe("policy nfs-claim-binds-statically", () => {
  it('passes the NFS claim: ReadWriteMany, volumeName and storageClassName ""', async () => {
    const c = claim({ accessModes: ["ReadWriteMany"], volumeName: "notebooks-pv", storageClassName: "" });
    assert.deepEqual(await violations(nfsClaimBindsStatically, c), []);
  });

  it("passes a dynamically provisioned ReadWriteOnce claim (the hub database)", async () => {
    assert.deepEqual(await violations(nfsClaimBindsStatically, claim({ accessModes: ["ReadWriteOnce"] })), []);
  });

  it("reports an unset or named storage class on the ReadWriteMany claim", async () => {
    const unset = await violations(
      nfsClaimBindsStatically,
      claim({ accessModes: ["ReadWriteMany"], volumeName: "pv" }),
    );
    assert.deepEqual(unset.length, 1);
    assert.match(unset[0], /storageClassName: "" \(it is unset\)/);
    const named = await violations(
      nfsClaimBindsStatically,
      claim({ accessModes: ["ReadWriteMany"], volumeName: "pv", storageClassName: "standard" }),
    );
    assert.match(named[0], /it is "standard"/);
  });

  it("passes a ReadWriteOnce claim bound by name to its volume's class (the GCE disk's), reports one with none", async () => {
    const own = claim({ accessModes: ["ReadWriteOnce"], volumeName: "pv", storageClassName: "notebooks-disk" });
    assert.deepEqual(await violations(nfsClaimBindsStatically, own), []);
    const unset = await violations(
      nfsClaimBindsStatically,
      claim({ accessModes: ["ReadWriteOnce"], volumeName: "pv" }),
    );
    assert.equal(unset.length, 1);
    assert.match(unset[0], /bound by volumeName but its storageClassName is unset/);
  });

  it("reports a ReadWriteMany claim that binds no named volume", async () => {
    const msgs = await violations(
      nfsClaimBindsStatically,
      claim({ accessModes: ["ReadWriteMany"], storageClassName: "" }),
    );
    assert.equal(msgs.length, 1);
    assert.match(msgs[0], /names no volumeName/);
  });
});

describe("policy gce-disk-retained-on-delete", () => {
  it("passes a disk labelled retain-on-delete=true", async () => {
    assert.deepEqual(await violations(makeGceDiskRetained(noStackConfig), disk({ [retainLabel]: "true" })), []);
  });

  it("reports a disk that is not retained when the stack did not opt out (config unset or true)", async () => {
    for (const stack of [noStackConfig, stackConfig({ "jupyterhub-nfs:diskRetainOnDelete": "true" })]) {
      for (const d of [disk({ [retainLabel]: "false" }), disk()]) {
        const msgs = await violations(makeGceDiskRetained(stack), d);
        assert.equal(msgs.length, 1);
        assert.match(msgs[0], /not retained on delete/);
      }
    }
  });

  it("holds a Filestore instance to the same, and to Filestore's own deletion protection", async () => {
    const instance = (labels: Record<string, string>, deletionProtectionEnabled: boolean): ResourceUnderTest => ({
      type: "gcp:filestore/instance:Instance",
      name: "notebook-filestore-instance",
      props: { name: "notebooks", location: "europe-west1-b", tier: "ZONAL", labels, deletionProtectionEnabled },
    });
    const policy = makeGceDiskRetained(noStackConfig);
    assert.deepEqual(await violations(policy, instance({ [retainLabel]: "true" }, true)), []);
    const msgs = await violations(policy, instance({ [retainLabel]: "false" }, false));
    assert.equal(msgs.length, 2);
    assert.match(msgs[0], /Filestore instance notebooks is not retained on delete/);
    assert.match(msgs[1], /not deletion-protected/);
    const optedOut = makeGceDiskRetained(stackConfig({ "jupyterhub-nfs:diskRetainOnDelete": "false" }));
    assert.deepEqual(await violations(optedOut, instance({ [retainLabel]: "false" }, false)), []);
  });

  it("lets a stack that set diskRetainOnDelete: false, or the pack's allowDiskDeletion, delete its disk", async () => {
    const optedOut = makeGceDiskRetained(stackConfig({ "jupyterhub-nfs:diskRetainOnDelete": "false" }));
    assert.deepEqual(await violations(optedOut, disk({ [retainLabel]: "false" })), []);
    const policy = makeGceDiskRetained(noStackConfig);
    assert.deepEqual(await violations(policy, disk({ [retainLabel]: "false" }), { allowDiskDeletion: true }), []);
  });
});

describe("policy load-balancers-only-where-asked", () => {
  it("reports a LoadBalancer the stack did not ask for", async () => {
    const msgs = await violations(makeLoadBalancersWhereAsked(noStackConfig), service("proxy-public", "LoadBalancer"));
    assert.equal(msgs.length, 1);
    assert.match(msgs[0], /hub\/proxy-public is a LoadBalancer, which the stack did not ask for \(.*: none\)/);
  });

  it("allows exactly the Services whose type the stack set to LoadBalancer", async () => {
    const policy = makeLoadBalancersWhereAsked(stackConfig({ "jupyterhub-nfs:proxyServiceType": "LoadBalancer" }));
    assert.deepEqual(await violations(policy, service("proxy-public", "LoadBalancer")), []);
    assert.equal((await violations(policy, service("file-browser", "LoadBalancer"))).length, 1);
    assert.equal((await violations(policy, service("hub", "LoadBalancer"))).length, 1);
    const both = makeLoadBalancersWhereAsked(
      stackConfig({
        "jupyterhub-nfs:proxyServiceType": "LoadBalancer",
        "jupyterhub-nfs:fileBrowserServiceType": "LoadBalancer",
      }),
    );
    assert.deepEqual(await violations(both, service("file-browser", "LoadBalancer")), []);
  });

  it("allows what the pack's config lists, by name or namespace/name", async () => {
    const policy = makeLoadBalancersWhereAsked(noStackConfig);
    assert.deepEqual(
      await violations(policy, service("grafana", "LoadBalancer"), { allowedServices: ["hub/grafana"] }),
      [],
    );
    assert.deepEqual(
      await violations(policy, service("grafana", "LoadBalancer"), { allowedServices: ["grafana"] }),
      [],
    );
    assert.equal(
      (await violations(policy, service("grafana", "LoadBalancer"), { allowedServices: ["other/grafana"] })).length,
      1,
    );
  });

  it("ignores ClusterIP and NodePort Services", async () => {
    const policy = makeLoadBalancersWhereAsked(noStackConfig);
    assert.deepEqual(await violations(policy, service("proxy-public", "ClusterIP")), []);
    assert.deepEqual(await violations(policy, service("proxy-public", "NodePort")), []);
  });
});

/** The stack files, the shared config variations, and a few that matter to these rules only. */
const renderedCases: Variation[] = [
  ...variations(),
  {
    name: "prod + disk deletable (diskRetainOnDelete=false, diskProtect=false)",
    stack: "prod",
    overrides: ["diskRetainOnDelete=false", "diskProtect=false"],
  },
  { name: "prod + retained but unprotected disk", stack: "prod", overrides: ["diskProtect=false"] },
  { name: "prod + both services LoadBalancer", stack: "prod", overrides: ["fileBrowserServiceType=LoadBalancer"] },
];

function stackConfigOf(v: Variation): StackConfig {
  return new Map(Object.entries(loadCliConfig(v.stack, v.overrides).values));
}

describe("policy pack on the program's rendered resources", () => {
  for (const v of renderedCases) {
    it(`${v.name}: no violation`, async () => {
      const rendering = await renderVariation(v);
      const found = await violationsOf(makePolicies(stackConfigOf(v)), v.stack, rendering);
      assert.deepEqual(found, [], found.map((f) => `${f.policy}: ${f.message}`).join("\n"));
    });
  }

  it("the GCE disk's (and Filestore instance's) retain-on-delete label is its actual retainOnDelete option, in every rendering", async () => {
    const kept = ["gcp:compute/disk:Disk", "gcp:filestore/instance:Instance"];
    let disks = 0;
    let instances = 0;
    for (const v of renderedCases) {
      for (const r of (await renderVariation(v)).resources.filter((x) => kept.includes(x.type))) {
        if (r.type === kept[0]) disks++;
        else instances++;
        const labels = (r.inputs.labels ?? {}) as Record<string, unknown>;
        assert.equal(labels[retainLabel], String(r.options.retainOnDelete), `${v.name}: ${r.name}`);
      }
    }
    assert.ok(disks >= 3, `only ${disks} GCE disks rendered`);
    assert.ok(instances >= 1, "no Filestore instance rendered");
  });

  it("would catch what the stack did not ask for: a public proxy under a stack config without it", async () => {
    const prod: Variation = {
      name: "prod with a LoadBalancer proxy",
      stack: "prod",
      overrides: ["hubDomain=", "proxyServiceType=LoadBalancer", "hubInsecureAllowPlainHttp=true"],
    };
    const config = new Map(stackConfigOf(prod));
    config.delete("jupyterhub-nfs:proxyServiceType");
    const found = await violationsOf(makePolicies(config), "prod", await renderVariation(prod));
    assert.deepEqual(
      found.map((f) => f.policy),
      ["load-balancers-only-where-asked"],
    );
    assert.match(found[0].urn, /jupyterhub-nfs:hub:Proxy\$kubernetes:core\/v1:Service::jupyterhub-proxy-public$/);
  });

  it("would catch the NFS server if it were not exempt", async () => {
    const prod: Variation = { name: "prod", stack: "prod", overrides: [] };
    const found = await violationsOf(makePolicies(stackConfigOf(prod)), "prod", await renderVariation(prod), {
      "no-privileged-containers": { exemptComponents: [] },
    });
    assert.deepEqual(
      found.map((f) => f.policy),
      ["no-privileged-containers"],
    );
    assert.match(found[0].message, /jupyterhub-nfs\/nfs-server: container 'nfs-server' is privileged/);
  });
});

describe("policy pack served by Pulumi's own runner (as `pulumi preview --policy-pack policy` starts it)", () => {
  const prod: Variation = { name: "prod", stack: "prod", overrides: [] };
  let pack: RunningPack;
  before(async () => {
    pack = await startPolicyPack(path.join(repoRoot, "policy"), loadCliConfig("prod", []).values);
  });
  after(() => pack?.stop());

  it("loads (ts-node, type-checked) and announces its mandatory policies", async () => {
    const info = await pack.info();
    assert.equal(info.name, "jupyterhub-nfs");
    const expected = makePolicies(noStackConfig).map((p) => p.name);
    assert.deepEqual(info.policies.map((p) => p.name).sort(), [...expected].sort());
    assert.ok(info.policies.every((p) => p.mandatory));
  });

  it("passes every resource of the rendered prod stack", async () => {
    const rendering = await renderVariation(prod);
    for (const r of rendering.resources) {
      const urn = renderedUrn("prod", r, rendering.resources);
      assert.deepEqual(await pack.analyze({ type: r.type, name: r.name, urn, props: r.inputs }), [], urn);
    }
  });

  it("reads prod's config from PULUMI_CONFIG: prod exposes neither the proxy nor the file browser", async () => {
    const svc = (name: string, type: string) => ({
      ...service(name, type),
      urn: urnFor("prod", ["kubernetes:core/v1:Service"], name),
    });
    assert.deepEqual(await pack.analyze(svc("proxy-public", "ClusterIP")), []);
    for (const name of ["proxy-public", "file-browser"]) {
      const found = await pack.analyze(svc(name, "LoadBalancer"));
      assert.ok(
        found.some((d) => d.policy === "load-balancers-only-where-asked" && d.mandatory),
        `${name}: ${JSON.stringify(found)}`,
      );
    }
  });

  it("runs the stack policies over the rendered prod stack: it passes, and fails without its NetworkPolicies", async () => {
    const rendering = await renderVariation(prod);
    const resources = rendering.resources.map((r) => ({
      type: r.type,
      name: r.name,
      urn: renderedUrn("prod", r, rendering.resources),
      props: r.outputs,
    }));
    assert.deepEqual(await pack.analyzeStack(resources), []);
    const unfenced = await pack.analyzeStack(resources.filter((r) => !r.type.includes("NetworkPolicy")));
    assert.deepEqual(
      unfenced.map((d) => [d.policy, d.mandatory]),
      [["user-pods-fenced", true]],
    );
  });

  it("blocks a wildcard Role", async () => {
    const r = role([{ apiGroups: ["*"], resources: ["pods"], verbs: ["get"] }]);
    const found = await pack.analyze({ ...r, urn: urnFor("prod", [r.type], r.name) });
    assert.deepEqual(
      found.map((d) => [d.policy, d.mandatory]),
      [["no-wildcard-rbac", true]],
    );
  });

  it("judges the NFS claim during a preview, while the volume's name is still unknown", async () => {
    const c = (spec: Record<string, unknown>) => ({ ...claim(spec), urn: urnFor("prod", [claim({}).type], "c") });
    assert.deepEqual(
      await pack.analyze(c({ accessModes: ["ReadWriteMany"], volumeName: unknown, storageClassName: "" })),
      [],
    );
    const found = await pack.analyze(c({ accessModes: ["ReadWriteMany"], volumeName: unknown }));
    assert.deepEqual(
      found.map((d) => [d.policy, d.mandatory]),
      [["nfs-claim-binds-statically", true]],
    );
  });
});
