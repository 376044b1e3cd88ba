import type {
  Policies,
  PolicyConfigSchema,
  ReportViolation,
  ResourceValidationArgs,
  ResourceValidationPolicy,
} from "@pulumi/policy";
import { makeUserPodsFenced, notebooksNotServedUnauthenticated, userServersMountOwnFolder } from "./fenceRules";
import { podSpecOf, record, records, strings, type Json } from "./props";
import { findSecretsInConfigMap } from "./secretLike";
import { projectValue, type StackConfig } from "./stackConfig";
import { makeLdapTlsVerified, makeNoPlainHttpPublicHub, oauthIssuerHttps } from "./transportRules";

/**
 * The rules. Plain data in, violations out: each policy reads the resource's properties as the
 * engine sends them (inputs, secrets unwrapped) and never imports a provider SDK, so the pack starts
 * fast under `pulumi preview` and the tests can call the same functions with hand-made arguments.
 *
 * What a rule cannot see it takes from configuration, never from a guess:
 * - the stack's own config (`PULUMI_CONFIG`, passed in as `stack`): which Services the stack asked to
 *   expose (`proxyServiceType`, `fileBrowserServiceType`) and whether it opted out of keeping the disk
 *   (`diskRetainOnDelete: false`);
 * - the pack's config (`--policy-pack-config`, per policy): extra exemptions, documented in each
 *   policy's `configSchema`.
 */

/** The component whose pods may run privileged and as root: the NFS server needs both. */
export const nfsServerComponent = "jupyterhub-nfs:storage:NfsServer";

/** The Services whose type the stack chooses, and the config key that chooses it. */
export const stackChosenServices: ReadonlyArray<{ configKey: string; serviceName: string }> = [
  { configKey: "proxyServiceType", serviceName: "proxy-public" },
  { configKey: "fileBrowserServiceType", serviceName: "file-browser" },
];

/** Label on the GCE disk that mirrors its `retainOnDelete` option, which the engine does not send to policies. */
export const retainLabel = "retain-on-delete";

/** The `$`-separated chain of types in a URN: every component the resource sits in, then its own type. */
export function typeChain(urn: string): string[] {
  const qualifiedType = urn.split("::")[2] ?? "";
  return qualifiedType.split("$");
}

function insideComponent(args: ResourceValidationArgs, components: string[]): boolean {
  const chain = typeChain(args.urn).slice(0, -1);
  return chain.some((t) => components.includes(t));
}

function displayName(args: ResourceValidationArgs): string {
  const meta = record(args.props.metadata);
  const name = typeof meta.name === "string" ? meta.name : args.name;
  return typeof meta.namespace === "string" ? `${meta.namespace}/${name}` : name;
}

interface Container {
  kind: "container" | "initContainer" | "ephemeralContainer";
  name: string;
  securityContext: Json;
}

function containersOf(pod: Json): Container[] {
  const list = (field: string, kind: Container["kind"]) =>
    records(pod[field]).map((c) => ({
      kind,
      name: typeof c.name === "string" ? c.name : "(unnamed)",
      securityContext: record(c.securityContext),
    }));
  return [
    ...list("initContainers", "initContainer"),
    ...list("containers", "container"),
    ...list("ephemeralContainers", "ephemeralContainer"),
  ];
}

/**
 * The component whose Job makes a Filestore share's top folders: root with CHOWN and FOWNER only
 * (it hands them to the notebook user), never privileged.
 */
export const shareFoldersComponent = "jupyterhub-nfs:storage:ShareFolders";

function exemptComponentsSchema(defaults: string[], which: string): PolicyConfigSchema {
  return {
    properties: {
      exemptComponents: {
        type: "array",
        items: { type: "string" },
        default: defaults,
        description: `Component types (as in a URN) whose workloads are exempt: by default ${which}.`,
      },
    },
  };
}

function exemptComponents(args: ResourceValidationArgs, defaults: string[]): string[] {
  const configured = args.getConfig<{ exemptComponents?: string[] }>().exemptComponents;
  return configured ?? defaults;
}

const privilegedExempt = [nfsServerComponent];
const rootExempt = [nfsServerComponent, shareFoldersComponent];

export const noPrivilegedContainers: ResourceValidationPolicy = {
  name: "no-privileged-containers",
  description: "No container runs privileged, except the NFS server's (NFS server images need it).",
  enforcementLevel: "mandatory",
  configSchema: exemptComponentsSchema(privilegedExempt, "only the NFS server"),
  validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
    const pod = podSpecOf(args.type, args.props);
    if (!pod || insideComponent(args, exemptComponents(args, privilegedExempt))) return;
    for (const c of containersOf(pod)) {
      if (c.securityContext.privileged === true) {
        reportViolation(`${displayName(args)}: ${c.kind} '${c.name}' is privileged.`);
      }
    }
  },
};

