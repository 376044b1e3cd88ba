/**
 * Capacity on a real scheduler (issue 15 item 3): the PriorityClasses, the user placeholders, the
 * image pre-puller and the user scheduler, as the program renders them, on the local control plane
 * (e2e/lib/cluster.ts: etcd, kube-apiserver, kube-controller-manager, kube-scheduler of the
 * toolchain) with kwok's simulated nodes (no container runs; kwok marks pods Running). The user
 * pods are the ones the hub image's KubeSpawner 7.0 builds from the rendered jupyterhub_config.py.
 *
 * Stands in: kwok's nodes (declared capacity, no kubelet), and for the user scheduler's Deployment
 * the toolchain's kube-scheduler binary (the same Kubernetes release as userSchedulerImage) run as
 * its container would run (e2e/journey/deploymentProcess.ts: the Deployment's command, its
 * ConfigMap mounted, uid 65534, no capabilities, its ServiceAccount's token where the kubelet puts
 * it), so it schedules with exactly the configuration and the RBAC the component renders. Its
 * Deployment is applied with 0 replicas: kwok would only pretend to run it.
 *
 *   node --import tsx --test e2e/capacity.test.ts    (also part of npm run e2e)
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { testLdapGroupDn } from "../components/auth/testLdapDirectory";
import { gkeAcceleratorLabel, gpuResource } from "../components/jupyterhub/profiles";
import { renderStack, type Rendering } from "../render";
import type { JsonObject } from "../render/mocks";
import { userPodsFromConfigs } from "../test/support/hubConfigPython";
import { hubPodOf } from "../test/support/hubPod";
import { freeLoopbackPort } from "../test/support/nginx";
import { exampleProfiles, gpuGroupDn } from "../test/support/variations";
import { images } from "../versions/images";
import { DeploymentProcess } from "./journey/deploymentProcess";
import { KubeApi } from "./journey/kubeApi";
import { KwokCluster } from "./lib/cluster";
import { ensureToolchain } from "./lib/toolchain";

const HUB_NS = "capacity-hub";
/** Simulated user nodes: 4 cores and 16 GiB each, so 4 users of 1 core fit on one. */
const USER_NODES = ["user-node-1", "user-node-2", "user-node-3", "user-node-4", "user-node-5", "user-node-6"];
const NODE_CPU = 4;
const USER_CPU = 1;
/** A GKE GPU node (the GPU profile's): tainted, so only pods tolerating GPUs go there. */
const GPU_NODE = "gpu-node";
/** A node of the operator's that no user pod tolerates: the pre-puller must stay off it. */
const SYSTEM_NODE = "system-node";
const USERS = 12;

const capacityKeys = [
  `namespace=${HUB_NS}`,
  `userCpuGuarantee=${USER_CPU}`,
  "userCpuLimit=2",
  "userMemoryGuarantee=1Gi",
  "userMemoryLimit=2Gi",
  `allowedGroups=${JSON.stringify([testLdapGroupDn, gpuGroupDn])}`,
  `profiles=${JSON.stringify(exampleProfiles)}`,
  "userPriorityClasses=true",
  `userPlaceholders=${USER_NODES.length * (NODE_CPU / USER_CPU)}`,
  "imagePrePuller=true",
];

const obj = (v: unknown): JsonObject => (v && typeof v === "object" && !Array.isArray(v) ? (v as JsonObject) : {});

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A rendered object as `kubectl apply` takes it: of its metadata, only what a user would write. */
function applicable(m: JsonObject): JsonObject {
  const meta = obj(m.metadata);
  return {
    ...m,
    metadata: {
      name: meta.name,
      ...(meta.namespace !== undefined && { namespace: meta.namespace }),
      ...(meta.labels !== undefined && { labels: meta.labels }),
      ...(meta.annotations !== undefined && { annotations: meta.annotations }),
    },
  };
}

function pick(r: Rendering, kind: string, name: string): JsonObject {
  const found = r.manifests.filter((m) => m.kind === kind && obj(m.metadata).name === name);
  assert.equal(found.length, 1, `one ${kind} ${name} rendered`);
  return applicable(found[0]);
}

/** A kwok node: kwok keeps it Ready; the scheduler sees what it declares. */
function kwokNode(
  name: string,
  extra: { labels?: Record<string, string>; taints?: JsonObject[]; resources?: Record<string, string> } = {},
): JsonObject {
  const resources = { cpu: String(NODE_CPU), memory: "16Gi", pods: "110", ...extra.resources };
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      annotations: { "kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0" },
      labels: { "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", type: "kwok", ...extra.labels },
    },
    spec: { taints: extra.taints ?? [] },
    status: { allocatable: resources, capacity: resources },
  };
}

