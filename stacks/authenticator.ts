import { z } from "zod";
import { loginNamePattern } from "../components/jupyterhub/hubConfig";
import { isKubeSpawnerHashedFolder } from "../components/jupyterhub/userFolder";

/**
 * The rules for the `authenticator` key and the `oauth*` keys: which OAuthenticator 17.4.0 class the
 * hub runs instead of LDAPAuthenticator, and what it is told. Names follow OAuthenticator's own
 * options (GenericOAuthenticator, GitHubOAuthenticator, GoogleOAuthenticator at 17.4.0).
 */

export const authenticatorKinds = ["ldap", "oidc", "github", "google"] as const;
export type AuthenticatorKind = (typeof authenticatorKinds)[number];

/** The keys that configure only LDAP, and those that configure only an OAuth provider. */
export const ldapOnlyKeys = [
  "ldapTestServer",
  "ldapTestImage",
  "ldapTestUsers",
  "ldapServer",
  "ldapPort",
  "ldapTlsStrategy",
  "ldapTlsCaCertificate",
  "ldapTlsInsecureSkipVerify",
  "ldapBindDnTemplates",
  "ldapLookupDn",
  "ldapUserSearchBase",
  "ldapUserAttribute",
  "ldapLookupDnSearchUser",
  "ldapLookupDnSearchPassword",
] as const;
export const oauthOnlyKeys = [
  "oauthClientId",
  "oauthClientSecret",
  "oauthCallbackUrl",
  "oauthLoginService",
  "oauthScopes",
  "oauthUsernameClaim",
  "oauthGroupsClaim",
  "oauthIssuerUrl",
  "oauthAuthorizeUrl",
  "oauthTokenUrl",
  "oauthUserdataUrl",
  "oauthHostedDomains",
  "oauthStripDomain",
  "oauthEnableAuthState",
  "adminGroups",
] as const;

/** An http(s) URL with a host and no query, fragment or credentials. */
export const oauthUrl = z.union([
  z.literal(""),
  z
    .string()
    .regex(
      /^https?:\/\/[^/?#@\s]+(\/[^?#\s]*)?$/,
      "must be an http(s) URL such as https://login.example.org/ (no query or fragment)",
    ),
]);

/**
 * A claim name OAuthenticator looks up as one key of the user's data (`userinfo.get(name)`): a dotted
 * or otherwise decorated name would silently never match.
 */
export const claimName = z.union([
  z.literal(""),
  z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]*$/, "must be a plain claim name such as preferred_username or email"),
]);

/** A user name as the provider gives it: LDAP's names, or an e-mail address (Google, an OIDC `email` claim). */
export const oauthUsername = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]*(@[A-Za-z0-9.-]+)?$/,
    "must be a user name of letters, digits, '.', '_' and '-', optionally @domain",
  );

export const ldapUsernameRegex = new RegExp(loginNamePattern);

/**
 * How an OAuth provider's names reach the hub (OAuthenticator 17.4.0, then JupyterHub's
 * normalize_username, which lower-cases): whether they are whole e-mail addresses, and the one
 * domain whose `@domain` the hub takes off (`oauthStripDomain` for oidc, a single
 * `oauthHostedDomains` for google: GoogleOAuthenticator's strip_domain).
 */
export interface OAuthNameForm {
  kind: Exclude<AuthenticatorKind, "ldap">;
  /** The claim is an e-mail address: every name has an @domain unless it is stripped. */
  email: boolean;
  /** Lower-case; "" when no domain is stripped. */
  strippedDomain: string;
  /** google with hosted domains: only accounts of these domains sign in at all. */
  onlyDomains: string[];
}

/**
 * Why a config name (allowedUsers, adminUsers, a quota override's user) can never be the name of a
 * user who signs in this way, or undefined when it can. JupyterHub lower-cases config names as it
 * does login names, so capitals are never the problem; a domain is.
 */
export function oauthNameProblem(name: string, f: OAuthNameForm): string | undefined {
  const lower = name.toLowerCase();
  const at = lower.lastIndexOf("@");
  const domain = at >= 0 ? lower.slice(at + 1) : "";
  if (f.kind === "github" && !f.email && at >= 0) return "GitHub logins have no @domain: give the GitHub login";
  if (f.strippedDomain !== "" && domain === f.strippedDomain) {
    return `the hub takes @${f.strippedDomain} off every name: write it ${JSON.stringify(name.slice(0, at))}`;
  }
  if (f.onlyDomains.length > 0 && at >= 0 && !f.onlyDomains.includes(domain)) {
    return `only accounts of oauthHostedDomains (${f.onlyDomains.join(", ")}) sign in`;
  }
  if (f.email && at < 0 && f.strippedDomain === "") {
    return (
      "the username claim is an e-mail address, so every hub name has its @domain: write it with the domain" +
      (f.kind === "oidc" ? ", or set oauthStripDomain to take the university's domain off" : "")
    );
  }
  return undefined;
}

