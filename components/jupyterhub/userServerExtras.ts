import { py } from "./pythonLiteral";

/**
 * What a stack adds to every user's pod beyond our own settings (userServers.ts): environment
 * variables, volumes, a postStart command, and the ServiceAccount that a Cloud Storage FUSE volume
 * needs. Each becomes a KubeSpawner 7.0.0 setting, written so that KubeSpawner passes it on as given.
 */

/** An environment variable of the notebook container: a literal value, or a key of a Secret in the hub namespace. */
export type UserEnvVar = { name: string; value: string } | { name: string; secretName: string; secretKey: string };

interface UserVolumeMount {
  /** The pod's name for the volume (a DNS-1123 label, unique among the pod's volumes). */
  name: string;
  /** Where the notebook container sees it (absolute). */
  mountPath: string;
  readOnly: boolean;
}

/** An existing PersistentVolumeClaim of the hub namespace, or a folder of it. */
export interface UserClaimVolume extends UserVolumeMount {
  claimName: string;
  subPath?: string;
}

/** A Cloud Storage bucket, mounted by GKE's Cloud Storage FUSE CSI driver (a CSI ephemeral volume). */
export interface UserBucketVolume extends UserVolumeMount {
  bucket: string;
  /** gcsfuse mount options besides uid and gid, which are the notebook user's (e.g. `implicit-dirs`, `only-dir=course`). */
  mountOptions: string[];
}

export type UserVolume = UserClaimVolume | UserBucketVolume;

export function isBucketVolume(v: UserVolume): v is UserBucketVolume {
  return "bucket" in v;
}

/** GKE's Cloud Storage FUSE CSI driver. */
export const gcsFuseDriver = "gcsfuse.csi.storage.gke.io";
/** The pod annotation on which GKE's webhook injects the gcsfuse sidecar container. */
export const gcsFuseAnnotation = "gke-gcsfuse/volumes";
/**
 * The label GKE puts on nodes that run the GKE metadata server (node pools with Workload Identity
 * Federation, `GKE_METADATA`). There 169.254.169.254 hands a pod the token of its own Kubernetes
 * ServiceAccount and nothing of the node's; elsewhere it is the Compute Engine metadata server,
 * which hands out the node's credentials.
 */
export const gkeMetadataServerNodeLabel = "iam.gke.io/gke-metadata-server-enabled";

export interface UserServerExtras {
  /** Environment variables of the notebook container. */
  environment?: UserEnvVar[];
  /** Volumes mounted into the notebook container besides the user's folder. */
  extraVolumes?: UserVolume[];
  /** `lifecycle.postStart.exec.command` of the notebook container; empty: none. */
  postStart?: string[];
  /**
   * The Kubernetes ServiceAccount user pods run as (its token is still not mounted). Needed when a
   * bucket is mounted: Workload Identity Federation grants the bucket to this ServiceAccount.
   */
  serviceAccountName?: string;
}

/**
 * KubeSpawner formats every string of `environment` with the user's fields (`{username}`...):
 * braces in a value must be doubled to arrive as written.
 */
function literalForKubeSpawner(value: string): string {
  return value.replace(/[{}]/g, (brace) => brace + brace);
}

/** KubeSpawner's `environment`: a value as a string, a Secret's key as an EnvVar-shaped dict (KubeSpawner 7 fills in the name). */
function environmentOf(vars: UserEnvVar[]): Record<string, string | object> {
  return Object.fromEntries(
    vars.map((v) => [
      v.name,
      "secretName" in v
        ? { valueFrom: { secretKeyRef: { name: v.secretName, key: v.secretKey } } }
        : literalForKubeSpawner(v.value),
    ]),
  );
}

/** Every string of a JSON-like value made literal for KubeSpawner, which formats those of `volumes` and `volume_mounts` too. */
function literalStrings(value: unknown): unknown {
  if (typeof value === "string") return literalForKubeSpawner(value);
  if (Array.isArray(value)) return value.map(literalStrings);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, literalStrings(v)]));
  }
  return value;
}

