import type {
  Policies,
  PolicyResourceOptions,
  ReportViolation,
  ResourceValidationArgs,
  ResourceValidationPolicy,
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
    opts: {
      protect: false,
      ignoreChanges: [],
      aliases: [],
      additionalSecretOutputs: [],
      customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
      ...r.opts,
    },
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
  const stackPolicies = policies.filter((p) => !isResourcePolicy(p)).map((p) => p.name);
  if (stackPolicies.length > 0) throw new Error(`no stack-validation harness for ${stackPolicies.join(", ")}`);
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
