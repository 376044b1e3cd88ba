import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { renderStack, type Rendering } from "../render";
import type { JsonObject } from "../render/mocks";
import { loadHubConfig } from "./support/hubConfigPython";
import { KubernetesSchema, kubernetesVersions } from "./support/kubernetesSchema";
import { at, manifest, manifests, rendered } from "./support/rendered";
import { images } from "../versions/images";

const nfsDeployment = (r: Rendering) => manifest(r, "Deployment", "nfs-server");
const nfsPod = (r: Rendering) => at(nfsDeployment(r), "spec", "template") as JsonObject;
const nfsContainer = (r: Rendering) => (at(nfsPod(r), "spec", "containers") as JsonObject[])[0];

function spawnerConfig(r: Rendering): Record<string, unknown> {
  const cm = r.manifests.find((m) => m.kind === "ConfigMap" && (m.data as JsonObject)["jupyterhub_config.py"]);
  assert.ok(cm, "no ConfigMap holds jupyterhub_config.py");
  const loaded = loadHubConfig(String((cm.data as JsonObject)["jupyterhub_config.py"]));
  assert.ok(loaded.ok, loaded.ok ? "" : loaded.error);
  return loaded.config.KubeSpawner;
}

for (const stack of ["dev", "prod"]) {
  describe(`the NFS server, sturdier (stack ${stack})`, () => {
    it("exports only the data folder, as the NFSv4 root the volume's path names", async () => {
      const r = await rendered(stack);
      const c = nfsContainer(r);
      // The image's ENTRYPOINT (run_nfs.sh) stays; its CMD (["/exports", "/"]) would export "/" too.
      assert.equal(c.image, images.nfs.reference);
      assert.equal(c.command, undefined);
      assert.deepEqual(images.nfs.process.cmd, ["/exports", "/"]);
      assert.deepEqual(c.args, ["/exports"]);
      assert.ok((c.volumeMounts as JsonObject[]).some((m) => m.mountPath === "/exports"));
      const pv = manifest(r, "PersistentVolume", "notebooks-pv-");
      assert.equal(at(pv, "spec", "nfs", "path"), "/", "with fsid=0, /exports is the NFSv4 pseudo-root: path /");
    });

    it("has a fixed host name, its NFSv4.1 server scope: a DNS-1123 label, the same in every pod and rendering", async () => {
      // Without spec.hostname a pod's host name is its own name, random for a Deployment's pods:
      // after a restart NFSv4.1 clients would see another server scope and skip state recovery
      // (e2e/kernelLab.test.ts shows it with a real kernel). This test keeps what the lab cannot:
      // that the name is fixed across renderings and ordinary config changes.
      const r = await rendered(stack);
      const hostname = at(nfsPod(r), "spec", "hostname");
      assert.equal(typeof hostname, "string", "the NFS server pod has no spec.hostname: it changes with every pod");
      assert.match(String(hostname), /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, "not a DNS-1123 label");
      // Every pod is made from the one template; the template is the same in a second rendering,
      // and under ordinary config changes (another image, a bigger disk, other hub settings).
      const again = await renderStack({ stack, overrides: [] });
      assert.equal(at(nfsPod(again), "spec", "hostname"), hostname, "a second rendering");
      const changed = await rendered(stack, [
        "nfsImage=registry.k8s.io/e2e-test-images/volume/nfs:1.5.0",
        "diskSize=300Gi",
        "cullIdleSeconds=7200",
      ]);
      assert.notDeepEqual(nfsContainer(changed).image, nfsContainer(r).image, "the override took");
      assert.equal(at(nfsPod(changed), "spec", "hostname"), hostname, "after ordinary config changes");
    });

    it("mounts with NFSv4.1, hard, and the TCP timeouts written down", async () => {
      const options = at(manifest(await rendered(stack), "PersistentVolume", "notebooks-pv-"), "spec", "mountOptions");
      assert.deepEqual(options, ["nfsvers=4.1", "hard", "timeo=600", "retrans=2"]);
    });

    it("runs with a PriorityClass of its own, above every other pod of ours", async () => {
      const r = await rendered(stack);
      const nfsNamespace = String(r.outputs.nfsNamespace);
      const classes = manifests(r, "PriorityClass");
      assert.equal(classes.length, 1);
      const cls = classes[0];
      assert.equal(at(cls, "metadata", "name"), `${nfsNamespace}-nfs-server`, "cluster-scoped: named per stack");
      assert.equal(at(nfsPod(r), "spec", "priorityClassName"), at(cls, "metadata", "name"));
      assert.equal(cls.globalDefault, false);
      assert.ok(Number(cls.value) > 0 && Number(cls.value) <= 1e9, "above 0 (everything else), within user classes");
      for (const d of manifests(r, "Deployment").filter((x) => x !== nfsDeployment(r))) {
        assert.equal(
          at(d, "spec", "template", "spec", "priorityClassName"),
          undefined,
          String(at(d, "metadata", "name")),
        );
      }
      assert.ok(!("priority_class_name" in spawnerConfig(r)), "user pods stay at the default priority");
    });

    it("keeps user pods off the NFS server's node when it can, and still schedules them on one node", async () => {
      const r = await rendered(stack);
      const spawner = spawnerConfig(r);
      assert.equal(
        spawner.pod_anti_affinity_required,
        undefined,
        "required would leave a one-node cluster without users",
      );
      const terms = spawner.pod_anti_affinity_preferred as JsonObject[];
      assert.equal(terms.length, 1);
      const term = terms[0].podAffinityTerm as JsonObject;
      assert.equal(term.topologyKey, "kubernetes.io/hostname");
      assert.deepEqual(term.namespaces, [String(r.outputs.nfsNamespace)]);
      assert.equal(at(nfsDeployment(r), "metadata", "namespace"), r.outputs.nfsNamespace);
      // The selector selects the NFS server's pods, and no other pod of ours.
      const selects = (pod: JsonObject) =>
        Object.entries(at(term, "labelSelector", "matchLabels") as Record<string, string>).every(
          ([k, v]) => (at(pod, "metadata", "labels") as Record<string, string>)[k] === v,
        );
      assert.ok(selects(nfsPod(r)));
      for (const d of manifests(r, "Deployment").filter((x) => x !== nfsDeployment(r))) {
        assert.ok(!selects(at(d, "spec", "template") as JsonObject), String(at(d, "metadata", "name")));
      }
      // What KubeSpawner puts in the user pod is a valid pod affinity for the API server.
      for (const v of kubernetesVersions) {
        const schema = KubernetesSchema.load(v.minor, v.module);
        const pod = {
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name: "jupyter-alice" },
          spec: {
            containers: [{ name: "notebook", image: "example.org/notebook:1" }],
            affinity: { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: terms } },
          },
        };
        assert.deepEqual(schema.validate(pod), [], `Kubernetes ${v.minor}`);
      }
    });
  });
}

it("different stacks' NFS servers get different host names (a node mounting both must not take them for one server)", async () => {
  const hostname = async (stack: string) => at(nfsPod(await rendered(stack)), "spec", "hostname");
  assert.notEqual(await hostname("dev"), await hostname("prod"));
});

it("different stacks get different PriorityClasses (cluster-scoped names must not collide)", async () => {
  const name = async (stack: string) => at(manifests(await rendered(stack), "PriorityClass")[0], "metadata", "name");
  assert.notEqual(await name("dev"), await name("prod"));
});
