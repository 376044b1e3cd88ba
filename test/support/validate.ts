import { loadCliConfig } from "../../render/stackConfig";
import { readProjectFile, StackConfigError, validateCliConfig, type StackConfig } from "../../stacks";

/** Validates a stack file plus `key=value` overrides the way the program does. */
export function validate(stack: string, overrides: string[]): StackConfig {
  const project = readProjectFile();
  return validateCliConfig(loadCliConfig(stack, overrides, project).values, project);
}

/** The problems a stack file plus overrides is refused for (fails the test if it is accepted). */
function refusedProblems(stack: string, overrides: string[]): readonly { key: string; message: string }[] {
  try {
    validate(stack, overrides);
  } catch (err) {
    if (!(err instanceof StackConfigError)) throw err;
    return err.problems;
  }
  throw new Error(`the config was accepted: ${overrides.join(" ")}`);
}

/** The keys a stack file plus overrides is refused for (fails the test if it is accepted). */
export function rejectedKeys(stack: string, overrides: string[]): string[] {
  return refusedProblems(stack, overrides).map((p) => p.key);
}

/** Each problem a stack file plus overrides is refused for, as `key: message` (fails the test if it is accepted). */
export function refusals(stack: string, overrides: string[]): string[] {
  return refusedProblems(stack, overrides).map((p) => `${p.key}: ${p.message}`);
}
