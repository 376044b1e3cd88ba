import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parse, stringify } from "yaml";
import type { JsonObject } from "../../render/mocks";
import { gkeCustomResources } from "../support/gkeCustomResources";
import { KubernetesSchema, kubernetesVersions } from "../support/kubernetesSchema";
import { objectName, objectsOf, renderVariation, variations } from "../support/variations";

/** Each release's schema, loaded on first use (a few hundred milliseconds each). */
const schemas = new Map<string, KubernetesSchema>();
function schemaOf(v: (typeof kubernetesVersions)[number]): KubernetesSchema {
  let s = schemas.get(v.minor);
  if (!s) {
    s = KubernetesSchema.load(v.minor, v.module);
    // Not in the Kubernetes OpenAPI: GKE's CRDs, as a hand-transcribed stand-in (see gkeCustomResources.ts).
    for (const cr of gkeCustomResources) s.addCustomResource(cr);
    schemas.set(v.minor, s);
  }
  return s;
}

/** The object exactly as manifests.yaml carries it (what `kubectl apply -f` would read). */
const asWritten = (m: JsonObject) => parse(stringify(m, { lineWidth: 0 })) as JsonObject;

/** Every schema violation in a rendering, each line naming the object and the field. */
function violations(schema: KubernetesSchema, manifests: JsonObject[]): string[] {
  return manifests.flatMap((m) => schema.validate(asWritten(m)).map((e) => `${objectName(m)}: ${e}`));
}

for (const version of kubernetesVersions) {
  describe(`rendered manifests against the Kubernetes ${version.minor} API schema (${version.why}, ${version.module})`, () => {
    for (const v of variations()) {
      test(v.name, async () => {
        const r = await renderVariation(v);
        assert.ok(r.manifests.length > 0, "the rendering has no Kubernetes objects");
        const problems = violations(schemaOf(version), r.manifests);
        assert.equal(problems.length, 0, `schema violations:\n${problems.join("\n")}`);
      });
    }
  });
}

describe("the schema check itself fails on what the API server would reject or drop", () => {
  const [oldest, current] = kubernetesVersions.map(schemaOf);
  const stack = variations()[0];

  test("a misspelled field in a rendered Deployment is named, with the object", async () => {
    const r = await renderVariation(stack);
    const deployment = structuredClone(objectsOf(r, "Deployment")[0]);
    const container = (((deployment.spec as JsonObject).template as JsonObject).spec as JsonObject)
      .containers as JsonObject[];
    container[0].imagePullPolcy = "IfNotPresent";
    for (const schema of [oldest, current]) {
      assert.deepEqual(violations(schema, [deployment]), [
        `${objectName(deployment)}: spec.template.spec.containers[0].imagePullPolcy: unknown field "imagePullPolcy"`,
      ]);
    }
  });

  test("a wrong type in a rendered Service is named, with the object", async () => {
    const r = await renderVariation(stack);
    const service = structuredClone(objectsOf(r, "Service")[0]);
    const ports = (service.spec as JsonObject).ports as JsonObject[];
    ports[0].port = String(ports[0].port);
    assert.deepEqual(violations(current, [service]), [`${objectName(service)}: spec.ports[0].port: must be integer`]);
  });

  test("unknown metadata fields, missing required fields and unknown kinds are refused", () => {
    const pvc = {
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: { name: "x", label: { a: "b" } },
      spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
    };
    assert.deepEqual(current.validate(pvc), ['metadata.label: unknown field "label"']);
    const role = { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata: { name: "x" }, rules: [{}] };
    assert.deepEqual(current.validate(role), ["rules[0].verbs: required field missing"]);
    assert.deepEqual(current.validate({ apiVersion: "apps/v1", kind: "Deploymnet", metadata: { name: "x" } }), [
      `Kubernetes ${current.minor} has no kind Deploymnet in apps/v1`,
    ]);
  });

  test("GKE custom resources (stand-in schemas): a misspelled or mistyped field is named", async () => {
    const r = await renderVariation(variations().find((v) => v.stack === "prod") ?? stack);
    const frontend = structuredClone(objectsOf(r, "FrontendConfig")[0]);
    assert.ok(frontend, "the prod stack renders a FrontendConfig");
    const redirect = (frontend.spec as JsonObject).redirectToHttps as JsonObject;
    redirect.responseCode = "301";
    assert.deepEqual(violations(current, [frontend]), [
      `${objectName(frontend)}: spec.redirectToHttps.responseCode: unknown field "responseCode"`,
    ]);
    const backend = structuredClone(objectsOf(r, "BackendConfig")[0]);
    (backend.spec as JsonObject).timeoutSec = "1d";
    assert.deepEqual(violations(current, [backend]), [`${objectName(backend)}: spec.timeoutSec: must be integer`]);
    const certificate = structuredClone(objectsOf(r, "ManagedCertificate")[0]);
    (certificate.spec as JsonObject).domains = ["*.example.org"];
    assert.match(violations(current, [certificate]).join("\n"), /spec\.domains\[0\]: must match pattern/);
  });

  test("the two releases differ: a field added after the oldest one is refused there", () => {
    // Pod-level resources (PodSpec.resources) came in Kubernetes 1.32.
    const pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "x" },
      spec: { resources: { limits: { cpu: "1" } }, containers: [{ name: "c", image: "busybox:1.36" }] },
    };
    assert.deepEqual(current.validate(pod), []);
    assert.deepEqual(oldest.validate(pod), ['spec.resources: unknown field "resources"']);
  });
});
