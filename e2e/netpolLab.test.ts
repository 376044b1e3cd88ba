/**
 * The network fence, enforced by a real policy engine in a real kernel (e2e/netpolLab): kube-router
 * v2.1.0's network policy controller, in the kernel lab's user-mode Linux, against the rendered
 * NetworkPolicies of the dev and prod stacks, with pods as network namespaces on a bridge and the
 * connectivity matrix (e2e/netpolLab/matrix.tsv) tried with real connections. Then what it exists
 * for: the fence from before the NodeLocal DNSCache fix leaves user pods without the hub's name,
 * and a fence without the metadata exception lets the metadata server's port 80 answer.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Rendering } from "../render";
import type { JsonObject } from "../render/mocks";
import { ensureToolchain } from "./lib/toolchain";
import { NetpolLab, cellName, readMatrix, type Cell, type LabPod } from "./netpolLab";
import { userPodsFromConfig } from "../test/support/hubConfigPython";
import { manifests, rendered } from "../test/support/rendered";

const matrix = readMatrix();

/** alice's and bob's servers, as the hub image's KubeSpawner makes their pods from our config. */
function userPods(r: Rendering): Omit<LabPod, "ip">[] {
  const cm = manifests(r, "ConfigMap").find((m) => "jupyterhub_config.py" in ((m.data ?? {}) as object));
  const config = String((cm?.data as Record<string, string>)["jupyterhub_config.py"]);
  const made = userPodsFromConfig(config, [
    { user: "alice", admin: false },
    { user: "bob", admin: false },
  ]);
  return made.map((result, i) => {
    if (!("pod" in result)) throw new Error(`KubeSpawner refused the pod: ${result.error}`);
    const pod = result.pod as {
      metadata: { name: string; labels: Record<string, string> };
      spec: { containers: { ports?: LabPod["ports"] }[] };
    };
    return {
      role: i === 0 ? "user-pod" : "other-user-pod",
      name: pod.metadata.name,
      namespace: String(r.outputs.hubNamespace),
      labels: pod.metadata.labels,
      ports: pod.spec.containers.flatMap((c) => c.ports ?? []),
    };
  });
}

/** kube-dns, as GKE runs it: pods labelled k8s-app=kube-dns in kube-system. */
const kubeDns: Omit<LabPod, "ip"> = {
  role: "kube-dns",
  name: "kube-dns-lab",
  namespace: "kube-system",
  labels: { "k8s-app": "kube-dns" },
  ports: [
    { name: "dns", containerPort: 53, protocol: "UDP" },
    { name: "dns-tcp", containerPort: 53, protocol: "TCP" },
  ],
};

function report(results: { cell: Cell; seen: { result: string; detail: string }; ok: boolean }[]): string {
  return results
    .map((r) => `${r.ok ? "ok  " : "FAIL"} ${cellName(r.cell)} -- seen: ${r.seen.result} ${r.seen.detail}`)
    .join("\n");
}

interface IpBlock {
  cidr: string;
  except?: string[];
}

/**
 * A copy of the fence's policies with each egress ipBlock peer passed through `edit` (undefined
 * drops the peer; a rule left with no peer would mean "anywhere", and is refused).
 */
function withIpBlocks(policies: JsonObject[], edit: (b: IpBlock) => IpBlock | undefined): JsonObject[] {
  const copy = structuredClone(policies);
  for (const p of copy) {
    for (const rule of (p.spec as { egress?: { to?: { ipBlock?: IpBlock }[] }[] }).egress ?? []) {
      if (!rule.to) continue;
      rule.to = rule.to.flatMap((peer) => {
        const edited = peer.ipBlock ? edit(peer.ipBlock) : peer.ipBlock;
        return peer.ipBlock && !edited ? [] : [edited ? { ...peer, ipBlock: edited } : peer];
      });
      if (rule.to.length === 0) throw new Error("an egress rule left with no peer would open everything");
    }
  }
  return copy;
}

