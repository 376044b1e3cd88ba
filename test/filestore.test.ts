/**
 * diskKind filestore: its keys refused with the key named, and what the program makes of them
 * (rendered under mocks: no Filestore instance is created anywhere in these tests). The kernel lab
 * (e2e/kernelLab.test.ts) mounts a stand-in Filestore export with these options.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { filestoreCapacityProblem, filestoreMountOptions } from "../components/storage/filestore";
import { nfsMountOptions } from "../components/storage/nfsVolume";
import type { Rendering } from "../render";
import { at, manifest, manifests, rendered, resource } from "./support/rendered";
import { refusals, rejectedKeys, validate } from "./support/validate";

/** The prod stack as a Filestore stack (prod's daily disk snapshots are a GCE disk's). */
const filestore = ["diskKind=filestore", "diskSize=1Ti", "diskSnapshots=false"];

const problems = (overrides: string[]): string[] => refusals("prod", [...filestore, ...overrides]);

describe("diskKind filestore: config", () => {
  it("accepts the prod stack as a Filestore stack, with every tier at its smallest size", () => {
    assert.equal(validate("prod", filestore).diskKind, "filestore");
    for (const [tier, size] of [
      ["BASIC_HDD", "1Ti"],
      ["BASIC_SSD", "2560Gi"],
      ["ZONAL", "1Ti"],
      ["REGIONAL", "1280Gi"],
      ["ENTERPRISE", "10Ti"],
    ]) {
      assert.equal(validate("prod", [...filestore, `filestoreTier=${tier}`, `diskSize=${size}`]).filestoreTier, tier);
    }
  });

  it("refuses a capacity the tier does not offer, naming diskSize and the tier's bounds or step", () => {
    assert.match(problems(["diskSize=200Gi"]).join("\n"), /^diskSize: .*from 1024Gi to 102400Gi for a ZONAL/);
    assert.match(
      problems(["filestoreTier=BASIC_SSD", "diskSize=2Ti"]).join(),
      /from 2560Gi to 65433Gi for a BASIC_SSD/,
    );
    assert.match(problems(["diskSize=1100Gi"]).join(), /^diskSize: .*1024Gi plus a multiple of 256Gi/);
    assert.match(problems(["diskSize=11Ti"]).join(), /^diskSize: .*10240Gi plus a multiple of 2560Gi/);
    assert.match(problems(["filestoreTier=ENTERPRISE", "diskSize=11Ti"]).join(), /from 1024Gi to 10240Gi/);
    assert.equal(filestoreCapacityProblem("BASIC_HDD", 1025), undefined, "Basic grows by 1 GiB");
    assert.equal(filestoreCapacityProblem("ZONAL", 12800), undefined, "10 TiB plus one 2.5 TiB step");
  });

  it("refuses a bad tier, network, range or client list, naming the key (and the list item)", () => {
    assert.deepEqual(rejectedKeys("prod", [...filestore, "filestoreTier=PREMIUM"]), ["filestoreTier"]);
    assert.deepEqual(rejectedKeys("prod", [...filestore, "filestoreNetwork=My Network"]), ["filestoreNetwork"]);
    assert.deepEqual(rejectedKeys("prod", [...filestore, "filestoreReservedIpRange=10.0.0.0"]), [
      "filestoreReservedIpRange",
    ]);
    assert.deepEqual(rejectedKeys("prod", [...filestore, 'filestoreClientCidrs=["10.132.0.0/20","nodes"]']), [
      "filestoreClientCidrs[1]",
    ]);
    assert.equal(
      validate("prod", [...filestore, "filestoreNetwork=projects/host-project-1/global/networks/shared"])
        .filestoreNetwork,
      "projects/host-project-1/global/networks/shared",
    );
  });

  it("refuses a reserved range of the wrong size for the tier, or where user pods may go", () => {
    assert.match(problems(["filestoreReservedIpRange=10.201.0.0/29"]).join(), /must be a \/26 for a ZONAL instance/);
    const basic = ["filestoreTier=BASIC_HDD", "filestoreReservedIpRange=10.201.0.8/29"];
    assert.equal(
      validate("prod", [...filestore, ...basic]).filestoreReservedIpRange,
      "10.201.0.8/29",
      "Basic takes a /29",
    );
    assert.match(
      problems(["filestoreReservedIpRange=203.0.113.0/26"]).join(),
      /^filestoreReservedIpRange: .*a range user pods may not reach/,
    );
    assert.match(
      problems(["filestoreReservedIpRange=10.201.0.0/26", 'userEgressAllowedCidrs=["10.201.0.0/24"]']).join(),
      /^userEgressAllowedCidrs: .* "10.201.0.0\/24" reaches the Filestore instance/,
    );
  });

  it("refuses what only a GCE disk has, and needs a zone", () => {
    assert.deepEqual(rejectedKeys("prod", [...filestore, "diskSnapshots=true"]), ["diskSnapshots"]);
    assert.deepEqual(rejectedKeys("prod", [...filestore, "diskSnapshot=notebooks-20261101"]), ["diskSnapshot"]);
    assert.deepEqual(rejectedKeys("prod", [...filestore, "diskZone="]), ["diskZone"]);
    // Filestore has no quota per folder; the kernel's XFS project quotas need the in-cluster server.
    assert.deepEqual(rejectedKeys("prod", [...filestore, "userQuotaDefault=10Gi"]), ["userQuotaDefault"]);
  });
});

