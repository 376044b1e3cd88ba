/**
 * The stack's configuration, as the Pulumi CLI hands it to a policy pack: the engine starts the
 * pack with `PULUMI_CONFIG` set to a JSON object of `project:key` -> string value (the same
 * variable a Node.js program reads its config from). Policies use it to learn what the stack asked
 * for (a LoadBalancer, a disk that may be deleted) instead of guessing from the resources.
 */
export type StackConfig = ReadonlyMap<string, string>;

/** The project whose config keys the policies read (Pulumi.yaml `name`). */
export const project = "jupyterhub-nfs";

/** Parses a `PULUMI_CONFIG` value; absent or empty means "the stack asked for nothing". */
export function parseStackConfig(json: string | undefined): StackConfig {
  const config = new Map<string, string>();
  if (!json) return config;
  const parsed: unknown = JSON.parse(json);
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new Error("PULUMI_CONFIG is not a JSON object");
  }
  for (const [key, value] of Object.entries(parsed)) {
    // Older CLIs spell keys `project:config:key`; current ones `project:key`.
    const normalized = key.replace(/^([^:]+):config:/, "$1:");
    config.set(normalized, typeof value === "string" ? value : JSON.stringify(value));
  }
  return config;
}

/** `jupyterhub-nfs:<key>` from the stack config, or undefined when the stack does not set it. */
export function projectValue(config: StackConfig, key: string): string | undefined {
  return config.get(`${project}:${key}`);
}