for (const stack of ["dev", "prod"]) {
  describe(`kube-router enforces the ${stack} stack's rendered fence in a real kernel`, { timeout: 900_000 }, () => {
    let lab: NetpolLab;
    let r: Rendering;
    let policies: JsonObject[];
    before(async () => {
      r = await rendered(stack);
      policies = manifests(r, "NetworkPolicy");
      const t0 = Date.now();
      lab = await NetpolLab.start(ensureToolchain());
      const t1 = Date.now();
      await lab.deploy(r.manifests, [...userPods(r), kubeDns]);
      console.log(
        `# ${stack}: control plane and kernel ${((t1 - t0) / 1000).toFixed(1)} s, objects and pods ${((Date.now() - t1) / 1000).toFixed(1)} s`,
      );
    });
    after(async () => {
      await lab?.stop();
    });

    it("without a policy engine, every cell answers: each path exists, so a refusal later is the engine's", async () => {
      const results = await lab.probe(matrix);
      const silent = results.filter((x) => !(x.cell.expect === "answer" ? x.ok : x.seen.result === "answered"));
      assert.deepEqual(
        silent.map((x) => cellName(x.cell)),
        [],
        report(results),
      );
    });

    it("kube-router enforces the fence: every cell of the connectivity matrix, with real connections", async () => {
      const t0 = Date.now();
      await lab.startKubeRouter();
      console.log(`# ${stack}: kube-router started and synced in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      const results = await lab.probe(matrix);
      console.log(report(results));
      assert.deepEqual(
        results.filter((x) => !x.ok).map((x) => cellName(x.cell)),
        [],
        `${report(results)}\nkube-router:\n${(await lab.kubeRouterLog()).log.split("\n").slice(-20).join("\n")}`,
      );
    });

    // What the engine exists to catch, shown once (on dev): the fence is the same code for every stack.
    if (stack !== "dev") return;

    it("the fence from before the NodeLocal DNSCache fix: a user pod cannot resolve the hub's name there", async () => {
      // What ef134d8 added: the ipBlock for 169.254.20.10/32 in the DNS rule. Without it, as before.
      lab.applyPolicies(withIpBlocks(policies, (b) => (b.cidr === "169.254.20.10/32" ? undefined : b)));
      await lab.waitForSync();
      const cells = matrix.filter(
        (c) => c.to === "nodelocal-dns" && c.port === 53 && ["user-pod", "proxy"].includes(c.from),
      );
      assert.ok(cells.length >= 2);
      const results = await lab.probe(cells);
      console.log(report(results));
      for (const x of results)
        assert.notEqual(x.seen.result, "answered", `${cellName(x.cell)}: ${x.seen.result} ${x.seen.detail}`);
      // And with the fix back, the same cells answer.
      lab.applyPolicies(policies);
      await lab.waitForSync();
      const fixed = await lab.probe(cells);
      assert.deepEqual(
        fixed.filter((x) => !x.ok).map((x) => cellName(x.cell)),
        [],
        report(fixed),
      );
    });

    it("a fence without the metadata exception lets the metadata server's port 80 answer", async () => {
      // The public rule excepting the private ranges only (not 169.254.0.0/16): z2jh's model minus
      // its 169.254.169.254/32 exception.
      lab.applyPolicies(
        withIpBlocks(policies, (b) =>
          b.except ? { ...b, except: b.except.filter((e) => !e.startsWith("169.254.")) } : b,
        ),
      );
      await lab.waitForSync();
      const cell = matrix.find((c) => c.from === "user-pod" && c.to === "metadata" && c.port === 80);
      assert.ok(cell);
      const [result] = await lab.probe([cell]);
      console.log(report([result]));
      assert.equal(result.seen.result, "answered", `${cellName(cell)}: ${result.seen.result} ${result.seen.detail}`);
      assert.equal(result.seen.detail, "node 80");
      lab.applyPolicies(policies);
      await lab.waitForSync();
    });
  });
}
