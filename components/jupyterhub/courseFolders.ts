import { py } from "./pythonLiteral";

/**
 * The folders a course shares on the notebooks export, besides each user's own (2i2c's layout):
 * `shared/` read-only in every user's server and read-write in admins' (material handed out by
 * staff), and, for admins, the whole per-user tree read-write (collecting and returning work).
 *
 * Every user pod runs as the same uid (the notebook image's 1000), so file permissions on the
 * export cannot tell users apart: what a server may read or write is decided by what is mounted
 * into it, and how. KubeSpawner gives every user the same mounts from static config; the
 * admin-only ones are added by a `modify_pod_hook`, which KubeSpawner 7.0 calls on the finished
 * pod, after every profile and spawn option has been applied, and which reads the hub's own record
 * of the user (`spawner.user.admin`), something no spawn request can set.
 */

/** The export's folder of course material (next to the per-user tree), made by the NFS server. */
export const sharedDir = "shared";
/** Where the shared folder and (for admins) every user's folder appear, inside the home folder. */
export const sharedMountName = "shared";
export const allUsersMountName = "allusers";

/** The per-user mount layout the folders are added to (userServers.ts). */
export interface HomeLayout {
  /** The pod volume of the notebooks claim. */
  volumeName: string;
  claimName: string;
  /** The export's folder holding one folder per user. */
  notebooksDir: string;
  /** Fixed path of the user's own folder (notebook_dir). */
  mountPath: string;
  /** The init container that makes the user's folder; it also makes the mount points. */
  initContainerName: string;
}

export interface CourseFolderSettings {
  /** Mount `shared/` in every user's server (read-only; read-write for admins). */
  sharedFolder: boolean;
  /** Mount the whole per-user tree read-write in admins' servers. */
  adminAllUsersFolder: boolean;
}

/** The static mounts every user's server gets, in KubeSpawner's `volume_mounts` form. */
export function everyUserMounts(home: HomeLayout, f: CourseFolderSettings): Record<string, unknown>[] {
  return [
    { name: home.volumeName, mountPath: home.mountPath, subPath: `${home.notebooksDir}/{username}` },
    ...(f.sharedFolder
      ? [
          {
            name: home.volumeName,
            mountPath: `${home.mountPath}/${sharedMountName}`,
            subPath: sharedDir,
            readOnly: true,
          },
        ]
      : []),
  ];
}

/**
 * The mount points inside the user's folder that every user's server needs. The runtime makes a
 * missing mount point as root, and root on an export that squashes it may not write into a folder
 * of the notebook user: so the init container, as the notebook user, makes them first. The runtime
 * must still look each one up in the user's folder, as nobody on such an export: given mount
 * points, the init container makes the folder 0751 (search, no listing, for others), not 0750, or
 * no user's pod would start there (the kernel lab showed it). What others gain is opening a file
 * whose name they know and whose mode lets others read it; the only "others" on the export are a
 * node's squashed root and pods that mount the whole claim, which can claim uid 1000 as well
 * (NFS with AUTH_SYS trusts the client's uid), so the folder's mode never fenced them.
 */
export function everyUserMountPoints(f: CourseFolderSettings): string[] {
  return f.sharedFolder ? [sharedMountName] : [];
}

/**
 * The `modify_pod_hook` (Python lines of jupyterhub_config.py): admins' servers get `shared/`
 * read-write and the per-user tree at `allusers`; then every pod, admin's or not, is checked to
 * mount the notebooks claim nowhere but at these places, so that no profile or later config can
 * hand a user's server someone else's folder, or a writable `shared/`, unnoticed.
 */
