/**
 * What we claim about the notebooks' NFS volume, checked by a real kernel (e2e/kernelLab):
 * the kernel's nfsd exporting a real file system as our NFS server pod exports it, the kernel's
 * NFSv4.1 client mounting it as the kubelet mounts our PersistentVolume, and the rendered dev
 * stack's containers (the NFS server's init container, KubeSpawner's init container and notebook
 * container from the real jupyterhub_config.py, the file browser's) running on it with the
 * identities their pod specs give.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import type { Container, PodSpec } from "./journey/podSpec";
import type { Rendering } from "../render";
import type { JsonObject } from "../render/mocks";
import { KernelLab, nfsServerPod, type FileSystem } from "./kernelLab";
import { q } from "./journey/containerProcess";
import { nginxImage } from "./journey/imageStandIns";
import { images } from "../versions/images";
import { credentialsOf, fileBrowserOf } from "../test/support/nginx";
import { loadHubConfig, userPodsFromConfig } from "../test/support/hubConfigPython";
import { at, manifest, manifests, rendered, resource } from "../test/support/rendered";

/** `{username}` as KubeSpawner expands it (for a plain name, the name itself). */
function expand<T>(value: T, username: string): T {
  return JSON.parse(JSON.stringify(value).replaceAll("{username}", username)) as T;
}

interface Stack {
  nfsDeployment: JsonObject;
  pv: JsonObject;
  /** A user's pod as KubeSpawner makes it from our config: identity, init container, notebook mount. */
  userPod: (user: string) => PodSpec;
  notebookDir: string;
  fileBrowser: { spec: PodSpec; container: Container; volume: string; mountPath: string };
}

/** KubeSpawner's pod for a user, from the real hub config of a rendering; and the notebook folder in it. */
function userPodsOf(r: Rendering): Pick<Stack, "userPod" | "notebookDir"> {
  const hubConfig = manifests(r, "ConfigMap").find((m) => "jupyterhub_config.py" in ((m.data ?? {}) as object));
  const loaded = loadHubConfig(String((hubConfig?.data as Record<string, string>)["jupyterhub_config.py"]), {
    LDAP_LOOKUP_DN_SEARCH_PASSWORD: "x",
  });
  if (!loaded.ok) throw new Error(loaded.error);
  const ks = loaded.config.KubeSpawner;
  const userPod = (user: string): PodSpec => ({
    securityContext: { runAsUser: Number(ks.uid), runAsGroup: Number(ks.gid), fsGroup: Number(ks.fs_gid) },
    initContainers: expand(ks.init_containers as unknown as Container[], user),
    containers: [
      {
        name: "notebook",
        image: String(ks.image),
        securityContext: {
          ...(ks.container_security_context as Container["securityContext"]),
          allowPrivilegeEscalation: ks.allow_privilege_escalation as boolean,
        },
        volumeMounts: expand(ks.volume_mounts as Container["volumeMounts"], user),
      },
    ],
    volumes: ks.volumes as unknown as PodSpec["volumes"],
  });
  return { userPod, notebookDir: String(loaded.config.Spawner.notebook_dir) };
}

async function devStack(): Promise<Stack> {
  const r = await rendered("dev");
  // The file browser's nginx container, with its NFS claim only (its ConfigMap and Secret mounts
  // hold its config, not the files).
  const fb = (manifest(r, "Deployment", "file-browser").spec as JsonObject).template as JsonObject;
  const fbSpec = fb.spec as unknown as PodSpec;
  const claim = (fbSpec.volumes ?? []).find((v) => v.persistentVolumeClaim);
  assert.ok(claim, "the file browser mounts the notebooks claim");
  const fbContainer = fbSpec.containers[0];
  const fbMount = (fbContainer.volumeMounts ?? []).find((m) => m.name === claim.name);
  assert.ok(fbMount);
  return {
    nfsDeployment: manifest(r, "Deployment", "nfs-server"),
    pv: manifest(r, "PersistentVolume", "notebooks-pv-"),
    ...userPodsOf(r),
    fileBrowser: {
      spec: fbSpec,
      container: { ...fbContainer, volumeMounts: [fbMount] },
      volume: claim.name,
      mountPath: fbMount.mountPath,
    },
  };
}

/** Boots a lab for one describe() and shuts it down after it. */
function labFor(fileSystem: FileSystem, diskMiB: number): () => KernelLab {
  let lab: KernelLab | undefined;
  before(async () => {
    lab = await KernelLab.boot({ fileSystem, diskMiB });
  });
  after(async () => {
    await lab?.shutdown();
  });
  return () => {
    assert.ok(lab, "the lab did not boot");
    return lab;
  };
}

const lockHolder = path.join(__dirname, "kernelLab", "lockHolder.py");

const asNotebookUser = "setpriv --reuid=1000 --regid=100 --groups=100 --";

/**
 * Starts lockHolder.py as the notebook user on `folder/name` (a file it keeps open with a lock on
 * it); resolves once it holds the lock.
 */
async function holdLock(lab: KernelLab, folder: string, name: string) {
  const control = `/run/${name}`;
  await lab.ok(
    `mkdir ${control} && chown 1000:100 ${control} && { ${asNotebookUser} python3 ${lockHolder} ${folder}/${name} ${control} >${control}.log 2>&1 & echo $! >${control}.pid; }`,
  );
  const state = await lab.run(
    `until [ -e ${control}/state ] || ! kill -0 "$(cat ${control}.pid)"; do sleep 0.05; done; cat ${control}/state ${control}.log`,
  );
  assert.equal(state.stdout.trim(), "locked", `the lock holder: ${state.stdout}${state.stderr}`);
  let n = 0;
  return {
    /** One line appended and fsynced through the open file: "ok" or the error's name. */
    write: async () => {
      n += 1;
      const done = `${control}/result-${n}`;
      return (
        await lab.ok(`touch ${control}/write-${n}; until [ -e ${done} ]; do sleep 0.05; done; cat ${done}`)
      ).trim();
    },
    stop: () => lab.ok(`touch ${control}/stop`),
  };
}

const squashing = (line: string) => line.replace("no_root_squash", "root_squash");

