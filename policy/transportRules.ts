import type { ReportViolation, ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";
import { hubConfigTexts, lastSetting } from "./hubConfigText";
import { projectValue, type StackConfig } from "./stackConfig";

/**
 * Rules about what crosses the network in clear: the LDAP connection the hub sends every password
 * over, and the hub's own login page. Each may be opened only by a loudly named key of the stack's
 * config (`ldapTlsInsecureSkipVerify`, `hubInsecureAllowPlainHttp`), which the pack reads from the
 * stack's config as Pulumi hands it over, never from the resources themselves.
 */

type Json = Record<string, unknown>;
const record = (v: unknown): Json => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : {});

function qualifiedName(args: ResourceValidationArgs): string {
  const meta = record(args.props.metadata);
  const name = typeof meta.name === "string" ? meta.name : args.name;
  return typeof meta.namespace === "string" ? `${meta.namespace}/${name}` : name;
}

/** A host name only the cluster's DNS resolves: a Service of this cluster. */
const inClusterHost = /^"[a-z0-9-]+\.[a-z0-9-]+\.svc(\.cluster\.local)?"$/;

export function makeLdapTlsVerified(stack: StackConfig): ResourceValidationPolicy {
  return {
    name: "ldap-tls-verified",
    description:
      "The hub's jupyterhub_config.py, with the hubExtraConfig snippets it runs, talks to LDAP over TLS that verifies the server's certificate " +
      '(tls_kwargs validate=ssl.CERT_REQUIRED): no tls_strategy "insecure", no CERT_NONE, no TLS without ' +
      "tls_kwargs (ldap3 then checks nothing). Exceptions: the stack's ldapTlsInsecureSkipVerify, and the " +
      "in-cluster test server (ldapTestServer, plain LDAP to a Service of the same cluster).",
    enforcementLevel: "mandatory",
    validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
      if (args.type !== "kubernetes:core/v1:ConfigMap") return;
      for (const { key, text: value } of hubConfigTexts(args.props.data)) {
        if (!/^c\.JupyterHub\.authenticator_class\s*=\s*"ldap"/m.test(value)) continue;
        if (projectValue(stack, "ldapTlsInsecureSkipVerify") === "true") return;
        const where = `ConfigMap ${qualifiedName(args)} (${key})`;
        const strategy = lastSetting(value, "LDAPAuthenticator", "tls_strategy") ?? '"before_bind"';
        const server = lastSetting(value, "LDAPAuthenticator", "server_address") ?? "";
        if (strategy === '"insecure"') {
          const testServer = projectValue(stack, "ldapTestServer") === "true" && inClusterHost.test(server);
          if (!testServer) {
            reportViolation(
              `${where}: tls_strategy "insecure" sends every password to ${server || "the LDAP server"} in clear ` +
                "text. Use before_bind or on_connect, or set the stack's ldapTlsInsecureSkipVerify: true.",
            );
          }
          return;
        }
        const tlsKwargs = lastSetting(value, "LDAPAuthenticator", "tls_kwargs");
        if (
          !tlsKwargs ||
          !/"validate":\s*ssl\.CERT_REQUIRED\b/.test(tlsKwargs) ||
          /CERT_NONE|CERT_OPTIONAL/.test(tlsKwargs)
        ) {
          reportViolation(
            `${where}: LDAP over TLS (${strategy}) does not verify the server's certificate ` +
              `(tls_kwargs ${tlsKwargs ?? "unset: ldap3 defaults to CERT_NONE"}); whoever answers for ` +
              `${server || "the server"} collects the passwords. Set the stack's ldapTlsInsecureSkipVerify: true to allow it.`,
          );
        }
      }
    },
  };
}

/** The hub's own objects: what the JupyterHub component labels `hub` or `proxy`. */
const hubComponents = ["hub", "proxy"];

/** Annotations by which a GKE Ingress gets a certificate without `spec.tls`. */
const gkeCertificateAnnotations = [
  "networking.gke.io/managed-certificates",
  "ingress.gcp.kubernetes.io/pre-shared-cert",
];
const frontendConfigAnnotation = "networking.gke.io/v1beta1.FrontendConfig";

