/**
 * The course folders (shared/, and every user's folder for admins) through the mounts of pods the
 * hub image's KubeSpawner builds, run by the e2e kubelet stand-in's container code (mount
 * namespace, setpriv: uid, gid, groups, capabilities, no_new_privs) against a temporary folder
 * standing in for a fresh disk set up by the NFS server's init containers, on an export that does
 * not squash root and on one that does (modelled by the stand-in). The per-user folders' claims
 * (init containers, ownership, writes, isolation, the file browser) are checked by a real kernel
 * NFS server and client in e2e/kernelLab.test.ts; these have not been moved there yet. Needs root
 * (unshare, mount).
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { type Container, type ImageStandIn, type PodSpec, containerCommandLine } from "../e2e/journey/podSpec";
import { userPodsFromConfig } from "./support/hubConfigPython";
import { manifest, manifests, rendered } from "./support/rendered";

/** Programs of this machine; the image's user is irrelevant: every container here sets its own. */
const shell: ImageStandIn = { path: [], programFolders: [], entrypoint: [], cmd: [], uid: 0, gid: 0, env: {} };

function run(
  spec: PodSpec,
  c: Container,
  volumes: Record<string, { dir: string; nfs: boolean }>,
  rootSquash: boolean,
  scratch: string,
) {
  const { argv } = containerCommandLine({
    spec,
    container: c,
    image: shell,
    volumes: new Map(Object.entries(volumes)),
    env: {},
    rootSquash,
    scratchDir: fs.mkdtempSync(path.join(scratch, "c-")),
  });
  return spawnSync(argv[0], argv.slice(1), { encoding: "utf8" });
}

/**
 * A fresh disk in a scratch folder (its root folder root's, mode 0755, what mkfs leaves), set up
 * by the NFS server pod's init containers; `body` gets it and the scratch folder, which is removed
 * afterwards.
 */
function onFreshExport(
  prefix: string,
  nfsPod: PodSpec,
  rootSquash: boolean,
  body: (disk: string, scratch: string) => void,
): void {
  assert.equal(process.getuid?.(), 0, "this test runs containers and needs root");
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(scratch, 0o755);
  try {
    const disk = path.join(scratch, "disk");
    fs.mkdirSync(disk, { mode: 0o755 });
    fs.chmodSync(disk, 0o755);
    for (const c of nfsPod.initContainers ?? []) {
      const out = run(nfsPod, c, { exports: { dir: disk, nfs: false } }, rootSquash, scratch);
      assert.equal(out.status, 0, `NFS server init container ${c.name}: ${out.stderr}`);
    }
    body(disk, scratch);
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

describe("course folders on the NFS export: shared/ and every user's folder, from the hub's own KubeSpawner", async () => {
  const r = await rendered("dev", ["sharedFolder=true", "adminAllUsersFolder=true"]);
  const hubConfig = manifests(r, "ConfigMap").find((m) => "jupyterhub_config.py" in ((m.data ?? {}) as object));
  const configText = String((hubConfig?.data as Record<string, string>)["jupyterhub_config.py"]);
  const nfsPod = (manifest(r, "Deployment", "nfs-server").spec as unknown as { template: { spec: PodSpec } }).template
    .spec;
  const requests = [
    { user: "alice", admin: true },
    { user: "bob", admin: false },
    { user: "john.doe", admin: false },
  ];
  const pods = userPodsFromConfig(configText, requests).map((res, i) => {
    if (!("pod" in res)) throw new Error(`${requests[i].user}: ${res.error}`);
    return (res.pod as { spec: PodSpec }).spec;
  });
  const [alice, bob, john] = pods;

  /** The pod's notebook container with a shell script for its command, as the kubelet stand-in runs it. */
  function inNotebook(spec: PodSpec, disk: string, rootSquash: boolean, scratch: string, script: string) {
    const c = { ...spec.containers[0], command: ["sh", "-c", script], args: [] };
    return run(spec, c, { notebooks: { dir: disk, nfs: true } }, rootSquash, scratch);
  }

  for (const rootSquash of [false, true]) {
    it(`shared/ is read-only for a user and read-write for an admin, who also reaches every user's folder, ${rootSquash ? "with" : "without"} root squash`, () => {
      onFreshExport("course-folders-", nfsPod, rootSquash, (disk, scratch) => {
        const shared = fs.statSync(path.join(disk, "shared"));
        assert.deepEqual([shared.uid, shared.gid, (shared.mode & 0o7777).toString(8)], [1000, 100, "750"]);

        for (const [i, pod] of pods.entries()) {
          for (const c of pod.initContainers ?? []) {
            const out = run(pod, c, { notebooks: { dir: disk, nfs: true } }, rootSquash, scratch);
            assert.equal(out.status, 0, `${requests[i].user}'s init container ${c.name}: ${out.stderr.trim()}`);
          }
        }
        const johnFolder = String(john.containers[0].volumeMounts?.[0].subPath);
        const byAlice = inNotebook(
          alice,
          disk,
          rootSquash,
          scratch,
          "echo week1 > /home/jovyan/shared/welcome.md && echo graded > /home/jovyan/allusers/bob/feedback.md && ls /home/jovyan/allusers",
        );
        assert.equal(byAlice.status, 0, byAlice.stderr);
        assert.deepEqual(byAlice.stdout.trim().split("\n").sort(), ["alice", "bob", johnFolder.split("/")[1]].sort());
        const feedback = path.join(disk, "notebooks", "bob", "feedback.md");
        const st = fs.statSync(feedback);
        assert.deepEqual([st.uid, st.gid], [1000, 100], "bob's uid: he may change it");

        const byBob = inNotebook(
          bob,
          disk,
          rootSquash,
          scratch,
          "cat /home/jovyan/shared/welcome.md /home/jovyan/feedback.md && echo seen >> /home/jovyan/feedback.md && ls /home/jovyan && echo mine > /home/jovyan/shared/mine.md",
        );
        assert.notEqual(byBob.status, 0, "bob wrote into shared/");
        assert.match(byBob.stderr, /Read-only file system/);
        assert.deepEqual(byBob.stdout.trim().split("\n"), ["week1", "graded", "feedback.md", "shared"]);
        assert.equal(fs.readFileSync(feedback, "utf8"), "graded\nseen\n");
        assert.ok(!fs.existsSync(path.join(disk, "shared", "mine.md")));

        // Without its init container a user's pod cannot start on a squashing export: the runtime
        // would make the mount point of shared/ in the user's folder as root.
        if (rootSquash) {
          fs.mkdirSync(path.join(disk, "notebooks", "carol"), { mode: 0o750 });
          fs.chownSync(path.join(disk, "notebooks", "carol"), 1000, 100);
          const carol = JSON.parse(JSON.stringify(bob).replaceAll("notebooks/bob", "notebooks/carol")) as PodSpec;
          assert.throws(
            () => inNotebook(carol, disk, rootSquash, scratch, "true"),
            /mount point \/home\/jovyan\/shared \(made by the runtime, as root\): .*Permission denied/,
          );
        }
      });
    });
  }
});
