/** One sample of Prometheus's text format: the metric's name, its labels, its value. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const sampleLine = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const labelPair = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/**
 * The samples of a scrape, read as Prometheus reads the text format (comments skipped; label
 * values unescaped). The format itself is checked by the real promtool (`check metrics`).
 */
export function parseSamples(text: string): Sample[] {
  return text.split("\n").flatMap((line) => {
    const m = sampleLine.exec(line.trim());
    if (!m || line.startsWith("#")) return [];
    const labels = Object.fromEntries(
      [...(m[2] ?? "").matchAll(labelPair)].map(([, k, v]) => [k, JSON.parse(`"${v}"`) as string]),
    );
    return [{ name: m[1], labels, value: Number(m[3]) }];
  });
}

/** The one sample of `name` with (at least) these labels, or undefined. */
export function sampleOf(samples: Sample[], name: string, labels: Record<string, string> = {}): Sample | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} ${JSON.stringify(labels)}`);
  return found[0];
}
