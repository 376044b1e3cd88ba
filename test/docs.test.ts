import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { it } from "node:test";
import { configReference } from "../scripts/config-reference";

it("the configuration reference in docs/configuration.md is the one Pulumi.yaml generates", () => {
  const page = fs.readFileSync(path.join(__dirname, "..", "docs", "configuration.md"), "utf8");
  const match = /<!-- config-reference:start -->\n([\s\S]*?)\n<!-- config-reference:end -->/.exec(page);
  assert.ok(match, "docs/configuration.md has the config-reference markers");
  assert.equal(
    match[1],
    configReference(),
    "regenerate it with: npx tsx scripts/config-reference.ts (between the markers in docs/configuration.md)",
  );
});
