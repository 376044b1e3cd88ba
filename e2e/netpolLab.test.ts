/**
 * The network fence, enforced by a real policy engine in a real kernel (e2e/netpolLab): kube-router
 * v2.1.0's network policy controller, in the kernel lab's user-mode Linux, against the
 * NetworkPolicies `pulumi up` made for the dev and prod stacks, with pods as network namespaces on a bridge and the
 * connectivity matrix (e2e/netpolLab/matrix.tsv) tried with real connections. Then what it exists
 * for: the fence from before the NodeLocal DNSCache fix leaves user pods without the hub's name,
 * and a fence without the metadata exception lets the metadata server's port 80 answer.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import type { JsonObject } from "../render/mocks";
import { alive } from "./lib/processes";
import { ensureToolchain } from "./lib/toolchain";
import { processesMarked } from "./lib/watchdog";
import { NetpolLab, cellName, readMatrix, type Cell } from "./netpolLab";
import { manifests, rendered } from "../test/support/rendered";

const matrix = readMatrix();

/** A NetworkPolicy's spec as the API server returns it: an empty list is not kept (omitempty). */
function normalized(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalized);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, v]) => !(Array.isArray(v) && v.length === 0))
      .map(([k, v]) => [k, normalized(v)]),
  );
}

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

describe("a lab whose test is SIGKILLed leaves nothing behind", { timeout: 600_000 }, () => {
  it("the kernel, the relay, the network namespace, the control plane and the folders end with it", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", path.join(__dirname, "netpolLab", "holdLab.ts")], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const line = await new Promise<string>((resolve, reject) => {
      let out = "";
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        const first = out.split("\n").find((l) => l.startsWith("{"));
        if (first) resolve(first);
      });
      child.once("exit", (code) => reject(new Error(`the lab's process exited (${code}) before it started`)));
    });
    const started = JSON.parse(line) as {
      pid: number;
      netns: string;
      folders: string[];
      relay: number;
      controlPlane: number[];
    };
    // The lab kernel's processes carry the pid of the test that booted it (KernelLab's ownerMark).
    const kernel = () => processesMarked("jhnfs_owner").filter((o) => o.owner === started.pid);
    const namespaces = () => spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout;
    assert.ok(kernel().length > 0 && alive(started.relay) && started.controlPlane.every(alive), "the lab runs");
    assert.ok(namespaces().includes(started.netns));
    const t0 = Date.now();
    child.kill("SIGKILL");
    const left = () => ({
      kernel: kernel().map((o) => o.pid),
      relay: alive(started.relay) ? [started.relay] : [],
      controlPlane: started.controlPlane.filter(alive),
      namespace: namespaces().includes(started.netns) ? [started.netns] : [],
      folders: started.folders.filter((f) => fs.existsSync(f)),
    });
    // The watchdogs look once a second; deleting the control plane and the folders takes a few more.
    while (Object.values(left()).some((x) => x.length > 0) && Date.now() - t0 < 90_000)
      await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(left(), { kernel: [], relay: [], controlPlane: [], namespace: [], folders: [] });
    console.log(`# everything of the killed lab gone ${((Date.now() - t0) / 1000).toFixed(1)} s after its SIGKILL`);
  });
});

for (const stack of ["dev", "prod"]) {
  describe(`kube-router enforces the ${stack} stack's rendered fence in a real kernel`, { timeout: 900_000 }, () => {
    let lab: NetpolLab;
    let policies: JsonObject[];
    let cells: Cell[];
    before(async () => {
      const t0 = Date.now();
      lab = await NetpolLab.start(ensureToolchain());
      const t1 = Date.now();
      const { upSeconds } = await lab.deploy(stack);
      policies = lab.policies() as unknown as JsonObject[];
      cells = matrix.filter((c) => lab.places(c));
      console.log(
        `# ${stack}: control plane and kernel ${((t1 - t0) / 1000).toFixed(1)} s, pulumi up ${upSeconds.toFixed(1)} s, ` +
          `objects, pods and listeners ${((Date.now() - t1) / 1000).toFixed(1)} s in all`,
      );
    });
    after(async () => {
      await lab?.stop();
    });

    it("the NetworkPolicies `pulumi up` made are the stack's rendered fence; every cell has its ends but the test LDAP server's on prod", async () => {
      const r = await rendered(stack);
      const key = (p: JsonObject) => {
        const m = p.metadata as { namespace: string; name: string };
        return `${m.namespace}/${m.name}`;
      };
      const made = new Map(policies.map((p) => [key(p), normalized(p.spec)]));
      const wanted = new Map(manifests(r, "NetworkPolicy").map((p) => [key(p), normalized(p.spec)]));
      assert.deepEqual([...made.keys()].sort(), [...wanted.keys()].sort());
      for (const [k, spec] of wanted) assert.deepEqual(made.get(k), spec, k);
      const unplaced = matrix.filter((c) => !cells.includes(c));
      // Only prod has no test LDAP server (ldapTestServer is dev's): its cells are dev's alone.
      assert.deepEqual(
        unplaced.map(cellName),
        stack === "dev" ? [] : matrix.filter((c) => [c.from, c.to].includes("test-ldap")).map(cellName),
      );
    });

    it("without a policy engine, every cell answers: each path exists, so a refusal later is the engine's", async () => {
      const results = await lab.probe(cells);
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
      const results = await lab.probe(cells);
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
      const dnsCells = matrix.filter(
        (c) => c.to === "nodelocal-dns" && c.port === 53 && ["user-pod", "proxy"].includes(c.from),
      );
      assert.ok(dnsCells.length >= 2);
      const results = await lab.probe(dnsCells);
      console.log(report(results));
      for (const x of results)
        assert.notEqual(x.seen.result, "answered", `${cellName(x.cell)}: ${x.seen.result} ${x.seen.detail}`);
      // And with the fix back, the same cells answer.
      lab.applyPolicies(policies);
      await lab.waitForSync();
      const fixed = await lab.probe(dnsCells);
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
