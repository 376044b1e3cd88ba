import { z } from "zod";
import { cpuCores } from "./quantity";

/**
 * Value rules shared by several keys of the schema (schema.ts) and by the fields of list items
 * such as profiles (profiles.ts).
 */

export const dns1123Label = z
  .string()
  .max(63, "must be at most 63 characters")
  .regex(
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/,
    "must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit",
  );

export const dns1123Subdomain = z
  .string()
  .max(253, "must be at most 253 characters")
  .regex(
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
    "must be a DNS-1123 subdomain (lower-case letters, digits, '-' and '.')",
  );

/** An image reference that is pinned: a tag other than `latest`, or a digest. */
export const pinnedImage = z
  .string()
  .regex(
    /^(?:[a-z0-9]+(?:[.-][a-z0-9]+)*(?::\d+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/,
    "must be an image reference such as registry.example.org/team/image:1.2.3",
  )
  .refine((ref) => /@sha256:/.test(ref) || /:[\w][\w.-]*$/.test(ref.replace(/^[^/]*\//, "")), {
    message: "must pin a tag or digest (image:1.2.3 or image@sha256:...)",
  })
  .refine((ref) => !/:latest$/.test(ref), { message: "must not use the moving tag 'latest'" });

export const smallQuantity = z
  .string()
  .regex(/^[1-9]\d*(Mi|Gi)$/, "must be a whole number of Mi or Gi, such as 512Mi or 1Gi");

export const cpuQuantity = z
  .string()
  .regex(/^(\d+(\.\d+)?|[1-9]\d*m)$/, "must be a CPU quantity such as 2, 0.5 or 500m");

/**
 * KubeSpawner leaves the CPU request out when its guarantee is 0, and the API server then copies
 * the limit into the request: a guarantee must be more than nothing.
 */
export const cpuGuaranteeQuantity = cpuQuantity.refine((q) => cpuCores(q) > 0, { message: "must be more than 0" });

/** The name part of a Kubernetes label key or other qualified name (at most 63 characters). */
const qualifiedNamePart = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

/**
 * A Kubernetes qualified name, as label keys and taint keys are: `name` or `prefix/name`, the
 * prefix a DNS-1123 subdomain (the API server's IsQualifiedName).
 */
export const qualifiedName = z.string().superRefine((key, ctx) => {
  const slash = key.lastIndexOf("/");
  const prefix = slash < 0 ? undefined : key.slice(0, slash);
  const name = key.slice(slash + 1);
  const ok =
    name.length <= 63 &&
    qualifiedNamePart.test(name) &&
    (prefix === undefined || dns1123Subdomain.safeParse(prefix).success);
  if (!ok) {
    ctx.addIssue({
      code: "custom",
      message:
        "must be a Kubernetes label key: a name of at most 63 letters, digits, '-', '_' and '.' " +
        "(starting and ending with a letter or digit), optionally after a DNS subdomain and '/'",
    });
  }
});

/** A Kubernetes label value (and taint value): empty, or at most 63 characters like a name part. */
export const labelValue = z
  .string()
  .max(63, "must be at most 63 characters")
  .regex(
    /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/,
    "must be a Kubernetes label value: letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
  );
