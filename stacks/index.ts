import * as pulumi from "@pulumi/pulumi";
import type { z } from "zod";
import { readProjectFile, type ConfigDeclaration, type ProjectFile } from "./projectFile";
import { checkAuthenticator } from "./authenticator";
import { stackConfigSchema, type StackConfig } from "./schema";

export { stackConfigSchema, type StackConfig } from "./schema";
export { readProjectFile, findProjectDir, type ConfigDeclaration, type ProjectFile } from "./projectFile";

/** Keys whose values are secret: never printed, not even in an error message, and kept as secret Outputs. */
export const secretKeys = ["ldapLookupDnSearchPassword", "oauthClientSecret"] as const;
export type SecretKey = (typeof secretKeys)[number];
const isSecretKey = (key: string): key is SecretKey => (secretKeys as readonly string[]).includes(key);

/** The validated stack configuration, with secret values only as secret Outputs (undefined when unset). */
export type ValidatedConfig = Omit<StackConfig, SecretKey> & Record<SecretKey, pulumi.Output<string> | undefined>;

/** Thrown before any resource exists when the stack's config is wrong; lists every problem. */
export class StackConfigError extends Error {
  constructor(
    readonly project: string,
    readonly problems: ReadonlyArray<{ key: string; message: string }>,
  ) {
    super("invalid stack configuration:\n" + problems.map((p) => `  ${project}:${p.key}: ${p.message}`).join("\n"));
    this.name = "StackConfigError";
  }
}

/** Keys whose values are too long to repeat in an error, and may hold a pasted private key by mistake. */
const unprintedKeys: ReadonlySet<string> = new Set(["ldapTlsCaCertificate"]);
/**
 * List keys of which only these fields are repeated in an error: the rest is code (a snippet may be
 * refused precisely because it holds a secret, and errors land in CI logs).
 */
const printedFieldsOnly: ReadonlyMap<string, string> = new Map([["hubExtraConfig", "name"]]);

function show(key: string, value: unknown): string {
  if (unprintedKeys.has(key) || printedFieldsOnly.has(key)) return "(the value)";
  if (value === undefined) return "(unset)";
  return isSecretKey(key) ? "[secret]" : JSON.stringify(value);
}

/** Turns the string the CLI hands over into the type Pulumi.yaml declares for the key. */
function parseRaw(key: string, raw: string, decl: ConfigDeclaration): { value?: unknown; error?: string } {
  switch (decl.type) {
    case "string":
      return { value: raw };
    case "integer":
      return /^-?\d+$/.test(raw.trim()) ? { value: Number(raw) } : { error: `${show(key, raw)} is not a whole number` };
    case "boolean":
      return raw === "true" || raw === "false"
        ? { value: raw === "true" }
        : { error: `${show(key, raw)} is not true or false` };
    case "array": {
      try {
        const parsed: unknown = JSON.parse(raw);
        if (Array.isArray(parsed)) return { value: parsed };
      } catch {
        // reported below
      }
      return { error: `${show(key, raw)} is not a list (set it with \`pulumi config set --path '${key}[0]' value\`)` };
    }
  }
}

function describeIssue(issue: z.core.$ZodIssue, input: Record<string, unknown>): { key: string; message: string } {
  const key = String(issue.path[0] ?? "");
  const where = issue.path.length > 1 ? `[${issue.path.slice(1).join("][")}]` : "";
  if (issue.code === "unrecognized_keys" && issue.path.length === 0) {
    return { key: issue.keys.join(", "), message: "is not a key of this project (see Pulumi.yaml)" };
  }
  // List items are named by their index in the key, and by their slug (profiles) in the message.
  const slugs: string[] = [];
  let value: unknown = input[key];
  for (const part of issue.path.slice(1)) {
    value = (value as Record<PropertyKey, unknown> | undefined)?.[part];
    const slug = typeof part === "number" ? (value as { slug?: unknown } | undefined)?.slug : undefined;
    if (typeof slug === "string") slugs.push(JSON.stringify(slug));
  }
  const named = slugs.length > 0 ? `(${slugs.join(" / ")}) ` : "";
  if (issue.code === "invalid_key") {
    // A key of a map (a profile's nodeSelector): the key itself is what is wrong.
    const bad = JSON.stringify(String(issue.path[issue.path.length - 1]));
    return { key: key + where, message: `${named}${bad} ${issue.issues.map((i) => i.message).join("; ")}` };
  }
  if (issue.code === "unrecognized_keys") {
    return {
      key: `${key}${where}[${issue.keys.join(", ")}]`,
      message: `${named}is not a field here (see the description of ${key} in Pulumi.yaml)`,
    };
  }
  const field = printedFieldsOnly.get(key);
  if (field !== undefined) {
    const shown = issue.path.at(-1) === field ? JSON.stringify(value) : "(not repeated here)";
    return { key: key + where, message: `${named}${shown} ${issue.message}` };
  }
  return { key: key + where, message: `${named}${show(key, value)} ${issue.message}` };
}