export const podsRunAsNonRoot: ResourceValidationPolicy = {
  name: "pods-run-as-non-root",
  description:
    "Every pod but the NFS server's (and the Job making a Filestore share's folders) runs as non-root " +
    "(runAsNonRoot true or a non-zero runAsUser, on the pod or each container) and every container " +
    "sets allowPrivilegeEscalation: false.",
  enforcementLevel: "mandatory",
  configSchema: exemptComponentsSchema(rootExempt, "the NFS server and the Filestore share's folder Job"),
  validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
    const pod = podSpecOf(args.type, args.props);
    if (!pod || insideComponent(args, exemptComponents(args, rootExempt))) return;
    const podContext = record(pod.securityContext);
    for (const c of containersOf(pod)) {
      const where = `${displayName(args)}: ${c.kind} '${c.name}'`;
      const user = c.securityContext.runAsUser ?? podContext.runAsUser;
      const nonRoot = c.securityContext.runAsNonRoot ?? podContext.runAsNonRoot;
      if (user === 0) {
        reportViolation(`${where} runs as root (runAsUser: 0).`);
      } else if (nonRoot === false) {
        reportViolation(`${where} sets runAsNonRoot: false.`);
      } else if (nonRoot !== true && !(typeof user === "number" && user > 0)) {
        reportViolation(`${where} may run as root: set runAsNonRoot: true or a non-zero runAsUser.`);
      }
      if (c.securityContext.allowPrivilegeEscalation !== false) {
        reportViolation(`${where} does not set allowPrivilegeEscalation: false.`);
      }
      if (c.securityContext.privileged === true) {
        reportViolation(`${where} is privileged, which always allows privilege escalation.`);
      }
    }
  },
};

const roleTypes = [
  "kubernetes:rbac.authorization.k8s.io/v1:Role",
  "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
];

export const noWildcardRoles: ResourceValidationPolicy = {
  name: "no-wildcard-rbac",
  description: 'No Role or ClusterRole grants "*" in verbs, resources or apiGroups.',
  enforcementLevel: "mandatory",
  validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
    if (!roleTypes.includes(args.type)) return;
    const kind = args.type.split(":").pop();
    records(args.props.rules).forEach((rule, i) => {
      const wild: string[] = [];
      if (strings(rule.verbs).includes("*")) wild.push("verbs");
      if (strings(rule.apiGroups).includes("*")) wild.push("apiGroups");
      // "*", "*/scale" and "pods/*" all reach further than the resources they name.
      if (strings(rule.resources).some((r) => r.includes("*"))) wild.push("resources");
      if (wild.length > 0) {
        reportViolation(`${kind} ${displayName(args)}: rule ${i} has a wildcard in ${wild.join(", ")}.`);
      }
    });
  },
};

export const noSecretsInConfigMaps: ResourceValidationPolicy = {
  name: "no-secrets-in-configmaps",
  description:
    "No ConfigMap holds a credential (a private key, a token, a password literal, a long random " +
    "string): credentials go in a Secret. Naming a secret (an environment variable, a file) is fine.",
  enforcementLevel: "mandatory",
  validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
    if (args.type !== "kubernetes:core/v1:ConfigMap") return;
    for (const f of findSecretsInConfigMap(args.props.data, args.props.binaryData)) {
      reportViolation(`ConfigMap ${displayName(args)}, key '${f.key}': ${f.reason}. Put it in a Secret.`);
    }
  },
};

export const nfsClaimBindsStatically: ResourceValidationPolicy = {
  name: "nfs-claim-binds-statically",
  description:
    'A ReadWriteMany claim (the NFS claim) names its volume and has storageClassName "", or the cluster\'s ' +
    "default StorageClass provisions a new, empty disk instead; any claim bound by volumeName sets " +
    "storageClassName explicitly, or the default class is filled in and the claim never binds its volume.",
  enforcementLevel: "mandatory",
  validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
    if (args.type !== "kubernetes:core/v1:PersistentVolumeClaim") return;
    const spec = record(args.props.spec);
    const name = displayName(args);
    const readWriteMany = strings(spec.accessModes).includes("ReadWriteMany");
    // During a preview the volume's name is usually unknown (the volume is created in the same run), and
    // reading an unknown property makes @pulumi/policy skip the whole check. Look at the raw value
    // instead: an unknown placeholder still means "bound by name".
    const volumeName = Object.getOwnPropertyDescriptor(spec, "volumeName")?.value;
    const boundByName = volumeName !== undefined && volumeName !== null && volumeName !== "";
    const found = spec.storageClassName === undefined ? "unset" : JSON.stringify(spec.storageClassName);
    if (readWriteMany && !boundByName) {
      reportViolation(
        `PersistentVolumeClaim ${name} is ReadWriteMany but names no volumeName: bind it to the NFS volume.`,
      );
    }
    if (readWriteMany && spec.storageClassName !== "") {
      reportViolation(`PersistentVolumeClaim ${name} must set storageClassName: "" (it is ${found}).`);
    } else if (boundByName && typeof spec.storageClassName !== "string") {
      // The GCE disk's claim names its volume's own class (it may grow); unset, the API server would
      // fill in the default class, which the volume does not have.
      reportViolation(
        `PersistentVolumeClaim ${name} is bound by volumeName but its storageClassName is ${found}: ` +
          'set it to its volume\'s class ("" for a volume without one).',
      );
    }
  },
};

