import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import * as semver from "semver";
import { parse } from "yaml";
import { actionlint, formatErrors } from "./support/actionlint";
import { stackNames } from "./support/variations";

const repoRoot = path.resolve(__dirname, "..");
const workflowDir = path.join(repoRoot, ".github", "workflows");

type Json = Record<string, unknown>;

interface Step {
  uses?: string;
  run?: string;
  with?: Record<string, string | number | boolean>;
}

interface Job {
  if?: string;
  environment?: string;
  permissions?: Record<string, string>;
  strategy?: { matrix?: Record<string, unknown> };
  steps: Step[];
}

interface Workflow {
  on: Json;
  permissions?: Record<string, string>;
  jobs: Record<string, Job>;
}

function workflow(file: string): Workflow {
  return parse(fs.readFileSync(path.join(workflowDir, file), "utf8")) as Workflow;
}

function pulumiSteps(job: Job): Step[] {
  return job.steps.filter((s) => s.uses?.startsWith("pulumi/actions@"));
}

describe("GitHub workflows: actionlint", () => {
  const files = fs
    .readdirSync(workflowDir)
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => path.join(".github", "workflows", f));

  it("finds the five workflows", () => {
    assert.deepEqual(files.map((f) => path.basename(f)).sort(), [
      "audit.yml",
      "ci.yml",
      "deploy.yml",
      "kind.yml",
      "preview.yml",
    ]);
  });

  it("passes actionlint, with no finding in any workflow", () => {
    const result = actionlint(repoRoot, files);
    assert.deepEqual(result.errors, [], formatErrors(result.errors));
    assert.equal(result.status, 0, result.stderr);
  });

  it("actionlint does fail a malformed workflow (unknown input, bad expression, missing runs-on)", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "actionlint-"));
    try {
      fs.mkdirSync(path.join(dir, ".github", "workflows"), { recursive: true });
      const broken = [
        "on: pull_request",
        "jobs:",
        "  preview:",
        "    steps:",
        "      - uses: pulumi/actions@v6",
        "        with:",
        "          command: preview",
        "          stack: dev",
        "      - run: echo ${{ matrix.stak }}",
        "",
      ].join("\n");
      fs.writeFileSync(path.join(dir, ".github", "workflows", "broken.yml"), broken);
      const result = actionlint(dir, [path.join(".github", "workflows", "broken.yml")]);
      assert.equal(result.status, 1);
      const text = formatErrors(result.errors);
      assert.match(text, /"runs-on" section is missing/);
      assert.match(text, /input "stack" is not defined in action "pulumi\/actions@v6"/);
      assert.match(text, /property "stak" is not defined/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("GitHub workflows: what they do", () => {
  it("CI runs the README's set-up and test commands", () => {
    const ci = workflow("ci.yml");
    const runs = Object.values(ci.jobs).flatMap((j) => j.steps.map((s) => s.run));
    assert.ok(runs.includes("bash scripts/setup.sh"));
    assert.ok(runs.includes("npm test"));
    assert.ok("pull_request" in ci.on && "push" in ci.on);
  });

  it("every pull request previews every stack file with the policy pack and comments the result", () => {
    const preview = workflow("preview.yml");
    assert.deepEqual(Object.keys(preview.on), ["pull_request"]);
    const job = preview.jobs.preview;
    assert.deepEqual(job.strategy?.matrix?.stack, stackNames());
    const [step] = pulumiSteps(job);
    assert.equal(step.uses, "pulumi/actions@v6");
    assert.equal(step.with?.command, "preview");
    assert.match(String(step.with?.["stack-name"]), /\$\{\{ matrix\.stack \}\}$/);
    assert.equal(step.with?.policyPacks, "policy");
    assert.equal(step.with?.["comment-on-pr"], true);
    assert.equal(preview.permissions?.["pull-requests"], "write");
    assert.equal(preview.permissions?.["id-token"], "write");
    assert.deepEqual(
      job.steps.map((s) => s.uses?.replace(/@.*/, "") ?? s.run?.split(" ")[0]),
      [
        "actions/checkout",
        "actions/setup-node",
        "npm",
        "google-github-actions/auth",
        "google-github-actions/get-gke-credentials",
        "pulumi/actions",
      ],
    );
  });

  it("a push to main updates dev and only dev; prod and destroy need a dispatch and an approving environment", () => {
    const deploy = workflow("deploy.yml");
    assert.deepEqual((deploy.on.push as Json).branches, ["main"]);
    const inputs = (deploy.on.workflow_dispatch as { inputs: Record<string, { options: string[] }> }).inputs;
    assert.deepEqual(inputs.stack.options, stackNames());
    assert.deepEqual(inputs.command.options, ["up", "destroy"]);

    const onPush = Object.values(deploy.jobs).filter((j) => j.if?.includes("github.event_name == 'push'"));
    assert.equal(onPush.length, 1);
    const [pushStep] = pulumiSteps(onPush[0]);
    assert.equal(pushStep.with?.command, "up");
    assert.match(String(pushStep.with?.["stack-name"]), /dev$/);
    assert.equal(pushStep.with?.policyPacks, "policy");

    const dispatched = Object.values(deploy.jobs).filter((j) =>
      j.if?.includes("github.event_name == 'workflow_dispatch'"),
    );
    assert.equal(dispatched.length, 1);
    assert.match(String(dispatched[0].if), /github\.ref == 'refs\/heads\/main'/);
    // prod up -> "prod", any destroy -> "destroy": the environments that carry required reviewers.
    assert.equal(dispatched[0].environment, "${{ inputs.command == 'destroy' && 'destroy' || inputs.stack }}");
    // No job both runs on push and can run anything but `up`.
    assert.equal(Object.keys(deploy.jobs).length, 2);
  });

  it("the real-cluster job runs the hand-runnable script, end to end, and is given no secret", () => {
    const kind = workflow("kind.yml");
    const steps = Object.values(kind.jobs).flatMap((j) => j.steps);
    assert.ok(steps.some((s) => s.run === "bash scripts/kind-cluster-check.sh all"));
    assert.ok(steps.some((s) => s.uses?.startsWith("pulumi/actions@")));
    assert.doesNotMatch(fs.readFileSync(path.join(workflowDir, "kind.yml"), "utf8"), /secrets\./);
    assert.deepEqual(kind.permissions, { contents: "read" });
  });

  it("the advisory audit runs the hand-runnable script daily, by hand and on PRs that change what we ship", () => {
    const audit = workflow("audit.yml");
    assert.deepEqual(Object.keys(audit.on).sort(), ["pull_request", "schedule", "workflow_dispatch"]);
    const [schedule] = audit.on.schedule as { cron: string }[];
    assert.match(schedule.cron, /^\d+ \d+ \* \* (\*|\d)$/, "daily or weekly");
    const paths = (audit.on.pull_request as { paths: string[] }).paths;
    for (const p of ["versions/**", "package-lock.json", "scripts/advisory-audit.sh", "scripts/advisory-verdict.ts"]) {
      assert.ok(paths.includes(p), p);
    }
    const steps = Object.values(audit.jobs).flatMap((j) => j.steps);
    assert.ok(steps.some((s) => s.run?.startsWith("bash scripts/advisory-audit.sh")));
    // pip-audit at one exact version; Node.js 24; the Python of the locks.
    assert.ok(steps.some((s) => /pip install .*"pip-audit==\d+\.\d+\.\d+"/.test(s.run ?? "")));
    assert.equal(steps.find((s) => s.uses?.startsWith("actions/setup-node@"))?.with?.["node-version"], 24);
    const python = steps.find((s) => s.uses?.startsWith("actions/setup-python@"));
    assert.equal(python?.with?.["python-version-file"], "versions/.python-version");
    // Every action at a major tag, as the other workflows pin them.
    for (const s of steps.filter((s) => s.uses)) assert.match(String(s.uses), /^[\w-]+\/[\w-]+@v\d+$/);
    assert.doesNotMatch(fs.readFileSync(path.join(workflowDir, "audit.yml"), "utf8"), /secrets\./);
    assert.deepEqual(audit.permissions, { contents: "read" });
  });

  it("never passes a credential inline: only secrets.* (or the job's own token) feed the Pulumi and GCP steps", () => {
    for (const file of ["preview.yml", "deploy.yml"]) {
      const text = fs.readFileSync(path.join(workflowDir, file), "utf8");
      for (const key of ["PULUMI_ACCESS_TOKEN", "PULUMI_CONFIG_PASSPHRASE"]) {
        assert.match(text, new RegExp(`${key}: \\$\\{\\{ secrets\\.${key} \\}\\}`), `${file}: ${key}`);
      }
      assert.match(text, /workload_identity_provider: \$\{\{ secrets\.GCP_WORKLOAD_IDENTITY_PROVIDER \}\}/);
      assert.match(text, /cloud-url: \$\{\{ secrets\.PULUMI_BACKEND_URL \}\}/);
    }
  });
});

describe("one Node.js and one Pulumi everywhere", () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8")) as {
    engines: { node: string };
    dependencies: Record<string, string>;
  };
  const pulumiVersion = pkg.dependencies["@pulumi/pulumi"];
  const allSteps = fs
    .readdirSync(workflowDir)
    .flatMap((f) => Object.values(workflow(f).jobs).flatMap((j) => j.steps.map((s) => ({ file: f, step: s }))));
  /** The Node.js that scripts/setup-node.sh installs and .ci/run puts first on PATH. */
  const ciNode = /^node_version=(\S+)$/m.exec(
    fs.readFileSync(path.join(repoRoot, "scripts", "setup-node.sh"), "utf8"),
  )?.[1];

  it("our engines admit the Node.js releases users run (22 and 24), and only those @pulumi/pulumi supports", () => {
    const pulumiEngines = (
      JSON.parse(fs.readFileSync(path.join(repoRoot, "node_modules", "@pulumi", "pulumi", "package.json"), "utf8")) as {
        engines: { node: string };
      }
    ).engines.node;
    for (const v of ["22.0.0", "24.22.3"]) assert.ok(semver.satisfies(v, pkg.engines.node), `engines admit ${v}`);
    assert.ok(
      semver.subset(pkg.engines.node, pulumiEngines),
      `${pkg.engines.node} within @pulumi/pulumi's ${pulumiEngines}`,
    );
    assert.ok(ciNode && semver.satisfies(ciNode, pkg.engines.node), `CI's Node.js ${ciNode}`);
  });

  it("every workflow sets up the Node.js CI runs on", () => {
    const setups = allSteps.filter(({ step }) => step.uses?.startsWith("actions/setup-node@"));
    assert.ok(setups.length >= 4);
    for (const { file, step } of setups) {
      assert.equal(String(step.with?.["node-version"]), String(semver.major(ciNode ?? "0.0.0")), file);
    }
  });

  it("the Pulumi CLI is the locked @pulumi/pulumi's version in every workflow and in the e2e toolchain", () => {
    assert.match(pulumiVersion, /^\d+\.\d+\.\d+$/, "@pulumi/pulumi is pinned exactly");
    const actions = allSteps.filter(({ step }) => step.uses?.startsWith("pulumi/actions@"));
    assert.ok(actions.length >= 4);
    for (const { file, step } of actions) assert.equal(step.with?.["pulumi-version"], pulumiVersion, file);
    const toolchain = path.join(repoRoot, "e2e", "toolchain");
    assert.match(
      fs.readFileSync(path.join(toolchain, "build.sh"), "utf8"),
      new RegExp(`^PULUMI_VERSION=v${pulumiVersion}\\s`, "m"),
    );
    assert.match(
      fs.readFileSync(path.join(toolchain, "pulumi", "go.mod"), "utf8"),
      new RegExp(`github.com/pulumi/pulumi/pkg/v3 v${pulumiVersion}\\s`),
    );
  });
});
