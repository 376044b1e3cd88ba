import { snippetFile, snippetFilePrefix } from "../components/jupyterhub/hubExtraConfig";
import { isRecord } from "./props";

/**
 * The hub's configuration as a policy can read it from the ConfigMap that carries it: the
 * jupyterhub_config.py text, followed by the hubExtraConfig snippets it runs (files of the same
 * ConfigMap, in the order its `_run_extra_config([...])` call names them), so that a rule reading
 * "the last `c.X.y = ...`" judges the config after the snippets, as the hub ends up with it. The
 * pack runs in Node without the hub's Python: this is a reading of the text, not an execution; the
 * hub itself refuses to start when a snippet changes a protected setting in any other way
 * (components/jupyterhub/hubExtraConfig.ts).
 */

export interface HubConfigText {
  /** The ConfigMap key of jupyterhub_config.py. */
  key: string;
  /** jupyterhub_config.py, then each snippet it runs, in run order. */
  text: string;
}

/** A ConfigMap entry that is a jupyterhub_config.py: it configures the hub, and is not one of its snippets. */
const isHubConfig = (key: string, text: string) =>
  !key.startsWith(snippetFilePrefix) && /^c(?: = get_config\(\)|\.JupyterHub\.|\.KubeSpawner\.)/m.test(text);

/** The hub configs in a ConfigMap's `data`, each with the snippets it runs appended. */
export function hubConfigTexts(data: unknown): HubConfigText[] {
  if (!isRecord(data)) return [];
  return Object.entries(data).flatMap(([key, value]) => {
    if (typeof value !== "string" || !isHubConfig(key, value)) return [];
    const names = /^_run_extra_config\((\[[^\]\n]*\])/m.exec(value)?.[1];
    const order = names ? (JSON.parse(names) as unknown[]).map(String) : [];
    const snippets = order.map((name) => data[snippetFile(name)]).filter((s) => typeof s === "string");
    return [{ key, text: [value, ...snippets].join("\n") }];
  });
}

/** `c.<Section>.<key> = <value>` as written, the last one in the text (as Python ends up with it), or undefined. */
export function lastSetting(text: string, section: string, key: string): string | undefined {
  const found = [...text.matchAll(new RegExp(`^c\\.${section}\\.${key}\\s*=\\s*(.+)$`, "gm"))];
  return found.at(-1)?.[1].trim();
}

/**
 * A Python literal as our hub config writes it (components/jupyterhub/pythonLiteral.ts: JSON
 * strings, True/False/None), as JSON; undefined for anything else (a name, a call, a comprehension).
 */
export function pythonLiteral(text: string): unknown {
  const words: Record<string, string> = { True: "true", False: "false", None: "null" };
  let json = "";
  for (let i = 0; i < text.length;) {
    if (text[i] === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      json += text.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    const word = /^[A-Za-z_]\w*/.exec(text.slice(i))?.[0];
    if (word !== undefined) {
      if (!(word in words)) return undefined;
      json += words[word];
      i += word.length;
      continue;
    }
    json += text[i++];
  }
  try {
    return JSON.parse(json) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * The value of a list setting (`volumes`, `volume_mounts`) after its assignment and the
 * `.extend([...])` calls that follow it, or undefined when it is set some other way.
 */
export function listSetting(text: string, section: string, key: string): unknown[] | undefined {
  const name = `c\\.${section}\\.${key}`;
  let value: unknown[] | undefined;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\s*=\\s*(.+)|\\.extend\\((.+)\\))$`, "gm"))) {
    const literal = pythonLiteral(m[1] ?? m[2]);
    if (!Array.isArray(literal)) return undefined;
    value = m[1] !== undefined ? literal : [...(value ?? []), ...literal];
  }
  return value;
}