for (const rootSquash of [false, true]) {
  describe(`per-user folders through the kernel's NFS, ${rootSquash ? "on an export that squashes root" : "as the image exports (no_root_squash)"}`, () => {
    const lab = labFor("ext4", 64);
    let stack: Stack;
    let mount: string;
    before(async () => {
      stack = await devStack();
      // The image never squashes root; another server (one with root_squash) must work as well.
      await lab().startNfsServer(stack.nfsDeployment, rootSquash ? { exportLine: squashing } : {});
      mount = await lab().mountVolume(stack.pv);
    });

    it("the export is what run_nfs.sh writes for our arguments, and root is squashed only where it says", async () => {
      const exported = await lab().ok("exportfs -v");
      assert.match(exported, /^\/exports\s/m);
      assert.match(exported, rootSquash ? /[(,]root_squash/ : /no_root_squash/);
      // root on the node, through the mount: squashed to nobody where the export says so.
      const probe = await lab().run(`touch ${mount}/root-was-here && stat -c %u:%g ${mount}/root-was-here`);
      if (rootSquash) assert.notEqual(probe.status, 0, "a squashed root may not write to the export's root");
      else assert.equal(probe.stdout.trim(), "0:0");
    });

    it("the NFS server's and each user's init containers make notebooks/<user> owned 1000:100, mode 0750", async () => {
      for (const user of ["alice", "alice", "bob"]) {
        // alice twice: a second start finds her folder made.
        const pod = stack.userPod(user);
        assert.ok((pod.initContainers ?? []).length > 0, "KubeSpawner has an init container");
        for (const c of pod.initContainers ?? []) {
          const a = await lab().runContainer(pod, c, { notebooks: mount });
          assert.equal(a.status, 0, `${user}'s init container ${c.name}: ${a.stderr}`);
        }
        // Seen on the server's own disk, not through the client's attribute cache.
        const st = await lab().ok(`stat -c '%u %g %a' /exports/notebooks/${user}`);
        assert.equal(st.trim(), "1000 100 750", `${user}'s folder`);
      }
    });

    it("a notebook saved by the user's container lands on the disk owned 1000:100", async () => {
      const pod = stack.userPod("alice");
      const notebook = { ...pod.containers[0], command: ["sh", "-c", `echo '{}' > ${stack.notebookDir}/saved.ipynb`] };
      const a = await lab().runContainer(pod, notebook, { notebooks: mount });
      assert.equal(a.status, 0, a.stderr);
      assert.equal((await lab().ok("stat -c '%u %g' /exports/notebooks/alice/saved.ipynb")).trim(), "1000 100");
    });

    it("isolation rests on the subPath mount: every user is uid 1000, so the folder's mode fences only other uids", async () => {
      await lab().ok(`${asNotebookUser} sh -c 'echo bob > ${mount}/notebooks/bob/b.ipynb'`);
      // alice's container: the export is mounted at its subPath, notebooks/alice, and nowhere else;
      // bob's folder is not in her file system at all (`..` of a mount's root is the container's).
      const pod = stack.userPod("alice");
      const look = {
        ...pod.containers[0],
        command: [
          "sh",
          "-c",
          `grep ' - nfs4 ' /proc/self/mountinfo | cut -d' ' -f5; ls ${stack.notebookDir}; ls ${stack.notebookDir}/../bob 2>&1 || true`,
        ],
      };
      const a = await lab().runContainer(pod, look, { notebooks: mount });
      assert.equal(a.status, 0, a.stderr);
      const [mountLine, ...rest] = a.stdout.trim().split("\n");
      assert.equal(mountLine, stack.notebookDir, "the one NFS mount in her container");
      assert.ok(rest.includes("saved.ipynb"));
      assert.ok(!a.stdout.includes("b.ipynb"), "bob's notebook is out of her reach");
      // Through the node's mount, the export does not fence uid 1000 from another uid 1000 folder:
      // NFS with AUTH_SYS trusts the client's uid. A pod that mounted the whole claim would read it.
      const sameUid = await lab().run(`${asNotebookUser} cat ${mount}/notebooks/bob/b.ipynb`);
      assert.equal(sameUid.stdout.trim(), "bob");
      // Another uid outside group 100 is refused by the mode 0750, by the server's check.
      const other = await lab().run(`setpriv --reuid=1001 --regid=1001 --clear-groups -- ls ${mount}/notebooks/bob`);
      assert.notEqual(other.status, 0);
      assert.match(other.stderr, /Permission denied/);
    });

    it("the file browser (uid 101, supplementalGroups [100]) reads every user's folder", async () => {
      const { spec, container, volume } = stack.fileBrowser;
      const list = {
        ...container,
        command: [
          "sh",
          "-c",
          `id -u; id -G; ls ${stack.fileBrowser.mountPath}/notebooks/alice ${stack.fileBrowser.mountPath}/notebooks/bob`,
        ],
      };
      const a = await lab().runContainer(spec, list, { [volume]: mount });
      assert.equal(a.status, 0, a.stderr);
      const [uid, groups] = a.stdout.split("\n");
      assert.equal(uid, "101");
      assert.ok(groups.split(" ").includes("100"), `groups ${groups}`);
      assert.match(a.stdout, /saved\.ipynb/);
      assert.match(a.stdout, /b\.ipynb/);
    });

    if (!rootSquash) {
      it("with Debian's manage-gids=y the server would drop the file browser's group 100 and refuse it", async () => {
        // mountd then takes a uid's groups from the server's /etc/group, where 101 is in no group
        // 100; the image's /etc/nfs.conf leaves it off. Shown here so that a server image that
        // turns it on is known to break the file browser.
        await lab().stopNfsServer();
        await lab().startNfsServer(stack.nfsDeployment, { manageGids: true });
        // The client caches what the server allowed each identity (its access cache, per inode):
        // drop the node's unused inodes so that it asks the server again, as a new node would.
        await lab().ok("sync && echo 3 > /proc/sys/vm/drop_caches");
        const { spec, container, volume } = stack.fileBrowser;
        const list = { ...container, command: ["ls", `${stack.fileBrowser.mountPath}/notebooks/alice`] };
        const a = await lab().runContainer(spec, list, { [volume]: mount });
        assert.notEqual(a.status, 0);
        assert.match(a.stderr, /Permission denied/);
      });
    }
  });
}

for (const rootSquash of [false, true]) {
  describe(`course folders through the kernel's NFS (shared/, every user's folder for admins), ${rootSquash ? "on an export that squashes root" : "as the image exports"}`, () => {
    const lab = labFor("ext4", 64);
    const requests = [
      { user: "alice", admin: true },
      { user: "bob", admin: false },
      { user: "john.doe", admin: false },
    ];
    let pods: PodSpec[];
    let mount: string;
    before(async () => {
      const r = await rendered("dev", ["sharedFolder=true", "adminAllUsersFolder=true"]);
      const hubConfig = manifests(r, "ConfigMap").find((m) => "jupyterhub_config.py" in ((m.data ?? {}) as object));
      // The pods the hub image's own KubeSpawner builds, with the admin-only mounts added for alice.
      pods = userPodsFromConfig(
        String((hubConfig?.data as Record<string, string>)["jupyterhub_config.py"]),
        requests,
      ).map((res, i) => {
        if (!("pod" in res)) throw new Error(`${requests[i].user}: ${res.error}`);
        return (res.pod as { spec: PodSpec }).spec;
      });
      await lab().startNfsServer(manifest(r, "Deployment", "nfs-server"), rootSquash ? { exportLine: squashing } : {});
      mount = await lab().mountVolume(manifest(r, "PersistentVolume", "notebooks-pv-"));
    });

    /** The pod's notebook container with a shell script for its command. */
    const inNotebook = (spec: PodSpec, script: string) =>
      lab().runContainer(
        spec,
        { ...spec.containers[0], command: ["sh", "-c", script], args: [] },
        { notebooks: mount },
      );

    before(async () => {
      for (const [i, pod] of pods.entries()) {
        for (const c of pod.initContainers ?? []) {
          const a = await lab().runContainer(pod, c, { notebooks: mount });
          assert.equal(a.status, 0, `${requests[i].user}'s init container ${c.name}: ${a.stderr}`);
        }
      }
    });

    /** A pod's own folder on the export (the subPath mounted at its home folder). */
    const ownFolder = (spec: PodSpec) =>
      String(spec.containers[0].volumeMounts?.find((m) => m.subPath?.startsWith("notebooks/"))?.subPath);

    // Found here with root squashed (the local-folder model had missed it): the runtime, root on
    // the node and so nobody on the export, looks up the mount points (shared/, allusers/) inside
    // the user's folder. At 0750 it was refused and no user's pod started; given mount points, the
    // init container now makes the folder 0751.
    it("each user's folder is 0751 when mount points are in it, and every user's pod starts", async () => {
      for (const [i, pod] of pods.entries()) {
        const folder = ownFolder(pod);
        const st = (await lab().ok(`stat -c '%u %g %a' /exports/${folder}`)).trim();
        assert.equal(st, "1000 100 751", `${requests[i].user}'s folder`);
        const a = await inNotebook(pod, "true");
        assert.equal(a.status, 0, `${requests[i].user}'s pod: ${a.stderr}`);
      }
    });

    it("shared/ is read-only for a user and read-write for an admin, who also reaches every user's folder", async () => {
      assert.equal((await lab().ok("stat -c '%u %g %a' /exports/shared")).trim(), "1000 100 750");
      const [alice, bob, john] = pods;
      const johnFolder = String(john.containers[0].volumeMounts?.find((m) => m.subPath)?.subPath).split("/")[1];
      const byAlice = await inNotebook(
        alice,
        "echo week1 > /home/jovyan/shared/welcome.md && echo graded > /home/jovyan/allusers/bob/feedback.md && ls /home/jovyan/allusers",
      );
      assert.equal(byAlice.status, 0, byAlice.stderr);
      assert.deepEqual(byAlice.stdout.trim().split("\n").sort(), ["alice", "bob", johnFolder].sort());
      assert.equal((await lab().ok("stat -c '%u %g' /exports/notebooks/bob/feedback.md")).trim(), "1000 100");

      const byBob = await inNotebook(
        bob,
        "cat /home/jovyan/shared/welcome.md /home/jovyan/feedback.md && echo seen >> /home/jovyan/feedback.md && ls /home/jovyan && echo mine > /home/jovyan/shared/mine.md",
      );
      assert.notEqual(byBob.status, 0, "bob wrote into shared/");
      assert.match(byBob.stderr, /Read-only file system/);
      assert.deepEqual(byBob.stdout.trim().split("\n"), ["week1", "graded", "feedback.md", "shared"]);
      assert.equal(await lab().ok("cat /exports/notebooks/bob/feedback.md"), "graded\nseen\n");
      assert.equal((await lab().run("test -e /exports/shared/mine.md")).status, 1);
    });

    it("what the search bit gives others, and what still keeps users apart", async () => {
      const [alice, bob] = pods;
      // bob's pod: its NFS mounts are his own folder and shared/ (read-only), nothing of alice's.
      // Each as mountinfo gives it: the export's folder (the NFS source), where, and rw or ro.
      const mounts = await inNotebook(
        bob,
        `awk '$(NF-2) == "nfs4" { split($6, o, ","); print $(NF-1), $5, o[1] }' /proc/self/mountinfo`,
      );
      assert.equal(mounts.status, 0, mounts.stderr);
      assert.deepEqual(mounts.stdout.trim().split("\n").sort(), [
        `127.0.0.1:/${ownFolder(bob)} /home/jovyan rw`,
        "127.0.0.1:/shared /home/jovyan/shared ro",
      ]);
      const notes = await inNotebook(alice, "echo private > /home/jovyan/notes.md");
      assert.equal(notes.status, 0, notes.stderr);
      const look = await inNotebook(bob, "grep -rs private /home/jovyan; true");
      assert.equal(look.stdout, "", "bob's pod reaches nothing of alice's");
      // A uid outside the users group (a node's squashed root is one) may not list a user's folder.
      const other = "setpriv --reuid=1001 --regid=1001 --clear-groups --";
      const list = await lab().run(`${other} ls ${mount}/notebooks/alice`);
      assert.notEqual(list.status, 0);
      assert.match(list.stderr, /Permission denied/);
      // What 0751 gives away: it may open a file whose name it knows, if the file's mode lets others
      // read it (the notebook server's umask leaves 0644). Such a uid on the export can as well
      // claim uid 1000 (AUTH_SYS), so 0750 never fenced it; what keeps users apart is the subPath.
      const byName = await lab().run(`${other} cat ${mount}/notebooks/alice/notes.md`);
      assert.equal(byName.stdout, "private\n", byName.stderr);
    });
  });
}

describe("the NFS server restarts under a client holding a locked file open", () => {
  const lab = labFor("ext4", 64);
  let stack: Stack;
  let folder: string;
  before(async () => {
    stack = await devStack();
    await lab().startNfsServer(stack.nfsDeployment);
    const mount = await lab().mountVolume(stack.pv);
    const pod = stack.userPod("alice");
    for (const c of pod.initContainers ?? []) await lab().runContainer(pod, c, { notebooks: mount });
    folder = `${mount}/notebooks/alice`;
  });

  /** Whether another process of the notebook user gets the lock at once (flock -n). */
  const anotherGetsLock = async (name: string) =>
    (await lab().run(`${asNotebookUser} flock -n -x ${folder}/${name} true`)).status === 0;

  it("with the pod's fixed host name, the client reclaims: after the grace period its open file writes and its lock holds", async () => {
    const holder = await holdLock(lab(), folder, "kept.txt");
    assert.equal(await holder.write(), "ok");
    assert.equal(await anotherGetsLock("kept.txt"), false, "locked before the restart");
    await lab().stopNfsServer();
    await lab().startNfsServer(stack.nfsDeployment);
    // The hard mount waits out the restart; the client then reclaims its open and its lock in the
    // server's grace period, under the same server scope (the host name).
    assert.equal(await holder.write(), "ok", "the open file writes after the restart");
    assert.equal(await anotherGetsLock("kept.txt"), false, "the lock is still held after the restart");
    await holder.stop();
  });

  it("with another host name each start (a Deployment pod's own name), the client may not reclaim: the lock is lost", async () => {
    const holder = await holdLock(lab(), folder, "lost.txt");
    assert.equal(await holder.write(), "ok");
    assert.equal(await anotherGetsLock("lost.txt"), false, "locked before the restart");
    await lab().stopNfsServer();
    await lab().startNfsServer(stack.nfsDeployment, { hostname: "nfs-server-6f7c9d5b8-x2q7k" });
    // Another server scope: the client takes it for another server and reclaims nothing
    // (ClusterLabs/resource-agents#1644): the open file fails, and the lock is free for others.
    assert.equal(await holder.write(), "EIO", "the open file fails after the restart");
    assert.equal(await anotherGetsLock("lost.txt"), true, "the lock was lost");
    await holder.stop();
  });
});

for (const [fileSystem, fromMiB, toMiB] of [
  ["ext4", 64, 160],
  // mkfs.xfs makes nothing under 300 MiB.
  ["xfs", 320, 800],
] as const) {
  describe(`the disk (${fileSystem}) grows while mounted and exported`, () => {
    const lab = labFor(fileSystem, fromMiB);
    it("the client sees the new size without a remount, and writes past the old size", async () => {
      const stack = await devStack();
      await lab().startNfsServer(stack.nfsDeployment);
      const mount = await lab().mountVolume(stack.pv);
      const pod = stack.userPod("alice");
      for (const c of pod.initContainers ?? []) await lab().runContainer(pod, c, { notebooks: mount });
      const size = async () => {
        const [blocks, blockSize] = (await lab().ok(`stat -f -c '%b %S' ${mount}`)).trim().split(" ").map(Number);
        return blocks * blockSize;
      };
      const before = await size();
      assert.ok(before < fromMiB * 1024 * 1024);
      // A file held open across the resize, as a running notebook server would.
      const holder = await holdLock(lab(), `${mount}/notebooks/alice`, "open.txt");
      await lab().growDisk(toMiB, nfsServerPod(stack.nfsDeployment).mountPath);
      assert.equal(await holder.write(), "ok", "the open file writes after the resize");
      await holder.stop();
      const grown = await size();
      assert.ok(grown > fromMiB * 1024 * 1024, `the client sees ${grown} bytes, not more than the old ${fromMiB} MiB`);
      // More than the old disk could hold, written by the notebook user through the same mount.
      const mib = fromMiB + 8;
      const write = await lab().run(
        `${asNotebookUser} dd if=/dev/zero of=${mount}/notebooks/alice/big bs=1M count=${mib} conv=fsync status=none`,
      );
      assert.equal(write.status, 0, write.stderr);
      assert.equal((await lab().ok(`stat -c %s /exports/notebooks/alice/big`)).trim(), String(mib * 1024 * 1024));
    });
  });
}

/**
 * diskKind filestore with a stand-in for the Filestore instance: no Filestore was created; the
 * lab's kernel nfsd exports its disk as the instance's share with the instance's export options
 * (filestoreExports), and the kernel's client mounts it as the kubelet mounts the rendered volume
 * (its path, `/notebooks`, and its tier's options). The client range is the lab's loopback, which
 * stands in for the nodes' subnet.
 */
for (const tier of ["ZONAL", "BASIC_HDD"] as const) {
  describe(`a Filestore share (${tier}, stood in for by the kernel's nfsd with Filestore's export options)`, () => {
    const lab = labFor("ext4", 64);
    let r: Rendering;
    let mount: string;
    let share: string;
    before(async () => {
      r = await rendered("dev", [
        "diskKind=filestore",
        "diskZone=europe-west1-b",
        "gcp:project=example-project",
        `filestoreTier=${tier}`,
        "diskSize=1Ti",
        'filestoreClientCidrs=["127.0.0.0/8"]',
      ]);
      const instance = resource(r, "gcp:filestore/instance:Instance", "notebook-filestore-instance").inputs;
      share = await lab().startFilestore(instance);
      mount = await lab().mountVolume(manifest(r, "PersistentVolume", "notebooks-pv-"));
    });

    const job = () => at(manifest(r, "Job", "share-folders-job-"), "spec", "template", "spec") as unknown as PodSpec;

    it("the export is the share with Filestore's options, mounted with the tier's NFS version", async () => {
      const exported = await lab().ok("exportfs -v");
      const line = exported.split("\n").findIndex((l) => l.trim() === share);
      assert.ok(line >= 0, `the share ${share} is exported: ${exported}`);
      // exportfs -v writes a long path alone on its line and the client and options on the next.
      assert.match(exported.split("\n")[line + 1], /^\s*127\.0\.0\.0\/8\(.*\brw\b.*\bno_root_squash\b/);
      const version = (await lab().ok(`grep ' ${mount} ' /proc/mounts`)).trim();
      assert.match(version, tier === "ZONAL" ? /\bvers=4\.1\b/ : /\bvers=3\b/);
    });

    it("the folder Job makes notebooks/ (0751) and shared/ (0750), owned 1000:100, and a second run changes nothing", async () => {
      assert.equal((await lab().ok(`stat -c '%u %g %a' ${share}`)).trim(), "0 0 755", "a new share's root");
      for (const run of [1, 2]) {
        const spec = job();
        const a = await lab().runContainer(spec, spec.containers[0], { notebooks: mount });
        assert.equal(a.status, 0, `run ${run}: ${a.stderr}`);
        // Seen on the server's own disk, not through the client's attribute cache.
        assert.equal((await lab().ok(`stat -c '%u %g %a' ${share}/notebooks`)).trim(), "1000 100 751");
        assert.equal((await lab().ok(`stat -c '%u %g %a' ${share}/shared`)).trim(), "1000 100 750");
      }
    });

    it("each user's init container then makes notebooks/<user>, and a notebook lands owned 1000:100", async () => {
      const { userPod, notebookDir } = userPodsOf(r);
      for (const user of ["alice", "bob"]) {
        const pod = userPod(user);
        for (const c of pod.initContainers ?? []) {
          const a = await lab().runContainer(pod, c, { notebooks: mount });
          assert.equal(a.status, 0, `${user}'s init container ${c.name}: ${a.stderr}`);
        }
        assert.equal((await lab().ok(`stat -c '%u %g %a' ${share}/notebooks/${user}`)).trim(), "1000 100 750");
      }
      const pod = userPod("alice");
      const save = { ...pod.containers[0], command: ["sh", "-c", `echo '{}' > ${notebookDir}/saved.ipynb`] };
      const a = await lab().runContainer(pod, save, { notebooks: mount });
      assert.equal(a.status, 0, a.stderr);
      assert.equal((await lab().ok(`stat -c '%u %g' ${share}/notebooks/alice/saved.ipynb`)).trim(), "1000 100");
    });

    if (tier === "ZONAL") {
      it("why the share does not squash root: with ROOT_SQUASH nothing in the cluster could make its folders", async () => {
        await lab().stopNfsServer();
        await lab().ok(`rm -rf ${share}/notebooks ${share}/shared`);
        const instance = resource(r, "gcp:filestore/instance:Instance", "notebook-filestore-instance").inputs;
        await lab().startFilestore(instance, { exportLine: squashing });
        await lab().ok("sync && echo 3 > /proc/sys/vm/drop_caches");
        const spec = job();
        const a = await lab().runContainer(spec, spec.containers[0], { notebooks: mount });
        assert.notEqual(a.status, 0, "root, squashed to nobody, made a folder in the share's root");
        assert.match(a.stderr, /Permission denied/);
      });
    }
  });
}
/** {folder: [used bytes, hard limit bytes]} from the kernel's report, by the folders' project IDs. */
async function quotaReport(lab: KernelLab): Promise<Record<string, [number, number]>> {
  const out = await lab.ok(
    'for d in /exports/notebooks/*/; do printf \'%s %s\\n\' "$(basename "$d")" "$(lsattr -pd "$d" | awk \'{print $1}\')"; done; echo; xfs_quota -x -c \'report -p -b -n -N\' /exports',
  );
  const [folders, quota] = out.split("\n\n");
  const byId = new Map(
    quota
      .trim()
      .split("\n")
      .map((l) => l.trim().split(/\s+/))
      .map((f) => [f[0].slice(1), [Number(f[1]) * 1024, Number(f[3]) * 1024] as [number, number]]),
  );
  return Object.fromEntries(
    folders
      .trim()
      .split("\n")
      .map((l) => l.split(" "))
      .filter(([, id]) => byId.has(id) && id !== "0")
      .map(([name, id]) => [name, byId.get(id) as [number, number]]),
  );
}

/**
 * Rewrites a mounted ConfigMap's files in the lab's folder `dir` (the guest's at the same path) from
 * its new rendering, as the kubelet does when the ConfigMap changes: a rename is atomic, as the
 * kubelet's swap is.
 */
function configMapChanged(dir: string, cm: JsonObject): void {
  for (const [key, value] of Object.entries((cm.data ?? {}) as Record<string, string>)) {
    fs.writeFileSync(path.join(dir, `.${key}`), value);
    fs.renameSync(path.join(dir, `.${key}`), path.join(dir, key));
  }
}

/** Waits (a few of the enforcer's passes at most) until the user's folder has this limit. */
async function waitForLimit(lab: KernelLab, user: string, bytes: number) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const now = (await quotaReport(lab))[user]?.[1];
    if (now === bytes) return;
    if (Date.now() > deadline) {
      assert.fail(`${user}'s limit is ${now}, not ${bytes}:\n${lab.containerLog("quota-enforcer")}`);
    }
    await new Promise((res) => setTimeout(res, 500));
  }
}