/** A Google Workspace domain (hosted_domain). */
export const hostedDomain = z
  .string()
  .regex(/^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,}$/, "must be a lower-case domain such as example.org");

/** The OAuth callback the provider must redirect to: the hub's own `/hub/oauth_callback`. */
export const oauthCallbackPath = "/hub/oauth_callback";

/** OIDC's scopes OAuthenticator needs by default for each kind, when `oauthScopes` is empty. */
export const defaultScopes: Record<Exclude<AuthenticatorKind, "ldap">, string[]> = {
  // The groups claim is not a standard scope: a provider that needs one gets it through oauthScopes.
  oidc: ["openid", "profile", "email"],
  // GitHub: read:org lets OAuthenticator see private organisation and team memberships.
  github: ["read:org"],
  // GoogleOAuthenticator's own default.
  google: ["openid", "email"],
};

/** The claim that becomes the user name, for each kind, when `oauthUsernameClaim` is empty. */
export const defaultUsernameClaim: Record<Exclude<AuthenticatorKind, "ldap">, string> = {
  oidc: "preferred_username",
  // GitHubOAuthenticator's and GoogleOAuthenticator's own defaults.
  github: "login",
  google: "email",
};

export interface AuthenticatorValues {
  authenticator: AuthenticatorKind;
  hubDomain: string;
  oauthClientId: string;
  oauthClientSecret: string;
  oauthCallbackUrl: string;
  oauthUsernameClaim: string;
  oauthGroupsClaim: string;
  oauthIssuerUrl: string;
  oauthAuthorizeUrl: string;
  oauthTokenUrl: string;
  oauthUserdataUrl: string;
  oauthHostedDomains: string[];
  oauthStripDomain: string;
  allowedUsers: string[];
  allowedGroups: string[];
  allowAllUsers: boolean;
  adminUsers: string[];
  adminGroups: string[];
  profiles: { groups?: string[] }[];
  userQuotaOverrides: { user: string }[];
}

/**
 * The config keys that name hub users, each with its key path: allowedUsers, adminUsers and the
 * quota overrides' users (a hashed folder name there names a folder, not a user).
 */
function namedUsers(c: AuthenticatorValues): { key: string; name: string }[] {
  return [
    ...c.allowedUsers.map((name, i) => ({ key: `allowedUsers[${i}]`, name })),
    ...c.adminUsers.map((name, i) => ({ key: `adminUsers[${i}]`, name })),
    ...c.userQuotaOverrides
      .map((o, i) => ({ key: `userQuotaOverrides[${i}][user]`, name: o.user }))
      .filter((u) => !isKubeSpawnerHashedFolder(u.name)),
  ];
}

/**
 * The authenticator's cross-key rules. `given` holds the keys the stack (or the program) set
 * explicitly: LDAP keys set while an OAuth provider is chosen are refused, and the reverse, rather
 * than silently ignored.
 */
