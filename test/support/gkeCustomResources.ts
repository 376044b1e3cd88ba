/**
 * Schemas for the GKE custom resources the HTTPS Ingress renders. They are not in the Kubernetes
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
];
