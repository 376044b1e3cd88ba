import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { type BindMount, type ContainerProcess, containerArgv, defaultCapabilities } from "./containerProcess";
import type { KubeApi } from "./kubeApi";

/**
 * What stands in for an image's file system: where its programs are found on this machine, and
 * the image's ENTRYPOINT/CMD and default user (versions/images.ts), used where the spec sets none.
 */
export interface ImageStandIn {
  /** Folders put first on PATH (a venv's bin folder, /usr/sbin for nginx...). */
  path: string[];
  entrypoint: string[];
  cmd: string[];
  uid: number;
  gid: number;
  /** Image environment (HOME...). */
  env: Record<string, string>;
  /** WORKDIR: where the container starts when the spec sets no workingDir ("/" when unset). */
  workingDir?: string;
  /** Files the image ships that a container reads (e.g. nginx.conf): path in the image -> file here. */
  files?: Record<string, string>;
  /** Folders its programs need (see ContainerProcess.programFolders). */
  programFolders: string[];
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string };
    configMapKeyRef?: { name: string; key: string };
    fieldRef?: { fieldPath: string };
  };
}

export interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  workingDir?: string;
  env?: EnvVar[];
  lifecycle?: { postStart?: { exec?: { command: string[] } } };
  ports?: { name?: string; containerPort: number }[];
  volumeMounts?: { name: string; mountPath: string; subPath?: string; readOnly?: boolean }[];
  securityContext?: {
    runAsUser?: number;
    runAsGroup?: number;
    privileged?: boolean;
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    capabilities?: { add?: string[]; drop?: string[] };
  };
  resources?: { limits?: Record<string, string>; requests?: Record<string, string> };
  readinessProbe?: { httpGet?: { path: string; port: number | string }; tcpSocket?: { port: number | string } };
}

export interface Volume {
  name: string;
  persistentVolumeClaim?: { claimName: string; readOnly?: boolean };
  emptyDir?: object;
  configMap?: { name: string; defaultMode?: number };
  secret?: { secretName: string; defaultMode?: number; items?: { key: string; path: string }[] };
}

export interface PodSpec {
  nodeName?: string;
  terminationGracePeriodSeconds?: number;
  initContainers?: Container[];
  containers: Container[];
  volumes?: Volume[];
  securityContext?: {
    runAsUser?: number;
    runAsGroup?: number;
    fsGroup?: number;
    supplementalGroups?: number[];
  };
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
}

/** A pod volume on this machine. `nfs`: it is the NFS export stand-in (root squash applies). */
export interface LocalVolume {
  dir: string;
  nfs: boolean;
}

/**
 * The kubelet's fsGroup ownership management, for volumes that support it (a disk, an
 * emptyDir; not NFS): group-owned by fsGroup, group read/write, setgid folders.
 */
function applyFsGroup(dir: string, gid: number): void {
  const walk = (p: string): void => {
    const st = fs.lstatSync(p);
    if (st.isSymbolicLink()) return;
    fs.chownSync(p, st.uid, gid);
    const mode = st.mode & 0o7777;
    fs.chmodSync(p, st.isDirectory() ? mode | 0o2070 : mode | 0o060);
    if (st.isDirectory()) for (const e of fs.readdirSync(p)) walk(path.join(p, e));
  };
  walk(dir);
}

/**
 * Every volume of a pod, as a folder on this machine: a claim's PersistentVolume (hostPath: its
 * folder, standing in for a disk; nfs: the export stand-in), an emptyDir or the files of a
 * ConfigMap or Secret, written into the pod's folder.
 */
