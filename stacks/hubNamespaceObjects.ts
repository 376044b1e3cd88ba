/**
 * The objects of ours in the hub namespace that a user's pod must never be given: the claims (the
 * shared notebooks claim holds every user's folder; the hub's database) and the Secrets (the hub's
 * cookie secret and proxy token, the metrics scraper's token, the test LDAP server's passwords, the
 * file browser's password, the LDAP CA bundle). A stack that names one of them in userEnvironment or userVolumes is refused.
 * test/userServerExtras.test.ts renders a stack with every one of them and checks that each is here,
 * so a new claim or Secret cannot be forgotten.
 */

/** Claims of the hub namespace: the NFS volume's claim (index.ts) and the hub's database (components/jupyterhub/hub.ts). */
export const ownClaims: readonly string[] = ["notebooks", "hub-db"];

/**
 * Secrets of the hub namespace: by name (the hub's, components/jupyterhub/hub.ts; the test LDAP
 * server's, named after its component in index.ts), and the auto-named ones by the prefix Pulumi
 * gives them (the resource's name and a dash: the file browser's htpasswd, the hub's LDAP CA).
 */
export const ownSecrets: { names: readonly string[]; prefixes: readonly string[] } = {
  names: ["hub", "hub-metrics-token", "test-ldap"],
  prefixes: ["file-browser-htpasswd-", "jupyterhub-ldap-ca-"],
};

export function isOwnSecret(name: string): boolean {
  return ownSecrets.names.includes(name) || ownSecrets.prefixes.some((p) => name.startsWith(p));
}
