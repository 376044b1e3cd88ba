import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { testLdapDirectory, testLdapGroupDn, testLdapOutsider } from "../components/auth/testLdapDirectory";
import { TestLdapServer } from "../components/auth/testLdapServer";
import { FileBrowser } from "../components/fileBrowser";
import { renderNginxConf } from "../components/fileBrowser/nginxConf";
import { JupyterHub, type HubConfigInput } from "../components/jupyterhub";
import { GceDisk } from "../components/storage/gceDisk";
import { NetworkFence } from "../components/network";
import { NfsServer } from "../components/storage/nfsServer";
import { NfsVolume } from "../components/storage/nfsVolume";
import { StorageClassDisk } from "../components/storage/storageClassDisk";
import { evaluate, type Rendering } from "../render";
import { images } from "../versions/images";
import { at, manifest, resource } from "./support/rendered";

/** Runs one component alone under the render mocks (no stack config involved). */
function alone(program: () => unknown): Promise<Rendering> {
  return evaluate(program, {
    project: "components",
    stack: "test",
    values: { "gcp:project": "unit-project" },
    secretKeys: [],
  });
}

const hubInput: HubConfigInput = {
  ldap: {
    serverAddress: "ldap.example.org",
    serverPort: 389,
    tlsStrategy: "before_bind",
    tlsVerify: true,
    bindDnTemplates: ["uid={username},dc=example,dc=org"],
    allowedGroups: [],
  },
  allowedUsers: ["alice"],
  allowAllUsers: false,
  adminUsers: [],
  singleuser: {
    image: images.singleuser.reference,
    uid: 1000,
    gid: 100,
    cpuLimit: 1,
    memoryLimitBytes: 1073741824,
    cpuGuarantee: 0.1,
    memoryGuaranteeBytes: 536870912,
    notebooksClaim: "notebooks",
    notebooksDir: "notebooks",
    mountPath: "/home/jovyan",
    folders: { sharedFolder: false, adminAllUsersFolder: false },
    defaultUrl: "/lab",
    startTimeoutSeconds: 300,
    httpTimeoutSeconds: 30,
    profiles: [],
  },
  namedServersPerUser: 0,
  cullIdleSeconds: 0,
  cullMaxAgeSeconds: 0,
  cullConcurrency: 10,
  concurrentSpawnLimit: 100,
  activeServerLimit: 0,
};

