/**
 * The per-user folder set-up, run for real: the init containers of the rendered dev stack (the
 * NFS server's, on its own disk; KubeSpawner's, from the rendered jupyterhub_config.py, on the
 * export) executed by the e2e kubelet stand-in's container code (mount namespace, setpriv: uid,
 * gid, groups, capabilities, no_new_privs) against a temporary folder standing in for a fresh
 * disk, on an export that does not squash root and on one that does. Needs root (unshare, mount).
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { type Container, type ImageStandIn, type PodSpec, containerCommandLine } from "../e2e/journey/podSpec";
import { loadHubConfig } from "./support/hubConfigPython";
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

/** `{username}` as KubeSpawner expands it (for a plain name, the name itself). */
function expand(value: unknown, username: string): unknown {
  return JSON.parse(JSON.stringify(value).replaceAll("{username}", username));
}

describe("per-user folder set-up on the NFS export", async () => {
  const r = await rendered("dev");
  const hubConfig = manifests(r, "ConfigMap").find((m) => "jupyterhub_config.py" in ((m.data ?? {}) as object));
  const loaded = loadHubConfig(String((hubConfig?.data as Record<string, string>)["jupyterhub_config.py"]), {
    LDAP_LOOKUP_DN_SEARCH_PASSWORD: "x",
  });
  if (!loaded.ok) throw new Error(loaded.error);
  const ks = loaded.config.KubeSpawner;
  const nfsPod = (manifest(r, "Deployment", "nfs-server").spec as unknown as { template: { spec: PodSpec } }).template
    .spec;
  const claim = String(
    (ks.volumes as { persistentVolumeClaim: { claimName: string } }[])[0].persistentVolumeClaim.claimName,
  );
  const userPod = (user: string): PodSpec => ({
    securityContext: { runAsUser: Number(ks.uid), runAsGroup: Number(ks.gid), fsGroup: Number(ks.fs_gid) },
    initContainers: expand(ks.init_containers, user) as Container[],
    containers: [],
    volumes: [{ name: "notebooks", persistentVolumeClaim: { claimName: claim } }],
  });

  for (const rootSquash of [false, true]) {
    it(`gives each user a folder of their own, 0750 and owned by 1000:100, ${rootSquash ? "with" : "without"} root squash`, () => {
      assert.equal(process.getuid?.(), 0, "this test runs containers and needs root");
      const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "folder-setup-"));
      fs.chmodSync(scratch, 0o755);
      try {
        // A fresh disk: its root folder belongs to root, mode 0755 (what mkfs leaves).
        const disk = path.join(scratch, "disk");
        fs.mkdirSync(disk, { mode: 0o755 });
        fs.chmodSync(disk, 0o755);
        for (const c of nfsPod.initContainers ?? []) {
          const out = run(nfsPod, c, { exports: { dir: disk, nfs: false } }, rootSquash, scratch);
          assert.equal(out.status, 0, `NFS server init container ${c.name}: ${out.stderr}`);
        }
        for (const user of ["alice", "alice", "bob"]) {
          // alice twice: a second start finds her folder made.
          const pod = userPod(user);
          assert.ok((pod.initContainers ?? []).length > 0, "KubeSpawner has an init container");
          for (const c of pod.initContainers ?? []) {
            const out = run(pod, c, { notebooks: { dir: disk, nfs: true } }, rootSquash, scratch);
            assert.equal(out.status, 0, `${user}'s init container ${c.name}: ${out.stderr.trim()}`);
          }
          const st = fs.statSync(path.join(disk, "notebooks", user));
          assert.deepEqual([st.uid, st.gid, (st.mode & 0o7777).toString(8)], [1000, 100, "750"], `${user}'s folder`);
        }
        // The notebook user writes there; the file browser (uid 101 in group 100) reads it.
        const write = spawnSync(
          "setpriv",
          [
            "--reuid=1000",
            "--regid=100",
            "--groups=100",
            "--",
            "touch",
            path.join(disk, "notebooks", "alice", "n.ipynb"),
          ],
          { encoding: "utf8" },
        );
        assert.equal(write.status, 0, write.stderr);
        const list = spawnSync(
          "setpriv",
          ["--reuid=101", "--regid=101", "--groups=100", "--", "ls", path.join(disk, "notebooks", "alice")],
          { encoding: "utf8" },
        );
        assert.equal(list.status, 0, `the file browser lists it: ${list.stderr}`);
      } finally {
        fs.rmSync(scratch, { recursive: true, force: true });
      }
    });
  }
});
