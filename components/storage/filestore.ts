import type * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import { gcp as loadGcp } from "../gcp";
import { nfsMountOptions } from "./nfsVolume";

/**
 * What each Filestore service tier is, as Google documents it (cloud.google.com/filestore/docs:
 * "Service tiers", "About supported file system protocols", "Configure a reserved IP address
 * range"), and the @pulumi/gcp `filestore.Instance` reference:
 * - capacity in GiB: the least, the most, and the step it grows by (Basic grows by 1 GiB and never
 *   shrinks; zonal and regional change by 256 GiB up to 9.75 TiB and by 2.5 TiB from 10 TiB;
 *   enterprise by 256 GiB up to 10 TiB). Basic HDD's 100 GiB floor exists only for instances the
 *   GKE Filestore CSI driver makes; an instance made through the API starts at 1 TiB;
 * - protocol: Basic speaks NFSv3 only; zonal, regional and enterprise speak NFSv4.1 too (set when the
 *   instance is made), which is what our volume mounts (nfsvers=4.1, see nfsVolume.ts);
 * - where it lives: Basic and zonal in one zone, regional and enterprise in a region (the zone's);
 * - the reserved range: a /29 for Basic, a /26 for the others.
 */
/** Zonal's capacities and protocol; regional is the same, in a region. */
const zonal = {
  minGb: 1024,
  maxGb: 102400,
  steps: [
    { fromGb: 1024, stepGb: 256 },
    { fromGb: 10240, stepGb: 2560 },
  ],
  nfsV41: true,
  regional: false,
  prefix: 26,
};

interface TierFacts {
  minGb: number;
  maxGb: number;
  /** From `fromGb` on, capacity changes by `stepGb` (the last step at or below a size applies). */
  steps: { fromGb: number; stepGb: number }[];
  nfsV41: boolean;
  regional: boolean;
  /** The reserved range's prefix length. */
  prefix: number;
}

export const filestoreTiers = {
  BASIC_HDD: {
    minGb: 1024,
    maxGb: 65433,
    steps: [{ fromGb: 1024, stepGb: 1 }],
    nfsV41: false,
    regional: false,
    prefix: 29,
  },
  BASIC_SSD: {
    minGb: 2560,
    maxGb: 65433,
    steps: [{ fromGb: 2560, stepGb: 1 }],
    nfsV41: false,
    regional: false,
    prefix: 29,
  },
  ZONAL: zonal,
  REGIONAL: { ...zonal, regional: true },
  ENTERPRISE: {
    minGb: 1024,
    maxGb: 10240,
    steps: [{ fromGb: 1024, stepGb: 256 }],
    nfsV41: true,
    regional: true,
    prefix: 26,
  },
} satisfies Record<string, TierFacts>;

export type FilestoreTier = keyof typeof filestoreTiers;

/** Why `gb` GiB is not a capacity the tier offers, or undefined when it is. */
export function filestoreCapacityProblem(tier: FilestoreTier, gb: number): string | undefined {
  const t = filestoreTiers[tier];
  if (gb < t.minGb || gb > t.maxGb) return `must be from ${t.minGb}Gi to ${t.maxGb}Gi for a ${tier} Filestore instance`;
  const step = [...t.steps].reverse().find((s) => gb >= s.fromGb);
  if (step && (gb - step.fromGb) % step.stepGb !== 0) {
    return `must be ${step.fromGb}Gi plus a multiple of ${step.stepGb}Gi for a ${tier} Filestore instance of this size`;
  }
  return undefined;
}

/** The Filestore location of a tier: the zone, or for a regional tier the zone's region. */
export function filestoreLocation(tier: FilestoreTier, zone: string): string {
  return filestoreTiers[tier].regional ? zone.replace(/-[a-z]$/, "") : zone;
}

/**
 * How the kubelet mounts the share. NFSv4.1 tiers: our volume's own options (nfsVolume.ts: 4.1
 * sessions and state reclaim, `hard`, the TCP timeouts written down). Basic: the same with NFSv3,
 * the only version it speaks (no sessions; locks through the node's NLM, rpc.statd).
 */
export function filestoreMountOptions(tier: FilestoreTier): string[] {
  return filestoreTiers[tier].nfsV41
    ? nfsMountOptions
    : nfsMountOptions.map((o) => (o.startsWith("nfsvers=") ? "nfsvers=3" : o));
}

/** The name of the one file share (Filestore: at most 16 characters); the volume's path is `/<name>`. */
export const filestoreShareName = "notebooks";

