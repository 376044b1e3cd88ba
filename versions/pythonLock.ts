import * as fs from "node:fs";

/** One requirement of a pip requirements file: `name==version`, with its `--hash=` options. */
export interface Pin {
  version: string;
  hashes: string[];
}

/** PEP 503 normalised name: `Jupyter_Server` and `jupyter-server` are the same package. */
export const normalise = (name: string): string => name.toLowerCase().replace(/[-_.]+/g, "-");

/**
 * The `name==version` requirements of a pip-compile input or output file, by normalised name.
 * Throws on any requirement line that is not an exact pin: a lock with a range locks nothing.
 */
export function readPins(file: string): Map<string, Pin> {
  const pins = new Map<string, Pin>();
  // A requirement spans its continuation lines (`\` at the end of a line).
  const logical = fs.readFileSync(file, "utf8").replace(/\\\n/g, " ").split("\n");
  for (const line of logical.map((l) => l.replace(/(^|\s)#.*$/, "").trim())) {
    if (line === "") continue;
    const m = /^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)((?:\s+--hash=sha256:[0-9a-f]{64})*)$/.exec(line);
    if (!m) throw new Error(`${file}: not an exact pin: ${line}`);
    const hashes = m[3].trim() === "" ? [] : m[3].trim().split(/\s+/);
    pins.set(normalise(m[1]), { version: m[2], hashes });
  }
  return pins;
}

/** The `# key: value` header lines of a file, e.g. `# source: ...`; repeated keys keep every value. */
export function headerValues(file: string, key: string): string[] {
  const prefix = `# ${key}: `;
  return fs
    .readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.startsWith(prefix))
    .map((l) => l.slice(prefix.length).trim());
}
