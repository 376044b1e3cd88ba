/**
 * The pods the hub's KubeSpawner makes for users' servers, built by the hub image's own KubeSpawner
 * 7.0 from the rendered jupyterhub_config.py (test/support/kubespawner_pod.py): the course folders
 * (shared/, and every user's folder for admins), named servers, and what a spawn request cannot
 * change. The journey shows the same with the real hub; this shows every combination of the keys.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { userPodsFromConfig, userPodsFromConfigs, type PodRequest, type PodResult } from "./support/hubConfigPython";
import { KubernetesSchema, kubernetesVersions } from "./support/kubernetesSchema";
import { rendered } from "./support/rendered";

interface Mount {
  name: string;
  mountPath: string;
  subPath?: string;
  readOnly?: boolean;
}
interface Pod {
  metadata: { name: string; labels: Record<string, string> };
  spec: {
    volumes: { name: string; persistentVolumeClaim?: { claimName: string } }[];
    containers: { name: string; volumeMounts: Mount[] }[];
    initContainers: { name: string; command: string[]; volumeMounts: Mount[] }[];
  };
}

async function hubConfig(overrides: string[]): Promise<string> {
  const r = await rendered("dev", overrides);
  const cm = r.manifests.find((m) => m.kind === "ConfigMap" && "jupyterhub_config.py" in (m.data as object));
  return String((cm?.data as Record<string, string>)["jupyterhub_config.py"]);
}

function podOf(result: PodResult, what: string): Pod {
  assert.ok("pod" in result, `${what}: refused (${"error" in result ? result.error : ""})`);
  return result.pod as unknown as Pod;
}

/** The notebook container's mounts of the notebooks claim, as [mountPath, subPath, read-only]. */
function claimMounts(pod: Pod): [string, string, boolean][] {
  const volumes = pod.spec.volumes.filter((v) => v.persistentVolumeClaim?.claimName === "notebooks").map((v) => v.name);
  return pod.spec.containers[0].volumeMounts
    .filter((m) => volumes.includes(m.name))
    .map((m) => [m.mountPath, m.subPath ?? "", m.readOnly === true]);
}

/** The folders the init container makes: the user's own, then the mount points in it. */
function madeFolders(pod: Pod): string[] {
  const init = pod.spec.initContainers.find((c) => c.name === "make-notebook-dir");
  assert.ok(init, "the init container that makes the user's folder");
  // sh -c <script> <$0> <the user's folder> <mount points...>
  return init.command.slice(4);
}

const both = ["sharedFolder=true", "adminAllUsersFolder=true"];
const users: PodRequest[] = [
  { user: "alice", admin: true },
  { user: "bob", admin: false },
  // A name KubeSpawner escapes: its folder is its safe slug, wherever it is named.
  { user: "john.doe", admin: false },
  { user: "alice", admin: true, server: "Second One" },
  { user: "bob", admin: false, server: "exam" },
];