export function makeNoPlainHttpPublicHub(stack: StackConfig): ResourceValidationPolicy {
  const allowed = () => projectValue(stack, "hubInsecureAllowPlainHttp") === "true";
  return {
    name: "no-plain-http-public-hub",
    description:
      "The hub is reachable from outside the cluster only over HTTPS: no NodePort or LoadBalancer Service " +
      "for the hub or its proxy, and every Ingress has a certificate and redirects (or refuses) plain HTTP, " +
      "unless the stack sets hubInsecureAllowPlainHttp: true.",
    enforcementLevel: "mandatory",
    validateResource: [
      (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
        if (args.type !== "kubernetes:core/v1:Service" || allowed()) return;
        const component = record(record(args.props.metadata).labels)["app.kubernetes.io/name"];
        const type = record(args.props.spec).type;
        if (
          typeof component === "string" &&
          hubComponents.includes(component) &&
          (type === "LoadBalancer" || type === "NodePort")
        ) {
          reportViolation(
            `Service ${qualifiedName(args)} (${component}) is a ${type}: it serves the hub's login page in plain ` +
              "HTTP outside the cluster. Expose the hub with hubDomain (HTTPS), or set hubInsecureAllowPlainHttp: true.",
          );
        }
      },
      (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
        if (args.type !== "kubernetes:networking.k8s.io/v1:Ingress" || allowed()) return;
        const annotations = record(record(args.props.metadata).annotations);
        const tls = record(args.props.spec).tls;
        const hasCertificate =
          (Array.isArray(tls) && tls.length > 0) || gkeCertificateAnnotations.some((a) => annotations[a] !== undefined);
        if (!hasCertificate) {
          reportViolation(`Ingress ${qualifiedName(args)} has no certificate: it would serve plain HTTP only.`);
        }
        const httpOff = annotations["kubernetes.io/ingress.allow-http"] === "false";
        if (!httpOff && annotations[frontendConfigAnnotation] === undefined) {
          reportViolation(
            `Ingress ${qualifiedName(args)} also answers plain HTTP: name a FrontendConfig that redirects to HTTPS ` +
              `(${frontendConfigAnnotation}) or set kubernetes.io/ingress.allow-http: "false".`,
          );
        }
      },
      (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
        if (args.type !== "kubernetes:networking.gke.io/v1beta1:FrontendConfig" || allowed()) return;
        if (record(record(args.props.spec).redirectToHttps).enabled !== true) {
          reportViolation(
            `FrontendConfig ${qualifiedName(args)} does not redirect HTTP to HTTPS (spec.redirectToHttps.enabled).`,
          );
        }
      },
    ],
  };
}

/** The settings by which an OAuth authenticator reaches its provider: the tokens and identities cross them. */
const oauthUrlSettings = ["authorize_url", "token_url", "userdata_url"];
const oauthSections = ["GenericOAuthenticator", "GitHubOAuthenticator", "GoogleOAuthenticator", "OAuthenticator"];

/**
 * A production hub (one served on the internet over HTTPS: `c.JupyterHub.public_url` is https,
 * which hubDomain sets) reaches its OAuth provider over HTTPS only: the issuer whose discovery
 * document the hub reads at start-up (`OIDC_ISSUER`), and any endpoint written in the config. A
 * plain-http issuer is for a dev stack, whose hub is not public. The stack's schema refuses the same
 * before anything is deployed; this rule judges the ConfigMap itself, snippets included.
 */
export const oauthIssuerHttps: ResourceValidationPolicy = {
  name: "oauth-issuer-https",
  description:
    "A production hub (public_url https, from hubDomain) reaches its OAuth/OpenID Connect provider over HTTPS only: " +
    "the issuer it discovers its endpoints from (OIDC_ISSUER) and every authorize, token and userdata URL in its config.",
  enforcementLevel: "mandatory",
  validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
    if (args.type !== "kubernetes:core/v1:ConfigMap") return;
    for (const { key, text } of hubConfigTexts(args.props.data)) {
      const publicUrl = lastSetting(text, "JupyterHub", "public_url");
      if (!publicUrl?.startsWith('"https://')) continue;
      const where = `ConfigMap ${qualifiedName(args)} (${key})`;
      const issuer = [...text.matchAll(/^OIDC_ISSUER\s*=\s*(.+)$/gm)].at(-1)?.[1].trim();
      if (issuer !== undefined && !issuer.startsWith('"https://')) {
        reportViolation(
          `${where}: the production hub ${publicUrl} discovers its OpenID provider at ${issuer}, not over HTTPS.`,
        );
      }
      for (const section of oauthSections) {
        for (const setting of oauthUrlSettings) {
          const value = lastSetting(text, section, setting);
          if (value?.startsWith('"') && !value.startsWith('"https://')) {
            reportViolation(
              `${where}: the production hub ${publicUrl} sends its OAuth ${setting} to ${value}, not over HTTPS.`,
            );
          }
        }
      }
    }
  },
};
