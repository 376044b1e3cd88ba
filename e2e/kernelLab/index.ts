/**
 * The kernel lab: a real Linux kernel (Debian's user-mode-linux, 6.1) booted as an ordinary
 * process, in which our NFS server runs as its pod runs it (the kernel's nfsd, the export lines
 * the image's run_nfs.sh writes for the arguments our Deployment passes) and the kubelet's NFS
 * mount is the kernel's NFSv4.1 client with the PersistentVolume's options. Containers run in it
 * as their pod specs say (e2e/journey/podSpec.ts: uid, gid, groups, capabilities, mounts), so the
 * server's permission checks, root squash and state recovery are the kernel's, not a model.
 *
 * What stands in: Debian's nfs-kernel-server/nfs-common for the image's CentOS userland; loopback
 * (127.0.0.1) for the pod network and the Service's ClusterIP; a loop device over a sparse file
 * for the disk (a loop device can grow while mounted, as a persistent disk does); no container
 * runtime (setpriv, namespaces and chroot, as in the journey). The guest's root is this machine's
 * `/` seen read-only through hostfs under a copy-on-write layer (guest.sh), so it runs the programs
 * installed here and writes nothing to this machine but its own folder.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { q } from "../journey/containerProcess";
import {
  type Container,
  type ImageStandIn,
  type PodSpec,
  containerCommandLine,
  prepareSubPathScript,
} from "../journey/podSpec";
import type { JsonObject } from "../../render/mocks";
import { images } from "../../versions/images";
import { orphansMarked, startWatchdog, stopWatchdog } from "../lib/watchdog";

const kernel = "/usr/bin/linux.uml";
const guestInit = path.join(__dirname, "guest.sh");
const nfsServerScript = path.join(__dirname, "nfsServer.sh");
const repoRoot = path.resolve(__dirname, "..", "..");
/** Where the Filestore stand-in keeps its NFSv4 pseudo-root on the lab's node (startFilestore). */
const filestoreRoot = "/srv/filestore";

export type FileSystem = "ext4" | "xfs";

export interface Answer {
  status: number;
  stdout: string;
  stderr: string;
}

export interface KernelLabOptions {
  fileSystem: FileSystem;
  /** The disk's size (sparse: only what is written takes room). XFS needs 300 MiB at least. */
  diskMiB: number;
  /** More memory than the NFS checks need (the network policy lab runs kube-router in it). */
  memoryMiB?: number;
  /**
   * Boot inside this network namespace of this machine (one the caller made), with these kernel
   * arguments too: the network policy lab gives the kernel a TAP device there (`eth0=tuntap,...`).
   */
  network?: { namespace: string; kernelArgs: string[] };
}

/** The lab kernel's memory: nfsd, the client and a few shells fit in a fraction of it. */
const defaultMemoryMiB = 256;

/**
 * The kernel argument that marks a lab kernel with the pid of the test process that booted it
 * (the guest ignores it): a kernel whose test is gone is a leftover, ended at the next boot.
 */
const ownerMark = "jhnfs_owner";

/** A container's programs come from this machine; every container here sets its own identity. */
const thisMachine: ImageStandIn = { path: [], programFolders: [], entrypoint: [], cmd: [], uid: 0, gid: 0, env: {} };

/**
 * What the image's run_nfs.sh (ENTRYPOINT of registry.k8s.io/e2e-test-images/volume/nfs; source:
 * k8s.io/kubernetes test/images/volume/nfs/run_nfs.sh at v1.36.1) makes of its arguments: an
 * optional `-G gid` (each folder then made mode 070 and group gid), then the folders, each
 * exported with the same options.
 */
export function runNfsExports(args: string[]): { gid?: string; folders: string[]; exports: string[] } {
  let gid: string | undefined;
  let rest = args;
  if (rest[0] === "-G") {
    gid = rest[1];
    rest = rest.slice(2);
  } else if (rest[0]?.startsWith("-G")) {
    gid = rest[0].slice(2);
    rest = rest.slice(1);
  }
  // fsid=0: the folder is the NFSv4 pseudo-root.
  return { gid, folders: rest, exports: rest.map((f) => `${f} *(rw,fsid=0,insecure,no_root_squash)`) };
}

