import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  makeUserPodsFenced,
  nginxRequiresAuth,
  notebooksNotServedUnauthenticated,
  pythonLiteral,
  userServersMountOwnFolder,
} from "../policy/fenceRules";
import { py } from "../components/jupyterhub/pythonLiteral";
import { makePolicies } from "../policy/rules";
import { parseStackConfig, type StackConfig } from "../policy/stackConfig";
import { loadCliConfig } from "../render/stackConfig";
import { runStackPolicy, violationsOf, type ResourceUnderTest } from "./support/policyHarness";
import { renderVariation, type Variation } from "./support/variations";

const noStackConfig: StackConfig = new Map();
const stackConfig = (values: Record<string, string>): StackConfig => parseStackConfig(JSON.stringify(values));

/** The hub's Role: it may create pods in `namespace`, so user pods are spawned there. */
function spawnerRole(namespace = "hub"): ResourceUnderTest {
  return {
    type: "kubernetes:rbac.authorization.k8s.io/v1:Role",
    name: "hub-role",
    props: {
      metadata: { name: "hub", namespace },
      rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch", "create", "delete"] }],
    },
  };
}

function networkPolicy(name: string, spec: Record<string, unknown>, namespace = "hub"): ResourceUnderTest {
  return {
    type: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    name,
    props: { metadata: { name, namespace }, spec },
  };
}

const userSelector = { matchLabels: { component: "singleuser-server" } };
const dnsPorts = [
  { protocol: "UDP", port: 53 },
  { protocol: "TCP", port: 53 },
];
/** DNS as kube-dns alone answers it: its pods in kube-system, its ClusterIP, Cloud DNS's address. */
const kubeDnsOnly = {
  ports: dnsPorts,
  to: [
    { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } } },
    { ipBlock: { cidr: "169.254.169.254/32" } },
    { ipBlock: { cidr: "10.0.0.0/8" } },
  ],
};
/** The same, and NodeLocal DNSCache's address (GKE), which only an ipBlock admits. */
const dns = { ...kubeDnsOnly, to: [...kubeDnsOnly.to, { ipBlock: { cidr: "169.254.20.10/32" } }] };
const publicOnly = {
  to: [
    {
      ipBlock: {
        cidr: "0.0.0.0/0",
        except: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16"],
      },
    },
  ],
};

/** The user pods' egress policy, with these rules. */
const userEgress = (...egress: Record<string, unknown>[]) =>
  networkPolicy("singleuser", { podSelector: userSelector, policyTypes: ["Egress"], egress });

/** A Deployment in the hub namespace whose pods carry `component: <name>`, and its egress policy. */
function workload(name: string, egress: Record<string, unknown>[]): ResourceUnderTest[] {
  const labels = { component: name };
  return [
    {
      type: "kubernetes:apps/v1:Deployment",
      name,
      urn: `urn:pulumi:test::jupyterhub-nfs::kubernetes:apps/v1:Deployment::${name}`,
      props: {
        metadata: { name, namespace: "hub" },
        spec: { template: { metadata: { labels }, spec: { containers: [] } } },
      },
    },
    networkPolicy(name, { podSelector: { matchLabels: labels }, policyTypes: ["Egress"], egress }),
  ];
}

