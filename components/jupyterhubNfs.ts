import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import {
  readProjectFile,
  validateValues,
  secretKeys,
  withSecrets,
  type SecretKey,
  type StackConfig,
  type ValidatedConfig,
} from "../stacks";
import { defaultScopes, defaultUsernameClaim, oauthCallbackPath } from "../stacks/authenticator";
import { refuseDiskShrink } from "../stacks/diskShrink";
import type { ProfileConfig } from "../stacks/profiles";
import { bytes, cpuCores, diskGb } from "../stacks/quantity";
import { quotaBytes, userQuotaOverridesBytes } from "../stacks/userQuotas";
import { TestLdapServer } from "./auth/testLdapServer";
import { UserCapacity, UserScheduler, type UserPlacement } from "./capacity";
import { namespaceMetadata } from "./common";
import { FileBrowser } from "./fileBrowser";
import { JupyterHub, sharedDir, type LdapSettings, type OAuthSettings, type UserProfile } from "./jupyterhub";
import { HttpsIngress, httpsIngressServiceAnnotations } from "./jupyterhub/httpsIngress";
import { isBucketVolume } from "./jupyterhub/userServerExtras";
import { profilePlacement } from "./jupyterhub/profiles";
import { avoidNodeOfTerms, notebookHome } from "./jupyterhub/userServers";
import { gmpCollector, HubMonitoring } from "./monitoring";
import { NetworkFence } from "./network";
import { Filestore } from "./storage/filestore";
import { GceDisk } from "./storage/gceDisk";
import { NfsServer, usageExporterPort, type OwnedFolder } from "./storage/nfsServer";
import { NfsVolume } from "./storage/nfsVolume";
import { ShareFolders } from "./storage/shareFolders";
import { StorageClassDisk } from "./storage/storageClassDisk";

/** The notebook user of the Jupyter images (jovyan) and its group (users). */
const notebookUid = 1000;
const notebookGid = 100;
/** Folder of the NFS export that holds one folder per user. */
const notebooksDir = "notebooks";

/** A profile as the stack config gives it, as the JupyterHub component takes it (cores and bytes). */
function userProfile(p: ProfileConfig): UserProfile {
  const { cpuLimit, cpuGuarantee, memoryLimit, memoryGuarantee, gpuCount, gpuType, ...rest } = p;
  return {
    ...rest,
    cpuLimit: cpuLimit !== undefined ? cpuCores(cpuLimit) : undefined,
    cpuGuarantee: cpuGuarantee !== undefined ? cpuCores(cpuGuarantee) : undefined,
    memoryLimitBytes: memoryLimit !== undefined ? bytes(memoryLimit) : undefined,
    memoryGuaranteeBytes: memoryGuarantee !== undefined ? bytes(memoryGuarantee) : undefined,
    // The schema refuses one without the other.
    gpus: gpuCount !== undefined && gpuType !== undefined ? { count: gpuCount, type: gpuType } : undefined,
  };
}

/** The OAuth provider as the hub config takes it, or undefined with LDAP. The schema checked every key. */
function oauthSettings(cfg: ValidatedConfig): OAuthSettings | undefined {
  const kind = cfg.authenticator;
  if (kind === "ldap") return undefined;
  const endpoints =
    cfg.oauthAuthorizeUrl !== ""
      ? { authorize: cfg.oauthAuthorizeUrl, token: cfg.oauthTokenUrl, userdata: cfg.oauthUserdataUrl }
      : undefined;
  return {
    kind,
    clientId: cfg.oauthClientId,
    callbackUrl: cfg.oauthCallbackUrl !== "" ? cfg.oauthCallbackUrl : `https://${cfg.hubDomain}${oauthCallbackPath}`,
    loginService: cfg.oauthLoginService !== "" ? cfg.oauthLoginService : undefined,
    scopes: cfg.oauthScopes.length > 0 ? cfg.oauthScopes : defaultScopes[kind],
    usernameClaim: cfg.oauthUsernameClaim !== "" ? cfg.oauthUsernameClaim : defaultUsernameClaim[kind],
    ...(kind === "oidc" && {
      ...(endpoints ? { endpoints } : { issuerUrl: cfg.oauthIssuerUrl }),
      groupsClaim: cfg.oauthGroupsClaim !== "" ? cfg.oauthGroupsClaim : "groups",
    }),
    allowedGroups: cfg.allowedGroups,
    adminGroups: cfg.adminGroups,
    hostedDomains: cfg.oauthHostedDomains,
    stripDomain: cfg.oauthStripDomain !== "" ? cfg.oauthStripDomain : undefined,
    enableAuthState: cfg.oauthEnableAuthState,
  };
}

