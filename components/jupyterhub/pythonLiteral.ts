/** A Python literal for a JSON-like value (strings are JSON-escaped, which Python accepts). */
export function py(value: unknown): string {
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new Error(`cannot write ${value} as a Python literal`);
    return String(value);
  }
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(py).join(", ")}]`;
  if (typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).map(([k, v]) => `${py(k)}: ${py(v)}`);
    return `{${entries.join(", ")}}`;
  }
  throw new Error(`cannot write a ${typeof value} as a Python literal`);
}

/** A Python set literal (an empty set is `set()`). */
export function pySet(values: string[]): string {
  return values.length === 0 ? "set()" : `{${values.map(py).join(", ")}}`;
}
