import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { JsonObject } from "../render/mocks";
import { ownClaims, isOwnSecret } from "../stacks/hubNamespaceObjects";
import { reservedEnvNames, reservedEnvPrefixes } from "../stacks/userServerExtras";
import { hubPodOf } from "./support/hubPod";
import { userPodsFromConfigs } from "./support/hubConfigPython";
import { KubernetesSchema, kubernetesVersions } from "./support/kubernetesSchema";
import { manifests, rendered } from "./support/rendered";
import { rejectedKeys, validate } from "./support/validate";

/**
 * userEnvironment, userVolumes, userPostStart and userGoogleServiceAccount: refused with the key,
 * the item and the field named; and what KubeSpawner 7.0.0 (the hub venv's) makes of them, read
 * from the pod manifest it builds from the rendered jupyterhub_config.py.
 */

const json = (v: unknown) => JSON.stringify(v);

const obj = (v: unknown): JsonObject =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? (v as JsonObject) : {};
const list = (v: unknown): JsonObject[] => (Array.isArray(v) ? (v as JsonObject[]) : []);

/**
 * alice's pod (not an admin), as the hub image's KubeSpawner makes it from the rendered config
 * folder of the dev stack with each set of overrides; built once, all in one Python process.
 */
const pods = new Map<string, Promise<JsonObject>>();
function alicePod(overrides: string[]): Promise<JsonObject> {
  const key = JSON.stringify(overrides);
  if (!pods.has(key)) {
    const all = [[...extras], [`userVolumes=${json(volumes.slice(0, 1))}`], []];
    const built = Promise.all(all.map((o) => rendered("dev", o))).then((renders) => {
      const hubs = renders.map(hubPodOf);
      const results = userPodsFromConfigs(
        hubs.map((hub) => ({
          configText: hub.configText,
          siblings: hub.configFiles,
          requests: [{ user: "alice", admin: false }],
        })),
        hubs[0].env,
      );
      return results.map(([r]) => {
        if (!("pod" in r)) throw new Error(`KubeSpawner refused alice's pod: ${r.error}`);
        return r.pod as JsonObject;
      });
    });
    all.forEach((o, i) =>
      pods.set(
        JSON.stringify(o),
        built.then((p) => p[i]),
      ),
    );
  }
  const pod = pods.get(key);
  if (!pod) throw new Error(`no pod is built for ${key}`);
  return pod;
}

const environment = [
  { name: "COURSE", value: "Data science {2026}: $HOME stays literal" },
  { name: "COURSE_TOKEN", secretName: "course-secrets", secretKey: "token" },
];
const volumes = [
  { name: "datasets", mountPath: "/srv/datasets", claimName: "datasets" },
  { name: "scratch", mountPath: "/srv/scratch", claimName: "scratch", subPath: "shared/2026", readOnly: false },
  { name: "imagenet", mountPath: "/srv/imagenet", bucket: "lab-imagenet", mountOptions: ["implicit-dirs"] },
];
const postStart = ["sh", "-c", "cp -rn /srv/datasets/course/. ~/course/ || true"];
const extras = [
  `userEnvironment=${json(environment)}`,
  `userVolumes=${json(volumes)}`,
  `userPostStart=${json(postStart)}`,
  "userGoogleServiceAccount=datasets@example-project.iam.gserviceaccount.com",
];