/**
 * The capacity keys (userPriorityClasses, userPlaceholders, imagePrePuller, userScheduler): the
 * PriorityClasses, the placeholders, the pre-puller and the user scheduler, and what KubeSpawner is
 * told of them. Placeholders are the size of the default profile's guarantee (the one KubeSpawner
 * starts when a request names none, so what most of a class starts), placed where its pods go.
 */
function userCapacity(
  cfg: ValidatedConfig,
  profiles: UserProfile[],
  avoidNodeOf: { namespace: string; podLabels: Record<string, string> } | undefined,
  opts: pulumi.CustomResourceOptions,
): { priorityClassName?: pulumi.Output<string>; schedulerName?: string; schedulerPods?: Record<string, string> } {
  const scheduler = cfg.userScheduler
    ? new UserScheduler(
        "user-scheduler",
        { namespace: cfg.namespace, image: cfg.userSchedulerImage, schedulerName: `${cfg.namespace}-user-scheduler` },
        opts,
      )
    : undefined;
  // KubeSpawner starts the profile marked default, else the first (the schema allows one default).
  const defaultProfile = profiles.find((p) => p.default) ?? profiles[0];
  const placement: UserPlacement = {
    ...(defaultProfile ? profilePlacement(defaultProfile) : { nodeSelector: {}, tolerations: [] }),
    ...(avoidNodeOf && {
      affinity: { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: avoidNodeOfTerms(avoidNodeOf) } },
    }),
  };
  const tolerations = profiles.flatMap((p) => profilePlacement(p).tolerations);
  const images = [
    cfg.singleuserImage,
    ...profiles.flatMap((p) => [...(p.image !== undefined ? [p.image] : []), ...p.imageChoices.map((c) => c.image)]),
  ];
  const capacity =
    cfg.userPriorityClasses || cfg.imagePrePuller
      ? new UserCapacity(
          "user-capacity",
          {
            namespace: cfg.namespace,
            pauseImage: cfg.pauseImage,
            ...(cfg.userPriorityClasses && {
              priorityClassNames: {
                user: `${cfg.namespace}-user`,
                imagePuller: `${cfg.namespace}-image-puller`,
                placeholder: `${cfg.namespace}-user-placeholder`,
              },
            }),
            ...(cfg.userPlaceholders > 0 && {
              placeholders: {
                count: cfg.userPlaceholders,
                cpu: defaultProfile?.cpuGuarantee ?? cpuCores(cfg.userCpuGuarantee),
                memoryBytes: defaultProfile?.memoryGuaranteeBytes ?? bytes(cfg.userMemoryGuarantee),
                placement,
              },
            }),
            ...(cfg.imagePrePuller && {
              prePuller: {
                images: [...new Set(images)],
                tolerations: [...new Map(tolerations.map((t) => [JSON.stringify(t), t])).values()],
              },
            }),
            schedulerName: scheduler?.schedulerName,
          },
          opts,
        )
      : undefined;
  return {
    priorityClassName: capacity?.userPriorityClassName,
    schedulerName: scheduler?.schedulerName,
    schedulerPods: scheduler?.podSelector,
  };
}

/**
 * The in-cluster NFS server on its backing disk (a GCE disk, or a StorageClass claim) and the NFS
 * volume wired to its Service's ClusterIP.
 */
