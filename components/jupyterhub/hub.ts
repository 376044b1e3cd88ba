import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import {
  labelsFor,
  movedChildOptions,
  restrictedContainerSecurity,
  restrictedPodSecurity,
  secretChecksum,
  secretChecksumAnnotation,
  selectorFor,
  serviceAwait,
  serviceHost,
} from "../common";
import type { PodsOnPort } from "../network/pods";
import { snippetFiles } from "./hubExtraConfig";
import { renderHubConfig, type HubSettings } from "./hubConfig";
import { clientSecretEnv } from "./oauthConfig";

/** Hub settings as the component takes them: the URLs it derives itself are left out. */
export type HubConfigInput = Omit<
  HubSettings,
  "namespace" | "hubConnectUrl" | "proxyApiUrl" | "databasePath" | "publicUrl"
>;

export interface HubArgs {
  namespace: pulumi.Input<string>;
  image: pulumi.Input<string>;
  /** URL of the proxy's REST API, where the hub adds and removes routes. */
  proxyApiUrl: pulumi.Input<string>;
  /** `https://<domain>/` when something in front of the proxy serves the hub over HTTPS. */
  publicUrl?: string;
  /** Size and StorageClass ("" for the cluster default) of the hub's database claim. */
  dbSize: pulumi.Input<string>;
  dbStorageClassName: string;
  /** What goes into jupyterhub_config.py (LDAP, users, the single-user pods). */
  config: pulumi.Input<HubConfigInput>;
  /**
   * The hub container's CPU and memory request and its memory limit (Kubernetes quantities). No
   * CPU limit: the hub is one Python process, and a throttled hub stalls every login of a burst.
   */
  resources: { cpuGuarantee: string; memoryGuarantee: string; memoryLimit: string };
  /** Password for the LDAP search user (lookup_dn), if any; kept in the hub Secret. */
  ldapSearchPassword?: pulumi.Input<string>;
  /**
   * PEM of the CA(s) the hub trusts for the LDAP server's certificate instead of the system bundle.
   * Kept in its own Secret, mounted into the hub, and named in jupyterhub_config.py by path only.
   */
  ldapCaCertificate?: pulumi.Input<string>;
  /** The OAuth provider's client secret, when `config.oauth` is set; kept in the hub Secret. */
  oauthClientSecret?: pulumi.Input<string>;
  /**
   * Keep the OAuth provider's tokens (auth state): the hub Secret then also holds JUPYTERHUB_CRYPT_KEY,
   * generated once by @pulumi/random and stable across `pulumi up` (a new key would make every
   * user's stored auth state unreadable).
   */
  authState?: boolean;
  /**
   * Serve `/hub/metrics` to a scraper: a token of the `read:metrics` scope only (a JupyterHub service
   * of this name), kept in a Secret of its own that the scraper is given read access to.
   */
  metricsScraper?: string;
}

/** Where the hub serves its metrics to a scraper with the token in `tokenSecret`. */
export interface HubMetrics {
  path: string;
  /** The container port's name. */
  port: string;
  tokenSecret: { name: pulumi.Output<string>; key: string };
}

/** The hub's own uid and gid in the k8s-hub image. */
const hubUid = 1000;
const hubPort = 8081;
const configDir = "/usr/local/etc/jupyterhub";
const dataDir = "/srv/jupyterhub";
const searchPasswordEnv = "LDAP_LOOKUP_DN_SEARCH_PASSWORD";
/** Where the LDAP CA Secret is mounted (not under configDir: that is a read-only ConfigMap volume). */
const ldapCaDir = "/etc/jupyterhub-ldap-ca";
const ldapCaKey = "ca.crt";
/** The hub Secret's key holding the token the hub and the proxy share. */
const proxyTokenKey = "proxy-token";
/** The hub Secret's keys for the OAuth client secret and the auth state's encryption key. */
const oauthClientSecretKey = "oauth-client-secret";
const cryptKeyKey = "crypt-key";
/** The metrics token's Secret key, and the environment variable the hub reads it from. */
const metricsTokenKey = "token";
const metricsTokenEnv = "JUPYTERHUB_METRICS_TOKEN";

