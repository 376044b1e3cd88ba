/**
 * The kubelet stand-in's exec into a running container (e2e/journey/containerProcess.ts, execArgv),
 * which runs a container's postStart hook as a runtime's exec does: in the container's namespaces,
 * root and working folder, as its user, with its capabilities, no_new_privs and environment. And the
 * working folder itself: the spec's, else the image's WORKDIR, made when missing (as runc does).
 * Needs root (unshare, mount, nsenter).
 */
import * as assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { execArgv, innerPid, startedMarker } from "../e2e/journey/containerProcess";
import { type ImageStandIn, containerCommandLine } from "../e2e/journey/podSpec";

/** An image whose programs are this machine's, whose user is the notebook user, with a WORKDIR. */
const image: ImageStandIn = {
  path: [],
  programFolders: [],
  entrypoint: [],
  cmd: [],
  uid: 1000,
  gid: 100,
  env: { HOME: "/home/jovyan" },
  workingDir: "/home/jovyan",
};

describe("exec in a running container (the stand-in's postStart hooks)", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "container-exec-"));
  const home = path.join(tmp, "home");
  let container: ReturnType<typeof spawn>;
  let proc: ReturnType<typeof containerCommandLine>["process"];
  let pid: number;

  before(async () => {
    fs.mkdirSync(home);
    fs.chownSync(home, 1000, 100);
    const cmd = containerCommandLine({
      spec: { securityContext: { fsGroup: 100 }, containers: [] },
      container: {
        name: "notebook",
        image: "notebook",
        command: ["sh", "-c", "echo $$ > /tmp/main.pid; exec sleep 60"],
        env: [],
        volumeMounts: [{ name: "home", mountPath: "/home/jovyan" }],
        securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
      },
      image,
      volumes: new Map([["home", { dir: home, nfs: false }]]),
      env: { COURSE: "data science", HOME: "/home/jovyan" },
      rootSquash: false,
      scratchDir: path.join(tmp, "scratch"),
    });
    proc = cmd.process;
    container = spawn(cmd.argv[0], cmd.argv.slice(1), { stdio: "ignore", detached: true });
    const deadline = Date.now() + 10_000;
    while (!fs.existsSync(startedMarker(proc)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const inner = innerPid(container.pid);
    assert.ok(inner, "the container runs");
    pid = inner;
  });

  after(() => {
    if (container.pid) process.kill(-container.pid, "SIGKILL");
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const exec = (command: string[]) => {
    const argv = execArgv(proc, pid, command);
    return spawnSync(argv[0], argv.slice(1), { encoding: "utf8", timeout: 10_000 });
  };

  it("starts in the image's WORKDIR when the spec sets none", () => {
    assert.equal(proc.workingDir, "/home/jovyan");
  });

  it("runs as the container's user, in its working folder and environment, and sees its files", () => {
    // As with the kubelet's hook, nothing orders this after the container's own first line: wait for it.
    const r = exec([
      "sh",
      "-c",
      'while [ ! -s /tmp/main.pid ]; do sleep 0.05; done; id -u; id -g; pwd; echo "$COURSE"; cat /tmp/main.pid; echo hook > poststart.txt',
    ]);
    assert.equal(r.status, 0, r.stderr);
    const [uid, gid, cwd, course, mainPid] = r.stdout.trim().split("\n");
    assert.deepEqual([uid, gid, cwd, course], ["1000", "100", "/home/jovyan", "data science"]);
    // The container's own /tmp (its copy-on-write root), not this machine's.
    assert.match(mainPid, /^\d+$/);
    assert.ok(!fs.existsSync("/tmp/main.pid") || fs.readFileSync("/tmp/main.pid", "utf8").trim() !== mainPid);
    const st = fs.statSync(path.join(home, "poststart.txt"));
    assert.deepEqual([st.uid, st.gid], [1000, 100], "written in the user's folder, as the user");
  });

  it("has the container's capabilities (none) and no_new_privs", () => {
    const r = exec(["sh", "-c", "grep -E '^(CapEff|NoNewPrivs)' /proc/self/status"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /CapEff:\s+0+\n/);
    assert.match(r.stdout, /NoNewPrivs:\s+1/);
  });

  it("reports a failing command's exit code and output", () => {
    const r = exec(["sh", "-c", "echo partial; echo 'no course material' >&2; exit 3"]);
    assert.equal(r.status, 3);
    assert.equal(r.stdout, "partial\n");
    assert.equal(r.stderr, "no course material\n");
  });

  it("a missing WORKDIR is made, as a runtime makes it", () => {
    const workdir = "/srv/not-on-this-machine";
    assert.ok(!fs.existsSync(workdir));
    const { argv } = containerCommandLine({
      spec: { containers: [] },
      container: { name: "c", image: "i", command: ["pwd"] },
      image: { ...image, workingDir: workdir },
      volumes: new Map(),
      env: {},
      rootSquash: false,
      scratchDir: path.join(tmp, "scratch-2"),
    });
    const r = spawnSync(argv[0], argv.slice(1), { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), workdir);
    assert.ok(!fs.existsSync(workdir), "made in the container's root, not on this machine");
  });
});
