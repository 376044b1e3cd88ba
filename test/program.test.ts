import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { writeRendering, type Rendering } from "../render";
import type { JsonObject } from "../render/mocks";
import { at, manifest, manifests, rendered, resource } from "./support/rendered";

const nfsPV = (r: Rendering) => manifest(r, "PersistentVolume", "notebooks-pv-");
function nfsService(r: Rendering, namespace: string): JsonObject {
  const found = manifests(r, "Service").find(
    (s) => at(s, "metadata", "name") === "nfs-server" && at(s, "metadata", "namespace") === namespace,
  );
  assert.ok(found, `no nfs-server Service in ${namespace}`);
  return found;
}

/** Every container of every Deployment, with the pod spec it runs in. */
function containers(r: Rendering): { deployment: string; pod: JsonObject; container: JsonObject }[] {
  return manifests(r, "Deployment").flatMap((d) => {
    const pod = at(d, "spec", "template", "spec") as JsonObject;
    return (pod.containers as JsonObject[]).map((container) => ({
      deployment: String(at(d, "metadata", "name")),
      pod,
      container,
    }));
  });
}

/** Every secret value the program generated or was given. */
function secretValues(r: Rendering): string[] {
  const values: string[] = [];
  for (const res of r.resources) {
    if (res.type.startsWith("random:")) {
      for (const key of ["result", "hex", "base64", "bcryptHash"]) {
        if (typeof res.outputs[key] === "string") values.push(res.outputs[key] as string);
      }
    }
  }
  for (const s of manifests(r, "Secret")) {
    for (const v of Object.values((s.stringData ?? {}) as JsonObject)) values.push(String(v));
  }
  return values.filter((v) => v.length >= 8);
}

const variations: [string, string[]][] = [
  ["dev", []],
  ["prod", []],
  ["prod", ["diskKind=storageClass", "diskSnapshots=false"]],
  ["prod", ["fileBrowserServiceType=LoadBalancer", "networkPolicies=false"]],
  [
    "prod",
    [
      "ldapLookupDn=true",
      "ldapBindDnTemplates=[]",
      "ldapUserSearchBase=ou=people,dc=example,dc=org",
      "ldapLookupDnSearchUser=cn=reader,dc=example,dc=org",
      "ldapLookupDnSearchPassword=s3cret-search-password",
    ],
  ],
];

