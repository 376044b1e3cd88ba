import { z } from "zod";
import { nonPublicRanges } from "../components/network/addresses";
import { filestoreCapacityProblem, filestoreTiers, type FilestoreTier } from "../components/storage/filestore";
import { inCidr } from "../policy/networkPolicy";
import { diskGb } from "./quantity";

/** The Filestore keys' value rules (diskKind filestore); how they depend on the others is checkFilestore. */
export const filestoreTierSchema = z.enum(Object.keys(filestoreTiers) as [FilestoreTier, ...FilestoreTier[]]);

/** A VPC network: its name, or its path in a (host) project. */
export const filestoreNetworkSchema = z
  .string()
  .regex(
    /^(projects\/[a-z][-a-z0-9]{4,28}[a-z0-9]\/global\/networks\/)?[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/,
    "must be a VPC network's name, or projects/<project>/global/networks/<name>",
  );

const ipv4Cidr = z.cidrv4({ error: "must be an IPv4 CIDR such as 10.0.0.0/20" });

export const filestoreReservedIpRangeSchema = z.string().refine((v) => v === "" || ipv4Cidr.safeParse(v).success, {
  message: "must be empty or an IPv4 CIDR such as 10.201.0.0/26",
});

/** Filestore takes at most 64 ranges or addresses per share. */
export const filestoreClientCidrsSchema = z.array(ipv4Cidr).max(64, "must list at most 64 ranges (Filestore's limit)");

interface FilestoreKeys {
  diskKind: string;
  diskSize: string;
  diskZone: string;
  diskSnapshots: boolean;
  diskSnapshot: string;
  filestoreTier: FilestoreTier;
  filestoreReservedIpRange: string;
  filestoreClientCidrs: string[];
  userEgressAllowedCidrs: string[];
  userQuotaDefault: string;
}

/** The first address of a CIDR and its prefix length. */
function parseCidr(cidr: string): { base: string; prefix: number } {
  const [base, prefix] = cidr.split("/");
  return { base, prefix: Number(prefix) };
}

/** Whether two IPv4 ranges share an address (one contains the other's first address). */
function overlaps(a: string, b: string): boolean {
  return inCidr(parseCidr(a).base, b) || inCidr(parseCidr(b).base, a);
}

/**
 * The Filestore keys against each other and the disk keys, with diskKind filestore; the Filestore
 * keys left at their defaults otherwise.
 */
export function checkFilestore(c: FilestoreKeys, fail: (key: keyof FilestoreKeys, message: string) => void): void {
  if (c.diskKind !== "filestore") return;
  if (c.diskZone === "") fail("diskZone", "is required when diskKind is filestore (where the instance lives)");
  const tier = filestoreTiers[c.filestoreTier];
  if (/^\d+(Gi|Ti)$/.test(c.diskSize)) {
    const problem = filestoreCapacityProblem(c.filestoreTier, diskGb(c.diskSize));
    if (problem) fail("diskSize", problem);
  }
  if (c.diskSnapshots) {
    fail(
      "diskSnapshots",
      "needs diskKind gce: Filestore has no snapshot schedule of its own; take Filestore backups (see docs/filestore.md)",
    );
  }
  if (c.diskSnapshot !== "") {
    fail("diskSnapshot", "needs diskKind gce (a GCE snapshot makes a GCE disk, not a Filestore share)");
  }
  if (c.userQuotaDefault !== "") {
    fail(
      "userQuotaDefault",
      "needs diskKind gce or storageClass: Filestore has no quota per folder (only the whole share's capacity)",
    );
  }
  const range = c.filestoreReservedIpRange;
  // A range that is no CIDR is refused by its own rule already.
  if (ipv4Cidr.safeParse(range).success) {
    const { prefix } = parseCidr(range);
    if (prefix !== tier.prefix) {
      fail(
        "filestoreReservedIpRange",
        `must be a /${tier.prefix} for a ${c.filestoreTier} instance (it is a /${prefix})`,
      );
    }
    // User pods may reach public addresses: an instance there would be open to their code.
    if (!nonPublicRanges.some((r) => inCidr(parseCidr(range).base, r) && parseCidr(r).prefix <= prefix)) {
      fail("filestoreReservedIpRange", `must lie in a range user pods may not reach (${nonPublicRanges.join(", ")})`);
    }
    c.userEgressAllowedCidrs.forEach((allowed) => {
      if (overlaps(allowed, range)) {
        fail(
          "userEgressAllowedCidrs",
          `"${allowed}" reaches the Filestore instance (${range}): NFS has no authentication, and user code would read every user's folder`,
        );
      }
    });
  }
}