/** The NFS server's pod spec, its container and where it mounts its disk's claim. */
export function nfsServerPod(deployment: JsonObject): {
  spec: PodSpec & { hostname?: string };
  container: Container & { args?: string[] };
  volume: string;
  mountPath: string;
} {
  const spec = ((deployment.spec as JsonObject).template as JsonObject).spec as unknown as PodSpec & {
    hostname?: string;
  };
  const claimVolume = (spec.volumes ?? []).find((v) => v.persistentVolumeClaim);
  if (!claimVolume) throw new Error("the NFS server pod mounts no claim");
  const container = spec.containers[0] as Container & { args?: string[] };
  const mount = (container.volumeMounts ?? []).find((m) => m.name === claimVolume.name);
  if (!mount) throw new Error(`the NFS server container does not mount ${claimVolume.name}`);
  return { spec, container, volume: claimVolume.name, mountPath: mount.mountPath };
}

/**
 * The export lines a Filestore instance's share stands for, from the instance as rendered (its
 * @pulumi/gcp inputs): the share at `/<name>`, one line per `nfsExportOptions` item (its
 * `ipRanges`, READ_WRITE or READ_ONLY, NO_ROOT_SQUASH or ROOT_SQUASH with `anonUid`/`anonGid`,
 * Filestore's default 65534), or with no options Filestore's default: every client, read-write,
 * root not squashed. Filestore's own server is not Linux's nfsd; these are the same rules in
 * exports(5) form (sync: Filestore acknowledges a write once it is stored).
 */
export function filestoreExports(instance: JsonObject): { path: string; exports: string[] } {
  const share = instance.fileShares as JsonObject;
  const path = `/${String(share.name)}`;
  const options = (share.nfsExportOptions as JsonObject[] | undefined) ?? [{}];
  const exports = options.flatMap((o) => {
    const flags = [
      o.accessMode === "READ_ONLY" ? "ro" : "rw",
      "sync",
      "no_subtree_check",
      ...(o.squashMode === "ROOT_SQUASH"
        ? ["root_squash", `anonuid=${Number(o.anonUid ?? 65534)}`, `anongid=${Number(o.anonGid ?? 65534)}`]
        : ["no_root_squash"]),
    ].join(",");
    const clients = (o.ipRanges as string[] | undefined) ?? ["*"];
    return clients.map((client) => `${path} ${client}(${flags})`);
  });
  return { path, exports };
}

/**
 * The lab's disk mounted at `mountPath` on the node (once), and /etc/nfs.conf as the server reads
 * it: Debian's, with its `manage-gids=y` kept only when asked (see startNfsServer).
 */
function serverDiskScript(mountPath: string, manageGids: boolean, mountArgs = ""): string {
  return [
    `mountpoint -q ${q(mountPath)} || { mkdir -p ${q(mountPath)} && mount ${mountArgs} /dev/loop0 ${q(mountPath)}; }`,
    "[ -e /run/nfs.conf.debian ] || cp /etc/nfs.conf /run/nfs.conf.debian",
    manageGids
      ? "cp /run/nfs.conf.debian /etc/nfs.conf"
      : "sed '/^manage-gids *=/d' /run/nfs.conf.debian >/etc/nfs.conf",
  ].join("\n");
}

export class KernelLab {
  private requests = 0;
  private exited: Promise<number | null>;
  private watchdog?: number;

  private constructor(
    /** This machine's folder shared with the guest at the same path (hostfs). */
    readonly dir: string,
    private readonly uml: ChildProcess,
    readonly fileSystem: FileSystem,
  ) {
    this.exited = new Promise((resolve) => uml.once("exit", (code) => resolve(code)));
  }

  /** The disk image, on this machine. */
  get diskImage(): string {
    return path.join(this.dir, "disk.img");
  }

