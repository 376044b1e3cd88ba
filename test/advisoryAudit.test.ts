import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import {
  formatVerdict,
  main,
  npmReport,
  packageLock,
  pipReport,
  readAccepted,
  verdict,
  type Acceptance,
  type Report,
} from "../scripts/advisory-verdict";
import { readPins } from "../versions/pythonLock";

const repoRoot = path.resolve(__dirname, "..");
const fixtures = path.join(__dirname, "fixtures", "advisories");
const fixture = (name: string): string => path.join(fixtures, name);
const json = (name: string): unknown => JSON.parse(fs.readFileSync(fixture(name), "utf8"));
const lock = fixture("notebook.lock");
const npmLock = fixture("package-lock.json");
const today = "2026-12-07";

const pip = (name: string): Report => pipReport(lock, json(name));
const npm = (name: string): Report => npmReport(npmLock, json(name));

function accept(over: Partial<Acceptance> & Pick<Acceptance, "id" | "package">): Acceptance {
  return { ecosystem: "pypi", reason: "stand-in reason", expires: "2027-01-31", ...over };
}
// Both advisories of pip-audit.vulnerable.json, the JupyterLab one by an alias.
const acceptBothPip = [
  accept({ id: "GHSA-fcw5-x6j4-ccmp", package: "jupyter-server" }),
  accept({ id: "CVE-0000-00000", package: "JupyterLab" }),
];

describe("advisory verdict: pip-audit reports", () => {
  it("passes a report with no advisory", () => {
    const v = verdict([pip("pip-audit.clean.json")], [], today);
    assert.equal(v.pass, true, formatVerdict(v));
    assert.match(formatVerdict(v), /^advisory audit: PASS/);
  });

  it("fails a report with advisories, and lists package, version, advisory id and fix versions of each", () => {
    const v = verdict([pip("pip-audit.vulnerable.json")], [], today);
    assert.equal(v.pass, false);
    assert.deepEqual(
      v.unaccepted.map((f) => [f.package, f.versions, f.id, f.fixedIn]),
      [
        ["jupyter-server", ["2.19.0"], "GHSA-fcw5-x6j4-ccmp", ["2.20.0"]],
        ["jupyterlab", ["4.5.8"], "PYSEC-0000-00000", ["4.5.10", "4.6.2"]],
      ],
    );
    const text = formatVerdict(v);
    assert.match(text, /^advisory audit: FAIL/);
    assert.match(text, /New advisories, not accepted \(2\)/);
    assert.ok(text.includes(`jupyter-server 2.19.0: GHSA-fcw5-x6j4-ccmp: fixed in 2.20.0 [${lock}]`), text);
    assert.ok(text.includes("jupyterlab 4.5.8: PYSEC-0000-00000 (CVE-0000-00000, GHSA-0000-0000-0001): fixed in"));
  });

  it("fails pip-audit's real report from a machine without the advisory service: every package skipped", () => {
    // pip-audit exited 0 and printed "No known vulnerabilities found" for this one.
    const v = verdict([pip("pip-audit.unreachable.json")], [], today);
    assert.equal(v.pass, false);
    assert.deepEqual(
      v.notAudited.map((n) => n.package),
      ["jupyter-server", "jupyterlab", "tornado"],
    );
    assert.match(formatVerdict(v), /Not audited \(3\):\n {2}- jupyter-server: Dependency not found on PyPI/);
  });

  it("fails a report that leaves out a package of its lock", () => {
    const report = json("pip-audit.clean.json") as { dependencies: { name: string }[] };
    report.dependencies = report.dependencies.filter((d) => d.name !== "tornado");
    const v = verdict([pipReport(lock, report)], [], today);
    assert.equal(v.pass, false);
    assert.deepEqual(v.notAudited, [
      {
        ecosystem: "pypi",
        source: lock,
        package: "tornado 6.5.7",
        reason: "pinned in the lock but missing from pip-audit's report",
      },
    ]);
  });

  it("rejects what is not a pip-audit report (npm's report, a bare list)", () => {
    assert.throws(() => pipReport(lock, json("npm-audit.clean.json")));
    assert.throws(() => pipReport(lock, [{ name: "tornado" }]));
  });
});

