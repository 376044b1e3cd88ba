import { py, pySet } from "./pythonLiteral";

/**
 * An OAuth provider as OAuthenticator 17.4.0 takes it: GenericOAuthenticator for any OpenID Connect
 * provider, GitHubOAuthenticator, GoogleOAuthenticator. No secret here: the client secret reaches
 * the hub as OAUTH_CLIENT_SECRET and the auth state's key as JUPYTERHUB_CRYPT_KEY, both from the
 * hub's Secret.
 */
export interface OAuthSettings {
  kind: "oidc" | "github" | "google";
  clientId: string;
  /** `https://<domain>/hub/oauth_callback`, or the stack's oauthCallbackUrl. */
  callbackUrl: string;
  /** The login button's provider name; undefined keeps the class's own. */
  loginService?: string;
  scopes: string[];
  /** The key of the user's info that becomes the user name. */
  usernameClaim: string;
  /** oidc: the issuer, whose discovery document the hub reads at start-up... */
  issuerUrl?: string;
  /** ...or the endpoints, given explicitly. */
  endpoints?: { authorize: string; token: string; userdata: string };
  /** oidc: the claim listing the user's groups. */
  groupsClaim?: string;
  /** oidc: groups claim values; github: organisations and teams (`org`, `org:team`). */
  allowedGroups: string[];
  /** oidc: groups whose members are admins. */
  adminGroups: string[];
  /** google: Workspace domains. */
  hostedDomains: string[];
  /** oidc: the one e-mail domain taken off names (`Jane.Doe@uni.example.edu` becomes `jane.doe`). */
  stripDomain?: string;
  /** Keep the provider's tokens (auth state), encrypted with JUPYTERHUB_CRYPT_KEY. */
  enableAuthState: boolean;
}

/** The hub environment variable that carries the client secret (OAuthenticator's own default name). */
export const clientSecretEnv = "OAUTH_CLIENT_SECRET";

/** Each kind's authenticator_class (OAuthenticator 17.4.0's entry points) and its config section. */
export const oauthClasses = {
  oidc: { entryPoint: "generic-oauth", section: "GenericOAuthenticator" },
  github: { entryPoint: "github", section: "GitHubOAuthenticator" },
  google: { entryPoint: "google", section: "GoogleOAuthenticator" },
} as const;

/**
 * OpenID Connect discovery, which GenericOAuthenticator 17.4.0 does not do itself: at start-up the
 * hub reads the issuer's endpoints from its discovery document, so that a provider moving them needs
 * no change here. The document must name the same issuer (OIDC Discovery 1.0, section 4.3), and an
 * https issuer's endpoints must be https too. The hub does not start when the provider cannot be
 * reached: it could not log anyone in.
 */
const discoveryLines = (section: string, issuer: string): string[] => [
  `OIDC_ISSUER = ${py(issuer)}`,
  "",
  "",
  "def _oidc_discovery(issuer):",
  "    import json",
  "    import urllib.request",
  "",
  '    url = issuer.rstrip("/") + "/.well-known/openid-configuration"',
  "    with urllib.request.urlopen(url, timeout=30) as response:",
  "        document = json.load(response)",
  '    if document.get("issuer", "").rstrip("/") != issuer.rstrip("/"):',
  "        raise ValueError(f\"{url} names the issuer {document.get('issuer')!r}, not {issuer!r}\")",
  '    endpoints = {k: document[k] for k in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint")}',
  "    for name, endpoint in endpoints.items():",
  '        if issuer.startswith("https://") and not endpoint.startswith("https://"):',
  '            raise ValueError(f"{url}: {name} {endpoint!r} is not https")',
  "    return endpoints",
  "",
  "",
  "_oidc = _oidc_discovery(OIDC_ISSUER)",
  `c.${section}.authorize_url = _oidc["authorization_endpoint"]`,
  `c.${section}.token_url = _oidc["token_endpoint"]`,
  `c.${section}.userdata_url = _oidc["userinfo_endpoint"]`,
];

