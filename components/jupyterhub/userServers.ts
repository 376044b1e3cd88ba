import {
  courseFolderHookLines,
  everyUserMountPoints,
  everyUserMounts,
  type CourseFolderSettings,
  type HomeLayout,
} from "./courseFolders";
import { profileConfigLines, type UserProfile } from "./profiles";
import { py } from "./pythonLiteral";
import { userServerExtraLines, type UserServerExtras } from "./userServerExtras";

/**
 * Everything KubeSpawner is told about a user's pod: where it runs, the image, resources, storage,
 * placement and security. The hub's own settings (authentication, proxy, culler) are in hubConfig.ts.
 */

/**
 * KubeSpawner 7 puts its `component_label` on every user pod as both `component` and
 * `app.kubernetes.io/component`; the NetworkPolicies select user pods by these labels, so the
 * config sets the label rather than trusting the default.
 */
export const userPodComponent = "singleuser-server";
export const userPodSelector: Record<string, string> = {
  component: userPodComponent,
  "app.kubernetes.io/component": userPodComponent,
};
/** The port the single-user server listens on (KubeSpawner's default, set explicitly for the same reason). */
export const userPodPort = 8888;

/**
 * The notebook image's home folder (Jupyter Docker Stacks: jovyan's), where each user's folder is
 * mounted and the server starts.
 */
export const notebookHome = "/home/jovyan";

/** The pod's volume for the shared notebooks claim (of which each user's pod mounts one folder). */
const notebooksVolume = "notebooks";

/**
 * The volumes every user pod has, by name: the user's folder of the shared claim, and the ones GKE's
 * Cloud Storage FUSE webhook adds (`gke-gcsfuse-tmp`, `-buffer`, `-cache`). Extra volumes take
 * other names.
 */
export const ownUserPodVolumes: { names: readonly string[]; prefixes: readonly string[] } = {
  names: [notebooksVolume],
  prefixes: ["gke-gcsfuse-"],
};

/** A user's pod as KubeSpawner makes it. */
export interface UserServerSettings extends UserServerExtras {
  image: string;
  uid: number;
  gid: number;
  /** CPU limit in cores. */
  cpuLimit: number;
  /** CPU request in cores: what the scheduler reserves for each user. */
  cpuGuarantee: number;
  /** Memory limit in bytes. */
  memoryLimitBytes: number;
  /** Memory request in bytes. */
  memoryGuaranteeBytes: number;
  /** Shared ReadWriteMany claim with everyone's notebooks. */
  notebooksClaim: string;
  /** Directory of the claim under which each user gets a folder. */
  notebooksDir: string;
  /** Fixed path where the user's folder is mounted; notebook_dir points here. */
  mountPath: string;
  /** The shared folder, and the admins' view of every user's folder (courseFolders.ts). */
  folders: CourseFolderSettings;
  /** Where a user's server opens (`/lab`, `/tree`...), relative to the server's URL. */
  defaultUrl: string;
  /** How long a spawn may take until the pod runs (scheduling, a new node, the image pull). */
  startTimeoutSeconds: number;
  /** How long the hub then waits for the server to answer over HTTP. */
  httpTimeoutSeconds: number;
  /**
   * The NFS server's pod: user pods prefer other nodes. An NFS client on the server's own node
   * can deadlock under memory pressure (reclaim waits on writeback to a server that needs memory
   * to answer), and a loss of that node would take both down at once.
   */
  avoidNodeOf?: { namespace: string; podLabels: Record<string, string> };
  /**
   * What users choose among on the spawn form (profiles.ts); each replaces some of the settings
   * above. None: every server is started with the settings above, and no form is shown.
   */
  profiles: UserProfile[];
  /** The user pods' PriorityClass (components/capacity), when the stack makes one. */
  priorityClassName?: string;
  /** The scheduler that places user pods (the user scheduler's profile), when not the default one. */
  schedulerName?: string;
}

/**
 * The preferred pod anti-affinity that keeps user pods (and the placeholders holding their room) off
 * the node of the pods `avoid` names, when there is another node.
 */
export function avoidNodeOfTerms(avoid: NonNullable<UserServerSettings["avoidNodeOf"]>) {
  return [
    {
      weight: 100,
      podAffinityTerm: {
        labelSelector: { matchLabels: avoid.podLabels },
        namespaces: [avoid.namespace],
        topologyKey: "kubernetes.io/hostname",
      },
    },
  ];
}

/** The init container that makes the user's folder (and the mount points in it). */
const makeFolderContainer = "make-notebook-dir";