export function courseFolderHookLines(home: HomeLayout, f: CourseFolderSettings): string[] {
  const sharedPath = `${home.mountPath}/${sharedMountName}`;
  const allUsersPath = `${home.mountPath}/${allUsersMountName}`;
  const adminOnly = [
    ...(f.sharedFolder
      ? [
          "        for mount in notebook.volume_mounts:",
          `            if mount.name == ${py(home.volumeName)} and mount.sub_path == ${py(sharedDir)}:`,
          "                mount.read_only = False",
        ]
      : []),
    ...(f.adminAllUsersFolder
      ? [
          "        notebook.volume_mounts.append(",
          `            V1VolumeMount(name=${py(home.volumeName)}, mount_path=${py(allUsersPath)}, sub_path=${py(home.notebooksDir)})`,
          "        )",
          "        # Its mount point, made as the notebook user, who then makes the folder 0751 (see the",
          "        # init container).",
          `        init = next(c for c in pod.spec.init_containers if c.name == ${py(home.initContainerName)})`,
          `        init.command.append(${py(allUsersMountName)})`,
        ]
      : []),
  ];
  return [
    "# Per-user mounts (components/jupyterhub/courseFolders.ts). Every user pod runs as uid 1000, so",
    "# what a server may read or write on the export is what is mounted into it. KubeSpawner calls this",
    "# on the finished pod, after profiles and spawn options, and it reads the hub's own record of the",
    "# user (admin), which no spawn request sets.",
    "from kubernetes_asyncio.client.models import V1VolumeMount",
    "",
    "",
    "def _k8s_field(obj, snake, camel):",
    "    # KubeSpawner turns our dicts into client models at the top level only: nested ones stay",
    "    # dicts with the API's camelCase keys.",
    "    if isinstance(obj, dict):",
    "        return obj.get(camel)",
    "    return getattr(obj, snake, None)",
    "",
    "",
    "def course_folders(spawner, pod):",
    `    claim = ${py(home.claimName)}`,
    ...(f.sharedFolder || f.adminAllUsersFolder ? ["    admin = bool(spawner.user.admin)"] : []),
    ...(adminOnly.length > 0 ? ["    if admin:", "        notebook = pod.spec.containers[0]", ...adminOnly] : []),
    "    # What may be mounted of the notebooks claim, and how: (mountPath, subPath, readOnly).",
    "    # KubeSpawner expands {username} in the subPath as in the init container (its safe slug).",
    `    own = spawner._expand_user_properties(${py(`${home.notebooksDir}/{username}`)})`,
    `    allowed = {(${py(home.mountPath)}, own, False)}`,
    ...(f.sharedFolder ? [`    allowed.add((${py(sharedPath)}, ${py(sharedDir)}, not admin))`] : []),
    ...(f.adminAllUsersFolder
      ? ["    if admin:", `        allowed.add((${py(allUsersPath)}, ${py(home.notebooksDir)}, False))`]
      : []),
    "    volumes = {",
    '        _k8s_field(v, "name", "name")',
    "        for v in pod.spec.volumes or []",
    "        if _k8s_field(",
    '            _k8s_field(v, "persistent_volume_claim", "persistentVolumeClaim") or {}, "claim_name", "claimName"',
    "        )",
    "        == claim",
    "    }",
    "    # The init container (ours, a fixed command) mounts the per-user tree to make the user's",
    "    # folder; user code runs in the containers, which are checked.",
    "    for container in pod.spec.containers:",
    "        for mount in container.volume_mounts or []:",
    '            if _k8s_field(mount, "name", "name") not in volumes:',
    "                continue",
    "            found = (",
    '                _k8s_field(mount, "mount_path", "mountPath"),',
    '                _k8s_field(mount, "sub_path", "subPath") or "",',
    '                bool(_k8s_field(mount, "read_only", "readOnly")),',
    "            )",
    "            if found not in allowed:",
    "                raise RuntimeError(",
    '                    f"refusing to start {spawner._log_name}: container {container.name} would mount "',
    "                    f\"{found[1] or 'the whole claim'} of {claim} at {found[0]} \"",
    "                    f\"{'read-only' if found[2] else 'read-write'}, which is not one of its folders\"",
    "                )",
    "    return pod",
    "",
    "",
    "c.KubeSpawner.modify_pod_hook = course_folders",
  ];
}
