import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { parse } from "yaml";
import { testLdapGroupDn } from "../components/auth/testLdapDirectory";
import { gkeAcceleratorLabel, gpuResource, gpuToleration } from "../components/jupyterhub/profiles";
import type { JsonObject } from "../render/mocks";
import { bytes, cpuCores } from "../stacks/quantity";
import { hubPodOf } from "./support/hubPod";
import { KubernetesSchema, kubernetesVersions } from "./support/kubernetesSchema";
import { userPodsFromConfig, type PodRequest, type PodResult } from "./support/hubConfigPython";
import { refusals, validate } from "./support/validate";
import { configOf, exampleProfiles, gpuGroupDn, renderVariation, variations } from "./support/variations";

const profilesVariation = variations().find((v) => v.name.includes("profiles:"));
if (!profilesVariation) throw new Error("test/support/variations.ts has no profiles variation");

/** The dev stack with these profiles (and the GPU group among allowedGroups), plus other overrides. */
function withProfiles(profiles: unknown[], ...overrides: string[]): string[] {
  return [
    `allowedGroups=${JSON.stringify([testLdapGroupDn, gpuGroupDn])}`,
    `profiles=${JSON.stringify(profiles)}`,
    ...overrides,
  ];
}

/** Each problem the dev stack plus overrides is refused for, as `key: message`. */
const problems = (overrides: string[]): string[] => refusals("dev", overrides);

const small = { slug: "small", displayName: "Small" };
const gpu = { slug: "gpu", displayName: "GPU", gpuCount: 1, gpuType: "nvidia-l4", groups: [gpuGroupDn] };

