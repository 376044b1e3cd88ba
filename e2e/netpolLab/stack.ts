/**
 * The stack the network policy lab deploys with `pulumi up`: the dev or prod stack's own settings
 * (Pulumi.<stack>.yaml: its namespaces, authentication, Services, user limits: everything that
 * shapes the fence), with what only a cloud has replaced by the local control plane's: the disk
 * (a StorageClass of pre-bound local volumes instead of a GCE disk or GKE's standard-rwo) and
 * prod's public HTTPS front (`hubDomain`: a GKE Ingress with a Google-managed certificate, which
 * no local API server serves). Neither changes a NetworkPolicy: the lab checks that the policies
 * `pulumi up` made are the stack's rendered ones.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { ConfigMap } from "@pulumi/pulumi/automation";
import { parse } from "yaml";
import { type LocalStackNames, localStackConfig } from "../lib/stackConfig";
import { repoRoot } from "../lib/toolchain";

const P = "jupyterhub-nfs";

/** The stack file's keys that name the disk (replaced by local storage) or the GKE-only public front. */
const cloudOnlyKeys = new Set(
  [
    "diskKind",
    "storageClassName",
    "diskName",
    "diskSize",
    "diskType",
    "diskZone",
    "diskSnapshots",
    "diskSnapshotRetentionDays",
    "diskRetainOnDelete",
    "diskProtect",
    "hubDomain",
  ].map((k) => `${P}:${k}`),
);

/** What the local storage needs, taken from the e2e tests' local stack (e2e/lib/stackConfig.ts). */
const localKeys = [
  "diskKind",
  "storageClassName",
  "diskName",
  "diskSize",
  "diskRetainOnDelete",
  "hubDbStorageClassName",
  "hubDbSize",
  // prod's TLS is its Ingress's, which is not deployed here: the config must say plain HTTP is meant.
  "hubInsecureAllowPlainHttp",
].map((k) => `${P}:${k}`);

export interface LabStack {
  names: LocalStackNames;
  config: ConfigMap;
}

/** The lab's stack for dev or prod: the stack file's settings, its disk and public front local. */
export function labStack(stack: string): LabStack {
  const file = path.join(repoRoot, `Pulumi.${stack}.yaml`);
  const settings = (parse(fs.readFileSync(file, "utf8")) as { config: Record<string, unknown> }).config;
  const config: ConfigMap = {};
  for (const [key, value] of Object.entries(settings)) {
    if (!key.startsWith(`${P}:`) || cloudOnlyKeys.has(key)) continue;
    if (Array.isArray(value)) {
      value.forEach((item, i) => {
        if (typeof item === "object") throw new Error(`${file}: ${key}[${i}] is an object: the lab sets scalars only`);
        config[`${key}[${i}]`] = { value: String(item) };
      });
    } else if (typeof value === "object" && value !== null) {
      throw new Error(`${file}: ${key} is an object: the lab sets scalars and lists only`);
    } else {
      config[key] = { value: String(value) };
    }
  }
  const names: LocalStackNames = {
    hubNamespace: String(settings[`${P}:namespace`]),
    nfsNamespace: String(settings[`${P}:nfsNamespace`]),
    storageClass: "netpol-lab-local",
    diskName: "notebooks",
    retainDisk: false,
  };
  const local = localStackConfig(names);
  for (const key of localKeys) config[key] = local[key];
  return { names, config };
}
