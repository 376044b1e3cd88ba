/**
 * End-to-end: the real Pulumi CLI and engine, the real Kubernetes provider and a real API server
 * (kwok's simulated node: pods are scheduled and turn Ready, but no container runs, so the NFS
 * server never serves and no volume is ever mounted). See e2e/README.md.
 *
 *   npm run e2e
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { KwokCluster, type KubeObject, type PolicyRule } from "./lib/cluster";
import { PulumiEnv } from "./lib/pulumi";
import { localStackConfig } from "./lib/stackConfig";
import type { StepRecord } from "./lib/pulumi-op";
import { type KubeRef, kubeRef, stackOutputs, stateResources, urnType } from "./lib/state";
import { ensureToolchain, writeNodePlugins } from "./lib/toolchain";

const P = "jupyterhub-nfs";
const HUB_NS = "e2e-hub";
const NFS_NS = "e2e-nfs";
const TEST_CLASS = "e2e-local";
const DATA_PV = "e2e-notebook-disk";
const HUB_DB_PV = "e2e-hub-db";
const DISK_NAME = "notebook-disk";
const SINGLEUSER_IMAGE_2 = "quay.io/jupyterhub/k8s-singleuser-sample:4.3.0";

/** The stack's config, as a user would set it with `pulumi config set`. */
// diskRetainOnDelete stays at the project's default (true): destroy must keep the data claim.
const stackConfig = localStackConfig({
  hubNamespace: HUB_NS,
  nfsNamespace: NFS_NS,
  storageClass: TEST_CLASS,
  diskName: DISK_NAME,
  retainDisk: true,
});

/** KubeSpawner's needs with a shared, pre-made claim (DESIGN.md): nothing more. */
const intendedHubRules: PolicyRule[] = [
  { apiGroups: [""], resources: ["pods"], verbs: ["create", "delete", "get", "list", "watch"] },
  { apiGroups: [""], resources: ["events"], verbs: ["get", "list", "watch"] },
];

function normalizeRules(rules: PolicyRule[]): string[] {
  return rules
    .map((r) =>
      JSON.stringify({
        apiGroups: [...(r.apiGroups ?? [])].sort(),
        resources: [...(r.resources ?? [])].sort(),
        verbs: [...r.verbs].sort(),
        resourceNames: [...(r.resourceNames ?? [])].sort(),
        nonResourceURLs: [...(r.nonResourceURLs ?? [])].sort(),
      }),
    )
    .sort();
}

/** The volumes the test provides for the two ReadWriteOnce claims, pre-bound to them. */
function testVolume(name: string, size: string, claimNamespace: string, claimName: string, dir: string): object {
  return {
    apiVersion: "v1",
    kind: "PersistentVolume",
    metadata: { name, labels: { "e2e.jupyterhub-nfs/test-volume": "true" } },
    spec: {
      capacity: { storage: size },
      accessModes: ["ReadWriteOnce"],
      persistentVolumeReclaimPolicy: "Retain",
      storageClassName: TEST_CLASS,
      hostPath: { path: dir, type: "DirectoryOrCreate" },
      claimRef: { namespace: claimNamespace, name: claimName },
    },
  };
}

/** A failed operation's `error:` lines and the tail of its output, not the whole diff. */
function failed(what: string, r: { error?: string }): string {
  const lines = (r.error ?? "").split("\n");
  const errors = lines.filter((l) => /^\s*error:/.test(l));
  return [`${what} failed:`, ...errors, "--- last lines:", ...lines.slice(-25)].join("\n");
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "jhnfs-e2e-"));
let cluster: KwokCluster | undefined;
let pulumi: PulumiEnv | undefined;
let deployed = false;
let stackCreated = false;

/** On Ctrl-C or a CI kill, still stop the control plane (only the PIDs this test started). */
function stopOnSignal(signal: NodeJS.Signals): void {
  try {
    cluster?.stop();
  } finally {
    process.exit(signal === "SIGINT" ? 130 : 143);
  }
}
process.once("SIGINT", stopOnSignal);
process.once("SIGTERM", stopOnSignal);