describe("profiles: bad input is refused before any resource, naming the profile and the field", () => {
  // [what, profiles, other overrides, the problem expected: key, then a pattern of its message]
  const cases: [string, unknown[], string[], string, RegExp][] = [
    [
      "two defaults",
      [
        { ...small, default: true },
        { slug: "large", displayName: "Large", default: true },
      ],
      [],
      "profiles[1][default]",
      /^\("large"\) true is also set on profiles\[0\]: at most one is the default/,
    ],
    [
      "a duplicate slug",
      [small, { slug: "small", displayName: "Also small" }],
      [],
      "profiles[1][slug]",
      /^\("small"\) "small" is also the slug of profiles\[0\]/,
    ],
    [
      "a slug that is not a safe identifier",
      [{ ...small, slug: "Small One" }],
      [],
      "profiles[0][slug]",
      /safe identifier/,
    ],
    ["a slug with a double dash", [{ ...small, slug: "a--b" }], [], "profiles[0][slug]", /safe identifier/],
    [
      "a CPU guarantee above the profile's limit",
      [small, { slug: "big", displayName: "Big", cpuLimit: "2", cpuGuarantee: "3" }],
      [],
      "profiles[1][cpuGuarantee]",
      /^\("big"\) "3" must not be more than cpuLimit \(2\)/,
    ],
    [
      "a CPU guarantee above the inherited userCpuLimit",
      [small, { slug: "big", displayName: "Big", cpuGuarantee: "1500m" }],
      ["userCpuLimit=1"],
      "profiles[1][cpuGuarantee]",
      /must not be more than userCpuLimit, which this profile inherits \(1\)/,
    ],
    [
      "a memory limit below the inherited userMemoryGuarantee",
      [small, { slug: "tiny", displayName: "Tiny", memoryLimit: "512Mi" }],
      ["userMemoryGuarantee=1Gi"],
      "profiles[1][memoryLimit]",
      /must not be less than userMemoryGuarantee \(1Gi\), which this profile inherits/,
    ],
    [
      "a GPU type GKE does not offer",
      [small, { ...gpu, gpuType: "nvidia-tesla-k80" }],
      [],
      "profiles[1][gpuType]",
      /^\("gpu"\) "nvidia-tesla-k80" must be a GPU type GKE offers .*nvidia-tesla-t4/,
    ],
    ["a GPU count without a type", [small, { ...gpu, gpuType: undefined }], [], "profiles[1][gpuType]", /required/],
    ["a GPU type without a count", [small, { ...gpu, gpuCount: undefined }], [], "profiles[1][gpuCount]", /required/],
    ["no GPU at all", [small, { ...gpu, gpuCount: 0 }], [], "profiles[1][gpuCount]", /1/],
    [
      "an unpinned image",
      [small, { slug: "latest", displayName: "Latest", image: "quay.io/jupyter/minimal-notebook:latest" }],
      [],
      "profiles[1][image]",
      /moving tag 'latest'/,
    ],
    [
      "an image choice with no tag",
      [
        small,
        {
          slug: "pick",
          displayName: "Pick",
          imageChoices: [{ slug: "mini", displayName: "Mini", image: "quay.io/jupyter/minimal-notebook" }],
        },
      ],
      [],
      "profiles[1][imageChoices][0][image]",
      /^\("pick" \/ "mini"\) .* must pin a tag or digest/,
    ],
    [
      "an image and image choices",
      [
        small,
        {
          slug: "pick",
          displayName: "Pick",
          image: "quay.io/jupyter/minimal-notebook:2026-11-30",
          imageChoices: [{ slug: "mini", displayName: "Mini", image: "quay.io/jupyter/minimal-notebook:2026-11-30" }],
        },
      ],
      [],
      "profiles[1][imageChoices]",
      /replaces image/,
    ],
    [
      "a group no authenticator setting mentions",
      [small, { ...gpu, groups: ["cn=elsewhere,dc=example,dc=org"] }],
      [],
      "profiles[1][groups][0]",
      /^\("gpu"\) "cn=elsewhere,dc=example,dc=org" is not in allowedGroups/,
    ],
    [
      "a default profile restricted to a group",
      [{ ...gpu, default: true }, small],
      [],
      "profiles[0][groups]",
      /must be empty on the default profile/,
    ],
    [
      "the first profile restricted when none is the default",
      [gpu, small],
      [],
      "profiles[0][groups]",
      /the first, as none says default/,
    ],
    [
      "GKE's accelerator label set by hand",
      [small, { slug: "x", displayName: "X", nodeSelector: { [gkeAcceleratorLabel]: "nvidia-l4" } }],
      [],
      "profiles[1][nodeSelector]",
      /set gpuType and gpuCount instead/,
    ],
    [
      "a node selector key Kubernetes refuses",
      [small, { slug: "x", displayName: "X", nodeSelector: { "pool name": "a" } }],
      [],
      "profiles[1][nodeSelector][pool name]",
      /^\("x"\) "pool name" must be a Kubernetes label key/,
    ],
    [
      "a toleration without key that does not say Exists",
      [small, { slug: "x", displayName: "X", tolerations: [{ effect: "NoSchedule" }] }],
      [],
      "profiles[1][tolerations][0][operator]",
      /must be Exists when there is no key/,
    ],
    [
      "a toleration with a value and Exists",
      [small, { slug: "x", displayName: "X", tolerations: [{ key: "a", operator: "Exists", value: "b" }] }],
      [],
      "profiles[1][tolerations][0][value]",
      /must be empty when operator is Exists/,
    ],
    [
      "tolerationSeconds without NoExecute",
      [
        small,
        { slug: "x", displayName: "X", tolerations: [{ key: "a", effect: "NoSchedule", tolerationSeconds: 30 }] },
      ],
      [],
      "profiles[1][tolerations][0][tolerationSeconds]",
      /needs effect NoExecute/,
    ],
    [
      "an unknown toleration effect",
      [small, { slug: "x", displayName: "X", tolerations: [{ key: "a", effect: "NoRun" }] }],
      [],
      "profiles[1][tolerations][0][effect]",
      /NoSchedule/,
    ],
    [
      "two default images",
      [
        small,
        {
          slug: "pick",
          displayName: "Pick",
          imageChoices: [
            { slug: "a", displayName: "A", image: "quay.io/jupyter/minimal-notebook:2026-11-30", default: true },
            { slug: "b", displayName: "B", image: "quay.io/jupyter/scipy-notebook:2026-11-30", default: true },
          ],
        },
      ],
      [],
      "profiles[1][imageChoices][1][default]",
      /is also set on imageChoices\[0\]/,
    ],
    [
      "a field profiles do not have",
      [small, { slug: "x", displayName: "X", gpus: 1 }],
      [],
      "profiles[1][gpus]",
      /^\("x"\) is not a field here/,
    ],
    ["an empty display name", [{ ...small, displayName: " " }], [], "profiles[0][displayName]", /must not be empty/],
  ];
  for (const [what, profiles, overrides, key, message] of cases) {
    test(what, () => {
      const found = problems(withProfiles(profiles, ...overrides));
      const line = found.find((p) => p.startsWith(`${key}: `));
      assert.ok(line, `no problem at ${key}; got:\n${found.join("\n")}`);
      assert.match(line.slice(key.length + 2), message);
    });
  }

  test("a valid list is accepted, with the defaults filled in", () => {
    const cfg = validate("dev", withProfiles(exampleProfiles));
    assert.deepEqual(
      cfg.profiles.map((p) => [p.slug, p.default, p.groups.length]),
      [
        ["small", true, 0],
        ["large", false, 0],
        ["gpu", false, 1],
      ],
    );
    assert.deepEqual(cfg.profiles[0].tolerations, []);
  });

  test("numbers and booleans, as `pulumi config set --path` stores them, are read as text where text is meant", () => {
    const cfg = validate(
      "dev",
      withProfiles([{ ...small, cpuLimit: 2, cpuGuarantee: 0.5, nodeSelector: { "example.org/spot": true } }]),
    );
    assert.deepEqual(
      [cfg.profiles[0].cpuLimit, cfg.profiles[0].cpuGuarantee, cfg.profiles[0].nodeSelector],
      ["2", "0.5", { "example.org/spot": "true" }],
    );
  });

  test("the example in docs/courses.md is a valid prod stack", () => {
    const page = fs.readFileSync(path.join(__dirname, "..", "docs", "courses.md"), "utf8");
    const block = /\*\*Profiles and GPUs\*\*[\s\S]*?```yaml\n([\s\S]*?)```/.exec(page)?.[1];
    assert.ok(block, "docs/courses.md has the profiles example");
    const example = parse(block) as Record<string, unknown>;
    const cfg = validate(
      "prod",
      Object.entries(example).map(([key, value]) => `${key}=${JSON.stringify(value)}`),
    );
    assert.deepEqual(
      cfg.profiles.map((p) => p.slug),
      ["standard", "large", "gpu-t4"],
    );
  });

  test("the program refuses bad profiles before registering a resource", async () => {
    const { renderStack } = await import("../render");
    await assert.rejects(
      renderStack({ stack: "dev", overrides: withProfiles([small, { ...small, displayName: "Twin" }]) }),
      /jupyterhub-nfs:profiles\[1\]\[slug\]: \("small"\)/,
    );
  });
});