describe("users' pods, from the hub's own KubeSpawner", () => {
  it("shared/ read-only for users and read-write for admins; admins also get every user's folder", async () => {
    const [alice, bob, john, aliceNamed, bobNamed] = userPodsFromConfig(await hubConfig(both), users).map((r, i) =>
      podOf(r, `${users[i].user}/${users[i].server ?? ""}`),
    );
    assert.deepEqual(claimMounts(alice), [
      ["/home/jovyan", "notebooks/alice", false],
      ["/home/jovyan/shared", "shared", false],
      ["/home/jovyan/allusers", "notebooks", false],
    ]);
    assert.deepEqual(madeFolders(alice), ["/srv/notebooks/alice", "shared", "allusers"]);
    assert.deepEqual(claimMounts(bob), [
      ["/home/jovyan", "notebooks/bob", false],
      ["/home/jovyan/shared", "shared", true],
    ]);
    assert.deepEqual(madeFolders(bob), ["/srv/notebooks/bob", "shared"]);

    // The escaped name: the folder mounted is the folder the init container makes.
    const [[, johnHome]] = claimMounts(john);
    assert.match(johnHome, /^notebooks\/john-doe---[0-9a-f]{8}$/);
    assert.deepEqual(madeFolders(john)[0], `/srv/${johnHome}`);
    assert.equal(john.metadata.name, `jupyter-${johnHome.split("/")[1]}`, "the pod is named by the same slug");

    // A named server: a pod of its own, the same home and the same folders as the default server.
    assert.notEqual(aliceNamed.metadata.name, alice.metadata.name);
    assert.deepEqual(claimMounts(aliceNamed), claimMounts(alice));
    assert.deepEqual(madeFolders(aliceNamed), madeFolders(alice));
    assert.deepEqual(claimMounts(bobNamed), claimMounts(bob));
    assert.equal(bobNamed.metadata.labels["hub.jupyter.org/servername"], "exam");

    for (const v of kubernetesVersions) {
      const schema = KubernetesSchema.load(v.minor, v.module);
      for (const pod of [alice, bob, john, aliceNamed]) {
        assert.deepEqual(
          schema.validate(pod as unknown as Record<string, unknown>),
          [],
          `${pod.metadata.name}, Kubernetes ${v.minor}`,
        );
      }
    }
  });

  it("each key alone: shared/ without the admins' view, the admins' view without shared/, neither", async () => {
    const cases: [string[], [string, string, boolean][], [string, string, boolean][]][] = [
      [
        ["sharedFolder=true"],
        [
          ["/home/jovyan", "notebooks/alice", false],
          ["/home/jovyan/shared", "shared", false],
        ],
        [
          ["/home/jovyan", "notebooks/bob", false],
          ["/home/jovyan/shared", "shared", true],
        ],
      ],
      [
        ["adminAllUsersFolder=true"],
        [
          ["/home/jovyan", "notebooks/alice", false],
          ["/home/jovyan/allusers", "notebooks", false],
        ],
        [["/home/jovyan", "notebooks/bob", false]],
      ],
      [[], [["/home/jovyan", "notebooks/alice", false]], [["/home/jovyan", "notebooks/bob", false]]],
    ];
    const configs = await Promise.all(cases.map(([overrides]) => hubConfig(overrides)));
    const pods = userPodsFromConfigs(configs.map((configText) => ({ configText, requests: users.slice(0, 2) })));
    for (const [i, [overrides, adminMounts, userMounts]] of cases.entries()) {
      const what = overrides.join(" ") || "defaults";
      const [alice, bob] = pods[i].map((r) => podOf(r, what));
      assert.deepEqual(claimMounts(alice), adminMounts, `admin, ${what}`);
      assert.deepEqual(claimMounts(bob), userMounts, `user, ${what}`);
    }
  });

  it("a spawn request cannot give a user more: options naming mounts or admin are not read, an unknown profile is refused", async () => {
    const forged = {
      admin: true,
      volume_mounts: [{ name: "notebooks", mountPath: "/home/jovyan/allusers", subPath: "notebooks" }],
      kubespawner_override: { volume_mounts: [] },
    };
    const [bob, bobProfile] = userPodsFromConfig(await hubConfig(both), [
      { user: "bob", admin: false, options: forged },
      { user: "bob", admin: false, options: { ...forged, profile: "admin" } },
    ]);
    assert.deepEqual(claimMounts(podOf(bob, "bob with forged options")), [
      ["/home/jovyan", "notebooks/bob", false],
      ["/home/jovyan/shared", "shared", true],
    ]);
    assert.ok("error" in bobProfile && /No such profile: admin/.test(bobProfile.error), "a profile nobody offers");
  });

  it("refuses to start a server whose pod would mount the notebooks claim anywhere else (later config, a profile)", async () => {
    const config = await hubConfig(both);
    const cases: [string, string, RegExp][] = [
      [
        "every user's folder for everyone",
        'c.KubeSpawner.volume_mounts.append({"name": "notebooks", "mountPath": "/home/jovyan/all", "subPath": "notebooks"})',
        /container notebook would mount notebooks of notebooks at \/home\/jovyan\/all read-write/,
      ],
      [
        "shared/ writable by everyone",
        'c.KubeSpawner.volume_mounts[1]["readOnly"] = False',
        /would mount shared of notebooks at \/home\/jovyan\/shared read-write/,
      ],
      [
        "the claim again, under another volume name, whole",
        [
          'c.KubeSpawner.volumes.append({"name": "data", "persistentVolumeClaim": {"claimName": "notebooks"}})',
          'c.KubeSpawner.volume_mounts.append({"name": "data", "mountPath": "/data", "readOnly": True})',
        ].join("\n"),
        /would mount the whole claim of notebooks at \/data read-only/,
      ],
    ];
    const pods = userPodsFromConfigs(
      cases.map(([, line]) => ({ configText: `${config}${line}\n`, requests: users.slice(0, 2) })),
    );
    for (const [i, [what, , refusal]] of cases.entries()) {
      const [alice, bob] = pods[i];
      assert.ok("error" in bob, `${what}: bob's server started`);
      assert.match(bob.error, /^RuntimeError: refusing to start bob: /, what);
      assert.match(bob.error, refusal, what);
      if (what === "shared/ writable by everyone") assert.ok("pod" in alice, "an admin's shared/ is read-write anyway");
      else assert.ok("error" in alice, `${what}: alice's server started`);
    }
  });
});
