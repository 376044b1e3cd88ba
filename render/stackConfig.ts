import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { readProjectFile, type ProjectFile } from "../stacks";

/** Config as the Pulumi CLI hands it to a program: fully-qualified keys, string values. */
export interface CliConfig {
  values: Record<string, string>;
  secretKeys: string[];
}

/** Stand-in for a value encrypted in the stack file: offline we have no key to decrypt it. */
export const encryptedPlaceholder = "(encrypted in the stack file)";

/** How the CLI turns a YAML config value into the string the program reads. */
function cliString(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

function isSecure(value: unknown): value is { secure: string } {
  return typeof value === "object" && value !== null && "secure" in value;
}

/** `diskSize` and `jupyterhub-nfs:diskSize` name the same key, as with `pulumi config set`. */
function qualify(key: string, project: string): string {
  return key.includes(":") ? key : `${project}:${key}`;
}

/**
 * Builds the config the CLI would give the program for `stack`: Pulumi.yaml defaults, then
 * Pulumi.<stack>.yaml, then `overrides` ("key=value", as `pulumi config set key value`).
 */
export function loadCliConfig(
  stack: string,
  overrides: string[] = [],
  project: ProjectFile = readProjectFile(),
): CliConfig {
  const values: Record<string, string> = {};
  const secretKeys: string[] = [];
  for (const [key, decl] of project.config) values[`${project.name}:${key}`] = cliString(decl.default);

  const stackFile = path.join(project.dir, `Pulumi.${stack}.yaml`);
  if (!fs.existsSync(stackFile)) {
    throw new Error(`no stack file ${path.basename(stackFile)} in ${project.dir} (stack "${stack}")`);
  }
  const doc = (parse(fs.readFileSync(stackFile, "utf8")) ?? {}) as { config?: Record<string, unknown> };
  for (const [key, value] of Object.entries(doc.config ?? {})) {
    const qualified = qualify(key, project.name);
    if (isSecure(value)) {
      values[qualified] = encryptedPlaceholder;
      secretKeys.push(qualified);
    } else {
      values[qualified] = cliString(value);
    }
  }

  for (const override of overrides) {
    const eq = override.indexOf("=");
    if (eq <= 0) throw new Error(`--config ${override}: expected key=value`);
    values[qualify(override.slice(0, eq), project.name)] = override.slice(eq + 1);
  }
  return { values, secretKeys };
}