/** A volume of the pod spec, as KubeSpawner's `volumes` takes it. */
function podVolume(v: UserVolume, uid: number, gid: number): object {
  if (!isBucketVolume(v))
    return { name: v.name, persistentVolumeClaim: { claimName: v.claimName, readOnly: v.readOnly } };
  // gcsfuse serves every file as its mount's owner: the notebook user's uid and gid (GKE's docs:
  // a pod that sets runAsUser must pass uid and gid). fsGroup does not reach a CSI ephemeral volume
  // of this driver (fsGroupPolicy None).
  const options = [`uid=${uid}`, `gid=${gid}`, ...v.mountOptions];
  return {
    name: v.name,
    csi: {
      driver: gcsFuseDriver,
      readOnly: v.readOnly,
      volumeAttributes: { bucketName: v.bucket, mountOptions: options.join(",") },
    },
  };
}

function podVolumeMount(v: UserVolume): object {
  return {
    name: v.name,
    mountPath: v.mountPath,
    readOnly: v.readOnly,
    ...(!isBucketVolume(v) && v.subPath !== undefined ? { subPath: v.subPath } : {}),
  };
}

/**
 * The lines of jupyterhub_config.py for the extras, after our own KubeSpawner settings (the
 * extra volumes extend our `volumes` and `volume_mounts`). `uid` and `gid` are the notebook user's.
 */
export function userServerExtraLines(x: UserServerExtras & { uid: number; gid: number }): string[] {
  const { uid, gid } = x;
  const lines: string[] = [];
  const environment = x.environment ?? [];
  if (environment.length > 0) {
    lines.push(
      "",
      "# Environment of the notebook container (userEnvironment): literal values (braces doubled, as",
      "# KubeSpawner formats each string with the user's fields) and keys of Secrets in this namespace,",
      "# which the kubelet reads; the hub never sees those values.",
      `c.KubeSpawner.environment = ${py(environmentOf(environment))}`,
    );
  }
  const volumes = x.extraVolumes ?? [];
  if (volumes.length > 0) {
    lines.push(
      "",
      "# More volumes of the notebook container (userVolumes), read-only unless the stack says otherwise;",
      "# KubeSpawner formats their strings too, so braces are doubled.",
      `c.KubeSpawner.volumes.extend(${py(literalStrings(volumes.map((v) => podVolume(v, uid, gid))))})`,
      `c.KubeSpawner.volume_mounts.extend(${py(literalStrings(volumes.map(podVolumeMount)))})`,
    );
  }
  if (volumes.some(isBucketVolume)) {
    lines.push(
      "# Cloud Storage FUSE: GKE's webhook adds its sidecar to pods with this annotation. The sidecar",
      "# asks the GKE metadata server (169.254.169.254 inside the pod) for the pod's ServiceAccount token,",
      "# so user pods may run only on nodes that have one: on any other node that address would hand",
      "# the node's own credentials to whoever asks. The user pods' NetworkPolicy opens it for this.",
      `c.KubeSpawner.extra_annotations = ${py({ [gcsFuseAnnotation]: "true" })}`,
      `c.KubeSpawner.node_affinity_required = ${py([
        { matchExpressions: [{ key: gkeMetadataServerNodeLabel, operator: "In", values: ["true"] }] },
      ])}`,
    );
  }
  if (x.serviceAccountName !== undefined) {
    lines.push(
      "# The ServiceAccount Workload Identity Federation grants buckets to; its token stays unmounted.",
      `c.KubeSpawner.service_account = ${py(x.serviceAccountName)}`,
    );
  }
  const postStart = x.postStart ?? [];
  if (postStart.length > 0) {
    lines.push(
      "",
      "# Run in the notebook container right after it starts (userPostStart): the kubelet runs it as the",
      "# container's user, in its environment; if it fails, the kubelet kills the container.",
      `c.KubeSpawner.lifecycle_hooks = ${py({ postStart: { exec: { command: postStart } } })}`,
    );
  }
  return lines;
}
