import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import type { Rendering } from "../render";
import type { JsonObject } from "../render/mocks";
import { loadHubConfig } from "./support/hubConfigPython";
import { rejectedKeys, validate } from "./support/validate";
import { at, manifest, rendered } from "./support/rendered";
import { images } from "../versions/images";

const checksumKey = "jupyterhub-nfs/secret-checksum";

const deployment = (r: Rendering, name: string) => manifest(r, "Deployment", name);
const podAnnotations = (d: JsonObject) => (at(d, "spec", "template", "metadata", "annotations") ?? {}) as JsonObject;
const container = (d: JsonObject) => (at(d, "spec", "template", "spec", "containers") as JsonObject[])[0];
function hubConfigText(r: Rendering): string {
  const cm = r.manifests.find((m) => m.kind === "ConfigMap" && (m.data as JsonObject)["jupyterhub_config.py"]);
  assert.ok(cm, "no ConfigMap holds jupyterhub_config.py");
  return String((cm.data as JsonObject)["jupyterhub_config.py"]);
}

const lookupDn = [
  "ldapLookupDn=true",
  "ldapBindDnTemplates=[]",
  "ldapUserSearchBase=ou=people,dc=example,dc=org",
  "ldapLookupDnSearchUser=cn=reader,dc=example,dc=org",
];

describe("upgrades keep users' work", () => {
  it("the hub keeps the image's tini entrypoint and upgrades its database on start", async () => {
    const hub = container(deployment(await rendered("prod"), "hub"));
    assert.deepEqual(images.hub.process.entrypoint, ["tini", "--"]);
    assert.equal(hub.command, undefined, "a command would replace the image's ENTRYPOINT (tini)");
    // The image's own CMD, plus the upgrade.
    assert.deepEqual(hub.args, [...images.hub.process.cmd, "--upgrade-db"]);
  });

  it("the proxy is recreated, never rolled (two proxies at once lose routes)", async () => {
    for (const stack of ["dev", "prod"]) {
      const proxy = deployment(await rendered(stack), "proxy");
      assert.deepEqual(at(proxy, "spec", "strategy"), { type: "Recreate" }, stack);
    }
  });

  it("a changed LDAP search password rolls the hub, not the proxy, and the checksum gives nothing away", async () => {
    const before = await rendered("prod", [...lookupDn, "ldapLookupDnSearchPassword=first-password"]);
    const again = await rendered("prod", [...lookupDn, "ldapLookupDnSearchPassword=first-password"]);
    const after = await rendered("prod", [...lookupDn, "ldapLookupDnSearchPassword=second-password"]);
    const hubSum = (r: Rendering) => podAnnotations(deployment(r, "hub"))[checksumKey];
    const proxySum = (r: Rendering) => podAnnotations(deployment(r, "proxy"))[checksumKey];

    assert.match(String(hubSum(before)), /^[0-9a-f]{64}$/);
    assert.equal(hubSum(again), hubSum(before), "the same config must not roll the hub");
    assert.notEqual(hubSum(after), hubSum(before), "a new password must roll the hub");
    assert.match(String(proxySum(before)), /^[0-9a-f]{64}$/);
    assert.equal(proxySum(after), proxySum(before), "the proxy does not read the LDAP password");

    // Not the password, nor a plain hash of it or of the Secret's data (a guessable password could
    // be found again from a plain hash by anyone allowed to read Deployments).
    const secret = manifest(before, "Secret", "hub");
    const data = secret.stringData as Record<string, string>;
    const plainHashes = [
      data["ldap-search-password"],
      JSON.stringify(data),
      JSON.stringify(Object.entries(data).sort()),
      Object.values(data).join(""),
    ].map((s) => createHash("sha256").update(s).digest("hex"));
    const shown = JSON.stringify(deployment(before, "hub"));
    assert.ok(!shown.includes("first-password"));
    for (const h of plainHashes) assert.notEqual(hubSum(before), h);
  });

  it("a new test LDAP user rolls the test LDAP server, whose directory is seeded from its Secret at start", async () => {
    const sum = (r: Rendering) => podAnnotations(deployment(r, "test-ldap"))[checksumKey];
    const two = await rendered("dev");
    const three = await rendered("dev", ['ldapTestUsers=["alice","bob","carol"]']);
    assert.match(String(sum(two)), /^[0-9a-f]{64}$/);
    assert.notEqual(sum(three), sum(two));
    assert.equal(sum(await rendered("dev", [])), sum(two));
  });

  it("users' guarantees are config keys apart from the limits, with z2jh-like defaults", async () => {
    const defaults = loadHubConfig(hubConfigText(await rendered("prod")));
    assert.ok(defaults.ok, defaults.ok ? "" : defaults.error);
    const spawner = defaults.config.KubeSpawner;
    assert.equal(spawner.cpu_limit, 2);
    assert.equal(spawner.mem_limit, 4 * 1024 ** 3);
    assert.equal(spawner.mem_guarantee, 1024 ** 3, "z2jh's memory guarantee: 1G, which KubeSpawner reads as 1 GiB");
    assert.equal(spawner.cpu_guarantee, 0.1);

    const set = loadHubConfig(
      hubConfigText(await rendered("prod", ["userCpuGuarantee=500m", "userMemoryGuarantee=3Gi"])),
    );
    assert.ok(set.ok, set.ok ? "" : set.error);
    assert.equal(set.config.KubeSpawner.cpu_guarantee, 0.5);
    assert.equal(set.config.KubeSpawner.mem_guarantee, 3 * 1024 ** 3);
    assert.equal(set.config.KubeSpawner.mem_limit, 4 * 1024 ** 3);
  });

  it("refuses a guarantee above its limit, or no CPU guarantee, naming the key", () => {
    const keys = (overrides: string[]) => rejectedKeys("prod", overrides);
    assert.deepEqual(keys(["userCpuGuarantee=3"]), ["userCpuGuarantee"]);
    assert.deepEqual(keys(["userCpuGuarantee=0"]), ["userCpuGuarantee"]);
    assert.deepEqual(keys(["userMemoryGuarantee=5Gi"]), ["userMemoryGuarantee"]);
    assert.deepEqual(keys(["userMemoryLimit=512Mi"]), ["userMemoryGuarantee"]);
    assert.throws(
      () => validate("prod", ["userMemoryGuarantee=8Gi"]),
      /jupyterhub-nfs:userMemoryGuarantee: "8Gi" must not be more than userMemoryLimit \(4Gi\)/,
    );
    validate("prod", ["userCpuGuarantee=2", "userMemoryGuarantee=4Gi"]);
  });
});
