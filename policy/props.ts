/**
 * Reading resource properties as the engine sends them to a policy: plain JSON of unknown shape,
 * so every step checks what it finds instead of trusting a type.
 */

export type Json = Record<string, unknown>;

export function isRecord(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function record(v: unknown): Json {
  return isRecord(v) ? v : {};
}

export function records(v: unknown): Json[] {
  return Array.isArray(v) ? v.filter(isRecord) : [];
}

export function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

/** Where each workload type carries its pod template (a bare Pod is its own template). */
const podTemplatePaths: Record<string, string[]> = {
  "kubernetes:core/v1:Pod": [],
  "kubernetes:apps/v1:Deployment": ["spec", "template"],
  "kubernetes:apps/v1:StatefulSet": ["spec", "template"],
  "kubernetes:apps/v1:DaemonSet": ["spec", "template"],
  "kubernetes:apps/v1:ReplicaSet": ["spec", "template"],
  "kubernetes:batch/v1:Job": ["spec", "template"],
  "kubernetes:batch/v1:CronJob": ["spec", "jobTemplate", "spec", "template"],
};

/** The pod template (metadata and spec) of a workload resource, or undefined for any other type. */
export function podTemplateOf(type: string, props: Json): Json | undefined {
  const path = podTemplatePaths[type];
  if (!path) return undefined;
  let node: unknown = props;
  for (const step of path) node = record(node)[step];
  return record(node);
}

/** The pod spec of a workload resource, or undefined for any other type. */
export function podSpecOf(type: string, props: Json): Json | undefined {
  const template = podTemplateOf(type, props);
  return template && record(template.spec);
}
