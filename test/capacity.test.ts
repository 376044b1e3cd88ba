import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parse } from "yaml";
import { priorities } from "../components/capacity";
import { gpuToleration } from "../components/jupyterhub/profiles";
import type { JsonObject } from "../render/mocks";
import { bytes, cpuCores } from "../stacks/quantity";
import { images } from "../versions/images";
import { hubPodOf } from "./support/hubPod";
import { userPodsFromConfig } from "./support/hubConfigPython";
import { manifest, manifests } from "./support/rendered";
import { refusals } from "./support/validate";
import { configOf, exampleProfiles, renderVariation, variations } from "./support/variations";

const capacity = variations().find((v) => v.name.includes("capacity:"));
if (!capacity) throw new Error("test/support/variations.ts has no capacity variation");
const cfg = configOf(capacity);
const ns = cfg.namespace;

const obj = (v: unknown): JsonObject => (v && typeof v === "object" && !Array.isArray(v) ? (v as JsonObject) : {});
const list = (v: unknown): JsonObject[] => (Array.isArray(v) ? (v as JsonObject[]) : []);
const podSpec = (m: JsonObject) => obj(obj(obj(m.spec).template).spec);

/** Each problem the dev stack plus overrides is refused for, as `key: message`. */
const problems = (overrides: string[]): string[] => refusals("dev", overrides);

describe("capacity keys: bad values are refused before any resource, naming the key", () => {
  const cases: [string, string[], RegExp][] = [
    [
      "placeholders without priority classes",
      ["userPlaceholders=2"],
      /^userPlaceholders: 2 needs userPriorityClasses true/,
    ],
    ["a negative count", ["userPriorityClasses=true", "userPlaceholders=-1"], /^userPlaceholders: -1 must be 0/],
    ["too many", ["userPriorityClasses=true", "userPlaceholders=1001"], /^userPlaceholders: 1001 must be at most 1000/],
    [
      "a moving scheduler image",
      ["userSchedulerImage=registry.k8s.io/kube-scheduler:latest"],
      /^userSchedulerImage: .* must not use the moving tag/,
    ],
    [
      "an unpinned pause image",
      ["pauseImage=registry.k8s.io/pause"],
      /^pauseImage: "registry.k8s.io\/pause" must pin a tag or digest/,
    ],
  ];
  for (const [what, overrides, expected] of cases) {
    test(what, () => {
      const found = problems(overrides);
      assert.ok(
        found.some((p) => expected.test(p)),
        `${found.join("\n")}\ndoes not match ${expected}`,
      );
    });
  }

  test("the defaults make none of it", async () => {
    const r = await renderVariation({ name: "dev", stack: "dev", overrides: [] });
    for (const kind of ["DaemonSet", "ClusterRole", "ClusterRoleBinding"]) assert.deepEqual(manifests(r, kind), []);
    assert.deepEqual(
      manifests(r, "PriorityClass").map((m) => obj(m.metadata).name),
      [`${cfg.nfsNamespace}-nfs-server`],
      "the NFS server's class only",
    );
    assert.doesNotMatch(hubPodOf(r).configText, /priority_class_name|scheduler_name/);
  });
});

