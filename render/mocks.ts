import { createHash } from "node:crypto";
import * as bcrypt from "bcryptjs";
import type * as pulumi from "@pulumi/pulumi";

/** The envelope in which Pulumi hands a secret value to a mock. */
const secretSignature = "4dabf18193072939515e22adb298388d";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** Replaces Pulumi's secret envelopes with their values, recursively. */
export function unwrapSecrets(value: unknown): Json {
  if (Array.isArray(value)) return value.map(unwrapSecrets);
  if (value !== null && typeof value === "object") {
    const obj = value as Record<string, unknown>;
    if (secretSignature in obj && "value" in obj) return unwrapSecrets(obj.value);
    const out: JsonObject = {};
    for (const [k, v] of Object.entries(obj)) if (v !== undefined) out[k] = unwrapSecrets(v);
    return out;
  }
  return value as Json;
}

/** One resource as the program registered it. */
export interface RegisteredResource {
  type: string;
  name: string;
  custom: boolean;
  inputs: JsonObject;
  outputs: JsonObject;
}

function digest(...parts: string[]): Buffer {
  return createHash("sha256").update(parts.join("\u0000")).digest();
}

/** `length` characters from `alphabet`, derived from the seed: random-looking, yet the same every run. */
function derivedString(seed: string, length: number, alphabet: string): string {
  let out = "";
  for (let block = 0; out.length < length; block++) {
    for (const byte of digest(seed, String(block))) {
      if (out.length === length) break;
      out += alphabet[byte % alphabet.length];
    }
  }
  return out;
}

const lowerAlnum = "abcdefghijklmnopqrstuvwxyz0123456789";

/** GCE disks that exist already: name -> size in GiB, or size and labels. */
export type ExistingDisks = Record<string, number | { sizeGb: number; labels: Record<string, string> }>;

/**
 * Pulumi mocks that answer like the real providers would, deterministically: Services get
 * cluster IPs from the service range, auto-named objects a random-looking suffix, disks a self
 * link, random resources values derived from their names. Every registration is recorded.
 */
export class RenderMocks implements pulumi.runtime.Mocks {
  readonly resources: RegisteredResource[] = [];
  private readonly clusterIPs = new Set<string>();

  /**
   * @param existingDisks GCE disks that exist already, name -> size in GiB (or size and labels), as
   *   `gcp.compute.getDisk` would find them. The render asks no cloud: by default no disk exists (a new stack).
   */
  constructor(
    private readonly stack: string,
    private readonly config: Record<string, string>,
    private readonly existingDisks: ExistingDisks = {},
  ) {}

  call(args: pulumi.runtime.MockCallArgs): pulumi.runtime.MockCallResult {
    if (args.token === "gcp:compute/getDisk:getDisk") {
      const name = String(args.inputs.name);
      const project = String(args.inputs.project ?? this.config["gcp:project"] ?? "example-project");
      const id = `projects/${project}/zones/${String(args.inputs.zone)}/disks/${name}`;
      // What the GCP provider's data source answers for a disk that is not there, the way the
      // engine reports a failed invoke (a gRPC error whose `details` becomes the message).
      if (!(name in this.existingDisks)) {
        const message = `invocation of ${args.token} returned an error: ${id} not found`;
        throw Object.assign(new Error(message), { details: message });
      }
      const disk = this.existingDisks[name];
      return typeof disk === "number"
        ? { id, name, project, zone: args.inputs.zone, size: disk }
        : { id, name, project, zone: args.inputs.zone, size: disk.sizeGb, labels: disk.labels };
    }
    throw new Error(`the program made an unexpected provider call ${args.token}; render does not mock it`);
  }

  newResource(args: pulumi.runtime.MockResourceArgs): pulumi.runtime.MockResourceResult {
    const inputs = unwrapSecrets(args.inputs) as JsonObject;
    const seed = `${this.stack}/${args.type}/${args.name}`;
    let result: { id: string | undefined; state: JsonObject };
    if (!args.custom) {
      result = { id: undefined, state: {} };
    } else if (args.type.startsWith("kubernetes:")) {
      result = this.kubernetesObject(seed, args.name, inputs);
    } else if (args.type.startsWith("gcp:")) {
      result = this.gcpResource(seed, args.type, args.name, inputs);
    } else if (args.type.startsWith("random:")) {
      result = { id: args.name, state: { ...inputs, ...this.randomValues(seed, args.type, inputs) } };
    } else {
      throw new Error(`render has no mock for resource type ${args.type}`);
    }
    if (args.type !== "pulumi:pulumi:Stack") {
      this.resources.push({
        type: args.type,
        name: args.name,
        custom: args.custom ?? false,
        inputs,
        outputs: result.state,
      });
    }
    return result;
  }