describe("policy user-pods-fenced", () => {
  const fenced = makeUserPodsFenced(noStackConfig);

  it("reports a namespace where pods are spawned and no policy limits the user pods' egress", async () => {
    const found = await runStackPolicy(fenced, [spawnerRole()]);
    assert.equal(found.length, 1);
    assert.match(found[0].message, /Namespace hub: no NetworkPolicy limits the egress of KubeSpawner's user pods/);
    // A policy for other pods, or in another namespace, or ingress only, does not fence them.
    const elsewhere = await runStackPolicy(fenced, [
      spawnerRole(),
      networkPolicy("other", { podSelector: { matchLabels: { app: "db" } }, policyTypes: ["Egress"], egress: [] }),
      networkPolicy("there", { podSelector: userSelector, policyTypes: ["Egress"], egress: [] }, "other-ns"),
      networkPolicy("in", { podSelector: userSelector, policyTypes: ["Ingress"], ingress: [] }),
    ]);
    assert.equal(elsewhere.length, 1);
    assert.match(elsewhere[0].message, /no NetworkPolicy limits/);
  });

  it("reports egress that reaches the metadata server, or a private address the stack did not open", async () => {
    // z2jh's egress with every allow rule on: 0.0.0.0/0 without exceptions.
    const open = await runStackPolicy(fenced, [
      spawnerRole(),
      networkPolicy("singleuser", {
        podSelector: userSelector,
        policyTypes: ["Egress"],
        egress: [{ to: [{ ipBlock: { cidr: "0.0.0.0/0" } }] }],
      }),
    ]);
    const messages = open.map((f) => f.message);
    assert.ok(
      messages.some((m) => /reach 169\.254\.169\.254:80,/.test(m)),
      messages.join("\n"),
    );
    assert.ok(messages.some((m) => /reach 169\.254\.169\.254:443,/.test(m)));
    assert.ok(messages.some((m) => /reach 169\.254\.169\.252:988,/.test(m)));
    for (const ip of ["10.0.0.10", "172.16.0.10", "192.168.0.10", "100.64.0.10"]) {
      assert.ok(
        messages.some((m) => m.includes(`private address ${ip} (ports 2049, 8080, 10250)`)),
        ip,
      );
    }
    assert.ok(messages.some((m) => m.includes("reach 169.254.20.10 (ports 80, 8080, 10250)")));
    // An egress rule that lists no peers matches every destination.
    const anything = await runStackPolicy(fenced, [
      spawnerRole(),
      networkPolicy("singleuser", { podSelector: {}, policyTypes: ["Egress"], egress: [{ to: [] }] }),
    ]);
    assert.equal(anything.length, 8);
  });

  /** What the rule reports in the hub namespace, where pods are spawned, with these resources besides. */
  const reported = async (...resources: ResourceUnderTest[]) =>
    (await runStackPolicy(fenced, [spawnerRole(), ...resources])).map((f) => f.message);
  /** The same, up to ", where": the gap itself, without the explanation. */
  const gaps = async (...resources: ResourceUnderTest[]) =>
    (await reported(...resources)).map((m) => m.replace(/\), where[^]*$/, ")"));

  it("reports a fence that takes DNS away where NodeLocal DNSCache answers (GKE), for user pods and every other pod", async () => {
    // The fence of issue 18: DNS to kube-dns and the metadata address, all of 169.254/16 excepted
    // from "public": on GKE with NodeLocal DNSCache user pods resolve nothing, the hub's name included.
    assert.deepEqual(await reported(userEgress(kubeDnsOnly, publicOnly)), [
      "Namespace hub: the NetworkPolicies give user pods no DNS at 169.254.20.10:53 (UDP, TCP), where NodeLocal " +
        "DNSCache answers (GKE Autopilot, and Standard by default): user servers resolve no name, the hub's " +
        "included. Open port 53 there with an ipBlock (host-network pods: no pod or namespace selector matches them).",
    ]);
    // UDP alone is not enough (large answers and retries go over TCP); Cloud DNS's address counts too.
    const udpOnlyNoCloudDns = {
      to: dns.to.filter((p) => p.ipBlock?.cidr !== "169.254.169.254/32"),
      ports: [dnsPorts[0]],
    };
    assert.deepEqual(await gaps(userEgress(udpOnlyNoCloudDns, publicOnly)), [
      "Namespace hub: the NetworkPolicies give user pods no DNS at 169.254.20.10:53 (TCP), 169.254.169.254:53 (UDP, TCP)",
    ]);
    // Another pod of the namespace that resolves names at kube-dns (the proxy) must resolve them
    // at NodeLocal DNSCache as well; a pod with no DNS at all (nginx, slapd) is left alone.
    const others = await runStackPolicy(fenced, [
      spawnerRole(),
      userEgress(dns, publicOnly),
      ...workload("proxy", [kubeDnsOnly]),
      ...workload("files", []),
    ]);
    assert.deepEqual(
      others.map((f) => [f.urn, f.message.replace(/\), where[^]*$/, ")")]),
      [
        [
          "urn:pulumi:test::jupyterhub-nfs::kubernetes:apps/v1:Deployment::proxy",
          "Namespace hub: the NetworkPolicies let hub/proxy resolve names at kube-dns but give it no DNS at 169.254.20.10:53 (UDP, TCP)",
        ],
      ],
    );
  });

  it("reports egress that reaches NodeLocal DNSCache's address beyond port 53 (the node's own services answer there)", async () => {
    // z2jh's public rule excepts 169.254.169.254/32 alone: 169.254.20.10 is open on every port.
    const z2jhPublic = {
      to: [
        {
          ipBlock: {
            cidr: "0.0.0.0/0",
            except: [...publicOnly.to[0].ipBlock.except.filter((r) => r !== "169.254.0.0/16"), "169.254.169.254/32"],
          },
        },
      ],
    };
    assert.deepEqual(await reported(userEgress(dns, z2jhPublic)), [
      // On Calico (GKE without Dataplane V2) a pod's 169.254.169.254:80 reaches the metadata server here.
      "Namespace hub: the NetworkPolicies let user pods reach 169.254.169.252:988, the GKE metadata server " +
        "(Calico sends a pod's 169.254.169.254:80 there: its ServiceAccount's Google token).",
      "Namespace hub: the NetworkPolicies let user pods reach 169.254.20.10 (ports 80, 8080, 10250), NodeLocal " +
        "DNSCache's address, beyond DNS (port 53): where it is an address of the node, every host-network service " +
        "listening on all addresses answers there too.",
    ]);
  });

  it("passes our fence: DNS anywhere private, on the metadata address and on NodeLocal DNSCache's, public addresses otherwise", async () => {
    assert.deepEqual(await reported(userEgress(dns, publicOnly)), []);
  });

  it("lets a private range through when the stack opened it with userEgressAllowedCidrs, and only that one", async () => {
    const resources = [
      spawnerRole(),
      networkPolicy("singleuser", {
        podSelector: userSelector,
        policyTypes: ["Egress"],
        egress: [
          dns,
          publicOnly,
          { to: [{ ipBlock: { cidr: "10.0.0.0/8" } }, { ipBlock: { cidr: "172.16.0.0/12" } }] },
        ],
      }),
    ];
    const opened = makeUserPodsFenced(stackConfig({ "jupyterhub-nfs:userEgressAllowedCidrs": '["10.0.0.0/8"]' }));
    const found = await runStackPolicy(opened, resources);
    assert.deepEqual(
      found.map((f) => f.message),
      [
        "Namespace hub: the NetworkPolicies let user pods reach the private address 172.16.0.10 (ports 2049, 8080, 10250), which userEgressAllowedCidrs does not open.",
      ],
    );
  });

  it("exempts a stack that set networkPolicies: false, and a stack that spawns no pods", async () => {
    const off = makeUserPodsFenced(stackConfig({ "jupyterhub-nfs:networkPolicies": "false" }));
    assert.deepEqual(await runStackPolicy(off, [spawnerRole()]), []);
    assert.deepEqual(await runStackPolicy(fenced, []), []);
  });
});

