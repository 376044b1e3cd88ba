import { z } from "zod";
import { loginNamePattern } from "../components/jupyterhub/hubConfig";

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
 * KubeSpawner 7.0's folder name for a hub user (`safe_slug` in kubespawner/slugs.py, with the
 * 48-character limit `_expand_user_properties` gives it) is the name itself when it is a DNS label
 * that starts with a letter, has no `--` and fits; any other name gets a hashed slug,
 * `<stripped>---<8 hex digits>`. JupyterHub lower-cases names first (see loginNamePattern).
 * test/userQuotas.test.ts checks this against the real safe_slug.
 */
const ownFolder = /^[a-z]([a-z0-9-]*[a-z0-9])?$/;
const hashedFolder = /^[a-z0-9-]+---[0-9a-f]{8}$/;

/**
 * The folder under notebooks/ of an override's `user`: a hub user name as users type it (any
 * case), when it is its own folder, or a hashed folder name as KubeSpawner wrote it; undefined
 * for a name whose folder is hashed (the message says so).
 */
export function quotaFolder(user: string): string | undefined {
  const name = user.toLowerCase();
  if (hashedFolder.test(user)) return user;
  if (ownFolder.test(name) && name.length <= 48 && !name.includes("--")) return name;
  return undefined;
}

const overrideUser = z
  .string()
  .regex(new RegExp(loginNamePattern), "must be a user name of letters, digits, '.', '_' and '-'")
  .refine((u) => quotaFolder(u) !== undefined, {
    error: (issue) =>
      `"${String(issue.input)}" is not its own folder: KubeSpawner names its folder with a hash ` +
      "(such as john-doe---30f69670); give that folder's name, as the file browser lists it under notebooks/ " +
      "(docs/operations.md, User names, and which folder is whose)",
  });

export const userQuotaOverridesSchema = z.array(z.object({ user: overrideUser, quota: quotaQuantity }).strict());

export type UserQuotaOverride = z.infer<typeof userQuotaOverridesSchema>[number];

/** The overrides as the enforcer reads them: folder name -> bytes (the schema has checked each user). */
export function userQuotaOverridesBytes(overrides: UserQuotaOverride[]): Record<string, number> {
  return Object.fromEntries(overrides.map((o) => [quotaFolder(o.user) ?? o.user, quotaBytes(o.quota)]));
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
    if (folder === undefined) return;
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
    const others = [...named].filter((u) => {
      const folder = quotaFolder(u);
      return folder === undefined || !seen.has(folder);
    }).length;
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
