import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { renderStack, type Rendering, type RenderedResource } from "../render";
import { RenderMocks, type JsonObject } from "../render/mocks";
import { loadCliConfig } from "../render/stackConfig";
import { readProjectFile, StackConfigError } from "../stacks";
import { at, manifest, manifests, resource } from "./support/rendered";
import { rejectedKeys, validate } from "./support/validate";

const project = readProjectFile();
const snapshot = "jupyterhub-notebooks-20261101";
/** The prod stack's disk as it exists in GCE before the change under test. */
const prodDiskNow = { "jupyterhub-notebooks": 200 };

let queue: Promise<unknown> = Promise.resolve();
/** Renders one after another (renderings share the Pulumi runtime's global state). */
function render(overrides: string[], existingDisks: Record<string, number> = prodDiskNow): Promise<Rendering> {
  const result = queue.then(() => renderStack({ stack: "prod", overrides, existingDisks }));
  queue = result.catch(() => undefined);
  return result;
}

const disk = (r: Rendering) => resource(r, "gcp:compute/disk:Disk", "notebook-disk-disk");
const nfsVolume = (r: Rendering) => manifest(r, "PersistentVolume", "notebooks-pv-");
const gceVolume = (r: Rendering) => manifest(r, "PersistentVolume", "notebook-disk-pv-");
const nfsServer = (r: Rendering) => manifest(r, "Deployment", "nfs-server");
const nfsService = (r: Rendering) =>
  manifests(r, "Service").find((s) => at(s, "metadata", "name") === "nfs-server") as JsonObject;
const dataClaimOf = (r: Rendering) =>
  String(at(nfsServer(r), "spec", "template", "spec", "volumes", 0, "persistentVolumeClaim", "claimName"));

/** Paths (a.b.0.c) at which two JSON values differ. */
function changedPaths(a: unknown, b: unknown, prefix = ""): string[] {
  if (JSON.stringify(a) === JSON.stringify(b)) return [];
  if (a && b && typeof a === "object" && typeof b === "object") {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) =>
      changedPaths((a as JsonObject)[k], (b as JsonObject)[k], prefix ? `${prefix}.${k}` : k),
    );
  }
  return [prefix];
}

/**
 * Input paths whose change makes a provider replace the resource rather than update it. Kubernetes:
 * the pinned provider's table (pulumi-kubernetes provider/pkg/provider/diff.go, `forceNew`), for
 * the kinds whose inputs a size change touches; metadata name and namespace for every kind. GCP
 * disk: `name`, `zone`, `type`, `snapshot` are create-only in the API; `size` is an update when it
 * grows (and a replacement when it shrinks, which stacks/diskShrink.ts refuses).
 */
const forceNew: Record<string, RegExp> = {
  "kubernetes:core/v1:PersistentVolumeClaim":
    /^(metadata\.(name|namespace)|spec\.(accessModes|selector|storageClassName|volumeName))(\.|$)/,
  "kubernetes:core/v1:PersistentVolume":
    /^(metadata\.name|spec\.(csi|nfs|gcePersistentDisk|hostPath|local|iscsi|fc|rbd|cephfs|cinder|flexVolume|glusterfs|azureDisk|azureFile|vsphereVolume|quobyte|portworxVolume|photonPersistentDisk|scaleIO|storageos|awsElasticBlockStore|flocker))(\.|$)/,
  "gcp:compute/disk:Disk": /^(name|zone|type|snapshot|project)$/,
};

function replacements(before: Rendering, after: Rendering): string[] {
  const found: string[] = [];
  for (const b of before.resources) {
    const a = after.resources.find((x) => x.type === b.type && x.name === b.name);
    if (!a) {
      found.push(`${b.type}::${b.name} is gone`);
      continue;
    }
    const ignored = a.options.ignoreChanges ?? [];
    const paths = changedPaths(b.inputs, a.inputs).filter(
      (p) => !ignored.some((i) => p === i || p.startsWith(`${i}.`)),
    );
    const replaceOn = (a.options.replaceOnChanges ?? []).map((p) => new RegExp(`^${p.replace(/\./g, "\\.")}(\\.|$)`));
    for (const p of paths) {
      if (forceNew[a.type]?.test(p) || replaceOn.some((r) => r.test(p))) found.push(`${a.type}::${a.name} ${p}`);
    }
  }
  return found;
}

/** Every input that changed, as `type::name path`, ignoreChanges left out. */
function updates(before: Rendering, after: Rendering): string[] {
  return before.resources.flatMap((b: RenderedResource) => {
    const a = after.resources.find((x) => x.type === b.type && x.name === b.name);
    if (!a) return [];
    const ignored = a.options.ignoreChanges ?? [];
    return changedPaths(b.inputs, a.inputs)
      .filter((p) => !ignored.some((i) => p === i || p.startsWith(`${i}.`)))
      .map((p) => `${b.type}::${b.name} ${p}`);
  });
}

