import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { namespaceMetadata, stackAnnotation } from "../components/common";
import {
  diskZoneNodes,
  failed,
  formatResult,
  hubDbStorageClass,
  kubernetesVersion,
  namespaceOwner,
  networkPolicy,
  ourNamespaces,
  pdCsiDriver,
  podSecurityAdmission,
  runChecks,
  storageClass,
  volumeExpansion,
  type ClusterFacts,
  type Fact,
  type StorageClassFacts,
} from "../preflight/checks";
import { loadCliConfig } from "../render/stackConfig";
import { readProjectFile, validateCliConfig, type StackConfig } from "../stacks";
import { rendered } from "./support/rendered";

const project = readProjectFile();
function config(stack: string, overrides: string[] = []): StackConfig {
  return validateCliConfig(loadCliConfig(stack, overrides, project).values, project);
}
/** dev: a StorageClass disk (standard-rwo), the hub database on the default class. */
const dev = config("dev");
/** prod: a GCE disk in europe-west1-b. */
const prod = config("prod");

const ok = <T>(value: T): Fact<T> => ({ ok: true, value });
const denied: Fact<never> = { ok: false, error: 'daemonsets.apps is forbidden: User "x" cannot list resource' };

function sc(name: string, more: Partial<StorageClassFacts> = {}): StorageClassFacts {
  return {
    name,
    provisioner: "pd.csi.storage.gke.io",
    reclaimPolicy: "Delete",
    allowVolumeExpansion: true,
    isDefault: false,
    ...more,
  };
}

describe("preflight: Kubernetes version", () => {
  it("passes from 1.30 on, GKE's version suffix included, and warns below", () => {
    assert.equal(kubernetesVersion("v1.36.1").status, "pass");
    assert.equal(kubernetesVersion("v1.33.5-gke.1308000").status, "pass");
    assert.equal(kubernetesVersion("v1.30.0").status, "pass");
    const old = kubernetesVersion("v1.29.9");
    assert.equal(old.status, "warn");
    assert.match(old.detail, /older than 1\.30/);
    assert.equal(kubernetesVersion("garbage").status, "warn");
  });
});

describe("preflight: NetworkPolicy implementation (a heuristic)", () => {
  it("recognises GKE Dataplane V2, Calico and Cilium by their DaemonSets", () => {
    for (const ds of ["kube-system/anetd", "kube-system/calico-node", "calico-system/calico-node", "cilium/cilium"]) {
      const r = networkPolicy(dev, ok(["kube-system/kube-proxy", ds]));
      assert.equal(r.status, "pass", ds);
      assert.ok(r.detail.includes(ds) && r.detail.includes("heuristic"), r.detail);
    }
  });
  it("warns when none is found, saying what that means for the NFS policy, and when it cannot tell", () => {
    const none = networkPolicy(dev, ok(["kube-system/kube-proxy", "kube-system/kindnet"]));
    assert.equal(none.status, "warn");
    assert.match(none.detail, /not enforced/);
    assert.ok(none.fix);
    assert.match(networkPolicy(config("dev", ["networkPolicies=false"]), ok([])).detail, /can reach the NFS export/);
    assert.equal(networkPolicy(dev, denied).status, "warn");
  });
});

