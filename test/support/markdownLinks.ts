import * as fs from "node:fs";
import * as path from "node:path";
import GithubSlugger from "github-slugger";
import MarkdownIt from "markdown-it";

// Finds the links and headings of Markdown files with markdown-it (so a link inside a code block or
// code span is not a link), and the anchors GitHub gives headings with github-slugger (GitHub's own
// rules: lower case, spaces to '-', punctuation other than '-' and '_' removed, a repeated heading
// gets -1, -2, ...).

type Token = MarkdownIt.Token;

const markdown = new MarkdownIt({ html: true });

/** A link (or image) in a Markdown file: its target as written, and the line it is on (1-based). */
export interface MarkdownLink {
  href: string;
  line: number;
}

function parse(file: string): Token[] {
  return markdown.parse(fs.readFileSync(file, "utf8"), {});
}

/** The plain text of a heading's inline content, as GitHub slugs it (code spans without backticks). */
function inlineText(token: Token): string {
  return (token.children ?? [])
    .filter((t) => t.type === "text" || t.type === "code_inline" || t.type === "text_special")
    .map((t) => t.content)
    .join("");
}

/** The anchors GitHub gives the headings of a Markdown file, in order. */
export function headingAnchors(file: string): string[] {
  const tokens = parse(file);
  const slugger = new GithubSlugger();
  const anchors: string[] = [];
  tokens.forEach((token, i) => {
    const inline = tokens[i + 1];
    if (token.type === "heading_open" && inline?.type === "inline") anchors.push(slugger.slug(inlineText(inline)));
  });
  return anchors;
}

/** Every link and image target in a Markdown file, outside code. */
export function markdownLinks(file: string): MarkdownLink[] {
  const links: MarkdownLink[] = [];
  for (const token of parse(file)) {
    if (token.type !== "inline") continue;
    let line = (token.map?.[0] ?? 0) + 1;
    for (const child of token.children ?? []) {
      if (child.type === "softbreak" || child.type === "hardbreak") line += 1;
      const href =
        child.type === "link_open" ? child.attrGet("href") : child.type === "image" ? child.attrGet("src") : null;
      if (href !== null) links.push({ href: String(href), line });
    }
  }
  return links;
}

/** A target with a scheme (https:, mailto:, ...) is external: not checked here, there is no network. */
export function isExternal(href: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(href) || href.startsWith("//");
}

/**
 * What is wrong with the relative links of the given Markdown files: a target file that does not
 * exist, or a `#anchor` that no heading of the target Markdown file has. External links are skipped.
 * Each problem reads "<file>:<line>: <href>: <why>", the file relative to `root`.
 */
export function brokenLinks(root: string, files: string[]): string[] {
  const anchors = new Map<string, string[]>();
  const anchorsOf = (file: string): string[] => {
    let found = anchors.get(file);
    if (!found) anchors.set(file, (found = headingAnchors(file)));
    return found;
  };
  const problems: string[] = [];
  for (const file of files) {
    for (const { href, line } of markdownLinks(file)) {
      if (isExternal(href)) continue;
      const where = `${path.relative(root, file)}:${line}: ${href}`;
      const hash = href.indexOf("#");
      const target = decodeURIComponent(hash === -1 ? href : href.slice(0, hash));
      const fragment = hash === -1 ? null : decodeURIComponent(href.slice(hash + 1));
      const targetFile = target === "" ? file : path.resolve(path.dirname(file), target);
      if (!fs.existsSync(targetFile)) {
        problems.push(`${where}: no such file ${path.relative(root, targetFile)}`);
        continue;
      }
      if (fragment === null) continue;
      if (!targetFile.endsWith(".md")) {
        problems.push(`${where}: an anchor into a file that is not Markdown`);
      } else if (!anchorsOf(targetFile).includes(fragment)) {
        problems.push(`${where}: no heading of ${path.relative(root, targetFile)} has the anchor #${fragment}`);
      }
    }
  }
  return problems;
}