function nfsServerVolume(
  cfg: ValidatedConfig,
  hubNamespace: k8s.core.v1.Namespace,
  nfsNamespace: k8s.core.v1.Namespace,
  ownedFolders: OwnedFolder[],
  opts: pulumi.ComponentResourceOptions,
) {
  const quotasOn = cfg.userQuotaDefault !== "";
  const disk =
    cfg.diskKind === "gce"
      ? new GceDisk(
          "notebook-disk",
          {
            namespace: nfsNamespace.metadata.name,
            diskName: cfg.diskName,
            zone: cfg.diskZone,
            sizeGb: diskGb(cfg.diskSize),
            diskType: cfg.diskType,
            snapshot: cfg.diskSnapshot,
            adopt: cfg.diskAdopt,
            // Cluster-scoped, so named after the stack's own NFS namespace (unique in the cluster).
            storageClassName: `${cfg.nfsNamespace}-notebook-disk`,
            // Per-user quotas are XFS project quotas (stacks/diskShrink.ts refuses them on an ext4 disk).
            fileSystem: quotasOn ? "xfs" : "ext4",
            projectQuotas: quotasOn,
            snapshots: cfg.diskSnapshots
              ? { retentionDays: cfg.diskSnapshotRetentionDays, startTime: cfg.diskSnapshotStartTime }
              : undefined,
            retainOnDelete: cfg.diskRetainOnDelete,
            protect: cfg.diskProtect,
          },
          opts,
        )
      : new StorageClassDisk(
          "notebook-disk",
          {
            namespace: nfsNamespace.metadata.name,
            claimName: cfg.diskName,
            storageClassName: cfg.storageClassName,
            size: cfg.diskSize,
            retainOnDelete: cfg.diskRetainOnDelete,
            protect: cfg.diskProtect,
          },
          opts,
        );

  const nfsServer = new NfsServer(
    "nfs-server",
    {
      namespace: nfsNamespace.metadata.name,
      image: cfg.nfsImage,
      // Cluster-scoped, so named after the stack's own NFS namespace (unique in the cluster).
      priorityClassName: `${cfg.nfsNamespace}-nfs-server`,
      // The NFS namespace's name: a DNS-1123 label, unique in the cluster (so no other stack's NFS
      // server shares it), and unchanged by every config change that keeps the NFS server where it is.
      hostname: cfg.nfsNamespace,
      claimName: disk.claimName,
      // Made on the server's own disk, where root is not squashed.
      ownedFolders,
      userQuotas: quotasOn
        ? {
            image: cfg.userQuotaImage,
            folder: notebooksDir,
            defaultBytes: quotaBytes(cfg.userQuotaDefault),
            overridesBytes: userQuotaOverridesBytes(cfg.userQuotaOverrides),
          }
        : undefined,
    },
    opts,
  );

  // The wiring the manual recipe did by hand: the volume points at the Service's assigned IP.
  const notebooks = new NfsVolume(
    "notebooks",
    {
      server: nfsServer.clusterIP,
      capacity: cfg.diskSize,
      claimNamespace: hubNamespace.metadata.name,
      claimName: "notebooks",
    },
    opts,
  );
  return {
    notebooks,
    nfsServer,
    diskName: disk instanceof GceDisk ? disk.diskName : disk.claimName,
    serverIp: nfsServer.clusterIP,
    shareFolders: undefined,
  };
}

/**
 * A Filestore instance serving the notebooks (no NFS server pod), the same NFS volume wired to its
 * address and share, and the Job that makes the share's top folders through that volume's claim.
 */