export async function localVolumes(
  api: KubeApi,
  namespace: string,
  spec: PodSpec,
  podDir: string,
  nfsExport: (server: string, exportPath: string) => string,
): Promise<Map<string, LocalVolume>> {
  const out = new Map<string, LocalVolume>();
  const fsGroup = spec.securityContext?.fsGroup;
  for (const v of spec.volumes ?? []) {
    const own = path.join(podDir, "volumes", v.name);
    if (v.persistentVolumeClaim) {
      const claim = await api.request(
        "GET",
        `/api/v1/namespaces/${namespace}/persistentvolumeclaims/${v.persistentVolumeClaim.claimName}`,
      );
      const pvName = claim.spec?.volumeName as string | undefined;
      if (!pvName || claim.status?.phase !== "Bound") throw new Error(`claim ${claim.metadata.name} is not bound`);
      const pv = await api.request("GET", `/api/v1/persistentvolumes/${pvName}`);
      const nfs = pv.spec?.nfs as { server: string; path: string } | undefined;
      const hostPath = pv.spec?.hostPath as { path: string } | undefined;
      if (nfs) out.set(v.name, { dir: nfsExport(nfs.server, nfs.path), nfs: true });
      else if (hostPath) {
        fs.mkdirSync(hostPath.path, { recursive: true });
        if (fsGroup !== undefined) applyFsGroup(hostPath.path, fsGroup);
        out.set(v.name, { dir: hostPath.path, nfs: false });
      } else throw new Error(`volume ${pvName}: only nfs and hostPath volumes are stood in`);
    } else if (v.emptyDir) {
      fs.mkdirSync(own, { recursive: true });
      fs.chmodSync(own, 0o777);
      out.set(v.name, { dir: own, nfs: false });
    } else if (v.configMap || v.secret) {
      const obj = v.configMap
        ? await api.request("GET", `/api/v1/namespaces/${namespace}/configmaps/${v.configMap.name}`)
        : await api.request("GET", `/api/v1/namespaces/${namespace}/secrets/${v.secret?.secretName}`);
      fs.mkdirSync(own, { recursive: true, mode: 0o755 });
      const mode = (v.configMap ?? v.secret)?.defaultMode ?? 0o644;
      const items = v.secret?.items ?? Object.keys(obj.data ?? {}).map((key) => ({ key, path: key }));
      for (const { key, path: file } of items) {
        const text = obj.data?.[key];
        if (text === undefined) throw new Error(`volume ${v.name}: no key ${key}`);
        const target = path.join(own, file);
        fs.writeFileSync(target, v.secret ? Buffer.from(text, "base64") : text);
        fs.chmodSync(target, mode);
        if (fsGroup !== undefined) fs.chownSync(target, 0, fsGroup);
      }
      out.set(v.name, { dir: own, nfs: false });
    } else {
      throw new Error(`volume ${v.name}: this type is not stood in (${Object.keys(v).join(", ")})`);
    }
  }
  return out;
}

/** Kubernetes' rule: command replaces ENTRYPOINT, args replace CMD; args alone go to ENTRYPOINT. */
export function commandOf(c: Container, image: ImageStandIn): string[] {
  if (c.command) return [...c.command, ...(c.args ?? [])];
  return [...image.entrypoint, ...(c.args ?? image.cmd)];
}

/** Resolves an env var that is not a plain value (Secrets and ConfigMaps are read from the API server). */
export async function resolveEnv(
  api: KubeApi,
  namespace: string,
  env: EnvVar[],
  fields: Record<string, string>,
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of env) {
    const from = e.valueFrom;
    if (e.value !== undefined || !from) out[e.name] = e.value ?? "";
    else if (from.fieldRef) {
      const v = fields[from.fieldRef.fieldPath];
      if (v === undefined) throw new Error(`env ${e.name}: field ${from.fieldRef.fieldPath} is not stood in`);
      out[e.name] = v;
    } else if (from.secretKeyRef) {
      const s = await api.request("GET", `/api/v1/namespaces/${namespace}/secrets/${from.secretKeyRef.name}`);
      const value = s.data?.[from.secretKeyRef.key];
      // The kubelet does not start the container then (CreateContainerConfigError).
      if (value === undefined) {
        throw new Error(
          `env ${e.name}: couldn't find key ${from.secretKeyRef.key} in Secret ${namespace}/${from.secretKeyRef.name}`,
        );
      }
      out[e.name] = Buffer.from(value, "base64").toString("utf8");
    } else if (from.configMapKeyRef) {
      const cm = await api.request("GET", `/api/v1/namespaces/${namespace}/configmaps/${from.configMapKeyRef.name}`);
      out[e.name] = cm.data?.[from.configMapKeyRef.key] ?? "";
    } else throw new Error(`env ${e.name}: ${Object.keys(from).join(",")} is not stood in`);
  }
  return out;
}

/** The kubelet's step for a subPath (`sh -c` with the folder and the mode as $1 and $2). */
export const prepareSubPathScript = '[ -e "$1" ] || { mkdir -p "$1" && chmod "$2" "$1"; }';

