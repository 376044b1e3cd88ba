import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { configReference } from "../scripts/config-reference";
import { brokenLinks, headingAnchors, markdownLinks } from "./support/markdownLinks";

const root = path.join(__dirname, "..");

/** The project's documentation: README.md, every page of docs/, and e2e/README.md. */
function documentation(): string[] {
  const docs = fs
    .readdirSync(path.join(root, "docs"))
    .filter((name) => name.endsWith(".md"))
    .map((name) => path.join(root, "docs", name));
  return [path.join(root, "README.md"), ...docs, path.join(root, "e2e", "README.md")];
}

describe("documentation", () => {
  it("the configuration reference in docs/configuration.md is the one Pulumi.yaml generates", () => {
    const page = fs.readFileSync(path.join(root, "docs", "configuration.md"), "utf8");
    const match = /<!-- config-reference:start -->\n([\s\S]*?)\n<!-- config-reference:end -->/.exec(page);
    assert.ok(match, "docs/configuration.md has the config-reference markers");
    assert.equal(
      match[1],
      configReference(),
      "regenerate it with: npx tsx scripts/config-reference.ts (between the markers in docs/configuration.md)",
    );
  });

  it("the README keeps the set-up and test commands that CI runs", () => {
    const readme = fs.readFileSync(path.join(root, "README.md"), "utf8");
    const section = /\n## Set up and test\n([\s\S]*?)\n## /.exec(readme);
    assert.ok(section, 'README.md has a "Set up and test" section');
    assert.match(section[1], /^bash scripts\/setup\.sh /m);
    assert.match(section[1], /^npm test /m);
  });

  // External (http, https, mailto) links are not checked: there is no network here.
  it("every relative link and #anchor in README.md, docs/*.md and e2e/README.md resolves", () => {
    const files = documentation();
    assert.ok(files.length >= 3);
    assert.deepEqual(brokenLinks(root, files), []);
  });

  describe("the link check itself", () => {
    it("reports a missing file and a missing anchor, and skips code and external links", () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "docs-links-"));
      try {
        fs.mkdirSync(path.join(dir, "docs"));
        fs.writeFileSync(
          path.join(dir, "docs", "page.md"),
          ["# Page", "", "## What `pulumi destroy` keeps, and why", "", "## Notes", "", "## Notes", ""].join("\n"),
        );
        const readme = path.join(dir, "README.md");
        fs.writeFileSync(
          readme,
          [
            "# Title",
            "",
            "[ok](docs/page.md#what-pulumi-destroy-keeps-and-why) [dup](docs/page.md#notes-1) [self](#title)",
            "[gone](docs/missing.md) [bad anchor](docs/page.md#notes-2)",
            "[web](https://example.org/x#nothing) `[code](docs/missing.md)`",
            "",
            "```md",
            "[fenced](docs/missing.md)",
            "```",
            "",
          ].join("\n"),
        );
        assert.deepEqual(headingAnchors(path.join(dir, "docs", "page.md")), [
          "page",
          "what-pulumi-destroy-keeps-and-why",
          "notes",
          "notes-1",
        ]);
        assert.equal(markdownLinks(readme).length, 6);
        assert.deepEqual(brokenLinks(dir, [readme]), [
          "README.md:4: docs/missing.md: no such file docs/missing.md",
          "README.md:4: docs/page.md#notes-2: no heading of docs/page.md has the anchor #notes-2",
        ]);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
