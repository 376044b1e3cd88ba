import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { makeUserPodsFenced, nginxRequiresAuth, notebooksNotServedUnauthenticated } from "../policy/fenceRules";
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
const dns = {
  ports: [{ protocol: "UDP", port: 53 }],
  to: [{ ipBlock: { cidr: "169.254.169.254/32" } }, { ipBlock: { cidr: "10.0.0.0/8" } }],
};
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
    for (const ip of ["10.0.0.10", "172.16.0.10", "192.168.0.10", "100.64.0.10"]) {
      assert.ok(
        messages.some((m) => m.includes(`private address ${ip} (ports 2049, 8080, 10250)`)),
        ip,
      );
    }
    // An egress rule that lists no peers matches every destination.
    const anything = await runStackPolicy(fenced, [
      spawnerRole(),
      networkPolicy("singleuser", { podSelector: {}, policyTypes: ["Egress"], egress: [{ to: [] }] }),
    ]);
    assert.equal(anything.length, 6);
  });

  it("passes z2jh's fence: DNS anywhere private or on the metadata address, public addresses otherwise", async () => {
    assert.deepEqual(
      await runStackPolicy(fenced, [
        spawnerRole(),
        networkPolicy("singleuser", { podSelector: userSelector, policyTypes: ["Egress"], egress: [dns, publicOnly] }),
      ]),
      [],
    );
  });

  it("lets a private range through when the stack opened it with userEgressAllowedCidrs, and only that one", async () => {
    const resources = [
      spawnerRole(),
      networkPolicy("singleuser", {
        podSelector: userSelector,
        policyTypes: ["Egress"],
        egress: [publicOnly, { to: [{ ipBlock: { cidr: "10.0.0.0/8" } }, { ipBlock: { cidr: "172.16.0.0/12" } }] }],
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

describe("fence policies on the program's rendered resources", () => {
  const dev: Variation = { name: "dev", stack: "dev", overrides: [] };
  const devConfig = () => new Map(Object.entries(loadCliConfig("dev", []).values));
  const fencePolicies = (config: StackConfig) =>
    makePolicies(config).filter((p) => ["user-pods-fenced", "notebooks-not-served-unauthenticated"].includes(p.name));

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
});