/**
 * Claims whose request grows that the API server would refuse, as its admission plugin
 * PersistentVolumeClaimResize decides (k8s.io/kubernetes plugin/pkg/admission/storage/
 * persistentvolume/resize/admission.go): a claim may grow only if its storageClassName is not ""
 * and names a class with allowVolumeExpansion. Classes the program does not render (the
 * StorageClass path's) are the cluster's, and the API server decides on those.
 */
function refusedGrowth(before: Rendering, after: Rendering): string[] {
  const refused: string[] = [];
  for (const a of after.resources.filter((r) => r.type === "kubernetes:core/v1:PersistentVolumeClaim")) {
    const b = before.resources.find((x) => x.type === a.type && x.name === a.name);
    if (!b || (a.options.ignoreChanges ?? []).includes("spec.resources")) continue;
    const size = (r: RenderedResource) => String(at(r.inputs, "spec", "resources", "requests", "storage"));
    if (size(a) === size(b)) continue;
    const cls = at(a.inputs, "spec", "storageClassName");
    const rendered = manifests(after, "StorageClass").find((c) => at(c, "metadata", "name") === cls);
    if (typeof cls !== "string" || cls === "" || (rendered && rendered.allowVolumeExpansion !== true)) {
      refused.push(`${a.name} (class ${JSON.stringify(cls ?? null)})`);
    }
  }
  return refused;
}

describe("grow the disk", () => {
  it("a larger diskSize grows the GCE disk, its volume, its claim and the NFS volume in place, and nothing is replaced", async () => {
    const before = await render([]);
    const after = await render(["diskSize=300Gi"]);
    assert.deepEqual(
      after.resources.map((r) => `${r.type}::${r.name}`),
      before.resources.map((r) => `${r.type}::${r.name}`),
      "the same resources, none added or removed",
    );
    assert.deepEqual(replacements(before, after), []);
    assert.deepEqual(refusedGrowth(before, after), [], "the API server would refuse these claims' growth");
    assert.deepEqual(updates(before, after).sort(), [
      "gcp:compute/disk:Disk::notebook-disk-disk size",
      "kubernetes:core/v1:PersistentVolume::notebook-disk-pv spec.capacity.storage",
      "kubernetes:core/v1:PersistentVolume::notebooks-pv spec.capacity.storage",
      "kubernetes:core/v1:PersistentVolumeClaim::notebook-disk-pvc spec.resources.requests.storage",
    ]);
    assert.equal(disk(after).inputs.size, 300);
    assert.equal(at(gceVolume(after), "spec", "capacity", "storage"), "300Gi");
    assert.equal(at(nfsVolume(after), "spec", "capacity", "storage"), "300Gi");
    const claim = manifest(after, "PersistentVolumeClaim", "jupyterhub-notebooks");
    assert.equal(at(claim, "spec", "resources", "requests", "storage"), "300Gi");
    // The API server lets a bound claim grow only if its class allows expansion; the external
    // resizer and the kubelet (NodeExpandVolume: resize2fs, online) then grow the file system.
    const cls = manifest(after, "StorageClass", String(at(claim, "spec", "storageClassName")));
    assert.equal(cls.allowVolumeExpansion, true);
    assert.equal(cls.provisioner, "pd.csi.storage.gke.io");
    assert.equal(at(gceVolume(after), "spec", "storageClassName"), at(claim, "spec", "storageClassName"));
    assert.equal(at(gceVolume(after), "spec", "csi", "driver"), cls.provisioner);
  });

  it('the NFS claim (class "", which may never grow) keeps its request; its volume shows the new size', async () => {
    const after = await render(["diskSize=300Gi"]);
    const nfsClaim = resource(after, "kubernetes:core/v1:PersistentVolumeClaim", "notebooks-pvc");
    assert.deepEqual(nfsClaim.options.ignoreChanges, ["spec.resources"]);
    assert.equal(at(nfsClaim.inputs, "spec", "storageClassName"), "");
  });

  it("on the StorageClass path the claim of the configured class grows, and nothing is replaced", async () => {
    const sc = ["diskKind=storageClass", "diskSnapshots=false", "storageClassName=expandable-rwo"];
    const before = await render(sc, {});
    const after = await render([...sc, "diskSize=300Gi"], {});
    assert.deepEqual(replacements(before, after), []);
    assert.deepEqual(refusedGrowth(before, after), []);
    assert.deepEqual(updates(before, after).sort(), [
      "kubernetes:core/v1:PersistentVolume::notebooks-pv spec.capacity.storage",
      "kubernetes:core/v1:PersistentVolumeClaim::notebook-disk-pvc spec.resources.requests.storage",
    ]);
    const claim = manifest(after, "PersistentVolumeClaim", "jupyterhub-notebooks");
    assert.equal(at(claim, "spec", "storageClassName"), "expandable-rwo");
  });

  it("a smaller diskSize than the disk has is refused before anything is registered, naming the key", async () => {
    const { values, secretKeys } = loadCliConfig("prod", ["diskSize=100Gi"], project);
    const mocks = new RenderMocks("prod", values, prodDiskNow);
    await pulumi.runtime.setMocks(mocks, project.name, "prod", false);
    pulumi.runtime.setAllConfig(values, secretKeys);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const program = require("../index") as () => Promise<unknown>;
    await assert.rejects(program(), (err: unknown) => {
      assert.ok(err instanceof StackConfigError);
      assert.deepEqual(
        err.problems.map((p) => p.key),
        ["diskSize"],
      );
      assert.match(
        err.message,
        /jupyterhub-nfs:diskSize: "100Gi" is smaller than the disk jupyterhub-notebooks as it is \(200 GiB\)/,
      );
      return true;
    });
    await pulumi.runtime.disconnect();
    assert.equal(mocks.resources.length, 0);
    // The same size, a larger one, or a disk that does not exist yet are fine.
    await render(["diskSize=200Gi"]);
    await render(["diskSize=1Ti"]);
    await render(["diskSize=100Gi"], {});
  });

  it("a failure to read the disk stops the run rather than skip the check", async () => {
    class DeniedMocks extends RenderMocks {
      call(args: pulumi.runtime.MockCallArgs): pulumi.runtime.MockCallResult {
        const message = `invocation of ${args.token} returned an error: googleapi: Error 403: Required 'compute.disks.get' permission`;
        throw Object.assign(new Error(message), { details: message });
      }
    }
    const { values, secretKeys } = loadCliConfig("prod", [], project);
    const mocks = new DeniedMocks("prod", values);
    await pulumi.runtime.setMocks(mocks, project.name, "prod", false);
    pulumi.runtime.setAllConfig(values, secretKeys);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const program = require("../index") as () => Promise<unknown>;
    await assert.rejects(program(), /compute\.disks\.get/);
    await pulumi.runtime.disconnect();
    assert.equal(mocks.resources.length, 0);
  });
});

