import * as path from "node:path";
import type { KwokCluster } from "./cluster";
import { LOCAL_DISK_SIZE, LOCAL_HUB_DB_SIZE, type LocalStackNames } from "./stackConfig";

/**
 * The storage the stack's two ReadWriteOnce claims (the notebooks disk and the hub database) get
 * on the local control plane, shared by the e2e test, the journey and the benchmark: a
 * StorageClass with no provisioner (nothing provisions here), and one hostPath volume per claim,
 * pre-bound to it by claimRef, so that each claim binds to its own folder and no other.
 */

/** A volume made for one claim of the stack, on a folder of this machine. */
export interface LocalVolume {
  name: string;
  size: string;
  claimNamespace: string;
  claimName: string;
  /** The folder that holds the claim's files (made by the kubelet stand-in when missing). */
  dir: string;
}

export function localStorageClass(name: string): object {
  return {
    apiVersion: "storage.k8s.io/v1",
    kind: "StorageClass",
    metadata: { name },
    provisioner: "kubernetes.io/no-provisioner",
    volumeBindingMode: "Immediate",
    reclaimPolicy: "Retain",
  };
}

export function localVolume(storageClass: string, v: LocalVolume): object {
  return {
    apiVersion: "v1",
    kind: "PersistentVolume",
    metadata: { name: v.name },
    spec: {
      capacity: { storage: v.size },
      accessModes: ["ReadWriteOnce"],
      persistentVolumeReclaimPolicy: "Retain",
      storageClassName: storageClass,
      hostPath: { path: v.dir, type: "DirectoryOrCreate" },
      claimRef: { namespace: v.claimNamespace, name: v.claimName },
    },
  };
}

/** The local stack's StorageClass and the given volumes of it, applied to the cluster. */
export function applyLocalStorage(cluster: KwokCluster, n: LocalStackNames, volumes: LocalVolume[]): void {
  cluster.apply(localStorageClass(n.storageClass));
  for (const v of volumes) cluster.apply(localVolume(n.storageClass, v));
}

/**
 * The volumes of a local stack (localStackConfig with the same names): the notebooks disk's and
 * the hub database's, named `<prefix>-notebook-disk` and `<prefix>-hub-db`, on folders in `dir`.
 */
export function localStackVolumes(
  n: LocalStackNames,
  prefix: string,
  dir: string,
): { data: LocalVolume; hubDb: LocalVolume } {
  return {
    data: {
      name: `${prefix}-notebook-disk`,
      size: LOCAL_DISK_SIZE,
      claimNamespace: n.nfsNamespace,
      claimName: n.diskName,
      dir: path.join(dir, "disk-data"),
    },
    hubDb: {
      name: `${prefix}-hub-db`,
      size: LOCAL_HUB_DB_SIZE,
      claimNamespace: n.hubNamespace,
      // The hub database's claim, as components/jupyterhub names it.
      claimName: "hub-db",
      dir: path.join(dir, "disk-hub-db"),
    },
  };
}