function filestoreVolume(
  cfg: ValidatedConfig,
  hubNamespace: k8s.core.v1.Namespace,
  folders: OwnedFolder[],
  opts: pulumi.ComponentResourceOptions,
) {
  const filestore = new Filestore(
    "notebook-filestore",
    {
      instanceName: cfg.diskName,
      tier: cfg.filestoreTier,
      zone: cfg.diskZone,
      capacityGb: diskGb(cfg.diskSize),
      network: cfg.filestoreNetwork,
      reservedIpRange: cfg.filestoreReservedIpRange,
      clientCidrs: cfg.filestoreClientCidrs,
      retainOnDelete: cfg.diskRetainOnDelete,
      protect: cfg.diskProtect,
      adopt: cfg.diskAdopt,
    },
    opts,
  );
  // The same wiring, to the instance's assigned address and its share.
  const notebooks = new NfsVolume(
    "notebooks",
    {
      server: filestore.ipAddress,
      path: filestore.path,
      mountOptions: filestore.mountOptions,
      capacity: cfg.diskSize,
      claimNamespace: hubNamespace.metadata.name,
      claimName: "notebooks",
    },
    opts,
  );
  const shareFolders = new ShareFolders(
    "share-folders",
    { namespace: hubNamespace.metadata.name, claimName: notebooks.claimName, image: cfg.nfsImage, folders },
    opts,
  );
  return {
    notebooks,
    nfsServer: undefined,
    diskName: filestore.instance.name,
    serverIp: filestore.ipAddress,
    shareFolders,
  };
}

/**
 * Every resource of the program, wired: the namespaces, the disk, the NFS server and volume, the file
 * browser, the test LDAP server, JupyterHub, its HTTPS Ingress and the NetworkPolicies. `parent`
 * (the JupyterHubNfs component) is every top-level resource's parent; without one they sit at the
 * stack's root, where this project's own program (index.ts) has always put them, so their URNs stay.
 * Returns the stack outputs.
 */