describe("userEnvironment, userVolumes, userPostStart: bad items are refused, naming the key, the item and the field", () => {
  const cases: [string, unknown, string][] = [
    ["userEnvironment", [{ name: "2FAST", value: "x" }], "userEnvironment[0][name]"],
    ["userEnvironment", [{ name: "MY-VAR", value: "x" }], "userEnvironment[0][name]"],
    [
      "userEnvironment",
      [
        { name: "A", value: "1" },
        { name: "A", value: "2" },
      ],
      "userEnvironment[1][name]",
    ],
    ["userEnvironment", [{ name: "A" }], "userEnvironment[0]"],
    ["userEnvironment", [{ name: "A", value: "1", secretName: "s", secretKey: "k" }], "userEnvironment[0]"],
    ["userEnvironment", [{ name: "A", secretName: "s" }], "userEnvironment[0][secretKey]"],
    ["userEnvironment", [{ name: "A", secretName: "Not_A_Name", secretKey: "k" }], "userEnvironment[0][secretName]"],
    [
      "userEnvironment",
      [{ name: "A", secretName: "hub", secretKey: "cookie-secret" }],
      "userEnvironment[0][secretName]",
    ],
    ["userEnvironment", [{ name: "A", secretName: "test-ldap", secretKey: "x" }], "userEnvironment[0][secretName]"],
    ["userEnvironment", [{ name: "A", secretName: "s", secretKey: "a/b" }], "userEnvironment[0][secretKey]"],
    ["userEnvironment", [{ name: "A", value: "1", extra: true }], "userEnvironment[0][extra]"],
    ["userVolumes", [{ name: "data", mountPath: "/data" }], "userVolumes[0]"],
    ["userVolumes", [{ name: "data", mountPath: "/data", claimName: "c", bucket: "my-bucket" }], "userVolumes[0]"],
    ["userVolumes", [{ name: "Data", mountPath: "/data", claimName: "c" }], "userVolumes[0][name]"],
    ["userVolumes", [{ name: "notebooks", mountPath: "/data", claimName: "c" }], "userVolumes[0][name]"],
    ["userVolumes", [{ name: "gke-gcsfuse-tmp", mountPath: "/data", claimName: "c" }], "userVolumes[0][name]"],
    ["userVolumes", [{ name: "data", mountPath: "data", claimName: "c" }], "userVolumes[0][mountPath]"],
    ["userVolumes", [{ name: "data", mountPath: "/srv/../etc", claimName: "c" }], "userVolumes[0][mountPath]"],
    ["userVolumes", [{ name: "data", mountPath: "/srv/data/", claimName: "c" }], "userVolumes[0][mountPath]"],
    ["userVolumes", [{ name: "data", mountPath: "/home/jovyan/data", claimName: "c" }], "userVolumes[0][mountPath]"],
    ["userVolumes", [{ name: "data", mountPath: "/home", claimName: "c" }], "userVolumes[0][mountPath]"],
    ["userVolumes", [{ name: "data", mountPath: "/usr", claimName: "c" }], "userVolumes[0][mountPath]"],
    ["userVolumes", [{ name: "data", mountPath: "/srv:x", claimName: "c" }], "userVolumes[0][mountPath]"],
    ["userVolumes", [{ name: "data", mountPath: "/data", claimName: "notebooks" }], "userVolumes[0][claimName]"],
    ["userVolumes", [{ name: "data", mountPath: "/data", claimName: "hub-db" }], "userVolumes[0][claimName]"],
    ["userVolumes", [{ name: "data", mountPath: "/data", claimName: "c", subPath: "../x" }], "userVolumes[0][subPath]"],
    ["userVolumes", [{ name: "data", mountPath: "/data", claimName: "c", subPath: "/x" }], "userVolumes[0][subPath]"],
    [
      "userVolumes",
      [{ name: "data", mountPath: "/data", claimName: "c", mountOptions: [] }],
      "userVolumes[0][mountOptions]",
    ],
    [
      "userVolumes",
      [{ name: "data", mountPath: "/data", bucket: "my-bucket", subPath: "x" }],
      "userVolumes[0][subPath]",
    ],
    ["userVolumes", [{ name: "data", mountPath: "/data", bucket: "My_Bucket" }], "userVolumes[0][bucket]"],
    ["userVolumes", [{ name: "data", mountPath: "/data", bucket: "gs://my-bucket" }], "userVolumes[0][bucket]"],
    [
      "userVolumes",
      [{ name: "data", mountPath: "/data", bucket: "my-bucket", mountOptions: ["uid=0"] }],
      "userVolumes[0][mountOptions][0]",
    ],
    [
      "userVolumes",
      [{ name: "data", mountPath: "/data", bucket: "my-bucket", mountOptions: ["rw"] }],
      "userVolumes[0][mountOptions][0]",
    ],
    [
      "userVolumes",
      [{ name: "data", mountPath: "/data", bucket: "my-bucket", mountOptions: ["a,b"] }],
      "userVolumes[0][mountOptions][0]",
    ],
    ["userVolumes", [{ name: "data", mountPath: "/data", claimName: "c", readOnly: "no" }], "userVolumes[0][readOnly]"],
    [
      "userVolumes",
      [
        { name: "a", mountPath: "/data", claimName: "c" },
        { name: "a", mountPath: "/other", claimName: "c" },
      ],
      "userVolumes[1][name]",
    ],
    [
      "userVolumes",
      [
        { name: "a", mountPath: "/data", claimName: "c" },
        { name: "b", mountPath: "/data/more", claimName: "d" },
      ],
      "userVolumes[1][mountPath]",
    ],
    ["userPostStart", ["", "x"], "userPostStart"],
  ];
  for (const [key, value, named] of cases) {
    it(`${key}=${json(value)} names ${named}`, () => {
      assert.ok(rejectedKeys("dev", [`${key}=${json(value)}`]).includes(named));
    });
  }

  it("a Secret of the program is refused by any of its names, the hub's TLS Secret too", () => {
    const env = (secretName: string) => `userEnvironment=${json([{ name: "A", secretName, secretKey: "k" }])}`;
    for (const name of ["file-browser-htpasswd-1a2b3c4", "jupyterhub-ldap-ca-9f8e7d6"]) {
      assert.deepEqual(rejectedKeys("dev", [env(name)]), ["userEnvironment[0][secretName]"]);
    }
    assert.deepEqual(rejectedKeys("prod", ["hubTlsSecretName=hub-tls", env("hub-tls")]), [
      "userEnvironment[0][secretName]",
    ]);
  });

  it("the variables the hub and KubeSpawner set are refused by name and by prefix", () => {
    for (const name of [...reservedEnvNames, ...reservedEnvPrefixes.map((p) => `${p}X`)]) {
      assert.deepEqual(rejectedKeys("dev", [`userEnvironment=${json([{ name, value: "x" }])}`]), [
        "userEnvironment[0][name]",
      ]);
    }
  });

  it("userGoogleServiceAccount needs a bucket, and is an email of a service account", () => {
    assert.deepEqual(
      rejectedKeys("dev", ["userGoogleServiceAccount=datasets@example-project.iam.gserviceaccount.com"]),
      ["userGoogleServiceAccount"],
    );
    assert.ok(
      rejectedKeys("dev", [...extras.slice(0, 3), "userGoogleServiceAccount=me@example.org"]).includes(
        "userGoogleServiceAccount",
      ),
    );
  });

  it("accepts them, typed: readOnly defaults to true, a volume is a claim or a bucket", () => {
    const cfg = validate("dev", extras);
    assert.deepEqual(cfg.userEnvironment, environment);
    assert.deepEqual(cfg.userVolumes, [
      { name: "datasets", mountPath: "/srv/datasets", readOnly: true, claimName: "datasets" },
      { name: "scratch", mountPath: "/srv/scratch", readOnly: false, claimName: "scratch", subPath: "shared/2026" },
      {
        name: "imagenet",
        mountPath: "/srv/imagenet",
        readOnly: true,
        bucket: "lab-imagenet",
        mountOptions: ["implicit-dirs"],
      },
    ]);
    assert.deepEqual(cfg.userPostStart, postStart);
  });
});

