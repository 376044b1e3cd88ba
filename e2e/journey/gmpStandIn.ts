import { gmpApiVersion } from "../../components/monitoring";

interface Crd {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: object;
}

/** `crd/<name>`, as kubectl names it. */
export const crdName = (crd: Crd) => `crd/${crd.metadata.name}`;

/**
 * STAND-IN CustomResourceDefinitions for GKE Managed Service for Prometheus's `PodMonitoring` and
 * `Rules`, so that the journey's `pulumi up` can create them on the local API server. GMP's real
 * CRDs are not served by the Go module proxy (github.com/GoogleCloudPlatform/prometheus-engine
 * answers 403 there) and may not be copied into this repository, so these carry no schema: the API
 * server keeps whatever spec it is given. What checks the specs is the unit tests' schema,
 * transcribed from GMP's CRD files (test/support/gkeCustomResources.ts). No GMP operator or
 * collector runs here either: the journey scrapes the hub as the collector would (e2e/README.md).
 */
export function gmpStandInCrds(): Crd[] {
  const [group, version] = gmpApiVersion.split("/");
  return (["PodMonitoring", "Rules"] as const).map((kind) => {
    const plural = kind === "Rules" ? "rules" : "podmonitorings";
    return {
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name: `${plural}.${group}` },
      spec: {
        group,
        scope: "Namespaced",
        names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List` },
        versions: [
          {
            name: version,
            served: true,
            storage: true,
            schema: {
              openAPIV3Schema: {
                type: "object",
                properties: { spec: { type: "object", "x-kubernetes-preserve-unknown-fields": true } },
                required: ["spec"],
              },
            },
          },
        ],
      },
    };
  });
}