export function deployJupyterHubNfs(cfg: ValidatedConfig, parent?: pulumi.Resource) {
  const opts = { parent };
  // Pod Security levels: see podSecurityLevel.
  const hubNamespace = new k8s.core.v1.Namespace(
    "hub-namespace",
    { metadata: namespaceMetadata("hub", cfg.namespace, pulumi.getStack()) },
    opts,
  );
  // Deleting a namespace deletes the claims in it. With a StorageClass disk the data claim lives
  // here, so the namespace is kept whenever the disk is. Filestore needs no NFS namespace: no
  // NFS server pod runs (and no privileged namespace is left empty for others to use).
  const keepNfsNamespace = cfg.diskKind === "storageClass" && cfg.diskRetainOnDelete;
  const nfsNamespace =
    cfg.diskKind === "filestore"
      ? undefined
      : new k8s.core.v1.Namespace(
          "nfs-namespace",
          { metadata: namespaceMetadata("nfs", cfg.nfsNamespace, pulumi.getStack()) },
          { ...opts, retainOnDelete: keepNfsNamespace },
        );

  // The top folders of the export. The notebook user makes its own folder in notebooks/ (the hub's
  // init container), with or without root squash; admins write course material into shared/. Mode
  // 0750: the file browser reads through the users group. shared/ is made whether sharedFolder is
  // on or not, so that turning it on or off never restarts the NFS server (and pauses every user's
  // files). notebooks/ is 0751, not 0750: the kubelet (root on the node) opens each user's subPath
  // through it, and an export that squashes root makes it nobody there, who needs the search bit
  // to get through (the kernel lab showed user pods unable to start with 0750). Listing stays
  // closed. shared/ is itself a subPath's last step, which needs no search bit on it.
  const topFolders: OwnedFolder[] = [
    { path: notebooksDir, uid: notebookUid, gid: notebookGid, mode: "0751" },
    { path: sharedDir, uid: notebookUid, gid: notebookGid, mode: "0750" },
  ];

  const { notebooks, nfsServer, diskName, serverIp, shareFolders } = nfsNamespace
    ? nfsServerVolume(cfg, hubNamespace, nfsNamespace, topFolders, opts)
    : filestoreVolume(cfg, hubNamespace, topFolders, opts);

  const fileBrowser = cfg.fileBrowser
    ? new FileBrowser(
        "file-browser",
        {
          namespace: hubNamespace.metadata.name,
          image: cfg.fileBrowserImage,
          claimName: notebooks.claimName,
          serviceType: cfg.fileBrowserServiceType,
          readerGid: notebookGid,
          // Each folder's usage at /usage/, from the NFS server's usage exporter (per-user quotas on).
          usageUpstream: nfsServer?.usageAddress,
        },
        opts,
      )
    : undefined;

  const useLdap = cfg.authenticator === "ldap";
  const testLdap =
    useLdap && cfg.ldapTestServer
      ? new TestLdapServer(
          "test-ldap",
          {
            namespace: hubNamespace.metadata.name,
            image: cfg.ldapTestImage,
            users: cfg.ldapTestUsers,
          },
          opts,
        )
      : undefined;

  const ldap: pulumi.Input<LdapSettings | undefined> = !useLdap
    ? undefined
    : testLdap
      ? testLdap.address.apply((serverAddress) => ({
          serverAddress,
          serverPort: testLdap.port,
          // The test server speaks plain LDAP, and only inside the cluster.
          tlsStrategy: "insecure" as const,
          tlsVerify: false,
          bindDnTemplates: [testLdap.bindDnTemplate],
          allowedGroups: cfg.allowedGroups,
        }))
      : {
          serverAddress: cfg.ldapServer,
          serverPort: cfg.ldapPort,
          tlsStrategy: cfg.ldapTlsStrategy,
          tlsVerify: !cfg.ldapTlsInsecureSkipVerify,
          bindDnTemplates: cfg.ldapBindDnTemplates,
          lookupDn: cfg.ldapLookupDn
            ? {
                userSearchBase: cfg.ldapUserSearchBase,
                userAttribute: cfg.ldapUserAttribute,
                searchUser: cfg.ldapLookupDnSearchUser,
              }
            : undefined,
          allowedGroups: cfg.allowedGroups,
        };

  const oauth = oauthSettings(cfg);

  const profiles = cfg.profiles.map(userProfile);
  // The in-cluster NFS server's node: a user pod there would take its memory and CPU (none with Filestore).
  const avoidNodeOf = nfsServer && { namespace: cfg.nfsNamespace, podLabels: nfsServer.podSelector };
  const capacity = userCapacity(cfg, profiles, avoidNodeOf, opts);

  // A bucket volume is mounted with the user pods' own Google token (Workload Identity Federation).
  const bucketVolumes = cfg.userVolumes.some(isBucketVolume);
  const hub = new JupyterHub(
    "jupyterhub",
    {
      namespace: hubNamespace.metadata.name,
      hubImage: cfg.hubImage,
      proxyImage: cfg.proxyImage,
      proxyServiceType: cfg.proxyServiceType,
      ...(cfg.hubDomain !== "" && {
        proxyServiceAnnotations: httpsIngressServiceAnnotations,
        publicUrl: `https://${cfg.hubDomain}/`,
      }),
      dbSize: cfg.hubDbSize,
      dbStorageClassName: cfg.hubDbStorageClassName,
      hubResources: {
        cpuGuarantee: cfg.hubCpuGuarantee,
        memoryGuarantee: cfg.hubMemoryGuarantee,
        memoryLimit: cfg.hubMemoryLimit,
      },
      ldapSearchPassword: cfg.ldapLookupDnSearchPassword,
      ldapCaCertificate: cfg.ldapTlsCaCertificate !== "" ? cfg.ldapTlsCaCertificate : undefined,
      ...(oauth && { oauthClientSecret: cfg.oauthClientSecret, authState: cfg.oauthEnableAuthState }),
      metrics: cfg.monitoring,
      ...(bucketVolumes && {
        userServiceAccount:
          cfg.userGoogleServiceAccount !== "" ? { googleServiceAccount: cfg.userGoogleServiceAccount } : {},
      }),
      hub: pulumi
        .all([ldap, notebooks.claimName, capacity.priorityClassName])
        .apply(([ldapSettings, notebooksClaim, priorityClassName]) => ({
          ldap: ldapSettings,
          oauth,
          allowedUsers: cfg.allowedUsers,
          allowAllUsers: cfg.allowAllUsers,
          adminUsers: cfg.adminUsers,
          singleuser: {
            image: cfg.singleuserImage,
            uid: notebookUid,
            gid: notebookGid,
            cpuLimit: cpuCores(cfg.userCpuLimit),
            cpuGuarantee: cpuCores(cfg.userCpuGuarantee),
            memoryLimitBytes: bytes(cfg.userMemoryLimit),
            memoryGuaranteeBytes: bytes(cfg.userMemoryGuarantee),
            notebooksClaim,
            notebooksDir,
            mountPath: notebookHome,
            folders: { sharedFolder: cfg.sharedFolder, adminAllUsersFolder: cfg.adminAllUsersFolder },
            defaultUrl: cfg.userDefaultUrl,
            startTimeoutSeconds: cfg.userStartTimeoutSeconds,
            httpTimeoutSeconds: cfg.userHttpTimeoutSeconds,
            avoidNodeOf,
            profiles,
            priorityClassName,
            schedulerName: capacity.schedulerName,
            environment: cfg.userEnvironment,
            extraVolumes: cfg.userVolumes,
            postStart: cfg.userPostStart,
          },
          namedServersPerUser: cfg.namedServersPerUser,
          cullIdleSeconds: cfg.cullIdleSeconds,
          cullMaxAgeSeconds: cfg.cullMaxAgeSeconds,
          cullConcurrency: cfg.cullConcurrency,
          concurrentSpawnLimit: cfg.concurrentSpawnLimit,
          activeServerLimit: cfg.activeServerLimit,
          extraConfig: cfg.hubExtraConfig,
        })),
    },
    // With Filestore, no user's server may start before the share's top folders exist.
    shareFolders ? { ...opts, dependsOn: [shareFolders] } : opts,
  );

  const ingress =
    cfg.hubDomain !== ""
      ? new HttpsIngress(
          "hub-https",
          {
            namespace: hubNamespace.metadata.name,
            serviceName: hub.proxyServiceName,
            servicePort: hub.proxyServicePort,
            domain: cfg.hubDomain,
            certificate:
              cfg.hubTlsSecretName !== "" ? { kind: "secret", secretName: cfg.hubTlsSecretName } : { kind: "managed" },
            healthCheck: hub.proxyHealthCheck,
          },
          opts,
        )
      : undefined;

  if (cfg.networkPolicies) {
    new NetworkFence(
      "network-fence",
      {
        namespace: hubNamespace.metadata.name,
        pods: {
          hub: hub.hubPods,
          proxy: hub.proxyPods,
          userPods: hub.userPods,
          fileBrowser: fileBrowser && {
            ...fileBrowser.pods,
            exposed: cfg.fileBrowserServiceType !== "ClusterIP",
            // Its usage page, proxied from the NFS server's usage exporter (per-user quotas on).
            ...(nfsServer?.usageAddress && {
              usageExporter: {
                namespace: cfg.nfsNamespace,
                podSelector: nfsServer.podSelector,
                port: usageExporterPort,
              },
            }),
          },
          testLdap: testLdap?.pods,
          userScheduler: capacity.schedulerPods,
        },
        userEgressCidrs: cfg.userEgressAllowedCidrs,
        userPodsReachGkeMetadataServer: bucketVolumes,
        ...(hub.metrics && { metricsCollector: gmpCollector }),
      },
      opts,
    );
  }

  // Monitoring (GKE's Managed Service for Prometheus). The storage alerts read the NFS server's
  // usage exporter, which runs only with per-user quotas (and there is no NFS server pod with Filestore).
  if (hub.metrics) {
    const usage = nfsServer?.usageMetrics;
    new HubMonitoring(
      "monitoring",
      {
        namespace: hubNamespace.metadata.name,
        ...hub.metrics,
        ...(usage &&
          nfsServer &&
          nfsNamespace && {
            storage: { namespace: nfsNamespace.metadata.name, podSelector: nfsServer.podSelector, ...usage },
          }),
      },
      opts,
    );
  }

  return {
    hubUrl: ingress ? ingress.url : hub.url,
    ...(ingress && { hubAddress: ingress.address }),
    ...(fileBrowser && { fileBrowserUrl: fileBrowser.url }),
    ...(fileBrowser && {
      fileBrowserUsername: fileBrowser.username,
      fileBrowserPassword: fileBrowser.password,
    }),
    nfsServerIp: serverIp,
    diskName,
    hubNamespace: hubNamespace.metadata.name,
    ...(nfsNamespace && { nfsNamespace: nfsNamespace.metadata.name }),
    notebooksClaim: notebooks.claimName,
    notebooksVolume: notebooks.volumeName,
    ...(testLdap && { ldapTestPasswords: testLdap.passwords }),
    ...(hub.userServiceAccount && { userServiceAccount: hub.userServiceAccount }),
  };
}