describe("the pod KubeSpawner 7.0.0 makes from the rendered config", () => {
  it("carries the variables as given (a value literally, braces and all; a Secret's key as a secretKeyRef)", async () => {
    const hub = hubPodOf(await rendered("dev", extras));
    const pod = await alicePod(extras);
    const container = list(obj(pod.spec).containers)[0];
    const env = list(container.env).filter((e) => ["COURSE", "COURSE_TOKEN"].includes(String(e.name)));
    assert.deepEqual(env, [
      { name: "COURSE", value: environment[0].value },
      { name: "COURSE_TOKEN", valueFrom: { secretKeyRef: { name: "course-secrets", key: "token" } } },
    ]);
    // The hub's own contact variables are still the hub's.
    assert.ok(list(container.env).some((e) => e.name === "JUPYTERHUB_API_URL"));
    assert.ok(!hub.configText.includes('course-secrets": "token'), "no value of a Secret in the config");
  });

  it("mounts the claims read-only unless said otherwise, one folder with subPath; the bucket through Cloud Storage FUSE", async () => {
    const pod = await alicePod(extras);
    const spec = obj(pod.spec);
    const container = list(spec.containers)[0];
    assert.deepEqual(list(spec.volumes).slice(1), [
      { name: "datasets", persistentVolumeClaim: { claimName: "datasets", readOnly: true } },
      { name: "scratch", persistentVolumeClaim: { claimName: "scratch", readOnly: false } },
      {
        name: "imagenet",
        csi: {
          driver: "gcsfuse.csi.storage.gke.io",
          readOnly: true,
          volumeAttributes: { bucketName: "lab-imagenet", mountOptions: "uid=1000,gid=100,implicit-dirs" },
        },
      },
    ]);
    assert.deepEqual(list(container.volumeMounts).slice(1), [
      { name: "datasets", mountPath: "/srv/datasets", readOnly: true },
      { name: "scratch", mountPath: "/srv/scratch", readOnly: false, subPath: "shared/2026" },
      { name: "imagenet", mountPath: "/srv/imagenet", readOnly: true },
    ]);
    // Our own mount is unchanged: the user's folder at home.
    assert.deepEqual(list(container.volumeMounts)[0], {
      name: "notebooks",
      mountPath: "/home/jovyan",
      subPath: "notebooks/alice",
    });
  });

  it("with a bucket: GKE's sidecar annotation, the user pods' own ServiceAccount (no token), only nodes with the GKE metadata server", async () => {
    const r = await rendered("dev", extras);
    const pod = await alicePod(extras);
    const spec = obj(pod.spec);
    assert.equal(obj(obj(pod.metadata).annotations)["gke-gcsfuse/volumes"], "true");
    assert.equal(spec.serviceAccountName, "singleuser");
    assert.equal(spec.automountServiceAccountToken, false);
    assert.deepEqual(obj(obj(spec.affinity).nodeAffinity).requiredDuringSchedulingIgnoredDuringExecution, {
      nodeSelectorTerms: [
        { matchExpressions: [{ key: "iam.gke.io/gke-metadata-server-enabled", operator: "In", values: ["true"] }] },
      ],
    });
    const account = manifests(r, "ServiceAccount").find((m) => obj(m.metadata).name === "singleuser");
    assert.ok(account, "the ServiceAccount is rendered");
    assert.equal(account.automountServiceAccountToken, false);
    assert.deepEqual(obj(obj(account.metadata).annotations), {
      "iam.gke.io/gcp-service-account": "datasets@example-project.iam.gserviceaccount.com",
    });
    assert.equal(r.outputs.userServiceAccount, `${String(obj(account.metadata).namespace)}/singleuser`);
  });

  it("without a bucket: no ServiceAccount, annotation or node affinity of ours", async () => {
    const r = await rendered("dev", [`userVolumes=${json(volumes.slice(0, 1))}`]);
    const pod = await alicePod([`userVolumes=${json(volumes.slice(0, 1))}`]);
    const spec = obj(pod.spec);
    assert.ok(!("gke-gcsfuse/volumes" in obj(obj(pod.metadata).annotations)));
    assert.ok(!spec.serviceAccountName, "no ServiceAccount of its own");
    assert.equal(spec.affinity && obj(spec.affinity).nodeAffinity, undefined);
    assert.ok(!manifests(r, "ServiceAccount").some((m) => obj(m.metadata).name === "singleuser"));
    assert.ok(!("userServiceAccount" in r.outputs));
  });

  it("runs the postStart command, as given, as the notebook container's lifecycle hook", async () => {
    const pod = await alicePod(extras);
    const container = list(obj(pod.spec).containers)[0];
    assert.deepEqual(container.lifecycle, { postStart: { exec: { command: postStart } } });
    const none = await alicePod([]);
    // KubeSpawner writes an empty lifecycle when it has no hooks.
    assert.deepEqual(obj(list(obj(none.spec).containers)[0].lifecycle), {}, "no hook when userPostStart is empty");
  });

  for (const version of kubernetesVersions) {
    it(`is a valid Pod in the Kubernetes ${version.minor} API schema`, async () => {
      const pod = await alicePod(extras);
      const schema = KubernetesSchema.load(version.minor, version.module);
      assert.deepEqual(schema.validate({ apiVersion: "v1", kind: "Pod", ...pod }), []);
    });
  }
});

