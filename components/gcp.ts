import type * as Gcp from "@pulumi/gcp";

/**
 * @pulumi/gcp, loaded when the program first makes a GCP resource or asks GCP something, not when
 * it starts. An import is hoisted to the top of its module, so every stack loaded its 160 modules
 * at start-up, the ones that make nothing on GCP too (a StorageClass disk and no hubDomain): 0.2 s
 * to over a second of each `pulumi preview` and `up` on the 2 cores of `npm run bench`, more the
 * busier the machine (e2e/README.md). Types come from `import type`, which costs nothing at run time.
 */
export function gcp(): typeof Gcp {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require("@pulumi/gcp") as typeof Gcp;
}
