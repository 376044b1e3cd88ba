import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { labelsFor } from "../common";
import type { HubMonitoringArgs } from "../monitoring";
import type { PodsOnPort } from "../network/pods";
import { Hub, type HubArgs, type HubConfigInput } from "./hub";
import { Proxy, proxyApiUrl, type ProxyServiceType } from "./proxy";
import { userPodPort, userPodSelector } from "./userServers";

export { Hub, type HubArgs, type HubConfigInput } from "./hub";
export { Proxy, type ProxyArgs } from "./proxy";
export { renderHubConfig, type HubSettings, type LdapSettings } from "./hubConfig";
export type { OAuthSettings } from "./oauthConfig";
export type { UserServerSettings } from "./userServers";
export { sharedDir, type CourseFolderSettings } from "./courseFolders";
export type { ImageChoice, Toleration, UserProfile } from "./profiles";

export interface JupyterHubArgs {
  namespace: pulumi.Input<string>;
  hubImage: pulumi.Input<string>;
  proxyImage: pulumi.Input<string>;
  proxyServiceType: ProxyServiceType;
  /** Extra annotations on the `proxy-public` Service (e.g. for a load balancer in front of it). */
  proxyServiceAnnotations?: Record<string, string>;
  /** `https://<domain>/` when something in front of `proxy-public` serves the hub over HTTPS. */
  publicUrl?: string;
  /** Size and StorageClass ("" for the cluster default) of the hub's database claim. */
  dbSize: pulumi.Input<string>;
  dbStorageClassName: string;
  /** The hub container's CPU and memory request and memory limit (see HubArgs). */
  hubResources: HubArgs["resources"];
  /** What goes into jupyterhub_config.py (LDAP, users, the single-user pods). */
  hub: pulumi.Input<HubConfigInput>;
  /** Password for the LDAP search user (lookup_dn), if any; kept in the hub Secret. */
  ldapSearchPassword?: pulumi.Input<string>;
  /** PEM of the CA(s) the hub trusts for the LDAP server's certificate (see HubArgs). */
  ldapCaCertificate?: pulumi.Input<string>;
  /** The OAuth provider's client secret, with `hub.oauth` (see HubArgs). */
  oauthClientSecret?: pulumi.Input<string>;
  /** Keep the OAuth provider's tokens, encrypted with a generated JUPYTERHUB_CRYPT_KEY (see HubArgs). */
  authState?: boolean;
  /**
   * A Kubernetes ServiceAccount of their own for the user pods (`singleuser`; its token is never
   * mounted), for Workload Identity Federation: Cloud Storage FUSE mounts a bucket with its Google
   * token. `googleServiceAccount` (an email): the Google service account it acts as; unset, grant
   * the bucket to the ServiceAccount's own principal.
   */
  userServiceAccount?: { googleServiceAccount?: string };
  /**
   * Metrics for a scraper (GKE's Managed Service for Prometheus): the hub's `/hub/metrics` with a
   * `read:metrics` token kept in its own Secret, and the proxy's metrics port.
   */
  metrics?: boolean;
}

/** The JupyterHub service name of the metrics scraper, whose token has the read:metrics scope. */
const metricsScraper = "gmp-collector";

/**
 * JupyterHub as z2jh lays it out: the hub (KubeSpawner, LDAPAuthenticator, its database), the
 * proxy as its own Deployment, and the user servers KubeSpawner starts (userServers.ts, told to
 * the hub through its config). The hub may manage user pods in its namespace and nothing else.
 */
