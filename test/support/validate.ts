import { loadCliConfig } from "../../render/stackConfig";
import { readProjectFile, StackConfigError, validateConfig, type StackConfig } from "../../stacks";

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

/** The keys a stack file plus overrides is refused for (fails the test if it is accepted). */
export function rejectedKeys(stack: string, overrides: string[]): string[] {
  try {
    validate(stack, overrides);
  } catch (err) {
    if (!(err instanceof StackConfigError)) throw err;
    return err.problems.map((p) => p.key);
  }
  throw new Error(`the config was accepted: ${overrides.join(" ")}`);
}
