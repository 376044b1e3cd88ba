import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import {
  labelsFor,
  restrictedContainerSecurity,
  restrictedPodSecurity,
  secretChecksum,
  secretChecksumAnnotation,
  selectorFor,
  serviceHost,
  serviceUrl,
} from "../common";
import type { PodsOnPort } from "../network/pods";
import { renderHubConfig, userPodPort, userPodSelector, type HubSettings } from "./hubConfig";

export { renderHubConfig, type HubSettings, type LdapSettings } from "./hubConfig";

/** Hub settings as the component takes them: the URLs it derives itself are left out. */
export type HubConfigInput = Omit<
  HubSettings,
  "namespace" | "hubConnectUrl" | "proxyApiUrl" | "databasePath" | "publicUrl"
>;

export interface JupyterHubArgs {
  namespace: pulumi.Input<string>;
  hubImage: pulumi.Input<string>;
  proxyImage: pulumi.Input<string>;
  proxyServiceType: "ClusterIP" | "NodePort" | "LoadBalancer";
  /** Extra annotations on the `proxy-public` Service (e.g. for a load balancer in front of it). */
  proxyServiceAnnotations?: Record<string, string>;
  /** `https://<domain>/` when something in front of `proxy-public` serves the hub over HTTPS. */
  publicUrl?: string;
  /** Size and StorageClass ("" for the cluster default) of the hub's database claim. */
  dbSize: pulumi.Input<string>;
  dbStorageClassName: string;
  /** What goes into jupyterhub_config.py (LDAP, users, the single-user pods). */
  hub: pulumi.Input<HubConfigInput>;
  /** Password for the LDAP search user (lookup_dn), if any; kept in the hub Secret. */
  ldapSearchPassword?: pulumi.Input<string>;
  /**
   * PEM of the CA(s) the hub trusts for the LDAP server's certificate instead of the system bundle.
   * Kept in its own Secret, mounted into the hub, and named in jupyterhub_config.py by path only.
   */
  ldapCaCertificate?: pulumi.Input<string>;
}

/** The hub's own uid and gid in the k8s-hub image. */
const hubUid = 1000;
const hubPort = 8081;
const proxyPort = 8000;
const proxyApiPort = 8001;
const configDir = "/usr/local/etc/jupyterhub";
const dataDir = "/srv/jupyterhub";
const searchPasswordEnv = "LDAP_LOOKUP_DN_SEARCH_PASSWORD";
/** Where the LDAP CA Secret is mounted (not under configDir: that is a read-only ConfigMap volume). */
const ldapCaDir = "/etc/jupyterhub-ldap-ca";
const ldapCaKey = "ca.crt";

/**
 * JupyterHub with KubeSpawner and LDAPAuthenticator, and configurable-http-proxy as its own
 * Deployment. The hub may manage user pods in its namespace and nothing else.
 */
export class JupyterHub extends pulumi.ComponentResource {
  public readonly hubServiceName: pulumi.Output<string>;
  public readonly proxyServiceName: pulumi.Output<string>;
  /** Where users open the hub: the load balancer's address, or how to reach it. */
  public readonly url: pulumi.Output<string>;
  /** The generated jupyterhub_config.py (contains no secret). */
  public readonly configText: pulumi.Output<string>;
  /** The `proxy-public` Service's port, and what answers a health check on the proxy pod. */
  public readonly proxyServicePort = 80;
  public readonly proxyHealthCheck = { path: "/_chp_healthz", containerPort: proxyPort };
  /** The hub's pods and its API port (the proxy and the user pods call it). */
  public readonly hubPods: PodsOnPort;
  /** The proxy's pods, its public port and its API port (the hub's alone). */
  public readonly proxyPods: PodsOnPort & { apiPort: number };
  /** The user pods KubeSpawner starts, by the labels the hub config makes it set. */
  public readonly userPods: PodsOnPort = { selector: userPodSelector, port: userPodPort };