interface Pod {
  metadata: { name: string; labels?: Record<string, string> };
  spec: { nodeName?: string; schedulerName?: string; priority?: number };
  status?: { phase?: string; conditions?: { type: string; status: string; reason?: string }[] };
}

describe("capacity on the real scheduler: pre-puller, user scheduler packing, placeholders preempted", () => {
  let cluster: KwokCluster;
  let scheduler: DeploymentProcess | undefined;
  let tmp: string;
  let packed: Rendering;
  let userPods: { packed: JsonObject[]; spread: JsonObject[]; late: JsonObject };
  const students = Array.from({ length: USERS }, (_, i) => `student-${i + 1}`);
  /** A name as real directories hold them (KubeSpawner escapes the dot in the pod's name). */
  const lateUser = "john.doe";
  const t0 = Date.now();

  const pods = (selector: string): Pod[] =>
    (JSON.parse(cluster.kubectl(["get", "pods", "-n", HUB_NS, "-l", selector, "-o", "json"])) as { items: Pod[] })
      .items;

  async function until<T>(what: string, timeoutMs: number, check: () => T | undefined): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = check();
      if (v !== undefined) return v;
      if (Date.now() > deadline) {
        const log = scheduler ? fs.readFileSync(scheduler.logFile, "utf8").split("\n").slice(-30).join("\n") : "";
        throw new Error(`timed out waiting for ${what}\n--- user scheduler log:\n${log}`);
      }
      await sleep(250);
    }
  }

  /** Creates pods as the hub would; returns their names. */
  function spawn(made: JsonObject[]): string[] {
    cluster.kubectl(
      ["create", "-n", HUB_NS, "-f", "-"],
      JSON.stringify({ apiVersion: "v1", kind: "List", items: made }),
    );
    return made.map((p) => String(obj(p.metadata).name));
  }

  /** Waits until every named pod is bound; returns pod name -> node. */
  async function bound(names: string[]): Promise<Map<string, string>> {
    return until(`${names.length} user pods bound`, 60_000, () => {
      const byName = new Map(pods("component=singleuser-server").map((p) => [p.metadata.name, p.spec.nodeName]));
      const placed = names.map((n) => [n, byName.get(n)] as const);
      return placed.every(([, node]) => node) ? new Map(placed as [string, string][]) : undefined;
    });
  }

  function deleteUserPods(): void {
    cluster.kubectl([
      "delete",
      "pods",
      "-n",
      HUB_NS,
      "-l",
      "component=singleuser-server",
      "--grace-period=0",
      "--wait",
    ]);
  }

  before(async () => {
    const bin = ensureToolchain();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "jhnfs-capacity-"));
    packed = await renderStack({ stack: "dev", overrides: [...capacityKeys, "userScheduler=true"] });
    const spread = await renderStack({ stack: "dev", overrides: capacityKeys });
    // KubeSpawner's pods for the class (and a late user), from each hub config, in one Python process.
    const made = userPodsFromConfigs(
      [packed, spread].map((r) => ({
        configText: hubPodOf(r).configText,
        requests: [...students, lateUser].map((user) => ({ user, admin: false })),
      })),
    ).map((results) =>
      results.map((result) => {
        if (!("pod" in result)) throw new Error(`KubeSpawner refused: ${result.error}`);
        return result.pod as JsonObject;
      }),
    );
    userPods = { packed: made[0].slice(0, USERS), late: made[0][USERS], spread: made[1].slice(0, USERS) };
    cluster = new KwokCluster(bin, tmp, `jhnfs-capacity-${process.pid}`);
    cluster.start();
    // kwokctl's own node (32 cores) would take every pod: only the nodes below count.
    cluster.kubectl(["delete", "nodes", "--all", "--wait"]);
    const nodes = [
      ...USER_NODES.map((n) => kwokNode(n)),
      kwokNode(GPU_NODE, {
        labels: { [gkeAcceleratorLabel]: "nvidia-tesla-t4", "example.org/pool": "gpu" },
        taints: [{ key: gpuResource, value: "present", effect: "NoSchedule" }],
        resources: { [gpuResource]: "1" },
      }),
      kwokNode(SYSTEM_NODE, { taints: [{ key: "dedicated", value: "system", effect: "NoSchedule" }] }),
    ];
    cluster.kubectl(["create", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items: nodes }));
    cluster.kubectl(["wait", "--for=condition=Ready", "node", "--all", "--timeout=60s"]);

    // What the stack would create for these (the NFS PV and claim: the user pods mount the claim,
    // and the scheduler's VolumeBinding checks it), then the scheduler's objects.
    const hubNamespace = packed.manifests.find((m) => m.kind === "Namespace" && obj(m.metadata).name === HUB_NS);
    assert.ok(hubNamespace);
    // The NFS volume (its server is the mocks' address: nothing mounts it here) and its claim.
    const volume = packed.manifests.find((m) => m.kind === "PersistentVolume" && obj(m.spec).nfs !== undefined);
    assert.ok(volume);
    const claim = packed.manifests.find(
      (m) => m.kind === "PersistentVolumeClaim" && obj(m.spec).volumeName === obj(volume.metadata).name,
    );
    assert.ok(claim);
    const schedulerObjects = [
      ["ServiceAccount", "user-scheduler"],
      ["ClusterRole", `${HUB_NS}-user-scheduler`],
      ["ClusterRoleBinding", `${HUB_NS}-user-scheduler`],
      ["Role", "user-scheduler"],
      ["RoleBinding", "user-scheduler"],
      ["ConfigMap", "user-scheduler"],
    ].map(([kind, name]) => pick(packed, kind, name));
    const classes = packed.manifests.filter(
      (m) => m.kind === "PriorityClass" && String(obj(m.metadata).name).startsWith(HUB_NS),
    );
    assert.equal(classes.length, 3);
    const schedulerDeployment = pick(packed, "Deployment", "user-scheduler");
    cluster.kubectl(
      ["apply", "-f", "-"],
      JSON.stringify({
        apiVersion: "v1",
        kind: "List",
        items: [
          applicable(hubNamespace),
          applicable(volume),
          applicable(claim),
          ...classes.map(applicable),
          ...schedulerObjects,
          { ...schedulerDeployment, spec: { ...obj(schedulerDeployment.spec), replicas: 0 } },
        ],
      }),
    );
    await until("the notebooks claim bound", 60_000, () =>
      cluster.get("pvc", String(obj(claim.metadata).name), HUB_NS)?.status?.phase === "Bound" ? true : undefined,
    );

    // The user scheduler's container, as the kubelet would run it (see the header).
    const api = new KubeApi(cluster.kubeconfig);
    const saDir = path.join(tmp, "user-scheduler", "serviceaccount");
    fs.mkdirSync(saDir, { recursive: true });
    const token = await api.request<{ status: { token: string } }>(
      "POST",
      `/api/v1/namespaces/${HUB_NS}/serviceaccounts/user-scheduler/token`,
      { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds: 3600 } },
    );
    fs.writeFileSync(path.join(saDir, "token"), token.status.token);
    fs.writeFileSync(path.join(saDir, "namespace"), HUB_NS);
    fs.writeFileSync(path.join(saDir, "ca.crt"), api.caPem ?? "");
    const healthPort = await freeLoopbackPort();
    const binary = fs.realpathSync(path.join(bin, "kube-scheduler"));
    scheduler = new DeploymentProcess({
      api,
      namespace: HUB_NS,
      deployment: "user-scheduler",
      container: "kube-scheduler",
      // The image's /usr/local/bin/kube-scheduler is the toolchain's, of the same release.
      image: {
        path: [],
        entrypoint: [],
        cmd: [],
        uid: 65534,
        gid: 65534,
        env: {},
        files: { "/usr/local/bin/kube-scheduler": binary },
        programFolders: [],
      },
      workDir: path.join(tmp, "user-scheduler"),
      // The only change: its health port, on loopback beside the control plane's own scheduler.
      overrideCommand: (argv) => [...argv, "--bind-address=127.0.0.1", `--secure-port=${healthPort}`],
      extraEnv: { KUBERNETES_SERVICE_HOST: "127.0.0.1", KUBERNETES_SERVICE_PORT: api.server.port },
      extraMounts: [{ source: saDir, target: "/var/run/secrets/kubernetes.io/serviceaccount", readOnly: true }],
    });
    await scheduler.start();
    await until("the user scheduler to lead (its Lease)", 60_000, () =>
      String(cluster.get("lease", "user-scheduler", HUB_NS)?.spec?.holderIdentity ?? "") !== "" ? true : undefined,
    );
    console.log(
      `# capacity: control plane, ${nodes.length} nodes and the user scheduler up in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
  });

  after(async () => {
    await scheduler?.stop();
    cluster?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    console.log(`# capacity: ${((Date.now() - t0) / 1000).toFixed(1)} s in all`);
  });

  test("the pre-puller's pods: one on every node a user pod may use (the GPU node too), none on the node no profile tolerates, each requesting nothing", async () => {
    cluster.apply(pick(packed, "DaemonSet", "image-puller"));
    const expected = [...USER_NODES, GPU_NODE].sort();
    const placed = await until("a pre-puller pod on every user node", 60_000, () => {
      const nodes = pods("app.kubernetes.io/name=image-puller")
        .map((p) => p.spec.nodeName)
        .filter((n): n is string => n !== undefined)
        .sort();
      return nodes.length === expected.length ? nodes : undefined;
    });
    assert.deepEqual(placed, expected);
    const ds = cluster.get("daemonset", "image-puller", HUB_NS);
    assert.equal(ds?.status?.desiredNumberScheduled, expected.length, `not ${SYSTEM_NODE}`);
    for (const p of pods("app.kubernetes.io/name=image-puller")) {
      const spec = (cluster.get("pod", p.metadata.name, HUB_NS)?.spec ?? {}) as {
        containers: { resources?: { requests?: Record<string, string> } }[];
        initContainers: { image: string; resources?: { requests?: Record<string, string> } }[];
      };
      for (const c of [...spec.initContainers, ...spec.containers]) {
        assert.deepEqual(c.resources?.requests, { cpu: "0", memory: "0" });
      }
      assert.ok(spec.initContainers.some((c) => c.image === images.singleuser.reference));
    }
  });

  test(`with the user scheduler, ${USERS} users' pods (KubeSpawner's) fill the fewest nodes`, async () => {
    const names = spawn(userPods.packed);
    const placement = await bound(names);
    const nodes = new Set(placement.values());
    const fewest = Math.ceil(USERS / (NODE_CPU / USER_CPU));
    assert.equal(nodes.size, fewest, `on ${[...nodes].join(", ")}`);
    for (const n of names) {
      const p = cluster.get("pod", n, HUB_NS);
      assert.equal(p?.spec?.schedulerName, `${HUB_NS}-user-scheduler`);
      assert.equal(p?.spec?.priority, 0, "the user PriorityClass, resolved by the API server");
    }
    console.log(`# capacity: user scheduler, ${USERS} pods on ${nodes.size} of ${USER_NODES.length} nodes`);
    deleteUserPods();
  });

  test(`without it (the cluster's default scheduler), the same ${USERS} pods spread over every node`, async () => {
    const names = spawn(userPods.spread);
    const placement = await bound(names);
    const nodes = new Set(placement.values());
    assert.equal(nodes.size, USER_NODES.length, `on ${[...nodes].join(", ")}`);
    assert.equal(cluster.get("pod", names[0], HUB_NS)?.spec?.schedulerName, "default-scheduler");
    console.log(`# capacity: default scheduler, ${USERS} pods on ${nodes.size} of ${USER_NODES.length} nodes`);
    deleteUserPods();
  });

  test("placeholders fill every user node; a user's pod preempts one, which waits Pending for a new node", async () => {
    const placeholders = pick(packed, "Deployment", "user-placeholder");
    const count = Number(obj(placeholders.spec).replicas);
    cluster.apply(placeholders);
    await until(`${count} placeholders running`, 90_000, () => {
      const running = pods("app.kubernetes.io/name=user-placeholder").filter((p) => p.spec.nodeName);
      return running.length === count ? running : undefined;
    });
    const [name] = spawn([userPods.late]);
    const [node] = [...(await bound([name])).values()];
    assert.ok(USER_NODES.includes(node));
    const after = await until("the preempted placeholder's replacement Pending", 60_000, () => {
      const all = pods("app.kubernetes.io/name=user-placeholder");
      const pending = all.filter((p) => !p.spec.nodeName);
      return pending.length === 1 && all.length === count ? all : undefined;
    });
    const pending = after.find((p) => !p.spec.nodeName);
    const unschedulable = pending?.status?.conditions?.find((c) => c.type === "PodScheduled");
    assert.equal(unschedulable?.reason, "Unschedulable", "no room left: what makes the autoscaler add a node");
    const onNode = after.filter((p) => p.spec.nodeName === node);
    assert.equal(onNode.length, NODE_CPU / USER_CPU - 1, "one placeholder gave its room on the user's node");
    // The scheduler's record on the victim: a placeholder, preempted for the user's pod.
    const events = (
      JSON.parse(
        cluster.kubectl(["get", "events", "-n", HUB_NS, "--field-selector", "reason=Preempted", "-o", "json"]),
      ) as { items: { involvedObject: { name: string }; message: string }[] }
    ).items;
    assert.equal(events.length, 1, JSON.stringify(events));
    const userPod = cluster.get("pod", name, HUB_NS);
    assert.match(events[0].involvedObject.name, /^user-placeholder-/);
    assert.ok(events[0].message.includes(String(userPod?.metadata.uid)), events[0].message);
    console.log(`# capacity: ${events[0].involvedObject.name}: ${events[0].message}`);
  });

  test("the user scheduler was refused nothing under the rendered RBAC", () => {
    const log = fs.readFileSync(scheduler?.logFile ?? "", "utf8");
    const refused = log.split("\n").filter((l) => /forbidden/i.test(l));
    assert.deepEqual(refused, []);
  });
});
