/**
 * Asks the cluster of the current kube context (KUBECONFIG or ~/.kube/config, as kubectl and the
 * Pulumi Kubernetes provider read it) what the pre-flight checks need, with @kubernetes/client-node.
 * Read-only, except the namespace dry runs, which the API server never persists.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  StorageV1Api,
  VersionApi,
  type V1Namespace,
} from "@kubernetes/client-node";
import { namespaceMetadata } from "../components/common";
import type { StackConfig } from "../stacks";
import { ourNamespaces, type ClusterFacts, type DryRunFacts, type Fact, type NamespaceFacts } from "./checks";

/** Every request is bounded: an unreachable API server must not hang the check. */
const requestTimeoutMs = 20_000;

export interface ClusterTarget {
  kubeConfig: KubeConfig;
  context: string;
  server: string;
}

/** The kube context `pulumi up` would use: `kubernetes:context` from the stack if set, else the current one. */
export function clusterTarget(context?: string): ClusterTarget {
  // Without any of these, client-node (like kubectl) falls back to http://localhost:8080: say so instead.
  const files = (process.env.KUBECONFIG ?? path.join(os.homedir(), ".kube", "config")).split(path.delimiter);
  if (!files.some((f) => f !== "" && fs.existsSync(f)) && !process.env.KUBERNETES_SERVICE_HOST) {
    throw new Error(
      `no kube config (${files.join(path.delimiter)}): set KUBECONFIG, or run gcloud container clusters get-credentials`,
    );
  }
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromDefault();
  if (context) kubeConfig.setCurrentContext(context);
  return {
    kubeConfig,
    context: kubeConfig.getCurrentContext(),
    server: kubeConfig.getCurrentCluster()?.server ?? "(no cluster in the kube config)",
  };
}

/** The API server's own message (its Status object), else the error's. */
function messageOf(err: unknown): string {
  if (err instanceof ApiException) {
    const body: unknown = err.body;
    if (typeof body === "string") {
      try {
        const status = JSON.parse(body) as { message?: string };
        if (status.message) return status.message;
      } catch {
        // not JSON: use it as it is
      }
      return body.trim() || `HTTP ${err.code}`;
    }
    return `HTTP ${err.code}`;
  }
  return err instanceof Error ? err.message : String(err);
}

async function bounded<T>(p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${requestTimeoutMs / 1000} s`)), requestTimeoutMs);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function ask<T>(p: () => Promise<T>): Promise<Fact<T>> {
  try {
    return { ok: true, value: await bounded(p()) };
  } catch (err: unknown) {
    return { ok: false, error: messageOf(err) };
  }
}

function notFound(err: unknown): boolean {
  return err instanceof ApiException && err.code === 404;
}

async function readNamespace(core: CoreV1Api, name: string): Promise<Fact<V1Namespace | undefined>> {
  try {
    return { ok: true, value: await bounded(core.readNamespace({ name })) };
  } catch (err: unknown) {
    return notFound(err) ? { ok: true, value: undefined } : { ok: false, error: messageOf(err) };
  }
}

/**
 * Creates the namespace as the program would, or relabels the existing one, as a server-side dry
 * run: Pod Security admission, admission webhooks and ValidatingAdmissionPolicies all see it, so
 * a policy that refuses our labels refuses this request too.
 */
async function dryRunNamespace(
  core: CoreV1Api,
  metadata: ReturnType<typeof namespaceMetadata>,
  existing: V1Namespace | undefined,
): Promise<Fact<DryRunFacts>> {
  try {
    if (existing) {
      const body: V1Namespace = {
        ...existing,
        metadata: {
          ...existing.metadata,
          labels: { ...existing.metadata?.labels, ...metadata.labels },
          annotations: { ...existing.metadata?.annotations, ...metadata.annotations },
        },
      };
      await bounded(core.replaceNamespace({ name: metadata.name, body, dryRun: "All" }));
    } else {
      await bounded(core.createNamespace({ body: { apiVersion: "v1", kind: "Namespace", metadata }, dryRun: "All" }));
    }
    return { ok: true, value: { allowed: true } };
  } catch (err: unknown) {
    if (err instanceof ApiException && err.code >= 400 && err.code < 500) {
      return { ok: true, value: { allowed: false, code: err.code, message: messageOf(err) } };
    }
    return { ok: false, error: messageOf(err) };
  }
}

/** The server's version; throws when the API server cannot be reached (nothing else is asked then). */
export async function serverVersion(target: ClusterTarget): Promise<string> {
  try {
    return (await bounded(target.kubeConfig.makeApiClient(VersionApi).getCode())).gitVersion;
  } catch (err: unknown) {
    throw new Error(`cannot reach the API server of context ${target.context} (${target.server}): ${messageOf(err)}`);
  }
}

export async function gatherFacts(target: ClusterTarget, cfg: StackConfig, stack: string): Promise<ClusterFacts> {
  const kc = target.kubeConfig;
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const storage = kc.makeApiClient(StorageV1Api);
  const version = await serverVersion(target);

  const [daemonSets, storageClasses, nodeZones, csiDrivers] = await Promise.all([
    ask(async () =>
      (await apps.listDaemonSetForAllNamespaces()).items.map((d) => `${d.metadata?.namespace}/${d.metadata?.name}`),
    ),
    ask(async () =>
      (await storage.listStorageClass()).items.map((sc) => ({
        name: sc.metadata?.name ?? "",
        provisioner: sc.provisioner,
        reclaimPolicy: sc.reclaimPolicy ?? "Delete",
        allowVolumeExpansion: sc.allowVolumeExpansion === true,
        isDefault: sc.metadata?.annotations?.["storageclass.kubernetes.io/is-default-class"] === "true",
      })),
    ),
    ask(async () =>
      (await core.listNode()).items.map((n) => ({
        node: n.metadata?.name ?? "",
        zone: n.metadata?.labels?.["topology.kubernetes.io/zone"],
        gkeZone: n.metadata?.labels?.["topology.gke.io/zone"],
      })),
    ),
    ask(async () => (await storage.listCSIDriver()).items.map((d) => d.metadata?.name ?? "")),
  ]);

  const namespaces: ClusterFacts["namespaces"] = {};
  const podSecurityDryRun: ClusterFacts["podSecurityDryRun"] = {};
  for (const { name, role } of ourNamespaces(cfg)) {
    const ns = await readNamespace(core, name);
    namespaces[name] = ns.ok
      ? {
          ok: true,
          value:
            ns.value &&
            ({
              labels: ns.value.metadata?.labels ?? {},
              annotations: ns.value.metadata?.annotations ?? {},
              phase: ns.value.status?.phase ?? "",
            } satisfies NamespaceFacts),
        }
      : ns;
    podSecurityDryRun[name] = ns.ok
      ? await dryRunNamespace(core, namespaceMetadata(role, name, stack), ns.value)
      : { ok: false, error: ns.error };
  }
  return { version, daemonSets, storageClasses, nodeZones, csiDrivers, namespaces, podSecurityDryRun };
}
