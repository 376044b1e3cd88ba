import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { rejectedKeys } from "./support/validate";
import { rendered, resource } from "./support/rendered";

/** The prod stack (a GCE disk in europe-west1-b, project example-project) with diskAdopt on. */
const adopt = ["diskAdopt=true"];

describe("diskAdopt: re-adopting a kept GCE disk", () => {
  it("imports the existing disk by its full ID instead of creating it", async () => {
    const disk = resource(await rendered("prod", adopt), "gcp:compute/disk:Disk", "notebook-disk-disk");
    assert.equal(disk.options.import, "projects/example-project/zones/europe-west1-b/disks/jupyterhub-notebooks");
    // Imported with the same options as a created disk: still kept and protected.
    assert.equal(disk.options.retainOnDelete, true);
    assert.equal(disk.options.protect, true);
  });

  it("creates the disk when off (the default)", async () => {
    const disk = resource(await rendered("prod"), "gcp:compute/disk:Disk", "notebook-disk-disk");
    assert.equal(disk.options.import, undefined);
  });

  it("is refused on the StorageClass path, naming the key", () => {
    assert.deepEqual(rejectedKeys("dev", adopt), ["diskAdopt"]);
  });
});
