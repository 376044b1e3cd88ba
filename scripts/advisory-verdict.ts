import * as fs from "node:fs";
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { normalise, readPins } from "../versions/pythonLock";

/**
 * The verdict of the advisory audit (.github/workflows/audit.yml, run by scripts/advisory-audit.sh):
 * reads the JSON reports of `pip-audit --format json` (one per lock in versions/) and of
 * `npm audit --json` (package-lock.json), and the checked-in list of accepted advisories
 * (versions/accepted-advisories.yaml). It fails on any advisory not accepted, on an expired
 * acceptance, on a package a report says it could not audit, and on a missing or unreadable report;
 * an acceptance that matches nothing reported is listed as stale.
 *
 *   node --import tsx scripts/advisory-verdict.ts --accepted versions/accepted-advisories.yaml \
 *     --pip versions/hub.lock=reports/hub.json --npm package-lock.json=reports/npm.json [--today YYYY-MM-DD]
 */

export type Ecosystem = "pypi" | "npm";

// pip-audit's JSON format, as pip_audit/_format/json.py writes it at v2.10.1: each dependency is
// either audited (name, version, vulns) or skipped (name, skip_reason). `aliases` and `description`
// are present unless turned off (--aliases off, --desc off).
const pipVuln = z.object({
  id: z.string(),
  fix_versions: z.array(z.string()),
  aliases: z.array(z.string()).optional(),
  description: z.string().optional(),
});
const pipDependency = z.union([
  z.object({ name: z.string(), version: z.string(), vulns: z.array(pipVuln) }),
  z.object({ name: z.string(), skip_reason: z.string() }),
]);
export const pipAuditReport = z.object({ dependencies: z.array(pipDependency), fixes: z.array(z.unknown()) });

// npm audit --json, auditReportVersion 2 (npm 7 and later: @npmcli/arborist's AuditReport and Vuln
// toJSON). `via` holds the package's own advisories as objects and, as plain names, the vulnerable
// dependencies that make it vulnerable too (those have entries of their own).
const npmAdvisory = z.object({
  source: z.number(),
  name: z.string(),
  dependency: z.string(),
  title: z.string().optional(),
  url: z.string().optional(),
  severity: z.string(),
  range: z.string(),
});
const npmVulnerability = z.object({
  name: z.string(),
  severity: z.string(),
  isDirect: z.boolean(),
  via: z.array(z.union([z.string(), npmAdvisory])),
  effects: z.array(z.string()),
  range: z.string(),
  nodes: z.array(z.string()),
  fixAvailable: z.union([z.boolean(), z.object({ name: z.string(), version: z.string(), isSemVerMajor: z.boolean() })]),
});
export const npmAuditReport = z.object({
  auditReportVersion: z.literal(2),
  vulnerabilities: z.record(z.string(), npmVulnerability),
  metadata: z.object({ vulnerabilities: z.record(z.string(), z.number()) }),
});
// What `npm audit --json` prints instead when the registry's advisory endpoint fails.
const npmAuditError = z.object({ message: z.string(), statusCode: z.number().optional() });

// The installed version of each node_modules path, from package-lock.json (lockfileVersion 2 or 3).
export const packageLock = z.object({
  lockfileVersion: z.number().min(2),
  packages: z.record(z.string(), z.object({ version: z.string().optional() })),
});

const acceptance = z.strictObject({
  /** The advisory's id as a report names it, or one of its aliases (GHSA-..., PYSEC-..., CVE-...). */
  id: z.string().min(1),
  ecosystem: z.enum(["pypi", "npm"]),
  package: z.string().min(1),
  reason: z.string().trim().min(1),
  /** The last day (UTC) the acceptance holds. */
  expires: z.iso.date(),
});
export type Acceptance = z.infer<typeof acceptance>;
export const acceptedFile = z.strictObject({ accepted: z.array(acceptance) });

/** One advisory against one package of one audited file. */
export interface Finding {
  ecosystem: Ecosystem;
  /** The audited file: a lock in versions/, or package-lock.json. */
  source: string;
  package: string;
  versions: string[];
  id: string;
  aliases: string[];
  /** pip-audit's fix versions; npm audit names none, only the affected range (in `note`). */
  fixedIn: string[];
  note?: string;
}

/** A package a report lists but could not audit. */
export interface NotAudited {
  ecosystem: Ecosystem;
  source: string;
  package: string;
  reason: string;
}

export interface Report {
  ecosystem: Ecosystem;
  source: string;
  findings: Finding[];
  notAudited: NotAudited[];
}