function claim(name: string, accessModes: string[]): ResourceUnderTest {
  return {
    type: "kubernetes:core/v1:PersistentVolumeClaim",
    name: `claim-${name}`,
    props: { metadata: { name, namespace: "hub" }, spec: { accessModes } },
  };
}

function browser(mount: Record<string, unknown> = {}): ResourceUnderTest {
  return {
    type: "kubernetes:apps/v1:Deployment",
    name: "browser",
    urn: "urn:pulumi:test::jupyterhub-nfs::kubernetes:apps/v1:Deployment::browser",
    props: {
      metadata: { name: "browser", namespace: "hub" },
      spec: {
        template: {
          metadata: { labels: { app: "browser" } },
          spec: {
            containers: [
              {
                name: "nginx",
                volumeMounts: [
                  { name: "files", mountPath: "/srv", readOnly: true, ...mount },
                  { name: "conf", mountPath: "/etc/nginx/conf.d" },
                  { name: "auth", mountPath: "/etc/nginx/auth" },
                ],
              },
            ],
            volumes: [
              { name: "files", persistentVolumeClaim: { claimName: "notebooks", readOnly: true } },
              { name: "conf", configMap: { name: "browser-conf" } },
              { name: "auth", secret: { secretName: "browser-htpasswd" } },
            ],
          },
        },
      },
    },
  };
}