export interface FilestoreArgs {
  /** Name of the instance (a DNS-1123 label). */
  instanceName: string;
  tier: FilestoreTier;
  /** The zone the stack's config gives; regional tiers live in its region. */
  zone: string;
  /** Capacity in GiB (see filestoreCapacityProblem). */
  capacityGb: number;
  /** The VPC network the cluster's nodes are in (its name, or `projects/<p>/global/networks/<name>`). */
  network: string;
  /** The instance's reserved CIDR range (a /29 for Basic, a /26 else); empty: Filestore picks one. */
  reservedIpRange: string;
  /** The only addresses that may mount the share (the nodes' range); empty: any in the network. */
  clientCidrs: string[];
  /** Keep the instance when Pulumi deletes or replaces it. */
  retainOnDelete: boolean;
  /** Refuse any plan that deletes the instance. */
  protect: boolean;
  /** Take over the instance `instanceName` that already exists (kept by an earlier destroy). */
  adopt?: boolean;
}

/** The import ID of an instance, in a form the GCP provider accepts with or without a project set. */
export function filestoreInstanceId(project: string | undefined, location: string, name: string): string {
  return project ? `projects/${project}/locations/${location}/instances/${name}` : `${location}/${name}`;
}

/**
 * A Filestore instance with one file share holding every user's notebooks: the managed NFS server
 * that takes the in-cluster NFS server's place (no NFS server pod, no Service). Its address and
 * share feed the same NFS PersistentVolume the in-cluster server's ClusterIP feeds.
 */
export class Filestore extends pulumi.ComponentResource {
  public readonly instance: gcp.filestore.Instance;
  /** The instance's address in the VPC network (assigned by Filestore). */
  public readonly ipAddress: pulumi.Output<string>;
  /** The path the share is mounted by: `/<share name>`. */
  public readonly path: string;
  public readonly mountOptions: string[];

  constructor(name: string, args: FilestoreArgs, opts?: pulumi.ComponentResourceOptions) {
    super("jupyterhub-nfs:storage:Filestore", name, {}, opts);
    const location = filestoreLocation(args.tier, args.zone);
    const { config, filestore } = loadGcp();

    // The instance is the user's data: retention and protection sit on it, as on the GCE disk.
    this.instance = new filestore.Instance(
      `${name}-instance`,
      {
        name: args.instanceName,
        location,
        tier: args.tier,
        protocol: filestoreTiers[args.tier].nfsV41 ? "NFS_V4_1" : "NFS_V3",
        fileShares: {
          name: filestoreShareName,
          capacityGb: args.capacityGb,
          // One export rule, as the in-cluster server's run_nfs.sh exports (rw, no_root_squash):
          // the folders of the share are made by root from a pod (ShareFolders), and every mount a
          // cluster makes comes from a node's address, so squashing root for the nodes would leave
          // nothing able to make them. What the rule can do is keep everyone but the nodes out.
          // Without client ranges, Filestore's default applies: every address of the network, the same.
          ...(args.clientCidrs.length > 0 && {
            nfsExportOptions: [{ ipRanges: args.clientCidrs, accessMode: "READ_WRITE", squashMode: "NO_ROOT_SQUASH" }],
          }),
        },
        networks: [
          {
            network: args.network,
            modes: ["MODE_IPV4"],
            connectMode: "DIRECT_PEERING",
            ...(args.reservedIpRange !== "" && { reservedIpRange: args.reservedIpRange }),
          },
        ],
        // Filestore's own guard: while it is on, nothing (console, gcloud, API, Pulumi) deletes the
        // instance. On whenever the stack keeps its data, so a destroy never deletes the notebooks.
        deletionProtectionEnabled: args.retainOnDelete,
        ...(args.retainOnDelete && {
          deletionProtectionReason: "every user's notebooks (jupyterhub-nfs, diskRetainOnDelete)",
        }),
        // Like the GCE disk's: the engine does not show resource options to policy packs, so this
        // label mirrors retainOnDelete for policy/ (gce-disk-retained-on-delete) at preview time.
        labels: { "part-of": "jupyterhub-nfs", "retain-on-delete": String(args.retainOnDelete) },
      },
      {
        parent: this,
        retainOnDelete: args.retainOnDelete,
        protect: args.protect,
        // As GceDisk: a kept instance makes the next `up` fail (already exists) unless adopted.
        ...(args.adopt ? { import: filestoreInstanceId(config.project, location, args.instanceName) } : {}),
      },
    );

    this.ipAddress = this.instance.networks.apply((networks) => {
      const ip = networks[0]?.ipAddresses?.[0];
      // Like the Service's ClusterIP: unknown until the instance exists, so a preview keeps it
      // unknown rather than handing the volume's dry run an empty server.
      if (ip) return ip;
      if (pulumi.runtime.isDryRun()) return pulumi.unknown as unknown as string;
      throw new Error(`Filestore instance ${args.instanceName} reports no IP address`);
    });
    this.path = `/${filestoreShareName}`;
    this.mountOptions = filestoreMountOptions(args.tier);
    this.registerOutputs({ ipAddress: this.ipAddress });
  }
}
