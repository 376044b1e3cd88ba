import { z } from "zod";
import { gkeAcceleratorLabel } from "../components/jupyterhub/profiles";
import { gkeAcceleratorTypes } from "./gkeAccelerators";
import { bytes, cpuCores } from "./quantity";
import { cpuGuaranteeQuantity, cpuQuantity, labelValue, pinnedImage, qualifiedName, smallQuantity } from "./values";

/**
 * The `profiles` key: the server sizes and images users choose among (KubeSpawner's profile_list).
 * Each field's own rules are here; the rules between fields, between profiles and with other keys
 * (checkProfiles) run with the rest of the schema's cross-checks.
 */

/**
 * KubeSpawner puts a slug in HTML ids and in form field names (`profile-option-<slug>--<option>`,
 * split again at the first `--` after the profile's slug): lower-case words joined by single dashes.
 */
const slug = z
  .string()
  .max(63, "must be at most 63 characters")
  .regex(
    /^[a-z0-9]+(-[a-z0-9]+)*$/,
    "must be a safe identifier: lower-case letters and digits, words joined by single '-' (such as gpu-t4)",
  );

/**
 * A text field that `pulumi config set --path` (or YAML) may hand over as a number or a boolean:
 * the CLI stores `2` and `true` typed, so `--path 'profiles[0].cpuLimit' 2` arrives as 2.
 */
function asText<T extends z.ZodType>(schema: T) {
  return z.preprocess((v) => (typeof v === "number" || typeof v === "boolean" ? String(v) : v), schema);
}

const displayText = asText(z.string().trim().min(1, "must not be empty"));

/**
 * A Kubernetes Toleration, checked as the API server checks a pod's tolerations
 * (ValidateTolerations): no key tolerates every taint and needs operator Exists, Exists takes no
 * value, and tolerationSeconds applies only to NoExecute. Fields left out take the API's defaults
 * (operator Equal, every effect).
 */
const toleration = z
  .object({
    key: qualifiedName.optional(),
    operator: z.enum(["Equal", "Exists"]).optional(),
    value: asText(labelValue).optional(),
    effect: z.enum(["NoSchedule", "PreferNoSchedule", "NoExecute"]).optional(),
    tolerationSeconds: z.number().int().optional(),
  })
  .strict()
  .superRefine((t, ctx) => {
    const operator = t.operator ?? "Equal";
    if (t.key === undefined && operator !== "Exists") {
      ctx.addIssue({ code: "custom", path: ["operator"], message: "must be Exists when there is no key" });
    }
    if (operator === "Exists" && (t.value ?? "") !== "") {
      ctx.addIssue({ code: "custom", path: ["value"], message: "must be empty when operator is Exists" });
    }
    if (t.tolerationSeconds !== undefined && t.effect !== "NoExecute") {
      ctx.addIssue({ code: "custom", path: ["tolerationSeconds"], message: "needs effect NoExecute" });
    }
  });

const imageChoice = z
  .object({
    slug: asText(slug),
    displayName: displayText,
    image: pinnedImage,
    default: z.boolean().default(false),
  })
  .strict();

const profile = z
  .object({
    slug: asText(slug),
    displayName: displayText,
    description: asText(z.string()).default(""),
    default: z.boolean().default(false),
    image: pinnedImage.optional(),
    imageChoices: z.array(imageChoice).default([]),
    cpuLimit: asText(cpuQuantity).optional(),
    cpuGuarantee: asText(cpuGuaranteeQuantity).optional(),
    memoryLimit: smallQuantity.optional(),
    memoryGuarantee: smallQuantity.optional(),
    // The most GPUs one GKE node has (A3, A4 and G4 machine types: 8).
    gpuCount: z.number().int().min(1).max(8).optional(),
    gpuType: z
      .enum(gkeAcceleratorTypes, {
        error: `must be a GPU type GKE offers (stacks/gkeAccelerators.ts): ${gkeAcceleratorTypes.join(", ")}`,
      })
      .optional(),
    nodeSelector: z.record(qualifiedName, asText(labelValue)).default({}),
    tolerations: z.array(toleration).default([]),
    groups: z.array(z.string().min(1)).default([]),
  })
  .strict();

export const profilesSchema = z.array(profile);

export type ProfileConfig = z.infer<typeof profile>;

/** What checkProfiles reads besides the profiles: the keys every profile starts from, and the authenticator's groups. */
interface ProfileContext {
  profiles: ProfileConfig[];
  userCpuLimit: string;
  userCpuGuarantee: string;
  userMemoryLimit: string;
  userMemoryGuarantee: string;
  allowedGroups: string[];
}