describe("per-user quotas: XFS project quotas kept by the NFS server pod's sidecars, through the NFS mount", () => {
  // mkfs.xfs makes nothing under 300 MiB.
  const lab = labFor("xfs", 320);
  const mib = 1024 * 1024;
  // Bob as a user might type him in the config: his folder is bob, as KubeSpawner names it.
  const overrides = (bob: string) => `userQuotaOverrides=[{"user":"Bob","quota":"${bob}"}]`;
  let r: Awaited<ReturnType<typeof rendered>>;
  let pods: Record<string, PodSpec>;
  let notebookDir: string;
  let mount: string;
  let quotasDir: string;

  before(async () => {
    r = await rendered("dev", ["diskKind=gce", "diskZone=europe-west1-b", "userQuotaDefault=4Mi", overrides("8Mi")]);
    const hubConfig = manifests(r, "ConfigMap").find((m) => "jupyterhub_config.py" in ((m.data ?? {}) as object));
    const configText = String((hubConfig?.data as Record<string, string>)["jupyterhub_config.py"]);
    // The pods the hub image's own KubeSpawner builds (its folder names, its subPaths).
    const users = ["alice", "bob", "carol"];
    const built = userPodsFromConfig(
      configText,
      users.map((user) => ({ user, admin: false })),
    );
    pods = Object.fromEntries(
      built.map((res, i) => {
        if (!("pod" in res)) throw new Error(`${users[i]}: ${res.error}`);
        return [users[i], (res.pod as { spec: PodSpec }).spec];
      }),
    );
    notebookDir = String(pods.alice.containers[0].volumeMounts?.find((m) => m.subPath)?.mountPath);
    const nfsDeployment = manifest(r, "Deployment", "nfs-server");
    await lab().startNfsServer(nfsDeployment, { diskVolume: manifest(r, "PersistentVolume", "notebook-disk-pv-") });
    const volumes = await lab().startNfsSidecars(nfsDeployment, r.manifests);
    quotasDir = volumes["user-quotas"];
    mount = await lab().mountVolume(manifest(r, "PersistentVolume", "notebooks-pv-"));
    for (const user of ["alice", "bob"]) await startServer(user);
  });

  /** A user's init containers (their folder made, as at each server start). */
  async function startServer(user: string) {
    for (const c of pods[user].initContainers ?? []) {
      const a = await lab().runContainer(pods[user], c, { notebooks: mount });
      assert.equal(a.status, 0, `${user}'s init container ${c.name}: ${a.stderr}`);
    }
  }

  /** A shell script run in the user's notebook container (its subPath mount, its identity). */
  function inNotebook(user: string, script: string) {
    const pod = pods[user];
    return lab().runContainer(
      pod,
      { ...pod.containers[0], command: ["sh", "-c", script], args: [] },
      { notebooks: mount },
    );
  }

  /** Writes `n` MiB into a new file of the user's folder from their notebook container. */
  const write = (user: string, file: string, n: number) =>
    inNotebook(user, `dd if=/dev/zero of=${notebookDir}/${file} bs=1M count=${n} conv=fsync status=none`);

  const report = () => quotaReport(lab());
  const limitBecomes = (user: string, bytes: number) => waitForLimit(lab(), user, bytes);

  /** Rewrites quotas.json in the mounted ConfigMap, as the kubelet does when the ConfigMap changes. */
  async function setBobQuota(quota: string) {
    const next = await rendered("dev", [
      "diskKind=gce",
      "diskZone=europe-west1-b",
      "userQuotaDefault=4Mi",
      overrides(quota),
    ]);
    const cm = manifest(next, "ConfigMap", "user-quotas");
    // The program does not change, so the pod is not rolled (its template is the same).
    assert.deepEqual(
      (manifest(next, "Deployment", "nfs-server").spec as JsonObject).template,
      (manifest(r, "Deployment", "nfs-server").spec as JsonObject).template,
    );
    configMapChanged(quotasDir, cm);
  }

  it("the disk is XFS mounted with prjquota, as the disk's PersistentVolume says, and every folder gets its project and limit", async () => {
    const mounted = await lab().ok("grep ' /exports ' /proc/mounts");
    assert.match(mounted, / xfs [^ ]*prjquota/);
    await limitBecomes("alice", 4 * mib);
    await limitBecomes("bob", 8 * mib);
  });

  // XFS reports a full project as a full disk (ENOSPC, not EDQUOT), and NFS passes it on.
  it("alice stops at her quota with a write error while bob keeps writing", async () => {
    const alice = await write("alice", "big.bin", 6);
    assert.notEqual(alice.status, 0, "alice wrote past her quota");
    assert.match(alice.stderr, /No space left on device/);
    const [used] = (await report()).alice;
    assert.ok(used <= 4 * mib && used > 3 * mib, `alice uses ${used} bytes`);
    const bob = await write("bob", "first.bin", 6);
    assert.equal(bob.status, 0, bob.stderr);
    // What she sees in her server: her quota as the size of her home folder's file system.
    const df = await inNotebook("alice", `stat -f -c '%b %S' ${notebookDir}`);
    const [blocks, size] = df.stdout.trim().split(" ").map(Number);
    assert.equal(blocks * size, 4 * mib, "df in her server shows her quota");
  });

  it("an override raised reaches the running enforcer without a restart: bob writes past his old quota", async () => {
    await setBobQuota("16Mi");
    await limitBecomes("bob", 16 * mib);
    const bob = await write("bob", "second.bin", 6);
    assert.equal(bob.status, 0, bob.stderr);
    assert.ok((await report()).bob[0] >= 12 * mib);
  });

  it("a quota lowered below what a folder holds deletes nothing, and refuses further writes", async () => {
    await setBobQuota("2Mi");
    await limitBecomes("bob", 2 * mib);
    const files = await lab().ok("stat -c '%n %s' /exports/notebooks/bob/first.bin /exports/notebooks/bob/second.bin");
    assert.deepEqual(files.trim().split("\n"), [
      `/exports/notebooks/bob/first.bin ${6 * mib}`,
      `/exports/notebooks/bob/second.bin ${6 * mib}`,
    ]);
    const more = await write("bob", "third.bin", 1);
    assert.notEqual(more.status, 0);
    assert.match(more.stderr, /No space left on device/);
    assert.ok((await report()).bob[0] >= 12 * mib, "bob's files are all there");
  });

  it("a folder made after the enforcer started gets the default quota", async () => {
    await startServer("carol");
    await limitBecomes("carol", 4 * mib);
    const carol = await write("carol", "big.bin", 6);
    assert.notEqual(carol.status, 0);
    assert.match(carol.stderr, /No space left on device/);
  });

  it("the usage exporter serves each folder's usage and quota and the file system's fill on :9102/metrics", async () => {
    const deployment = manifest(r, "Deployment", "nfs-server");
    const exporter = nfsServerPod(deployment).spec.containers.find((c) => c.name === "usage-exporter");
    const port = exporter?.ports?.find((p) => p.name === "metrics")?.containerPort;
    assert.equal(port, 9102);
    const text = await lab().ok(`curl -sf http://127.0.0.1:${port}/metrics`);
    const sample = (name: string, user?: string) => {
      const labels = user === undefined ? "" : `\\{user="${user}"\\}`;
      const m = new RegExp(`^${name}${labels} (\\d+)$`, "m").exec(text);
      assert.ok(m, `${name}${user ? ` for ${user}` : ""} in:\n${text}`);
      return Number(m[1]);
    };
    const kernel = await report();
    for (const user of ["alice", "bob", "carol"]) {
      assert.equal(sample("jupyterhub_nfs_user_used_bytes", user), kernel[user][0], `${user}'s usage`);
      assert.equal(sample("jupyterhub_nfs_user_quota_bytes", user), kernel[user][1], `${user}'s quota`);
    }
    // What was written: alice stopped at her 4 MiB, bob holds his two files of 6 MiB.
    assert.ok(sample("jupyterhub_nfs_user_used_bytes", "alice") > 3 * mib);
    assert.ok(sample("jupyterhub_nfs_user_used_bytes", "bob") >= 12 * mib);
    assert.equal(sample("jupyterhub_nfs_user_quota_bytes", "alice"), 4 * mib);
    assert.equal(sample("jupyterhub_nfs_user_quota_bytes", "bob"), 2 * mib);
    const [blocks, free, size] = (await lab().ok("stat -f -c '%b %f %S' /exports")).trim().split(" ").map(Number);
    assert.equal(sample("jupyterhub_nfs_filesystem_size_bytes"), blocks * size);
    assert.equal(sample("jupyterhub_nfs_filesystem_used_bytes"), (blocks - free) * size);
    assert.equal(sample("jupyterhub_nfs_quota_report_success"), 1);
  });

  it("the usage page: each folder's usage and quota from the kernel's report, served by the file browser's nginx", async () => {
    // A folder whose name is markup, as a user's name could make it: escaped on the page.
    const odd = `<i>x&y"z`;
    await lab().ok(`${asNotebookUser} mkdir ${q(`${mount}/notebooks/${odd}`)}`);
    await limitBecomes(odd, 4 * mib);
    const direct = async () =>
      JSON.parse(await lab().ok("curl -sf http://127.0.0.1:9102/usage/usage.json")) as {
        filesystem: { sizeBytes: number; usedBytes: number };
        quotaReport: { ok: boolean };
        folders: { folder: string; usedBytes: number; quotaBytes: number | null; percentOfQuota: number | null }[];
      };
    const page = await direct();
    const kernel = await report();
    assert.ok(page.quotaReport.ok);
    assert.deepEqual(
      page.folders.map((f) => f.folder).sort(),
      Object.keys(kernel).sort(),
      "every folder with a project, no more",
    );
    for (const f of page.folders) {
      const [used, limit] = kernel[f.folder];
      assert.deepEqual(
        [f.usedBytes, f.quotaBytes, f.percentOfQuota],
        [used, limit, Math.round((1000 * used) / limit) / 10],
        f.folder,
      );
    }
    const [blocks, free, size] = (await lab().ok("stat -f -c '%b %f %S' /exports")).trim().split(" ").map(Number);
    assert.deepEqual(page.filesystem, {
      sizeBytes: blocks * size,
      usedBytes: (blocks - free) * size,
      percentUsed: Math.round((1000 * (blocks - free)) / blocks) / 10,
    });

    // The file browser's pod as rendered: its nginx (Debian's, standing in for the image's) with
    // its ConfigMap's default.conf and the htpasswd of its Secret, uid 101 in group 100, the
    // notebooks claim read-only. The usage Service's ClusterIP is put on the loopback, where the
    // exporter listens: it stands in for the Service's forwarding to the pod.
    const fb = at(manifest(r, "Deployment", "file-browser"), "spec", "template", "spec") as unknown as PodSpec;
    const usageIp = String(at(manifest(r, "Service", "nfs-server-usage"), "spec", "clusterIP"));
    await lab().ok(`ip addr add ${usageIp}/32 dev lo`);
    const claim = (fb.volumes ?? []).find((v) => v.persistentVolumeClaim);
    assert.ok(claim);
    const nginx = nginxImage(images.fileBrowser.process, path.join(lab().dir, "nginx-image"));
    await lab().startContainer(
      fb,
      fb.containers[0],
      { ...lab().podVolumes(fb, r.manifests), [claim.name]: mount },
      nginx,
    );
    const rendered = fileBrowserOf(r);
    assert.ok(rendered);
    const { user, password } = credentialsOf(r, rendered);
    const get = (p: string) =>
      lab().run(`curl -s -u ${q(`${user}:${password}`)} -w '\\n%{http_code}' http://127.0.0.1:8080${p}`);
    await lab()
      .ok(
        "for i in $(seq 100); do curl -sf http://127.0.0.1:8080/healthz >/dev/null && exit 0; sleep 0.1; done; exit 1",
      )
      .catch((err: unknown) => assert.fail(`nginx did not start: ${String(err)}\n${lab().containerLog("nginx")}`));
    const html = (await get("/usage/")).stdout;
    assert.match(html, /\n200$/, `${html}\n${lab().containerLog("nginx")}`);
    assert.ok(html.includes("<td>&lt;i&gt;x&amp;y&quot;z</td>"), html);
    assert.ok(!html.includes(odd), "the folder's name is not markup on the page");
    const alice = page.folders.find((f) => f.folder === "alice");
    assert.ok(
      html.includes(
        `<tr><td>alice</td><td>${(Number(alice?.usedBytes) / mib).toFixed(1)} MiB</td><td>4.0 MiB</td><td>${Number(alice?.percentOfQuota).toFixed(1)} %</td></tr>`,
      ),
      html,
    );
    const viaNginx = (await get("/usage/usage.json")).stdout.replace(/\n200$/, "");
    assert.deepEqual(JSON.parse(viaNginx), await direct(), "the page through nginx is the exporter's");
    const anonymous = await lab().run("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/usage/");
    assert.equal(anonymous.stdout, "401");
  });
});

