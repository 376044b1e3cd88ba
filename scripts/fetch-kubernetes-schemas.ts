/**
 * Downloads the Kubernetes API schemas the tests validate against (the `k8s.io/kubernetes` Go
 * module of each release in test/support/kubernetesSchema.ts) into the Go module cache, through
 * the Go module proxy. Run by scripts/setup.sh; does nothing for a release already there.
 */
import { kubernetesVersions, openApiDir } from "../test/support/kubernetesSchema";

for (const v of kubernetesVersions) {
  console.log(`Kubernetes ${v.minor} API schema (${v.why}): ${openApiDir(v.module)}`);
}
