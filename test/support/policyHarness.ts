import type {
  Policies,
  PolicyResource,
  PolicyResourceOptions,
  ReportViolation,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationPolicy,
} from "@pulumi/policy";
import type { Rendering, RenderedResource } from "../../render";

/**
 * Runs the pack's policies the way the engine's analyzer does for `pulumi preview` (one
 * `validateResource` call per resource, with its inputs, URN, options and the policy's config),
 * but in-process, so a test sees every violation message.
 */

export interface ResourceUnderTest {
  type: string;
  name: string;
  props: Record<string, unknown>;
  /** Defaults to a URN of a resource at the top of stack "test". */
  urn?: string;
  opts?: Partial<PolicyResourceOptions>;
}

export interface Violation {
  policy: string;
  urn: string;
  message: string;
}

class NotApplicable extends Error {}

/** `urn:pulumi:<stack>::<project>::<parent types $-joined>$<type>::<name>`, as the engine builds it. */
export function urnFor(stack: string, types: string[], name: string, project = "jupyterhub-nfs"): string {
  return `urn:pulumi:${stack}::${project}::${types.join("$")}::${name}`;
}

function isResourcePolicy(p: Policies[number]): p is ResourceValidationPolicy {
  return "validateResource" in p;
}

function isStackPolicy(p: Policies[number]): p is StackValidationPolicy {
  return "validateStack" in p;
}

const defaultOptions: PolicyResourceOptions = {
  protect: false,
  ignoreChanges: [],
  aliases: [],
  additionalSecretOutputs: [],
  customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
};

/**
 * Runs one stack policy over a stack's resources (`props` are what the engine sends a stack
 * policy: the resources' outputs); returns what it reported, with the URN it named, if any.
 */
export async function runStackPolicy(
  policy: StackValidationPolicy,
  resources: ResourceUnderTest[],
  config: object = {},
): Promise<{ message: string; urn?: string }[]> {
  const reported: { message: string; urn?: string }[] = [];
  const stackResources: PolicyResource[] = resources.map((r) => {
    const isType: PolicyResource["isType"] = (cls) =>
      (cls as unknown as { __pulumiType?: string }).__pulumiType === r.type;
    return {
      type: r.type,
      props: r.props,
      urn: r.urn ?? urnFor("test", [r.type], r.name),
      name: r.name,
      opts: { ...defaultOptions, ...r.opts },
      dependencies: [],
      propertyDependencies: {},
      isType,
      asType: ((cls: Parameters<PolicyResource["isType"]>[0]) =>
        isType(cls) ? r.props : undefined) as PolicyResource["asType"],
    };
  });
  try {
    await policy.validateStack(
      {
        resources: stackResources,
        stackTags: new Map<string, string>(),
        getConfig: <T extends object>() => config as T,
        notApplicable: (reason?: string): never => {
          throw new NotApplicable(reason);
        },
      },
      (message: string, urn?: string) => {
        reported.push({ message, urn });
      },
    );
  } catch (err) {
    if (!(err instanceof NotApplicable)) throw err;
  }
  return reported;
}

/** Runs one resource policy on one resource; returns the messages it reported. */
export async function runResourcePolicy(
  policy: ResourceValidationPolicy,
  r: ResourceUnderTest,
  config: object = {},
): Promise<string[]> {
  const urn = r.urn ?? urnFor("test", [r.type], r.name);
  const messages: string[] = [];
  const report: ReportViolation = (message: string) => {
    messages.push(message);
  };
  const isType: ResourceValidationArgs["isType"] = (cls) =>
    (cls as unknown as { __pulumiType?: string }).__pulumiType === r.type;
  const args: ResourceValidationArgs = {
    type: r.type,
    props: r.props,
    urn,
    name: r.name,
    opts: { ...defaultOptions, ...r.opts },
    stackTags: new Map<string, string>(),
    isType,
    asType: ((cls: Parameters<ResourceValidationArgs["isType"]>[0]) =>
      isType(cls) ? r.props : undefined) as ResourceValidationArgs["asType"],
    getConfig: <T extends object>() => config as T,
    notApplicable: (reason?: string): never => {
      throw new NotApplicable(reason);
    },
  };
  const validations = policy.validateResource
    ? Array.isArray(policy.validateResource)
      ? policy.validateResource
      : [policy.validateResource]
    : [];
  for (const validate of validations) {
    try {
      await validate(args, report);
    } catch (err) {
      if (!(err instanceof NotApplicable)) throw err;
    }
  }
  return messages;
}

/** The URN the engine would give a rendered resource (its component parents are part of the type). */
export function renderedUrn(stack: string, r: RenderedResource, all: RenderedResource[]): string {
  const byKey = new Map(all.map((x) => [`${x.type}::${x.name}`, x]));
  const types = [r.type];
  let parent = r.parent;
  while (parent && !parent.startsWith("pulumi:pulumi:Stack::")) {
    const p = byKey.get(parent);
    if (!p) throw new Error(`${r.type}::${r.name}: parent ${parent} is not in the rendering`);
    types.unshift(p.type);
    parent = p.parent;
  }
  return urnFor(stack, types, r.name);
}

/** Every violation of every resource policy over a rendered stack. */
export async function violationsOf(
  policies: Policies,
  stack: string,
  rendering: Rendering,
  config: Record<string, object> = {},
): Promise<Violation[]> {
  const found: Violation[] = [];
  const stackUrn = urnFor(stack, ["pulumi:pulumi:Stack"], `jupyterhub-nfs-${stack}`);
  for (const policy of policies.filter(isStackPolicy)) {
    const resources = rendering.resources.map((r) => ({
      type: r.type,
      name: r.name,
      props: r.outputs,
      urn: renderedUrn(stack, r, rendering.resources),
      opts: { protect: r.options.protect },
    }));
    const reported = await runStackPolicy(policy, resources, config[policy.name] ?? {});
    found.push(...reported.map((v) => ({ policy: policy.name, urn: v.urn ?? stackUrn, message: v.message })));
  }
  for (const policy of policies.filter(isResourcePolicy)) {
    for (const r of rendering.resources) {
      const urn = renderedUrn(stack, r, rendering.resources);
      const messages = await runResourcePolicy(
        policy,
        { type: r.type, name: r.name, props: r.inputs, urn, opts: { protect: r.options.protect } },
        config[policy.name] ?? {},
      );
      found.push(...messages.map((message) => ({ policy: policy.name, urn, message })));
    }
  }
  return found;
}