describe("the objects of ours a user's pod must never be given", () => {
  it("every claim and Secret the program makes in the hub namespace is known as ours", async () => {
    const ca =
      "ldapTlsCaCertificate=" +
      (await import("node:fs")).readFileSync(`${__dirname}/fixtures/example-ldap-ca.pem`, "utf8");
    for (const r of [
      await rendered("dev", extras),
      await rendered("prod", [ca, "hubDomain=hub.example.org", "hubTlsSecretName=hub-tls", "monitoring=true"]),
    ]) {
      const namespace = String(r.outputs.hubNamespace);
      const inHub = (m: JsonObject) => obj(m.metadata).namespace === namespace;
      for (const claim of manifests(r, "PersistentVolumeClaim").filter(inHub)) {
        assert.ok(ownClaims.includes(String(obj(claim.metadata).name)), `claim ${String(obj(claim.metadata).name)}`);
      }
      const secrets = manifests(r, "Secret").filter(inHub);
      assert.ok(secrets.length > 0);
      for (const secret of secrets) {
        assert.ok(isOwnSecret(String(obj(secret.metadata).name)), `Secret ${String(obj(secret.metadata).name)}`);
      }
    }
  });
});

describe("the user pods' NetworkPolicy", () => {
  const egressToLinkLocal = (r: Awaited<ReturnType<typeof rendered>>) => {
    const policy = manifests(r, "NetworkPolicy").find((m) => obj(m.metadata).name === "singleuser");
    return list(obj(policy?.spec).egress).filter((rule) =>
      list(rule.to).some((peer) => String(obj(peer.ipBlock).cidr).startsWith("169.254.169.25")),
    );
  };

  it("opens the GKE metadata server (port 80 at 169.254.169.254, 988 at 169.254.169.252) with a bucket only", async () => {
    const dns = (rule: JsonObject) => list(rule.ports).every((p) => p.port === 53);
    assert.deepEqual(
      egressToLinkLocal(await rendered("dev", extras)).filter((rule) => !dns(rule)),
      [
        { to: [{ ipBlock: { cidr: "169.254.169.254/32" } }], ports: [{ protocol: "TCP", port: 80 }] },
        { to: [{ ipBlock: { cidr: "169.254.169.252/32" } }], ports: [{ protocol: "TCP", port: 988 }] },
      ],
    );
    const claimOnly = await rendered("dev", [`userVolumes=${json(volumes.slice(0, 1))}`]);
    assert.deepEqual(
      egressToLinkLocal(claimOnly).filter((rule) => !dns(rule)),
      [],
    );
  });
});
