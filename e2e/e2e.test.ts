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
import { spawnSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { KwokCluster, type KubeObject, type PolicyRule } from "./lib/cluster";
import { PulumiEnv } from "./lib/pulumi";
import { applyLocalStorage, localStackVolumes } from "./lib/localStorage";
import { type LocalStackNames, localStackConfig } from "./lib/stackConfig";
import type { StepRecord } from "./lib/pulumi-op";
import { type KubeRef, kubeRef, type StateResource, stackOutputs, stateResources, urnType } from "./lib/state";
import { ensureToolchain, repoRoot, writeNodePlugins } from "./lib/toolchain";

const P = "jupyterhub-nfs";
const HUB_NS = "e2e-hub";
const NFS_NS = "e2e-nfs";
const TEST_CLASS = "e2e-local";
const DISK_NAME = "notebook-disk";
const SINGLEUSER_IMAGE_2 = "quay.io/jupyter/minimal-notebook:2026-11-23";
const HUB_IMAGE_2 = "quay.io/jupyterhub/k8s-hub:4.3.0";
/** The zone the simulated node is labelled with, for the GCE path of the pre-flight check. */
const NODE_ZONE = "europe-west1-b";
/** A namespace that exists before the stack and is not ours. */
const FOREIGN_NS = "e2e-foreign";
/** Namespaces with this prefix may not be privileged (a ValidatingAdmissionPolicy the test adds). */
const RESTRICTED_PREFIX = "e2e-restricted-";
/** Written into the data volume's folder before destroy, looked for after the stack is up again. */
const MARKER = "notebook-marker.txt";

// diskRetainOnDelete stays at the project's default (true): destroy must keep the data claim.
const stackNames: LocalStackNames = {
  hubNamespace: HUB_NS,
  nfsNamespace: NFS_NS,
  storageClass: TEST_CLASS,
  diskName: DISK_NAME,
  retainDisk: true,
};
/** The stack's config, as a user would set it with `pulumi config set`. */
const stackConfig = localStackConfig(stackNames);

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

/** A failed operation's `error:` lines and the tail of its output, not the whole diff. */
function failed(what: string, r: { error?: string }): string {
  const lines = (r.error ?? "").split("\n");
  const errors = lines.filter((l) => /^\s*error:/.test(l));
  return [`${what} failed:`, ...errors, "--- last lines:", ...lines.slice(-25)].join("\n");
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function seconds(since: number): string {
  return ((Date.now() - since) / 1000).toFixed(1);
}

interface PreflightRun {
  code: number | null;
  /** Check name -> its line (`FAIL storage-class: ...`). */
  lines: Map<string, string>;
  output: string;
}

/** `npm run preflight -- --stack e2e` as a user runs it, from the stack's project folder. */
function preflight(c: KwokCluster, p: PulumiEnv, overrides: string[] = []): PreflightRun {
  const t0 = Date.now();
  const cli = path.join(repoRoot, "preflight", "cli.ts");
  const args = [
    "--import",
    "tsx",
    cli,
    "--stack",
    "e2e",
    "--cwd",
    p.workDir,
    ...overrides.flatMap((o) => ["--config", o]),
  ];
  const r = spawnSync(process.execPath, args, {
    cwd: repoRoot,
    env: { ...process.env, KUBECONFIG: c.kubeconfig },
    encoding: "utf8",
    timeout: 120_000,
  });
  const lines = new Map<string, string>();
  for (const line of r.stdout.split("\n")) {
    const m = /^(?:PASS|WARN|FAIL|SKIP)\s+(\S+): /.exec(line);
    if (m) lines.set(m[1], line);
  }
  console.log(`# preflight ${overrides.join(" ") || "(stack config)"}: exit ${r.status}, ${seconds(t0)}s`);
  return { code: r.status, lines, output: `${r.stdout}${r.stderr}` };
}

/** Each named check has the given status (PASS, WARN, FAIL, SKIP); the message quotes its line. */
function expectChecks(run: PreflightRun, expected: Record<string, string>): void {
  for (const [check, status] of Object.entries(expected)) {
    const line = run.lines.get(check);
    assert.ok(line, `preflight printed no ${check} line:\n${run.output}`);
    assert.ok(line.startsWith(status), `preflight ${check}: expected ${status}, got: ${line}`);
  }
}

/** The kinds an interrupted run could leave behind, listed by objectsInCluster: kubectl's name -> kind. */
const namespacedKinds: Record<string, string> = {
  persistentvolumeclaims: "PersistentVolumeClaim",
  "deployments.apps": "Deployment",
  services: "Service",
  configmaps: "ConfigMap",
  secrets: "Secret",
  serviceaccounts: "ServiceAccount",
  "roles.rbac.authorization.k8s.io": "Role",
  "rolebindings.rbac.authorization.k8s.io": "RoleBinding",
  "networkpolicies.networking.k8s.io": "NetworkPolicy",
};
const clusterKinds: Record<string, string> = { persistentvolumes: "PersistentVolume", namespaces: "Namespace" };

/**
 * Every object of those kinds in our namespaces, and every PersistentVolume and Namespace labelled
 * as ours, as `Kind namespace/name`.
 */
function objectsInCluster(c: KwokCluster, namespaces: string[]): string[] {
  // What the API server makes in every namespace by itself.
  const builtIn = new Set(["ConfigMap kube-root-ca.crt", "ServiceAccount default"]);
  const items = [
    ...namespaces.flatMap((ns) => c.list(Object.keys(namespacedKinds).join(","), ns)),
    ...c
      .list(Object.keys(clusterKinds).join(","))
      .filter((o) => o.metadata.labels?.["app.kubernetes.io/part-of"] === "jupyterhub-nfs"),
  ];
  return items
    .filter((o) => !builtIn.has(`${o.kind} ${o.metadata.name}`))
    .map((o) => `${o.kind} ${o.metadata.namespace ?? ""}/${o.metadata.name}`)
    .sort();
}

/** The state's objects of the kinds objectsInCluster lists, in the same form. */
function objectsInState(resources: StateResource[]): string[] {
  const kinds = new Set([...Object.values(namespacedKinds), ...Object.values(clusterKinds)]);
  return resources
    .map(kubeRef)
    .filter((r): r is KubeRef => r !== undefined && kinds.has(r.kind))
    .map((r) => `${r.kind} ${r.namespace ?? ""}/${r.name}`)
    .sort();
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "jhnfs-e2e-"));
/** The test volumes of the data and hub-db claims (their folders under tmp). */
const testVolumes = localStackVolumes(stackNames, "e2e", tmp);
const DATA_PV = testVolumes.data.name;
const HUB_DB_PV = testVolumes.hubDb.name;
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

/** UIDs of the pods of one of our components (`app.kubernetes.io/name`), sorted. */
function podUids(c: KwokCluster, namespace: string, component: string): string[] {
  return c
    .list("pods", namespace)
    .filter((pod) => pod.metadata.labels?.["app.kubernetes.io/name"] === component && !pod.metadata.deletionTimestamp)
    .map((pod) => pod.metadata.uid)
    .sort();
}

/** An operation the engine had begun and not finished, as `pulumi stack export` lists it. */
interface PendingOperation {
  type: string;
  resource: { urn: string; type: string; inputs: StateResource["outputs"] };
}

describe("jupyterhub-nfs on a live local control plane", { concurrency: false }, () => {
  let outputs: Record<string, unknown> = {};
  /** The URNs the first preview plans to create. */
  let plannedUrns: string[] = [];
  /** UIDs of the NFS namespace and the data claim just before the destroy that keeps them. */
  let keptBeforeDestroy: string[] = [];
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
    applyLocalStorage(cluster, stackNames, [testVolumes.data, testVolumes.hubDb]);
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

  test("preflight passes on the control plane before the first up", () => {
    const r = preflight(need(cluster, "cluster"), need(pulumi, "pulumi"));
    assert.equal(r.code, 0, `preflight exit code\n${r.output}`);
    expectChecks(r, {
      "kubernetes-version": "PASS",
      // kwok runs no CNI at all.
      "network-policy": "WARN",
      "storage-class": "PASS",
      // The test class does not set allowVolumeExpansion.
      "volume-expansion": "WARN",
      "hub-db-storage-class": "PASS",
      "disk-zone-nodes": "SKIP",
      "pd-csi-driver": "SKIP",
      [`namespace:${HUB_NS}`]: "PASS",
      [`pod-security:${HUB_NS}`]: "PASS",
      [`namespace:${NFS_NS}`]: "PASS",
      [`pod-security:${NFS_NS}`]: "PASS",
    });
    assert.match(r.lines.get(`namespace:${NFS_NS}`) ?? "", /is free/);
  });

  test("preflight fails on a missing StorageClass, someone else's namespace, a policy against privileged", async () => {
    const c = need(cluster, "cluster");
    c.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: FOREIGN_NS, labels: { team: "someone-else" } } });
    // What a cluster's admins might enforce: no privileged namespaces (here: only under a prefix).
    const enforce = "pod-security.kubernetes.io/enforce";
    c.apply({
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicy",
      metadata: { name: "e2e-no-privileged-namespaces" },
      spec: {
        failurePolicy: "Fail",
        matchConstraints: {
          resourceRules: [
            { apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE", "UPDATE"], resources: ["namespaces"] },
          ],
        },
        validations: [
          {
            expression:
              `!object.metadata.name.startsWith('${RESTRICTED_PREFIX}') || !has(object.metadata.labels) || ` +
              `!('${enforce}' in object.metadata.labels) || object.metadata.labels['${enforce}'] != 'privileged'`,
            message: `e2e policy: namespaces named ${RESTRICTED_PREFIX}* may not be privileged`,
          },
        ],
      },
    });
    c.apply({
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicyBinding",
      metadata: { name: "e2e-no-privileged-namespaces" },
      spec: { policyName: "e2e-no-privileged-namespaces", validationActions: ["Deny"] },
    });
    // The API server takes a moment to enforce a new policy: wait until it refuses a dry run.
    const probe = {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: `${RESTRICTED_PREFIX}probe`, labels: { [enforce]: "privileged" } },
    };
    const deadline = Date.now() + 30_000;
    let refused = false;
    while (!refused && Date.now() < deadline) {
      try {
        c.kubectl(["create", "--dry-run=server", "-f", "-"], JSON.stringify(probe));
        await sleep(500);
      } catch {
        refused = true;
      }
    }
    assert.ok(refused, "the test policy is enforced within 30 s");

    const r = preflight(c, need(pulumi, "pulumi"), [
      "storageClassName=e2e-missing",
      `namespace=${FOREIGN_NS}`,
      `nfsNamespace=${RESTRICTED_PREFIX}nfs`,
    ]);
    assert.equal(r.code, 1, `preflight exit code\n${r.output}`);
    expectChecks(r, {
      "storage-class": "FAIL",
      [`namespace:${FOREIGN_NS}`]: "FAIL",
      [`pod-security:${FOREIGN_NS}`]: "PASS",
      [`namespace:${RESTRICTED_PREFIX}nfs`]: "PASS",
      [`pod-security:${RESTRICTED_PREFIX}nfs`]: "FAIL",
    });
    assert.match(r.lines.get("storage-class") ?? "", /e2e-missing does not exist \(the cluster has: e2e-local\)/);
    assert.match(r.lines.get(`namespace:${FOREIGN_NS}`) ?? "", /is not ours.*fix: pulumi config set namespace/);
    assert.match(r.lines.get(`pod-security:${RESTRICTED_PREFIX}nfs`) ?? "", /may not be privileged/);
    // Dry runs only: nothing was created.
    assert.equal(c.get("Namespace", `${RESTRICTED_PREFIX}nfs`), undefined, "no namespace created by the dry run");
  });

  test("preflight on the GCE path: a node in the disk's zone, and the pd.csi driver", () => {
    const c = need(cluster, "cluster");
    const p = need(pulumi, "pulumi");
    // The labels a GKE node in that zone carries (the second from the pd.csi driver's node plugin).
    const zoneLabels = ["topology.kubernetes.io/zone", "topology.gke.io/zone"].map((l) => `${l}=${NODE_ZONE}`);
    c.kubectl(["label", "node", "--all", "--overwrite", ...zoneLabels]);
    const gce = ["diskKind=gce", "gcp:project=e2e-project"];
    const wrongZone = preflight(c, p, [...gce, "diskZone=us-east1-b"]);
    assert.equal(wrongZone.code, 1, `preflight exit code\n${wrongZone.output}`);
    expectChecks(wrongZone, { "disk-zone-nodes": "FAIL", "pd-csi-driver": "FAIL", "storage-class": "SKIP" });
    assert.match(wrongZone.lines.get("disk-zone-nodes") ?? "", new RegExp(`no node in us-east1-b.*${NODE_ZONE}`));

    // A stand-in registration of GKE's CSI driver (no driver runs): what the check looks for.
    c.apply({
      apiVersion: "storage.k8s.io/v1",
      kind: "CSIDriver",
      metadata: { name: "pd.csi.storage.gke.io" },
      spec: { attachRequired: true },
    });
    const ready = preflight(c, p, [...gce, `diskZone=${NODE_ZONE}`]);
    assert.equal(ready.code, 0, `preflight exit code\n${ready.output}`);
    expectChecks(ready, { "disk-zone-nodes": "PASS", "pd-csi-driver": "PASS" });
  });

  test("pulumi preview succeeds on the empty stack", async () => {
    const r = await need(pulumi, "pulumi").run("preview");
    assert.ok(r.ok, failed("preview", r));
    const creates = r.steps.filter((s) => s.op === "create");
    assert.ok(creates.length > 20, `preview plans the stack's resources (${creates.length} creates)`);
    plannedUrns = creates.map((s) => s.urn).sort();
    console.log(`# preview: ${r.processSeconds.toFixed(1)}s, ${creates.length} creates`);
  });

  test("a pulumi up killed halfway, then the documented recovery, ends as an uninterrupted up", async () => {
    const p = need(pulumi, "pulumi");
    const c = need(cluster, "cluster");
    const t0 = Date.now();
    // SIGKILL the CLI a second after it starts creating the NFS server's Deployment: the data claim
    // it mounts exists by then, and other creates are under way.
    const killed = await p.run("up", { killCli: { urnSuffix: "::nfs-server-deployment", afterMs: 1000 } });
    deployed = true;
    assert.ok(!killed.ok && killed.killed, `the up is killed:\n${killed.error ?? "it finished first"}`);
    const dataClaimAtKill = c.get("PersistentVolumeClaim", DISK_NAME, NFS_NS);
    assert.ok(dataClaimAtKill, "the data claim exists when the CLI is killed");
    console.log(
      `# killed pulumi (pid ${killed.killed.pid}) ${seconds(t0)}s into up, creating ${killed.killed.urn.split("::")[3]}; ` +
        `plugin processes it left running, killed: ${killed.killed.orphansKilled.length}`,
    );

    // 1. The stack is still locked by the killed run.
    const t1 = Date.now();
    const lockedRefresh = await p.cli(["refresh", "--yes", "--stack", "e2e"]);
    assert.notEqual(lockedRefresh.code, 0, "refresh is refused while the stack is locked");
    assert.match(lockedRefresh.stderr, /locked/, "... saying the stack is locked");
    const cancel = await p.cli(["cancel", "--yes", "--stack", "e2e"]);
    assert.equal(cancel.code, 0, `pulumi cancel: ${cancel.stderr}`);

    // 2. Pending creates: import those the API server has, clear the rest.
    const exported = await p.cli(["stack", "export", "--stack", "e2e"]);
    assert.equal(exported.code, 0, `pulumi stack export: ${exported.stderr}`);
    const pending = (
      (JSON.parse(exported.stdout) as { deployment: { pending_operations?: PendingOperation[] } }).deployment
        .pending_operations ?? []
    ).filter((op) => op.type === "creating");
    const imports: string[] = [];
    for (const op of pending) {
      const ref = kubeRef({ urn: op.resource.urn, type: op.resource.type, outputs: op.resource.inputs });
      if (ref && c.get(ref.kubectlType, ref.name, ref.namespace)) {
        imports.push(
          "--import-pending-creates",
          op.resource.urn,
          "--import-pending-creates",
          ref.namespace ? `${ref.namespace}/${ref.name}` : ref.name,
        );
      }
    }
    console.log(`# pending creates: ${pending.length}, of which in the cluster (imported): ${imports.length / 4}`);
    const refresh = await p.cli(["refresh", "--yes", "--stack", "e2e", ...imports, "--clear-pending-creates"]);
    assert.equal(refresh.code, 0, `pulumi refresh: ${refresh.stderr}\n${refresh.stdout.slice(-2000)}`);

    // 3. up finishes the job.
    const up = await p.run("up");
    assert.ok(up.ok, failed("up after the recovery", up));
    console.log(`# recovery (cancel, export, refresh, up): ${seconds(t1)}s; up ${JSON.stringify(up.changeSummary)}`);

    const resources = stateResources(await p.exportStack());
    const inState = resources.filter((r) => !r.type.startsWith("pulumi:providers:")).map((r) => r.urn);
    assert.deepEqual(
      inState.sort(),
      plannedUrns.filter((u) => !urnType(u).startsWith("pulumi:providers:")),
      "the state holds exactly what the preview planned",
    );
    assert.deepEqual(objectsInCluster(c, [HUB_NS, NFS_NS]), objectsInState(resources), "nothing outside the state");
    const dataClaim = need(c.get("PersistentVolumeClaim", DISK_NAME, NFS_NS), "data claim");
    assert.equal(dataClaim.metadata.uid, dataClaimAtKill?.metadata.uid, "the data claim made before the kill is kept");
    assert.equal(dataClaim.spec?.volumeName, DATA_PV, "... on the same volume");
    outputs = stackOutputs(await p.exportStack());
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

  test("new hub and user images roll the hub; the NFS server, its Service, the volumes and claims stay", async () => {
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
      ["Deployment.v1.apps", "nfs-server", NFS_NS],
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
    const nfsPodsBefore = podUids(c, NFS_NS, "nfs-server");
    const hubPodsBefore = podUids(c, HUB_NS, "hub");
    assert.equal(nfsPodsBefore.length, 1, "one NFS server pod");
    assert.equal(hubPodsBefore.length, 1, "one hub pod");

    await p.setConfig(`${P}:singleuserImage`, SINGLEUSER_IMAGE_2);
    await p.setConfig(`${P}:hubImage`, HUB_IMAGE_2);
    const preview = await p.run("preview");
    assert.ok(preview.ok, failed("preview", preview));
    steps.change = preview.steps;
    const opOf = (pred: (s: StepRecord) => boolean): string[] => preview.steps.filter(pred).map((s) => s.op);
    const isNfsService = (s: StepRecord): boolean =>
      urnType(s.urn) === "kubernetes:core/v1:Service" && s.urn.includes("NfsServer$");
    const isPv = (s: StepRecord): boolean => urnType(s.urn) === "kubernetes:core/v1:PersistentVolume";
    const isPvc = (s: StepRecord): boolean => urnType(s.urn) === "kubernetes:core/v1:PersistentVolumeClaim";
    const isNfsDeployment = (s: StepRecord): boolean =>
      urnType(s.urn) === "kubernetes:apps/v1:Deployment" && s.urn.includes("NfsServer$");
    assert.deepEqual(opOf(isNfsDeployment), ["same"], "preview: NFS server Deployment unchanged");
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
    console.log(`# image change plans: ${changed.join("; ")}`);

    const r = await p.run("up");
    assert.ok(r.ok, failed("up", r));
    console.log(`# image change up: ${r.processSeconds.toFixed(1)}s`);
    assert.deepEqual(
      snapshot(),
      before,
      "NFS server Deployment, its Service, the PVs and claims: same uid and resourceVersion",
    );
    assert.deepEqual(podUids(c, NFS_NS, "nfs-server"), nfsPodsBefore, "the NFS server pod is not restarted");
    const hubAfter = need(c.get("Deployment.v1.apps", "hub", HUB_NS), "hub Deployment");
    assert.notEqual(hubAfter.metadata.resourceVersion, hubBefore.metadata.resourceVersion, "hub Deployment changed");
    assert.equal(hubAfter.metadata.uid, hubBefore.metadata.uid, "hub Deployment updated in place");
    const containers = (hubAfter.spec?.template as { spec: { containers: { name: string; image: string }[] } }).spec
      .containers;
    assert.equal(containers.find((x) => x.name === "hub")?.image, HUB_IMAGE_2, "the hub runs the new image");
    // Recreate: the old hub pod goes before the new one starts.
    let hubPods = podUids(c, HUB_NS, "hub");
    for (
      const deadline = Date.now() + 30_000;
      hubPods.some((u) => hubPodsBefore.includes(u)) && Date.now() < deadline;
    ) {
      await sleep(500);
      hubPods = podUids(c, HUB_NS, "hub");
    }
    assert.equal(hubPods.length, 1, "one hub pod after the roll");
    assert.ok(!hubPodsBefore.includes(hubPods[0]), "the hub pod was replaced (rolled)");
    const hubConfig = c
      .list("configmaps", HUB_NS)
      .filter((cm) => "jupyterhub_config.py" in (cm.data ?? {}))
      .map((cm) => cm.data?.["jupyterhub_config.py"] ?? "");
    assert.equal(hubConfig.length, 1, "one hub ConfigMap after the update");
    assert.ok(hubConfig[0].includes(SINGLEUSER_IMAGE_2), "the hub's config names the new image");
  });

  test("raising diskSize: refused where the class cannot expand; where it can, grows in place", async () => {
    const p = need(pulumi, "pulumi");
    const c = need(cluster, "cluster");
    const t0 = Date.now();
    const nfsPv = outputs.notebooksVolume as string;
    const nfsClaim = outputs.notebooksClaim as string;
    const watched: [string, string, string | undefined][] = [
      ["PersistentVolumeClaim", DISK_NAME, NFS_NS],
      ["PersistentVolume", DATA_PV, undefined],
      ["PersistentVolume", nfsPv, undefined],
      ["PersistentVolumeClaim", nfsClaim, HUB_NS],
      ["Service", "nfs-server", NFS_NS],
      ["Deployment.v1.apps", "nfs-server", NFS_NS],
    ];
    const uids = (): string[] => watched.map(([k, n, ns]) => `${k}/${n} ${need(c.get(k, n, ns), n).metadata.uid}`);
    const before = uids();
    const clusterIP = need(c.get("Service", "nfs-server", NFS_NS), "NFS Service").spec?.clusterIP;
    const generation = () =>
      (need(c.get("Deployment.v1.apps", "nfs-server", NFS_NS), "NFS server").metadata as { generation?: number })
        .generation;
    const nfsGeneration = generation();
    const request = (name: string, ns: string) =>
      (need(c.get("PersistentVolumeClaim", name, ns), name).spec?.resources as { requests: { storage: string } })
        .requests.storage;

    await p.setConfig(`${P}:diskSize`, "20Gi");
    const refused = await p.run("up");
    assert.ok(!refused.ok, "up fails: the test class does not allow expansion");
    assert.match(refused.error ?? "", /only dynamically provisioned pvc can be resized/, "the API server's reason");
    assert.deepEqual(uids(), before, "nothing replaced by the refused up");

    c.kubectl(["patch", "storageclass", TEST_CLASS, "-p", JSON.stringify({ allowVolumeExpansion: true })]);
    const grown = await p.run("up");
    assert.ok(grown.ok, failed("up with an expandable class", grown));
    assert.deepEqual(uids(), before, "claims, volumes, the NFS Service and server: same uids");
    assert.equal(request(DISK_NAME, NFS_NS), "20Gi", "the data claim asks for 20Gi");
    const pvCapacity = (need(c.get("PersistentVolume", nfsPv), nfsPv).spec?.capacity as { storage: string }).storage;
    assert.equal(pvCapacity, "20Gi", "the NFS PV advertises 20Gi");
    assert.equal(request(nfsClaim, HUB_NS), "10Gi", "the NFS claim keeps its request (a class-less claim cannot grow)");
    assert.equal(
      need(c.get("Service", "nfs-server", NFS_NS), "NFS Service").spec?.clusterIP,
      clusterIP,
      "same ClusterIP",
    );
    assert.equal(generation(), nfsGeneration, "the NFS server is not rolled");
    // kwok runs no external-resizer: the claim's status.capacity stays at the volume's 10Gi.
    const status = (
      need(c.get("PersistentVolumeClaim", DISK_NAME, NFS_NS), "data claim").status?.capacity as { storage: string }
    ).storage;

    await p.setConfig(`${P}:diskSize`, "10Gi");
    const lower = await p.run("up");
    const why = (lower.error ?? "").split("\n").find((l) => /Forbidden|Invalid|less than/.test(l)) ?? "(no message)";
    console.log(
      `# diskSize 10Gi -> 20Gi: refused ${refused.processSeconds.toFixed(1)}s, grown ${grown.processSeconds.toFixed(1)}s ` +
        `(claim status.capacity ${status}); back to 10Gi: ${lower.ok ? "accepted" : `refused: ${why.trim()}`}; ${seconds(t0)}s`,
    );
    assert.deepEqual(uids(), before, "nothing replaced by lowering it either");
    await p.setConfig(`${P}:diskSize`, "20Gi");
    const again = await p.run("up");
    assert.ok(again.ok, failed("up back at 20Gi", again));
    assert.equal(request(DISK_NAME, NFS_NS), "20Gi", "the data claim asks for 20Gi again");
  });

  test("the NFS Service deleted out of band: refresh, then up, recreates it and re-points the volume", async () => {
    const p = need(pulumi, "pulumi");
    const c = need(cluster, "cluster");
    const oldIp = outputs.nfsServerIp as string;
    const oldPv = outputs.notebooksVolume as string;
    const dataClaimUid = need(c.get("PersistentVolumeClaim", DISK_NAME, NFS_NS), "data claim").metadata.uid;
    const t0 = Date.now();
    c.kubectl(["delete", "service", "nfs-server", "-n", NFS_NS, "--wait=true"]);

    // Without a refresh the state still holds the Service, and `up` would change nothing.
    const refresh = await p.cli(["refresh", "--yes", "--stack", "e2e"]);
    assert.equal(refresh.code, 0, `pulumi refresh: ${refresh.stderr}`);
    const inState = stateResources(await p.exportStack()).filter(
      (r) => r.type === "kubernetes:core/v1:Service" && r.urn.includes("NfsServer$"),
    );
    assert.deepEqual(inState, [], "refresh drops the deleted Service from the state");

    const up = await p.run("up");
    assert.ok(up.ok, failed("up after the refresh", up));
    const replaced = up.steps.filter((x) => x.op === "replace").map((x) => `${urnType(x.urn)} ${x.urn.split("::")[3]}`);
    console.log(`# Service deleted -> refresh + up: ${seconds(t0)}s; up replaced: ${replaced.join("; ")}`);
    outputs = stackOutputs(await p.exportStack());
    const svc = need(c.get("Service", "nfs-server", NFS_NS), "the NFS Service, recreated");
    const newIp = svc.spec?.clusterIP as string;
    assert.equal(outputs.nfsServerIp, newIp, "the stack output names the new address");
    const pv = need(c.get("PersistentVolume", outputs.notebooksVolume as string), "the NFS PV");
    assert.equal((pv.spec?.nfs as { server: string }).server, newIp, "the NFS PV points at the new address");
    if (newIp !== oldIp) {
      // spec.nfs is immutable: a new address means a new volume (the allocator may, rarely, hand out the old one).
      assert.notEqual(outputs.notebooksVolume, oldPv, "a new NFS PV");
      assert.equal(c.get("PersistentVolume", oldPv), undefined, "the old NFS PV is gone");
    }
    const claim = need(c.get("PersistentVolumeClaim", outputs.notebooksClaim as string, HUB_NS), "NFS claim");
    assert.equal(claim.status?.phase, "Bound", "the NFS claim is Bound again");
    assert.equal(claim.spec?.volumeName, outputs.notebooksVolume, "... to the new PV");
    const dataClaim = need(c.get("PersistentVolumeClaim", DISK_NAME, NFS_NS), "data claim");
    assert.equal(dataClaim.metadata.uid, dataClaimUid, "the data claim is untouched");
    assert.equal(dataClaim.spec?.volumeName, DATA_PV, "... and stays on its volume");
  });

  test("pulumi destroy leaves nothing of the stack but what config keeps", async () => {
    const p = need(pulumi, "pulumi");
    const c = need(cluster, "cluster");
    // A user's notebook, in the folder behind the data volume (kwok mounts nothing: written here).
    fs.mkdirSync(testVolumes.data.dir, { recursive: true });
    fs.writeFileSync(path.join(testVolumes.data.dir, MARKER), "kept across destroy and up\n");
    keptBeforeDestroy = [
      need(c.get("Namespace", NFS_NS), "NFS namespace").metadata.uid,
      need(c.get("PersistentVolumeClaim", DISK_NAME, NFS_NS), "data claim").metadata.uid,
    ];
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
  });

  test("a new up of the destroyed stack adopts the kept claim and namespace, and the notebooks are there", async () => {
    const p = need(pulumi, "pulumi");
    const c = need(cluster, "cluster");
    // The hub database's test volume was released with its claim; a real StorageClass would
    // provision a new one. Make it bindable again (the stand-in for that provisioning).
    c.kubectl([
      "patch",
      "pv",
      HUB_DB_PV,
      "--type",
      "json",
      "-p",
      JSON.stringify([
        { op: "remove", path: "/spec/claimRef/uid" },
        { op: "remove", path: "/spec/claimRef/resourceVersion" },
      ]),
    ]);

    const check = preflight(c, p);
    assert.equal(check.code, 0, `preflight exit code\n${check.output}`);
    expectChecks(check, { [`namespace:${NFS_NS}`]: "PASS", [`namespace:${HUB_NS}`]: "PASS" });
    assert.match(check.lines.get(`namespace:${NFS_NS}`) ?? "", /already ours \(stack e2e\)/);

    // The pinned provider build upserts on create; the released 4.29+ providers refuse an existing
    // object unless told to adopt it (docs/operations.md: "Re-adopting a kept disk").
    const up = await p.run("up", { env: { PULUMI_K8S_UPSERT_EXISTING_OBJECTS: "true" } });
    assert.ok(up.ok, failed("up of the destroyed stack", up));
    deployed = true;
    console.log(`# up after destroy: ${up.processSeconds.toFixed(1)}s, ${JSON.stringify(up.changeSummary)}`);
    assert.deepEqual(
      [
        need(c.get("Namespace", NFS_NS), "NFS namespace").metadata.uid,
        need(c.get("PersistentVolumeClaim", DISK_NAME, NFS_NS), "data claim").metadata.uid,
      ],
      keptBeforeDestroy,
      "the kept namespace and data claim are adopted (same uids), not made anew",
    );
    const claims = c.list("persistentvolumeclaims", NFS_NS).map((x) => x.metadata.name);
    assert.deepEqual(claims, [DISK_NAME], "one data claim in the NFS namespace");
    const inState = stateResources(await p.exportStack()).filter(
      (r) => r.type === "kubernetes:core/v1:PersistentVolumeClaim" && kubeRef(r)?.namespace === NFS_NS,
    );
    assert.equal(inState.length, 1, "one data claim in the state");
    const dataClaim = need(c.get("PersistentVolumeClaim", DISK_NAME, NFS_NS), "data claim");
    assert.equal(dataClaim.spec?.volumeName, DATA_PV, "on the volume that holds the notebooks");
    const pv = need(c.get("PersistentVolume", DATA_PV), "data PV");
    const dir = (pv.spec?.hostPath as { path: string }).path;
    assert.equal(
      fs.readFileSync(path.join(dir, MARKER), "utf8"),
      "kept across destroy and up\n",
      "the notebook is there",
    );
  });

  test("the last destroy keeps the data again, and the stack is removed", async () => {
    const p = need(pulumi, "pulumi");
    const c = need(cluster, "cluster");
    const r = await p.run("destroy");
    assert.ok(r.ok, failed("destroy", r));
    deployed = false;
    assert.equal(c.get("PersistentVolumeClaim", DISK_NAME, NFS_NS)?.status?.phase, "Bound", "the data stays bound");
    await p.removeStack();
    assert.ok(!(await p.stackNames()).includes("e2e"), "the stack is removed");
  });
});