describe("a stack without profiles renders its hub config exactly as before profiles existed", () => {
  // Rendered by main before profiles (1193d75): a change here changes every deployed hub.
  for (const stack of ["dev", "prod"]) {
    test(`stack ${stack}`, async () => {
      const v = variations().find((x) => x.name === `stack ${stack}`);
      assert.ok(v);
      const before = fs.readFileSync(path.join(__dirname, "fixtures", "hub-config", `${stack}.py`), "utf8");
      assert.equal(hubPodOf(await renderVariation(v)).configText, before);
    });
  }
});

describe("the rendered profiles, run through the hub image's KubeSpawner 7.0", () => {
  const cfg = configOf(profilesVariation);
  const [smallProfile, large, gpuProfile] = cfg.profiles;
  const member = [testLdapGroupDn, gpuGroupDn];
  const outsider = [testLdapGroupDn];
  // Start requests as the spawn form or the REST API would carry them, by users in these groups.
  const requests: Record<string, PodRequest> = {
    "bob, no profile named": { user: "bob", admin: false, groups: outsider, options: {} },
    "bob, large with SciPy": { user: "bob", admin: false, groups: outsider, options: { profile: "large" } },
    "bob, large with Minimal": {
      user: "bob",
      admin: false,
      groups: outsider,
      options: { profile: "large", image: "minimal" },
    },
    "bob, gpu": { user: "bob", admin: false, groups: outsider, options: { profile: "gpu" } },
    "nobody's groups, gpu": { user: "carol", admin: false, groups: [], options: { profile: "gpu" } },
    "bob, large with an image of his own": {
      user: "bob",
      admin: false,
      groups: outsider,
      options: { profile: "large", "image--unlisted-choice": "docker.io/evil/miner:1" },
    },
    "bob, large with an image choice not offered": {
      user: "bob",
      admin: false,
      groups: outsider,
      options: { profile: "large", image: "pytorch" },
    },
    "alice, gpu": { user: "alice", admin: true, groups: member, options: { profile: "gpu" } },
  };
  let outcomes: Record<string, PodResult> | undefined;
  const outcome = async (name: string): Promise<PodResult> => {
    if (!outcomes) {
      const hub = hubPodOf(await renderVariation(profilesVariation));
      const results = userPodsFromConfig(hub.configText, Object.values(requests));
      outcomes = Object.fromEntries(Object.keys(requests).map((k, i) => [k, results[i]]));
    }
    const o = outcomes[name];
    assert.ok(o, `no outcome for ${name}`);
    return o;
  };
  const errorOf = (o: PodResult): string | undefined => ("error" in o ? o.error : undefined);
  const podOf = (o: PodResult): JsonObject => {
    assert.ok("pod" in o, `refused: ${errorOf(o)}`);
    return o.pod as JsonObject;
  };
  const container = (o: PodResult): JsonObject => {
    const spec = (podOf(o).spec ?? {}) as { containers: JsonObject[] };
    const notebook = spec.containers.find((c) => c.name === "notebook");
    assert.ok(notebook, "no notebook container");
    return notebook;
  };
  const resources = (o: PodResult) =>
    container(o).resources as { limits: Record<string, string | number>; requests: Record<string, string | number> };

  test("each user is offered the open profiles and those of their groups, in order", async () => {
    assert.deepEqual((await outcome("bob, gpu")).offered, ["small", "large"]);
    assert.deepEqual((await outcome("nobody's groups, gpu")).offered, ["small", "large"]);
    assert.deepEqual((await outcome("alice, gpu")).offered, ["small", "large", "gpu"]);
  });

  test("the spawn form shows only what is offered, names and descriptions as text", async () => {
    const bob = String((await outcome("bob, gpu")).form);
    const alice = String((await outcome("alice, gpu")).form);
    const radios = (form: string) =>
      [...form.matchAll(/<input type="radio"\s+name="profile"\s+id="[^"]+"\s+value="([^"]+)"/g)].map((m) => m[1]);
    assert.deepEqual(radios(bob), ["small", "large"]);
    assert.deepEqual(radios(alice), ["small", "large", "gpu"]);
    assert.ok(!bob.includes(gpuProfile.displayName), "bob's form names the GPU profile");
    // "Small <1 CPU>" and 'For R&D "notebooks"' as text, not as markup.
    assert.match(bob, /<h3>Small &#60;1 CPU&#62;<\/h3>/);
    assert.match(bob, /<p>For R&#38;D &#34;notebooks&#34;<\/p>/);
    assert.match(bob, /<option value="scipy" selected>SciPy<\/option>/);
    assert.ok(!bob.includes('<option value="unlisted-choice">'), "a free-form image field");
  });

  test("no profile named: the default profile, i.e. the user* keys and singleuserImage", async () => {
    const o = await outcome("bob, no profile named");
    assert.equal(container(o).image, cfg.singleuserImage);
    const r = resources(o);
    assert.equal(Number(r.limits.cpu), cpuCores(cfg.userCpuLimit));
    assert.equal(Number(r.limits.memory), bytes(cfg.userMemoryLimit));
    assert.equal(Number(r.requests.cpu), cpuCores(cfg.userCpuGuarantee));
    assert.equal((podOf(o).spec as JsonObject).tolerations, undefined, "tolerations on a default pod");
    assert.equal(smallProfile.default, true);
  });

  test("a profile's sizes and its default image; another image when picked", async () => {
    const o = await outcome("bob, large with SciPy");
    const r = resources(o);
    assert.deepEqual(
      [Number(r.limits.cpu), Number(r.requests.cpu), Number(r.limits.memory), Number(r.requests.memory)],
      [
        cpuCores(String(large.cpuLimit)),
        cpuCores(String(large.cpuGuarantee)),
        bytes(String(large.memoryLimit)),
        bytes(String(large.memoryGuarantee)),
      ],
    );
    assert.equal(container(o).image, large.imageChoices.find((c) => c.default)?.image);
    assert.equal(
      container(await outcome("bob, large with Minimal")).image,
      large.imageChoices.find((c) => c.slug === "minimal")?.image,
    );
  });

  test("a profile the user is not offered is refused, however it is asked for", async () => {
    for (const name of ["bob, gpu", "nobody's groups, gpu"]) {
      const o = await outcome(name);
      assert.ok(!("pod" in o), `${name}: a pod was made`);
      assert.match(String(errorOf(o)), /^ValueError: No such profile: gpu\. Options include: small, large$/);
    }
    assert.match(
      String(errorOf(await outcome("bob, large with an image of his own"))),
      /unlisted_choice for image without being enabled/,
    );
    assert.match(String(errorOf(await outcome("bob, large with an image choice not offered"))), /KeyError: 'pytorch'/);
  });

  test("the GPU profile's pod: the GPU limit, GKE's accelerator selector and GPU toleration, the pool's own", async () => {
    const o = await outcome("alice, gpu");
    const spec = podOf(o).spec as { nodeSelector: Record<string, string>; tolerations: JsonObject[] };
    assert.equal(String(resources(o).limits[gpuResource]), String(gpuProfile.gpuCount));
    assert.equal(resources(o).requests[gpuResource], undefined, "the API server copies the limit into the request");
    assert.deepEqual(spec.nodeSelector, { ...gpuProfile.nodeSelector, [gkeAcceleratorLabel]: gpuProfile.gpuType });
    assert.deepEqual(spec.tolerations, [...gpuProfile.tolerations, gpuToleration]);
    assert.equal(container(o).image, gpuProfile.image);
  });

  for (const version of kubernetesVersions) {
    test(`every pod KubeSpawner makes from a profile is valid Kubernetes ${version.minor}`, async () => {
      const schema = KubernetesSchema.load(version.minor, version.module);
      for (const name of ["bob, no profile named", "bob, large with SciPy", "alice, gpu"]) {
        const pod = podOf(await outcome(name));
        assert.deepEqual(schema.validate({ apiVersion: "v1", kind: "Pod", ...pod }), [], name);
      }
    });
  }
});