describe("components, each alone", () => {
  it("NfsVolume points its volume at the server it is given and binds its claim to it", async () => {
    const r = await alone(() => {
      const v = new NfsVolume("vol", {
        server: pulumi.output("192.0.2.7"),
        capacity: "5Gi",
        claimNamespace: "ns",
        claimName: "shared",
      });
      return { claim: v.claimName, volume: v.volumeName };
    });
    const pv = manifest(r, "PersistentVolume", "vol-pv-");
    assert.deepEqual(at(pv, "spec", "nfs"), { server: "192.0.2.7", path: "/" });
    const claim = manifest(r, "PersistentVolumeClaim", "shared");
    assert.equal(at(claim, "spec", "volumeName"), at(pv, "metadata", "name"));
    assert.equal(at(claim, "spec", "storageClassName"), "");
    assert.deepEqual(r.outputs, { claim: "shared", volume: at(pv, "metadata", "name") });
    const parent = resource(r, "kubernetes:core/v1:PersistentVolume", "vol-pv").parent;
    assert.equal(parent, "jupyterhub-nfs:storage:NfsVolume::vol");
  });

  it("NfsServer recreates its pod and exposes the three NFS ports", async () => {
    const r = await alone(() => {
      const s = new NfsServer("nfs", {
        namespace: "storage",
        priorityClassName: "nfs-priority",
        hostname: "storage-nfs",
        image: images.nfs.reference,
        claimName: "disk",
      });
      return { ip: s.clusterIP };
    });
    assert.equal(at(manifest(r, "Deployment", "nfs"), "spec", "strategy", "type"), "Recreate");
    assert.equal(at(manifest(r, "Deployment", "nfs"), "spec", "template", "spec", "hostname"), "storage-nfs");
    const service = manifest(r, "Service", "nfs");
    assert.deepEqual(
      (at(service, "spec", "ports") as { port: number }[]).map((p) => p.port),
      [2049, 20048, 111],
    );
    assert.equal(r.outputs.ip, at(service, "spec", "clusterIP"));
  });

  it("GceDisk puts retention and protection on the disk alone", async () => {
    const r = await alone(() => {
      new GceDisk("d", {
        namespace: "storage",
        diskName: "data",
        zone: "us-central1-a",
        sizeGb: 50,
        diskType: "pd-ssd",
        storageClassName: "notebooks-disk",
        retainOnDelete: true,
        protect: true,
      });
    });
    assert.deepEqual(resource(r, "gcp:compute/disk:Disk", "d-disk").options, {
      protect: true,
      retainOnDelete: true,
      dependsOn: [],
    });
    assert.equal(resource(r, "jupyterhub-nfs:storage:GceDisk", "d").options.retainOnDelete, false);
    assert.equal(r.resources.filter((x) => x.type.includes("resourcePolicy")).length, 0, "no snapshots unless asked");
    assert.equal(
      at(manifest(r, "PersistentVolume", "d-pv-"), "spec", "csi", "volumeHandle"),
      "projects/unit-project/zones/us-central1-a/disks/data",
    );
  });

  it("StorageClassDisk asks its class for a ReadWriteOnce claim", async () => {
    const r = await alone(() => {
      new StorageClassDisk("d", {
        namespace: "storage",
        claimName: "data",
        storageClassName: "fast",
        size: "20Gi",
        retainOnDelete: true,
        protect: false,
      });
    });
    const claim = manifest(r, "PersistentVolumeClaim", "data");
    assert.equal(at(claim, "spec", "storageClassName"), "fast");
    assert.deepEqual(at(claim, "spec", "accessModes"), ["ReadWriteOnce"]);
    assert.equal(resource(r, "kubernetes:core/v1:PersistentVolumeClaim", "d-pvc").options.retainOnDelete, true);
  });

  it("FileBrowser asks for a password behind any Service type, and stores only its bcrypt hash", async () => {
    const clusterIp = await alone(() => {
      const fb = new FileBrowser("fb", {
        namespace: "hub",
        image: "nginx:1",
        claimName: "c",
        serviceType: "ClusterIP",
        readerGid: 100,
      });
      return { username: fb.username, password: fb.password };
    });
    assert.match(String(at(manifest(clusterIp, "Secret", "fb-htpasswd-"), "stringData", "htpasswd")), /^admin:\$2a\$/);
    assert.deepEqual(clusterIp.outputs, { username: "admin", password: "[secret]" });
    const locked = await alone(() => {
      const fb = new FileBrowser("fb", {
        namespace: "hub",
        image: "nginx:1",
        claimName: "c",
        serviceType: "LoadBalancer",
        readerGid: 100,
      });
      return { url: fb.url, password: fb.password };
    });
    const password = String(
      resource(locked, "random:index/randomPassword:RandomPassword", "fb-password").outputs.result,
    );
    const htpasswd = String(at(manifest(locked, "Secret", "fb-htpasswd-"), "stringData", "htpasswd"));
    assert.match(htpasswd, /^admin:\$2a\$10\$/);
    assert.ok(!htpasswd.includes(password));
    assert.equal(locked.outputs.password, "[secret]");
    assert.match(String(locked.outputs.url), /^http:\/\/203\.0\.113\.\d+\/$/);
    assert.deepEqual(
      at(manifest(locked, "Deployment", "fb"), "spec", "template", "spec", "securityContext", "supplementalGroups"),
      [100],
    );
  });

  it("JupyterHub's Role, Secret and proxy fit together", async () => {
    const r = await alone(() => {
      new JupyterHub("jh", {
        namespace: "hub",
        hubImage: images.hub.reference,
        proxyImage: images.proxy.reference,
        proxyServiceType: "NodePort",
        dbSize: "1Gi",
        dbStorageClassName: "standard",
        hubResources: { cpuGuarantee: "1", memoryGuarantee: "1Gi", memoryLimit: "2Gi" },
        hub: hubInput,
      });
    });
    assert.deepEqual(
      at(manifest(r, "Deployment", "hub"), "spec", "template", "spec", "containers", 0, "resources"),
      { requests: { cpu: "1", memory: "1Gi" }, limits: { memory: "2Gi" } },
      "the hub's size as given, no CPU limit",
    );
    assert.equal(at(manifest(r, "Service", "proxy-public"), "spec", "type"), "NodePort");
    assert.equal(at(manifest(r, "PersistentVolumeClaim", "hub-db"), "spec", "storageClassName"), "standard");
    const proxy = at(manifest(r, "Deployment", "proxy"), "spec", "template", "spec", "containers", 0) as {
      command: string[];
    };
    assert.ok(proxy.command.includes("--default-target=http://hub.hub.svc:8081"));
    const secret = manifest(r, "Secret", "hub");
    assert.deepEqual(Object.keys(secret.stringData as object).sort(), ["cookie-secret", "proxy-token"]);
    assert.match(String(at(secret, "stringData", "cookie-secret")), /^[0-9a-f]{64}$/);
  });

  it("NetworkFence writes one policy per kind of pod, and opens extra user egress only to the ranges given", async () => {
    const pods = {
      hub: { selector: { role: "hub" }, port: 8081 },
      proxy: { selector: { role: "proxy" }, port: 8000, apiPort: 8001 },
      userPods: { selector: { component: "singleuser-server" }, port: 8888 },
    };
    const r = await alone(() => {
      new NetworkFence("fence", { namespace: "hub", pods, userEgressCidrs: ["10.20.0.0/16"] });
    });
    assert.deepEqual(
      r.manifests
        .filter((m) => m.kind === "NetworkPolicy")
        .map((m) => at(m, "metadata", "name"))
        .sort(),
      ["default-deny", "hub", "proxy", "singleuser"],
    );
    const user = manifest(r, "NetworkPolicy", "singleuser");
    assert.deepEqual(at(user, "spec", "podSelector"), { matchLabels: { component: "singleuser-server" } });
    const egress = at(user, "spec", "egress") as { to?: { ipBlock?: { cidr: string; except?: string[] } }[] }[];
    assert.deepEqual(egress.at(-1), { to: [{ ipBlock: { cidr: "10.20.0.0/16" } }] });
    const open = egress.flatMap((rule) => rule.to ?? []).find((peer) => peer.ipBlock?.cidr === "0.0.0.0/0");
    assert.ok(open?.ipBlock?.except?.includes("169.254.0.0/16"), "public egress must except link-local");

    const withBrowser = await alone(() => {
      new NetworkFence("fence", {
        namespace: "hub",
        pods: { ...pods, fileBrowser: { selector: { role: "files" }, port: 8080, exposed: false } },
        userEgressCidrs: [],
      });
    });
    const browser = manifest(withBrowser, "NetworkPolicy", "file-browser");
    assert.deepEqual(at(browser, "spec", "ingress"), [
      { from: [{ podSelector: { matchLabels: { role: "hub" } } }], ports: [{ protocol: "TCP", port: 8080 }] },
    ]);
    assert.deepEqual(at(browser, "spec", "egress"), []);
    const userEgress = at(manifest(withBrowser, "NetworkPolicy", "singleuser"), "spec", "egress") as unknown[];
    assert.equal(userEgress.length, 4, "no extra egress rule without extra ranges");
  });

  it("TestLdapServer hands out its address and generated passwords, kept secret", async () => {
    const r = await alone(() => {
      const ldap = new TestLdapServer("ldap", {
        namespace: "hub",
        image: images.ldapTest.reference,
        users: ["ann", "ben"],
      });
      return { address: ldap.address, passwords: ldap.passwords };
    });
    assert.equal(r.outputs.address, "ldap.hub.svc");
    assert.equal(r.outputs.passwords, "[secret]");
    const env = at(manifest(r, "Deployment", "ldap"), "spec", "template", "spec", "containers", 0, "env") as {
      name: string;
      value?: string;
    }[];
    assert.equal(env.find((e) => e.name === "LDAP_CUSTOM_LDIF_DIR")?.value, "/ldifs");
    const container = at(manifest(r, "Deployment", "ldap"), "spec", "template", "spec", "containers", 0);
    // The image's slapd has the file capability cap_net_bind_service: without it in the bounding
    // set it cannot be started (test/bitnamiOpenldap.test.ts shows both).
    assert.deepEqual(at(container, "securityContext", "capabilities"), { drop: ["ALL"], add: ["NET_BIND_SERVICE"] });
    // No volume under /bitnami/openldap: a container restart must start from an empty database.
    assert.deepEqual(
      (at(container, "volumeMounts") as { mountPath: string }[]).map((m) => m.mountPath),
      ["/ldifs"],
    );
    assert.ok(at(container, "readinessProbe", "exec", "command"), "ready when seeded, not when the port opens");
    assert.deepEqual(
      env.map((e) => e.name).filter((n) => /PASSWORD/.test(n)),
      ["LDAP_ADMIN_PASSWORD"],
      "no user password in the Deployment",
    );
    // The seed is the shared directory (testLdapDirectory): the users in the group, the outsider not.
    const ldif = String(at(manifest(r, "Secret", "ldap"), "stringData", "seed.ldif"));
    const entries = ldif.split("\n\n");
    const group = entries.find((e) => e.startsWith(`dn: ${testLdapGroupDn}`)) ?? "";
    assert.deepEqual(
      group.split("\n").filter((l) => l.startsWith("member: ")),
      ["member: cn=ann,ou=users,dc=example,dc=org", "member: cn=ben,ou=users,dc=example,dc=org"],
    );
    assert.ok(
      entries.some((e) => e.startsWith(`dn: cn=${testLdapOutsider},ou=users,`)),
      "the outsider exists",
    );
    assert.ok(!group.includes(testLdapOutsider), "... in no group");
    assert.equal((ldif.match(/^userPassword: /gm) ?? []).length, 3, "a password for each user and the outsider");
  });

  it("testLdapDirectory refuses a configured user named like the outsider", () => {
    assert.throws(
      () => testLdapDirectory([{ name: testLdapOutsider, password: "x" }], { name: testLdapOutsider, password: "y" }),
      /reserved/,
    );
  });
});