export function checkAuthenticator(
  c: AuthenticatorValues,
  given: ReadonlySet<string>,
  fail: (key: string, message: string) => void,
): void {
  if (c.authenticator === "ldap") {
    for (const key of oauthOnlyKeys) {
      if (given.has(key))
        fail(key, "is for an OAuth authenticator; authenticator is ldap (remove it, or choose oidc, github or google)");
    }
    for (const { key, name } of namedUsers(c)) {
      if (!ldapUsernameRegex.test(name))
        fail(key, `${JSON.stringify(name)} must be a user name of letters, digits, '.', '_' and '-'`);
    }
    return;
  }
  const kind = c.authenticator;
  for (const key of ldapOnlyKeys) {
    if (given.has(key)) fail(key, `is for LDAP; authenticator is ${kind} (remove it, or choose ldap)`);
  }
  if (c.oauthClientId === "") fail("oauthClientId", `is required with authenticator ${kind}`);
  if (c.oauthClientSecret === "") {
    fail("oauthClientSecret", `is required with authenticator ${kind} (set it with \`pulumi config set --secret\`)`);
  }
  if (c.hubDomain === "" && c.oauthCallbackUrl === "") {
    fail(
      "oauthCallbackUrl",
      `is required when hubDomain is not set: the URL the provider sends users back to, ending in ${oauthCallbackPath}`,
    );
  }
  if (c.oauthCallbackUrl !== "" && !c.oauthCallbackUrl.endsWith(oauthCallbackPath)) {
    fail("oauthCallbackUrl", `must end in ${oauthCallbackPath}, the hub's OAuth callback`);
  }
  if (
    c.hubDomain !== "" &&
    c.oauthCallbackUrl !== "" &&
    c.oauthCallbackUrl !== `https://${c.hubDomain}${oauthCallbackPath}`
  ) {
    fail("oauthCallbackUrl", `must be https://${c.hubDomain}${oauthCallbackPath} (hubDomain), or unset to follow it`);
  }
  // A production hub (public over HTTPS: hubDomain) talks to its provider over HTTPS only: the
  // tokens and the user's identity cross these URLs. A dev stack may use a provider over plain HTTP.
  const endpointKeys = ["oauthIssuerUrl", "oauthAuthorizeUrl", "oauthTokenUrl", "oauthUserdataUrl"] as const;
  if (c.hubDomain !== "") {
    for (const key of endpointKeys) {
      if (c[key].startsWith("http://")) {
        fail(key, "must be https:// on a stack with hubDomain (plain http:// is for a dev stack without a public hub)");
      }
    }
  }
  if (kind === "oidc") {
    const explicit = [c.oauthAuthorizeUrl, c.oauthTokenUrl, c.oauthUserdataUrl].filter((u) => u !== "").length;
    if (explicit !== 0 && explicit !== 3) {
      fail(
        "oauthAuthorizeUrl",
        "oauthAuthorizeUrl, oauthTokenUrl and oauthUserdataUrl go together: set all three, or none and oauthIssuerUrl",
      );
    }
    if (c.oauthIssuerUrl === "" && explicit !== 3) {
      fail(
        "oauthIssuerUrl",
        "is required with authenticator oidc unless oauthAuthorizeUrl, oauthTokenUrl and oauthUserdataUrl are set",
      );
    }
    if (c.oauthIssuerUrl !== "" && explicit === 3) {
      fail(
        "oauthIssuerUrl",
        "must be unset when the endpoints are given (oauthAuthorizeUrl, oauthTokenUrl, oauthUserdataUrl)",
      );
    }
  } else {
    for (const key of [...endpointKeys, "oauthGroupsClaim"] as const) {
      if (c[key] !== "")
        fail(key, `is for authenticator oidc (${kind}'s endpoints and claims are OAuthenticator's own)`);
    }
    if (c.adminGroups.length > 0) fail("adminGroups", `is for authenticator oidc (${kind} has no groups claim)`);
  }
  if (kind !== "google" && c.oauthHostedDomains.length > 0) {
    fail("oauthHostedDomains", "is for authenticator google (Google Workspace domains)");
  }
  if (kind === "google" && c.allowedGroups.length > 0) {
    fail(
      "allowedGroups",
      "is not supported with authenticator google: OAuthenticator reads Google groups only through a Workspace " +
        "administrator's service account key; admit users by oauthHostedDomains or allowedUsers",
    );
  }
  if (kind === "google" && c.allowAllUsers && c.oauthHostedDomains.length === 0) {
    fail(
      "allowAllUsers",
      "with authenticator google and no oauthHostedDomains would let every Google account in the world log in",
    );
  }
  c.profiles.forEach((p, i) => {
    if (kind !== "oidc" && (p.groups ?? []).length > 0) {
      fail(`profiles[${i}][groups]`, `needs groups from the provider: authenticator ${kind} gives the hub none`);
    }
  });
  if (kind !== "oidc" && c.oauthStripDomain !== "") {
    fail(
      "oauthStripDomain",
      kind === "google"
        ? "is for authenticator oidc (google takes the domain off with exactly one oauthHostedDomains)"
        : `is for authenticator oidc (${kind} names have no domain)`,
    );
  }
  const usernameClaim = c.oauthUsernameClaim !== "" ? c.oauthUsernameClaim : defaultUsernameClaim[kind];
  const form: OAuthNameForm = {
    kind,
    email: usernameClaim === "email",
    strippedDomain:
      kind === "oidc"
        ? c.oauthStripDomain
        : kind === "google" && c.oauthHostedDomains.length === 1
          ? c.oauthHostedDomains[0]
          : "",
    onlyDomains: kind === "google" ? c.oauthHostedDomains : [],
  };
  for (const { key, name } of namedUsers(c)) {
    const problem = oauthNameProblem(name, form);
    if (problem !== undefined) fail(key, `${JSON.stringify(name)} would never match a user who signs in: ${problem}`);
  }
}
