import * as fs from "node:fs";
import * as path from "node:path";

/** A bind mount into a container's private mount namespace. */
export interface BindMount {
  /** Folder or file on this machine. */
  source: string;
  /** Path the container sees. */
  target: string;
  readOnly: boolean;
}

/** What one container process is, after the kubelet stand-in has read the pod spec. */
export interface ContainerProcess {
  argv: string[];
  env: Record<string, string>;
  workingDir?: string;
  uid: number;
  gid: number;
  /** Supplementary groups (fsGroup, supplementalGroups). */
  groups: number[];
  /** Capabilities the process may hold (upper case, as in a pod spec), or "all" when privileged. */
  capabilities: string[] | "all";
  /** allowPrivilegeEscalation: false -> the no_new_privs bit. */
  noNewPrivs: boolean;
  /** readOnlyRootFilesystem: only the volumes are writable. */
  readOnlyRoot: boolean;
  mounts: BindMount[];
  /** Where the container's copy-on-write root (overlay layers) is kept. */
  scratchDir: string;
  /**
   * Folders of this machine that stand in for the image's programs (a venv and the Python it
   * was made from, Node.js...), made visible read-only at the same path. Those under /root
   * (which only root may enter) are bind-mounted into an empty /root, so a container sees
   * nothing else of root's home.
   */
  programFolders: string[];
  /**
   * PID of a process whose network and PID namespaces the container joins (the pod sandbox).
   * Without one the process gets a PID namespace of its own on the host's network, ended with
   * the test process (setpriv --pdeathsig).
   */
  sandboxPid?: number;
}

/** The capabilities a container runtime (containerd, CRI-O) gives a container by default. */
export const defaultCapabilities = [
  "CHOWN",
  "DAC_OVERRIDE",
  "FSETID",
  "FOWNER",
  "MKNOD",
  "NET_RAW",
  "SETGID",
  "SETUID",
  "SETFCAP",
  "SETPCAP",
  "NET_BIND_SERVICE",
  "SYS_CHROOT",
  "KILL",
  "AUDIT_WRITE",
];

/** Quotes one word for sh. */
export const q = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;

/**
 * Where `target` lies in the container's root, its symbolic links resolved as the container
 * would see them (/var/run -> /run). The root is this machine's, so its links are resolved here;
 * joined to the root folder unresolved, an absolute link would lead out of it, onto this machine.
 */
function inRoot(target: string): string {
  let existing = target;
  const rest: string[] = [];
  while (!fs.existsSync(existing)) {
    rest.unshift(path.basename(existing));
    existing = path.dirname(existing);
  }
  return path.join(fs.realpathSync(existing), ...rest);
}

/** Character devices a container's /dev offers (as a runtime's default /dev does). */
const devices = ["null", "zero", "full", "random", "urandom", "tty"];

/**
 * The command line that starts a container process: join the pod's namespaces (nsenter), a
 * private mount namespace (unshare -m) in which the container's root is this machine's root
 * seen through a copy-on-write overlay (so a mount point or file the container makes never
 * touches this machine's folders), with a minimal /dev, its own /proc, and the volume mounts
 * bind-mounted in (read-only ones remounted read-only); then, chrooted there, the identity,
 * capabilities and no_new_privs of the spec (setpriv), the spec's environment only (env -i)
 * and the command.
 */
