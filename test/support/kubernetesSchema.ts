import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import Ajv, { type ErrorObject, type ValidateFunction } from "ajv";

/**
 * Kubernetes versions whose API schema every rendered object must satisfy: the oldest we claim,
 * and GKE's regular channel. Each is the `k8s.io/kubernetes` Go module of that release, whose
 * `api/openapi-spec/v3/*.json` are the OpenAPI v3 documents the API server itself publishes.
 * scripts/setup.sh downloads them into the Go module cache; nothing of them is committed.
 */
export const kubernetesVersions = [
  { minor: "1.30", module: "v1.30.14", why: "the oldest Kubernetes we claim" },
  { minor: "1.34", module: "v1.34.4", why: "GKE regular channel" },
] as const;

const kubernetesModule = "k8s.io/kubernetes";

type Schema = Record<string, unknown>;

/** Where the Go module cache keeps `k8s.io/kubernetes@<version>`, downloading it if it is not there yet. */
export function openApiDir(moduleVersion: string): string {
  const specDir = (moduleDir: string) => path.join(moduleDir, "api", "openapi-spec", "v3");
  const goEnv = { ...process.env, GOFLAGS: "-mod=mod", GO111MODULE: "on" };
  const cache = execFileSync("go", ["env", "GOMODCACHE"], { encoding: "utf8", env: goEnv }).trim();
  const cached = specDir(path.join(cache, `${kubernetesModule}@${moduleVersion}`));
  if (fs.existsSync(cached)) return cached;
  // Outside any Go module, so that no go.mod of ours is read or changed.
  const out = execFileSync("go", ["mod", "download", "-json", `${kubernetesModule}@${moduleVersion}`], {
    encoding: "utf8",
    env: goEnv,
    cwd: os.tmpdir(),
    maxBuffer: 16 * 1024 * 1024,
  });
  const info = JSON.parse(out) as { Dir?: string; Error?: string };
  if (!info.Dir) throw new Error(`go mod download ${kubernetesModule}@${moduleVersion}: ${info.Error ?? out}`);
  return specDir(info.Dir);
}

const isSchema = (v: unknown): v is Schema => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Walks every schema position of an OpenAPI schema (not property names, not annotations) and:
 * - closes objects that list their properties (`additionalProperties: false`), as kubeconform's
 *   strict mode does: the API server drops unknown fields silently, and that hides typos;
 * - points `$ref`s at the JSON Schema `definitions` of the merged document.
 */
function prepare(schema: Schema, extensions: Set<string>): void {
  for (const key of Object.keys(schema)) if (key.startsWith("x-")) extensions.add(key);
  if (typeof schema.$ref === "string") {
    schema.$ref = schema.$ref.replace("#/components/schemas/", "#/definitions/");
  }
  if (isSchema(schema.properties)) {
    for (const prop of Object.values(schema.properties)) if (isSchema(prop)) prepare(prop, extensions);
    if (schema.additionalProperties === undefined && schema["x-kubernetes-preserve-unknown-fields"] !== true) {
      schema.additionalProperties = false;
    }
  }
  if (isSchema(schema.additionalProperties)) prepare(schema.additionalProperties, extensions);
  if (isSchema(schema.items)) prepare(schema.items, extensions);
  if (isSchema(schema.not)) prepare(schema.not, extensions);
  for (const key of ["allOf", "anyOf", "oneOf"]) {
    const list = schema[key];
    if (Array.isArray(list)) for (const s of list) if (isSchema(s)) prepare(s, extensions);
  }
}

interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

/** `apiVersion` + `kind` as the schema's x-kubernetes-group-version-kind writes them. */
const gvkKey = (apiVersion: string, kind: string) =>
  `${apiVersion.includes("/") ? apiVersion : `/${apiVersion}`}/${kind}`;

/** A path into an object, `spec.template.spec.containers[0].image`, from Ajv's JSON pointer. */
function fieldPath(instancePath: string, extra?: string): string {
  const parts = instancePath
    .split("/")
    .slice(1)
    .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
  if (extra !== undefined) parts.push(extra);
  let out = "";
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : out === "" ? p : `.${p}`;
  return out === "" ? "(the object)" : out;
}

function describe(e: ErrorObject): string {
  if (e.keyword === "additionalProperties") {
    const field = (e.params as { additionalProperty: string }).additionalProperty;
    return `${fieldPath(e.instancePath, field)}: unknown field "${field}"`;
  }
  if (e.keyword === "required") {
    return `${fieldPath(e.instancePath, (e.params as { missingProperty: string }).missingProperty)}: required field missing`;
  }
  return `${fieldPath(e.instancePath)}: ${e.message ?? e.keyword}`;
}

