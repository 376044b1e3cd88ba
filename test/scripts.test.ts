import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { parseAllDocuments } from "yaml";
import { allowed, selecting, type PodRef } from "../policy/networkPolicy";
import type { JsonObject } from "../render/mocks";
import { manifests, rendered } from "./support/rendered";

const repoRoot = path.resolve(__dirname, "..");
const kindCheck = path.join(repoRoot, "scripts", "kind-cluster-check.sh");

describe("shell scripts: shellcheck", () => {
  it("passes every scripts/*.sh", () => {
    const scripts = fs
      .readdirSync(path.join(repoRoot, "scripts"))
      .filter((f) => f.endsWith(".sh"))
      .map((f) => path.join("scripts", f));
    assert.ok(scripts.includes(path.join("scripts", "kind-cluster-check.sh")));
    const result = spawnSync("shellcheck", ["--format=gcc", ...scripts], { cwd: repoRoot, encoding: "utf8" });
    assert.equal(result.error, undefined, "shellcheck is not installed (scripts/setup.sh installs it)");
    assert.equal(result.status, 0, result.stdout + result.stderr);
  });

  it("does fail a script with an unquoted expansion", () => {
    const result = spawnSync("shellcheck", ["-s", "bash", "-"], { input: "rm -rf $1/*\n", encoding: "utf8" });
    assert.equal(result.status, 1);
    assert.match(result.stdout, /SC2086/);
  });
});

/**
 * scripts/kind-cluster-check.sh's `check` step, with stand-ins on PATH for kubectl and pulumi
 * (shell scripts that answer from fixed values and record what they were handed): the real cluster
 * is not available here, so this checks the script's own logic, the pods it creates and its
 * verdicts, not the cluster's behaviour.
 */