function conf(text: string): ResourceUnderTest {
  return {
    type: "kubernetes:core/v1:ConfigMap",
    name: "browser-conf",
    props: { metadata: { name: "browser-conf", namespace: "hub" }, data: { "default.conf": text } },
  };
}

const service = (selector: Record<string, string>): ResourceUnderTest => ({
  type: "kubernetes:core/v1:Service",
  name: "browser-svc",
  props: { metadata: { name: "browser", namespace: "hub" }, spec: { type: "ClusterIP", selector } },
});

const server = (inner: string) =>
  `server {\n    listen 8080;\n    root /srv;\n${inner}\n    location / {\n        autoindex on;\n    }\n    location = /healthz {\n        auth_basic off;\n        return 200;\n    }\n}\n`;
const withAuth = server('    auth_basic "notebooks";\n    auth_basic_user_file /etc/nginx/auth/htpasswd;');

describe("policy notebooks-not-served-unauthenticated", () => {
  const rule = notebooksNotServedUnauthenticated;
  const stack = (extra: ResourceUnderTest[]) => [claim("notebooks", ["ReadWriteMany"]), ...extra];

  it("reports a Service over pods that mount the whole shared claim and serve it without basic auth", async () => {
    const found = await runStackPolicy(rule, stack([browser(), conf(server("")), service({ app: "browser" })]));
    assert.equal(found.length, 1);
    assert.match(
      found[0].message,
      /Service hub\/browser exposes hub\/browser, whose pods mount the whole claim notebooks/,
    );
    assert.equal(found[0].urn, browser().urn);
  });

  it("passes the same pods behind basic auth with the user file in a mounted Secret", async () => {
    assert.deepEqual(await runStackPolicy(rule, stack([browser(), conf(withAuth), service({ app: "browser" })])), []);
  });

  it("reports auth turned off for a whole path, or a user file outside any mounted Secret", async () => {
    const offForAll = withAuth.replace("location / {", "location / {\n        auth_basic off;");
    assert.equal(
      (await runStackPolicy(rule, stack([browser(), conf(offForAll), service({ app: "browser" })]))).length,
      1,
    );
    const fileInConfig = withAuth.replace("/etc/nginx/auth/htpasswd", "/etc/nginx/conf.d/htpasswd");
    assert.equal(
      (await runStackPolicy(rule, stack([browser(), conf(fileInConfig), service({ app: "browser" })]))).length,
      1,
    );
    const realmOff = server("    auth_basic off;\n    auth_basic_user_file /etc/nginx/auth/htpasswd;");
    assert.equal(
      (await runStackPolicy(rule, stack([browser(), conf(realmOff), service({ app: "browser" })]))).length,
      1,
    );
  });

  it("ignores a per-user subPath mount, a claim that is not shared, and pods no Service selects", async () => {
    assert.deepEqual(
      await runStackPolicy(
        rule,
        stack([browser({ subPath: "notebooks/alice" }), conf(""), service({ app: "browser" })]),
      ),
      [],
    );
    assert.deepEqual(
      await runStackPolicy(rule, [
        claim("notebooks", ["ReadWriteOnce"]),
        browser(),
        conf(""),
        service({ app: "browser" }),
      ]),
      [],
    );
    assert.deepEqual(await runStackPolicy(rule, stack([browser(), conf(""), service({ app: "other" })])), []);
  });

  it("takes the folder of the per-user folders (the hub config's <folder>/{username}) for the whole claim", async () => {
    const exposed = (subPath: string) =>
      runStackPolicy(rule, stack([hubConfigMap(), browser({ subPath }), conf(""), service({ app: "browser" })]));
    for (const subPath of ["notebooks", "notebooks/", "/"]) {
      const found = await exposed(subPath);
      assert.equal(found.length, 1, subPath);
      assert.match(found[0].message, /whose pods mount the whole claim notebooks/);
    }
    assert.equal((await exposed("notebooks/alice")).length, 1, "one user's folder, served to anyone");
    assert.deepEqual(await exposed("shared"), [], "the shared folder holds no user's folder");
  });

  it("reads nginx server blocks: comments ignored, every server must demand auth", () => {
    assert.ok(nginxRequiresAuth(withAuth, ["/etc/nginx/auth"]));
    assert.ok(
      !nginxRequiresAuth(withAuth.replace('    auth_basic "notebooks";', '    # auth_basic "notebooks";'), [
        "/etc/nginx/auth",
      ]),
    );
    assert.ok(!nginxRequiresAuth(withAuth + server(""), ["/etc/nginx/auth"]));
    assert.ok(!nginxRequiresAuth("", ["/etc/nginx/auth"]));
  });
});