/** The API schema of one Kubernetes release, able to validate any built-in object. */
export class KubernetesSchema {
  private readonly ajv: Ajv;
  private readonly kinds = new Map<string, string>();
  private readonly validators = new Map<string, ValidateFunction>();
  private readonly id: string;

  constructor(
    readonly minor: string,
    specDir: string,
  ) {
    const definitions: Record<string, Schema> = {};
    const extensions = new Set<string>();
    for (const file of fs.readdirSync(specDir).filter((f) => f.endsWith(".json"))) {
      const doc = JSON.parse(fs.readFileSync(path.join(specDir, file), "utf8")) as {
        components?: { schemas?: Record<string, Schema> };
      };
      for (const [name, schema] of Object.entries(doc.components?.schemas ?? {})) {
        if (name in definitions) continue; // the same type, listed by every group that uses it
        prepare(schema, extensions);
        definitions[name] = schema;
        const gvks = schema["x-kubernetes-group-version-kind"];
        if (Array.isArray(gvks) && gvks.length === 1) {
          const g = gvks[0] as GroupVersionKind;
          this.kinds.set(gvkKey(g.group === "" ? g.version : `${g.group}/${g.version}`, g.kind), name);
        }
      }
    }
    if (this.kinds.size === 0) throw new Error(`no Kubernetes kinds found in ${specDir}`);

    this.ajv = new Ajv({
      allErrors: true,
      strict: true,
      // Kubernetes types say `type: object` beside `properties` only some of the time.
      strictTypes: false,
      // `required` names properties defined in a referenced schema now and then.
      strictRequired: false,
    });
    // Kubernetes' OpenAPI extensions: annotations for clients, no validation meaning.
    for (const ext of extensions) this.ajv.addKeyword({ keyword: ext });
    const int = (bits: number) => ({
      type: "number" as const,
      validate: (n: number) => Number.isInteger(n) && Math.abs(n) <= 2 ** (bits - 1),
    });
    this.ajv.addFormat("int32", int(32));
    this.ajv.addFormat("int64", int(64));
    this.ajv.addFormat("double", { type: "number", validate: (n: number) => Number.isFinite(n) });
    this.ajv.addFormat("byte", /^[A-Za-z0-9+/]*={0,2}$/);
    this.ajv.addFormat("date-time", (s: string) => !Number.isNaN(Date.parse(s)));
    // IntOrString's own oneOf (integer or string) does the checking.
    this.ajv.addFormat("int-or-string", () => true);
    this.id = `kubernetes-${minor}`;
    this.ajv.addSchema({ $id: this.id, definitions });
  }

  /**
   * Lets `validate` check a custom resource: its `metadata` against this release's ObjectMeta, its
   * `spec` against the given schema, and nothing else at the top level.
   */
  addCustomResource(cr: { apiVersion: string; kind: string; spec: Record<string, unknown> }): void {
    const type = `custom-resource.${cr.apiVersion}.${cr.kind}`;
    this.kinds.set(gvkKey(cr.apiVersion, cr.kind), type);
    const objectMeta = `${this.id}#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta`;
    this.validators.set(
      type,
      this.ajv.compile({
        type: "object",
        properties: {
          apiVersion: { const: cr.apiVersion },
          kind: { const: cr.kind },
          metadata: { $ref: objectMeta },
          spec: cr.spec,
        },
        required: ["apiVersion", "kind", "metadata", "spec"],
        additionalProperties: false,
      }),
    );
  }

  /** The schema of the Kubernetes release of `moduleVersion` (e.g. v1.30.14), from the Go module cache. */
  static load(minor: string, moduleVersion: string): KubernetesSchema {
    return new KubernetesSchema(minor, openApiDir(moduleVersion));
  }

  /** The OpenAPI type name of an apiVersion/kind, or undefined when this release has no such kind. */
  typeOf(apiVersion: string, kind: string): string | undefined {
    return this.kinds.get(gvkKey(apiVersion, kind));
  }

  /** Every way `obj` breaks the schema, one line each naming the field; empty when it is valid. */
  validate(obj: Record<string, unknown>): string[] {
    const apiVersion = obj.apiVersion;
    const kind = obj.kind;
    if (typeof apiVersion !== "string" || typeof kind !== "string") return ["apiVersion and kind must be strings"];
    const type = this.typeOf(apiVersion, kind);
    if (!type) return [`Kubernetes ${this.minor} has no kind ${kind} in ${apiVersion}`];
    let validate = this.validators.get(type);
    if (!validate) {
      validate = this.ajv.compile({ $ref: `${this.id}#/definitions/${type}` });
      this.validators.set(type, validate);
    }
    if (validate(obj)) return [];
    return [...new Set((validate.errors ?? []).map(describe))];
  }
}
