import type { ConfigMap } from "@pulumi/pulumi/automation";
import { renderLdif, testLdapUsersDn } from "../../components/auth/testLdapDirectory";
import { gkeAcceleratorLabel, gpuResource } from "../../components/jupyterhub/profiles";
import { images } from "../../versions/images";
import type { KubeletStandInOptions } from "./kubeletStandIn";

/**
 * The journey's profiles (the `profiles` key): a default small server, a larger one with a choice
 * of two images, and a GPU server for one LDAP group, which only alice is in.
 */

/**
 * The GPU group: the journey's own, added to slapd next to the test directory's entries (the
 * in-cluster test LDAP server has one group, of every test user). alice is its only member.
 */
export const GPU_GROUP_DN = "cn=gpu-lab,ou=groups,dc=example,dc=org";
export const GPU_GROUP_MEMBERS = ["alice"];

/** The GKE accelerator type of the journey's GPU profile, and of the GPU node stand-in. */
export const JOURNEY_GPU_TYPE = "nvidia-tesla-t4";

/** The notebook image's repository, at another tag: the stand-in runs any tag of it the same way. */
const previousNotebookImage = images.singleuser.reference.replace(/:[^:/]+$/, ":2026-11-23");

export const JOURNEY_PROFILES = {
  small: {
    slug: "small",
    displayName: "Small",
    description: "1 CPU, 1 GiB",
    default: true,
    cpuLimit: "1",
    cpuGuarantee: "100m",
    memoryLimit: "1Gi",
    memoryGuarantee: "512Mi",
  },
  large: {
    slug: "large",
    displayName: "Large",
    description: "2 CPUs, 2 GiB",
    cpuLimit: "2",
    cpuGuarantee: "500m",
    memoryLimit: "2Gi",
    memoryGuarantee: "1Gi",
    imageChoices: [
      { slug: "current", displayName: "Minimal notebook (current)", image: images.singleuser.reference, default: true },
      { slug: "previous", displayName: "Minimal notebook (previous week)", image: previousNotebookImage },
    ],
  },
  gpu: {
    slug: "gpu-t4",
    displayName: "GPU (NVIDIA T4)",
    description: "1 GPU, for members of the GPU lab",
    gpuCount: 1,
    gpuType: JOURNEY_GPU_TYPE,
    groups: [GPU_GROUP_DN],
  },
} as const;

/**
 * A value as `pulumi config set --path` entries (`profiles[0].slug` ...), as a user would set a
 * list of objects. The CLI stores numbers and booleans typed, as it does from the command line.
 */
export function pathConfig(key: string, value: unknown): ConfigMap {
  if (Array.isArray(value)) {
    return Object.assign({}, ...value.map((v, i) => pathConfig(`${key}[${i}]`, v)));
  }
  if (typeof value === "object" && value !== null) {
    return Object.assign(
      {},
      ...Object.entries(value).map(([k, v]) =>
        pathConfig(/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? `${key}.${k}` : `${key}[${JSON.stringify(k)}]`, v),
      ),
    );
  }
  return { [key]: { value: String(value) } };
}

/** The GPU group as LDIF, for slapd (its members in the test directory's users folder). */
export function gpuGroupLdif(): string {
  return renderLdif([
    {
      dn: GPU_GROUP_DN,
      attributes: [
        ["objectClass", "groupOfNames"],
        ["cn", "gpu-lab"],
        ["member", GPU_GROUP_MEMBERS.map((u) => `cn=${u},${testLdapUsersDn}`)],
      ],
    },
  ]);
}

/**
 * A GKE GPU node as the scheduler sees one: the accelerator label, one `nvidia.com/gpu` in its
 * capacity (what NVIDIA's device plugin reports), and the taint GKE puts on GPU nodes. There is no
 * GPU: the stand-in runs the pod's containers as processes, which use none.
 */
export const gpuNode: NonNullable<KubeletStandInOptions["node"]> = {
  labels: { [gkeAcceleratorLabel]: JOURNEY_GPU_TYPE },
  taints: [{ key: gpuResource, value: "present", effect: "NoSchedule" }],
  extendedResources: { [gpuResource]: "1" },
};
