import * as path from "node:path";
import { z } from "zod";
import type { UserEnvVar, UserVolume } from "../components/jupyterhub/userServerExtras";
import { notebookHome, ownUserPodVolumes } from "../components/jupyterhub/userServers";
import { isOwnSecret, ownClaims } from "./hubNamespaceObjects";
import { dns1123Label, dns1123Subdomain } from "./values";

/**
 * The rules for what a stack adds to every user's pod (userEnvironment, userVolumes,
 * userPostStart): each item is checked field by field, and the errors name the item and the field.
 */

/**
 * Variables the hub and KubeSpawner set for every server (JupyterHub 5.5 Spawner.get_env: the
 * JUPYTERHUB_* contact with the hub, its API token also as JPY_API_TOKEN, MEM_/CPU_ LIMIT and
 * GUARANTEE; KubeSpawner 7.0: JUPYTER_IMAGE and JUPYTER_IMAGE_SPEC). KubeSpawner lets `environment`
 * override them all, so a stack could point a server at another hub, or hand it another token.
 */
export const reservedEnvPrefixes: readonly string[] = ["JUPYTERHUB_", "JPY_", "MEM_", "CPU_"];
export const reservedEnvNames: readonly string[] = ["JUPYTER_IMAGE", "JUPYTER_IMAGE_SPEC"];

const envName = z
  .string()
  .regex(
    /^[A-Za-z_][A-Za-z0-9_]*$/,
    "must be a C identifier (letters, digits and '_', not starting with a digit), as every shell reads it",
  )
  .refine((n) => !reservedEnvPrefixes.some((p) => n.startsWith(p)) && !reservedEnvNames.includes(n), {
    message: `is set by the hub or KubeSpawner for every server (${[...reservedEnvPrefixes.map((p) => `${p}*`), ...reservedEnvNames].join(", ")})`,
  });

const secretName = dns1123Subdomain.refine((n) => !isOwnSecret(n), {
  message: "is a Secret of this program (the hub's, the file browser's, the LDAP servers'): never give it to user pods",
});

const envVar = z
  .object({
    name: envName,
    value: z.string().optional(),
    secretName: secretName.optional(),
    secretKey: z
      .string()
      .max(253)
      .regex(/^[-._a-zA-Z0-9]+$/, "must be a Secret key (letters, digits, '-', '_', '.')")
      .optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    const fromSecret = v.secretName !== undefined || v.secretKey !== undefined;
    if (v.value !== undefined && fromSecret) {
      ctx.addIssue({ code: "custom", message: "sets both value and secretName/secretKey: choose one" });
    } else if (v.value === undefined && !fromSecret) {
      ctx.addIssue({
        code: "custom",
        message: "needs value, or secretName and secretKey (a key of an existing Secret)",
      });
    } else if (fromSecret && (v.secretName === undefined || v.secretKey === undefined)) {
      ctx.addIssue({
        code: "custom",
        path: [v.secretName === undefined ? "secretName" : "secretKey"],
        message: "is required with a Secret: secretName names the Secret, secretKey its key",
      });
    }
  })
  .transform((v): UserEnvVar =>
    v.value !== undefined
      ? { name: v.name, value: v.value }
      : { name: v.name, secretName: String(v.secretName), secretKey: String(v.secretKey) },
  );

export const userEnvironmentSchema = z.array(envVar).superRefine((vars, ctx) => {
  vars.forEach((v, i) => {
    if (vars.findIndex((w) => w.name === v.name) < i) {
      ctx.addIssue({ code: "custom", path: [i, "name"], message: "is set twice" });
    }
  });
});

/**
 * Folders a volume must not cover: the root, and the ones the notebook image's programs and the
 * container runtime need (a mount there hides them). Mounting inside them is allowed.
 */
const systemFolders = [
  "/bin",
  "/dev",
  "/etc",
  "/lib",
  "/lib64",
  "/opt",
  "/proc",
  "/sbin",
  "/sys",
  "/tmp",
  "/usr",
  "/var",
];

/** Whether folder `a` is `b` or contains it. */
function covers(a: string, b: string): boolean {
  return a === "/" || a === b || b.startsWith(`${a}/`);
}

const mountPath = z
  .string()
  .regex(
    /^(\/[A-Za-z0-9._-]+)+$/,
    "must be an absolute path of letters, digits, '.', '_' and '-' (no trailing '/', no spaces)",
  )
  .refine((p) => path.posix.normalize(p) === p && !p.split("/").includes(".."), {
    message: "must be a normalised absolute path (no '.' or '..' parts)",
  })
  .superRefine((p, ctx) => {
    const hidden = systemFolders.find((f) => covers(p, f));
    if (hidden) ctx.addIssue({ code: "custom", message: `would hide ${hidden}, which the notebook image needs` });
    if (covers(p, notebookHome) || covers(notebookHome, p)) {
      ctx.addIssue({
        code: "custom",
        message: `would be ${covers(p, notebookHome) ? "over" : "inside"} the user's folder, mounted at ${notebookHome}`,
      });
    }
  });