describe("kind-cluster-check.sh check, against stand-ins for kubectl and pulumi", () => {
  let dir: string;
  const hubNamespace = "jupyterhub-dev";
  const targets = ["10.96.0.30:2049", "10.96.0.20:80", "169.254.169.254:80"];

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "kind-check-"));
    fs.mkdirSync(path.join(dir, "bin"));
    fs.mkdirSync(path.join(dir, "work", "project"), { recursive: true });
    fs.mkdirSync(path.join(dir, "applied"));
    // Stand-in for `pulumi stack output <key>`.
    fs.writeFileSync(
      path.join(dir, "bin", "pulumi"),
      [
        "#!/usr/bin/env bash",
        'case "$3" in',
        `  hubNamespace) echo ${hubNamespace} ;;`,
        "  nfsNamespace) echo jupyterhub-dev-nfs ;;",
        "  nfsServerIp) echo 10.96.0.30 ;;",
        "  notebooksClaim) echo notebooks ;;",
        '  *) echo "unexpected pulumi $*" >&2; exit 1 ;;',
        "esac",
        "",
      ].join("\n"),
      { mode: 0o755 },
    );
    // Stand-in for kubectl: two nodes, the NFS server on node-a; pods succeed and log what
    // $USER_PROBE_LOG says; the hub's exec prints $HUB_PROBE_LOG; manifests are saved in applied/.
    fs.writeFileSync(
      path.join(dir, "bin", "kubectl"),
      [
        "#!/usr/bin/env bash",
        'args="$*"',
        'case "$args" in',
        '  *"get pod -l app.kubernetes.io/name=nfs-server"*) echo node-a ;;',
        "  *\"get nodes\"*) printf 'node-a\\nnode-b\\n' ;;",
        '  *"get service file-browser"*) echo 10.96.0.20 ;;',
        '  *"get service hub"*) echo 10.96.0.21 ;;',
        '  *"apply -f -"*) n=$(ls "$APPLIED" | wc -l); cat > "$APPLIED/$n.yaml" ;;',
        '  *"jsonpath={.status.phase}"*) echo Succeeded ;;',
        '  *"logs user-probe"*) printf "%b" "$USER_PROBE_LOG" ;;',
        '  *"logs mount-check"*) echo "/srv/kind-check ok" ;;',
        '  *"exec deploy/hub"*) printf "%b" "$HUB_PROBE_LOG" ;;',
        "  *delete*|*describe*) ;;",
        '  *) echo "unexpected kubectl $args" >&2; exit 1 ;;',
        "esac",
        "",
      ].join("\n"),
      { mode: 0o755 },
    );
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  function runCheck(userLog: string[], hubLog: string[]) {
    for (const f of fs.readdirSync(path.join(dir, "applied"))) fs.rmSync(path.join(dir, "applied", f));
    const result = spawnSync("bash", [kindCheck, "check"], {
      encoding: "utf8",
      env: {
        ...process.env,
        PATH: `${path.join(dir, "bin")}:${process.env.PATH}`,
        KIND_CHECK_WORKDIR: path.join(dir, "work"),
        APPLIED: path.join(dir, "applied"),
        USER_PROBE_LOG: userLog.map((l) => `${l}\\n`).join(""),
        HUB_PROBE_LOG: hubLog.map((l) => `${l}\\n`).join(""),
      },
    });
    const pods = fs
      .readdirSync(path.join(dir, "applied"))
      .sort()
      .flatMap((f) => parseAllDocuments(fs.readFileSync(path.join(dir, "applied", f), "utf8")))
      .map((d) => {
        assert.deepEqual(d.errors, [], "the script applied YAML that does not parse");
        return d.toJS() as JsonObject;
      });
    return { ...result, pods };
  }

  const fenced = [`10.96.0.21:8081 open`, ...targets.map((t) => `${t} blocked TimeoutError`)];
  const hubReachesAll = targets.map((t) => `${t} open`);

  it("passes when the user pod reaches the hub and nothing else, and the hub reaches everything", () => {
    const r = runCheck(fenced, hubReachesAll);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /all checks passed/);
  });

  it("mounts the claim from the node without the NFS server, and probes from a pod the singleuser policy selects", async () => {
    const r = runCheck(fenced, hubReachesAll);
    assert.deepEqual(
      r.pods.map((p) => (p.metadata as JsonObject).name),
      ["mount-check", "user-probe"],
    );
    const mount = r.pods[0].spec as JsonObject;
    assert.equal(mount.nodeName, "node-b");
    assert.deepEqual(mount.volumes, [{ name: "notebooks", persistentVolumeClaim: { claimName: "notebooks" } }]);

    // The probe pod must be one the rendered dev stack's fence applies to, or it proves nothing.
    const probe = r.pods[1];
    const policies = manifests(await rendered("dev"), "NetworkPolicy");
    const pod: PodRef = {
      namespace: hubNamespace,
      labels: (probe.metadata as JsonObject).labels as Record<string, string>,
      ip: "10.4.0.9",
    };
    assert.ok(
      selecting(policies, pod, "Egress").some((p) => (p.metadata as JsonObject).name === "singleuser"),
      "the probe pod is not selected by the singleuser NetworkPolicy",
    );
    assert.ok(!allowed(policies, pod, { ip: "169.254.169.254" }, { port: 80, protocol: "TCP" }));
    const command = ((probe.spec as JsonObject).containers as JsonObject[])[0].command as string[];
    assert.deepEqual(command.slice(0, 2), ["python3", "-c"]);
    assert.match(command[2], /socket\.create_connection/);
    assert.deepEqual(command.slice(3), ["10.96.0.21:8081", ...targets]);
  });

  it("fails when the user pod reaches the metadata server, or the hub cannot reach the file browser", () => {
    const leaky = fenced.map((l) => (l.startsWith("169.254.169.254:80") ? "169.254.169.254:80 open" : l));
    const r = runCheck(leaky, hubReachesAll);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /FAIL: the user pod reached 169\.254\.169\.254:80/);
    const blind = runCheck(
      fenced,
      hubReachesAll.map((l) => (l.startsWith("10.96.0.20:80") ? "10.96.0.20:80 blocked" : l)),
    );
    assert.equal(blind.status, 1);
    assert.match(blind.stderr, /FAIL: the hub could not reach 10\.96\.0\.20:80/);
  });

  it("fails when the user pod cannot even reach the hub (its other results would prove nothing)", () => {
    const dead = fenced.map((l) => (l.startsWith("10.96.0.21:8081") ? "10.96.0.21:8081 blocked TimeoutError" : l));
    const r = runCheck(dead, hubReachesAll);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /FAIL: the user pod could not reach the hub/);
  });
});
