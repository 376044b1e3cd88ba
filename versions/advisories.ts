/**
 * Advisories known to affect programs we deploy, from the projects' own changelogs and advisories
 * (the advisory databases are not reachable from the machines the tests run on; the scheduled
 * audit workflow asks them). test/versions.test.ts fails when any lock in versions/ holds a
 * version one of these affects: a bump below a fix, or an entry added here for what we ship.
 */
import * as semver from "semver";

export interface Advisory {
  ids: string[];
  /** PEP 503 normalised name, as the locks in versions/ are read. */
  package: string;
  severity: "low" | "moderate" | "high" | "critical";
  /** The first fixed release of each release line (major.minor) the project fixed. */
  fixedIn: string[];
  summary: string;
}

export const advisories: Advisory[] = [
  {
    ids: ["GHSA-fcw5-x6j4-ccmp", "CVE-2026-44727"],
    package: "jupyter-server",
    severity: "critical",
    fixedIn: ["2.20.0"],
    summary: "stored XSS through the nbconvert handlers: token theft, code execution in the user's kernel",
  },
  {
    ids: ["GHSA-c3mw-737p-c7g2"],
    package: "jupyter-server",
    severity: "moderate",
    fixedIn: ["2.21.0"],
    summary: "the Referer header, which can carry a token, written to the server's logs",
  },
  {
    ids: ["GHSA-5mrq-x3x5-8v8f", "CVE-2026-40934"],
    package: "jupyter-server",
    severity: "moderate",
    fixedIn: ["2.18.0"],
    summary: "the cookie secret is never rotated: cookies outlive a password change",
  },
  {
    ids: ["GHSA-pppj-hq3g-57pj", "GHSA-gx64-gj6p-pc4c"],
    package: "jupyterlab",
    severity: "high",
    fixedIn: ["4.5.10", "4.6.2"],
    summary: "cross-site scripting in JupyterLab",
  },
  {
    ids: ["CVE-2026-40864"],
    package: "jupyterhub",
    severity: "moderate",
    fixedIn: ["5.4.5"],
    summary: "XSRF checks skipped for Sec-Fetch-Mode: no-cors on form endpoints (/hub/spawn, /hub/accept-share)",
  },
];

const line = (v: semver.SemVer): string => `${v.major}.${v.minor}`;

/**
 * Whether `version` carries the advisory's fix: it is at or past the fix of its own release line,
 * or its line is newer than every line the fix was released in. A line older than all of them, or
 * between them without a fix of its own, is affected.
 */
export function isFixed(advisory: Advisory, version: string): boolean {
  const v = semver.coerce(version, { includePrerelease: false });
  if (!v) throw new Error(`${advisory.package} ${version}: not a version this check can compare`);
  const fixes = advisory.fixedIn.map((f) => new semver.SemVer(f));
  const sameLine = fixes.find((f) => line(f) === line(v));
  if (sameLine) return semver.gte(v, sameLine);
  return fixes.every((f) => semver.gt(v, f) && line(f) !== line(v));
}