const volume = z
  .object({
    name: dns1123Label.refine(
      (n) => !ownUserPodVolumes.names.includes(n) && !ownUserPodVolumes.prefixes.some((p) => n.startsWith(p)),
      {
        message: `is taken by a volume of our own (${[...ownUserPodVolumes.names, ...ownUserPodVolumes.prefixes.map((p) => `${p}*`)].join(", ")})`,
      },
    ),
    mountPath,
    readOnly: z.boolean().default(true),
    claimName: dns1123Subdomain
      .refine((n) => !ownClaims.includes(n), {
        message:
          "is a claim of this program (every user's notebooks, or the hub's database): never mount it in user pods",
      })
      .optional(),
    subPath: z
      .string()
      .regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/, "must be a relative path of letters, digits, '.', '_' and '-'")
      .refine((p) => !p.split("/").includes("..") && !p.split("/").includes("."), {
        message: "must stay inside the claim (no '.' or '..' parts)",
      })
      .optional(),
    bucket: z
      .string()
      .regex(
        /^(?=.{3,222}$)[a-z0-9][a-z0-9_.-]*[a-z0-9]$/,
        "must be a Cloud Storage bucket name (lower-case letters, digits, '-', '_', '.'; 3 to 63 characters per dot-separated part)",
      )
      .refine((b) => b.split(".").every((part) => part.length <= 63) && !b.startsWith("goog"), {
        message:
          "must be a Cloud Storage bucket name (each dot-separated part at most 63 characters, not starting with goog)",
      })
      .optional(),
    mountOptions: z
      .array(
        z
          .string()
          .regex(
            /^[A-Za-z0-9][A-Za-z0-9_.:-]*(=[A-Za-z0-9_.:/-]+)?$/,
            "must be one gcsfuse mount option, such as implicit-dirs or only-dir=course",
          )
          .refine((o) => !/^(uid|gid|ro|rw)(=|$)/.test(o), {
            message: "is set by the program (uid and gid are the notebook user's, readOnly decides ro or rw)",
          }),
      )
      .optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    const claim = v.claimName !== undefined;
    const bucket = v.bucket !== undefined;
    if (claim === bucket) {
      ctx.addIssue({
        code: "custom",
        message:
          "must set exactly one of claimName (an existing claim of the hub namespace) and bucket (a Cloud Storage bucket)",
      });
    }
    if (!claim && v.subPath !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["subPath"],
        message: "is for claims (a bucket takes mountOptions only-dir=...)",
      });
    }
    if (!bucket && v.mountOptions !== undefined) {
      ctx.addIssue({ code: "custom", path: ["mountOptions"], message: "is for buckets (gcsfuse's options)" });
    }
  })
  .transform((v): UserVolume => {
    const base = { name: v.name, mountPath: v.mountPath, readOnly: v.readOnly };
    return v.bucket !== undefined
      ? { ...base, bucket: v.bucket, mountOptions: v.mountOptions ?? [] }
      : { ...base, claimName: String(v.claimName), ...(v.subPath !== undefined ? { subPath: v.subPath } : {}) };
  });

export const userVolumesSchema = z.array(volume).superRefine((volumes, ctx) => {
  volumes.forEach((v, i) => {
    volumes.slice(0, i).forEach((earlier, j) => {
      if (earlier.name === v.name) {
        ctx.addIssue({ code: "custom", path: [i, "name"], message: `is also userVolumes[${j}]'s name` });
      }
      if (covers(earlier.mountPath, v.mountPath) || covers(v.mountPath, earlier.mountPath)) {
        ctx.addIssue({
          code: "custom",
          path: [i, "mountPath"],
          message: `overlaps userVolumes[${j}]'s mountPath "${earlier.mountPath}"`,
        });
      }
    });
  });
});

/** `lifecycle.postStart.exec.command`: a program and its arguments, not run through a shell unless it is one. */
export const userPostStartSchema = z
  .array(z.string().refine((a) => !a.includes("\0"), { message: "must not contain a NUL character" }))
  .refine((cmd) => cmd.length === 0 || cmd[0].trim() !== "", {
    message: 'must start with a program, such as ["sh", "-c", "..."]',
  });

/** A Google service account's email (Workload Identity Federation through a Google service account). */
export const googleServiceAccount = z.union([
  z.literal(""),
  z
    .string()
    .regex(
      /^[a-z][-a-z0-9]{4,28}[a-z0-9]@[a-z][-a-z0-9.:]*\.iam\.gserviceaccount\.com$/,
      "must be a Google service account's email, such as datasets@my-project.iam.gserviceaccount.com",
    ),
]);
