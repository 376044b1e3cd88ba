import * as fs from "node:fs";
import * as path from "node:path";
import { testLdapGroupDn } from "../../components/auth/testLdapDirectory";
import { renderStack, type Rendering } from "../../render";
import type { JsonObject } from "../../render/mocks";
import { loadCliConfig } from "../../render/stackConfig";
import { readProjectFile, validateCliConfig, type StackConfig } from "../../stacks";

/** One configuration the consumer checks run on: a stack file, plus `key=value` overrides. */
export interface Variation {
  /** Short name shown in test titles. */
  name: string;
  stack: string;
  overrides: string[];
}

const repoRoot = path.resolve(__dirname, "..", "..");

/** Every stack file in the repository (`Pulumi.<stack>.yaml`), sorted. */
export function stackNames(): string[] {
  return fs
    .readdirSync(repoRoot)
    .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => s !== undefined)
    .sort();
}

const orgLdap = ["ldapTestServer=false", "ldapServer=ldap.example.org"];

/** A second LDAP group, for the profile only its members are offered. */
export const gpuGroupDn = "cn=gpu-users,ou=groups,dc=example,dc=org";

/**
 * Profiles as a lab would set them: a default small server, a large one with a choice of images,
 * and GPUs (with a node pool's own label and taint besides GKE's) for one group.
 */
export const exampleProfiles = [
  { slug: "small", displayName: "Small <1 CPU>", description: 'For R&D "notebooks"', default: true },
  {
    slug: "large",
    displayName: "Large",
    description: "4 CPUs, 8 GiB",
    cpuLimit: "4",
    cpuGuarantee: "1",
    memoryLimit: "8Gi",
    memoryGuarantee: "4Gi",
    imageChoices: [
      { slug: "minimal", displayName: "Minimal", image: "quay.io/jupyter/minimal-notebook:2026-11-30" },
      { slug: "scipy", displayName: "SciPy", image: "quay.io/jupyter/scipy-notebook:2026-11-30", default: true },
    ],
  },
  {
    slug: "gpu",
    displayName: "GPU (T4)",
    image: "quay.io/jupyter/pytorch-notebook:cuda12-2026-11-30",
    cpuLimit: "4",
    memoryLimit: "16Gi",
    gpuCount: 1,
    gpuType: "nvidia-tesla-t4",
    nodeSelector: { "example.org/pool": "gpu" },
    tolerations: [{ key: "example.org/dedicated", operator: "Equal", value: "gpu", effect: "NoSchedule" }],
    groups: [gpuGroupDn],
  },
];
const gce = ["diskKind=gce", "diskZone=europe-west1-b", "gcp:project=example-project"];

/**
 * Config variations on top of the dev stack (the prod-like ones reset what dev sets), chosen so
 * that every branch of the program that changes what we render is taken at least once.
 */