/**
 * The hub (z2jh's `hub/`): its ServiceAccount and Role, the Secret it shares with the proxy, its
 * Service, its database claim, jupyterhub_config.py and the Deployment that runs it.
 */
export class Hub extends pulumi.ComponentResource {
  /** The hub's pods and its API port (the proxy and the user pods call it). */
  public readonly pods: PodsOnPort;
  /** The hub Service's in-cluster DNS name; it listens on `pods.port`. */
  public readonly host: pulumi.Output<string>;
  public readonly serviceName: pulumi.Output<string>;
  /** Where the proxy finds the token it shares with the hub. */
  public readonly proxyToken: { secretName: pulumi.Output<string>; key: string };
  /** A keyed digest of the proxy token, for the proxy's pod annotations (see secretChecksum). */
  public readonly proxyTokenChecksum: pulumi.Output<string>;
  /** The generated jupyterhub_config.py (contains no secret). */
  public readonly configText: pulumi.Output<string>;
  /** Every file of the hub's config folder: jupyterhub_config.py and the hubExtraConfig snippets it runs. */
  public readonly configFiles: pulumi.Output<Record<string, string>>;
  /** Where a scraper reads the hub's metrics, when `metricsScraper` is set. */
  public readonly metrics?: HubMetrics;

  constructor(name: string, args: HubArgs, opts?: pulumi.ComponentResourceOptions) {
    super("jupyterhub-nfs:hub:Hub", name, {}, opts);
    const labels = labelsFor("hub", name);
    const selector = selectorFor("hub", name);
    // Until the JupyterHub component was split in three, these were its own children.
    const child = movedChildOptions(this, opts);
    this.pods = { selector, port: hubPort };

    // RBAC: exactly what KubeSpawner uses with a shared, pre-made claim. No ClusterRole, no wildcard.
    const serviceAccount = new k8s.core.v1.ServiceAccount(
      `${name}-hub`,
      { metadata: { name: "hub", namespace: args.namespace, labels } },
      child,
    );
    const role = new k8s.rbac.v1.Role(
      `${name}-hub`,
      {
        metadata: { name: "hub", namespace: args.namespace, labels },
        rules: [
          { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch", "create", "delete"] },
          { apiGroups: [""], resources: ["events"], verbs: ["get", "list", "watch"] },
        ],
      },
      child,
    );
    new k8s.rbac.v1.RoleBinding(
      `${name}-hub`,
      {
        metadata: { name: "hub", namespace: args.namespace, labels },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role.metadata.name },
        subjects: [{ kind: "ServiceAccount", name: serviceAccount.metadata.name, namespace: args.namespace }],
      },
      child,
    );

    // Generated once and kept in Pulumi state (encrypted), so they are stable across `pulumi up`.
    const cookieSecret = new random.RandomBytes(`${name}-cookie-secret`, { length: 32 }, child);
    const proxyToken = new random.RandomPassword(`${name}-proxy-token`, { length: 48, special: false }, child);
    const secretData: Record<string, pulumi.Input<string>> = {
      "cookie-secret": cookieSecret.hex,
      [proxyTokenKey]: proxyToken.result,
    };
    if (args.ldapSearchPassword !== undefined) secretData["ldap-search-password"] = args.ldapSearchPassword;
    if (args.oauthClientSecret !== undefined) secretData[oauthClientSecretKey] = args.oauthClientSecret;
    if (args.authState) {
      // 32 random bytes, hex: what JupyterHub's CryptKeeper takes.
      secretData[cryptKeyKey] = new random.RandomBytes(`${name}-crypt-key`, { length: 32 }, child).hex;
    }
    const secret = new k8s.core.v1.Secret(
      `${name}-hub`,
      { metadata: { name: "hub", namespace: args.namespace, labels }, type: "Opaque", stringData: secretData },
      child,
    );
    const fromSecret = (key: string): k8s.types.input.core.v1.EnvVarSource => ({
      secretKeyRef: { name: secret.metadata.name, key },
    });
    this.proxyToken = { secretName: secret.metadata.name, key: proxyTokenKey };
    // The proxy reads only the proxy token: other Secret changes leave it running.
    this.proxyTokenChecksum = secretChecksum(cookieSecret.hex, { [proxyTokenKey]: proxyToken.result });

    // The scraper's token has a Secret of its own: the collector is allowed to read it, and must
    // not read the cookie secret or the proxy token beside it.
    const metricsToken =
      args.metricsScraper !== undefined
        ? new random.RandomPassword(`${name}-metrics-token`, { length: 48, special: false }, child)
        : undefined;
    if (metricsToken) {
      const metricsSecret = new k8s.core.v1.Secret(
        `${name}-metrics-token`,
        {
          metadata: { name: "hub-metrics-token", namespace: args.namespace, labels },
          type: "Opaque",
          stringData: { [metricsTokenKey]: metricsToken.result },
        },
        child,
      );
      this.metrics = {
        path: "/hub/metrics",
        port: "http",
        tokenSecret: { name: metricsSecret.metadata.name, key: metricsTokenKey },
      };
    }

    const service = new k8s.core.v1.Service(
      `${name}-hub`,
      {
        metadata: { name: "hub", namespace: args.namespace, labels, annotations: serviceAwait("ClusterIP") },
        spec: { type: "ClusterIP", selector, ports: [{ name: "http", port: hubPort, targetPort: "http" }] },
      },
      child,
    );
    this.host = serviceHost(service);
    this.serviceName = service.metadata.name;

    // Auto-named like the config: a new CA gets a new Secret name, which rolls the hub.
    const ldapCa =
      args.ldapCaCertificate !== undefined
        ? new k8s.core.v1.Secret(
            `${name}-ldap-ca`,
            {
              metadata: { namespace: args.namespace, labels },
              type: "Opaque",
              stringData: { [ldapCaKey]: args.ldapCaCertificate },
            },
            child,
          )
        : undefined;

    const settings: pulumi.Output<HubSettings> = pulumi
      .all([args.config, args.namespace, this.host, args.proxyApiUrl])
      .apply(([hub, namespace, host, proxyApiUrl]) => ({
        ...hub,
        ldap: hub.ldap && {
          ...hub.ldap,
          tlsCaFile: ldapCa ? `${ldapCaDir}/${ldapCaKey}` : undefined,
          lookupDn: hub.ldap.lookupDn && {
            ...hub.ldap.lookupDn,
            searchPasswordEnv: args.ldapSearchPassword !== undefined ? searchPasswordEnv : undefined,
          },
        },
        namespace,
        hubConnectUrl: `http://${host}:${hubPort}`,
        proxyApiUrl,
        databasePath: `${dataDir}/jupyterhub.sqlite`,
        publicUrl: args.publicUrl,
        metricsScraper:
          args.metricsScraper !== undefined
            ? { serviceName: args.metricsScraper, tokenEnv: metricsTokenEnv }
            : undefined,
      }));
    this.configFiles = settings.apply((s): Record<string, string> => ({
      "jupyterhub_config.py": renderHubConfig(s),
      ...snippetFiles(s.extraConfig ?? []),
    }));
    this.configText = this.configFiles.apply((files) => files["jupyterhub_config.py"]);

    // Auto-named: a changed jupyterhub_config.py or snippet gets a new ConfigMap name, which rolls the hub.
    const config = new k8s.core.v1.ConfigMap(
      `${name}-hub-config`,
      { metadata: { namespace: args.namespace, labels }, data: this.configFiles },
      child,
    );

    // The sqlite database lives on its own small claim: not in /tmp, and not on NFS.
    const dbClaim = new k8s.core.v1.PersistentVolumeClaim(
      `${name}-hub-db`,
      {
        metadata: { name: "hub-db", namespace: args.namespace, labels },
        spec: {
          accessModes: ["ReadWriteOnce"],
          ...(args.dbStorageClassName !== "" ? { storageClassName: args.dbStorageClassName } : {}),
          resources: { requests: { storage: args.dbSize } },
        },
      },
      child,
    );

    const env: k8s.types.input.core.v1.EnvVar[] = [
      { name: "JPY_COOKIE_SECRET", valueFrom: fromSecret("cookie-secret") },
      { name: "CONFIGPROXY_AUTH_TOKEN", valueFrom: fromSecret(proxyTokenKey) },
      { name: "PYTHONUNBUFFERED", value: "1" },
    ];
    if (args.ldapSearchPassword !== undefined) {
      env.push({ name: searchPasswordEnv, valueFrom: fromSecret("ldap-search-password") });
    }
    if (args.oauthClientSecret !== undefined) {
      env.push({ name: clientSecretEnv, valueFrom: fromSecret(oauthClientSecretKey) });
    }
    if (args.authState) env.push({ name: "JUPYTERHUB_CRYPT_KEY", valueFrom: fromSecret(cryptKeyKey) });
    if (this.metrics) {
      const { name: secretName, key } = this.metrics.tokenSecret;
      env.push({ name: metricsTokenEnv, valueFrom: { secretKeyRef: { name: secretName, key } } });
    }
    new k8s.apps.v1.Deployment(
      `${name}-hub`,
      {
        metadata: { name: "hub", namespace: args.namespace, labels },
        spec: {
          replicas: 1,
          // One hub owns the sqlite database (ReadWriteOnce): never two at once.
          strategy: { type: "Recreate" },
          selector: { matchLabels: selector },
          template: {
            metadata: {
              labels,
              // The hub reads every key of the Secret: any change (e.g. a new LDAP search password) rolls it.
              // So does a new metrics token (the hub reads it at start-up only).
              annotations: {
                [secretChecksumAnnotation]: secretChecksum(cookieSecret.hex, {
                  ...secretData,
                  ...(metricsToken && { [metricsTokenEnv]: metricsToken.result }),
                }),
              },
            },
            spec: {
              serviceAccountName: serviceAccount.metadata.name,
              securityContext: restrictedPodSecurity(hubUid, hubUid),
              containers: [
                {
                  name: "hub",
                  image: args.image,
                  // `args`, not `command`: the image's ENTRYPOINT is tini (["tini", "--"], z2jh 4.4.0
                  // images/hub/Dockerfile), which reaps children and forwards signals; its CMD is this
                  // command line without --upgrade-db. A new image may bring database migrations
                  // (JupyterHub 6 will): --upgrade-db applies them on start, after JupyterHub has copied
                  // the sqlite file to a timestamped backup beside it (z2jh passes it for sqlite-pvc too).
                  args: ["jupyterhub", "--config", `${configDir}/jupyterhub_config.py`, "--upgrade-db"],
                  workingDir: dataDir,
                  env,
                  ports: [{ name: "http", containerPort: hubPort }],
                  securityContext: restrictedContainerSecurity,
                  readinessProbe: { httpGet: { path: "/hub/health", port: "http" }, periodSeconds: 10 },
                  resources: {
                    requests: { cpu: args.resources.cpuGuarantee, memory: args.resources.memoryGuarantee },
                    limits: { memory: args.resources.memoryLimit },
                  },
                  volumeMounts: [
                    { name: "config", mountPath: configDir, readOnly: true },
                    { name: "data", mountPath: dataDir },
                    { name: "tmp", mountPath: "/tmp" },
                    ...(ldapCa ? [{ name: "ldap-ca", mountPath: ldapCaDir, readOnly: true }] : []),
                  ],
                },
              ],
              volumes: [
                { name: "config", configMap: { name: config.metadata.name } },
                { name: "data", persistentVolumeClaim: { claimName: dbClaim.metadata.name } },
                { name: "tmp", emptyDir: {} },
                ...(ldapCa ? [{ name: "ldap-ca", secret: { secretName: ldapCa.metadata.name } }] : []),
              ],
            },
          },
        },
      },
      child,
    );

    this.registerOutputs({
      host: this.host,
      serviceName: this.serviceName,
      configText: this.configText,
      configFiles: this.configFiles,
    });
  }
}
