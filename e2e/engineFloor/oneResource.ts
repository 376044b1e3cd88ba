import * as k8s from "@pulumi/kubernetes";

/**
 * The engine floor's second program (npm run bench): one ConfigMap through the same Kubernetes
 * provider as ours, so the floor includes loading that SDK and starting that plugin, and one
 * resource's create: nothing that waits for readiness.
 */
export default function program(): Record<string, unknown> {
  const cm = new k8s.core.v1.ConfigMap("engine-floor", {
    metadata: { namespace: "default" },
    data: { purpose: "the engine floor of npm run bench" },
  });
  return { name: cm.metadata.name };
}
