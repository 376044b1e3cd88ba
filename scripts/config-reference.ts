import { readProjectFile } from "../stacks";

/**
 * Prints the configuration reference of docs/configuration.md, generated from Pulumi.yaml so the two cannot
 * drift apart (test/docs.test.ts compares them). Usage: npx tsx scripts/config-reference.ts
 */
export function configReference(): string {
  const rows = [...readProjectFile().config].map(([key, decl]) => {
    const value = JSON.stringify(decl.default);
    const shown = value === '""' || value === "[]" ? "(unset)" : "`" + value + "`";
    return `| \`${key}\` | ${decl.type} | ${shown} | ${decl.description.replace(/\|/g, "\\|")} |`;
  });
  return ["| key | type | default | what it is |", "| --- | --- | --- | --- |", ...rows].join("\n");
}

if (require.main === module) console.log(configReference());
