import type { ConfigMap } from "@pulumi/pulumi/automation";

const P = "jupyterhub-nfs";

/** The sizes the local stacks ask for: their test volumes (e2e/lib/localStorage.ts) are this big. */
export const LOCAL_DISK_SIZE = "10Gi";
export const LOCAL_HUB_DB_SIZE = "1Gi";

export interface LocalStackNames {
  hubNamespace: string;
  nfsNamespace: string;
  /** The test StorageClass whose pre-bound volumes back the data and hub-db claims. */
  storageClass: string;
  diskName: string;
  /** Whether `destroy` keeps the data claim (the project's default) or deletes it. */
  retainDisk: boolean;
}

/**
 * The stack config the e2e test, the journey and the benchmark deploy on the local control plane: a
 * StorageClass disk, the in-cluster test LDAP server and NodePort Services.
 */
export function localStackConfig(n: LocalStackNames): ConfigMap {
  return {
    [`${P}:namespace`]: { value: n.hubNamespace },
    [`${P}:nfsNamespace`]: { value: n.nfsNamespace },
    [`${P}:diskKind`]: { value: "storageClass" },
    [`${P}:storageClassName`]: { value: n.storageClass },
    [`${P}:diskName`]: { value: n.diskName },
    [`${P}:diskSize`]: { value: LOCAL_DISK_SIZE },
    [`${P}:diskRetainOnDelete`]: { value: String(n.retainDisk) },
    [`${P}:hubDbStorageClassName`]: { value: n.storageClass },
    [`${P}:hubDbSize`]: { value: LOCAL_HUB_DB_SIZE },
    [`${P}:ldapTestServer`]: { value: "true" },
    [`${P}:allowedUsers[0]`]: { value: "alice" },
    [`${P}:proxyServiceType`]: { value: "NodePort" },
    // The local control plane has no TLS in front of the proxy: say so, or the config is refused.
    [`${P}:hubInsecureAllowPlainHttp`]: { value: "true" },
    [`${P}:fileBrowserServiceType`]: { value: "NodePort" },
  };
}