/** The stack outputs of a deployment (what `pulumi stack output` shows for this project's own program). */
export type JupyterHubNfsOutputs = ReturnType<typeof deployJupyterHubNfs>;

/**
 * The whole of this project as one component, for another Pulumi program: its args are this
 * project's config keys (Pulumi.yaml: every key, its type, description and default), typed, and
 * checked by the same rules, with the same errors naming the key. The secrets (the LDAP search
 * password, the OAuth client secret), if any, may be any Input and are kept secret.
 */
export type JupyterHubNfsArgs = Partial<Omit<StackConfig, SecretKey>> &
  Partial<Record<SecretKey, pulumi.Input<string>>>;

/**
 * JupyterHub with every user's notebooks on one NFS volume, as this project's own program deploys
 * it, next to the resources of another program (a GKE cluster and a Kubernetes provider for it,
 * passed in `opts.providers`). Make it with `JupyterHubNfs.create`: bad args, and a diskSize
 * smaller than the GCE disk already has, are refused before any of its resources is registered.
 * Its resources keep their names: one per program.
 */
export class JupyterHubNfs extends pulumi.ComponentResource {
  public readonly hubUrl: pulumi.Output<string>;
  public readonly hubNamespace: pulumi.Output<string>;
  public readonly nfsServerIp: pulumi.Output<string>;
  /** Everything this project's own program exports as stack outputs. */
  public readonly outputs: JupyterHubNfsOutputs;