describe("advisory verdict: npm audit reports (auditReportVersion 2)", () => {
  it("passes a report with no vulnerability", () => {
    const v = verdict([npm("npm-audit.clean.json")], [], today);
    assert.equal(v.pass, true, formatVerdict(v));
  });

  it("fails each advisory once, under the package it is against, with the installed version from the lock", () => {
    const v = verdict([npm("npm-audit.vulnerable.json")], [], today);
    assert.equal(v.pass, false);
    // configurable-http-proxy is listed by npm only through http-proxy-3: no finding of its own.
    assert.deepEqual(
      v.unaccepted.map((f) => [f.package, f.versions, f.id, f.note]),
      [
        ["http-proxy-3", ["1.23.2"], "GHSA-0000-0000-0002", "affected <1.23.3, high; npm audit fix has no fix"],
        ["yaml", ["2.9.1"], "GHSA-0000-0000-0003", "affected >=2.0.0 <2.9.2, moderate; npm audit fix: yaml@2.9.2"],
      ],
    );
    assert.ok(formatVerdict(v).includes(`yaml 2.9.1: GHSA-0000-0000-0003: affected >=2.0.0 <2.9.2`));
  });

  it("fails when npm audit wrote its real error instead of a report (the advisory endpoint refused)", () => {
    assert.throws(() => npm("npm-audit.unreachable.json"), /npm audit did not audit .*405 Method Not Allowed/);
    assert.throws(() => npm("pip-audit.clean.json"), /not an npm audit report/);
  });

  it("the repository's package-lock.json is a lock the verdict can read versions from", () => {
    const lockfile = packageLock.parse(JSON.parse(fs.readFileSync(path.join(repoRoot, "package-lock.json"), "utf8")));
    assert.equal(typeof lockfile.packages["node_modules/zod"]?.version, "string");
  });

  it("the root's package-lock.json is the only npm lock to audit: policy/ installs from the root's", () => {
    const tracked = execFileSync("git", ["ls-files"], { cwd: repoRoot, encoding: "utf8" }).split("\n");
    const locks = tracked.filter(
      (f) => /(^|\/)(package-lock|npm-shrinkwrap)\.json$/.test(f) && !f.startsWith("test/fixtures/"),
    );
    assert.deepEqual(locks, ["package-lock.json"]);
  });
});

describe("advisory verdict: accepted advisories", () => {
  it("passes advisories that are accepted, by id or by alias, and says until when", () => {
    const v = verdict([pip("pip-audit.vulnerable.json")], acceptBothPip, today);
    assert.equal(v.pass, true, formatVerdict(v));
    assert.equal(v.accepted.length, 2);
    assert.match(
      formatVerdict(v),
      /Accepted \(2\):\n {2}- jupyter-server 2\.19\.0: .* until 2027-01-31: stand-in reason/,
    );
  });

  it("accepts only the named package in the named ecosystem", () => {
    const wrongPackage = accept({ id: "GHSA-fcw5-x6j4-ccmp", package: "jupyterlab" });
    const wrongEcosystem = accept({ id: "GHSA-fcw5-x6j4-ccmp", package: "jupyter-server", ecosystem: "npm" });
    const v = verdict([pip("pip-audit.vulnerable.json")], [wrongPackage, wrongEcosystem], today);
    assert.equal(v.pass, false);
    assert.equal(v.unaccepted.length, 2);
  });

  it("an acceptance holds through its expiry day and fails the audit from the next day on", () => {
    const entries = acceptBothPip.map((e) => ({ ...e, expires: today }));
    assert.equal(verdict([pip("pip-audit.vulnerable.json")], entries, today).pass, true);
    const v = verdict([pip("pip-audit.vulnerable.json")], entries, "2026-12-08");
    assert.equal(v.pass, false);
    assert.equal(v.expired.length, 2);
    assert.equal(v.unaccepted.length, 2, "an expired acceptance accepts nothing");
    assert.match(
      formatVerdict(v),
      /Expired acceptances: renew .*\(2\):\n {2}- GHSA-fcw5-x6j4-ccmp .*, still reported: /,
    );
  });

  it("an expired acceptance fails even when its advisory is no longer reported", () => {
    const old = accept({ id: "GHSA-fcw5-x6j4-ccmp", package: "jupyter-server", expires: "2026-01-31" });
    const v = verdict([pip("pip-audit.clean.json")], [old], today);
    assert.equal(v.pass, false);
    assert.match(formatVerdict(v), /no longer reported: remove it/);
  });

  it("lists an acceptance that matches nothing reported as stale, without failing", () => {
    const npmEntry = accept({ id: "GHSA-0000-0000-0003", package: "yaml", ecosystem: "npm" });
    const v = verdict([pip("pip-audit.clean.json"), npm("npm-audit.clean.json")], [...acceptBothPip, npmEntry], today);
    assert.equal(v.pass, true);
    assert.deepEqual(
      v.stale.map((e) => e.id),
      ["GHSA-fcw5-x6j4-ccmp", "CVE-0000-00000", "GHSA-0000-0000-0003"],
    );
    assert.match(formatVerdict(v), /Stale acceptances: .* \(3\)/);
    // Not stale when no report of its ecosystem was read at all.
    assert.deepEqual(verdict([pip("pip-audit.clean.json")], [npmEntry], today).stale, []);
  });

  it("validates the allow-list: a reason, a real date, known keys, no entry twice", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "accepted-"));
    try {
      const check = (yaml: string) => {
        fs.writeFileSync(path.join(dir, "a.yaml"), yaml);
        return readAccepted(path.join(dir, "a.yaml"));
      };
      const entry = (extra: string) =>
        `accepted:\n  - id: GHSA-fcw5-x6j4-ccmp\n    ecosystem: pypi\n    package: jupyter-server\n${extra}`;
      assert.deepEqual(check(entry("    reason: r\n    expires: 2027-01-31\n")).problems, []);
      assert.match(check(entry("    expires: 2027-01-31\n")).problems.join(), /reason/);
      assert.match(check(entry("    reason: '  '\n    expires: 2027-01-31\n")).problems.join(), /reason/);
      assert.match(check(entry("    reason: r\n    expires: 2027-02-30\n")).problems.join(), /expires/);
      assert.match(check(entry("    reason: r\n    expires: 2027-01-31\n    until: x\n")).problems.join(), /until/);
      const twice =
        entry("    reason: r\n    expires: 2027-01-31\n") + entry("    reason: r\n    expires: 2027-01-31\n");
      assert.match(check(twice.replace(/\naccepted:\n/, "\n")).problems.join(), /accepted twice/);
      assert.ok(check("accepted:\n").problems.length > 0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the repository's own allow-list is valid", () => {
    assert.deepEqual(readAccepted(path.join(repoRoot, "versions", "accepted-advisories.yaml")).problems, []);
  });
});

