/**
 * Per-user quotas as config and as rendered objects: the keys' rules (each refusal names the key
 * and the list item), override names as KubeSpawner names the folders (its own safe_slug, from the
 * hub venv), the NFS server pod's sidecars and ConfigMap, the GCE disk as XFS with prjquota, and an
 * existing disk of another file system refused before anything is registered. The enforcement
 * itself runs against a real kernel in e2e/kernelLab.test.ts.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, it } from "node:test";
import { renderStack, type Rendering } from "../render";
import type { JsonObject } from "../render/mocks";
import { StackConfigError } from "../stacks";
import { kubeSpawnerUserPodLabels } from "../policy/fenceRules";
import { allowed, type PodRef } from "../policy/networkPolicy";
import { quotaFolder } from "../stacks/userQuotas";
import { fileBrowserOf } from "./support/nginx";
import { pythonEnvBin } from "./support/pythonEnv";
import { at, manifest, manifests, resource } from "./support/rendered";
import { rejectedKeys, validate } from "./support/validate";

let queue: Promise<unknown> = Promise.resolve();
function render(stack: string, overrides: string[], existingDisks = {}): Promise<Rendering> {
  const result = queue.then(() => renderStack({ stack, overrides, existingDisks }));
  queue = result.catch(() => undefined);
  return result;
}

const quotasOn = ["userQuotaDefault=10Gi", 'userQuotaOverrides=[{"user":"Bob","quota":"50Gi"}]'];

describe("per-user quota keys", () => {
  it("take a default and overrides keyed by user name; the overrides reach the enforcer by folder", async () => {
    const cfg = validate("prod", quotasOn);
    assert.equal(cfg.userQuotaDefault, "10Gi");
    const r = await render("prod", quotasOn);
    const quotas = JSON.parse(
      String((manifest(r, "ConfigMap", "user-quotas").data as Record<string, string>)["quotas.json"]),
    ) as unknown;
    assert.deepEqual(quotas, { defaultBytes: 10 * 1024 ** 3, overridesBytes: { bob: 50 * 1024 ** 3 } });
  });

  it("refuse bad values, naming the key and the item", () => {
    assert.deepEqual(rejectedKeys("prod", ["userQuotaDefault=10GB"]), ["userQuotaDefault"]);
    assert.deepEqual(rejectedKeys("prod", ['userQuotaOverrides=[{"user":"bob","quota":"5Gi"}]']), [
      "userQuotaOverrides",
    ]);
    assert.deepEqual(
      rejectedKeys("prod", ["userQuotaDefault=1Gi", 'userQuotaOverrides=[{"user":"bob","quota":"lots"}]']),
      ["userQuotaOverrides[0][quota]"],
    );
    assert.deepEqual(
      rejectedKeys("prod", [
        "userQuotaDefault=1Gi",
        'userQuotaOverrides=[{"user":"bob","quota":"2Gi"},{"user":"BOB","quota":"3Gi"}]',
      ]),
      ["userQuotaOverrides[1][user]"],
    );
    assert.deepEqual(
      rejectedKeys("prod", ["userQuotaDefault=1Gi", 'userQuotaOverrides=[{"user":"bob","quota":"2Gi","x":1}]']),
      ["userQuotaOverrides[0][x]"],
    );
  });

  it("take a name whose folder KubeSpawner hashes, or that folder's name, and reach the enforcer by the folder", async () => {
    for (const user of ["John.Doe", "john-doe---30f69670"]) {
      const on = ["userQuotaDefault=1Gi", `userQuotaOverrides=[{"user":"${user}","quota":"2Gi"}]`];
      const quotas = JSON.parse(
        String(
          (manifest(await render("prod", on), "ConfigMap", "user-quotas").data as Record<string, string>)[
            "quotas.json"
          ],
        ),
      ) as { overridesBytes: Record<string, number> };
      assert.deepEqual(quotas.overridesBytes, { "john-doe---30f69670": 2 * 1024 ** 3 }, user);
    }
    // Two spellings of one user are one folder.
    assert.deepEqual(
      rejectedKeys("prod", [
        "userQuotaDefault=1Gi",
        'userQuotaOverrides=[{"user":"john.doe","quota":"2Gi"},{"user":"john-doe---30f69670","quota":"3Gi"}]',
      ]),
      ["userQuotaOverrides[1][user]"],
    );
  });

  it("agree with KubeSpawner 7.0's own folder names (its safe_slug of the lower-cased name), for every name form", () => {
    const names = [
      "alice",
      "Bob",
      "2ndyear",
      "john.doe",
      "Jane.Doe",
      "JDoe",
      "0xy.z",
      "jane.doe@uni.example.edu",
      "Jane.Doe@Uni.Example.edu",
      "0xy.z@other.example.org",
      "Zoë",
      "a--b",
      "a..b",
      "x_y",
      "carol-",
      "-carol",
      "___",
      `${"l".repeat(48)}`,
      `${"l".repeat(49)}`,
      `${"9.".repeat(40)}`,
    ];
    const out = spawnSync(
      path.join(pythonEnvBin("hub"), "python"),
      [
        "-I",
        "-c",
        "import json, sys\nfrom kubespawner.slugs import safe_slug\n" +
          // _expand_user_properties: safe_slug(name, max_length=48), of the name JupyterHub lower-cased.
          "print(json.dumps([safe_slug(n.lower(), max_length=48) for n in json.load(sys.stdin)]))",
      ],
      { encoding: "utf8", input: JSON.stringify(names) },
    );
    assert.equal(out.status, 0, out.stderr);
    const slugs = JSON.parse(out.stdout) as string[];
    names.forEach((name, i) => {
      assert.equal(quotaFolder(name), slugs[i], name);
      // KubeSpawner's hashed folder names are taken as they are.
      assert.equal(quotaFolder(slugs[i]), slugs[i], `${slugs[i]} as a folder name`);
    });
  });

  it("with userQuotaOvercommit false, refuse quotas whose least sum exceeds the disk", () => {
    // prod: 200Gi; adminUsers and allowedUsers name users who would each get the default.
    const names = Array.from({ length: 10 }, (_, i) => `"user${i}"`).join(",");
    const base = ["userQuotaDefault=20Gi", `allowedUsers=[${names}]`, "adminUsers=[]", "userQuotaOvercommit=false"];
    assert.doesNotThrow(() => validate("prod", base));
    assert.deepEqual(rejectedKeys("prod", [...base, 'userQuotaOverrides=[{"user":"user0","quota":"21Gi"}]']), [
      "userQuotaOvercommit",
    ]);
    // An override replaces that user's default: 9 x 20 + 20 fits.
    assert.doesNotThrow(() => validate("prod", [...base, 'userQuotaOverrides=[{"user":"User0","quota":"20Gi"}]']));
    assert.doesNotThrow(() =>
      validate("prod", [...base.slice(0, 3), 'userQuotaOverrides=[{"user":"user0","quota":"1Ti"}]']),
    );
  });
});

describe("per-user quotas, rendered", () => {
  it("a new GCE disk is XFS mounted with prjquota, labelled so; without quotas it stays ext4", async () => {
    const on = await render("prod", quotasOn);
    const pv = manifest(on, "PersistentVolume", "notebook-disk-pv-");
    assert.equal(at(pv, "spec", "csi", "fsType"), "xfs");
    assert.deepEqual(at(pv, "spec", "mountOptions"), ["prjquota"]);
    assert.equal(
      (resource(on, "gcp:compute/disk:Disk", "notebook-disk-disk").inputs.labels as JsonObject)["file-system"],
      "xfs",
    );
    const off = await render("prod", []);
    const pvOff = manifest(off, "PersistentVolume", "notebook-disk-pv-");
    assert.equal(at(pvOff, "spec", "csi", "fsType"), "ext4");
    assert.equal(at(pvOff, "spec", "mountOptions"), undefined);
    assert.equal(
      (resource(off, "gcp:compute/disk:Disk", "notebook-disk-disk").inputs.labels as JsonObject)["file-system"],
      undefined,
    );
    assert.ok(!off.manifests.some((m) => m.kind === "ConfigMap" && (m.metadata as JsonObject).name === "user-quotas"));
  });

  it("the NFS server pod runs the enforcer and the usage exporter (port 9102, named metrics) beside the NFS server", async () => {
    const r = await render("prod", quotasOn);
    const pod = at(manifest(r, "Deployment", "nfs-server"), "spec", "template") as JsonObject;
    const containers = at(pod, "spec", "containers") as JsonObject[];
    assert.deepEqual(
      containers.map((c) => c.name),
      ["nfs-server", "quota-enforcer", "usage-exporter"],
    );
    const exporter = containers[2];
    assert.deepEqual(exporter.ports, [{ name: "metrics", containerPort: 9102, protocol: "TCP" }]);
    assert.ok(
      (exporter.volumeMounts as JsonObject[]).every((m) => m.readOnly === true),
      "the exporter writes nothing",
    );
    assert.equal(containers[1].image, "ghcr.io/2i2c-org/jupyterhub-home-nfs:1.2.0");
    // New quotas do not roll the NFS server (every user's files would pause): only the program does.
    const other = await render("prod", ["userQuotaDefault=5Gi"]);
    assert.deepEqual(at(manifest(other, "Deployment", "nfs-server"), "spec", "template"), pod);
  });

  it("the file browser's usage page: a Service of its own to the exporter, and the file browser's only egress", async () => {
    const r = await render("prod", quotasOn);
    const service = manifest(r, "Service", "nfs-server-usage");
    const nfsLabels = at(manifest(r, "Deployment", "nfs-server"), "spec", "template", "metadata", "labels") as object;
    for (const [k, v] of Object.entries(at(service, "spec", "selector") as object)) {
      assert.equal((nfsLabels as Record<string, unknown>)[k], v, `the Service selects the NFS server pod (${k})`);
    }
    assert.deepEqual(at(service, "spec", "ports"), [
      { name: "metrics", port: 9102, targetPort: "metrics", protocol: "TCP" },
    ]);
    const conf = String(fileBrowserOf(r)?.conf);
    assert.ok(conf.includes(`proxy_pass http://${String(at(service, "spec", "clusterIP"))}:9102;`), conf);
    // The NFS Service itself does not change with the quotas setting (a new one would move the PV).
    const off = await render("prod", []);
    assert.deepEqual(manifest(off, "Service", "nfs-server").spec, manifest(r, "Service", "nfs-server").spec);
    assert.throws(() => manifest(off, "Service", "nfs-server-usage"), /found 0/);

    // By NetworkPolicy semantics: the file browser reaches the exporter's port and nothing else.
    const policies = manifests(r, "NetworkPolicy");
    const podOf = (name: string, ip: string): PodRef => {
      const d = manifest(r, "Deployment", name);
      return {
        namespace: String(at(d, "metadata", "namespace")),
        labels: at(d, "spec", "template", "metadata", "labels") as Record<string, string>,
        ip,
      };
    };
    const browser = podOf("file-browser", "10.4.0.10");
    const nfs = podOf("nfs-server", "10.4.0.11");
    const hub = podOf("hub", "10.4.0.12");
    const tcp = (port: number) => ({ port, protocol: "TCP" as const });
    assert.ok(allowed(policies, browser, { pod: nfs }, tcp(9102)), "file browser -> usage exporter");
    assert.ok(!allowed(policies, browser, { pod: nfs }, tcp(2049)), "file browser -> NFS");
    assert.ok(!allowed(policies, browser, { pod: hub }, tcp(8081)), "file browser -> hub");
    assert.ok(!allowed(policies, browser, { ip: "151.101.0.223" }, tcp(443)), "file browser -> the internet");
    const user: PodRef = { namespace: browser.namespace, labels: kubeSpawnerUserPodLabels, ip: "10.4.1.10" };
    assert.ok(!allowed(policies, user, { pod: nfs }, tcp(9102)), "user pod -> usage exporter");
    // Without quotas the file browser calls out to nothing.
    const offBrowser = manifests(off, "NetworkPolicy").find((p) => at(p, "metadata", "name") === "file-browser");
    assert.deepEqual(at(offBrowser as JsonObject, "spec", "egress"), []);
  });

  it("an existing ext4 disk is refused when quotas turn on, and an XFS one when they turn off, naming the key", async () => {
    const ext4 = { "jupyterhub-notebooks": 200 };
    await assert.rejects(render("prod", quotasOn, ext4), (err: unknown) => {
      assert.ok(err instanceof StackConfigError);
      assert.equal(err.problems[0].key, "userQuotaDefault");
      assert.match(err.problems[0].message, /is ext4 .*docs\/operations\.md/);
      return true;
    });
    const xfs = { "jupyterhub-notebooks": { sizeGb: 200, labels: { "file-system": "xfs" } } };
    await assert.doesNotReject(render("prod", quotasOn, xfs));
    await assert.rejects(
      render("prod", [], xfs),
      /userQuotaDefault: is empty, but the disk jupyterhub-notebooks is XFS/,
    );
  });
});