describe("renderNginxConf", () => {
  it("serves a read-only listing behind basic auth, the readiness probe alone without", () => {
    const locked = renderNginxConf({ listenPort: 8080, root: "/srv/files", htpasswdFile: "/etc/auth/htpasswd" });
    assert.match(locked, /listen 8080;/);
    assert.match(locked, /limit_except GET \{\s+deny all;\s+\}/);
    assert.match(locked, /^ {4}auth_basic "notebooks";$/m);
    assert.match(locked, /auth_basic_user_file \/etc\/auth\/htpasswd;/);
    assert.match(locked, /location = \/healthz \{\s+auth_basic off;/);
  });
});

describe("preview of a new stack", () => {
  for (const assigned of ["", undefined]) {
    it(`keeps the NFS address unknown while the Service has none (${JSON.stringify(assigned)}), instead of handing the volume an empty one`, async () => {
      // A Service that does not exist yet comes back from the provider's dry run without an address.
      const inputs = new Map<string, Record<string, unknown>>();
      await pulumi.runtime.setMocks(
        {
          call: () => ({}),
          newResource: (args) => {
            inputs.set(args.name, args.inputs);
            const state = { ...args.inputs };
            if (args.type === "kubernetes:core/v1:Service") state.spec = { ...args.inputs.spec, clusterIP: assigned };
            return { id: args.name, state };
          },
        },
        "components",
        "preview",
        true,
      );
      const server = new NfsServer("nfs", {
        namespace: "storage",
        priorityClassName: "nfs-priority",
        hostname: "storage-nfs",
        image: images.nfs.reference,
        claimName: "disk",
      });
      new NfsVolume("vol", { server: server.clusterIP, capacity: "1Gi", claimNamespace: "hub", claimName: "shared" });
      await pulumi.runtime.disconnect();
      assert.equal(at(inputs.get("vol-pv"), "spec", "nfs", "path"), "/");
      assert.ok(pulumi.isUnknown(at(inputs.get("vol-pv"), "spec", "nfs", "server")), "the address stays unknown");
    });
  }
});