/**
 * A subPath as the kubelet prepares it: reached, and made when missing, by root, with the mode of
 * the volume's root. On an export that squashes root the kubelet's root is nobody there, so it is
 * reached and made as nobody, and fails where nobody may not search or write (the kubelet then
 * cannot start the container; the kernel lab showed it with a real NFS server).
 */
function prepareSubPath(volume: string, subPath: string, mode: number, squashed: boolean): void {
  const dir = path.join(volume, subPath);
  if (!squashed) {
    if (fs.existsSync(dir)) return;
    fs.mkdirSync(dir, { recursive: true });
    fs.chmodSync(dir, mode);
    return;
  }
  const r = spawnSync(
    "setpriv",
    [
      "--reuid=65534",
      "--regid=65534",
      "--clear-groups",
      "--",
      "sh",
      "-c",
      prepareSubPathScript,
      "sh",
      subPath,
      mode.toString(8),
    ],
    // Squashed only on the export: the node's path to its mount is root's. The folder is entered
    // as root and the subPath reached from there, relative to it.
    { encoding: "utf8", cwd: volume },
  );
  if (r.status !== 0) throw new Error(`subPath ${dir} (as nobody, root squashed): ${r.stderr.trim()}`);
}

/** The last of the earlier mounts that `m` is mounted inside, if any. */
function parentMount<T extends BindMount>(m: BindMount, earlier: T[]): T | undefined {
  return earlier.filter((e) => m.target.startsWith(e.target.endsWith("/") ? e.target : `${e.target}/`)).at(-1);
}

/**
 * A mount point inside an earlier mount (a folder mounted into the home folder), looked up and,
 * when missing, made as the runtime does: as root, mode 0755, in that mount's folder. On an export
 * that squashes root, root is nobody there: it fails where nobody may not search (an existing
 * mount point in a 0750 folder, as the kernel lab showed) or write; in a read-only mount it cannot
 * be made at all. Elsewhere (the container's root) the overlay takes it.
 */
function makeMountPoint(m: BindMount, earlier: (BindMount & { nfs: boolean })[], rootSquash: boolean): void {
  const parent = parentMount(m, earlier);
  if (!parent || fs.statSync(parent.source).isFile()) return;
  const point = path.join(parent.source, path.relative(parent.target, m.target));
  const squashed = parent.nfs && rootSquash;
  if (!squashed && fs.existsSync(point)) return;
  if (parent.readOnly && !fs.existsSync(point)) {
    throw new Error(`mount point ${m.target}: ${parent.target} is mounted read-only`);
  }
  try {
    prepareSubPath(parent.source, path.relative(parent.source, point), 0o755, squashed);
  } catch (err: unknown) {
    throw new Error(`mount point ${m.target} (made by the runtime, as root): ${(err as Error).message}`);
  }
}

/** A mount point inside another mount, for the caller to make (ContainerContext.subPathsMadeByCaller). */
export interface MountPoint {
  target: string;
  /** Where it is on the node: in the parent mount's source folder. */
  point: string;
  parentReadOnly: boolean;
}

export interface ContainerContext {
  spec: PodSpec;
  container: Container;
  image: ImageStandIn;
  volumes: Map<string, LocalVolume>;
  /** The spec's env, resolved (resolveEnv), plus what the runtime adds. */
  env: Record<string, string>;
  /** Model root_squash on the NFS export (see KubeletStandInOptions.rootSquash). */
  rootSquash: boolean;
  scratchDir: string;
  sandboxPid?: number;
  /** Extra bind mounts (what the kubelet itself projects, such as a service-account token). */
  extraMounts?: BindMount[];
  /**
   * SubPaths are reached and made by the caller, not here: the kernel lab makes them inside its own
   * kernel (where the volumes are), as root through the real NFS client, as the kubelet does.
   */
  subPathsMadeByCaller?: boolean;
}

/**
 * The process a container runs as: identity from the container's security context, else the
 * pod's, else the image's user; supplementary groups fsGroup and supplementalGroups;
 * capabilities: all when privileged, else the runtime's defaults minus drop plus add; the
 * volume mounts with subPath and readOnly (a missing subPath made by root with the volume's
 * mode, as the kubelet does; on a squashing export, owned by nobody), a folder before the mounts
 * inside it, and their mount points made as the runtime makes them (makeMountPoint).
 */