describe("capacity: what the program renders with every capacity key on (and profiles)", async () => {
  const r = await renderVariation(capacity);
  const defaultProfile = exampleProfiles[0];
  const schedulerName = `${ns}-user-scheduler`;

  test("PriorityClasses: users 0, image puller -5, placeholders -10 (the autoscaler's cut-off), none global", () => {
    const values = Object.fromEntries(
      manifests(r, "PriorityClass").map((m) => [obj(m.metadata).name, [m.value, m.globalDefault]]),
    );
    assert.deepEqual(values, {
      [`${cfg.nfsNamespace}-nfs-server`]: [1000000000, false],
      [`${ns}-user`]: [priorities.user, false],
      [`${ns}-image-puller`]: [priorities.imagePuller, false],
      [`${ns}-user-placeholder`]: [priorities.placeholder, false],
    });
  });

  test("the placeholders: userPlaceholders pause pods of the default profile's guarantee, requests only, by the user scheduler", () => {
    assert.equal(defaultProfile.default, true);
    const d = manifest(r, "Deployment", "user-placeholder");
    assert.equal(obj(d.spec).replicas, cfg.userPlaceholders);
    const spec = podSpec(d);
    assert.equal(spec.priorityClassName, `${ns}-user-placeholder`);
    assert.equal(spec.schedulerName, schedulerName);
    assert.equal(spec.terminationGracePeriodSeconds, 0);
    const [pause] = list(spec.containers);
    assert.equal(pause.image, images.pause.reference);
    // The small profile sets no size: it inherits the user* keys.
    assert.deepEqual(pause.resources, {
      requests: { cpu: String(cpuCores(cfg.userCpuGuarantee)), memory: String(bytes(cfg.userMemoryGuarantee)) },
    });
    assert.equal(obj(d.metadata).annotations && obj(obj(d.metadata).annotations)["pulumi.com/skipAwait"], "true");
  });

  test("the pre-puller: every user image once (the notebook image, each profile's and each image choice), requesting nothing, on every node a profile may use", () => {
    const ds = manifest(r, "DaemonSet", "image-puller");
    const spec = podSpec(ds);
    const expected = new Set<string>([cfg.singleuserImage]);
    for (const p of cfg.profiles) {
      if (p.image) expected.add(p.image);
      for (const c of p.imageChoices) expected.add(c.image);
    }
    const init = list(spec.initContainers);
    assert.deepEqual(init.map((c) => c.image).sort(), [...expected].sort());
    for (const c of [...init, ...list(spec.containers)]) {
      assert.deepEqual(c.resources, { requests: { cpu: "0", memory: "0" } }, `${String(c.name)} requests nothing`);
    }
    assert.deepEqual(
      list(spec.containers).map((c) => c.image),
      [images.pause.reference],
    );
    assert.equal(spec.priorityClassName, `${ns}-image-puller`);
    const gpuProfile = cfg.profiles.find((p) => p.gpuCount !== undefined);
    assert.ok(gpuProfile);
    assert.deepEqual(spec.tolerations, [...gpuProfile.tolerations, gpuToleration]);
    assert.equal(spec.nodeSelector, undefined, "no selector: a node any profile may use gets the images");
  });

  test("the user scheduler: z2jh's packing configuration under our name, its Lease in the hub namespace", () => {
    const cm = manifest(r, "ConfigMap", "user-scheduler");
    const config = parse(String(obj(cm.data)["config.yaml"])) as JsonObject;
    const profile = list(config.profiles)[0];
    assert.equal(profile.schedulerName, schedulerName);
    assert.deepEqual(obj(config.leaderElection), {
      leaderElect: true,
      resourceLock: "leases",
      resourceName: "user-scheduler",
      resourceNamespace: ns,
    });
    const fit = list(profile.pluginConfig).find((p) => p.name === "NodeResourcesFit");
    assert.equal(obj(obj(fit?.args).scoringStrategy).type, "MostAllocated");
    const d = manifest(r, "Deployment", "user-scheduler");
    const [c] = list(podSpec(d).containers);
    assert.equal(c.image, images.userScheduler.reference);
    assert.deepEqual(c.command, [
      "/usr/local/bin/kube-scheduler",
      "--config=/etc/user-scheduler/config.yaml",
      "--authentication-skip-lookup=true",
    ]);
  });

  test("the user scheduler's RBAC: reads across the cluster, writes in the hub namespace only, no reviews, no wildcard", () => {
    const cr = manifest(r, "ClusterRole", schedulerName);
    for (const rule of list(cr.rules)) {
      assert.deepEqual(rule.verbs, ["get", "list", "watch"], JSON.stringify(rule));
    }
    const role = manifest(r, "Role", "user-scheduler");
    assert.equal(obj(role.metadata).namespace, ns);
    const verbs = list(role.rules).flatMap((rule) =>
      list(rule.resources).flatMap((res) => list(rule.verbs).map((v) => `${String(res)}:${String(v)}`)),
    );
    assert.deepEqual(verbs.sort(), [
      "events:create",
      "events:patch",
      "events:update",
      "leases:create",
      "leases:get",
      "leases:update",
      "pods/binding:create",
      "pods/status:patch",
      "pods/status:update",
      "pods:delete",
    ]);
    const text = JSON.stringify([cr.rules, role.rules]);
    assert.doesNotMatch(text, /"\*"|tokenreviews|subjectaccessreviews|secrets|configmaps/);
    for (const kind of ["ClusterRoleBinding", "RoleBinding"]) {
      const b = manifests(r, kind).find(
        (m) => obj(m.roleRef).name === (kind === "RoleBinding" ? "user-scheduler" : schedulerName),
      );
      assert.deepEqual(b?.subjects, [{ kind: "ServiceAccount", name: "user-scheduler", namespace: ns }]);
    }
  });

  test("the network fence lets the user scheduler reach the API server and nothing reach it", () => {
    const p = manifest(r, "NetworkPolicy", "user-scheduler");
    assert.deepEqual(obj(p.spec).egress, [{}]);
    assert.equal(obj(p.spec).ingress, undefined);
  });

  test("KubeSpawner 7.0 (the hub image's) puts the user class and the user scheduler on every user pod, whatever the profile", () => {
    const hub = hubPodOf(r);
    const results = userPodsFromConfig(hub.configText, [
      { user: "john.doe", admin: false },
      { user: "alice", admin: false, groups: [String(cfg.allowedGroups[1])], options: { profile: "gpu" } },
    ]);
    for (const result of results) {
      assert.ok("pod" in result, "error" in result ? result.error : "no pod");
      const spec = obj(result.pod.spec);
      assert.equal(spec.priorityClassName, `${ns}-user`);
      assert.equal(spec.schedulerName, schedulerName);
    }
  });
});
