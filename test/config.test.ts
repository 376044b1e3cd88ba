import assert from "node:assert/strict";
import * as fs from "node:fs";
import { describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { renderStack } from "../render";
import { validate } from "./support/validate";
import { RenderMocks } from "../render/mocks";
import { loadCliConfig } from "../render/stackConfig";
import { readProjectFile, stackConfigSchema, StackConfigError } from "../stacks";

const project = readProjectFile();

function problemKeys(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof StackConfigError, `expected a StackConfigError, got ${String(err)}`);
    return err.problems.map((p) => p.key);
  }
  assert.fail("expected the config to be rejected");
}

describe("Pulumi.yaml and the schema", () => {
  it("declare the same keys, each with a type, a description and a default", () => {
    const schemaKeys = Object.keys(stackConfigSchema.shape).sort();
    assert.deepEqual([...project.config.keys()].sort(), schemaKeys);
    for (const [key, decl] of project.config) {
      assert.ok(decl.description.length > 20, `${key} needs a real description`);
      assert.ok(["string", "integer", "boolean", "array"].includes(decl.type), `${key}: type ${decl.type}`);
    }
  });

  it("accept the defaults plus each shipped stack file", () => {
    const stacks = fs.readdirSync(project.dir).filter((f) => /^Pulumi\.[^.]+\.yaml$/.test(f));
    assert.ok(stacks.length >= 2, "dev and prod stack files exist");
    for (const file of stacks) {
      const stack = file.split(".")[1];
      assert.doesNotThrow(() => validate(stack, []), `stack ${stack}`);
    }
  });

  it("types the values: integers, booleans and lists come out as such", () => {
    const cfg = validate("prod", []);
    assert.equal(cfg.diskSnapshotRetentionDays, 30);
    assert.equal(cfg.diskSnapshots, true);
    assert.deepEqual(cfg.ldapBindDnTemplates, ["uid={username},ou=people,dc=example,dc=org"]);
    assert.equal(cfg.ldapPort, 636);
  });

  it("take an image pinned by digest alone, as a mirror of the test LDAP image is pinned", async () => {
    const mirror = `registry.example.org/mirror/openldap@sha256:${"0123456789abcdef".repeat(4)}`;
    assert.equal(validate("dev", [`ldapTestImage=${mirror}`]).ldapTestImage, mirror);
    const tagged = `registry.example.org:5000/openldap:2.6.10-debian-12-r4@sha256:${"f".repeat(64)}`;
    assert.equal(validate("dev", [`ldapTestImage=${tagged}`]).ldapTestImage, tagged);
    const r = await renderStack({ stack: "dev", overrides: [`ldapTestImage=${mirror}`] });
    const ldap = r.manifests.find((m) => m.kind === "Deployment" && JSON.stringify(m).includes("LDAP_CUSTOM_LDIF_DIR"));
    assert.equal(JSON.stringify(ldap).includes(`"image":"${mirror}"`), true, "the Deployment runs the mirror");
  });
});