describe("restore from a snapshot", () => {
  it("a new stack creates its disk from the snapshot", async () => {
    const r = await render([`diskSnapshot=${snapshot}`], {});
    assert.equal(disk(r).inputs.snapshot, snapshot);
    assert.equal(disk(r).inputs.name, "jupyterhub-notebooks");
    assert.equal(disk(r).options.retainOnDelete, true);
    // Without the key, no snapshot input at all (an empty one would differ from the state of disks made before).
    assert.equal("snapshot" in disk(await render([])).inputs, false);
  });

  it("restoring in place makes a new disk from the snapshot, keeps the old one, and leaves the NFS Service and volume alone", async () => {
    const before = await render(["diskProtect=false"]);
    const after = await render([
      "diskProtect=false",
      "diskName=jupyterhub-notebooks-restored",
      `diskSnapshot=${snapshot}`,
    ]);
    // The same Pulumi resource, with a new name and a snapshot: GCE cannot rename a disk or change
    // where it came from, so Pulumi replaces it; retainOnDelete turns the old disk's delete into
    // "forget it", so it stays in GCE until someone deletes it.
    const d = disk(after);
    assert.equal(d.inputs.name, "jupyterhub-notebooks-restored");
    assert.equal(d.inputs.snapshot, snapshot);
    assert.equal(d.options.retainOnDelete, true);
    assert.ok(replacements(before, after).includes("gcp:compute/disk:Disk::notebook-disk-disk name"));
    // The new disk reaches the NFS server through a new volume and claim.
    assert.equal(
      at(gceVolume(after), "spec", "csi", "volumeHandle"),
      "projects/example-project/zones/europe-west1-b/disks/jupyterhub-notebooks-restored",
    );
    assert.equal(dataClaimOf(after), "jupyterhub-notebooks-restored");
    assert.equal(dataClaimOf(before), "jupyterhub-notebooks");
    // What users mount does not move: same NFS Service address, same NFS volume and claim.
    assert.equal(at(nfsService(after), "spec", "clusterIP"), at(nfsService(before), "spec", "clusterIP"));
    assert.deepEqual(nfsVolume(after), nfsVolume(before));
    assert.deepEqual(
      manifest(after, "PersistentVolumeClaim", "notebooks"),
      manifest(before, "PersistentVolumeClaim", "notebooks"),
    );
  });

  it("refuses a snapshot that would not keep the old disk, on a StorageClass disk, or that is no snapshot name", () => {
    const keys = (overrides: string[]) => rejectedKeys("prod", overrides);
    assert.deepEqual(keys([`diskSnapshot=${snapshot}`, "diskRetainOnDelete=false", "diskProtect=false"]), [
      "diskSnapshot",
    ]);
    assert.deepEqual(keys([`diskSnapshot=${snapshot}`, "diskKind=storageClass", "diskSnapshots=false"]), [
      "diskSnapshot",
    ]);
    assert.deepEqual(keys(["diskSnapshot=Not A Snapshot"]), ["diskSnapshot"]);
    for (const ok of [
      snapshot,
      `projects/example-project/global/snapshots/${snapshot}`,
      `https://www.googleapis.com/compute/v1/projects/example-project/global/snapshots/${snapshot}`,
    ]) {
      assert.equal(validate("prod", [`diskSnapshot=${ok}`]).diskSnapshot, ok);
    }
  });
});