/** The hub's jupyterhub_config.py in a ConfigMap: its volumes, then every user's mounts. */
function hubConfigMap(mounts: Record<string, unknown>[] = ourMounts, volumes = ourVolumes): ResourceUnderTest {
  return {
    type: "kubernetes:core/v1:ConfigMap",
    name: "hub-config",
    urn: "urn:pulumi:test::jupyterhub-nfs::kubernetes:core/v1:ConfigMap::hub-config",
    props: {
      metadata: { name: "hub-config", namespace: "hub" },
      data: {
        "jupyterhub_config.py": `c = get_config()\nc.KubeSpawner.volumes = ${py(volumes)}\nc.KubeSpawner.volume_mounts = ${py(mounts)}\n`,
      },
    },
  };
}
const ourVolumes = [
  { name: "notebooks", persistentVolumeClaim: { claimName: "notebooks" } },
  { name: "scratch", persistentVolumeClaim: { claimName: "scratch" } },
];
const home = { name: "notebooks", mountPath: "/home/jovyan", subPath: "notebooks/{username}" };
const ourMounts = [home, { name: "notebooks", mountPath: "/home/jovyan/shared", subPath: "shared", readOnly: true }];

describe("policy user-servers-mount-own-folder", () => {
  const rule = userServersMountOwnFolder;
  const stack = (extra: ResourceUnderTest[]) => [
    claim("notebooks", ["ReadWriteMany"]),
    claim("scratch", ["ReadWriteOnce"]),
    ...extra,
  ];

  it("passes every user's own folder read-write and the shared folder read-only", async () => {
    assert.deepEqual(await runStackPolicy(rule, stack([hubConfigMap()])), []);
    assert.deepEqual(await runStackPolicy(rule, stack([hubConfigMap([home])])), [], "no shared folder");
  });

  it("reports any other mount of the shared claim that every user's server would get", async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ subPath: "shared" }, /would mount shared of volume notebooks at \/x read-write/],
      [{ subPath: "notebooks", readOnly: true }, /would mount notebooks of volume notebooks at \/x read-only/],
      [{ subPath: "notebooks/alice" }, /would mount notebooks\/alice .* read-write/],
      [{ subPath: "notebooks/alice", readOnly: true }, /would mount notebooks\/alice .* read-only/],
      [{ readOnly: true }, /would mount the whole claim of volume notebooks at \/x read-only/],
      [{ subPath: "{username}" }, /would mount \{username\} of volume notebooks at \/x read-write/],
    ];
    for (const [mount, message] of cases) {
      const found = await runStackPolicy(
        rule,
        stack([hubConfigMap([...ourMounts, { name: "notebooks", mountPath: "/x", ...mount }])]),
      );
      assert.equal(found.length, 1, JSON.stringify(mount));
      assert.match(found[0].message, message);
      assert.match(found[0].message, /^ConfigMap hub\/hub-config: every user's server/);
    }
  });

  it("leaves claims that are not shared alone, and reports mounts it cannot read", async () => {
    const scratch = { name: "scratch", mountPath: "/scratch" };
    assert.deepEqual(await runStackPolicy(rule, stack([hubConfigMap([...ourMounts, scratch])])), []);
    const unreadable = hubConfigMap();
    const data = unreadable.props.data as Record<string, string>;
    data["jupyterhub_config.py"] += "c.KubeSpawner.volume_mounts = mounts_for_everyone\n";
    const found = await runStackPolicy(rule, stack([unreadable]));
    assert.equal(found.length, 1);
    assert.match(found[0].message, /must be literal lists/);
  });

  it("reads the Python literals our config writes, and nothing else", () => {
    assert.deepEqual(pythonLiteral('[{"a": True, "b": None, "c": "True \\" x"}, False]'), [
      { a: true, b: null, c: 'True " x' },
      false,
    ]);
    assert.equal(pythonLiteral("mounts + [1]"), undefined);
    assert.equal(pythonLiteral("[x for x in y]"), undefined);
  });
});

