import { createHmac } from "node:crypto";
import type * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

/** Labels every object of ours carries; `component` also serves as the pod selector. */
export function labelsFor(component: string, instance: string): Record<string, string> {
  return {
    "app.kubernetes.io/name": component,
    "app.kubernetes.io/instance": instance,
    "app.kubernetes.io/part-of": "jupyterhub-nfs",
    "app.kubernetes.io/managed-by": "pulumi",
  };
}

/** The annotation on our namespaces naming the stack that made them; `npm run preflight` reads it. */
export const stackAnnotation = "jupyterhub-nfs/stack";

/**
 * Pod Security level of each of our namespaces. KubeSpawner's user pods set no seccomp profile, so
 * the hub namespace enforces `baseline`; the hub, proxy and browser themselves meet `restricted`.
 * The NFS server needs `privileged`, alone in its namespace.
 */
export const podSecurityLevel = { hub: "baseline", nfs: "privileged" } as const;

/**
 * A namespace of ours: its Pod Security labels, the label that says it belongs to this project, and
 * the stack that made it, so that `npm run preflight` can tell ours from someone else's.
 */
export function namespaceMetadata(
  role: keyof typeof podSecurityLevel,
  name: string,
  stack: string,
): { name: string; labels: Record<string, string>; annotations: Record<string, string> } {
  return {
    name,
    labels: {
      "app.kubernetes.io/part-of": "jupyterhub-nfs",
      "pod-security.kubernetes.io/enforce": podSecurityLevel[role],
      // Warn about anything short of `restricted`, so drift shows up in `kubectl` output.
      "pod-security.kubernetes.io/warn": "restricted",
      "pod-security.kubernetes.io/audit": "restricted",
    },
    annotations: { [stackAnnotation]: stack },
  };
}

/** The subset of labelsFor that selects a component's pods (stable: selectors are immutable). */
export function selectorFor(component: string, instance: string): Record<string, string> {
  return {
    "app.kubernetes.io/name": component,
    "app.kubernetes.io/instance": instance,
  };
}

/** Pod-level settings for a pod that satisfies Pod Security `restricted`, running as `uid`. */
export function restrictedPodSecurity(uid: number, gid: number): k8s.types.input.core.v1.PodSecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: uid,
    runAsGroup: gid,
    fsGroup: gid,
    seccompProfile: { type: "RuntimeDefault" },
  };
}

/** Container-level settings for Pod Security `restricted`: no escalation, no capabilities. */
export const restrictedContainerSecurity: k8s.types.input.core.v1.SecurityContext = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ["ALL"] },
};

/** Tells the Kubernetes provider not to await the object's readiness (create and update; deletes are still awaited). */
export const skipAwait = { "pulumi.com/skipAwait": "true" } as const;

/**
 * The await annotation of a Service of ours. The Kubernetes provider's (v4) await of a Service
 * with a selector proves nothing about its pods: it succeeds 10 s after the last change to the
 * Service's Endpoints whenever no address in them is not-ready, with no ready address at all
 * (pkg/await/service.go: `serviceReady && endpointsSettled && !endpointsPending`); the hub's
 * Service passes it before the hub's pod exists. So every Service cost `pulumi up` a 10 s sleep,
 * and whatever used its name or address (the NFS PersistentVolume, the hub's config, the proxy)
 * waited for it. That the pods behind a Service are Ready is what their Deployment's await checks;
 * the NFS volume waits for the NFS server's Deployment (components/storage/nfsServer.ts). A
 * LoadBalancer Service keeps the await: it waits for the address users reach it at.
 */
export function serviceAwait(type: string): Record<string, string> | undefined {
  return type === "LoadBalancer" ? undefined : { ...skipAwait };
}

/** A Service's in-cluster DNS name (resolvable by pods, not by the kubelet on the node). */
export function serviceHost(service: k8s.core.v1.Service): pulumi.Output<string> {
  return pulumi.interpolate`${service.metadata.name}.${service.metadata.namespace}.svc`;
}

/**
 * Where a Service can be reached: the load balancer's address once it has one, else its
 * in-cluster DNS name (reach it with `kubectl port-forward`).
 */
export function serviceUrl(service: k8s.core.v1.Service, type: string): pulumi.Output<string> {
  if (type === "LoadBalancer") {
    return service.status.loadBalancer.ingress.apply((ingress) => `http://${ingress[0].ip ?? ingress[0].hostname}/`);
  }
  return pulumi.interpolate`http://${serviceHost(service)}/`;
}

/** Pod template annotation whose change rolls the pods when a Secret they read changes. */
export const secretChecksumAnnotation = "jupyterhub-nfs/secret-checksum";

/**
 * A digest of the Secret values a pod reads, for its template annotations: Kubernetes does not
 * restart pods when a Secret behind their environment changes, so a changed digest rolls them.
 * A plain hash of a low-entropy value (an LDAP password) could be guessed back from the digest by
 * anyone who may read Deployments, so it is an HMAC keyed with a random secret of the component
 * (the hub's cookie secret, the test LDAP admin password) that no pod template shows. The digest
 * reveals nothing without that key, so it is published unsecret; its inputs stay secret in the state.
 */
export function secretChecksum(
  key: pulumi.Input<string>,
  values: Record<string, pulumi.Input<string>>,
): pulumi.Output<string> {
  return pulumi.unsecret(
    pulumi.all([key, pulumi.all(values)]).apply(([k, v]) => {
      const entries = Object.keys(v)
        .sort()
        .map((name) => [name, v[name]]);
      return createHmac("sha256", k).update(JSON.stringify(entries)).digest("hex");
    }),
  );
}

/**
 * Options for the children of a component whose resources used to be its parent's own children
 * (a component split in parts): the alias keeps their old URNs, so existing stacks update them in
 * place instead of deleting and creating them (a database claim, a cookie secret).
 */
export function movedChildOptions(
  component: pulumi.ComponentResource,
  opts: pulumi.ComponentResourceOptions | undefined,
): pulumi.CustomResourceOptions {
  return { parent: component, ...(opts?.parent && { aliases: [{ parent: opts.parent }] }) };
}
