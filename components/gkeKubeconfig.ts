import * as pulumi from "@pulumi/pulumi";
import { stringify } from "yaml";

/** What a kubeconfig for a GKE cluster needs of it: a `gcp.container.Cluster` has all of it. */
export interface GkeClusterInfo {
  name: pulumi.Input<string>;
  /** The control plane's address (without scheme). */
  endpoint: pulumi.Input<string>;
  masterAuth: pulumi.Input<{ clusterCaCertificate?: string }>;
}

/**
 * A kubeconfig for a GKE cluster, for a `k8s.Provider` in the same program: its endpoint and CA,
 * and credentials from `gke-gcloud-auth-plugin` (the plugin GKE documents for every client since
 * Kubernetes 1.26; it must be on PATH where `pulumi` runs, with Google credentials that may use
 * the cluster). No credential is in the kubeconfig itself, yet it is marked secret: it names the
 * cluster's address.
 */
export function gkeKubeconfig(cluster: GkeClusterInfo): pulumi.Output<string> {
  return pulumi.secret(
    pulumi.all([cluster.name, cluster.endpoint, cluster.masterAuth]).apply(([name, endpoint, auth]) => {
      const context = `gke-${name}`;
      return stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [
          {
            name: context,
            cluster: { server: `https://${endpoint}`, "certificate-authority-data": auth.clusterCaCertificate },
          },
        ],
        contexts: [{ name: context, context: { cluster: context, user: context } }],
        "current-context": context,
        users: [
          {
            name: context,
            user: {
              exec: {
                apiVersion: "client.authentication.k8s.io/v1beta1",
                command: "gke-gcloud-auth-plugin",
                provideClusterInfo: true,
                installHint:
                  "Install gke-gcloud-auth-plugin: gcloud components install gke-gcloud-auth-plugin " +
                  "(or Debian's google-cloud-cli-gke-gcloud-auth-plugin)",
              },
            },
          },
        ],
      });
    }),
  );
}