/**
 * The username claim without one domain: OAuthenticator 17.4.0 takes a callable as `username_claim`
 * (`user_info_to_username`); JupyterHub lower-cases what it returns (`normalize_username`). The
 * domain is compared without regard to case, as domains are; only that one domain goes, so names
 * of any other domain keep theirs and never become a university user's name. The claim must hold
 * a name: OAuthenticator refuses the login when it does not.
 */
const stripDomainLines = (section: string, claim: string, domain: string): string[] => [
  `OAUTH_STRIP_DOMAIN = ${py(domain)}`,
  "",
  "",
  "def _username_without_domain(user_info):",
  `    name = user_info.get(${py(claim)})`,
  "    if isinstance(name, str):",
  '        local, at, domain = name.rpartition("@")',
  "        if at and local and domain.lower() == OAUTH_STRIP_DOMAIN:",
  "            return local",
  "    return name",
  "",
  "",
  `c.${section}.username_claim = _username_without_domain`,
];

/** jupyterhub_config.py's authentication section for an OAuth provider. */
export function oauthConfigLines(o: OAuthSettings): string[] {
  const { entryPoint, section } = oauthClasses[o.kind];
  const lines = [
    `# Authentication: ${section} (OAuthenticator 17.4.0).`,
    `c.JupyterHub.authenticator_class = ${py(entryPoint)}`,
    `c.${section}.client_id = ${py(o.clientId)}`,
    `c.${section}.client_secret = os.environ[${py(clientSecretEnv)}]`,
    `c.${section}.oauth_callback_url = ${py(o.callbackUrl)}`,
    `c.${section}.scope = ${py(o.scopes)}`,
    ...(o.stripDomain !== undefined
      ? stripDomainLines(section, o.usernameClaim, o.stripDomain)
      : [`c.${section}.username_claim = ${py(o.usernameClaim)}`]),
    ...(o.loginService !== undefined ? [`c.${section}.login_service = ${py(o.loginService)}`] : []),
  ];
  if (o.kind === "oidc") {
    if (o.endpoints) {
      lines.push(
        `c.${section}.authorize_url = ${py(o.endpoints.authorize)}`,
        `c.${section}.token_url = ${py(o.endpoints.token)}`,
        `c.${section}.userdata_url = ${py(o.endpoints.userdata)}`,
      );
    } else if (o.issuerUrl !== undefined) {
      lines.push(...discoveryLines(section, o.issuerUrl));
    }
    lines.push(
      "# The groups claim becomes the user's hub groups at every login (allowed_groups and admin_groups",
      "# read them; profiles offered by group too). OAuthenticator keeps the user's info under oauth_user.",
      `c.${section}.manage_groups = True`,
      `c.${section}.auth_state_groups_key = ${py(`oauth_user.${o.groupsClaim ?? "groups"}`)}`,
      `c.${section}.allowed_groups = ${pySet(o.allowedGroups)}`,
      `c.${section}.admin_groups = ${pySet(o.adminGroups)}`,
    );
  }
  if (o.kind === "github" && o.allowedGroups.length > 0) {
    lines.push(`c.${section}.allowed_organizations = ${pySet(o.allowedGroups)}`);
  }
  if (o.kind === "google" && o.hostedDomains.length > 0) {
    lines.push(
      "# Only these Workspace domains; with one, user names lose their @domain (strip_domain's default).",
      `c.${section}.hosted_domain = ${py(o.hostedDomains)}`,
    );
  }
  lines.push(
    o.enableAuthState
      ? "# The provider's tokens are kept, encrypted with JUPYTERHUB_CRYPT_KEY (from the hub's Secret)."
      : "# The provider's tokens are not kept (oauthEnableAuthState).",
    `c.Authenticator.enable_auth_state = ${py(o.enableAuthState)}`,
  );
  return lines;
}
