import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { labelsFor } from "../common";
import { gcp } from "../gcp";

export interface HttpsIngressArgs {
  namespace: pulumi.Input<string>;
  /** The ClusterIP Service the load balancer sends requests to (container-native, through NEGs). */
  serviceName: pulumi.Input<string>;
  servicePort: number;
  /** The public DNS name users open; its A record must point at `address`. */
  domain: string;
  /**
   * Where the certificate comes from: a Google-managed certificate for `domain` (ManagedCertificate),
   * or a `kubernetes.io/tls` Secret the operator keeps in the namespace.
   */
  certificate: { kind: "managed" } | { kind: "secret"; secretName: string };
  /**
   * What answers 200 to the load balancer's health check: with container-native load balancing the
   * check goes to the pod, so this is the container's port, not the Service's.
   */
  healthCheck: { path: string; containerPort: number };
}

/** Names of the GKE objects the backend Service must point at (they are fixed, so known before creation). */
export const backendConfigName = "proxy-public";

/**
 * Annotations the backend Service needs: container-native load balancing (the pods are the
 * backends, so the Service stays ClusterIP and is never exposed in plain HTTP), and our
 * BackendConfig (health check and timeout).
 */
export const httpsIngressServiceAnnotations: Record<string, string> = {
  "cloud.google.com/neg": JSON.stringify({ ingress: true }),
  "cloud.google.com/backend-config": JSON.stringify({ default: backendConfigName }),
};

/**
 * The hub on the internet over HTTPS, GKE's conventional way: an external Application Load
 * Balancer made by the GKE Ingress controller (class `gce`) on a reserved global static address,
 * with a Google-managed certificate (or the operator's TLS Secret) and a FrontendConfig that
 * redirects HTTP to HTTPS. The FrontendConfig, BackendConfig and ManagedCertificate are GKE
 * custom resources (networking.gke.io, cloud.google.com): this component only works on GKE.
 */
export class HttpsIngress extends pulumi.ComponentResource {
  /** The reserved global IPv4 address: point the domain's A record here. */
  public readonly address: pulumi.Output<string>;
  /** `https://<domain>/`. */
  public readonly url: string;

  constructor(name: string, args: HttpsIngressArgs, opts?: pulumi.ComponentResourceOptions) {
    super("jupyterhub-nfs:hub:HttpsIngress", name, {}, opts);
    const labels = labelsFor("hub-ingress", name);
    const child = { parent: this };
    const metadata = (objectName: string) => ({ name: objectName, namespace: args.namespace, labels });

    const { compute } = gcp();
    // Reserved, so the address (and the DNS record pointing at it) survives the Ingress being re-created.
    const address = new compute.GlobalAddress(
      `${name}-address`,
      { description: `JupyterHub at ${args.domain}`, addressType: "EXTERNAL", ipVersion: "IPV4" },
      child,
    );

    const frontendConfig = new k8s.apiextensions.CustomResource(
      `${name}-frontend`,
      {
        apiVersion: "networking.gke.io/v1beta1",
        kind: "FrontendConfig",
        metadata: metadata(name),
        spec: { redirectToHttps: { enabled: true, responseCodeName: "MOVED_PERMANENTLY_DEFAULT" } },
      },
      child,
    );

    // The load balancer's defaults would break the hub: its health check asks `/` for a 200 (the
    // proxy answers `/` with a redirect), and it closes any request, WebSockets included (kernels),
    // after 30 s.
    new k8s.apiextensions.CustomResource(
      `${name}-backend`,
      {
        apiVersion: "cloud.google.com/v1",
        kind: "BackendConfig",
        metadata: metadata(backendConfigName),
        spec: {
          healthCheck: { type: "HTTP", requestPath: args.healthCheck.path, port: args.healthCheck.containerPort },
          timeoutSec: 86400,
        },
      },
      child,
    );

    const annotations: Record<string, pulumi.Input<string>> = {
      "kubernetes.io/ingress.class": "gce",
      "kubernetes.io/ingress.global-static-ip-name": address.name,
      "networking.gke.io/v1beta1.FrontendConfig": frontendConfig.metadata.name,
    };
    let tls: k8s.types.input.networking.v1.IngressTLS[] | undefined;
    if (args.certificate.kind === "managed") {
      const certificate = new k8s.apiextensions.CustomResource(
        `${name}-certificate`,
        {
          apiVersion: "networking.gke.io/v1",
          kind: "ManagedCertificate",
          metadata: metadata(name),
          spec: { domains: [args.domain] },
        },
        child,
      );
      annotations["networking.gke.io/managed-certificates"] = certificate.metadata.name;
    } else {
      tls = [{ hosts: [args.domain], secretName: args.certificate.secretName }];
    }

    new k8s.networking.v1.Ingress(
      `${name}-ingress`,
      {
        metadata: { ...metadata(name), annotations },
        spec: {
          tls,
          defaultBackend: { service: { name: args.serviceName, port: { number: args.servicePort } } },
        },
      },
      child,
    );

    this.address = address.address;
    this.url = `https://${args.domain}/`;
    this.registerOutputs({ address: this.address, url: this.url });
  }
}