  private constructor(name: string, cfg: ValidatedConfig, opts?: pulumi.ComponentResourceOptions) {
    super("jupyterhub-nfs:index:JupyterHubNfs", name, {}, opts);
    this.outputs = deployJupyterHubNfs(cfg, this);
    this.hubUrl = pulumi.output(this.outputs.hubUrl);
    this.hubNamespace = this.outputs.hubNamespace;
    this.nfsServerIp = this.outputs.nfsServerIp;
    this.registerOutputs({ hubUrl: this.hubUrl, hubNamespace: this.hubNamespace, nfsServerIp: this.nfsServerIp });
  }

  /** Validates `args` (and the GCE disk's size against the disk as it is), then deploys. */
  static async create(
    name: string,
    args: JupyterHubNfsArgs,
    opts?: pulumi.ComponentResourceOptions,
  ): Promise<JupyterHubNfs> {
    const project = readProjectFile();
    // The rules check that a secret is given where needed: they see whether one is, not its value.
    const given = Object.fromEntries(secretKeys.map((key) => [key, args[key] === undefined ? "" : "(given)"]));
    const config = validateValues({ ...args, ...given }, project);
    await refuseDiskShrink(config, project.name);
    return new JupyterHubNfs(name, withSecrets(config, args), opts);
  }
}