/** The KubeSpawner section of jupyterhub_config.py: one pod per user in `namespace`. */
export function userServerConfigLines(namespace: string, u: UserServerSettings): string[] {
  const home: HomeLayout = {
    volumeName: notebooksVolume,
    claimName: u.notebooksClaim,
    notebooksDir: u.notebooksDir,
    mountPath: u.mountPath,
    initContainerName: makeFolderContainer,
  };
  const lines = [
    "# Spawner: one pod per user in this namespace.",
    'c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"',
    `c.KubeSpawner.namespace = ${py(namespace)}`,
    `c.KubeSpawner.image = ${py(u.image)}`,
    "# The image's own CMD is `jupyter lab`, which ignores the hub (its JUPYTERHUB_* settings: the URL",
    "# to serve, the hub's auth) and listens on localhost at /: the hub waits for a server that never",
    "# answers. KubeSpawner passes this as the container's args (the image's ENTRYPOINT, tini, stays).",
    'c.KubeSpawner.cmd = ["jupyterhub-singleuser"]',
    `c.KubeSpawner.uid = ${py(u.uid)}`,
    `c.KubeSpawner.gid = ${py(u.gid)}`,
    `c.KubeSpawner.fs_gid = ${py(u.gid)}`,
    "# Guarantees are the pod's requests (what the scheduler reserves), limits its ceiling. With a",
    "# limit and no guarantee the API server would copy the limit into the request.",
    `c.KubeSpawner.cpu_limit = ${py(u.cpuLimit)}`,
    `c.KubeSpawner.cpu_guarantee = ${py(u.cpuGuarantee)}`,
    `c.KubeSpawner.mem_limit = ${py(u.memoryLimitBytes)}`,
    `c.KubeSpawner.mem_guarantee = ${py(u.memoryGuaranteeBytes)}`,
    "c.KubeSpawner.allow_privilege_escalation = False",
    `c.KubeSpawner.container_security_context = ${py({ capabilities: { drop: ["ALL"] }, runAsNonRoot: true })}`,
    "# User pods do not talk to the Kubernetes API.",
    "c.KubeSpawner.automount_service_account_token = False",
    "# A first spawn on an autoscaling cluster waits for a node and the image pull (start_timeout);",
    "# then the hub waits for the server to answer (http_timeout).",
    `c.KubeSpawner.start_timeout = ${py(u.startTimeoutSeconds)}`,
    `c.KubeSpawner.http_timeout = ${py(u.httpTimeoutSeconds)}`,
    `c.Spawner.default_url = ${py(u.defaultUrl)}`,
    "# The NetworkPolicies select user pods by this label and admit the hub and proxy on this port.",
    `c.KubeSpawner.component_label = ${py(userPodComponent)}`,
    `c.KubeSpawner.port = ${py(userPodPort)}`,
    "",
    "# Storage: everyone's notebooks are on one shared NFS claim; each user sees only their folder.",
    "# KubeSpawner expands {username} (escaped) in the subPath and the init container alike, and the",
    "# folder is mounted at a fixed path, so notebook_dir never depends on how the name is escaped.",
    "c.KubeSpawner.storage_pvc_ensure = False",
    "# The claim is shared: deleting a user must never delete it.",
    "c.KubeSpawner.delete_pvc = False",
    `c.KubeSpawner.volumes = ${py([{ name: home.volumeName, persistentVolumeClaim: { claimName: u.notebooksClaim } }])}`,
    `c.KubeSpawner.volume_mounts = ${py(everyUserMounts(home, u.folders))}`,
    "# The user's folder is made by the notebook user itself, so it works whether or not the export",
    "# squashes root (a squashed root may neither create nor chown there) and needs no root at all;",
    "# the NFS server makes the notebooks folder, owned by the notebook user (NfsServer ownedFolders).",
    "# The owner may chmod its own folder on any file system, also one that checks permissions on the",
    "# client. Mode 0750: the read-only file browser reads through the users group; other users' pods",
    "# never mount it. KubeSpawner expands {username} here as in the subPath. The arguments after the",
    "# folder are the mount points in it (the shared folder's...), made here for the same reason: the",
    "# runtime would make them as root. With mount points the folder is 0751: the runtime, root on the",
    "# node and nobody on an export that squashes root, must search the folder to reach them.",
    `c.KubeSpawner.init_containers = ${py([
      {
        name: makeFolderContainer,
        image: u.image,
        command: [
          "sh",
          "-c",
          'set -e; home="$1"; shift; mkdir -p "$home"; mode=0750; [ "$#" -eq 0 ] || mode=0751; chmod "$mode" "$home"; for point; do mkdir -p "$home/$point"; done',
          makeFolderContainer,
          `/srv/notebooks/{username}`,
          ...everyUserMountPoints(u.folders),
        ],
        securityContext: {
          runAsUser: u.uid,
          runAsGroup: u.gid,
          runAsNonRoot: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ["ALL"] },
        },
        volumeMounts: [{ name: home.volumeName, mountPath: "/srv/notebooks", subPath: u.notebooksDir }],
      },
    ])}`,
    `c.Spawner.notebook_dir = ${py(u.mountPath)}`,
  ];
  if (u.avoidNodeOf) {
    lines.push(
      "# Keep user pods off the NFS server's node when there is another: preferred, not required, so",
      "# a one-node cluster still schedules them.",
      `c.KubeSpawner.pod_anti_affinity_preferred = ${py(avoidNodeOfTerms(u.avoidNodeOf))}`,
    );
  }
  if (u.priorityClassName !== undefined) {
    lines.push(
      "# Above the placeholders, which a user's pod preempts when no node has room for it.",
      `c.KubeSpawner.priority_class_name = ${py(u.priorityClassName)}`,
    );
  }
  if (u.schedulerName !== undefined) {
    lines.push(
      "# The user scheduler packs user pods onto the fewest nodes, so empty ones can be removed.",
      `c.KubeSpawner.scheduler_name = ${py(u.schedulerName)}`,
    );
  }
  lines.push("", ...courseFolderHookLines(home, u.folders));
  lines.push(...profileConfigLines(u.profiles));
  lines.push(...userServerExtraLines(u));
  return lines;
}