type Fail = (path: (string | number)[], message: string) => void;

/** How each resource a profile sizes is counted, and the `user*` keys it inherits from. */
const resources = {
  cpu: { amount: cpuCores, limitKey: "userCpuLimit", guaranteeKey: "userCpuGuarantee" },
  memory: { amount: bytes, limitKey: "userMemoryLimit", guaranteeKey: "userMemoryGuarantee" },
} as const;

/** A guarantee above its limit, either of them possibly inherited from the `user*` key. */
function checkGuarantee(
  fail: Fail,
  at: (string | number)[],
  resource: keyof typeof resources,
  p: ProfileConfig,
  c: ProfileContext,
): void {
  const { amount, limitKey, guaranteeKey } = resources[resource];
  const fields = { limit: `${resource}Limit`, guarantee: `${resource}Guarantee` } as const;
  const own = { limit: p[fields.limit], guarantee: p[fields.guarantee] };
  const limit = own.limit ?? c[limitKey];
  const guarantee = own.guarantee ?? c[guaranteeKey];
  if (amount(guarantee) <= amount(limit)) return;
  if (own.guarantee !== undefined) {
    const from = own.limit !== undefined ? fields.limit : `${limitKey}, which this profile inherits`;
    fail([...at, fields.guarantee], `must not be more than ${from} (${limit})`);
  } else {
    fail([...at, fields.limit], `must not be less than ${guaranteeKey} (${guarantee}), which this profile inherits`);
  }
}

/**
 * Items with a slug and a `default` flag (profiles, a profile's images): slugs unique, at most one
 * default. `at` is the list's path; the index of the default (or of the first item) is returned.
 */
function checkSlugsAndDefault(
  items: { slug: string; default: boolean }[],
  at: (string | number)[],
  fail: Fail,
): number {
  const list = String(at[at.length - 1]);
  const seen = new Map<string, number>();
  items.forEach((item, i) => {
    const first = seen.get(item.slug);
    if (first !== undefined) fail([...at, i, "slug"], `is also the slug of ${list}[${first}]`);
    else seen.set(item.slug, i);
  });
  const defaults = items.flatMap((item, i) => (item.default ? [i] : []));
  for (const i of defaults.slice(1)) {
    fail([...at, i, "default"], `is also set on ${list}[${defaults[0]}]: at most one is the default`);
  }
  // KubeSpawner makes the first item the default when none says so.
  return defaults[0] ?? 0;
}

/**
 * The rules between the fields of a profile, between profiles, and with other keys. Each problem is
 * reported at `profiles[<index>][<field>]`; the error names the profile's slug as well (stacks/index.ts).
 */
export function checkProfiles(c: ProfileContext, fail: Fail): void {
  // KubeSpawner starts the default profile when a request names none: every user must be offered
  // it, or some would be left without a default.
  const defaultAt = checkSlugsAndDefault(c.profiles, ["profiles"], fail);
  c.profiles.forEach((p, i) => {
    const at = ["profiles", i];
    if (i === defaultAt && p.groups.length > 0) {
      fail(
        [...at, "groups"],
        `must be empty on the default profile (${p.default ? "default: true" : "the first, as none says default"}): ` +
          "every user is offered the default profile",
      );
    }
    p.groups.forEach((group, g) => {
      // LDAPAuthenticator 2.0 reports only the allowed_groups a user is in (auth_state ldap_groups).
      if (!c.allowedGroups.includes(group)) {
        fail(
          [...at, "groups", g],
          "is not in allowedGroups: LDAPAuthenticator looks up only the allowedGroups a user is in, so nobody " +
            "would be offered this profile (listed there, the group's members may also log in)",
        );
      }
    });

    checkGuarantee(fail, at, "cpu", p, c);
    checkGuarantee(fail, at, "memory", p, c);

    if (p.gpuCount !== undefined && p.gpuType === undefined) fail([...at, "gpuType"], "is required with gpuCount");
    if (p.gpuType !== undefined && p.gpuCount === undefined) fail([...at, "gpuCount"], "is required with gpuType");
    if (gkeAcceleratorLabel in p.nodeSelector) {
      fail([...at, "nodeSelector"], `must not set ${gkeAcceleratorLabel}: set gpuType and gpuCount instead`);
    }

    if (p.image !== undefined && p.imageChoices.length > 0) {
      fail([...at, "imageChoices"], "replaces image: set image or imageChoices, not both");
    }
    checkSlugsAndDefault(p.imageChoices, [...at, "imageChoices"], fail);
  });
}
