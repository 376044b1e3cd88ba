import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import {
  labelsFor,
  movedChildOptions,
  restrictedContainerSecurity,
  restrictedPodSecurity,
  secretChecksumAnnotation,
  selectorFor,
  serviceAwait,
  serviceUrl,
} from "../common";
import type { PodsOnPort } from "../network/pods";

export type ProxyServiceType = "ClusterIP" | "NodePort" | "LoadBalancer";

export interface ProxyArgs {
  namespace: pulumi.Input<string>;
  image: pulumi.Input<string>;
  /** The hub's in-cluster address and port: the proxy's default target and error pages. */
  hubHost: pulumi.Input<string>;
  hubPort: number;
  /** The Secret key holding the token the hub uses on the proxy's API, and a keyed digest of it. */
  token: { secretName: pulumi.Input<string>; key: string };
  tokenChecksum: pulumi.Input<string>;
  serviceType: ProxyServiceType;
  /** Extra annotations on the `proxy-public` Service (e.g. for a load balancer in front of it). */
  serviceAnnotations?: Record<string, string>;
  /** Serve configurable-http-proxy's Prometheus metrics on a port of their own (`metrics`, unauthenticated). */
  metrics?: boolean;
}

const proxyPort = 8000;
const apiPort = 8001;
/** Where the proxy serves its metrics when asked to (its public and API ports never serve them). */
const metricsPort = 8002;
/** The API Service's name is fixed, so the hub's config can name it before it exists. */
const apiServiceName = "proxy-api";

/** The URL of the proxy's REST API in `namespace`, where the hub adds and removes routes. */
export function proxyApiUrl(namespace: pulumi.Input<string>): pulumi.Output<string> {
  return pulumi.interpolate`http://${apiServiceName}.${namespace}.svc:${apiPort}`;
}

/**
 * configurable-http-proxy (z2jh's `proxy/`) as its own Deployment, with the `proxy-api` Service
 * the hub configures it through and the `proxy-public` Service users come in by.
 */
export class Proxy extends pulumi.ComponentResource {
  /** The `proxy-public` Service's port, and what answers a health check on the proxy pod. */
  public readonly servicePort = 80;
  public readonly healthCheck = { path: "/_chp_healthz", containerPort: proxyPort };
  /** The proxy's pods, its public port and its API port (the hub's alone). */
  public readonly pods: PodsOnPort & { apiPort: number; metricsPort?: number };
  public readonly serviceName: pulumi.Output<string>;
  /** Where users reach the proxy: the load balancer's address, or its in-cluster name. */
  public readonly url: pulumi.Output<string>;

  constructor(name: string, args: ProxyArgs, opts?: pulumi.ComponentResourceOptions) {
    super("jupyterhub-nfs:hub:Proxy", name, {}, opts);
    const labels = labelsFor("proxy", name);
    const selector = selectorFor("proxy", name);
    // Until the JupyterHub component was split in three, these were its own children.
    const child = movedChildOptions(this, opts);
    this.pods = { selector, port: proxyPort, apiPort, ...(args.metrics && { metricsPort }) };

    new k8s.core.v1.Service(
      `${name}-proxy-api`,
      {
        metadata: { name: apiServiceName, namespace: args.namespace, labels, annotations: serviceAwait("ClusterIP") },
        spec: { type: "ClusterIP", selector, ports: [{ name: "api", port: apiPort, targetPort: "api" }] },
      },
      child,
    );

    const hubUrl = pulumi.interpolate`http://${args.hubHost}:${args.hubPort}`;
    new k8s.apps.v1.Deployment(
      `${name}-proxy`,
      {
        metadata: { name: "proxy", namespace: args.namespace, labels },
        spec: {
          replicas: 1,
          // As z2jh: each proxy keeps its routing table in memory, and during a rolling update the hub
          // would configure one proxy and then reach the other through the Service, and lose routes
          // (or cull servers it thinks unreachable). Recreate: one proxy at a time, the hub re-adds routes.
          strategy: { type: "Recreate" },
          selector: { matchLabels: selector },
          template: {
            metadata: { labels, annotations: { [secretChecksumAnnotation]: args.tokenChecksum } },
            spec: {
              automountServiceAccountToken: false,
              securityContext: restrictedPodSecurity(65534, 65534),
              containers: [
                {
                  name: "proxy",
                  image: args.image,
                  command: [
                    "configurable-http-proxy",
                    "--ip=",
                    `--port=${proxyPort}`,
                    "--api-ip=",
                    `--api-port=${apiPort}`,
                    pulumi.interpolate`--default-target=${hubUrl}`,
                    pulumi.interpolate`--error-target=${hubUrl}/hub/error`,
                    ...(args.metrics ? ["--metrics-ip=", `--metrics-port=${metricsPort}`] : []),
                  ],
                  env: [
                    {
                      name: "CONFIGPROXY_AUTH_TOKEN",
                      valueFrom: { secretKeyRef: { name: args.token.secretName, key: args.token.key } },
                    },
                  ],
                  ports: [
                    { name: "http", containerPort: proxyPort },
                    { name: "api", containerPort: apiPort },
                    ...(args.metrics ? [{ name: "metrics", containerPort: metricsPort }] : []),
                  ],
                  securityContext: restrictedContainerSecurity,
                  readinessProbe: { httpGet: { path: this.healthCheck.path, port: "http" }, periodSeconds: 10 },
                  resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "512Mi" } },
                },
              ],
            },
          },
        },
      },
      child,
    );

    const publicAnnotations = { ...args.serviceAnnotations, ...serviceAwait(args.serviceType) };
    const proxyPublic = new k8s.core.v1.Service(
      `${name}-proxy-public`,
      {
        metadata: {
          name: "proxy-public",
          namespace: args.namespace,
          labels,
          annotations: Object.keys(publicAnnotations).length > 0 ? publicAnnotations : undefined,
        },
        spec: {
          type: args.serviceType,
          selector,
          ports: [{ name: "http", port: this.servicePort, targetPort: "http" }],
        },
      },
      child,
    );
    this.serviceName = proxyPublic.metadata.name;
    this.url = serviceUrl(proxyPublic, args.serviceType);
    this.registerOutputs({ serviceName: this.serviceName, url: this.url });
  }
}
