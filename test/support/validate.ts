import { loadCliConfig } from "../../render/stackConfig";
import { readProjectFile, validateConfig, type StackConfig } from "../../stacks";

/** Validates a stack file plus `key=value` overrides the way the program does. */
export function validate(stack: string, overrides: string[]): StackConfig {
  const project = readProjectFile();
  const { values } = loadCliConfig(stack, overrides, project);
  const raw: Record<string, string> = {};
  for (const [k, v] of Object.entries(values)) {
    if (k.startsWith(`${project.name}:`)) raw[k.slice(project.name.length + 1)] = v;
  }
  return validateConfig(raw, project.config, project.name);
}