function need<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Error(`${what} is not available (an earlier step failed)`);
  return v;
}

describe("jupyterhub-nfs on a live local control plane", { concurrency: false }, () => {
  let outputs: Record<string, unknown> = {};
  let refsBeforeDestroy: KubeRef[] = [];
  const steps: Record<string, StepRecord[]> = {};

  before(async () => {
    const t0 = Date.now();
    const bin = ensureToolchain();
    const pluginDir = writeNodePlugins(path.join(tmp, "plugins"));
    console.log(`# toolchain ready in ${((Date.now() - t0) / 1000).toFixed(1)}s: ${bin}`);
    cluster = new KwokCluster(bin, tmp);
    const t1 = Date.now();
    cluster.start();
    console.log(
      `# control plane up in ${((Date.now() - t1) / 1000).toFixed(1)}s (pids ${cluster.startedPids.join(" ")})`,
    );
    cluster.apply({
      apiVersion: "storage.k8s.io/v1",
      kind: "StorageClass",
      metadata: { name: TEST_CLASS },
      provisioner: "kubernetes.io/no-provisioner",
      volumeBindingMode: "Immediate",
      reclaimPolicy: "Retain",
    });
    cluster.apply(testVolume(DATA_PV, "10Gi", NFS_NS, DISK_NAME, path.join(tmp, "disk-data")));
    cluster.apply(testVolume(HUB_DB_PV, "1Gi", HUB_NS, "hub-db", path.join(tmp, "disk-hub-db")));
    pulumi = new PulumiEnv({ bin, pluginDir, tmp, kubeconfig: cluster.kubeconfig, stackName: "e2e" });
    await pulumi.createStack(stackConfig);
    stackCreated = true;
  });

  after(async () => {
    const errors: unknown[] = [];
    // Whatever failed above: tear down what was made, then stop the control plane.
    if (deployed && pulumi) {
      try {
        await pulumi.run("destroy");
      } catch (err: unknown) {
        errors.push(err);
      }
    }
    if (stackCreated && pulumi) {
      try {
        if ((await pulumi.stackNames()).includes("e2e")) await pulumi.removeStack();
      } catch (err: unknown) {
        errors.push(err);
      }
    }
    if (cluster) {
      const pids = cluster.startedPids;
      try {
        cluster.stop();
        const alive = pids.filter(KwokCluster.alive);
        assert.deepEqual(alive, [], "control plane processes gone");
        console.log(`# control plane stopped; processes ${pids.join(" ")} gone`);
      } catch (err: unknown) {
        errors.push(err);
      }
    }
    if (errors.length === 0) fs.rmSync(tmp, { recursive: true, force: true });
    else console.log(`# kept ${tmp} for inspection`);
    if (errors.length > 0) throw errors[0];
  });

  test("pulumi preview succeeds on the empty stack", async () => {
    const r = await need(pulumi, "pulumi").run("preview");
    assert.ok(r.ok, failed("preview", r));
    const creates = r.steps.filter((s) => s.op === "create").length;
    assert.ok(creates > 20, `preview plans the stack's resources (${creates} creates)`);
    console.log(`# preview: ${r.processSeconds.toFixed(1)}s, ${creates} creates`);
  });

  test("pulumi up succeeds", async () => {
    const p = need(pulumi, "pulumi");
    const r = await p.run("up");
    assert.ok(r.ok, failed("up", r));
    deployed = true;
    outputs = stackOutputs(await p.exportStack());
    console.log(`# up: ${r.processSeconds.toFixed(1)}s, ${JSON.stringify(r.changeSummary)}`);
  });

  test("the NFS PersistentVolume points at the ClusterIP the API server gave the NFS Service", async () => {
    const c = need(cluster, "cluster");
    const resources = stateResources(await need(pulumi, "pulumi").exportStack());
    const nfsService = resources.find(
      (r) => r.type === "kubernetes:core/v1:Service" && r.urn.includes("jupyterhub-nfs:storage:NfsServer$"),
    );
    const svcRef = kubeRef(need(nfsService, "the NFS Service in the state"));
    const svc = need(c.get("Service", need(svcRef, "ref").name, svcRef?.namespace), "NFS Service in the cluster");
    const clusterIP = svc.spec?.clusterIP as string;
    assert.match(clusterIP, /^\d+\.\d+\.\d+\.\d+$/, "the API server assigned an IPv4 ClusterIP");

    const pvName = outputs.notebooksVolume as string;
    const pv = need(c.get("PersistentVolume", pvName), `PV ${pvName}`);
    const nfs = pv.spec?.nfs as { server: string; path: string } | undefined;
    assert.equal(nfs?.server, clusterIP, "PV spec.nfs.server == NFS Service spec.clusterIP");
    assert.equal(outputs.nfsServerIp, clusterIP, "stack output nfsServerIp == the Service's ClusterIP");
  });

  test("both claims are Bound to the intended volumes", () => {
    const c = need(cluster, "cluster");
    const dataClaim = need(c.get("PersistentVolumeClaim", DISK_NAME, NFS_NS), "data claim");
    assert.equal(dataClaim.status?.phase, "Bound", "the NFS server's ReadWriteOnce claim is Bound");
    assert.equal(dataClaim.spec?.volumeName, DATA_PV, "... to the test StorageClass's volume");

    const claimName = outputs.notebooksClaim as string;
    const nfsClaim = need(c.get("PersistentVolumeClaim", claimName, HUB_NS), "NFS claim");
    assert.equal(nfsClaim.status?.phase, "Bound", "the ReadWriteMany NFS claim is Bound");
    assert.equal(nfsClaim.spec?.volumeName, outputs.notebooksVolume, "... to the NFS PersistentVolume");
    assert.equal(nfsClaim.spec?.storageClassName, "", "... with the empty class, so no default class steps in");
    const pv = need(c.get("PersistentVolume", outputs.notebooksVolume as string), "NFS PV");
    const claimRef = pv.spec?.claimRef as { namespace: string; name: string };
    assert.deepEqual([claimRef.namespace, claimRef.name], [HUB_NS, claimName], "the NFS PV is claimed by it");

    const dbClaim = need(c.get("PersistentVolumeClaim", "hub-db", HUB_NS), "hub-db claim");
    assert.equal(dbClaim.status?.phase, "Bound", "the hub database claim is Bound");
    assert.equal(dbClaim.spec?.volumeName, HUB_DB_PV);
  });

  test("every Deployment is Available", () => {
    const c = need(cluster, "cluster");
    const deployments = [...c.list("deployments", HUB_NS), ...c.list("deployments", NFS_NS)];
    const names = deployments.map((d) => `${d.metadata.namespace}/${d.metadata.name}`).sort();
    assert.ok(names.length >= 5, `hub, proxy, file browser, test LDAP and NFS server: ${names.join(", ")}`);
    for (const d of deployments) {
      const conditions = (d.status?.conditions ?? []) as { type: string; status: string }[];
      const available = conditions.find((x) => x.type === "Available");
      assert.equal(available?.status, "True", `${d.metadata.namespace}/${d.metadata.name} Available`);
    }
  });

  test("the hub's Role has exactly the intended rules", async () => {
    const c = need(cluster, "cluster");
    const roles = c.list("roles.rbac.authorization.k8s.io", HUB_NS);
    assert.deepEqual(
      roles.map((r) => r.metadata.name),
      ["hub"],
      "one Role in the hub namespace",
    );
    assert.deepEqual(normalizeRules(roles[0].rules ?? []), normalizeRules(intendedHubRules));
    const clusterScopedRbac = stateResources(await need(pulumi, "pulumi").exportStack())
      .filter((r) => /^kubernetes:rbac.authorization.k8s.io\/v1:ClusterRole/.test(r.type))
      .map((r) => r.urn);
    assert.deepEqual(clusterScopedRbac, [], "no ClusterRole or ClusterRoleBinding in the stack");
  });

  test("the Secrets exist and no ConfigMap holds any of their values", async () => {
    const c = need(cluster, "cluster");
    const secretRefs = stateResources(await need(pulumi, "pulumi").exportStack())
      .filter((r) => r.type === "kubernetes:core/v1:Secret")
      .map((r) => need(kubeRef(r), r.urn));
    assert.ok(
      secretRefs.some((r) => r.namespace === HUB_NS && r.name === "hub"),
      "the hub Secret is part of the stack",
    );
    const values: string[] = [];
    for (const ref of secretRefs) {
      const s: KubeObject = need(c.get("Secret", ref.name, ref.namespace), `Secret ${ref.namespace}/${ref.name}`);
      for (const v of Object.values(s.data ?? {})) values.push(Buffer.from(v, "base64").toString("utf8"));
    }
    const hub = need(c.get("Secret", "hub", HUB_NS), "hub Secret");
    for (const key of ["cookie-secret", "proxy-token"]) {
      const v = Buffer.from(hub.data?.[key] ?? "", "base64").toString("utf8");
      assert.ok(v.length >= 32, `hub Secret ${key} holds a generated value`);
    }
    // Every value, and every line of a multi-line value (an htpasswd file, say), long enough
    // not to match by chance.
    const needles = [...new Set(values.flatMap((v) => [v, ...v.split("\n")]).filter((v) => v.trim().length >= 12))];
    for (const cm of c.list("configmaps")) {
      for (const [key, text] of Object.entries(cm.data ?? {})) {
        for (const n of needles) {
          assert.ok(
            !text.includes(n),
            `ConfigMap ${cm.metadata.namespace}/${cm.metadata.name} key ${key} holds a Secret value`,
          );
        }
      }
    }
  });

  test("a second pulumi up changes nothing", async () => {
    const p = need(pulumi, "pulumi");
    const preview = await p.run("preview", { expectNoChanges: true });
    assert.ok(preview.ok, failed("preview --expect-no-changes", preview));
    const r = await p.run("up", { expectNoChanges: true });
    assert.ok(r.ok, failed("up --expect-no-changes", r));
    const changed = r.steps.filter((s) => s.op !== "same");
    assert.deepEqual(changed, [], "every step is `same`");
    console.log(`# no-change up: ${r.processSeconds.toFixed(1)}s`);
  });

  test("a new singleuserImage updates the hub and touches neither the NFS Service nor the PVs", async () => {
    const p = need(pulumi, "pulumi");
    const c = need(cluster, "cluster");
    const resources = stateResources(await p.exportStack());
    const nfsService = need(
      kubeRef(
        need(
          resources.find((r) => r.type === "kubernetes:core/v1:Service" && r.urn.includes("NfsServer$")),
          "NFS Service",
        ),
      ),
      "NFS Service ref",
    );
    const watched: [string, string, string | undefined][] = [
      ["Service", nfsService.name, nfsService.namespace],
      ["PersistentVolume", outputs.notebooksVolume as string, undefined],
      ["PersistentVolume", DATA_PV, undefined],
      ["PersistentVolumeClaim", outputs.notebooksClaim as string, HUB_NS],
      ["PersistentVolumeClaim", DISK_NAME, NFS_NS],
    ];
    const snapshot = (): string[] =>
      watched.map(([kind, name, ns]) => {
        const o = need(c.get(kind, name, ns), `${kind} ${name}`);
        return `${kind}/${name} uid=${o.metadata.uid} rv=${o.metadata.resourceVersion}`;
      });
    const before = snapshot();
    const hubBefore = need(c.get("Deployment.v1.apps", "hub", HUB_NS), "hub Deployment");

    await p.setConfig(`${P}:singleuserImage`, SINGLEUSER_IMAGE_2);
    const preview = await p.run("preview");
    assert.ok(preview.ok, failed("preview", preview));
    steps.change = preview.steps;
    const opOf = (pred: (s: StepRecord) => boolean): string[] => preview.steps.filter(pred).map((s) => s.op);
    const isNfsService = (s: StepRecord): boolean =>
      urnType(s.urn) === "kubernetes:core/v1:Service" && s.urn.includes("NfsServer$");
    const isPv = (s: StepRecord): boolean => urnType(s.urn) === "kubernetes:core/v1:PersistentVolume";
    const isPvc = (s: StepRecord): boolean => urnType(s.urn) === "kubernetes:core/v1:PersistentVolumeClaim";
    assert.deepEqual(opOf(isNfsService), ["same"], "preview: NFS Service unchanged");
    assert.deepEqual(opOf(isPv), ["same"], "preview: NFS PV unchanged");
    assert.deepEqual([...new Set(opOf(isPvc))], ["same"], "preview: claims unchanged");
    const hubDeployment = opOf(
      (s) =>
        urnType(s.urn) === "kubernetes:apps/v1:Deployment" && s.urn.includes("JupyterHub$") && s.urn.endsWith("-hub"),
    );
    assert.deepEqual(hubDeployment, ["update"], "preview: the hub Deployment is updated");
    const changed = preview.steps
      .filter((s) => s.op !== "same")
      .map((s) => `${s.op} ${urnType(s.urn)} ${s.urn.split("::")[3]}`);
    console.log(`# singleuserImage change plans: ${changed.join("; ")}`);

    const r = await p.run("up");
    assert.ok(r.ok, failed("up", r));
    assert.deepEqual(snapshot(), before, "NFS Service, PVs and claims: same uid and resourceVersion");
    const hubAfter = need(c.get("Deployment.v1.apps", "hub", HUB_NS), "hub Deployment");
    assert.notEqual(hubAfter.metadata.resourceVersion, hubBefore.metadata.resourceVersion, "hub Deployment changed");
    assert.equal(hubAfter.metadata.uid, hubBefore.metadata.uid, "hub Deployment updated in place");
    const hubConfig = c
      .list("configmaps", HUB_NS)
      .filter((cm) => "jupyterhub_config.py" in (cm.data ?? {}))
      .map((cm) => cm.data?.["jupyterhub_config.py"] ?? "");
    assert.equal(hubConfig.length, 1, "one hub ConfigMap after the update");
    assert.ok(hubConfig[0].includes(SINGLEUSER_IMAGE_2), "the hub's config names the new image");
  });

  test("pulumi destroy leaves nothing of the stack but what config keeps, and the stack is removed", async () => {
    const p = need(pulumi, "pulumi");
    const c = need(cluster, "cluster");
    refsBeforeDestroy = stateResources(await p.exportStack())
      .map(kubeRef)
      .filter((r): r is KubeRef => r !== undefined);
    assert.ok(refsBeforeDestroy.length > 20, "the state lists the stack's Kubernetes objects");
    const r = await p.run("destroy");
    assert.ok(r.ok, failed("destroy", r));
    deployed = false;

    const deadline = Date.now() + 60_000;
    let remaining: KubeRef[] = [];
    do {
      remaining = refsBeforeDestroy.filter(
        (ref) => !ref.retainOnDelete && c.get(ref.kubectlType, ref.name, ref.namespace),
      );
      if (remaining.length > 0) await sleep(1000);
    } while (remaining.length > 0 && Date.now() < deadline);
    assert.deepEqual(
      remaining.map((x) => `${x.kind} ${x.namespace ?? ""}/${x.name}`),
      [],
      "every object without retainOnDelete is gone",
    );
    const kept = refsBeforeDestroy.filter((ref) => ref.retainOnDelete);
    // Config keeps the disk by default (diskRetainOnDelete): its claim, and the namespace it lives in.
    assert.deepEqual(
      kept.map((x) => `${x.kind} ${x.namespace ?? ""}/${x.name}`).sort(),
      [`Namespace /${NFS_NS}`, `PersistentVolumeClaim ${NFS_NS}/${DISK_NAME}`],
      "what config says to keep",
    );
    for (const ref of kept) {
      assert.ok(c.get(ref.kubectlType, ref.name, ref.namespace), `${ref.kind} ${ref.name} kept`);
    }
    assert.equal(c.get("PersistentVolumeClaim", DISK_NAME, NFS_NS)?.status?.phase, "Bound", "the data stays bound");
    assert.equal(c.get("Namespace", HUB_NS), undefined, "the hub namespace is gone");

    await p.removeStack();
    assert.ok(!(await p.stackNames()).includes("e2e"), "the stack is removed");
  });
});
