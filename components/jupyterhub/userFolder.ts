import { createHash } from "node:crypto";

/**
 * The folder under notebooks/ that KubeSpawner 7.0.0 gives a hub user: `{username}` in the subPath
 * (userServers.ts) expands to `safe_slug(name, max_length=48)` (`_expand_user_properties` in
 * kubespawner/spawner.py, `safe_slug` in kubespawner/slugs.py). Config keys that name a user's
 * folder (userQuotaOverrides) need the same name the hub's pods write to, before any pod exists;
 * test/userQuotas.test.ts compares this with the hub venv's own safe_slug on every name form.
 */

/** `_expand_user_properties`'s `_slug_max_length`. */
const slugMaxLength = 48;
/** slugs.py's `_hash_length`. */
const hashLength = 8;

/** slugs.py's is_valid_object_name: a DNS label (RFC 1035) of lower-case letters, digits and '-'. */
function isValidObjectName(s: string): boolean {
  return s.length >= 1 && s.length <= 63 && /^[a-z][a-z0-9-]*$/.test(s) && /[a-z0-9]$/.test(s);
}

/** slugs.py's _extract_safe_name: the readable part of a hashed slug. */
function extractSafeName(name: string, maxLength: number): string {
  let safe = name.toLowerCase().replace(/[^a-z0-9]+/g, "-");
  safe = safe.replace(/^-+/, "").slice(0, maxLength).replace(/-+$/, "");
  if (safe !== "" && !/^[a-z]/.test(safe)) safe = "x-" + safe.slice(0, maxLength - 2);
  return safe === "" ? "x" : safe;
}

/** slugs.py's strip_and_hash: `<readable>---<first 8 hex digits of the name's SHA-256>`. */
function stripAndHash(name: string, maxLength: number): string {
  const hash = createHash("sha256").update(name, "utf8").digest("hex").slice(0, hashLength);
  return `${extractSafeName(name, maxLength - (hashLength + 3))}---${hash}`;
}

/** KubeSpawner's folder for the hub user `hubName` (a name as JupyterHub holds it: normalised, lower-case). */
export function kubeSpawnerFolder(hubName: string): string {
  // A name with "--" could collide with a hashed slug: always hashed.
  if (!hubName.includes("--") && isValidObjectName(hubName) && hubName.length <= slugMaxLength) return hubName;
  return stripAndHash(hubName, slugMaxLength);
}

/** Whether `s` is a folder name as KubeSpawner hashes it (`john-doe---30f69670`), as `ls notebooks/` shows it. */
export function isKubeSpawnerHashedFolder(s: string): boolean {
  return /^[a-z0-9-]+---[0-9a-f]{8}$/.test(s);
}