export function containerArgv(p: ContainerProcess): string[] {
  const root = rootOf(p);
  // Fixed paths of the root's own making (/dev, /proc, /sys) as they are; mount targets resolved.
  const at = (p: string): string => q(path.join(root, p));
  const r = (target: string): string => at(inRoot(target));
  const lower = `lowerdir=/,upperdir=${path.join(p.scratchDir, "upper")},workdir=${path.join(p.scratchDir, "work")}`;
  // Everything below is done by the script, not here: the kernel lab (e2e/kernelLab) runs
  // the same command line inside its own kernel, whose folders this process cannot see.
  const script: string[] = [
    "set -e",
    `mkdir -p ${["rootfs", "upper", "work"].map((d) => q(path.join(p.scratchDir, d))).join(" ")}`,
    `mount -t overlay overlay -o ${q(lower)} ${q(root)}`,
    `mount -t tmpfs -o mode=0755,nosuid tmpfs ${at("/dev")}`,
    ...devices.map((d) => `: > ${at(`/dev/${d}`)} && mount --bind /dev/${d} ${at(`/dev/${d}`)}`),
    // A privileged container also gets the node's block devices, as containerd gives it every
    // device of the host (xfs_quota in the NFS server pod's quota sidecars needs the disk's).
    ...(p.capabilities === "all"
      ? [
          `for d in /dev/*; do if [ -b "$d" ]; then : > ${at("/dev")}/"\${d#/dev/}" && mount --bind "$d" ${at("/dev")}/"\${d#/dev/}"; fi; done`,
        ]
      : []),
    `mkdir ${at("/dev/shm")} && mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs ${at("/dev/shm")}`,
    // Pseudo-terminals of its own (a terminal in JupyterLab opens one), as runc's default spec mounts them.
    `mkdir ${at("/dev/pts")} && mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5,nosuid,noexec devpts ${at("/dev/pts")}`,
    `ln -s pts/ptmx ${at("/dev/ptmx")}`,
    `ln -s /proc/self/fd ${at("/dev/fd")}`,
    ...["stdin", "stdout", "stderr"].map((n, i) => `ln -s /proc/self/fd/${i} ${at(`/dev/${n}`)}`),
    `mount -t proc proc ${at("/proc")}`,
    `mount --rbind /sys ${at("/sys")} && mount -o remount,bind,ro ${at("/sys")}`,
  ];
  const underRoot = p.programFolders.filter((f) => f.startsWith("/root/"));
  if (underRoot.length > 0) {
    // Only root may enter /root: the program folders under it go into an empty /root.
    script.push(`mount -t tmpfs -o mode=0755 tmpfs ${r("/root")}`);
    for (const f of underRoot) {
      script.push(`mkdir -p ${r(f)}`, `mount --bind ${q(f)} ${r(f)}`, `mount -o remount,bind,ro ${r(f)}`);
    }
  }
  for (const m of p.mounts) {
    script.push(
      `if [ -f ${q(m.source)} ]; then mkdir -p ${r(path.dirname(m.target))} && { [ -e ${r(m.target)} ] || : > ${r(m.target)}; }; else mkdir -p ${r(m.target)}; fi`,
      `mount --bind ${q(m.source)} ${r(m.target)}`,
    );
    if (m.readOnly) script.push(`mount -o remount,bind,ro ${r(m.target)}`);
  }
  // A runtime makes a missing working folder (runc: as root, 0755) before it starts the process.
  script.push(`mkdir -p ${r(p.workingDir ?? "/")}`);
  if (p.readOnlyRoot) script.push(`mount -o remount,ro ${q(root)}`);
  // Set up: what a runtime's "container started" means (exec, see execArgv, may enter it now).
  script.push(`: > ${q(startedMarker(p))}`);
  script.push(`exec ${enterRoot(p).map(q).join(" ")} "$@"`);

  const enter =
    p.sandboxPid === undefined
      ? ["setpriv", "--pdeathsig=KILL", "--", "unshare", "--pid", "--fork", "--kill-child"]
      : ["nsenter", `--target=${p.sandboxPid}`, "--net", "--pid", "--", "unshare"];
  return [
    ...enter,
    "--mount",
    "--propagation",
    "private",
    "--",
    "sh",
    "-c",
    script.join("\n"),
    "sh",
    ...identityArgv(p),
    ...p.argv,
  ];
}

/** The folder of the container's root, as mounted in its mount namespace (containerArgv). */
const rootOf = (p: ContainerProcess): string => path.join(p.scratchDir, "rootfs");

/** The file containerArgv makes once the container is set up, just before its process starts. */
export function startedMarker(p: ContainerProcess): string {
  return path.join(p.scratchDir, "started");
}

/** Into the container's root and working folder, then the rest of the command line. */
function enterRoot(p: ContainerProcess): string[] {
  return ["chroot", rootOf(p), "sh", "-c", 'cd "$0" && exec "$@"', p.workingDir ?? "/"];
}

/** The container's identity, capabilities and no_new_privs (setpriv), and its environment only (env -i). */
function identityArgv(p: ContainerProcess): string[] {
  const caps = (list: string[]): string => ["-all", ...list.map((c) => `+${c.toLowerCase()}`)].join(",");
  return [
    "setpriv",
    // Ends with its parent (nsenter or unshare): applied after the change of identity, which clears it.
    "--pdeathsig=KILL",
    `--reuid=${p.uid}`,
    `--regid=${p.gid}`,
    ...(p.groups.length > 0 ? [`--groups=${p.groups.join(",")}`] : ["--clear-groups"]),
    ...(p.capabilities === "all"
      ? []
      : [`--inh-caps=${caps([])}`, `--ambient-caps=${caps([])}`, `--bounding-set=${caps(p.capabilities)}`]),
    ...(p.noNewPrivs ? ["--no-new-privs"] : []),
    "--",
    "env",
    "-i",
    ...Object.entries(p.env).map(([k, v]) => `${k}=${v}`),
  ];
}

/**
 * The command line that runs `command` in a running container, as a runtime's exec does (the
 * kubelet's exec lifecycle hooks and probes: CRI ExecSync): in the container's mount, network and
 * PID namespaces (those of `containerPid`, a process of it), its root and working folder, with its
 * identity, capabilities, no_new_privs and environment.
 */
export function execArgv(p: ContainerProcess, containerPid: number, command: string[]): string[] {
  return [
    "nsenter",
    `--target=${containerPid}`,
    "--mount",
    "--net",
    "--pid",
    "--",
    ...enterRoot(p),
    ...identityArgv(p),
    ...command,
  ];
}

/**
 * The process that `outer` forked into new namespaces (nsenter --pid and unshare --fork fork once):
 * from then on the container's own, or the sandbox's. Undefined until it exists.
 */
export function innerPid(outer: number | undefined): number | undefined {
  try {
    const children = fs.readFileSync(`/proc/${outer}/task/${outer}/children`, "utf8").trim().split(/\s+/);
    const pid = Number(children[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