describe("advisory verdict: the command line", () => {
  let dir: string;
  before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "advisory-verdict-"))));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const run = (allowList: string, ...args: string[]) => {
    fs.writeFileSync(path.join(dir, "accepted.yaml"), allowList);
    return main(["--accepted", path.join(dir, "accepted.yaml"), "--today", today, ...args]);
  };
  const pipArg = (name: string) => `--pip=${lock}=${fixture(name)}`;
  const npmArg = (name: string) => `--npm=${npmLock}=${fixture(name)}`;

  it("exits 0 on clean reports and 1 on a finding", () => {
    assert.equal(run("accepted: []\n", pipArg("pip-audit.clean.json"), npmArg("npm-audit.clean.json")).code, 0);
    assert.equal(run("accepted: []\n", pipArg("pip-audit.clean.json"), npmArg("npm-audit.vulnerable.json")).code, 1);
  });

  it("fails on a missing report, an unreadable one, an invalid allow-list, or no report at all", () => {
    const missing = run("accepted: []\n", `--pip=${lock}=${path.join(dir, "none.json")}`);
    assert.equal(missing.code, 1);
    assert.match(missing.output, /no pypi report at .*none\.json/);
    fs.writeFileSync(path.join(dir, "empty.json"), "");
    assert.equal(run("accepted: []\n", `--npm=${npmLock}=${path.join(dir, "empty.json")}`).code, 1);
    const invalid = run("accepted:\n  - id: X\n", pipArg("pip-audit.clean.json"));
    assert.equal(invalid.code, 1);
    assert.match(invalid.output, /accepted\.yaml: /);
    assert.equal(run("accepted: []\n").code, 1);
  });

  it("runs as a script under tsx and exits with the verdict", () => {
    fs.writeFileSync(path.join(dir, "accepted.yaml"), "accepted: []\n");
    const result = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        path.join(repoRoot, "scripts", "advisory-verdict.ts"),
        "--accepted",
        path.join(dir, "accepted.yaml"),
        pipArg("pip-audit.vulnerable.json"),
      ],
      { cwd: repoRoot, encoding: "utf8" },
    );
    assert.equal(result.status, 1, result.stderr);
    assert.match(result.stdout, /GHSA-fcw5-x6j4-ccmp/);
  });
});

/**
 * scripts/advisory-audit.sh, with stand-ins on PATH for pip-audit and npm (node scripts that record
 * their arguments and write a report): the advisory services are not reachable here, so this checks
 * the script's wiring (each lock audited with the right flags, every report handed to the verdict,
 * the verdict's exit status kept), not the tools.
 */