describe("fence policies on the program's rendered resources", () => {
  const dev: Variation = { name: "dev", stack: "dev", overrides: [] };
  const devConfig = () => new Map(Object.entries(loadCliConfig("dev", []).values));
  const fencePolicies = (config: StackConfig) =>
    makePolicies(config).filter((p) =>
      ["user-pods-fenced", "notebooks-not-served-unauthenticated", "user-servers-mount-own-folder"].includes(p.name),
    );

  it("would catch dev's rendering without its NetworkPolicies", async () => {
    const r = await renderVariation(dev);
    const stripped = { ...r, resources: r.resources.filter((x) => !x.type.includes("NetworkPolicy")) };
    const found = await violationsOf(fencePolicies(devConfig()), "dev", stripped);
    assert.deepEqual(
      found.map((f) => f.policy),
      ["user-pods-fenced"],
    );
    assert.match(found[0].message, /Namespace jupyterhub-dev: no NetworkPolicy limits/);
  });

  it("would catch dev's rendering if its DNS rule left NodeLocal DNSCache out", async () => {
    const r = await renderVariation(dev);
    const resources = r.resources.map((x) => {
      if (!x.type.includes("NetworkPolicy")) return x;
      const text = JSON.stringify(x.outputs).replace(/\{"ipBlock":\{"cidr":"169\.254\.20\.10\/32"\}\},?/g, "");
      return { ...x, outputs: JSON.parse(text.replace(/,\]/g, "]")) as typeof x.outputs };
    });
    const found = await violationsOf(fencePolicies(devConfig()), "dev", { ...r, resources });
    assert.deepEqual(
      found.map((f) => f.message.replace(/\), where[^]*$/, ")")),
      [
        "Namespace jupyterhub-dev: the NetworkPolicies give user pods no DNS at 169.254.20.10:53 (UDP, TCP)",
        "Namespace jupyterhub-dev: the NetworkPolicies let jupyterhub-dev/proxy resolve names at kube-dns but give it no DNS at 169.254.20.10:53 (UDP, TCP)",
      ],
    );
  });

  it("would catch dev with its shared folder if every user's server got it read-write", async () => {
    const course: Variation = { name: "dev, course", stack: "dev", overrides: ["sharedFolder=true"] };
    const r = await renderVariation(course);
    const config = new Map(Object.entries(loadCliConfig("dev", course.overrides).values));
    assert.deepEqual(await violationsOf(fencePolicies(config), "dev", r), []);
    const resources = r.resources.map((x) => {
      const data = x.outputs.data as Record<string, string> | undefined;
      const text = data?.["jupyterhub_config.py"];
      if (x.type !== "kubernetes:core/v1:ConfigMap" || typeof text !== "string") return x;
      const writable = text.replace('"subPath": "shared", "readOnly": True', '"subPath": "shared", "readOnly": False');
      assert.notEqual(writable, text);
      return { ...x, outputs: { ...x.outputs, data: { ...data, "jupyterhub_config.py": writable } } };
    });
    const found = await violationsOf(fencePolicies(config), "dev", { ...r, resources });
    assert.deepEqual(
      found.map((f) => f.policy),
      ["user-servers-mount-own-folder"],
    );
    assert.match(found[0].message, /would mount shared of volume notebooks at \/home\/jovyan\/shared read-write/);
  });

  it("would catch dev's file browser if its nginx config dropped basic auth", async () => {
    const r = await renderVariation(dev);
    const resources = r.resources.map((x) => {
      const data = x.outputs.data as Record<string, string> | undefined;
      if (x.type !== "kubernetes:core/v1:ConfigMap" || typeof data?.["default.conf"] !== "string") return x;
      const open = data["default.conf"].replace(/^ {4}auth_basic[^\n]*\n/gm, "");
      return { ...x, outputs: { ...x.outputs, data: { "default.conf": open } } };
    });
    const found = await violationsOf(fencePolicies(devConfig()), "dev", { ...r, resources });
    assert.deepEqual(
      found.map((f) => f.policy),
      ["notebooks-not-served-unauthenticated"],
    );
    assert.match(found[0].urn, /FileBrowser\$kubernetes:apps\/v1:Deployment::file-browser-deployment$/);
  });

  /** The dev stack with a Cloud Storage bucket mounted in user pods, and its config as the CLI hands it to the pack. */
  const bucket = `userVolumes=${JSON.stringify([{ name: "data", mountPath: "/srv/data", bucket: "lab-datasets" }])}`;
  const withBucket: Variation = { name: "dev + bucket", stack: "dev", overrides: [bucket] };
  const withBucketConfig = () => new Map(Object.entries(loadCliConfig("dev", [bucket]).values));
  /** The rendering with its hub ConfigMap's jupyterhub_config.py changed by `edit`. */
  const editHubConfig = (r: Awaited<ReturnType<typeof renderVariation>>, edit: (text: string) => string) => ({
    ...r,
    resources: r.resources.map((x) => {
      const data = x.outputs.data as Record<string, string> | undefined;
      if (x.type !== "kubernetes:core/v1:ConfigMap" || typeof data?.["jupyterhub_config.py"] !== "string") return x;
      const text = edit(data["jupyterhub_config.py"]);
      assert.notEqual(text, data["jupyterhub_config.py"], "the edit changed nothing");
      return { ...x, outputs: { ...x.outputs, data: { ...data, "jupyterhub_config.py": text } } };
    }),
  });

  it("passes a bucket's opening of the GKE metadata server, and only with user pods kept on nodes that run it", async () => {
    const r = await renderVariation(withBucket);
    assert.deepEqual(await violationsOf(fencePolicies(withBucketConfig()), "dev", r), []);
    const anyNode = editHubConfig(r, (t) => t.replace(/^c\.KubeSpawner\.node_affinity_required = .*$/m, ""));
    const found = await violationsOf(fencePolicies(withBucketConfig()), "dev", anyNode);
    assert.deepEqual(
      found.map((f) => f.message.replace(/, the .*$/, "")),
      [
        "Namespace jupyterhub-dev: the NetworkPolicies let user pods reach 169.254.169.254:80",
        "Namespace jupyterhub-dev: the NetworkPolicies let user pods reach 169.254.169.252:988",
      ],
    );
    assert.match(found[0].message, /requiring nodes labelled iam\.gke\.io\/gke-metadata-server-enabled=true/);
    // The same NetworkPolicies under a stack config that mounts no bucket: nothing needs that port.
    assert.equal((await violationsOf(fencePolicies(devConfig()), "dev", r)).length, 2);
  });

  it("reads every user's mounts as the hub ends up with them: extended by userVolumes, and after the snippets", async () => {
    // The program's own extension (userVolumes: another claim, read-only) passes.
    const claim = `userVolumes=${JSON.stringify([{ name: "datasets", mountPath: "/srv/datasets", claimName: "datasets" }])}`;
    const extended = await renderVariation({ name: "dev + a claim", stack: "dev", overrides: [claim] });
    assert.match(JSON.stringify(extended.manifests), /c\.KubeSpawner\.volume_mounts\.extend\(/);
    assert.deepEqual(await violationsOf(fencePolicies(devConfig()), "dev", extended), []);
    // A snippet that mounts the whole notebooks claim too (the hub would refuse to start, see
    // hubExtraConfig.test.ts): the rule reads the snippet the config runs.
    const r = await renderVariation(dev);
    const snippet = `c.KubeSpawner.volume_mounts.extend([{"name": "notebooks", "mountPath": "/srv/everyone"}])\n`;
    const viaSnippet = {
      ...r,
      resources: r.resources.map((x) => {
        const data = x.outputs.data as Record<string, string> | undefined;
        if (x.type !== "kubernetes:core/v1:ConfigMap" || typeof data?.["jupyterhub_config.py"] !== "string") return x;
        const config = `${data["jupyterhub_config.py"]}\n_run_extra_config(["10-all"], [], [])\n`;
        return {
          ...x,
          outputs: { ...x.outputs, data: { "jupyterhub_config.py": config, "extra-config-10-all.py": snippet } },
        };
      }),
    };
    const found = await violationsOf(fencePolicies(devConfig()), "dev", viaSnippet);
    assert.deepEqual(
      found.map((f) => f.policy),
      ["user-servers-mount-own-folder"],
    );
    assert.match(found[0].message, /would mount the whole claim of volume notebooks at \/srv\/everyone read-write/);
  });
});