/**
 * Validates raw config (keys without the project prefix, values as the CLI passes them, strings)
 * against Pulumi.yaml and the schema. Pure: no Pulumi runtime involved, so tests can call it.
 */
export function validateConfig(
  raw: Record<string, string>,
  declarations: Map<string, ConfigDeclaration>,
  project: string,
): StackConfig {
  const problems: { key: string; message: string }[] = [];
  const input: Record<string, unknown> = {};
  for (const [key, decl] of declarations) {
    const given = raw[key];
    if (given === undefined) {
      input[key] = decl.default;
      continue;
    }
    const parsed = parseRaw(key, given, decl);
    if (parsed.error) problems.push({ key, message: parsed.error });
    else input[key] = parsed.value;
  }
  for (const key of Object.keys(raw)) {
    if (!declarations.has(key)) problems.push({ key, message: "is not a key of this project (see Pulumi.yaml)" });
  }
  if (problems.length > 0) throw new StackConfigError(project, problems);
  return checkValues(input, declarations, project);
}

/**
 * Typed values of every key (defaults applied) through the schema, then the authenticator's rules,
 * which need to know which keys are set to something else than their default; a StackConfigError
 * names each problem.
 */
function checkValues(
  input: Record<string, unknown>,
  declarations: Map<string, ConfigDeclaration>,
  project: string,
): StackConfig {
  const result = stackConfigSchema.safeParse(input);
  if (!result.success) {
    throw new StackConfigError(
      project,
      result.error.issues.map((issue) => describeIssue(issue, input)),
    );
  }
  const set = new Set(
    [...declarations].filter(([key, d]) => JSON.stringify(input[key]) !== JSON.stringify(d.default)).map(([k]) => k),
  );
  const problems: { key: string; message: string }[] = [];
  checkAuthenticator(result.data, set, (key, message) => problems.push({ key, message }));
  if (problems.length > 0) throw new StackConfigError(project, problems);
  return result.data;
}

/**
 * Validates the keys a program gives directly, as typed values (the JupyterHubNfs component's
 * args): Pulumi.yaml's default for every key not given, then the same rules as the stack's config,
 * with the same errors. Pure, like validateConfig.
 */
export function validateValues(values: Record<string, unknown>, project: ProjectFile = readProjectFile()): StackConfig {
  const input: Record<string, unknown> = {};
  for (const [key, decl] of project.config) input[key] = values[key] ?? decl.default;
  for (const key of Object.keys(values)) if (!project.config.has(key)) input[key] = values[key];
  return checkValues(input, project.config, project.name);
}

/** The validated config, with each secret (if given) as a secret Output. */
export function withSecrets(
  config: StackConfig,
  secrets: Partial<Record<SecretKey, pulumi.Input<string> | undefined>>,
): ValidatedConfig {
  const values = Object.fromEntries(
    secretKeys.map((key) => {
      const value = secrets[key];
      return [key, value === undefined ? undefined : pulumi.secret(value)];
    }),
  ) as Record<SecretKey, pulumi.Output<string> | undefined>;
  return { ...config, ...values };
}

/**
 * Validates config as the CLI hands it over (fully-qualified keys such as `jupyterhub-nfs:diskSize`,
 * string values; other namespaces such as `kubernetes:` are ignored). Pure, like validateConfig.
 */
export function validateCliConfig(values: Record<string, string>, project: ProjectFile): StackConfig {
  const prefix = `${project.name}:`;
  const raw: Record<string, string> = {};
  for (const [key, value] of Object.entries(values)) {
    if (key.startsWith(prefix)) raw[key.slice(prefix.length)] = value;
  }
  return validateConfig(raw, project.config, project.name);
}

/**
 * Reads this stack's config from the Pulumi runtime (the CLI, or the mocks of `npm run render`)
 * and validates it. Call it before registering any resource.
 */
export function readStackConfig(): ValidatedConfig {
  const config = validateCliConfig(pulumi.runtime.allConfig(), readProjectFile());
  return withSecrets(
    config,
    Object.fromEntries(secretKeys.map((key) => [key, config[key] === "" ? undefined : config[key]])),
  );
}
