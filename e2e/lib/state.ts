import type { Deployment } from "@pulumi/pulumi/automation";

/** One resource of an exported stack, as far as the e2e test reads it. */
export interface StateResource {
  urn: string;
  type: string;
  id?: string;
  parent?: string;
  retainOnDelete?: boolean;
  protect?: boolean;
  outputs?: {
    metadata?: { name?: string; namespace?: string };
    [key: string]: unknown;
  };
}

export function stateResources(d: Deployment): StateResource[] {
  const deployment = d.deployment as { resources?: StateResource[] };
  return deployment.resources ?? [];
}

export function stackOutputs(d: Deployment): Record<string, unknown> {
  const stack = stateResources(d).find((r) => r.type === "pulumi:pulumi:Stack");
  return (stack?.outputs as Record<string, unknown> | undefined) ?? {};
}

/** A Kubernetes object the stack manages: its kubectl type argument and where it lives. */
export interface KubeRef {
  urn: string;
  /** `Kind` for the core group, `Kind.version.group` otherwise (kubectl accepts both). */
  kubectlType: string;
  kind: string;
  name: string;
  namespace?: string;
  retainOnDelete: boolean;
}

/** kubernetes:<group>/<version>:<Kind> -> KubeRef; undefined for providers and components. */
export function kubeRef(r: StateResource): KubeRef | undefined {
  const m = /^kubernetes:([\w.-]+)\/(\w+):(\w+)$/.exec(r.type);
  const name = r.outputs?.metadata?.name;
  if (!m || !name) return undefined;
  const [, group, version, kind] = m;
  // Pulumi's type tokens spell the API group as the API does (apps, rbac.authorization.k8s.io),
  // except the core group, which they call `core`.
  const g = group === "core" ? "" : group;
  return {
    urn: r.urn,
    kubectlType: g === "" ? kind : `${kind}.${version}.${g}`,
    kind,
    name,
    namespace: r.outputs?.metadata?.namespace,
    retainOnDelete: r.retainOnDelete === true,
  };
}

/** The last `::`-separated part of a URN's type chain, e.g. `kubernetes:core/v1:Service`. */
export function urnType(urn: string): string {
  return (urn.split("::")[2] ?? "").split("$").pop() ?? "";
}

export function urnName(urn: string): string {
  return urn.split("::")[3] ?? "";
}