describe("preflight: StorageClasses", () => {
  it("fails when the data claim's class is missing, naming the ones there are", () => {
    const r = storageClass(dev, ok([sc("standard"), sc("premium-rwo")]));
    assert.equal(r.status, "fail");
    assert.match(r.detail, /standard-rwo does not exist.*standard, premium-rwo/);
    assert.match(r.fix ?? "", /pulumi config set storageClassName/);
    assert.equal(storageClass(dev, ok([sc("standard-rwo")])).status, "pass");
    assert.equal(storageClass(dev, denied).status, "fail");
    assert.equal(storageClass(prod, ok([])).status, "skip", "a GCE disk needs no class");
  });
  it("warns when the class cannot expand (diskSize could never grow)", () => {
    assert.equal(volumeExpansion(dev, ok([sc("standard-rwo")])).status, "pass");
    const fixed = volumeExpansion(dev, ok([sc("standard-rwo", { allowVolumeExpansion: false })]));
    assert.equal(fixed.status, "warn");
    assert.match(fixed.fix ?? "", /allowVolumeExpansion/);
    assert.equal(volumeExpansion(dev, ok([])).status, "skip");
    assert.equal(volumeExpansion(prod, ok([sc("standard-rwo")])).status, "skip");
  });
  it("needs a default class for the hub database unless hubDbStorageClassName names one that exists", () => {
    assert.equal(hubDbStorageClass(dev, ok([sc("standard-rwo")])).status, "fail");
    assert.equal(hubDbStorageClass(dev, ok([sc("standard-rwo", { isDefault: true })])).status, "pass");
    const named = config("dev", ["hubDbStorageClassName=fast"]);
    assert.equal(hubDbStorageClass(named, ok([sc("standard-rwo", { isDefault: true })])).status, "fail");
    assert.equal(hubDbStorageClass(named, ok([sc("fast")])).status, "pass");
  });
});

describe("preflight: GCE disk", () => {
  it("fails without a node in the disk's zone, naming the zones there are", () => {
    const node = (name: string, zone: string | undefined, gkeZone = zone) => ({ node: name, zone, gkeZone });
    const nodes = ok([node("a", "europe-west1-c"), node("b", "europe-west1-d")]);
    const r = diskZoneNodes(prod, nodes);
    assert.equal(r.status, "fail");
    assert.match(r.detail, /no node in europe-west1-b/);
    assert.match(r.fix ?? "", /diskZone <one of europe-west1-c, europe-west1-d>/);
    assert.equal(diskZoneNodes(prod, ok([node("a", undefined)])).status, "fail");
    const inZone = diskZoneNodes(prod, ok([node("a", "europe-west1-b"), node("b", "europe-west1-c")]));
    assert.equal(inZone.status, "pass");
    assert.match(inZone.detail, /1 of 2 node\(s\) in europe-west1-b/);
    assert.equal(diskZoneNodes(dev, nodes).status, "skip");
  });
  it("needs the zone label the disk's volume selects nodes by (topology.gke.io/zone)", () => {
    const r = diskZoneNodes(prod, ok([{ node: "a", zone: "europe-west1-b", gkeZone: undefined }]));
    assert.equal(r.status, "fail");
    assert.match(r.detail, /none carries topology\.gke\.io\/zone/);
  });
  it("fails without the pd.csi driver", () => {
    assert.equal(pdCsiDriver(prod, ok(["pd.csi.storage.gke.io"])).status, "pass");
    assert.equal(pdCsiDriver(prod, ok(["filestore.csi.storage.gke.io"])).status, "fail");
    assert.equal(pdCsiDriver(dev, ok([])).status, "skip");
  });
});

