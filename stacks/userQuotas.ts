import { z } from "zod";
import { isKubeSpawnerHashedFolder, kubeSpawnerFolder } from "../components/jupyterhub/userFolder";
import { oauthUsername } from "./authenticator";

/**
 * Per-user quotas: a default hard limit for every user's folder, and overrides for some users.
 * The kernel enforces them on the NFS server's XFS file system (components/storage/nfsServer.ts).
 */

/** A quota: whole Mi, Gi or Ti. */
export const quotaQuantity = z
  .string()
  .regex(/^[1-9]\d*(Mi|Gi|Ti)$/, "must be a whole number of Mi, Gi or Ti, such as 500Mi, 10Gi or 1Ti");

/** "10Gi" -> bytes (diskSize's Gi and Ti too). */
export function quotaBytes(quantity: string): number {
  const unit = { Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 }[quantity.slice(-2)] ?? NaN;
  return parseInt(quantity, 10) * unit;
}

/**
 * The folder under notebooks/ of an override's `user`: a hub user name as users type it (any case:
 * JupyterHub lower-cases it; with an OAuth provider, as the hub names them: stacks/authenticator.ts
 * refuses a name no login could have) becomes the folder KubeSpawner makes for it; a hashed folder
 * name as KubeSpawner wrote it is taken as it is.
 */
export function quotaFolder(user: string): string {
  if (isKubeSpawnerHashedFolder(user)) return user;
  return kubeSpawnerFolder(user.toLowerCase());
}

export const userQuotaOverridesSchema = z.array(z.object({ user: oauthUsername, quota: quotaQuantity }).strict());

export type UserQuotaOverride = z.infer<typeof userQuotaOverridesSchema>[number];

/** The overrides as the enforcer reads them: folder name -> bytes (the schema has checked each user). */
export function userQuotaOverridesBytes(overrides: UserQuotaOverride[]): Record<string, number> {
  return Object.fromEntries(overrides.map((o) => [quotaFolder(o.user), quotaBytes(o.quota)]));
}

interface QuotaKeys {
  userQuotaDefault: string;
  userQuotaOverrides: UserQuotaOverride[];
  userQuotaOvercommit: boolean;
  diskSize: string;
  allowedUsers: string[];
  adminUsers: string[];
  ldapTestServer: boolean;
  ldapTestUsers: string[];
}

/** The cross-key rules of the quota keys; `fail` names the key (and the list item). */
export function checkUserQuotas(c: QuotaKeys, fail: (path: (string | number)[], message: string) => void): void {
  if (c.userQuotaDefault === "") {
    if (c.userQuotaOverrides.length > 0) {
      fail(["userQuotaOverrides"], "needs userQuotaDefault: quotas are on only with a default for every user");
    }
    return;
  }
  const seen = new Map<string, number>();
  c.userQuotaOverrides.forEach((o, i) => {
    const folder = quotaFolder(o.user);
    const first = seen.get(folder);
    if (first !== undefined) {
      fail(["userQuotaOverrides", i, "user"], `"${o.user}" is the folder of userQuotaOverrides[${first}] already`);
    }
    seen.set(folder, i);
  });
  if (!c.userQuotaOvercommit) {
    // The least the quotas promise: every override, and the default for each user the config
    // names (any other user who logs in adds one more default).
    const named = new Set(
      [...c.allowedUsers, ...c.adminUsers, ...(c.ldapTestServer ? c.ldapTestUsers : [])].map((u) => u.toLowerCase()),
    );
    const others = [...named].filter((u) => !seen.has(quotaFolder(u))).length;
    const promised =
      c.userQuotaOverrides.reduce((sum, o) => sum + quotaBytes(o.quota), 0) + others * quotaBytes(c.userQuotaDefault);
    if (promised > quotaBytes(c.diskSize)) {
      const gib = (b: number) => `${(b / 1024 ** 3).toFixed(1)} GiB`;
      fail(
        ["userQuotaOvercommit"],
        `keeps the quotas within the disk, and they promise at least ${gib(promised)} (the overrides, and userQuotaDefault for each of the ` +
          `${others} other users the config names) on a disk of ${c.diskSize}: raise diskSize, lower the quotas, ` +
          "or set userQuotaOvercommit to true",
      );
    }
  }
}