const variationOverrides: Record<string, string[]> = {
  "gce disk with snapshots": [...gce, "diskSnapshots=true", "diskProtect=true", "diskRetainOnDelete=true"],
  "filestore instance, kept on destroy (no NFS server pod)": [
    ...gce,
    "diskKind=filestore",
    "diskSize=1Ti",
    "filestoreTier=ZONAL",
    "filestoreReservedIpRange=10.201.0.0/26",
    'filestoreClientCidrs=["10.132.0.0/20"]',
    "diskRetainOnDelete=true",
    "diskProtect=true",
  ],
  "storageClass disk, kept on destroy": ["diskKind=storageClass", "diskRetainOnDelete=true", "diskProtect=true"],
  "org LDAP, bind DN templates (LDAPS)": [
    ...orgLdap,
    "ldapPort=636",
    "ldapTlsStrategy=on_connect",
    'ldapBindDnTemplates=["uid={username},ou=people,dc=example,dc=org","uid={username},ou=staff,dc=example,dc=org"]',
    'allowedGroups=["cn=jupyterhub-users,ou=groups,dc=example,dc=org"]',
  ],
  "org LDAP, lookup DN with search user and password, TLS unverified (explicitly)": [
    ...orgLdap,
    "ldapTlsInsecureSkipVerify=true",
    "ldapLookupDn=true",
    "ldapUserSearchBase=ou=people,dc=example,dc=org",
    "ldapUserAttribute=uid",
    "ldapLookupDnSearchUser=cn=search,dc=example,dc=org",
    "ldapLookupDnSearchPassword=search-pass-from-config",
  ],
  "org LDAP, StartTLS verified against a private CA": [
    ...orgLdap,
    "ldapTlsStrategy=before_bind",
    `ldapTlsCaCertificate=${fs.readFileSync(path.join(__dirname, "..", "fixtures", "example-ldap-ca.pem"), "utf8")}`,
    'ldapBindDnTemplates=["uid={username},ou=people,dc=example,dc=org"]',
  ],
  "org LDAP, anonymous lookup DN, allow all, plain LDAP explicitly allowed": [
    ...orgLdap,
    "ldapTlsStrategy=insecure",
    "ldapTlsInsecureSkipVerify=true",
    "ldapLookupDn=true",
    "ldapUserSearchBase=ou=people,dc=example,dc=org",
    "allowAllUsers=true",
    "allowedUsers=[]",
  ],
  "LoadBalancer services (basic auth, plain HTTP explicitly allowed)": [
    "proxyServiceType=LoadBalancer",
    "fileBrowserServiceType=LoadBalancer",
    "hubInsecureAllowPlainHttp=true",
  ],
  "NodePort services (basic auth, plain HTTP explicitly allowed)": [
    "proxyServiceType=NodePort",
    "fileBrowserServiceType=NodePort",
    "hubInsecureAllowPlainHttp=true",
  ],
  "hub over HTTPS with the operator's TLS Secret": ["hubDomain=jupyter.dev.example.org", "hubTlsSecretName=hub-tls"],
  "no NetworkPolicies": ["networkPolicies=false"],
  "monitoring (GKE Managed Prometheus) with per-user quotas": ["monitoring=true", "userQuotaDefault=10Gi"],
  "user servers' environment, volumes (a claim, a bucket) and postStart; hub config snippets": [
    `userEnvironment=${JSON.stringify([
      { name: "COURSE", value: "Data {science}" },
      { name: "COURSE_TOKEN", secretName: "course-secrets", secretKey: "token" },
    ])}`,
    `userVolumes=${JSON.stringify([
      { name: "datasets", mountPath: "/srv/datasets", claimName: "datasets" },
      { name: "imagenet", mountPath: "/srv/imagenet", bucket: "lab-imagenet", mountOptions: ["implicit-dirs"] },
    ])}`,
    'userPostStart=["sh","-c","echo started > ~/.started"]',
    `hubExtraConfig=${JSON.stringify([
      { name: "20-logout", python: "c.JupyterHub.shutdown_on_logout = True\n" },
      { name: "10-motd", python: "c.JupyterHub.template_vars = {'announcement_login': 'Welcome'}\n" },
    ])}`,
  ],
  "no file browser, no culler": ["fileBrowser=false", "cullIdleSeconds=0"],
  "a course: shared folder, admins see every folder, named servers, culler limits, Notebook's UI": [
    "sharedFolder=true",
    "adminAllUsersFolder=true",
    "namedServersPerUser=3",
    "cullMaxAgeSeconds=28800",
    "cullConcurrency=2",
    "userDefaultUrl=/tree",
    "userStartTimeoutSeconds=900",
    "userHttpTimeoutSeconds=120",
  ],
  "a class of 500: a larger hub, spawn limits": [
    "hubCpuGuarantee=1",
    "hubMemoryGuarantee=1Gi",
    "hubMemoryLimit=2Gi",
    "concurrentSpawnLimit=30",
    "activeServerLimit=500",
  ],
  "profiles: two sizes, a choice of images, GPUs for one LDAP group": [
    `allowedGroups=${JSON.stringify([testLdapGroupDn, gpuGroupDn])}`,
    `profiles=${JSON.stringify(exampleProfiles)}`,
  ],
  "capacity: priority classes, placeholders, image pre-puller, user scheduler; profiles": [
    `allowedGroups=${JSON.stringify([testLdapGroupDn, gpuGroupDn])}`,
    `profiles=${JSON.stringify(exampleProfiles)}`,
    "userPriorityClasses=true",
    "userPlaceholders=3",
    "imagePrePuller=true",
    "userScheduler=true",
  ],
};

/** Each stack file as it is, then each variation on the dev stack (or the first stack if there is no dev). */
export function variations(): Variation[] {
  const stacks = stackNames();
  if (stacks.length === 0) throw new Error(`no Pulumi.<stack>.yaml in ${repoRoot}`);
  const base = stacks.includes("dev") ? "dev" : stacks[0];
  return [
    ...stacks.map((stack) => ({ name: `stack ${stack}`, stack, overrides: [] })),
    ...Object.entries(variationOverrides).map(([name, overrides]) => ({
      name: `${base} + ${name}`,
      stack: base,
      overrides,
    })),
  ];
}

/**
 * The validated config of a variation, as the program sees it: what a test expects is derived from
 * the config, never from the rendering it checks.
 */
export function configOf(v: Variation): StackConfig {
  const project = readProjectFile();
  return validateCliConfig(loadCliConfig(v.stack, v.overrides, project).values, project);
}

const cache = new Map<string, Promise<Rendering>>();
let queue: Promise<unknown> = Promise.resolve();

/**
 * The rendering of a variation, computed once per test process. Renderings share the Pulumi
 * runtime's global state, so they run strictly one after another.
 */
export function renderVariation(v: Variation): Promise<Rendering> {
  const key = JSON.stringify([v.stack, v.overrides]);
  let result = cache.get(key);
  if (!result) {
    result = queue.then(() => renderStack({ stack: v.stack, overrides: v.overrides }));
    queue = result.catch(() => undefined);
    cache.set(key, result);
  }
  return result;
}

/** `Kind namespace/name`, the way an object is named in failure messages. */
export function objectName(m: JsonObject): string {
  const meta = (m.metadata ?? {}) as JsonObject;
  const ns = typeof meta.namespace === "string" ? `${meta.namespace}/` : "";
  return `${String(m.kind)} ${ns}${String(meta.name)}`;
}

/** The objects of `kind` whose name starts with `prefix`. */
export function objectsOf(r: Rendering, kind: string, prefix = ""): JsonObject[] {
  return r.manifests.filter(
    (m) => m.kind === kind && String((m.metadata as JsonObject | undefined)?.name ?? "").startsWith(prefix),
  );
}