describe("advisory-audit.sh, against stand-ins for pip-audit and npm", () => {
  let dir: string;
  const locks = fs
    .readdirSync(path.join(repoRoot, "versions"))
    .filter((f) => f.endsWith(".lock"))
    .map((f) => `versions/${f}`);

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "advisory-audit-"));
    fs.mkdirSync(path.join(dir, "bin"));
    // pip-audit: a clean report of every pin in the lock, plus $PIP_AUDIT_VULN ("package id") where
    // it names one of them; with PIP_AUDIT_FAIL set, exits 1 without writing a report.
    fs.writeFileSync(
      path.join(dir, "bin", "pip-audit"),
      [
        "#!/usr/bin/env node",
        'const fs = require("node:fs");',
        "const args = process.argv.slice(2);",
        'fs.appendFileSync(process.env.CALLS, "pip-audit " + args.join(" ") + "\\n");',
        'if (process.env.PIP_AUDIT_FAIL) { console.error("stand-in pip-audit: failing"); process.exit(1); }',
        "const at = (flag) => args[args.indexOf(flag) + 1];",
        'const [vulnName, vulnId] = (process.env.PIP_AUDIT_VULN || "").split(" ");',
        'const dependencies = [...fs.readFileSync(at("--requirement"), "utf8").matchAll(/^([a-z0-9][a-z0-9._-]*)==(\\S+)/gim)]',
        "  .map(([, name, version]) => ({ name: name.toLowerCase(), version,",
        '    vulns: name === vulnName ? [{ id: vulnId, fix_versions: ["99.0"], aliases: [] }] : [] }));',
        'fs.writeFileSync(at("--output"), JSON.stringify({ dependencies, fixes: [] }) + "\\n");',
        "process.exit(dependencies.some((d) => d.vulns.length) ? 1 : 0);",
        "",
      ].join("\n"),
      { mode: 0o755 },
    );
    // npm: prints the report named by $NPM_REPORT, exits $NPM_EXIT.
    fs.writeFileSync(
      path.join(dir, "bin", "npm"),
      [
        "#!/usr/bin/env node",
        'const fs = require("node:fs");',
        'fs.appendFileSync(process.env.CALLS, "npm " + process.argv.slice(2).join(" ") + "\\n");',
        "process.stdout.write(fs.readFileSync(process.env.NPM_REPORT));",
        'process.exitCode = Number(process.env.NPM_EXIT || "0");',
        "",
      ].join("\n"),
      { mode: 0o755 },
    );
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  function audit(env: Record<string, string>) {
    const calls = path.join(dir, "calls.log");
    fs.rmSync(calls, { force: true });
    const reports = path.join(dir, "reports");
    const result = spawnSync("bash", [path.join(repoRoot, "scripts", "advisory-audit.sh"), reports], {
      cwd: os.tmpdir(),
      encoding: "utf8",
      env: {
        ...process.env,
        PATH: `${path.join(dir, "bin")}:${process.env.PATH}`,
        CALLS: calls,
        NPM_REPORT: fixture("npm-audit.clean.json"),
        GITHUB_STEP_SUMMARY: "",
        ...env,
      },
    });
    const log = fs.existsSync(calls) ? fs.readFileSync(calls, "utf8").trim().split("\n") : [];
    return { ...result, calls: log, reports };
  }

  it("audits each lock with pip-audit and package-lock.json with npm, and passes when both are clean", () => {
    const result = audit({});
    assert.equal(result.status, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /advisory audit: PASS/);
    const pipCalls = result.calls.filter((c) => c.startsWith("pip-audit "));
    assert.deepEqual(
      pipCalls.map((c) => /--requirement (\S+)/.exec(c)?.[1]),
      locks,
    );
    for (const call of pipCalls) {
      for (const flag of ["--require-hashes", "--disable-pip", "--format json", "--aliases on", "--output "]) {
        assert.ok(call.includes(flag), `${call}: ${flag}`);
      }
    }
    assert.deepEqual(
      result.calls.filter((c) => c.startsWith("npm ")),
      ["npm audit --json --package-lock-only"],
    );
    assert.ok(fs.existsSync(path.join(result.reports, "verdict.txt")));
  });

  it("fails with the advisory listed when pip-audit reports one in a lock", () => {
    const result = audit({ PIP_AUDIT_VULN: "jupyter-server GHSA-fcw5-x6j4-ccmp" });
    assert.equal(result.status, 1, result.stdout + result.stderr);
    const locked = readPins(path.join(repoRoot, "versions", "singleuser.lock")).get("jupyter-server")?.version;
    assert.ok(
      result.stdout.includes(`jupyter-server ${locked}: GHSA-fcw5-x6j4-ccmp: fixed in 99.0 [versions/singleuser.lock]`),
      result.stdout,
    );
  });

  it("fails when pip-audit writes no report, and when npm audit could not reach its service", () => {
    const noReport = audit({ PIP_AUDIT_FAIL: "1" });
    assert.equal(noReport.status, 1);
    assert.match(noReport.stdout, /no pypi report at .*pip-audit-hub\.json/);
    const unreachable = audit({ NPM_REPORT: fixture("npm-audit.unreachable.json"), NPM_EXIT: "1" });
    assert.equal(unreachable.status, 1);
    assert.match(unreachable.stdout, /npm audit did not audit package-lock\.json: 405/);
  });
});
