/**
 * Schemas for the GKE custom resources the HTTPS Ingress and the monitoring render. They are not in the Kubernetes
 * OpenAPI documents, and their CRDs are not published anywhere this machine can fetch them (GKE
 * installs them itself; the controllers' Go modules, k8s.io/ingress-gce and
 * github.com/GoogleCloudPlatform/gke-managed-certs, are not served by the Go module proxy). So these
 * are a STAND-IN, transcribed by hand from the controllers' Go types (JSON field names and types),
 * limited to the fields we might set and closed against anything else. A field GKE added or renamed
 * later would not be caught here; the API server on GKE checks the real CRD at `pulumi up`.
 */

type Schema = Record<string, unknown>;

const int = { type: "integer" };
const str = { type: "string" };
const closed = (properties: Record<string, Schema>, required: string[] = []): Schema => ({
  type: "object",
  properties,
  required,
  additionalProperties: false,
});

/** GMP's durations (the CRDs' `format: duration`, Go's time.ParseDuration): 30s, 5m, 1h30m. */
const duration = { type: "string", pattern: "^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$" };
const stringMap = { type: "object", additionalProperties: str };

export interface CustomResourceSchema {
  apiVersion: string;
  kind: string;
  /** Where the fields were transcribed from. */
  source: string;
  /** JSON Schema of `spec`. */
  spec: Schema;
}

export const gkeCustomResources: CustomResourceSchema[] = [
  {
    apiVersion: "networking.gke.io/v1beta1",
    kind: "FrontendConfig",
    source: "kubernetes/ingress-gce pkg/apis/frontendconfig/v1beta1/types.go (FrontendConfigSpec)",
    spec: closed({
      sslPolicy: str,
      redirectToHttps: closed(
        {
          enabled: { type: "boolean" },
          responseCodeName: {
            enum: ["MOVED_PERMANENTLY_DEFAULT", "FOUND", "TEMPORARY_REDIRECT", "PERMANENT_REDIRECT"],
          },
        },
        ["enabled"],
      ),
    }),
  },
  {
    apiVersion: "cloud.google.com/v1",
    kind: "BackendConfig",
    source: "kubernetes/ingress-gce pkg/apis/backendconfig/v1/types.go (BackendConfigSpec, HealthCheckConfig)",
    spec: closed({
      timeoutSec: int,
      healthCheck: closed({
        checkIntervalSec: int,
        timeoutSec: int,
        healthyThreshold: int,
        unhealthyThreshold: int,
        type: { enum: ["HTTP", "HTTPS", "HTTP2"] },
        port: int,
        requestPath: str,
      }),
    }),
  },
  {
    apiVersion: "networking.gke.io/v1",
    kind: "ManagedCertificate",
    source:
      "GoogleCloudPlatform/gke-managed-certs deploy/managedcertificates-crd.yaml (spec.domains: pattern, 63 characters)",
    spec: closed(
      {
        domains: {
          type: "array",
          minItems: 1,
          maxItems: 100,
          items: {
            type: "string",
            maxLength: 63,
            pattern: "^(([a-zA-Z0-9]+|[a-zA-Z0-9][-a-zA-Z0-9]*[a-zA-Z0-9])\\.)+[a-zA-Z][-a-zA-Z0-9]*[a-zA-Z0-9]\\.?$",
          },
        },
      },
      ["domains"],
    ),
  },
  // Google Cloud Managed Service for Prometheus. Its CRDs are not served by the Go module proxy
  // (github.com/GoogleCloudPlatform/prometheus-engine answers 403 there): transcribed from the
  // repository's CRD files at commit 2ffde4ec (2026-07-02), the fields we set, closed otherwise.
  {
    apiVersion: "monitoring.googleapis.com/v1",
    kind: "PodMonitoring",
    source:
      "GoogleCloudPlatform/prometheus-engine charts/operator/crds/monitoring.googleapis.com_podmonitorings.yaml (v1: selector, endpoints[1..10] port/path/interval/timeout/scheme/authorization)",
    spec: closed(
      {
        selector: closed({ matchLabels: stringMap }),
        endpoints: {
          type: "array",
          minItems: 1,
          maxItems: 10,
          items: closed(
            {
              port: { anyOf: [int, { type: "string", minLength: 1, maxLength: 253 }] },
              path: str,
              interval: duration,
              timeout: duration,
              scheme: { enum: ["http", "https"] },
              authorization: closed({
                // "Basic" is refused there (basicAuth is its own field).
                type: { type: "string", not: { const: "Basic" } },
                credentials: closed({
                  secret: closed({ name: str, key: str, namespace: str }, ["key", "name"]),
                }),
              }),
            },
            ["interval", "port"],
          ),
        },
      },
      ["endpoints", "selector"],
    ),
  },
  {
    apiVersion: "monitoring.googleapis.com/v1",
    kind: "Rules",
    source:
      "GoogleCloudPlatform/prometheus-engine charts/operator/crds/monitoring.googleapis.com_rules.yaml (v1: groups of name, interval, rules)",
    spec: closed(
      {
        groups: {
          type: "array",
          items: closed(
            {
              name: str,
              interval: duration,
              rules: {
                type: "array",
                minItems: 1,
                items: closed(
                  {
                    record: { type: "string", pattern: "^[a-zA-Z_:][a-zA-Z0-9_:]*$" },
                    alert: str,
                    expr: str,
                    for: duration,
                    labels: stringMap,
                    annotations: stringMap,
                  },
                  ["expr"],
                ),
              },
            },
            ["name", "rules"],
          ),
        },
      },
      ["groups"],
    ),
  },
];