  private kubernetesObject(seed: string, name: string, inputs: JsonObject): { id: string; state: JsonObject } {
    const state = structuredClone(inputs);
    const metadata = (state.metadata ?? {}) as JsonObject;
    state.metadata = metadata;
    // The provider names an object without metadata.name after the resource, plus 8 random
    // characters. It replaces a ConfigMap or Secret whose contents change, and the replacement
    // gets new characters: so here they derive from the contents too.
    const replacedOnChange = state.kind === "ConfigMap" || state.kind === "Secret";
    const contents = replacedOnChange ? JSON.stringify([state.data, state.stringData, state.binaryData]) : "";
    metadata.name ??= `${name}-${derivedString(seed + contents, 8, lowerAlnum)}`;
    const spec = state.spec as JsonObject | undefined;
    if (state.kind === "Service" && spec) {
      if (spec.type !== "ExternalName") spec.clusterIP ??= this.allocateClusterIP(seed);
      if (spec.type === "LoadBalancer") {
        const octet = 1 + (digest(seed, "lb")[0] % 254);
        state.status = { loadBalancer: { ingress: [{ ip: `203.0.113.${octet}` }] } };
      }
    }
    if (state.kind === "PersistentVolumeClaim" && spec) {
      // A dynamically provisioned claim gets a volume named after its uid.
      spec.volumeName ??= `pvc-${uuidFrom(seed)}`;
      state.status = { phase: "Bound" };
    }
    const id = metadata.namespace ? `${metadata.namespace}/${metadata.name}` : String(metadata.name);
    return { id, state };
  }

  /** An address in 10.96.0.0/16 (a common service range), unique per Service, stable per name. */
  private allocateClusterIP(seed: string): string {
    const reserved = new Set(["10.96.0.0", "10.96.0.1", "10.96.0.10"]);
    let n = digest(seed, "clusterIP").readUInt16BE(0);
    for (;;) {
      const ip = `10.96.${n >> 8}.${n & 0xff}`;
      if (!reserved.has(ip) && (n & 0xff) !== 255 && !this.clusterIPs.has(ip)) {
        this.clusterIPs.add(ip);
        return ip;
      }
      n = (n + 1) & 0xffff;
    }
  }

  private gcpResource(seed: string, type: string, name: string, inputs: JsonObject): { id: string; state: JsonObject } {
    const project = String(inputs.project ?? this.config["gcp:project"] ?? "example-project");
    // The GCP provider auto-names with a 7-character hex suffix.
    const resourceName = String(inputs.name ?? `${name}-${digest(seed).toString("hex").slice(0, 7)}`);
    const state: JsonObject = { ...inputs, project, name: resourceName };
    const base = `https://www.googleapis.com/compute/v1/projects/${project}`;
    if (type === "gcp:compute/disk:Disk") {
      const id = `projects/${project}/zones/${inputs.zone}/disks/${resourceName}`;
      state.selfLink = `${base}/zones/${inputs.zone}/disks/${resourceName}`;
      return { id, state };
    }
    if (type === "gcp:compute/resourcePolicy:ResourcePolicy") {
      const id = `projects/${project}/regions/${inputs.region}/resourcePolicies/${resourceName}`;
      state.selfLink = `${base}/regions/${inputs.region}/resourcePolicies/${resourceName}`;
      return { id, state };
    }
    if (type === "gcp:compute/globalAddress:GlobalAddress") {
      // Like the load-balancer addresses: from the documentation range 203.0.113.0/24.
      state.address = `203.0.113.${1 + (digest(seed, "address")[0] % 254)}`;
      state.selfLink = `${base}/global/addresses/${resourceName}`;
      return { id: `projects/${project}/global/addresses/${resourceName}`, state };
    }
    if (type === "gcp:filestore/instance:Instance") {
      // Filestore gives the instance an address of its reserved range (the range's third: Google
      // keeps the first ones), or of a range it picks itself: here one of 10.200.0.0/16's /29s.
      const range = (inputs.networks as JsonObject[] | undefined)?.[0]?.reservedIpRange;
      const [a, b, c, d] =
        typeof range === "string" && range !== ""
          ? range.split("/")[0].split(".").map(Number)
          : [10, 200, digest(seed, "filestore")[0], 8 * (digest(seed, "filestore")[1] % 32)];
      state.networks = (inputs.networks as JsonObject[]).map((n) => ({
        ...n,
        ipAddresses: [`${a}.${b}.${c}.${d + 2}`],
      }));
      return { id: `projects/${project}/locations/${inputs.location}/instances/${resourceName}`, state };
    }
    return { id: `projects/${project}/${name}`, state };
  }

  private randomValues(seed: string, type: string, inputs: JsonObject): JsonObject {
    const length = Number(inputs.length ?? 16);
    if (type === "random:index/randomBytes:RandomBytes") {
      const bytes = Buffer.from(derivedString(seed, length * 2, "0123456789abcdef"), "hex");
      return { hex: bytes.toString("hex"), base64: bytes.toString("base64") };
    }
    if (type === "random:index/randomPassword:RandomPassword") {
      let alphabet = "";
      if (inputs.lower !== false) alphabet += "abcdefghijklmnopqrstuvwxyz";
      if (inputs.upper !== false) alphabet += "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
      if (inputs.numeric !== false) alphabet += "0123456789";
      if (inputs.special !== false) alphabet += "!#$%&*()-_=+[]{}<>:?";
      const result = derivedString(seed, length, alphabet);
      // Like the provider: a bcrypt hash (cost 10) of the password, here with a derived salt.
      const salt =
        "$2a$10$" +
        derivedString(`${seed}/salt`, 22, "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789");
      return { result, bcryptHash: bcrypt.hashSync(result, salt) };
    }
    throw new Error(`render has no mock for resource type ${type}`);
  }
}

function uuidFrom(seed: string): string {
  const h = digest(seed, "uid").toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}
