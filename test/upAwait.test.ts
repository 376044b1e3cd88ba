import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { skipAwait } from "../components/common";
import { NfsServer } from "../components/storage/nfsServer";
import type { JsonObject } from "../render/mocks";
import { manifests, rendered } from "./support/rendered";

/**
 * What `pulumi up` waits for (issue 15 item 5). The Kubernetes provider's await of a ClusterIP
 * Service is a 10 s sleep that proves no pod Ready (components/common.ts serviceAwait), so our
 * ClusterIP Services skip it but the NFS server's (components/storage/nfsServer.ts says why), a
 * LoadBalancer keeps it (its address), and the NFS volume also waits for the NFS server's Deployment.
 */
describe("what pulumi up waits for", () => {
  for (const [stack, overrides] of [
    ["dev", []],
    ["prod", []],
    // Per-user quotas add the usage exporter's Service.
    ["prod", ["userQuotaDefault=10Gi"]],
    [
      "prod",
      [
        "fileBrowserServiceType=LoadBalancer",
        "hubDomain=",
        "proxyServiceType=LoadBalancer",
        "hubInsecureAllowPlainHttp=true",
      ],
    ],
  ] as const) {
    it(`skips the await of every ClusterIP Service but the NFS server's, and keeps a LoadBalancer's (${stack} ${overrides.join(" ")})`, async () => {
      const given: readonly string[] = overrides;
      const services = manifests(await rendered(stack, [...given]), "Service");
      assert.ok(services.length >= 5, `only ${services.length} Services rendered`);
      for (const s of services) {
        const meta = s.metadata as JsonObject;
        const annotations = (meta.annotations ?? {}) as Record<string, string>;
        const type = (s.spec as JsonObject).type;
        if (type === "LoadBalancer" || meta.name === "nfs-server") {
          assert.equal(
            annotations["pulumi.com/skipAwait"],
            undefined,
            `${String(meta.name)}: awaited (a LoadBalancer's address; the NFS Service: components/storage/nfsServer.ts)`,
          );
        } else {
          assert.equal(annotations["pulumi.com/skipAwait"], skipAwait["pulumi.com/skipAwait"], String(meta.name));
        }
      }
      if (given.includes("userQuotaDefault=10Gi")) {
        assert.ok(
          services.some((s) => (s.metadata as JsonObject).name === "nfs-server-usage"),
          "no usage exporter Service rendered",
        );
      }
      if (given.includes("proxyServiceType=LoadBalancer")) {
        assert.deepEqual(
          services
            .filter((s) => (s.spec as JsonObject).type === "LoadBalancer")
            .map((s) => (s.metadata as JsonObject).name)
            .sort(),
          ["file-browser", "proxy-public"],
        );
      }
    });
  }

  it("hands the NFS server's address on only once its Deployment is done (the pod Ready), not when the Service is made", async () => {
    // The provider reports a Deployment done when it is Available; here the Deployment's step is
    // made slow, and the address must not resolve before it ends.
    const ended: string[] = [];
    await pulumi.runtime.setMocks(
      {
        newResource: async (a: pulumi.runtime.MockResourceArgs) => {
          if (a.type === "kubernetes:apps/v1:Deployment") await new Promise((r) => setTimeout(r, 300));
          ended.push(a.type);
          const state =
            a.type === "kubernetes:core/v1:Service"
              ? { ...a.inputs, spec: { ...a.inputs.spec, clusterIP: "10.3.0.7" } }
              : a.inputs;
          return { id: `${a.name}-id`, state };
        },
        call: (a: pulumi.runtime.MockCallArgs) => a.inputs,
      },
      "up-await",
      "test",
      false,
    );
    const server = new NfsServer("nfs", {
      namespace: "nfs",
      image: "registry.k8s.io/e2e-test-images/volume/nfs:1.4.0",
      priorityClassName: "nfs-nfs-server",
      hostname: "nfs",
      claimName: "disk",
    });
    const ip = await new Promise<string>((resolve) => server.clusterIP.apply(resolve));
    assert.equal(ip, "10.3.0.7");
    assert.ok(ended.includes("kubernetes:core/v1:Service"), "the Service was made");
    assert.ok(
      ended.includes("kubernetes:apps/v1:Deployment"),
      "the address resolved before the Deployment's step ended",
    );
    await pulumi.runtime.disconnect();
  });

  it("loads @pulumi/gcp only when a GCP resource is made, not with the program", () => {
    // Its 160 modules cost every `pulumi preview` and `up` 0.2 s to over a second (components/gcp.ts).
    const probe =
      "require('./index.ts'); process.stdout.write(String(Object.keys(require.cache).some((k) => k.includes('/@pulumi/gcp/'))))";
    const root = path.join(__dirname, "..");
    assert.equal(
      execFileSync(process.execPath, ["--import", "tsx", "-e", probe], { cwd: root, encoding: "utf8" }),
      "false",
    );
  });
});