  /**
   * Boots the kernel with a fresh disk (made here with mkfs, as a new persistent disk is
   * formatted on first mount), attached as /dev/loop0 in the guest.
   */
  static async boot(o: KernelLabOptions): Promise<KernelLab> {
    if (!fs.existsSync(kernel)) throw new Error(`${kernel} is missing: run bash scripts/setup.sh`);
    KernelLab.endLeftovers();
    // Not under a 0700 folder of root's: the guest's containers run as other users.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kernel-lab-"));
    fs.chmodSync(dir, 0o755);
    const disk = path.join(dir, "disk.img");
    fs.writeFileSync(disk, "");
    fs.truncateSync(disk, o.diskMiB * 1024 * 1024);
    const mkfs = spawnSync(`mkfs.${o.fileSystem}`, ["-q", ...(o.fileSystem === "ext4" ? ["-F"] : []), disk], {
      encoding: "utf8",
    });
    if (mkfs.status !== 0) throw new Error(`mkfs.${o.fileSystem}: ${mkfs.stderr}`);
    const log = fs.openSync(path.join(dir, "console.log"), "w");
    const umlArgs = [
      `mem=${o.memoryMiB ?? defaultMemoryMiB}M`,
      "root=/dev/root",
      "rootfstype=hostfs",
      "rootflags=/",
      "ro",
      `init=${guestInit}`,
      `lab=${dir}`,
      // The repository, whose scripts the requests run: the guest's own /tmp hides a clone there.
      `repo=${repoRoot}`,
      // mconsole's socket and the kernel's pid file go here, not into ~/.uml.
      `uml_dir=${dir}`,
      "umid=lab",
      `${ownerMark}=${process.pid}`,
      "con=null",
      "con0=null,fd:1",
      ...(o.network?.kernelArgs ?? []),
    ];
    // `ip netns exec` execs the kernel: the process started is still the kernel's first one.
    const [command, args]: [string, string[]] = o.network
      ? ["ip", ["netns", "exec", o.network.namespace, kernel, ...umlArgs]]
      : [kernel, umlArgs];
    const uml = spawn(
      command,
      args,
      // Its own process group: the kernel runs as several host processes, ended together.
      { detached: true, stdio: ["ignore", log, log], env: { ...process.env, TMPDIR: dir } },
    );
    fs.closeSync(log);
    const lab = new KernelLab(dir, uml, o.fileSystem);
    // If this test process is SIGKILLed (a CI timeout), the kernel's processes and its folder go too.
    lab.watchdog = startWatchdog(`kill -9 -${uml.pid} 2>/dev/null\nrm -rf ${q(dir)}`);
    try {
      await lab.waitFor(() => fs.existsSync(path.join(dir, "ready")), "the guest to boot");
      const attach = await lab.run(`losetup /dev/loop0 ${q(disk)}`);
      if (attach.status !== 0) throw new Error(`losetup: ${attach.stderr}`);
    } catch (e) {
      await lab.shutdown();
      throw e;
    }
    return lab;
  }