/** Findings of one pip-audit report of `lock`; every package pinned in the lock must be in it. */
export function pipReport(lock: string, json: unknown): Report {
  const report = pipAuditReport.parse(json);
  const findings: Finding[] = [];
  const notAudited: NotAudited[] = [];
  const seen = new Set<string>();
  for (const dep of report.dependencies) {
    seen.add(normalise(dep.name));
    if ("skip_reason" in dep) {
      notAudited.push({ ecosystem: "pypi", source: lock, package: dep.name, reason: dep.skip_reason });
      continue;
    }
    for (const vuln of dep.vulns) {
      findings.push({
        ecosystem: "pypi",
        source: lock,
        package: dep.name,
        versions: [dep.version],
        id: vuln.id,
        aliases: vuln.aliases ?? [],
        fixedIn: vuln.fix_versions,
      });
    }
  }
  for (const [name, pin] of readPins(lock)) {
    if (!seen.has(name)) {
      const reason = "pinned in the lock but missing from pip-audit's report";
      notAudited.push({ ecosystem: "pypi", source: lock, package: `${name} ${pin.version}`, reason });
    }
  }
  return { ecosystem: "pypi", source: lock, findings, notAudited };
}

/** Findings of one `npm audit --json` report of `lock`, with the installed versions read from the lock. */
export function npmReport(lock: string, json: unknown): Report {
  const parsed = npmAuditReport.safeParse(json);
  if (!parsed.success) {
    const error = npmAuditError.safeParse(json);
    if (error.success) throw new Error(`npm audit did not audit ${lock}: ${error.data.message}`);
    throw new Error(`not an npm audit report (auditReportVersion 2): ${z.prettifyError(parsed.error)}`);
  }
  const installed = packageLock.parse(JSON.parse(fs.readFileSync(lock, "utf8"))).packages;
  const findings: Finding[] = [];
  for (const vuln of Object.values(parsed.data.vulnerabilities)) {
    const versions = [...new Set(vuln.nodes.map((n) => installed[n]?.version ?? `? (${n})`))].sort();
    const fix = vuln.fixAvailable;
    const fixNote =
      fix === false
        ? "npm audit fix has no fix"
        : fix === true
          ? "npm audit fix fixes it"
          : `npm audit fix${fix.isSemVerMajor ? " --force" : ""}: ${fix.name}@${fix.version}`;
    for (const advisory of vuln.via) {
      if (typeof advisory === "string") continue; // vulnerable through `advisory`, listed under its own name
      const ghsa = /\/(GHSA-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4})$/i.exec(advisory.url ?? "")?.[1];
      findings.push({
        ecosystem: "npm",
        source: lock,
        package: vuln.name,
        versions,
        id: ghsa ?? `npm-advisory-${advisory.source}`,
        aliases: ghsa ? [] : [String(advisory.source)],
        fixedIn: [],
        note: `affected ${advisory.range}, ${advisory.severity}; ${fixNote}`,
      });
    }
  }
  return { ecosystem: "npm", source: lock, findings, notAudited: [] };
}

const packageKey = (ecosystem: Ecosystem, name: string): string => (ecosystem === "pypi" ? normalise(name) : name);

/** Whether an acceptance names this advisory (by id or alias) of this package. */
export function matches(entry: Acceptance, finding: Finding): boolean {
  if (entry.ecosystem !== finding.ecosystem) return false;
  if (packageKey(entry.ecosystem, entry.package) !== packageKey(finding.ecosystem, finding.package)) return false;
  const id = entry.id.toUpperCase();
  return [finding.id, ...finding.aliases].some((i) => i.toUpperCase() === id);
}

export interface Verdict {
  pass: boolean;
  /** Findings no acceptance in force covers. */
  unaccepted: Finding[];
  accepted: { finding: Finding; entry: Acceptance }[];
  /** Acceptances past their `expires` day, with what they would still cover. */
  expired: { entry: Acceptance; findings: Finding[] }[];
  /** Acceptances in force that match nothing any report of their ecosystem lists. */
  stale: Acceptance[];
  notAudited: NotAudited[];
  /** Reports missing or unreadable, an allow-list that does not validate. */
  problems: string[];
}

/** Decides: `today` is YYYY-MM-DD (UTC); an acceptance holds through its `expires` day. */
export function verdict(reports: Report[], entries: Acceptance[], today: string, problems: string[] = []): Verdict {
  const findings = reports.flatMap((r) => r.findings);
  const inForce = entries.filter((e) => e.expires >= today);
  const unaccepted: Finding[] = [];
  const accepted: Verdict["accepted"] = [];
  for (const finding of findings) {
    const entry = inForce.find((e) => matches(e, finding));
    if (entry) accepted.push({ finding, entry });
    else unaccepted.push(finding);
  }
  const audited = new Set(reports.map((r) => r.ecosystem));
  const expired = entries
    .filter((e) => e.expires < today)
    .map((entry) => ({ entry, findings: findings.filter((f) => matches(entry, f)) }));
  const stale = inForce.filter((e) => audited.has(e.ecosystem) && !findings.some((f) => matches(e, f)));
  const notAudited = reports.flatMap((r) => r.notAudited);
  const pass = unaccepted.length === 0 && expired.length === 0 && notAudited.length === 0 && problems.length === 0;
  return { pass, unaccepted, accepted, expired, stale, notAudited, problems };
}

