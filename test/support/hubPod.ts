import assert from "node:assert/strict";
import type { Rendering } from "../../render";
import type { JsonObject } from "../../render/mocks";

const obj = (v: unknown): JsonObject =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? (v as JsonObject) : {};
const list = (v: unknown): JsonObject[] => (Array.isArray(v) ? (v as JsonObject[]) : []);
const nameOf = (m: JsonObject) => String(obj(m.metadata).name);
const namespaceOf = (m: JsonObject) => String(obj(m.metadata).namespace);

/** What the hub pod sees: its jupyterhub_config.py, its container, and the environment Kubernetes gives it. */
export interface HubPod {
  configText: string;
  /** Every file of the config ConfigMap (jupyterhub_config.py and the hubExtraConfig snippets it runs). */
  configFiles: Record<string, string>;
  container: JsonObject;
  volumes: JsonObject[];
  /** The container's env with each secretKeyRef resolved from the rendered Secret. */
  env: Record<string, string>;
  /** Names of the variables that come from a Secret. */
  fromSecret: Set<string>;
  /** Every value in the Secrets the hub reads its env from. */
  secretValues: string[];
  rendering: Rendering;
}

export function hubPodOf(r: Rendering): HubPod {
  const configMaps = r.manifests.filter(
    (m) => m.kind === "ConfigMap" && typeof obj(m.data)["jupyterhub_config.py"] === "string",
  );
  assert.equal(configMaps.length, 1, "expected one ConfigMap with jupyterhub_config.py");
  const cm = configMaps[0];
  const spec = (d: JsonObject) => obj(obj(obj(d.spec).template).spec);
  const deployments = r.manifests.filter(
    (m) => m.kind === "Deployment" && list(spec(m).volumes).some((v) => obj(v.configMap).name === nameOf(cm)),
  );
  assert.equal(deployments.length, 1, `expected one Deployment mounting ConfigMap ${nameOf(cm)}`);
  const pod = spec(deployments[0]);
  const volume = list(pod.volumes).find((v) => obj(v.configMap).name === nameOf(cm));
  const container = list(pod.containers).find((c) => list(c.volumeMounts).some((vm) => vm.name === volume?.name));
  assert.ok(container, "no hub container mounts the config");

  const env: Record<string, string> = {};
  const fromSecret = new Set<string>();
  const secretValues: string[] = [];
  for (const e of list(container.env)) {
    const name = String(e.name);
    if (typeof e.value === "string") env[name] = e.value;
    const ref = obj(obj(e.valueFrom).secretKeyRef);
    if (ref.name !== undefined) {
      const secret = r.manifests.find(
        (m) => m.kind === "Secret" && nameOf(m) === ref.name && namespaceOf(m) === namespaceOf(deployments[0]),
      );
      assert.ok(secret, `env ${name} refers to Secret ${String(ref.name)}, which is not rendered`);
      const value = obj(secret.stringData)[String(ref.key)];
      assert.equal(typeof value, "string", `Secret ${String(ref.name)} has no key ${String(ref.key)}`);
      env[name] = String(value);
      fromSecret.add(name);
      for (const v of Object.values(obj(secret.stringData))) secretValues.push(String(v));
    }
  }
  return {
    configText: String(obj(cm.data)["jupyterhub_config.py"]),
    configFiles: Object.fromEntries(Object.entries(obj(cm.data)).map(([k, v]) => [k, String(v)])),
    container,
    volumes: list(pod.volumes),
    env,
    fromSecret,
    secretValues,
    rendering: r,
  };
}

/**
 * The content of the file at `path` in the hub container, when a Secret volume puts it there (the
 * volume's mountPath plus the Secret's key); throws, naming what is missing, otherwise.
 */
export function secretFileAt(hub: HubPod, path: string): string {
  const mount = list(hub.container.volumeMounts).find((vm) => path.startsWith(`${String(vm.mountPath)}/`));
  assert.ok(mount, `${path} is not on a volume mounted in the hub container`);
  const volume = hub.volumes.find((v) => v.name === mount.name);
  const secretName = obj(volume?.secret).secretName;
  assert.ok(secretName, `${path} is not on a Secret volume`);
  const secret = hub.rendering.manifests.find((m) => m.kind === "Secret" && nameOf(m) === secretName);
  const key = path.slice(String(mount.mountPath).length + 1);
  const content = obj(secret?.stringData)[key];
  assert.equal(typeof content, "string", `Secret ${String(secretName)} has no key ${key}`);
  return String(content);
}