/**
 * docs/operations.md, "From an ext4 disk to XFS", run as written: an ext4 disk as the program made
 * it without quotas (its NFS server's and users' init containers, a notebook and files written by
 * alice's notebook container), then a new stack's XFS disk with quotas on and the documented copy
 * into it, then the quota lowered to what users are meant to have. pd.csi formatting a GCE disk as
 * XFS on GKE is not tried here: the lab's XFS disk is made by mkfs.xfs, the old one by mkfs.ext4.
 */
describe("from an ext4 disk to XFS, by docs/operations.md's procedure", () => {
  // The new disk: mkfs.xfs makes nothing under 300 MiB. The old one is made inside the guest.
  const lab = labFor("xfs", 320);
  const mib = 1024 * 1024;
  const docs = fs.readFileSync(path.join(__dirname, "..", "docs", "operations.md"), "utf8");
  /** The copy command, as the docs give it: the old disk at /old (read-only), the new at /new. */
  const copy = "rsync -aHAX --exclude=/lost+found /old/ /new/";
  const tree = (root: string) =>
    lab().ok(
      `cd ${root} && find notebooks shared -printf '%p %U:%G %m %y %n\\n' | sort && find notebooks shared -type f -exec sha256sum {} + | sort -k2`,
    );
  let oldTree: string;

  before(async () => {
    // The old stack (quotas off, so its disk is ext4), and its disk, made as pd.csi would: blank,
    // then formatted ext4 and mounted where the NFS server's pod mounts it (here /old).
    const old = await rendered("dev", ["diskKind=gce", "diskZone=europe-west1-b"]);
    await lab().ok(
      "truncate -s 64M /run/old.img && mkfs.ext4 -q /run/old.img && mkdir /old && mount -o loop /run/old.img /old",
    );
    const server = nfsServerPod(manifest(old, "Deployment", "nfs-server"));
    for (const c of server.spec.initContainers ?? []) {
      const a = await lab().runContainer(server.spec, c, { [server.volume]: "/old" });
      assert.equal(a.status, 0, `the NFS server's init container ${c.name}: ${a.stderr}`);
    }
    const { userPod, notebookDir } = userPodsOf(old);
    for (const [user, script] of [
      [
        "alice",
        // More than the quota she will have (4 MiB), a hard link, a symbolic link, a nested folder.
        `cd ${notebookDir} && echo '{"cells": []}' > analysis.ipynb && dd if=/dev/urandom of=data.bin bs=1M count=6 status=none && ln data.bin data-link.bin && ln -s analysis.ipynb latest.ipynb && mkdir -p results/week1 && echo done > results/week1/out.txt`,
      ],
      ["bob", `echo '{}' > ${notebookDir}/notes.ipynb`],
    ]) {
      const pod = userPod(user);
      for (const c of pod.initContainers ?? []) {
        const a = await lab().runContainer(pod, c, { notebooks: "/old" });
        assert.equal(a.status, 0, `${user}'s init container ${c.name}: ${a.stderr}`);
      }
      const a = await lab().runContainer(
        pod,
        { ...pod.containers[0], command: ["sh", "-c", script] },
        { notebooks: "/old" },
      );
      assert.equal(a.status, 0, `${user}'s notebook container: ${a.stderr}`);
    }
    assert.equal((await lab().ok("stat -c '%u %g %a' /old/notebooks/alice")).trim(), "1000 100 750");
    oldTree = await tree("/old");
  });

  it("the documented copy keeps owners, modes, links and contents, and the quota then bites", async () => {
    assert.ok(docs.includes(`\n${copy}\n`), `docs/operations.md gives the copy as: ${copy}`);
    // The new stack: the new disk's name, and during the copy a quota as large as the disk, so that
    // no folder is refused part of its files while the enforcer gives projects (docs).
    const during = ["diskKind=gce", "diskZone=europe-west1-b", "diskName=notebooks-dev-xfs", "userQuotaDefault=10Gi"];
    assert.ok(docs.includes("pulumi config set userQuotaDefault <diskSize>"), "the docs' quota during the copy");
    const r = await rendered("dev", during);
    const nfsDeployment = manifest(r, "Deployment", "nfs-server");
    await lab().startNfsServer(nfsDeployment, { diskVolume: manifest(r, "PersistentVolume", "notebook-disk-pv-") });
    const volumes = await lab().startNfsSidecars(nfsDeployment, r.manifests);
    const mount = await lab().mountVolume(manifest(r, "PersistentVolume", "notebooks-pv-"));
    // The one-off pod: the old disk read-only, the new disk's claim (the same file system the NFS
    // server exports) read-write.
    await lab().ok("mount -o remount,ro /old && mkdir /new && mount --bind /exports /new");
    const copied = await lab().run(copy);
    assert.equal(copied.status, 0, copied.stderr);
    assert.equal(await tree("/exports"), oldTree, "owners, modes, link counts and contents as on the old disk");
    assert.equal((await lab().ok("readlink /exports/notebooks/alice/latest.ipynb")).trim(), "analysis.ipynb");
    assert.equal(
      (
        await lab().ok(
          "stat -c %i /exports/notebooks/alice/data.bin /exports/notebooks/alice/data-link.bin | uniq | wc -l",
        )
      ).trim(),
      "1",
      "the hard link is one file",
    );
    assert.equal((await lab().run("test -e /exports/lost+found")).status, 1, "ext4's lost+found is not copied");
    await waitForLimit(lab(), "alice", 10 * 1024 * mib);
    await waitForLimit(lab(), "bob", 10 * 1024 * mib);

    // Then the quota users are meant to have (only the ConfigMap changes; the pod is not rolled).
    const after = await rendered("dev", [...during.slice(0, 3), "userQuotaDefault=4Mi"]);
    configMapChanged(volumes["user-quotas"], manifest(after, "ConfigMap", "user-quotas"));
    await waitForLimit(lab(), "alice", 4 * mib);
    await waitForLimit(lab(), "bob", 4 * mib);
    const report = await quotaReport(lab());
    assert.ok(report.alice[0] >= 6 * mib, "alice's copied files count in her project, over her quota");
    assert.equal(
      (await lab().ok("stat -c %s /exports/notebooks/alice/data.bin")).trim(),
      String(6 * mib),
      "nothing deleted",
    );
    // Through the NFS mount, from their notebook containers on the new disk.
    const { userPod, notebookDir } = userPodsOf(r);
    const write = async (user: string, n: number) => {
      const pod = userPod(user);
      for (const c of pod.initContainers ?? []) await lab().runContainer(pod, c, { notebooks: mount });
      return lab().runContainer(
        pod,
        {
          ...pod.containers[0],
          command: [
            "sh",
            "-c",
            `dd if=/dev/zero of=${notebookDir}/more-${n}.bin bs=1M count=${n} conv=fsync status=none`,
          ],
        },
        { notebooks: mount },
      );
    };
    const alice = await write("alice", 1);
    assert.notEqual(alice.status, 0, "alice, over her quota, wrote more");
    assert.match(alice.stderr, /No space left on device/);
    const bob = await write("bob", 2);
    assert.equal(bob.status, 0, bob.stderr);
    const bobPastQuota = await write("bob", 5);
    assert.match(bobPastQuota.stderr, /No space left on device/);
  });

  it("why the quota is as large as the disk during the copy: with the real one, a long copy loses files", async () => {
    // The same copy again, onto folders the enforcer gives 4 MiB as they appear. A class's disk
    // takes hours to copy, far longer than the enforcer's 5 seconds; --bwlimit stands in for that.
    await lab().ok("rm -rf /exports/notebooks/alice /exports/notebooks/bob");
    const slow = await lab().run(copy.replace("rsync -aHAX", "rsync -aHAX --bwlimit=512"));
    assert.notEqual(slow.status, 0, "the copy succeeded");
    assert.match(slow.stderr, /No space left on device/);
    const size = await lab().run("stat -c %s /exports/notebooks/alice/data.bin");
    assert.ok(size.status !== 0 || Number(size.stdout) < 6 * mib, "alice's 6 MiB file is not all there");
  });
});