const describeFinding = (f: Finding): string => {
  const aliases = f.aliases.length > 0 ? ` (${f.aliases.join(", ")})` : "";
  const fixed = f.fixedIn.length > 0 ? `fixed in ${f.fixedIn.join(", ")}` : f.ecosystem === "pypi" ? "no fix yet" : "";
  const detail = [fixed, f.note].filter((s) => s).join("; ");
  return `${f.package} ${f.versions.join(", ")}: ${f.id}${aliases}: ${detail} [${f.source}]`;
};
const describeEntry = (e: Acceptance): string =>
  `${e.id} for ${e.ecosystem} package ${e.package} (expires ${e.expires})`;

/** The verdict as the job's log shows it: each failure, then what is accepted and what is stale. */
export function formatVerdict(v: Verdict): string {
  const lines: string[] = [`advisory audit: ${v.pass ? "PASS" : "FAIL"}`];
  const section = (title: string, items: string[]) => {
    if (items.length === 0) return;
    lines.push("", `${title} (${items.length}):`, ...items.map((i) => `  - ${i}`));
  };
  section("Problems", v.problems);
  section("New advisories, not accepted", v.unaccepted.map(describeFinding));
  section(
    "Expired acceptances: renew (a new reason and date) or remove",
    v.expired.map(({ entry, findings }) =>
      findings.length > 0
        ? `${describeEntry(entry)}, still reported: ${findings.map((f) => `${f.package} ${f.versions.join(", ")} [${f.source}]`).join("; ")}`
        : `${describeEntry(entry)}, no longer reported: remove it`,
    ),
  );
  section(
    "Not audited",
    v.notAudited.map((n) => `${n.package}: ${n.reason} [${n.source}]`),
  );
  section(
    "Accepted",
    v.accepted.map(({ finding, entry }) => `${describeFinding(finding)}, until ${entry.expires}: ${entry.reason}`),
  );
  section("Stale acceptances: nothing reported matches them any more, remove them", v.stale.map(describeEntry));
  if (v.pass && v.accepted.length === 0) lines.push("", "No known advisory against what is audited.");
  return lines.join("\n");
}

/** Reads the allow-list; an invalid one is a problem, and then accepts nothing. */
export function readAccepted(file: string): { entries: Acceptance[]; problems: string[] } {
  const parsed = acceptedFile.safeParse(parseYaml(fs.readFileSync(file, "utf8")));
  if (!parsed.success) return { entries: [], problems: [`${file}: ${z.prettifyError(parsed.error)}`] };
  const problems: string[] = [];
  const keys = parsed.data.accepted.map((e) => `${e.ecosystem} ${packageKey(e.ecosystem, e.package)} ${e.id}`);
  for (const [i, key] of keys.entries()) {
    if (keys.indexOf(key) !== i) problems.push(`${file}: ${key} is accepted twice`);
  }
  return { entries: parsed.data.accepted, problems };
}

/** `audited-file=report-file` */
function pair(arg: string): [string, string] {
  const at = arg.indexOf("=");
  if (at <= 0 || at === arg.length - 1) throw new Error(`expected <audited file>=<report file>, got ${arg}`);
  return [arg.slice(0, at), arg.slice(at + 1)];
}

export function main(argv: string[]): { code: number; output: string } {
  const { values } = parseArgs({
    args: argv,
    options: {
      accepted: { type: "string" },
      pip: { type: "string", multiple: true, default: [] },
      npm: { type: "string", multiple: true, default: [] },
      today: { type: "string" },
    },
    strict: true,
  });
  if (!values.accepted) throw new Error("--accepted <allow-list file> is required");
  const today = values.today ?? new Date().toISOString().slice(0, 10);
  if (!z.iso.date().safeParse(today).success) throw new Error(`--today: not a YYYY-MM-DD date: ${today}`);
  const { entries, problems } = readAccepted(values.accepted);
  const reports: Report[] = [];
  const inputs: [Ecosystem, string, (source: string, json: unknown) => Report][] = [
    ...values.pip.map((a): [Ecosystem, string, typeof pipReport] => ["pypi", a, pipReport]),
    ...values.npm.map((a): [Ecosystem, string, typeof npmReport] => ["npm", a, npmReport]),
  ];
  if (inputs.length === 0) problems.push("no report given (--pip, --npm)");
  for (const [ecosystem, arg, read] of inputs) {
    const [source, file] = pair(arg);
    if (!fs.existsSync(file)) {
      problems.push(
        `${source}: no ${ecosystem} report at ${file} (the audit tool failed before writing one: see its log)`,
      );
      continue;
    }
    try {
      reports.push(read(source, JSON.parse(fs.readFileSync(file, "utf8"))));
    } catch (e) {
      problems.push(`${source}: ${file}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const v = verdict(reports, entries, today, problems);
  return { code: v.pass ? 0 : 1, output: formatVerdict(v) };
}

if (require.main === module) {
  try {
    const { code, output } = main(process.argv.slice(2));
    console.log(output);
    process.exitCode = code;
  } catch (e) {
    console.error(`advisory-verdict: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 2;
  }
}
