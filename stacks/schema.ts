import { X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import { z } from "zod";
import { loginNamePattern } from "../components/jupyterhub/hubConfig";
import { metadataServerIp } from "../components/network/addresses";
import { inCidr } from "../policy/networkPolicy";
import { isBucketVolume } from "../components/jupyterhub/userServerExtras";
import {
  checkFilestore,
  filestoreClientCidrsSchema,
  filestoreNetworkSchema,
  filestoreReservedIpRangeSchema,
  filestoreTierSchema,
} from "./filestore";
import { authenticatorKinds, claimName, hostedDomain, oauthUrl, oauthUsername } from "./authenticator";
import { hubExtraConfigSchema } from "./hubExtraConfig";
import { checkProfiles, profilesSchema } from "./profiles";
import { checkUserQuotas, quotaQuantity, userQuotaOverridesSchema } from "./userQuotas";
import { bytes, cpuCores } from "./quantity";
import {
  googleServiceAccount,
  userEnvironmentSchema,
  userPostStartSchema,
  userVolumesSchema,
} from "./userServerExtras";
import {
  cpuGuaranteeQuantity,
  cpuQuantity,
  dns1123Label,
  dns1123Subdomain,
  pinnedImage,
  smallQuantity,
} from "./values";

/**
 * The validation rules for every key declared in Pulumi.yaml. Types, descriptions and
 * defaults live in Pulumi.yaml (the CLI applies them); this file says which values are
 * acceptable and how keys depend on each other. A test keeps the two key sets equal.
 */

/** Whole Gi or Ti: what a GCE disk can be, and what we accept for every volume we size. */
export const diskQuantity = z
  .string()
  .regex(/^[1-9]\d*(Gi|Ti)$/, "must be a whole number of Gi or Ti, such as 200Gi or 1Ti");

const serviceType = z.enum(["ClusterIP", "NodePort", "LoadBalancer"]);

const gceZone = z.string().regex(/^[a-z]+(-[a-z]+)*\d+-[a-z]$/, "must be a GCE zone such as europe-west1-b");

const cidr = z.union([z.cidrv4(), z.cidrv6()], { error: "must be a CIDR such as 10.128.0.0/9" });

/** A public DNS name (lower case, at least two labels, no wildcard, no trailing dot). */
const dnsName = z
  .string()
  .max(253, "must be at most 253 characters")
  .regex(
    /^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/,
    "must be a lower-case DNS name such as hub.example.org (no scheme, port, path or wildcard)",
  );

const ldapHost = z
  .string()
  .regex(
    /^(?=.{1,253}$)[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*$|^[0-9a-fA-F:.]+$/,
    "must be a host name or IP address, without scheme or port",
  );

const pemBlock = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

/** Why a PEM bundle of CA certificates is unusable, or undefined if every block is a certificate OpenSSL parses. */
function pemCertificatesProblem(pem: string): string | undefined {
  const blocks = [...pem.matchAll(pemBlock)];
  if (blocks.length === 0) return "must be PEM: one or more -----BEGIN CERTIFICATE----- blocks";
  for (const [block, label] of blocks) {
    if (label !== "CERTIFICATE") return `must hold only certificates, not a ${label} (never a private key)`;
    try {
      new X509Certificate(block);
    } catch (e) {
      return `holds a certificate that does not parse (${(e as Error).message})`;
    }
  }
  return undefined;
}

const pemCertificates = z.string().superRefine((pem, ctx) => {
  const problem = pem === "" ? undefined : pemCertificatesProblem(pem);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

/**
 * A path inside the user's server, where JupyterHub sends the user after a spawn. One starting
 * with `//` would be taken for another host by the browser; `{` would be read as a placeholder by
 * JupyterHub's format_string.
 */
const serverPath = z
  .string()
  .regex(
    /^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/,
    "must be a path in the user's server such as /lab or /tree (no host, query, fragment or {placeholder})",
  )
  .refine((p) => !p.includes("//"), { message: "must not contain '//'" })
  .refine((p) => !p.split("/").some((part) => part === "." || part === ".."), {
    message: "must not contain '.' or '..' segments",
  });

const seconds = (min: number, max: number) =>
  z.number().int().min(min, `must be at least ${min} seconds`).max(max, `must be at most ${max} seconds`);

const ldapUsername = z
  .string()
  .regex(new RegExp(loginNamePattern), "must be a user name of letters, digits, '.', '_' and '-'");

export const stackConfigSchema = z
  .object({
    namespace: dns1123Label,
    nfsNamespace: dns1123Label,

    diskKind: z.enum(["gce", "storageClass", "filestore"]),
    diskName: dns1123Label,
    diskSize: diskQuantity,
    diskType: z.enum(["pd-standard", "pd-balanced", "pd-ssd"]),
    diskZone: z.union([z.literal(""), gceZone]),
    diskSnapshots: z.boolean(),
    diskSnapshotRetentionDays: z.number().int().min(1).max(3650),
    diskSnapshotStartTime: z.string().regex(/^([01]\d|2[0-3]):00$/, "must be a whole UTC hour such as 03:00"),
    diskSnapshot: z.union([
      z.literal(""),
      z
        .string()
        .regex(
          /^(?:(?:https:\/\/(?:www|compute)\.googleapis\.com\/compute\/v1\/)?projects\/[a-z][-a-z0-9]{4,28}[a-z0-9]\/)?(?:global\/snapshots\/)?[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$/,
          "must be a GCE snapshot: its name, projects/<project>/global/snapshots/<name>, or its URL",
        ),
    ]),
    diskAdopt: z.boolean(),
    diskRetainOnDelete: z.boolean(),
    diskProtect: z.boolean(),
    storageClassName: dns1123Subdomain,
    filestoreTier: filestoreTierSchema,
    filestoreNetwork: filestoreNetworkSchema,
    filestoreReservedIpRange: filestoreReservedIpRangeSchema,
    filestoreClientCidrs: filestoreClientCidrsSchema,

    nfsImage: pinnedImage,
    networkPolicies: z.boolean(),
    userEgressAllowedCidrs: z.array(
      cidr.refine((range) => !inCidr(metadataServerIp, range), {
        message: `must not contain ${metadataServerIp}, the metadata server (it hands out the node's credentials)`,
      }),
    ),

    hubImage: pinnedImage,
    proxyImage: pinnedImage,
    singleuserImage: pinnedImage,
    hubDbSize: smallQuantity,
    hubDbStorageClassName: z.union([z.literal(""), dns1123Subdomain]),
    proxyServiceType: serviceType,
    hubDomain: z.union([z.literal(""), dnsName]),
    hubTlsSecretName: z.union([z.literal(""), dns1123Subdomain]),
    hubInsecureAllowPlainHttp: z.boolean(),
    userCpuLimit: cpuQuantity,
    userCpuGuarantee: cpuGuaranteeQuantity,
    // KubeSpawner reads "2G" as 2 GiB; whole Mi or Gi convert to bytes without ambiguity.
    userMemoryLimit: smallQuantity,
    userMemoryGuarantee: smallQuantity,
    userDefaultUrl: serverPath,
    userStartTimeoutSeconds: seconds(10, 3600),
    userHttpTimeoutSeconds: seconds(5, 3600),
    namedServersPerUser: z.number().int().min(0, "must be 0 (no named servers) or more"),
    sharedFolder: z.boolean(),
    adminAllUsersFolder: z.boolean(),
    cullIdleSeconds: z.number().int().min(0),
    cullMaxAgeSeconds: z.number().int().min(0, "must be 0 (no age limit) or more"),
    cullConcurrency: z.number().int().min(1, "must be at least 1"),
    hubCpuGuarantee: cpuGuaranteeQuantity,
    hubMemoryGuarantee: smallQuantity,
    hubMemoryLimit: smallQuantity,
    concurrentSpawnLimit: z.number().int().min(0, "must be 0 (no limit) or more"),
    activeServerLimit: z.number().int().min(0, "must be 0 (no limit) or more"),
    profiles: profilesSchema,
    userEnvironment: userEnvironmentSchema,
    userVolumes: userVolumesSchema,
    userGoogleServiceAccount: googleServiceAccount,
    userPostStart: userPostStartSchema,
    hubExtraConfig: hubExtraConfigSchema,

    // Per-user quotas (stacks/userQuotas.ts).
    userQuotaDefault: z.union([z.literal(""), quotaQuantity]),
    userQuotaOverrides: userQuotaOverridesSchema,
    userQuotaOvercommit: z.boolean(),
    userQuotaImage: pinnedImage,

    // Capacity (components/capacity).
    userPriorityClasses: z.boolean(),
    userPlaceholders: z.number().int().min(0, "must be 0 (none) or more").max(1000, "must be at most 1000"),
    imagePrePuller: z.boolean(),
    pauseImage: pinnedImage,
    userScheduler: z.boolean(),
    userSchedulerImage: pinnedImage,

    // Monitoring (components/monitoring).
    monitoring: z.boolean(),

    fileBrowser: z.boolean(),
    fileBrowserImage: pinnedImage,
    fileBrowserServiceType: serviceType,

    // LDAP's names, or a provider's (an e-mail address): stacks/authenticator.ts holds each to its kind.
    allowedUsers: z.array(oauthUsername),
    allowedGroups: z.array(z.string().min(1)),
    allowAllUsers: z.boolean(),
    adminUsers: z.array(oauthUsername),

    ldapTestServer: z.boolean(),
    ldapTestImage: pinnedImage,
    ldapTestUsers: z.array(ldapUsername),
    ldapServer: z.union([z.literal(""), ldapHost]),
    ldapPort: z.number().int().min(1).max(65535),
    ldapTlsStrategy: z.enum(["before_bind", "on_connect", "insecure"]),
    ldapTlsCaCertificate: pemCertificates,
    ldapTlsInsecureSkipVerify: z.boolean(),
    ldapBindDnTemplates: z.array(
      z.string().refine((t) => t.includes("{username}"), { message: "must contain {username}" }),
    ),
    ldapLookupDn: z.boolean(),
    ldapUserSearchBase: z.string(),
    ldapUserAttribute: z.string().regex(/^[A-Za-z][A-Za-z0-9-]*$/, "must be an LDAP attribute name"),
    ldapLookupDnSearchUser: z.string(),
    ldapLookupDnSearchPassword: z.string(),

    // Logins through an OAuth provider (stacks/authenticator.ts: the rules across these keys).
    authenticator: z.enum(authenticatorKinds),
    oauthClientId: z.string(),
    oauthClientSecret: z.string(),
    oauthCallbackUrl: oauthUrl,
    oauthLoginService: z.string().max(60, "must be at most 60 characters (it is the login button's text)"),
    oauthScopes: z.array(
      z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, "must be one OAuth scope (no spaces or quotes)"),
    ),
    oauthUsernameClaim: claimName,
    oauthGroupsClaim: claimName,
    oauthIssuerUrl: oauthUrl,
    oauthAuthorizeUrl: oauthUrl,
    oauthTokenUrl: oauthUrl,
    oauthUserdataUrl: oauthUrl,
    oauthHostedDomains: z.array(hostedDomain),
    oauthStripDomain: z.union([z.literal(""), hostedDomain]),
    oauthEnableAuthState: z.boolean(),
    adminGroups: z.array(z.string().min(1)),
  })
  .strict()
  .superRefine((c, ctx) => {
    const fail = (key: keyof typeof c, message: string) => ctx.addIssue({ code: "custom", path: [key], message });

    if (c.namespace === c.nfsNamespace) {
      fail("nfsNamespace", "must differ from namespace: the NFS server needs its own privileged namespace");
    }
    if (c.diskKind === "gce") {
      if (c.diskZone === "") fail("diskZone", "is required when diskKind is gce");
      if (/^\d+Gi$/.test(c.diskSize) && parseInt(c.diskSize, 10) < 10) {
        fail("diskSize", "must be at least 10Gi for a GCE disk");
      }
      if (c.diskSnapshot !== "" && !c.diskRetainOnDelete) {
        fail(
          "diskSnapshot",
          "needs diskRetainOnDelete true: restoring in place replaces the disk, and the old one must be kept until the new one is checked",
        );
      }
    } else if (c.diskKind === "storageClass") {
      if (c.diskSnapshot !== "") fail("diskSnapshot", "needs diskKind gce (a GCE snapshot makes a GCE disk)");
      if (c.diskAdopt) {
        fail(
          "diskAdopt",
          "needs diskKind gce or filestore (a kept claim is adopted with PULUMI_K8S_UPSERT_EXISTING_OBJECTS, see docs/operations.md, Re-adopting a kept disk)",
        );
      }
      if (c.diskSnapshots) {
        fail(
          "diskSnapshots",
          "needs diskKind gce: snapshots of a StorageClass claim belong to the cluster's VolumeSnapshot setup",
        );
      }
    }

    checkFilestore(c, fail);

    if (cpuCores(c.userCpuGuarantee) > cpuCores(c.userCpuLimit)) {
      fail("userCpuGuarantee", `must not be more than userCpuLimit (${c.userCpuLimit})`);
    }
    if (bytes(c.userMemoryGuarantee) > bytes(c.userMemoryLimit)) {
      fail("userMemoryGuarantee", `must not be more than userMemoryLimit (${c.userMemoryLimit})`);
    }

    if (bytes(c.hubMemoryGuarantee) > bytes(c.hubMemoryLimit)) {
      fail("hubMemoryGuarantee", `must not be more than hubMemoryLimit (${c.hubMemoryLimit})`);
    }

    if (c.cullMaxAgeSeconds > 0 && c.cullIdleSeconds === 0) {
      fail("cullMaxAgeSeconds", "needs cullIdleSeconds above 0: the culler runs only then");
    }
    checkProfiles(c, (path, message) => ctx.addIssue({ code: "custom", path, message }));
    checkUserQuotas(c, (path, message) => ctx.addIssue({ code: "custom", path, message }));

    // With an OAuth provider the LDAP keys are not used (stacks/authenticator.ts refuses them when set).
    const ldap = c.authenticator === "ldap";
    if (ldap && c.ldapTestServer) {
      if (c.ldapTestUsers.length === 0) fail("ldapTestUsers", "must name at least one user when ldapTestServer is on");
      if (c.ldapServer !== "")
        fail("ldapServer", "must be empty when ldapTestServer is on (the hub is pointed at the test server)");
      if (c.ldapBindDnTemplates.length > 0 || c.ldapLookupDn) {
        fail("ldapBindDnTemplates", "must be empty, and ldapLookupDn off, when ldapTestServer is on");
      }
      if (c.ldapTlsCaCertificate !== "" || c.ldapTlsInsecureSkipVerify) {
        fail(
          c.ldapTlsCaCertificate !== "" ? "ldapTlsCaCertificate" : "ldapTlsInsecureSkipVerify",
          "must be unset when ldapTestServer is on (the in-cluster test server speaks plain LDAP)",
        );
      }
    } else if (ldap) {
      if (c.ldapServer === "") fail("ldapServer", "is required unless ldapTestServer is on");
      // Passwords cross this connection: it is verified TLS unless a loudly named key says otherwise.
      if (c.ldapTlsStrategy === "insecure" && !c.ldapTlsInsecureSkipVerify) {
        fail(
          "ldapTlsStrategy",
          "sends every password to the LDAP server in clear text: use before_bind (StartTLS) or on_connect " +
            "(LDAPS), or set ldapTlsInsecureSkipVerify to true to accept an unprotected connection",
        );
      }
      if (c.ldapTlsCaCertificate !== "" && (c.ldapTlsStrategy === "insecure" || c.ldapTlsInsecureSkipVerify)) {
        fail(
          "ldapTlsCaCertificate",
          "is set but nothing is verified against it (ldapTlsStrategy insecure or ldapTlsInsecureSkipVerify on)",
        );
      }
      // ldap3 2.9.1 matches the certificate against server_address itself; on the hub image's
      // Python (3.12, no ssl.match_hostname) it uses its backport, which matches DNS names only.
      if (c.ldapTlsStrategy !== "insecure" && !c.ldapTlsInsecureSkipVerify && isIP(c.ldapServer) !== 0) {
        fail(
          "ldapServer",
          "must be the host name in the LDAP server's certificate when TLS is verified: ldap3 on the hub " +
            "image's Python 3.12 does not match IP addresses",
        );
      }
      if (c.ldapLookupDn) {
        if (c.ldapUserSearchBase === "") fail("ldapUserSearchBase", "is required when ldapLookupDn is on");
      } else if (c.ldapBindDnTemplates.length === 0) {
        fail("ldapBindDnTemplates", "must list at least one template unless ldapLookupDn is on");
      }
    }
    if (ldap && c.ldapLookupDnSearchPassword !== "" && c.ldapLookupDnSearchUser === "") {
      fail("ldapLookupDnSearchUser", "is required when ldapLookupDnSearchPassword is set");
    }
    // Passwords and session cookies: the hub is public only over HTTPS, unless a loudly named key says otherwise.
    if (c.hubDomain !== "") {
      if (c.proxyServiceType !== "ClusterIP") {
        fail(
          "proxyServiceType",
          "must be ClusterIP when hubDomain is set: the HTTPS Ingress serves the hub, and another exposure would serve it in plain HTTP too",
        );
      }
      // GKE's ManagedCertificate accepts domain names of at most 63 characters.
      if (c.hubTlsSecretName === "" && c.hubDomain.length > 63) {
        fail(
          "hubDomain",
          "is longer than 63 characters, the most a Google-managed certificate takes; set hubTlsSecretName",
        );
      }
    } else {
      if (c.proxyServiceType !== "ClusterIP" && !c.hubInsecureAllowPlainHttp) {
        fail(
          "proxyServiceType",
          "would serve the hub's login page in plain HTTP: set hubDomain to expose it over HTTPS, or set " +
            "hubInsecureAllowPlainHttp to true to accept passwords and cookies in clear",
        );
      }
      if (c.hubTlsSecretName !== "") fail("hubTlsSecretName", "needs hubDomain (the name the certificate is for)");
    }

    c.userEnvironment.forEach((v, i) => {
      if ("secretName" in v && c.hubTlsSecretName !== "" && v.secretName === c.hubTlsSecretName) {
        ctx.addIssue({
          code: "custom",
          path: ["userEnvironment", i, "secretName"],
          message: `"${v.secretName}" is hubTlsSecretName, the hub's TLS key: never give it to user pods`,
        });
      }
    });
    if (c.userGoogleServiceAccount !== "" && !c.userVolumes.some(isBucketVolume)) {
      fail(
        "userGoogleServiceAccount",
        "is for Cloud Storage buckets in userVolumes (Workload Identity Federation for their mounts), and none is listed",
      );
    }

    if (c.userPlaceholders > 0 && !c.userPriorityClasses) {
      fail(
        "userPlaceholders",
        "needs userPriorityClasses true: without a priority below the users' a placeholder is never preempted, and keeps users out",
      );
    }

    if (!c.allowAllUsers && c.allowedUsers.length === 0 && c.allowedGroups.length === 0) {
      fail(
        "allowedUsers",
        "JupyterHub 5 lets nobody log in: set allowedUsers or allowedGroups, or allowAllUsers to true",
      );
    }
  });

export type StackConfig = z.infer<typeof stackConfigSchema>;

/** The kind of raw value the CLI hands over for each key, so we know how to parse its string. */
export type ConfigValueType = "string" | "integer" | "boolean" | "array";