describe("bad config fails with the key named", () => {
  // [stack, override, key the error must name]
  const cases: [string, string, string][] = [
    ["prod", "diskSize=200GB", "diskSize"],
    ["prod", "diskSize=5Gi", "diskSize"],
    ["prod", "diskZone=mars", "diskZone"],
    ["prod", "diskZone=", "diskZone"],
    ["prod", "diskType=ssd", "diskType"],
    ["prod", "namespace=Jupyter_Hub", "namespace"],
    ["prod", "nfsNamespace=jupyterhub", "nfsNamespace"],
    ["prod", "diskName=-notebooks", "diskName"],
    ["prod", 'userEgressAllowedCidrs=["10.0.0.0/33"]', "userEgressAllowedCidrs[0]"],
    ["prod", "userEgressAllowedCidrs=10.0.0.0/8", "userEgressAllowedCidrs"],
    ["prod", 'userEgressAllowedCidrs=["10.20.0.0/16","169.254.0.0/16"]', "userEgressAllowedCidrs[1]"],
    ["prod", 'userEgressAllowedCidrs=["0.0.0.0/0"]', "userEgressAllowedCidrs[0]"],
    // Removed with the node-CIDR NFS policy: a stack that still sets it is told so.
    ["prod", 'nfsAllowedCidrs=["10.128.0.0/9"]', "nfsAllowedCidrs"],
    ["prod", "ldapPort=70000", "ldapPort"],
    ["prod", "ldapPort=ldap", "ldapPort"],
    ["prod", "hubImage=quay.io/jupyterhub/k8s-hub", "hubImage"],
    ["prod", "singleuserImage=jupyter/base-notebook:latest", "singleuserImage"],
    ["prod", "nfsImage=Not An Image:1", "nfsImage"],
    ["prod", "proxyServiceType=Public", "proxyServiceType"],
    ["prod", "ldapTlsStrategy=ssl", "ldapTlsStrategy"],
    ["prod", "ldapServer=", "ldapServer"],
    ["prod", "ldapServer=ldaps://ldap.example.org:636", "ldapServer"],
    ["prod", 'ldapBindDnTemplates=["uid=x,dc=example,dc=org"]', "ldapBindDnTemplates[0]"],
    ["prod", "ldapBindDnTemplates=[]", "ldapBindDnTemplates"],
    ["prod", "diskSnapshotRetentionDays=forever", "diskSnapshotRetentionDays"],
    ["prod", "diskSnapshotStartTime=3am", "diskSnapshotStartTime"],
    ["prod", "diskRetainOnDelete=yes", "diskRetainOnDelete"],
    ["prod", "userMemoryLimit=lots", "userMemoryLimit"],
    ["prod", "userCpuLimit=two", "userCpuLimit"],
    ["prod", "diskSzie=10Gi", "diskSzie"],
    ["dev", "ldapServer=ldap.example.org", "ldapServer"],
    ["dev", "ldapTestUsers=[]", "ldapTestUsers"],
    ["dev", "allowedUsers=[]", "allowedUsers"],
    ["dev", "diskSnapshots=true", "diskSnapshots"],
    // LDAP: verified TLS unless ldapTlsInsecureSkipVerify says otherwise.
    ["prod", "ldapTlsStrategy=insecure", "ldapTlsStrategy"],
    ["prod", "ldapTlsCaCertificate=not a certificate", "ldapTlsCaCertificate"],
    [
      "prod",
      "ldapTlsCaCertificate=-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
      "ldapTlsCaCertificate",
    ],
    ["prod", "ldapServer=192.0.2.10", "ldapServer"],
    ["dev", "ldapTlsInsecureSkipVerify=true", "ldapTlsInsecureSkipVerify"],
    // The hub: public only over HTTPS unless hubInsecureAllowPlainHttp says otherwise.
    ["prod", "proxyServiceType=LoadBalancer", "proxyServiceType"],
    ["dev", "proxyServiceType=LoadBalancer", "proxyServiceType"],
    ["dev", "proxyServiceType=NodePort", "proxyServiceType"],
    ["prod", "hubDomain=https://hub.example.org", "hubDomain"],
    ["prod", "hubDomain=*.example.org", "hubDomain"],
    ["prod", "hubDomain=a-very-long-host-name-for-a-jupyterhub-that-is-too-long.example.org", "hubDomain"],
    ["dev", "hubTlsSecretName=hub-tls", "hubTlsSecretName"],
    // User servers, named servers, the culler.
    ["prod", "userDefaultUrl=lab", "userDefaultUrl"],
    ["prod", "userDefaultUrl=//evil.example.org/lab", "userDefaultUrl"],
    ["prod", "userDefaultUrl=https://evil.example.org/", "userDefaultUrl"],
    ["prod", "userDefaultUrl=/lab/tree/../../hub/admin", "userDefaultUrl"],
    ["prod", "userDefaultUrl=/lab/tree/{username}", "userDefaultUrl"],
    ["prod", "userDefaultUrl=/lab?reset", "userDefaultUrl"],
    ["prod", "userStartTimeoutSeconds=0", "userStartTimeoutSeconds"],
    ["prod", "userStartTimeoutSeconds=7200", "userStartTimeoutSeconds"],
    ["prod", "userStartTimeoutSeconds=5m", "userStartTimeoutSeconds"],
    ["prod", "userHttpTimeoutSeconds=1", "userHttpTimeoutSeconds"],
    ["prod", "namedServersPerUser=-1", "namedServersPerUser"],
    ["prod", "sharedFolder=maybe", "sharedFolder"],
    ["prod", "adminAllUsersFolder=1", "adminAllUsersFolder"],
    ["prod", "cullMaxAgeSeconds=-5", "cullMaxAgeSeconds"],
    ["prod", "cullConcurrency=0", "cullConcurrency"],
    ["prod", "hubCpuGuarantee=0", "hubCpuGuarantee"],
    ["prod", "hubMemoryGuarantee=1G", "hubMemoryGuarantee"],
    ["prod", "hubMemoryGuarantee=4Gi", "hubMemoryGuarantee"],
    ["prod", "hubMemoryLimit=lots", "hubMemoryLimit"],
    ["prod", "concurrentSpawnLimit=-1", "concurrentSpawnLimit"],
    ["prod", "activeServerLimit=1.5", "activeServerLimit"],
  ];
  for (const [stack, override, key] of cases) {
    it(`${stack}: ${override} names ${key}`, () => {
      assert.ok(problemKeys(() => validate(stack, [override])).includes(key));
    });
  }

  it("LDAP TLS: plain LDAP and unverified TLS need ldapTlsInsecureSkipVerify; a CA needs something to verify", () => {
    const ca = fs.readFileSync(`${__dirname}/fixtures/example-ldap-ca.pem`, "utf8");
    assert.doesNotThrow(() => validate("prod", ["ldapTlsStrategy=insecure", "ldapTlsInsecureSkipVerify=true"]));
    assert.doesNotThrow(() => validate("prod", ["ldapTlsInsecureSkipVerify=true", "ldapServer=192.0.2.10"]));
    assert.doesNotThrow(() => validate("prod", [`ldapTlsCaCertificate=${ca}`]));
    assert.doesNotThrow(() => validate("prod", [`ldapTlsCaCertificate=${ca}${ca}`]), "a bundle of two");
    assert.deepEqual(
      problemKeys(() => validate("prod", [`ldapTlsCaCertificate=${ca}`, "ldapTlsInsecureSkipVerify=true"])),
      ["ldapTlsCaCertificate"],
    );
    assert.deepEqual(
      problemKeys(() => validate("dev", [`ldapTlsCaCertificate=${ca}`])),
      ["ldapTlsCaCertificate"],
    );
    assert.throws(
      () => validate("prod", ["ldapTlsStrategy=insecure"]),
      /jupyterhub-nfs:ldapTlsStrategy: "insecure" sends every password .* ldapTlsInsecureSkipVerify/,
    );
  });

  it("LDAP TLS: a private key is refused as a CA certificate, without printing it", () => {
    const key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----";
    assert.throws(
      () => validate("prod", [`ldapTlsCaCertificate=${key}`]),
      (err: Error) => /ldapTlsCaCertificate: .*not a PRIVATE KEY/.test(err.message) && !err.message.includes("MIIEv"),
    );
  });

  it("the culler's age limit needs the culler; the knobs take sane values", () => {
    assert.throws(
      () => validate("prod", ["cullIdleSeconds=0", "cullMaxAgeSeconds=86400"]),
      /jupyterhub-nfs:cullMaxAgeSeconds: 86400 needs cullIdleSeconds above 0: the culler runs only then/,
    );
    assert.throws(
      () => validate("prod", ["userStartTimeoutSeconds=7200"]),
      /jupyterhub-nfs:userStartTimeoutSeconds: 7200 must be at most 3600 seconds/,
    );
    const cfg = validate("prod", [
      "userDefaultUrl=/lab/tree/shared/welcome.ipynb",
      "userStartTimeoutSeconds=900",
      "namedServersPerUser=3",
      "cullMaxAgeSeconds=28800",
      "cullConcurrency=2",
    ]);
    assert.deepEqual(
      [
        cfg.userDefaultUrl,
        cfg.userStartTimeoutSeconds,
        cfg.namedServersPerUser,
        cfg.cullMaxAgeSeconds,
        cfg.cullConcurrency,
      ],
      ["/lab/tree/shared/welcome.ipynb", 900, 3, 28800, 2],
    );
    assert.equal(validate("prod", ["userDefaultUrl=/tree"]).userDefaultUrl, "/tree");
  });

  it("needs a search base when ldapLookupDn is on", () => {
    assert.deepEqual(
      problemKeys(() => validate("prod", ["ldapLookupDn=true", "ldapBindDnTemplates=[]"])),
      ["ldapUserSearchBase"],
    );
  });

  it("prints the key, the value and what is expected", () => {
    assert.throws(
      () => validate("prod", ["diskSize=200GB"]),
      /jupyterhub-nfs:diskSize: "200GB" must be a whole number of Gi or Ti/,
    );
  });

  it("never prints a secret value", () => {
    assert.throws(
      () => validate("prod", ["ldapLookupDnSearchPassword=hunter2", "ldapLookupDnSearchUser="]),
      (err: Error) => !err.message.includes("hunter2") && /ldapLookupDnSearchUser/.test(err.message),
    );
  });
});

describe("bad config and resources", () => {
  it("fails before any resource is registered", async () => {
    const { values, secretKeys } = loadCliConfig("prod", ["diskSize=huge"], project);
    const mocks = new RenderMocks("prod", values);
    await pulumi.runtime.setMocks(mocks, project.name, "prod", false);
    pulumi.runtime.setAllConfig(values, secretKeys);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const program = require("../index") as () => unknown;
    assert.throws(() => program(), StackConfigError);
    await pulumi.runtime.disconnect();
    assert.equal(mocks.resources.length, 0);
    // The render command reports the same error.
    await assert.rejects(renderStack({ stack: "prod", overrides: ["diskSize=huge"] }), /jupyterhub-nfs:diskSize/);
  });
});