describe("diskKind filestore: what the program makes", () => {
  const zonal = [...filestore, "filestoreReservedIpRange=10.201.0.0/26", 'filestoreClientCidrs=["10.132.0.0/20"]'];

  it("a Filestore instance (NFSv4.1 on a zonal tier), kept, protected and deletion-protected as prod keeps its disk", async () => {
    const r = await rendered("prod", [...zonal, "diskProtect=true"]);
    const instance = resource(r, "gcp:filestore/instance:Instance", "notebook-filestore-instance");
    assert.equal(instance.inputs.name, "jupyterhub-notebooks");
    assert.equal(instance.inputs.tier, "ZONAL");
    assert.equal(instance.inputs.protocol, "NFS_V4_1");
    assert.equal(instance.inputs.location, "europe-west1-b");
    assert.deepEqual(instance.inputs.fileShares, {
      name: "notebooks",
      capacityGb: 1024,
      nfsExportOptions: [{ ipRanges: ["10.132.0.0/20"], accessMode: "READ_WRITE", squashMode: "NO_ROOT_SQUASH" }],
    });
    assert.deepEqual(instance.inputs.networks, [
      { network: "default", modes: ["MODE_IPV4"], connectMode: "DIRECT_PEERING", reservedIpRange: "10.201.0.0/26" },
    ]);
    assert.equal(instance.inputs.deletionProtectionEnabled, true);
    assert.equal(instance.options.retainOnDelete, true);
    assert.equal(instance.options.protect, true);
  });

  it("no NFS server: no Deployment, Service, PriorityClass or privileged namespace", async () => {
    const r = await rendered("prod", zonal);
    assert.deepEqual(
      manifests(r, "Deployment")
        .map((d) => at(d, "metadata", "name"))
        .sort(),
      ["file-browser", "hub", "proxy"],
    );
    assert.ok(!manifests(r, "Service").some((s) => at(s, "metadata", "name") === "nfs-server"));
    assert.equal(manifests(r, "PriorityClass").length, 0);
    assert.deepEqual(
      manifests(r, "Namespace").map((n) => at(n, "metadata", "labels", "pod-security.kubernetes.io/enforce")),
      ["baseline"],
    );
    assert.equal(r.outputs.nfsNamespace, undefined);
    assert.ok(!r.resources.some((x) => x.type === "gcp:compute/disk:Disk"));
  });

  it("the same NFS volume and claim, wired to the instance's address and share", async () => {
    const r = await rendered("prod", zonal);
    const instance = resource(r, "gcp:filestore/instance:Instance", "notebook-filestore-instance");
    const ip = (instance.outputs.networks as { ipAddresses: string[] }[])[0].ipAddresses[0];
    const pv = manifest(r, "PersistentVolume", "notebooks-pv-");
    assert.deepEqual(at(pv, "spec", "nfs"), { server: ip, path: "/notebooks" });
    assert.deepEqual(at(pv, "spec", "mountOptions"), nfsMountOptions);
    assert.equal(r.outputs.nfsServerIp, ip);
    const claim = manifest(r, "PersistentVolumeClaim", "notebooks");
    assert.equal(at(claim, "spec", "volumeName"), at(pv, "metadata", "name"));
    assert.equal(at(claim, "spec", "storageClassName"), "");
    assert.equal(at(claim, "metadata", "namespace"), r.outputs.hubNamespace);
  });

  it("Basic speaks NFSv3 only: the instance is made so and mounted with nfsvers=3; regional tiers live in the region", async () => {
    assert.deepEqual(filestoreMountOptions("BASIC_HDD"), ["nfsvers=3", "hard", "timeo=600", "retrans=2"]);
    const basic = await rendered("prod", [...filestore, "filestoreTier=BASIC_HDD"]);
    assert.equal(
      resource(basic, "gcp:filestore/instance:Instance", "notebook-filestore-instance").inputs.protocol,
      "NFS_V3",
    );
    assert.deepEqual(at(manifest(basic, "PersistentVolume", "notebooks-pv-"), "spec", "mountOptions"), [
      "nfsvers=3",
      "hard",
      "timeo=600",
      "retrans=2",
    ]);
    const regional = await rendered("prod", [...filestore, "filestoreTier=REGIONAL"]);
    assert.equal(
      resource(regional, "gcp:filestore/instance:Instance", "notebook-filestore-instance").inputs.location,
      "europe-west1",
    );
  });

  it("the share's top folders are made by the NFS server's own init container, as a Job the hub waits for", async () => {
    const r = await rendered("prod", zonal);
    const inCluster = await rendered("prod", []);
    const init = at(
      manifest(inCluster, "Deployment", "nfs-server"),
      "spec",
      "template",
      "spec",
      "initContainers",
      0,
    ) as {
      command: string[];
    };
    const job = manifest(r, "Job", "share-folders-job-");
    const pod = at(job, "spec", "template", "spec") as { containers: { command: string[] }[] };
    assert.equal(at(job, "metadata", "namespace"), r.outputs.hubNamespace);
    assert.deepEqual(at(pod, "volumes"), [{ name: "notebooks", persistentVolumeClaim: { claimName: "notebooks" } }]);
    assert.equal(at(pod, "automountServiceAccountToken"), false);
    // The same folders, owners and modes, under the Job's mount point instead of /exports.
    assert.equal(pod.containers[0].command[2], init.command[2].replaceAll("/exports/", "/share/"));
    assert.deepEqual(at(pod, "containers", 0, "securityContext"), {
      runAsUser: 0,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"], add: ["CHOWN", "FOWNER"] },
    });
    assert.deepEqual(resource(r, "jupyterhub-nfs:hub:JupyterHub", "jupyterhub").options.dependsOn, [
      "jupyterhub-nfs:storage:ShareFolders::share-folders",
    ]);
  });

  it("the hub's config is the in-cluster one but for keeping user pods off the NFS server's node (there is none)", async () => {
    const hubConfig = (r: Rendering) =>
      String(
        (
          manifests(r, "ConfigMap").find((m) => "jupyterhub_config.py" in ((m.data ?? {}) as object))?.data as Record<
            string,
            string
          >
        )["jupyterhub_config.py"],
      );
    const withFilestore = hubConfig(await rendered("prod", zonal)).split("\n");
    const inCluster = hubConfig(await rendered("prod", ["diskSnapshots=false"])).split("\n");
    const gone = inCluster.filter((line) => !withFilestore.includes(line));
    assert.equal(gone.length, 3, gone.join("\n"));
    assert.match(gone[2], /^c\.KubeSpawner\.pod_anti_affinity_preferred = .*"nfs-server"/);
    assert.deepEqual(
      withFilestore,
      inCluster.filter((line) => !gone.includes(line)),
    );
  });

  it("diskAdopt imports the kept instance", async () => {
    const r = await rendered("prod", [...zonal, "diskAdopt=true"]);
    assert.equal(
      resource(r, "gcp:filestore/instance:Instance", "notebook-filestore-instance").options.import,
      "projects/example-project/locations/europe-west1-b/instances/jupyterhub-notebooks",
    );
  });
});
