import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { it } from "node:test";
import { configReference } from "../scripts/config-reference";

it("the README's configuration reference is the one Pulumi.yaml generates", () => {
  const readme = fs.readFileSync(path.join(__dirname, "..", "README.md"), "utf8");
  const match = /<!-- config-reference:start -->\n([\s\S]*?)\n<!-- config-reference:end -->/.exec(readme);
  assert.ok(match, "README.md has the config-reference markers");
  assert.equal(match[1], configReference(), "regenerate it with: npx tsx scripts/config-reference.ts");
});