for (const [stack, overrides] of variations) {
  describe(`stack ${stack} ${overrides.join(" ")}`.trim(), () => {
    it("points the NFS volume at the address the NFS Service was assigned", async () => {
      const r = await rendered(stack, overrides);
      const ns = String(at(r.outputs, "nfsNamespace"));
      const ip = at(nfsService(r, ns), "spec", "clusterIP");
      assert.match(String(ip), /^10\.96\.\d+\.\d+$/);
      assert.equal(at(nfsPV(r), "spec", "nfs", "server"), ip);
      assert.equal(r.outputs.nfsServerIp, ip);
      assert.deepEqual(at(nfsPV(r), "spec", "accessModes"), ["ReadWriteMany"]);
      assert.equal(at(nfsPV(r), "spec", "persistentVolumeReclaimPolicy"), "Retain");
    });

    it("binds the notebooks claim to that volume and to no StorageClass", async () => {
      const r = await rendered(stack, overrides);
      const claim = manifest(r, "PersistentVolumeClaim", "notebooks");
      assert.equal(at(claim, "spec", "storageClassName"), "");
      assert.equal(at(claim, "spec", "volumeName"), at(nfsPV(r), "metadata", "name"));
      assert.equal(at(claim, "metadata", "namespace"), r.outputs.hubNamespace);
    });

    it("runs one NFS server with the Recreate strategy, privileged, in its own namespace", async () => {
      const r = await rendered(stack, overrides);
      const nfs = manifest(r, "Deployment", "nfs-server");
      assert.equal(at(nfs, "spec", "strategy", "type"), "Recreate");
      assert.equal(at(nfs, "spec", "replicas"), 1);
      assert.equal(at(nfs, "metadata", "namespace"), r.outputs.nfsNamespace);
      const ports = (at(nfs, "spec", "template", "spec", "containers", 0, "ports") as JsonObject[]).map(
        (p) => p.containerPort,
      );
      assert.deepEqual(ports, [2049, 20048, 111]);
      const ns = manifest(r, "Namespace", String(r.outputs.nfsNamespace));
      assert.equal(at(ns, "metadata", "labels", "pod-security.kubernetes.io/enforce"), "privileged");
      const hubNs = manifest(r, "Namespace", String(r.outputs.hubNamespace));
      assert.equal(at(hubNs, "metadata", "labels", "pod-security.kubernetes.io/enforce"), "baseline");
    });

    it("gives the hub exactly what KubeSpawner needs, in its namespace only", async () => {
      const r = await rendered(stack, overrides);
      assert.equal(manifests(r, "ClusterRole").length, 0);
      assert.equal(manifests(r, "ClusterRoleBinding").length, 0);
      const role = manifest(r, "Role", "hub");
      assert.deepEqual(role.rules, [
        { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch", "create", "delete"] },
        { apiGroups: [""], resources: ["events"], verbs: ["get", "list", "watch"] },
      ]);
      const binding = manifest(r, "RoleBinding", "hub");
      assert.deepEqual(binding.subjects, [{ kind: "ServiceAccount", name: "hub", namespace: r.outputs.hubNamespace }]);
      assert.equal(at(manifest(r, "Deployment", "hub"), "spec", "template", "spec", "serviceAccountName"), "hub");
    });

    it("keeps every secret value out of every ConfigMap", async () => {
      const r = await rendered(stack, overrides);
      const secrets = secretValues(r);
      assert.ok(secrets.length >= 2, "cookie secret and proxy token at least");
      for (const cm of manifests(r, "ConfigMap")) {
        const text = JSON.stringify(cm);
        for (const s of secrets)
          assert.ok(!text.includes(s), `a secret value is in ConfigMap ${at(cm, "metadata", "name")}`);
      }
      const hubEnv = at(
        manifest(r, "Deployment", "hub"),
        "spec",
        "template",
        "spec",
        "containers",
        0,
        "env",
      ) as JsonObject[];
      for (const name of ["JPY_COOKIE_SECRET", "CONFIGPROXY_AUTH_TOKEN"]) {
        const env = hubEnv.find((e) => e.name === name);
        assert.equal(at(env, "valueFrom", "secretKeyRef", "name"), "hub", `${name} comes from the hub Secret`);
      }
    });

    it("runs everything but the NFS server as non-root, without escalation or capabilities", async () => {
      const r = await rendered(stack, overrides);
      for (const { deployment, pod, container } of containers(r)) {
        const sc = (container.securityContext ?? {}) as JsonObject;
        if (deployment === "nfs-server") {
          assert.equal(sc.privileged, true);
          continue;
        }
        assert.notEqual(sc.privileged, true, deployment);
        assert.equal(at(pod, "securityContext", "runAsNonRoot"), true, deployment);
        assert.notEqual(at(pod, "securityContext", "runAsUser"), 0, deployment);
        assert.equal(sc.allowPrivilegeEscalation, false, deployment);
        assert.deepEqual(at(sc, "capabilities", "drop"), ["ALL"], deployment);
      }
    });

    it("mounts the notebooks claim read-only in the file browser", async () => {
      const r = await rendered(stack, overrides);
      const pod = at(manifest(r, "Deployment", "file-browser"), "spec", "template", "spec") as JsonObject;
      const files = (pod.volumes as JsonObject[]).find((v) => v.name === "files");
      assert.deepEqual(files?.persistentVolumeClaim, { claimName: "notebooks", readOnly: true });
      const conf = manifest(r, "ConfigMap", "file-browser-conf-");
      const text = String(at(conf, "data", "default.conf"));
      assert.match(text, /autoindex on;/);
      assert.match(text, /autoindex_exact_size off;/);
      assert.match(text, /autoindex_localtime on;/);
      assert.match(text, /auth_basic_user_file/, "basic auth behind every Service type");
      assert.ok(
        manifests(r, "Secret").some((s) => String(at(s, "metadata", "name")).startsWith("file-browser-htpasswd-")),
      );
      assert.equal(r.outputs.fileBrowserUsername, "admin");
      assert.equal(r.outputs.fileBrowserPassword, "[secret]");
    });

    it("hands the hub the shared claim and mounts the hub's database on its own claim", async () => {
      const r = await rendered(stack, overrides);
      const hubConfig = String(at(manifest(r, "ConfigMap", "jupyterhub-hub-config-"), "data", "jupyterhub_config.py"));
      assert.match(hubConfig, /"persistentVolumeClaim": \{"claimName": "notebooks"\}/);
      const pod = at(manifest(r, "Deployment", "hub"), "spec", "template", "spec") as JsonObject;
      const data = (pod.volumes as JsonObject[]).find((v) => v.name === "data");
      assert.deepEqual(data?.persistentVolumeClaim, { claimName: "hub-db" });
      const config = (pod.volumes as JsonObject[]).find((v) => v.name === "config");
      assert.equal(
        at(config, "configMap", "name"),
        at(manifest(r, "ConfigMap", "jupyterhub-hub-config-"), "metadata", "name"),
      );
    });

    it("creates the hub namespace's NetworkPolicies exactly when asked, and none in the NFS namespace", async () => {
      const r = await rendered(stack, overrides);
      const policies = manifests(r, "NetworkPolicy");
      if (overrides.includes("networkPolicies=false")) {
        assert.equal(policies.length, 0);
        return;
      }
      assert.ok(policies.every((p) => at(p, "metadata", "namespace") === r.outputs.hubNamespace));
      const names = policies.map((p) => String(at(p, "metadata", "name"))).sort();
      const expected = ["default-deny", "hub", "proxy", "singleuser"];
      if (manifests(r, "Deployment").some((d) => at(d, "metadata", "name") === "file-browser")) {
        expected.push("file-browser");
      }
      if (manifests(r, "Deployment").some((d) => at(d, "metadata", "name") === "test-ldap")) expected.push("test-ldap");
      assert.deepEqual(names, expected.sort());
    });
  });
}

describe("the GCE disk", () => {
  it("is retained on delete by default, protected when asked, with a static CSI volume bound to it", async () => {
    const r = await rendered("prod");
    const disk = resource(r, "gcp:compute/disk:Disk", "notebook-disk-disk");
    assert.deepEqual(disk.options, { protect: true, retainOnDelete: true, dependsOn: [] });
    assert.equal(disk.inputs.size, 200);
    assert.equal(disk.inputs.zone, "europe-west1-b");
    const pv = manifest(r, "PersistentVolume", "notebook-disk-pv-");
    assert.equal(
      at(pv, "spec", "csi", "volumeHandle"),
      "projects/example-project/zones/europe-west1-b/disks/jupyterhub-notebooks",
    );
    assert.equal(at(pv, "spec", "csi", "driver"), "pd.csi.storage.gke.io");
    assert.deepEqual(at(pv, "spec", "nodeAffinity", "required", "nodeSelectorTerms", 0, "matchExpressions", 0), {
      key: "topology.gke.io/zone",
      operator: "In",
      values: ["europe-west1-b"],
    });
    const claim = manifest(r, "PersistentVolumeClaim", "jupyterhub-notebooks");
    // Bound by name; the class (the volume's, made for it) provisions nothing and lets it grow.
    assert.equal(at(claim, "spec", "storageClassName"), at(pv, "spec", "storageClassName"));
    assert.equal(at(claim, "spec", "volumeName"), at(pv, "metadata", "name"));
    assert.equal(
      at(
        manifest(r, "Deployment", "nfs-server"),
        "spec",
        "template",
        "spec",
        "volumes",
        0,
        "persistentVolumeClaim",
        "claimName",
      ),
      "jupyterhub-notebooks",
    );
  });

  it("retention is the default even when a stack says nothing about it", async () => {
    const r = await rendered("prod", ["diskRetainOnDelete=true", "diskProtect=false"]);
    assert.equal(resource(r, "gcp:compute/disk:Disk", "notebook-disk-disk").options.retainOnDelete, true);
  });

  it("is deleted with the stack only when the config says so", async () => {
    const r = await rendered("prod", ["diskRetainOnDelete=false", "diskProtect=false"]);
    assert.deepEqual(resource(r, "gcp:compute/disk:Disk", "notebook-disk-disk").options, {
      protect: false,
      retainOnDelete: false,
      dependsOn: [],
    });
  });

  it("gets a daily snapshot schedule that outlives it", async () => {
    const r = await rendered("prod");
    const policy = resource(r, "gcp:compute/resourcePolicy:ResourcePolicy", "notebook-disk-snapshots");
    assert.equal(policy.inputs.region, "europe-west1");
    assert.equal(at(policy.inputs, "snapshotSchedulePolicy", "retentionPolicy", "maxRetentionDays"), 30);
    assert.equal(
      at(policy.inputs, "snapshotSchedulePolicy", "retentionPolicy", "onSourceDiskDelete"),
      "KEEP_AUTO_SNAPSHOTS",
    );
    const attachment = resource(
      r,
      "gcp:compute/diskResourcePolicyAttachment:DiskResourcePolicyAttachment",
      "notebook-disk-snapshots",
    );
    assert.equal(attachment.inputs.disk, "jupyterhub-notebooks");
    assert.equal(attachment.inputs.name, policy.outputs.name);
  });
});

describe("a StorageClass disk", () => {
  it("keeps its claim and namespace on destroy unless the config says otherwise", async () => {
    const kept = await rendered("prod", [
      "diskKind=storageClass",
      "diskSnapshots=false",
      "diskProtect=false",
      "hubDomain=", // the HTTPS Ingress reserves a GCP address
    ]);
    const claim = resource(kept, "kubernetes:core/v1:PersistentVolumeClaim", "notebook-disk-pvc");
    assert.equal(claim.options.retainOnDelete, true);
    assert.equal(claim.inputs.spec && at(claim.inputs, "spec", "storageClassName"), "standard-rwo");
    assert.equal(resource(kept, "kubernetes:core/v1:Namespace", "nfs-namespace").options.retainOnDelete, true);
    assert.equal(kept.resources.filter((x) => x.type.startsWith("gcp:")).length, 0);

    const dev = await rendered("dev");
    assert.equal(
      resource(dev, "kubernetes:core/v1:PersistentVolumeClaim", "notebook-disk-pvc").options.retainOnDelete,
      false,
    );
    assert.equal(resource(dev, "kubernetes:core/v1:Namespace", "nfs-namespace").options.retainOnDelete, false);
  });
});

describe("config changes", () => {
  it("a new user image rolls the hub through a new ConfigMap and leaves the NFS Service and volume alone", async () => {
    const before = await rendered("prod");
    const after = await rendered("prod", ["singleuserImage=quay.io/jupyterhub/k8s-singleuser-sample:4.3.2"]);
    const hubConfigName = (r: Rendering) =>
      at(manifest(r, "Deployment", "hub"), "spec", "template", "spec", "volumes", 0, "configMap", "name");
    assert.notEqual(hubConfigName(before), hubConfigName(after));
    assert.deepEqual(nfsService(after, "jupyterhub-nfs"), nfsService(before, "jupyterhub-nfs"));
    assert.deepEqual(nfsPV(after), nfsPV(before));
    assert.deepEqual(manifest(after, "Deployment", "nfs-server"), manifest(before, "Deployment", "nfs-server"));
  });

  it("the test LDAP server's address reaches the hub without anyone typing it", async () => {
    const r = await rendered("dev");
    const config = String(at(manifest(r, "ConfigMap", "jupyterhub-hub-config-"), "data", "jupyterhub_config.py"));
    const ldap = manifest(r, "Service", "test-ldap");
    assert.ok(
      config.includes(`c.LDAPAuthenticator.server_address = "test-ldap.${at(ldap, "metadata", "namespace")}.svc"`),
    );
    assert.ok(config.includes('c.LDAPAuthenticator.bind_dn_template = ["cn={username},ou=users,dc=example,dc=org"]'));
    assert.equal(r.outputs.ldapTestPasswords, "[secret]");
  });

  it("the lookup-DN search password reaches the hub only through its Secret", async () => {
    const r = await rendered("prod", variations[4][1]);
    const secret = manifest(r, "Secret", "hub");
    assert.equal(at(secret, "stringData", "ldap-search-password"), "s3cret-search-password");
    const config = String(at(manifest(r, "ConfigMap", "jupyterhub-hub-config-"), "data", "jupyterhub_config.py"));
    assert.ok(!config.includes("s3cret-search-password"));
    assert.ok(config.includes('os.environ["LDAP_LOOKUP_DN_SEARCH_PASSWORD"]'));
  });
});

describe("render output", () => {
  it("is byte-identical across two renders of the same stack", async () => {
    const { renderStack } = await import("../render");
    const dirs = [0, 1].map(() => fs.mkdtempSync(path.join(os.tmpdir(), "render-")));
    for (const dir of dirs) writeRendering(await renderStack({ stack: "prod" }), dir);
    for (const file of ["manifests.yaml", "resources.json", "outputs.json"]) {
      assert.ok(fs.readFileSync(path.join(dirs[0], file)).equals(fs.readFileSync(path.join(dirs[1], file))), file);
    }
  });

  it("gives every Service its own cluster IP and different stacks different addresses", async () => {
    const prod = await rendered("prod");
    const ips = manifests(prod, "Service").map((s) => at(s, "spec", "clusterIP"));
    assert.equal(new Set(ips).size, ips.length);
    const dev = await rendered("dev");
    assert.notEqual(dev.outputs.nfsServerIp, prod.outputs.nfsServerIp);
  });

  it("lists namespaces first and every object with a name", async () => {
    const r = await rendered("prod");
    assert.equal(r.manifests[0].kind, "Namespace");
    for (const m of r.manifests) {
      assert.ok(typeof at(m, "metadata", "name") === "string" && m.apiVersion && m.kind);
    }
  });
});

describe("the hub on a public address: HTTPS only (issue 8, finding 4)", () => {
  it("prod serves the hub at https://, through a GKE Ingress with a managed certificate, HTTP redirected", async () => {
    const r = await rendered("prod");
    assert.equal(r.outputs.hubUrl, "https://hub.example.org/");
    // Nothing serves the hub in plain HTTP outside the cluster: the proxy's Service stays ClusterIP,
    // reached by the load balancer through network endpoint groups.
    const proxy = manifest(r, "Service", "proxy-public");
    assert.equal(at(proxy, "spec", "type"), "ClusterIP");
    assert.equal(at(proxy, "metadata", "annotations", "cloud.google.com/neg"), '{"ingress":true}');
    assert.deepEqual(
      manifests(r, "Service").filter((s) => at(s, "spec", "type") !== "ClusterIP"),
      [],
      "no LoadBalancer or NodePort Service",
    );

    const ingress = manifest(r, "Ingress", "hub-https");
    const annotations = at(ingress, "metadata", "annotations") as Record<string, string>;
    assert.equal(annotations["kubernetes.io/ingress.class"], "gce");
    assert.deepEqual(at(ingress, "spec", "defaultBackend", "service"), { name: "proxy-public", port: { number: 80 } });
    const certificate = manifest(r, "ManagedCertificate", annotations["networking.gke.io/managed-certificates"]);
    assert.deepEqual(at(certificate, "spec", "domains"), ["hub.example.org"]);
    const frontend = manifest(r, "FrontendConfig", annotations["networking.gke.io/v1beta1.FrontendConfig"]);
    assert.deepEqual(at(frontend, "spec", "redirectToHttps"), {
      enabled: true,
      responseCodeName: "MOVED_PERMANENTLY_DEFAULT",
    });
    // The reserved global address the Ingress names, exported for the DNS record.
    const address = resource(r, "gcp:compute/globalAddress:GlobalAddress", "hub-https-address");
    assert.equal(annotations["kubernetes.io/ingress.global-static-ip-name"], address.outputs.name);
    assert.equal(r.outputs.hubAddress, address.outputs.address);

    // The load balancer health-checks what answers 200 on the proxy pod, and keeps WebSockets open.
    const backend = manifest(r, "BackendConfig", "proxy-public");
    assert.equal(
      at(proxy, "metadata", "annotations", "cloud.google.com/backend-config"),
      JSON.stringify({ default: "proxy-public" }),
    );
    assert.deepEqual(at(backend, "spec", "healthCheck"), { type: "HTTP", requestPath: "/_chp_healthz", port: 8000 });
    const proxyPod = containers(r).find((c) => c.deployment === "proxy");
    assert.equal(at(proxyPod?.container, "readinessProbe", "httpGet", "path"), "/_chp_healthz");
    assert.deepEqual(at(proxyPod?.container, "ports", 0), { name: "http", containerPort: 8000 });
  });

  it("with the operator's TLS Secret: no managed certificate, the Secret on the Ingress", async () => {
    const r = await rendered("prod", ["hubTlsSecretName=hub-tls"]);
    assert.equal(manifests(r, "ManagedCertificate").length, 0);
    const ingress = manifest(r, "Ingress", "hub-https");
    assert.deepEqual(at(ingress, "spec", "tls"), [{ hosts: ["hub.example.org"], secretName: "hub-tls" }]);
    assert.equal(r.outputs.hubUrl, "https://hub.example.org/");
  });

  it("plain HTTP on a public address only with hubInsecureAllowPlainHttp", async () => {
    const r = await rendered("prod", ["hubDomain=", "proxyServiceType=LoadBalancer", "hubInsecureAllowPlainHttp=true"]);
    assert.match(String(r.outputs.hubUrl), /^http:\/\/203\.0\.113\.\d+\/$/);
    assert.equal(manifests(r, "Ingress").length, 0);
    await assert.rejects(
      rendered("prod", ["hubDomain=", "proxyServiceType=LoadBalancer"]),
      /jupyterhub-nfs:proxyServiceType: "LoadBalancer" would serve the hub's login page in plain HTTP/,
    );
  });
});