export function containerProcess(x: ContainerContext): ContainerProcess & { mountPoints: MountPoint[] } {
  const { spec, container: c, image } = x;
  const psc = spec.securityContext ?? {};
  const csc = c.securityContext ?? {};
  let uid = csc.runAsUser ?? psc.runAsUser ?? image.uid;
  // Without runAsGroup a runtime takes the user's group from the image's /etc/passwd (0 if unknown).
  let gid = csc.runAsGroup ?? psc.runAsGroup ?? (uid === image.uid ? image.gid : 0);
  let groups = [...new Set([...(psc.fsGroup !== undefined ? [psc.fsGroup] : []), ...(psc.supplementalGroups ?? [])])];
  let capabilities: string[] | "all" = "all";
  if (!csc.privileged) {
    const drop = csc.capabilities?.drop ?? [];
    const base = drop.includes("ALL") ? [] : defaultCapabilities.filter((cap) => !drop.includes(cap));
    capabilities = [...new Set([...base, ...(csc.capabilities?.add ?? [])])];
  }
  const mounts: (BindMount & { nfs: boolean })[] = [];
  for (const m of c.volumeMounts ?? []) {
    const v = x.volumes.get(m.name);
    if (!v) throw new Error(`container ${c.name} mounts unknown volume ${m.name}`);
    let source = v.dir;
    if (m.subPath) {
      source = path.join(v.dir, m.subPath);
      if (!source.startsWith(path.resolve(v.dir) + path.sep)) throw new Error(`subPath ${m.subPath} leaves its volume`);
      if (!x.subPathsMadeByCaller)
        prepareSubPath(v.dir, m.subPath, fs.statSync(v.dir).mode & 0o7777, v.nfs && x.rootSquash);
    }
    const volume = (spec.volumes ?? []).find((vol) => vol.name === m.name);
    // The kubelet mounts ConfigMap and Secret volumes read-only whatever the mount says.
    const readOnly =
      Boolean(m.readOnly) || Boolean(volume?.configMap || volume?.secret || volume?.persistentVolumeClaim?.readOnly);
    mounts.push({ source, target: path.posix.normalize(m.mountPath), readOnly, nfs: v.nfs });
  }
  // containerd mounts a parent folder before the mounts inside it (its mounts sorted by depth).
  mounts.sort((a, b) => a.target.split("/").length - b.target.split("/").length);
  // Where the volumes are out of this machine's reach (the kernel lab), the caller makes the mount
  // points, as it makes the subPaths.
  const mountPoints: MountPoint[] = [];
  mounts.forEach((m, i) => {
    if (!x.subPathsMadeByCaller) return makeMountPoint(m, mounts.slice(0, i), x.rootSquash);
    const parent = parentMount(m, mounts.slice(0, i));
    if (parent) {
      const point = path.join(parent.source, path.relative(parent.target, m.target));
      mountPoints.push({ target: m.target, point, parentReadOnly: parent.readOnly });
    }
  });
  const onNfs = mounts.some((m) => m.nfs);
  const binds: BindMount[] = mounts.map(({ source, target, readOnly }) => ({ source, target, readOnly }));
  for (const [target, file] of Object.entries(image.files ?? {})) binds.push({ source: file, target, readOnly: true });
  binds.push(...(x.extraMounts ?? []));
  if (uid === 0 && onNfs && x.rootSquash) {
    uid = 65534;
    gid = 65534;
    groups = groups.filter((g) => g !== 0);
    capabilities = [];
  }
  const env: Record<string, string> = {
    PATH: [...image.path, "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"].join(":"),
    ...image.env,
    ...x.env,
  };
  const p: ContainerProcess & { mountPoints: MountPoint[] } = {
    argv: commandOf(c, image),
    env,
    // A runtime starts the process in the spec's workingDir, else the image's WORKDIR.
    workingDir: c.workingDir ?? image.workingDir,
    uid,
    gid,
    groups,
    capabilities,
    noNewPrivs: csc.allowPrivilegeEscalation === false,
    readOnlyRoot: csc.readOnlyRootFilesystem === true,
    mounts: binds,
    scratchDir: x.scratchDir,
    programFolders: image.programFolders,
    sandboxPid: x.sandboxPid,
    mountPoints,
  };
  return p;
}

/** The command line of containerProcess(x) (see containerArgv). */
export function containerCommandLine(x: ContainerContext): {
  process: ContainerProcess & { mountPoints: MountPoint[] };
  argv: string[];
} {
  const process = containerProcess(x);
  return { process, argv: containerArgv(process) };
}