export class JupyterHub extends pulumi.ComponentResource {
  public readonly hubServiceName: pulumi.Output<string>;
  public readonly proxyServiceName: pulumi.Output<string>;
  /** Where users open the hub: the public URL, the load balancer's address, or how to reach it. */
  public readonly url: pulumi.Output<string>;
  /** The generated jupyterhub_config.py (contains no secret). */
  public readonly configText: pulumi.Output<string>;
  /** The `proxy-public` Service's port, and what answers a health check on the proxy pod. */
  public readonly proxyServicePort: number;
  public readonly proxyHealthCheck: { path: string; containerPort: number };
  public readonly hubPods: PodsOnPort;
  public readonly proxyPods: PodsOnPort & { apiPort: number; metricsPort?: number };
  /** The user pods KubeSpawner starts, by the labels the hub config makes it set. */
  public readonly userPods: PodsOnPort = { selector: userPodSelector, port: userPodPort };
  /** `namespace/name` of the user pods' own ServiceAccount, when they have one (userServiceAccount). */
  public readonly userServiceAccount?: pulumi.Output<string>;
  /** What a scraper reads, when `metrics` is on: the hub's metrics (with its token) and the proxy's. */
  public readonly metrics?: Pick<HubMonitoringArgs, "hub" | "proxy">;

  constructor(name: string, args: JupyterHubArgs, opts?: pulumi.ComponentResourceOptions) {
    super("jupyterhub-nfs:hub:JupyterHub", name, {}, opts);
    const child = { parent: this };
    let hubConfig = args.hub;
    if (args.userServiceAccount) {
      const google = args.userServiceAccount.googleServiceAccount;
      const account = new k8s.core.v1.ServiceAccount(
        `${name}-singleuser`,
        {
          metadata: {
            name: "singleuser",
            namespace: args.namespace,
            labels: labelsFor("singleuser", name),
            ...(google !== undefined && { annotations: { "iam.gke.io/gcp-service-account": google } }),
          },
          // User code never talks to the Kubernetes API; Workload Identity needs no mounted token.
          automountServiceAccountToken: false,
        },
        child,
      );
      hubConfig = pulumi.all([args.hub, account.metadata.name]).apply(([hub, serviceAccountName]) => ({
        ...hub,
        singleuser: { ...hub.singleuser, serviceAccountName },
      }));
      this.userServiceAccount = pulumi.interpolate`${account.metadata.namespace}/${account.metadata.name}`;
    }
    const hub = new Hub(
      name,
      {
        namespace: args.namespace,
        image: args.hubImage,
        proxyApiUrl: proxyApiUrl(args.namespace),
        publicUrl: args.publicUrl,
        dbSize: args.dbSize,
        dbStorageClassName: args.dbStorageClassName,
        resources: args.hubResources,
        config: hubConfig,
        ldapSearchPassword: args.ldapSearchPassword,
        ldapCaCertificate: args.ldapCaCertificate,
        oauthClientSecret: args.oauthClientSecret,
        authState: args.authState,
        metricsScraper: args.metrics ? metricsScraper : undefined,
      },
      child,
    );
    const proxy = new Proxy(
      name,
      {
        namespace: args.namespace,
        image: args.proxyImage,
        hubHost: hub.host,
        hubPort: hub.pods.port,
        token: hub.proxyToken,
        tokenChecksum: hub.proxyTokenChecksum,
        serviceType: args.proxyServiceType,
        serviceAnnotations: args.proxyServiceAnnotations,
        metrics: args.metrics,
      },
      child,
    );
    if (hub.metrics) {
      this.metrics = {
        hub: { podSelector: hub.pods.selector, ...hub.metrics },
        proxy: { podSelector: proxy.pods.selector, port: "metrics", path: "/metrics" },
      };
    }

    this.hubPods = hub.pods;
    this.proxyPods = proxy.pods;
    this.proxyServicePort = proxy.servicePort;
    this.proxyHealthCheck = proxy.healthCheck;
    this.hubServiceName = hub.serviceName;
    this.proxyServiceName = proxy.serviceName;
    this.configText = hub.configText;
    this.url = args.publicUrl !== undefined ? pulumi.output(args.publicUrl) : proxy.url;
    this.registerOutputs({
      hubServiceName: this.hubServiceName,
      proxyServiceName: this.proxyServiceName,
      url: this.url,
      configText: this.configText,
    });
  }
}