  /**
   * Ends the kernels of test processes that are gone (marked with their pid, see ownerMark): what a
   * test killed together with its watchdog left. Only processes carrying the mark are touched.
   */
  static endLeftovers(): void {
    for (const { pid, owner } of orphansMarked(ownerMark)) {
      console.log(`# ending a lab kernel's process ${pid} left by test process ${owner}`);
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  }

  /** The console's last lines, for a failure's message. */
  consoleTail(lines = 30): string {
    const text = fs.readFileSync(path.join(this.dir, "console.log"), "utf8");
    return text.split("\n").slice(-lines).join("\n");
  }

  private async waitFor(done: () => boolean, what: string, seconds = 120): Promise<void> {
    // A bound against a hung guest, not a measure of anything: far above any normal run.
    const deadline = Date.now() + seconds * 1000;
    let exitCode: number | null | undefined;
    void this.exited.then((c) => (exitCode = c));
    while (!done()) {
      if (exitCode !== undefined)
        throw new Error(`the lab kernel exited (${exitCode}) waiting for ${what}:\n${this.consoleTail()}`);
      if (Date.now() > deadline)
        throw new Error(`no answer in ${seconds} s waiting for ${what}:\n${this.consoleTail()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Runs a shell script as root on the lab's node; resolves with its exit status and output. */
  async run(script: string): Promise<Answer> {
    const n = String(++this.requests).padStart(5, "0");
    const request = path.join(this.dir, "requests", `${n}.sh`);
    fs.writeFileSync(`${request}.tmp`, `set -u\n. ${q(nfsServerScript)}\n${script}\n`);
    fs.renameSync(`${request}.tmp`, request);
    const answer = (ext: string) => path.join(this.dir, "answers", `${n}.${ext}`);
    await this.waitFor(() => fs.existsSync(answer("status")), `request ${n}:\n${script}`);
    const read = (ext: string) => fs.readFileSync(answer(ext), "utf8");
    return { status: Number(read("status").trim()), stdout: read("out"), stderr: read("err") };
  }

  /** run(), failing with the script's stderr unless it exits 0; resolves with its stdout. */
  async ok(script: string): Promise<string> {
    const a = await this.run(script);
    if (a.status !== 0) throw new Error(`lab script failed (${a.status}):\n${script}\n${a.stderr}`);
    return a.stdout;
  }

  /**
   * The command line that runs one container of a pod spec in the lab: its identity (uid, gid,
   * fsGroup and supplementalGroups), capabilities, no_new_privs and volume mounts (subPath,
   * readOnly), as the journey's kubelet stand-in reads them; `volumes` maps each volume the
   * container mounts to a folder on the lab's node. A missing subPath is first made by root with
   * the volume root's mode, as the kubelet does (through the node's NFS mount: on an export that
   * squashes root, the server decides). Programs come from this machine; `image` says which and
   * how they start (the image's stand-in: its command, user, files), by default none.
   */
  containerScript(
    spec: PodSpec,
    container: Container,
    volumes: Record<string, string>,
    image: ImageStandIn = thisMachine,
  ): { script: string; uid: number; gid: number } {
    const scratch = `/run/containers/${++this.requests}`;
    const { argv, process: proc } = containerCommandLine({
      spec,
      container,
      image,
      volumes: new Map(Object.entries(volumes).map(([name, dir]) => [name, { dir, nfs: false }])),
      env: {},
      // The lab's NFS server squashes root itself, when its export says so.
      rootSquash: false,
      scratchDir: scratch,
      subPathsMadeByCaller: true,
    });
    const subPaths = (container.volumeMounts ?? [])
      .filter((m) => m.subPath)
      .map((m) => {
        const root = volumes[m.name];
        const dir = path.join(root, String(m.subPath));
        return `sh -c ${q(prepareSubPathScript)} sh ${q(dir)} "$(stat -c %a ${q(root)})"`;
      });
    // Mount points inside another mount (shared/ in the home folder), made as the runtime makes
    // them: as root, 0755, through the node's mount (where the export may squash root).
    const mountPoints = proc.mountPoints.map((m) =>
      m.parentReadOnly
        ? `{ echo ${q(`mount point ${m.target}: its parent is mounted read-only`)} >&2; false; }`
        : `{ [ -e ${q(m.point)} ] || mkdir -m 0755 ${q(m.point)} || { echo ${q(`mount point ${m.target} (made by the runtime, as root) failed`)} >&2; false; }; }`,
    );
    return {
      script: [...subPaths, ...mountPoints, argv.map(q).join(" ")].join(" && \\\n"),
      uid: proc.uid,
      gid: proc.gid,
    };
  }

  /** Runs one container of a pod spec (see containerScript). */
  runContainer(spec: PodSpec, container: Container, volumes: Record<string, string>): Promise<Answer> {
    return this.run(this.containerScript(spec, container, volumes).script);
  }

  /**
   * Starts one container of a pod spec in the background, in its own session (see containerScript);
   * its output goes to a log (containerLog). Resolves once it is started, not ready.
   */
  async startContainer(
    spec: PodSpec,
    container: Container,
    volumes: Record<string, string>,
    image: ImageStandIn = thisMachine,
  ): Promise<void> {
    const { script, uid, gid } = this.containerScript(spec, container, volumes, image);
    const log = path.join(this.dir, `${container.name}.log`);
    // The container's own: a program that reopens /dev/stderr (nginx) may, as in a runtime.
    fs.writeFileSync(log, "");
    fs.chownSync(log, uid, gid);
    await this.ok(
      `setsid sh -c ${q(script)} >>${q(log)} 2>&1 </dev/null & echo $! >/run/container-${container.name}.pid`,
    );
  }

  /**
   * The pod's ConfigMap, Secret and emptyDir volumes as folders of the lab, written as the kubelet
   * writes them (a key per file; a Secret's stringData or base64 data), from the rendered
   * `manifests`; by volume name.
   */
  podVolumes(spec: PodSpec, manifests: JsonObject[]): Record<string, string> {
    const folders: Record<string, string> = {};
    const named = (kind: string, name: string | undefined) => {
      const found = manifests.find((m) => m.kind === kind && (m.metadata as JsonObject).name === name);
      if (!found) throw new Error(`no ${kind} ${name} rendered`);
      return found;
    };
    for (const v of spec.volumes ?? []) {
      let files: Record<string, string> | undefined;
      if (v.configMap) files = (named("ConfigMap", v.configMap.name).data ?? {}) as Record<string, string>;
      else if (v.secret) {
        const secret = named("Secret", v.secret.secretName);
        files = {
          ...Object.fromEntries(
            Object.entries((secret.data ?? {}) as Record<string, string>).map(([k, b64]) => [
              k,
              Buffer.from(b64, "base64").toString(),
            ]),
          ),
          ...((secret.stringData ?? {}) as Record<string, string>),
        };
      } else if (!v.emptyDir) continue;
      const dir = path.join(this.dir, "volumes", v.name);
      // An emptyDir is writable by every uid, as the kubelet makes it.
      fs.mkdirSync(dir, { recursive: true, mode: 0o777 });
      fs.chmodSync(dir, 0o777);
      for (const [key, value] of Object.entries(files ?? {})) {
        fs.writeFileSync(path.join(dir, key), value, { mode: 0o644 });
      }
      folders[v.name] = dir;
    }
    return folders;
  }

  /**
   * Starts our NFS server pod on the lab's node, from its rendered Deployment: the disk mounted
   * where the pod mounts its claim, the pod's init containers, then the image's ENTRYPOINT
   * (run_nfs.sh, stood in for by nfsServer.sh) with the container's arguments, in a UTS namespace
   * of its own whose host name is the pod's (spec.hostname, or `hostname` to show another).
   * `exportLine` may change the export lines run_nfs.sh writes (to show a server that squashes
   * root); `manageGids` keeps Debian's `manage-gids=y` in /etc/nfs.conf, which the image's
   * /etc/nfs.conf does not set (nfs-utils' default: off).
   */
  async startNfsServer(
    deployment: JsonObject,
    o: {
      exportLine?: (line: string) => string;
      manageGids?: boolean;
      hostname?: string;
      /** The disk's PersistentVolume: the disk is mounted with its mountOptions, as its fsType. */
      diskVolume?: JsonObject;
    } = {},
  ): Promise<void> {
    const pod = nfsServerPod(deployment);
    const { container, spec } = pod;
    if (container.command !== undefined) throw new Error("the lab runs the image's ENTRYPOINT only (run_nfs.sh)");
    if (images.nfs.process.entrypoint.join(" ") !== "/usr/local/bin/run_nfs.sh") {
      throw new Error(`the lab stands in for run_nfs.sh, not ${images.nfs.process.entrypoint.join(" ")}`);
    }
    const run = runNfsExports(container.args ?? images.nfs.process.cmd);
    const exportsFile = path.join(this.dir, "exports");
    fs.writeFileSync(exportsFile, run.exports.map(o.exportLine ?? ((l) => l)).join("\n") + "\n");
    const hostname = o.hostname ?? spec.hostname;
    if (!hostname) throw new Error("the NFS server pod has no spec.hostname");
    await this.ok(serverDiskScript(pod.mountPath, o.manageGids ?? false, this.diskMountArgs(o.diskVolume)));
    for (const c of spec.initContainers ?? []) {
      const a = await this.runContainer(spec, c, { [pod.volume]: pod.mountPath });
      if (a.status !== 0) throw new Error(`NFS server init container ${c.name}: ${a.stderr}`);
    }
    await this.ok(
      `unshare --uts sh -c ${q(`hostname ${q(hostname)} && . ${q(nfsServerScript)} && nfs_start ${q(exportsFile)} ${q(run.gid ?? "")} -- ${run.folders.map(q).join(" ")}`)}`,
    );
  }

  /**
   * Starts a stand-in for a Filestore instance (rendered @pulumi/gcp inputs): the lab's disk as
   * its share, exported by the kernel's nfsd with the lines filestoreExports makes (`exportLine`
   * may change them, to show another export option), NFSv3 and NFSv4.x both served as Filestore
   * serves them. Filestore's server shows its share at `/<name>` of an NFSv4 pseudo-root; the
   * lab's nfsd builds a pseudo-root from the node's `/`, which it cannot export (the lab's root is
   * an overlay), so the stand-in's pseudo-root is a tmpfs of its own, `filestoreRoot` (exported
   * read-only with fsid=0), with the disk mounted at `<filestoreRoot>/<name>`: an NFSv4 client
   * mounts `/<name>` as it would Filestore's. An NFSv3 client names the server's own path (see
   * mountVolume). The lab's fresh file system stands in for a new share: its root owned by root,
   * mode 0755. Resolves with the share's path on the lab's node.
   */
  async startFilestore(instance: JsonObject, o: { exportLine?: (line: string) => string } = {}): Promise<string> {
    const { exports } = filestoreExports(instance);
    const share = `${filestoreRoot}${filestoreExports(instance).path}`;
    const exportsFile = path.join(this.dir, "exports");
    const lines = [
      `${filestoreRoot} *(ro,fsid=0,sync,no_subtree_check)`,
      ...exports.map((l) => filestoreRoot + (o.exportLine ?? ((x: string) => x))(l)),
    ];
    fs.writeFileSync(exportsFile, lines.join("\n") + "\n");
    await this.ok(
      [
        `mountpoint -q ${filestoreRoot} || { mkdir -p ${filestoreRoot} && mount -t tmpfs -o mode=0755 tmpfs ${filestoreRoot}; }`,
        serverDiskScript(share, false),
        // The node's NFSv3 client (the guest loads only the NFSv4 one at boot).
        "modprobe -d /run/modules nfsv3",
        // The same daemons as the NFS server pod's (nfsServer.sh), with no folder to prepare.
        `nfs_start ${q(exportsFile)} '' --`,
      ].join("\n"),
    );
    return share;
  }

  /**
   * `mount` arguments for the disk as the CSI driver mounts a volume: its file system type and the
   * volume's mountOptions (CSI mount flags). None without a volume (the disk as mkfs left it).
   */
  private diskMountArgs(volume: JsonObject | undefined): string {
    if (!volume) return "";
    const spec = volume.spec as { csi?: { fsType?: string }; mountOptions?: string[] };
    const fsType = spec.csi?.fsType;
    if (fsType !== this.fileSystem)
      throw new Error(`the disk's volume says ${fsType}; the lab's disk is ${this.fileSystem}`);
    const options = (spec.mountOptions ?? []).join(",");
    return `-t ${q(fsType)}${options ? ` -o ${q(options)}` : ""}`;
  }

  /**
   * Starts the NFS server pod's other containers (its sidecars) in the background, each as its pod
   * spec says, with the pod's claim and its ConfigMap volumes (`configMaps`: the rendered
   * ConfigMaps, written into folders of the lab as the kubelet writes a ConfigMap volume). Resolves
   * with the folder of each ConfigMap volume, so a test can change it as the kubelet would.
   */
  async startNfsSidecars(deployment: JsonObject, manifests: JsonObject[]): Promise<Record<string, string>> {
    const pod = nfsServerPod(deployment);
    const volumes: Record<string, string> = { [pod.volume]: pod.mountPath, ...this.podVolumes(pod.spec, manifests) };
    for (const c of pod.spec.containers.slice(1)) await this.startContainer(pod.spec, c, volumes);
    return volumes;
  }

  /** A container's output so far (started by startContainer or startNfsSidecars). */
  containerLog(name: string): string {
    const log = path.join(this.dir, `${name}.log`);
    return fs.existsSync(log) ? fs.readFileSync(log, "utf8") : "";
  }

  /**
   * Stops the NFS server pod: run_nfs.sh's stop() (its SIGTERM handler), then the container's
   * other processes end with it (rpcbind, rpc.statd). The disk stays mounted on the node.
   */
  async stopNfsServer(): Promise<void> {
    await this.ok("nfs_stop\nkill $(pidof rpcbind) $(pidof rpc.statd) 2>/dev/null; true");
  }

  /**
   * Mounts a rendered NFS PersistentVolume on the lab's node as the kubelet does (mount -t nfs
   * with the volume's mountOptions and path), the server's address being 127.0.0.1: the loopback
   * stands in for the Service's ClusterIP. Resolves with the mount point.
   */
  async mountVolume(pv: JsonObject): Promise<string> {
    const spec = pv.spec as { nfs: { path: string }; mountOptions?: string[] };
    const name = String((pv.metadata as JsonObject).name);
    const dir = `/var/lib/kubelet/pods/lab/volumes/kubernetes.io~nfs/${name}`;
    const options = (spec.mountOptions ?? []).join(",");
    // NFSv3 has no pseudo-root: its client names the server's own path, which for the Filestore
    // stand-in lies under its pseudo-root's folder (startFilestore); Filestore's is `/<share>`.
    const v3 = (spec.mountOptions ?? []).includes("nfsvers=3");
    const served = v3 ? `${filestoreRoot}${spec.nfs.path}` : spec.nfs.path;
    await this.ok(
      `mkdir -p ${q(dir)} && mount -t nfs ${options ? `-o ${q(options)}` : ""} ${q(`127.0.0.1:${served}`)} ${q(dir)}`,
    );
    return dir;
  }

  /**
   * Grows the disk while it is mounted and exported, as a persistent disk is resized: the image
   * file made larger (from inside the guest: hostfs would not tell the guest's loop device of a
   * size changed behind its back), the block device told of its new capacity, then the file
   * system grown online as the kubelet's resizer does (resize2fs on the device for ext4,
   * xfs_growfs on the mount point for XFS).
   */
  async growDisk(diskMiB: number, mountPath: string): Promise<void> {
    await this.ok(
      [
        `truncate -s ${diskMiB}M ${q(this.diskImage)}`,
        "losetup -c /dev/loop0",
        this.fileSystem === "ext4" ? "resize2fs /dev/loop0" : `xfs_growfs ${q(mountPath)}`,
      ].join(" && "),
    );
  }

  /** Halts the guest (or ends its processes) and removes the lab's folder. */
  async shutdown(): Promise<void> {
    fs.writeFileSync(path.join(this.dir, "halt"), "");
    let timer: NodeJS.Timeout | undefined;
    const stopped = await Promise.race([
      this.exited.then(() => true),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 20_000))),
    ]);
    clearTimeout(timer);
    if (!stopped && this.uml.pid !== undefined) {
      // The whole process group of the kernel we started (its host threads are processes).
      process.kill(-this.uml.pid, "SIGKILL");
      await this.exited;
    }
    stopWatchdog(this.watchdog);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