/** What holds the notebooks in Google Cloud: a GCE disk, or a Filestore instance. */
const notebookStores: Record<string, string> = {
  "gcp:compute/disk:Disk": "Disk",
  "gcp:filestore/instance:Instance": "Filestore instance",
};

export function makeGceDiskRetained(stack: StackConfig): ResourceValidationPolicy {
  return {
    name: "gce-disk-retained-on-delete",
    description:
      "The GCE disk (or Filestore instance) with the notebooks is retainOnDelete (mirrored in its " +
      "retain-on-delete label), a Filestore instance also deletion-protected, unless the stack opts out " +
      "with `jupyterhub-nfs:diskRetainOnDelete: false`.",
    enforcementLevel: "mandatory",
    configSchema: {
      properties: {
        allowDiskDeletion: {
          type: "boolean",
          default: false,
          description: "Let any stack delete its disk, whatever its config says.",
        },
      },
    },
    validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
      const kind = notebookStores[args.type];
      if (kind === undefined) return;
      const optedOut = projectValue(stack, "diskRetainOnDelete") === "false";
      if (optedOut || args.getConfig<{ allowDiskDeletion?: boolean }>().allowDiskDeletion === true) return;
      const name = String(args.props.name ?? args.name);
      const label = record(args.props.labels)[retainLabel];
      if (label !== "true") {
        reportViolation(
          `${kind} ${name} is not retained on delete (label ${retainLabel}: ` +
            `${JSON.stringify(label ?? null)}), but the stack did not set diskRetainOnDelete: false. ` +
            "`pulumi destroy` would delete every notebook.",
        );
      }
      if (args.type === "gcp:filestore/instance:Instance" && args.props.deletionProtectionEnabled !== true) {
        reportViolation(
          `Filestore instance ${name} is not deletion-protected, but the stack did not set diskRetainOnDelete: false.`,
        );
      }
    },
  };
}

export function makeLoadBalancersWhereAsked(stack: StackConfig): ResourceValidationPolicy {
  const fromStack = stackChosenServices
    .filter((s) => projectValue(stack, s.configKey) === "LoadBalancer")
    .map((s) => s.serviceName);
  return {
    name: "load-balancers-only-where-asked",
    description:
      "A Service is of type LoadBalancer only if the stack asked for it (proxyServiceType or " +
      "fileBrowserServiceType LoadBalancer) or the pack's config lists it.",
    enforcementLevel: "mandatory",
    configSchema: {
      properties: {
        allowedServices: {
          type: "array",
          items: { type: "string" },
          default: [],
          description: 'More Services that may be LoadBalancers: "name" or "namespace/name".',
        },
      },
    },
    validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
      if (args.type !== "kubernetes:core/v1:Service") return;
      if (record(args.props.spec).type !== "LoadBalancer") return;
      const meta = record(args.props.metadata);
      const name = typeof meta.name === "string" ? meta.name : args.name;
      const qualified = typeof meta.namespace === "string" ? `${meta.namespace}/${name}` : name;
      const allowed = [...fromStack, ...(args.getConfig<{ allowedServices?: string[] }>().allowedServices ?? [])];
      if (!allowed.includes(name) && !allowed.includes(qualified)) {
        const asked = fromStack.length > 0 ? fromStack.join(", ") : "none";
        reportViolation(
          `Service ${qualified} is a LoadBalancer, which the stack did not ask for ` +
            `(LoadBalancers the stack asked for: ${asked}).`,
        );
      }
    },
  };
}

/** Every policy of the pack, for a stack with the given config. */
export function makePolicies(stack: StackConfig): Policies {
  return [
    noPrivilegedContainers,
    podsRunAsNonRoot,
    noWildcardRoles,
    noSecretsInConfigMaps,
    nfsClaimBindsStatically,
    makeGceDiskRetained(stack),
    makeLoadBalancersWhereAsked(stack),
    makeLdapTlsVerified(stack),
    makeNoPlainHttpPublicHub(stack),
    oauthIssuerHttps,
    makeUserPodsFenced(stack),
    notebooksNotServedUnauthenticated,
    userServersMountOwnFolder,
  ];
}
