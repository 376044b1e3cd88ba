import { z } from "zod";
import { protectedSettings, type HubConfigSnippet } from "../components/jupyterhub/hubExtraConfig";
import { findSecretsInText } from "../policy/secretLike";

/**
 * The rules for hubExtraConfig, the named Python snippets the hub runs after our config. What runs
 * is judged twice: here, before anything is deployed, by reading the text (a secret, or a protected
 * setting changed in plain sight, is refused with the snippet named), and at the hub's start-up by
 * Python itself (components/jupyterhub/hubExtraConfig.ts), which sees whatever a snippet did.
 */

/**
 * The protected keys a snippet changes in plain sight: `.key =` (or `+=`...), `.key.append(...)`
 * and the like, `.key[...] =`, `["key"] =`, or `setattr(..., "key", ...)`. Reading a key is fine.
 */
function changedProtectedKeys(python: string): string[] {
  const keys = [...new Set(protectedSettings.flatMap((p) => p.keys))];
  const assign = "\\s*(?:[-+*/|&^]?=(?!=))";
  return keys.filter((key) =>
    [
      `\\.${key}(?:${assign}|\\s*\\.\\s*(?:append|extend|update|insert|add|clear|pop|popitem|remove|discard|setdefault)\\b|\\s*\\[[^\\]]*\\]${assign})`,
      `\\[\\s*["']${key}["']\\s*\\]${assign}`,
      `setattr\\s*\\([^)]*["']${key}["']`,
    ].some((pattern) => new RegExp(pattern).test(python)),
  );
}

const snippet = z
  .object({
    name: z
      .string()
      .max(63)
      .regex(
        /^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$/,
        "must be lower-case letters, digits, '-', '_' and '.' (it orders the snippets and names their file)",
      ),
    python: z.string().refine((p) => p.trim() !== "", { message: "is empty" }),
  })
  .strict()
  .superRefine((s, ctx) => {
    for (const finding of findSecretsInText(s.name, s.python)) {
      ctx.addIssue({
        code: "custom",
        path: ["python"],
        message:
          `${finding.reason}: snippets land in a ConfigMap, readable by whoever may read the namespace's ` +
          "configuration. Keep secrets in a Secret and read them from the hub's environment.",
      });
    }
    for (const key of changedProtectedKeys(s.python)) {
      const group = protectedSettings.find((p) => p.keys.includes(key));
      ctx.addIssue({
        code: "custom",
        path: ["python"],
        message:
          `changes ${key}, one of the settings the stack's config decides (${group?.what}): ` +
          "the hub would refuse to start. Use the stack's keys for it.",
      });
    }
  });

export const hubExtraConfigSchema = z.array(snippet).superRefine((snippets, ctx) => {
  snippets.forEach((s, i) => {
    if (snippets.findIndex((t) => t.name === s.name) < i) {
      ctx.addIssue({ code: "custom", path: [i, "name"], message: "names two snippets" });
    }
  });
});

export type { HubConfigSnippet };