  constructor(name: string, args: JupyterHubArgs, opts?: pulumi.ComponentResourceOptions) {
    super("jupyterhub-nfs:hub:JupyterHub", name, {}, opts);
    const hubLabels = labelsFor("hub", name);
    const proxyLabels = labelsFor("proxy", name);
    const hubSelector = selectorFor("hub", name);
    const proxySelector = selectorFor("proxy", name);
    const child = { parent: this };
    this.hubPods = { selector: hubSelector, port: hubPort };
    this.proxyPods = { selector: proxySelector, port: proxyPort, apiPort: proxyApiPort };

    // RBAC: exactly what KubeSpawner uses with a shared, pre-made claim. No ClusterRole, no wildcard.
    const serviceAccount = new k8s.core.v1.ServiceAccount(
      `${name}-hub`,
      { metadata: { name: "hub", namespace: args.namespace, labels: hubLabels } },
      child,
    );
    const role = new k8s.rbac.v1.Role(
      `${name}-hub`,
      {
        metadata: { name: "hub", namespace: args.namespace, labels: hubLabels },
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
        metadata: { name: "hub", namespace: args.namespace, labels: hubLabels },
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
      "proxy-token": proxyToken.result,
    };
    if (args.ldapSearchPassword !== undefined) secretData["ldap-search-password"] = args.ldapSearchPassword;
    const secret = new k8s.core.v1.Secret(
      `${name}-hub`,
      {
        metadata: { name: "hub", namespace: args.namespace, labels: hubLabels },
        type: "Opaque",
        stringData: secretData,
      },
      child,
    );
    const fromSecret = (key: string): k8s.types.input.core.v1.EnvVarSource => ({
      secretKeyRef: { name: secret.metadata.name, key },
    });

    const hubService = new k8s.core.v1.Service(
      `${name}-hub`,
      {
        metadata: { name: "hub", namespace: args.namespace, labels: hubLabels },
        spec: {
          type: "ClusterIP",
          selector: hubSelector,
          ports: [{ name: "http", port: hubPort, targetPort: "http" }],
        },
      },
      child,
    );
    const proxyApiService = new k8s.core.v1.Service(
      `${name}-proxy-api`,
      {
        metadata: { name: "proxy-api", namespace: args.namespace, labels: proxyLabels },
        spec: {
          type: "ClusterIP",
          selector: proxySelector,
          ports: [{ name: "api", port: proxyApiPort, targetPort: "api" }],
        },
      },
      child,
    );

    // Auto-named like the config: a new CA gets a new Secret name, which rolls the hub.
    const ldapCa =
      args.ldapCaCertificate !== undefined
        ? new k8s.core.v1.Secret(
            `${name}-ldap-ca`,
            {
              metadata: { namespace: args.namespace, labels: hubLabels },
              type: "Opaque",
              stringData: { [ldapCaKey]: args.ldapCaCertificate },
            },
            child,
          )
        : undefined;

    const hubHost = serviceHost(hubService);
    const settings: pulumi.Output<HubSettings> = pulumi
      .all([args.hub, args.namespace, hubHost, serviceHost(proxyApiService)])
      .apply(([hub, namespace, host, proxyApiHost]) => ({
        ...hub,
        ldap: {
          ...hub.ldap,
          tlsCaFile: ldapCa ? `${ldapCaDir}/${ldapCaKey}` : undefined,
          lookupDn: hub.ldap.lookupDn && {
            ...hub.ldap.lookupDn,
            searchPasswordEnv: args.ldapSearchPassword !== undefined ? searchPasswordEnv : undefined,
          },
        },
        namespace,
        hubConnectUrl: `http://${host}:${hubPort}`,
        proxyApiUrl: `http://${proxyApiHost}:${proxyApiPort}`,
        databasePath: `${dataDir}/jupyterhub.sqlite`,
        publicUrl: args.publicUrl,
      }));
    this.configText = settings.apply(renderHubConfig);

    // Auto-named: a changed jupyterhub_config.py gets a new ConfigMap name, which rolls the hub.
    const config = new k8s.core.v1.ConfigMap(
      `${name}-hub-config`,
      { metadata: { namespace: args.namespace, labels: hubLabels }, data: { "jupyterhub_config.py": this.configText } },
      child,
    );

    // The sqlite database lives on its own small claim: not in /tmp, and not on NFS.
    const dbClaim = new k8s.core.v1.PersistentVolumeClaim(
      `${name}-hub-db`,
      {
        metadata: { name: "hub-db", namespace: args.namespace, labels: hubLabels },
        spec: {
          accessModes: ["ReadWriteOnce"],
          ...(args.dbStorageClassName !== "" ? { storageClassName: args.dbStorageClassName } : {}),
          resources: { requests: { storage: args.dbSize } },
        },
      },
      child,
    );

    const hubEnv: k8s.types.input.core.v1.EnvVar[] = [
      { name: "JPY_COOKIE_SECRET", valueFrom: fromSecret("cookie-secret") },
      { name: "CONFIGPROXY_AUTH_TOKEN", valueFrom: fromSecret("proxy-token") },
      { name: "PYTHONUNBUFFERED", value: "1" },
    ];
    if (args.ldapSearchPassword !== undefined) {
      hubEnv.push({ name: searchPasswordEnv, valueFrom: fromSecret("ldap-search-password") });
    }
    new k8s.apps.v1.Deployment(
      `${name}-hub`,
      {
        metadata: { name: "hub", namespace: args.namespace, labels: hubLabels },
        spec: {
          replicas: 1,
          // One hub owns the sqlite database (ReadWriteOnce): never two at once.
          strategy: { type: "Recreate" },
          selector: { matchLabels: hubSelector },
          template: {
            metadata: {
              labels: hubLabels,
              // The hub reads every key of the Secret: any change (e.g. a new LDAP search password) rolls it.
              annotations: { [secretChecksumAnnotation]: secretChecksum(cookieSecret.hex, secretData) },
            },
            spec: {
              serviceAccountName: serviceAccount.metadata.name,
              securityContext: restrictedPodSecurity(hubUid, hubUid),
              containers: [
                {
                  name: "hub",
                  image: args.hubImage,
                  // `args`, not `command`: the image's ENTRYPOINT is tini (["tini", "--"], z2jh 4.4.0
                  // images/hub/Dockerfile), which reaps children and forwards signals; its CMD is this
                  // command line without --upgrade-db. A new image may bring database migrations
                  // (JupyterHub 6 will): --upgrade-db applies them on start, after JupyterHub has copied
                  // the sqlite file to a timestamped backup beside it (z2jh passes it for sqlite-pvc too).
                  args: ["jupyterhub", "--config", `${configDir}/jupyterhub_config.py`, "--upgrade-db"],
                  workingDir: dataDir,
                  env: hubEnv,
                  ports: [{ name: "http", containerPort: hubPort }],
                  securityContext: restrictedContainerSecurity,
                  readinessProbe: { httpGet: { path: "/hub/health", port: "http" }, periodSeconds: 10 },
                  resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { memory: "1Gi" } },
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

    new k8s.apps.v1.Deployment(
      `${name}-proxy`,
      {
        metadata: { name: "proxy", namespace: args.namespace, labels: proxyLabels },
        spec: {
          replicas: 1,
          // As z2jh: each proxy keeps its routing table in memory, and during a rolling update the hub
          // would configure one proxy and then reach the other through the Service, and lose routes
          // (or cull servers it thinks unreachable). Recreate: one proxy at a time, the hub re-adds routes.
          strategy: { type: "Recreate" },
          selector: { matchLabels: proxySelector },
          template: {
            metadata: {
              labels: proxyLabels,
              // The proxy reads only the proxy token: other Secret changes leave it running.
              annotations: {
                [secretChecksumAnnotation]: secretChecksum(cookieSecret.hex, { "proxy-token": proxyToken.result }),
              },
            },
            spec: {
              automountServiceAccountToken: false,
              securityContext: restrictedPodSecurity(65534, 65534),
              containers: [
                {
                  name: "proxy",
                  image: args.proxyImage,
                  command: [
                    "configurable-http-proxy",
                    "--ip=",
                    `--port=${proxyPort}`,
                    "--api-ip=",
                    `--api-port=${proxyApiPort}`,
                    pulumi.interpolate`--default-target=http://${hubHost}:${hubPort}`,
                    pulumi.interpolate`--error-target=http://${hubHost}:${hubPort}/hub/error`,
                  ],
                  env: [{ name: "CONFIGPROXY_AUTH_TOKEN", valueFrom: fromSecret("proxy-token") }],
                  ports: [
                    { name: "http", containerPort: proxyPort },
                    { name: "api", containerPort: proxyApiPort },
                  ],
                  securityContext: restrictedContainerSecurity,
                  readinessProbe: { httpGet: { path: this.proxyHealthCheck.path, port: "http" }, periodSeconds: 10 },
                  resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "512Mi" } },
                },
              ],
            },
          },
        },
      },
      child,
    );

    const proxyPublic = new k8s.core.v1.Service(
      `${name}-proxy-public`,
      {
        metadata: {
          name: "proxy-public",
          namespace: args.namespace,
          labels: proxyLabels,
          annotations: args.proxyServiceAnnotations,
        },
        spec: {
          type: args.proxyServiceType,
          selector: proxySelector,
          ports: [{ name: "http", port: this.proxyServicePort, targetPort: "http" }],
        },
      },
      child,
    );

    this.hubServiceName = hubService.metadata.name;
    this.proxyServiceName = proxyPublic.metadata.name;
    this.url =
      args.publicUrl !== undefined ? pulumi.output(args.publicUrl) : serviceUrl(proxyPublic, args.proxyServiceType);
    this.registerOutputs({
      hubServiceName: this.hubServiceName,
      proxyServiceName: this.proxyServiceName,
      url: this.url,
      configText: this.configText,
    });
  }
}
