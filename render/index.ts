import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { stringify } from "yaml";
import { readProjectFile } from "../stacks";
import { RenderMocks, unwrapSecrets, type ExistingDisks, type JsonObject, type RegisteredResource } from "./mocks";
import { loadCliConfig } from "./stackConfig";

/** A resource as resources.json lists it. */
export interface RenderedResource {
  type: string;
  name: string;
  /** `type::name` of the parent (the stack itself is `pulumi:pulumi:Stack::<project>-<stack>`). */
  parent: string;
  inputs: JsonObject;
  outputs: JsonObject;
  /** ignoreChanges, replaceOnChanges and import (the ID to adopt) appear only when set. */
  options: {
    protect: boolean;
    retainOnDelete: boolean;
    dependsOn: string[];
    ignoreChanges?: string[];
    replaceOnChanges?: string[];
    import?: string;
  };
}

export interface Rendering {
  /** Every Kubernetes object the program would send, in an order that could be applied. */
  manifests: JsonObject[];
  resources: RenderedResource[];
  /** Stack outputs, secrets shown as "[secret]". */
  outputs: Record<string, unknown>;
}

export interface RenderOptions {
  stack: string;
  /** "key=value" pairs, as `pulumi config set key value`. */
  overrides?: string[];
  /** GCE disks that exist already (name -> GiB); by default none: the render is of a new stack. */
  existingDisks?: ExistingDisks;
}

/** Kinds in the order `kubectl apply` could create them (what another object needs comes first). */
const kindOrder = [
  "Namespace",
  "PersistentVolume",
  "ServiceAccount",
  "Role",
  "RoleBinding",
  "Secret",
  "ConfigMap",
  "PersistentVolumeClaim",
  "Service",
  "Deployment",
  "NetworkPolicy",
];

const resourceKey = (r: { type: string; name: string }) => `${r.type}::${r.name}`;

/** The program, loaded once; it is a function Pulumi calls, so it can run once per rendering. */
function loadProgram(): () => unknown {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require("../index") as () => unknown;
}

/**
 * Evaluates the program for a stack under mocks, with no cluster, cloud or CLI, and returns what it
 * would create. Config errors reject before any resource is registered, as under `pulumi up`.
 */
export async function renderStack(opts: RenderOptions): Promise<Rendering> {
  const project = readProjectFile();
  const config = loadCliConfig(opts.stack, opts.overrides ?? [], project);
  return evaluate(loadProgram(), {
    project: project.name,
    stack: opts.stack,
    existingDisks: opts.existingDisks,
    ...config,
  });
}

export interface EvaluateOptions {
  project: string;
  stack: string;
  /** Fully-qualified config as the CLI hands it over. */
  values: Record<string, string>;
  secretKeys: string[];
  existingDisks?: ExistingDisks;
}

/**
 * Runs any Pulumi program function (the whole program, or one component in a test) under the
 * render mocks and collects what it registered, with the resource options mocks never see.
 */