describe("preflight: namespaces", () => {
  const ours = namespaceMetadata("nfs", "jupyterhub-nfs", "prod");
  const facts = (labels: Record<string, string>, annotations: Record<string, string> = {}, phase = "Active") =>
    ok({ labels, annotations, phase });

  it("passes when free or when this stack made it; fails when another stack of ours or someone else did", () => {
    assert.equal(namespaceOwner("nfsNamespace", "jupyterhub-nfs", "prod", ok(undefined)).status, "pass");
    const mine = namespaceOwner("nfsNamespace", "jupyterhub-nfs", "prod", facts(ours.labels, ours.annotations));
    assert.equal(mine.status, "pass");
    assert.match(mine.detail, /already ours/);
    const otherStack = namespaceOwner(
      "nfsNamespace",
      "jupyterhub-nfs",
      "staging",
      facts(ours.labels, ours.annotations),
    );
    assert.equal(otherStack.status, "fail");
    assert.match(otherStack.detail, /another stack of this project \(prod\)/);
    const foreign = namespaceOwner("namespace", "jupyterhub", "prod", facts({ team: "data" }));
    assert.equal(foreign.status, "fail");
    assert.match(foreign.fix ?? "", /pulumi config set namespace/);
    const pulumiMade = namespaceOwner(
      "namespace",
      "jupyterhub",
      "prod",
      facts({ "app.kubernetes.io/managed-by": "pulumi" }),
    );
    assert.equal(pulumiMade.status, "warn");
    const going = namespaceOwner(
      "namespace",
      "jupyterhub",
      "prod",
      facts(ours.labels, ours.annotations, "Terminating"),
    );
    assert.equal(going.status, "fail");
    assert.equal(namespaceOwner("namespace", "jupyterhub", "prod", denied).status, "fail");
  });

  it("reports what admission said about our Pod Security labels", () => {
    assert.equal(podSecurityAdmission("jupyterhub-nfs", "privileged", ok({ allowed: true })).status, "pass");
    const policy = podSecurityAdmission(
      "jupyterhub-nfs",
      "privileged",
      ok({ allowed: false, code: 422, message: "ValidatingAdmissionPolicy 'no-privileged' denied request" }),
    );
    assert.equal(policy.status, "fail");
    assert.match(policy.detail, /no-privileged/);
    assert.match(policy.fix ?? "", /exempt/);
    const rbac = podSecurityAdmission(
      "jupyterhub",
      "baseline",
      ok({
        allowed: false,
        code: 403,
        message: 'namespaces is forbidden: User "ci" cannot create resource "namespaces"',
      }),
    );
    assert.match(rbac.fix ?? "", /may not create or update namespaces/);
  });

  it("checks the namespaces the program creates, with the labels and stack annotation it gives them", async () => {
    const r = await rendered("dev");
    const rendering = r.manifests.filter((m) => m.kind === "Namespace");
    const expected = ourNamespaces(dev).map(({ role, name }) => namespaceMetadata(role, name, "dev"));
    assert.deepEqual(
      rendering.map((m) => m.metadata),
      expected.map((m) => ({ ...m })),
    );
    for (const m of expected) assert.equal(m.annotations[stackAnnotation], "dev");
  });
});

describe("preflight: all checks", () => {
  const facts: ClusterFacts = {
    version: "v1.33.5-gke.1308000",
    daemonSets: ok(["kube-system/anetd"]),
    storageClasses: ok([sc("standard-rwo", { isDefault: true })]),
    nodeZones: ok([{ node: "n1", zone: "europe-west1-b", gkeZone: "europe-west1-b" }]),
    csiDrivers: ok(["pd.csi.storage.gke.io"]),
    namespaces: { jupyterhub: ok(undefined), "jupyterhub-nfs": ok(undefined) },
    podSecurityDryRun: { jupyterhub: ok({ allowed: true }), "jupyterhub-nfs": ok({ allowed: true }) },
  };
  it("a GKE cluster ready for prod passes every check, one line each", () => {
    const results = runChecks(prod, "prod", facts);
    assert.deepEqual(
      results.map((x) => `${x.check} ${x.status}`),
      [
        "kubernetes-version pass",
        "network-policy pass",
        "storage-class skip",
        "volume-expansion skip",
        "hub-db-storage-class pass",
        "disk-zone-nodes pass",
        "pd-csi-driver pass",
        "namespace:jupyterhub pass",
        "pod-security:jupyterhub pass",
        "namespace:jupyterhub-nfs pass",
        "pod-security:jupyterhub-nfs pass",
      ],
    );
    assert.equal(failed(results), false);
    for (const x of results) assert.doesNotMatch(formatResult(x), /\n/);
  });
  it("one failure fails the run, and the line says what to do", () => {
    const results = runChecks(prod, "prod", {
      ...facts,
      nodeZones: ok([{ node: "n1", zone: "us-east1-b", gkeZone: "us-east1-b" }]),
    });
    assert.equal(failed(results), true);
    const line = formatResult(results.find((x) => x.status === "fail") ?? assert.fail("no failure"));
    assert.match(line, /^FAIL disk-zone-nodes: no node in europe-west1-b, .* \(fix: pulumi config set diskZone/);
  });
});