export async function evaluate(program: () => unknown, opts: EvaluateOptions): Promise<Rendering> {
  const mocks = new RenderMocks(opts.stack, opts.values, opts.existingDisks);
  await pulumi.runtime.setMocks(mocks, opts.project, opts.stack, false);
  pulumi.runtime.setAllConfig(opts.values, opts.secretKeys);

  // Resource options never reach mocks; a stack transformation sees them.
  const options = new Map<string, RenderedResource["options"] & { parent?: string }>();
  const names = new WeakMap<pulumi.Resource, string>();
  const keyOf = (r: pulumi.Resource | undefined) => (r ? names.get(r) : undefined);

  let programError: unknown;
  const outputs: Record<string, unknown> = {};
  await pulumi.runtime.runInPulumiStack(async () => {
    pulumi.runtime.registerStackTransformation((args) => {
      names.set(args.resource, resourceKey(args));
      const dependsOn = args.opts.dependsOn;
      const deps = Array.isArray(dependsOn) ? dependsOn : dependsOn ? [dependsOn] : [];
      options.set(resourceKey(args), {
        protect: args.opts.protect === true,
        retainOnDelete: args.opts.retainOnDelete === true,
        dependsOn: deps.map((d) => keyOf(d as pulumi.Resource) ?? "(unknown)"),
        ...(args.opts.ignoreChanges?.length ? { ignoreChanges: args.opts.ignoreChanges } : {}),
        ...(args.opts.replaceOnChanges?.length ? { replaceOnChanges: args.opts.replaceOnChanges } : {}),
        ...("import" in args.opts && args.opts.import ? { import: String(args.opts.import) } : {}),
        parent: keyOf(args.opts.parent),
      });
      return undefined;
    });
    try {
      const result = ((await Promise.resolve(program())) ?? {}) as Record<string, unknown>;
      Object.assign(outputs, await shownOutputs(result));
      return result;
    } catch (err) {
      programError = err;
      return {};
    }
  });
  await pulumi.runtime.disconnect();
  if (programError) throw programError;

  const resources = mocks.resources
    .map((r: RegisteredResource): RenderedResource => {
      const o = options.get(resourceKey(r));
      return {
        type: r.type,
        name: r.name,
        parent: o?.parent ?? `pulumi:pulumi:Stack::${opts.project}-${opts.stack}`,
        inputs: r.inputs,
        outputs: r.outputs,
        options: {
          protect: o?.protect ?? false,
          retainOnDelete: o?.retainOnDelete ?? false,
          dependsOn: o?.dependsOn ?? [],
          ...(o?.ignoreChanges && { ignoreChanges: o.ignoreChanges }),
          ...(o?.replaceOnChanges && { replaceOnChanges: o.replaceOnChanges }),
          ...(o?.import && { import: o.import }),
        },
      };
    })
    .sort((a, b) => resourceKey(a).localeCompare(resourceKey(b)));

  return { manifests: manifestsOf(mocks.resources), resources, outputs };
}

/** Kubernetes objects as sent, with what the cluster assigned filled in; status left out. */
function manifestsOf(resources: RegisteredResource[]): JsonObject[] {
  const objects = resources
    .filter((r) => r.custom && r.type.startsWith("kubernetes:") && !r.type.startsWith("kubernetes:index"))
    .map((r) => {
      const { apiVersion, kind, metadata, ...rest } = r.outputs;
      delete rest.status;
      return { apiVersion, kind, metadata, ...rest } as JsonObject;
    });
  const rank = (o: JsonObject) => {
    const i = kindOrder.indexOf(String(o.kind));
    return i === -1 ? kindOrder.length : i;
  };
  const id = (o: JsonObject) => {
    const m = o.metadata as JsonObject;
    return `${m.namespace ?? ""}/${m.name}`;
  };
  return objects.sort((a, b) => rank(a) - rank(b) || id(a).localeCompare(id(b)));
}

/** Stack outputs as `pulumi stack output` shows them: secrets masked. */
async function shownOutputs(outputs: Record<string, unknown>): Promise<Record<string, unknown>> {
  const shown: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(outputs)) {
    if (value === undefined) continue;
    const output = pulumi.output(value);
    shown[key] = (await pulumi.isSecret(output))
      ? "[secret]"
      : await new Promise((resolve) => output.apply((v) => resolve(unwrapSecrets(v))));
  }
  return shown;
}

/** Writes manifests.yaml, resources.json and outputs.json into `dir`. */
export function writeRendering(rendering: Rendering, dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  const yaml = rendering.manifests.map((m) => stringify(m, { lineWidth: 0 })).join("---\n");
  fs.writeFileSync(path.join(dir, "manifests.yaml"), yaml);
  fs.writeFileSync(path.join(dir, "resources.json"), JSON.stringify(rendering.resources, null, 2) + "\n");
  fs.writeFileSync(path.join(dir, "outputs.json"), JSON.stringify(rendering.outputs, null, 2) + "\n");
}
