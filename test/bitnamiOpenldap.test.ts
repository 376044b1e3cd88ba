import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { testLdapGroupDn, testLdapOutsider, testLdapUsersDn } from "../components/auth/testLdapDirectory";
import { TestLdapServer } from "../components/auth/testLdapServer";
import { containerArgv } from "../e2e/journey/containerProcess";
import {
  containerProcess,
  type Container,
  type ImageStandIn,
  type LocalVolume,
  type PodSpec,
} from "../e2e/journey/podSpec";
import { evaluate } from "../render";
import type { JsonObject } from "../render/mocks";
import { images } from "../versions/images";
import { at, manifest } from "./support/rendered";

/**
 * The test LDAP server's seeding, tried against the image's own start-up scripts: the pod spec and
 * Secret TestLdapServer renders, run as a container process (e2e/journey/containerProcess.ts: a
 * private mount namespace over this machine's root, the spec's user, group, capabilities and
 * no_new_privs, its environment only), whose ENTRYPOINT and CMD are the image's entrypoint.sh and
 * run.sh, with its set-up (setup.sh, libopenldap.sh and Bitnami's generic lib*.sh) doing what it
 * does in the pod: make cn=config, load the schemas, seed from LDAP_CUSTOM_LDIF_DIR (here a folder
 * laid out as the kubelet lays out a Secret volume), stop, and start slapd for good.
 *
 * The scripts are not in this repository (Apache-2.0 code of bitnami/containers, kept out of it).
 * Point BITNAMI_OPENLDAP_SCRIPTS at a copy of the image's /opt/bitnami/scripts, taken from the
 * image itself, e.g.
 *   crane export docker.io/bitnamilegacy/openldap:2.6.10-debian-12-r4 - | tar -x opt/bitnami/scripts
 * Without them (CI has no image to take them from) this test is skipped, saying so.
 *
 * What stands in for the rest of the image (/opt/bitnami/openldap): Debian's slapd (2.5) and
 * ldap-utils. Like the image's postunpack.sh, the stand-in's slapd carries the file capability
 * cap_net_bind_service=+eip and slapadd, slappasswd... are links to it. Debian builds back_mdb as a
 * module where Bitnami builds it in: the one module the scripts' cn=config loads, pw-sha2.so, is
 * Debian's back_mdb here (the default password hash, {SSHA}, needs no module). Debian's libldap
 * keeps its ldapi socket in /run/slapd (Bitnami's: /opt/bitnami/openldap/var/run), made writable
 * for the container. The pod's network is a network namespace of its own (127.0.0.1 inside).
 */

const scriptsDir = process.env.BITNAMI_OPENLDAP_SCRIPTS;
const neededScripts = [
  "libopenldap.sh",
  "libfile.sh",
  "libfs.sh",
  "liblog.sh",
  "libos.sh",
  "libservice.sh",
  "libvalidations.sh",
  "openldap/entrypoint.sh",
  "openldap/setup.sh",
  "openldap/run.sh",
];
const missing = scriptsDir ? neededScripts.filter((f) => !fs.existsSync(path.join(scriptsDir, f))) : neededScripts;
const skip = !scriptsDir
  ? "BITNAMI_OPENLDAP_SCRIPTS is not set: it names a copy of the image's /opt/bitnami/scripts"
  : missing.length > 0
    ? `the image's start-up scripts are not at ${scriptsDir}: ${missing.join(", ")}`
    : false;

const users = ["ann", "ben"];

interface Rendered {
  spec: PodSpec;
  container: Container;
  secret: Record<string, string>;
}

/** TestLdapServer alone under the render mocks: its pod spec and its Secret's data. */
async function renderServer(): Promise<Rendered> {
  const r = await evaluate(
    () => new TestLdapServer("ldap", { namespace: "hub", image: images.ldapTest.reference, users }),
    { project: "components", stack: "test", values: {}, secretKeys: [] },
  );
  const spec = at(manifest(r, "Deployment", "ldap"), "spec", "template", "spec") as unknown as PodSpec;
  const secret = at(manifest(r, "Secret", "ldap"), "stringData") as JsonObject;
  return {
    spec,
    container: spec.containers[0],
    secret: Object.fromEntries(Object.entries(secret).map(([k, v]) => [k, String(v)])),
  };
}

/** The passwords the seed gives each user (cleartext in the LDIF, as ldapadd stores them). */
function passwordsOf(ldif: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const entry of ldif.split("\n\n")) {
    const cn = /^dn: cn=([^,]+),/.exec(entry)?.[1];
    const pw = /^userPassword: (.*)$/m.exec(entry)?.[1];
    if (cn && pw) out.set(cn, pw);
  }
  return out;
}

/** A Secret volume as the kubelet writes it: files in a timestamped folder, `..data` and links to it. */
function secretVolume(dir: string, files: Record<string, string>): void {
  const stamp = "..2026_12_01_00_00_00.000000001";
  fs.mkdirSync(path.join(dir, stamp), { recursive: true, mode: 0o755 });
  for (const [name, text] of Object.entries(files)) {
    fs.writeFileSync(path.join(dir, stamp, name), text, { mode: 0o644 });
    fs.symlinkSync(path.join("..data", name), path.join(dir, name));
  }
  fs.symlinkSync(stamp, path.join(dir, "..data"));
}

/**
 * /opt/bitnami and /bitnami as the image has them after postunpack.sh: writable folders group 0
 * and group-writable, slapd.d and data linked, slapd with its file capability.
 */
function imageRoot(dir: string): { opt: string; volume: string } {
  const opt = path.join(dir, "opt-bitnami");
  const base = path.join(opt, "openldap");
  const volume = path.join(dir, "bitnami");
  const mk = (d: string, mode = 0o775) => {
    fs.mkdirSync(d, { recursive: true });
    fs.chmodSync(d, mode);
  };
  for (const d of ["bin", "sbin", "etc", "share", "var/run", "libexec/openldap"]) mk(path.join(base, d));
  mk(path.join(volume, "openldap/data"));
  mk(path.join(volume, "openldap/slapd.d"));
  fs.mkdirSync(path.join(opt, "scripts"));
  fs.symlinkSync("/etc/ldap/schema", path.join(base, "etc/schema"));
  fs.symlinkSync("/bitnami/openldap/slapd.d", path.join(base, "etc/slapd.d"));
  fs.symlinkSync("/bitnami/openldap/data", path.join(base, "var/data"));
  for (const tool of ["ldapadd", "ldapmodify", "ldapsearch", "ldapwhoami", "ldapdelete"]) {
    fs.symlinkSync(`/usr/bin/${tool}`, path.join(base, "bin", tool));
  }
  fs.copyFileSync("/usr/sbin/slapd", path.join(base, "sbin/slapd"));
  fs.chmodSync(path.join(base, "sbin/slapd"), 0o755);
  const setcap = spawnSync("setcap", ["cap_net_bind_service=+eip", path.join(base, "sbin/slapd")], {
    encoding: "utf8",
  });
  if (setcap.status !== 0) throw new Error(`setcap: ${setcap.stderr}`);
  for (const tool of ["slapadd", "slapcat", "slappasswd", "slaptest", "slapindex"]) {
    fs.symlinkSync("slapd", path.join(base, "sbin", tool));
  }
  fs.symlinkSync("/usr/lib/ldap/back_mdb.so", path.join(base, "libexec/openldap/pw-sha2.so"));
  return { opt, volume };
}

/** The pod's network: a network and PID namespace with its loopback up (the pod sandbox). */
async function startSandbox(): Promise<{ pid: number; child: ChildProcess }> {
  const child = spawn(
    "unshare",
    ["--net", "--pid", "--fork", "--kill-child", "--", "sh", "-c", "ip link set lo up && exec sleep 100000"],
    { stdio: "ignore" },
  );
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const inner = childrenOf(child.pid ?? -1)[0];
    if (inner && fs.readFileSync(`/proc/${inner}/comm`, "utf8").trim() === "sleep") return { pid: inner, child };
    await new Promise((r) => setTimeout(r, 20));
  }
  child.kill("SIGKILL");
  throw new Error("the sandbox did not start");
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const e of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, "utf8");
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid) out.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function descendantsOf(pid: number): number[] {
  const kids = childrenOf(pid);
  return [...kids, ...kids.flatMap(descendantsOf)];
}

interface RunningContainer {
  child: ChildProcess;
  sandbox: { pid: number; child: ChildProcess };
  output: () => string;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

/** Starts the rendered container (with `edit` applied to a copy of its spec) as the kubelet would. */
async function runContainer(r: Rendered, dir: string, edit?: (c: Container) => void): Promise<RunningContainer> {
  const container = structuredClone(r.container);
  edit?.(container);
  const start = images.ldapTest.process;
  const { opt, volume } = imageRoot(path.join(dir, "image"));
  const ldapi = path.join(dir, "ldapi");
  fs.mkdirSync(ldapi, { mode: 0o777 });
  fs.chmodSync(ldapi, 0o777);
  // postunpack.sh makes it (empty): set-up looks there for *.sh to run once.
  const initdb = path.join(dir, "initdb");
  fs.mkdirSync(initdb, { mode: 0o775 });
  const image: ImageStandIn = {
    path: ["/opt/bitnami/openldap/bin", "/opt/bitnami/openldap/sbin"],
    entrypoint: [...start.entrypoint],
    cmd: [...start.cmd],
    uid: start.user.uid,
    gid: start.user.gid,
    env: { HOME: "/" },
    programFolders: [],
  };
  // The image's own folders, writable as in the image (mounted in this order: scripts over /opt/bitnami).
  const imageMounts = [
    { source: opt, target: "/opt/bitnami", readOnly: false },
    { source: scriptsDir ?? "", target: "/opt/bitnami/scripts", readOnly: true },
    { source: volume, target: "/bitnami", readOnly: false },
    { source: ldapi, target: "/run/slapd", readOnly: false },
    { source: initdb, target: "/docker-entrypoint-initdb.d", readOnly: false },
  ];
  const volumes = new Map<string, LocalVolume>();
  for (const v of r.spec.volumes ?? []) {
    const own = path.join(dir, "volumes", v.name);
    if (!v.secret) throw new Error(`volume ${v.name}: only the seed Secret is expected`);
    const items = v.secret.items ?? Object.keys(r.secret).map((key) => ({ key, path: key }));
    secretVolume(own, Object.fromEntries(items.map((i) => [i.path, r.secret[i.key]])));
    volumes.set(v.name, { dir: own, nfs: false });
  }
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) {
    const ref = e.valueFrom?.secretKeyRef;
    env[e.name] = ref ? r.secret[ref.key] : (e.value ?? "");
  }
  const sandbox = await startSandbox();
  const p = containerProcess({
    spec: r.spec,
    container,
    image,
    volumes,
    env,
    rootSquash: false,
    scratchDir: path.join(dir, "scratch"),
    sandboxPid: sandbox.pid,
    extraMounts: imageMounts,
  });
  const argv = containerArgv(p);
  const child = spawn(argv[0], argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    child,
    sandbox,
    output: () => out,
    exited,
    stop: async () => {
      sandbox.child.kill("SIGKILL");
      child.kill("SIGKILL");
      await exited;
    },
  };
}

/** A command in the pod's network namespace (as the hub, in its own pod, would connect). */
function inPod(sandboxPid: number, command: string, args: string[]): { status: number | null; output: string } {
  const r = spawnSync("nsenter", [`--target=${sandboxPid}`, "--net", "--", command, ...args], {
    encoding: "utf8",
    env: { PATH: "/usr/bin:/bin", LDAPCONF: "/dev/null", LDAPRC: "no-ldaprc", HOME: "/nonexistent" },
    timeout: 15_000,
  });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** The readiness probe's exec command, run inside the container (its mount namespace and root, its user). */
function probe(c: RunningContainer, command: string[]): { status: number | null; output: string } {
  const slapd = descendantsOf(c.child.pid ?? -1).find((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "slapd";
    } catch {
      return false;
    }
  });
  if (slapd === undefined) return { status: null, output: "no slapd in the container" };
  const r = spawnSync(
    "nsenter",
    [`--target=${slapd}`, "--net", "--mount", "--root", "--wd", "--setuid=1001", "--setgid=0", "--", ...command],
    { encoding: "utf8", timeout: 15_000 },
  );
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

async function until(what: string, c: RunningContainer, check: () => boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  let exited: number | null | undefined;
  void c.exited.then((code) => (exited = code));
  while (Date.now() < deadline) {
    if (check()) return;
    if (exited !== undefined) throw new Error(`the container exited (${exited}) before ${what}:\n${c.output()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what}: not within ${ms / 1000} s:\n${c.output()}`);
}

describe("the test LDAP server seeded by the image's own start-up scripts", { skip }, () => {
  let r: Rendered;
  let dir: string;
  before(async () => {
    r = await renderServer();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "bitnami-openldap-"));
    fs.chmodSync(dir, 0o755);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  describe("as the component renders it", () => {
    let c: RunningContainer;
    const url = "ldap://127.0.0.1:1389";
    const passwords = () => passwordsOf(r.secret["seed.ldif"]);
    const bind = (user: string, password: string) =>
      inPod(c.sandbox.pid, "ldapwhoami", ["-x", "-H", url, "-D", `cn=${user},${testLdapUsersDn}`, "-w", password]);

    before(async () => {
      c = await runContainer(r, path.join(dir, "as-rendered"));
      const readiness = r.container.readinessProbe as { exec?: { command: string[] } } | undefined;
      const command = readiness?.exec?.command;
      assert.ok(command, "the readiness probe runs a command");
      // Ready (the kubelet's view), and set-up over: run.sh's slapd, not setup.sh's, is answering.
      let last = "";
      await until("ready after set-up", c, () => {
        if (!c.output().includes("** Starting slapd **")) return false;
        const p = probe(c, command);
        last = `probe: ${p.status} ${p.output}`;
        return p.status === 0;
      }).catch((e: Error) => {
        throw new Error(`${e.message}\n${last}`);
      });
    });
    after(() => c?.stop());

    it("every configured user and the outsider bind with the password the seed gave them", () => {
      for (const user of [...users, testLdapOutsider]) {
        const pw = passwords().get(user);
        assert.ok(pw, `${user} has a password in the seed`);
        const ok = bind(user, pw);
        assert.equal(ok.status, 0, ok.output);
        assert.equal(bind(user, `${pw}x`).status, 49, `${user}: a wrong password is refused`);
      }
    });

    it("the group has the configured users as members, and not the outsider", () => {
      const pw = passwords().get(users[0]) ?? "";
      const s = inPod(c.sandbox.pid, "ldapsearch", [
        ...["-x", "-LLL", "-H", url, "-D", `cn=${users[0]},${testLdapUsersDn}`, "-w", pw],
        ...["-s", "base", "-b", testLdapGroupDn, "member"],
      ]);
      assert.equal(s.status, 0, s.output);
      const members = s.output.split("\n").filter((l) => l.startsWith("member: "));
      assert.deepEqual(members.sort(), users.map((u) => `member: cn=${u},${testLdapUsersDn}`).sort());
    });

    it("the image's default tree was skipped: no user01/user02, no readers group", () => {
      const s = inPod(c.sandbox.pid, "ldapsearch", [
        "-x",
        "-LLL",
        "-H",
        url,
        "-b",
        "dc=example,dc=org",
        "(objectClass=*)",
        "1.1",
      ]);
      assert.equal(s.status, 0, s.output);
      const dns = s.output.split("\n").filter((l) => l.startsWith("dn: "));
      assert.deepEqual(
        dns.sort(),
        [
          "dn: dc=example,dc=org",
          `dn: ou=users,dc=example,dc=org`,
          `dn: ou=groups,dc=example,dc=org`,
          ...[...users, testLdapOutsider].map((u) => `dn: cn=${u},${testLdapUsersDn}`),
          `dn: ${testLdapGroupDn}`,
        ].sort(),
        "exactly the seed's entries",
      );
    });

    it("the root DN is cn=admin,<base> with the Secret's admin password", () => {
      const w = inPod(c.sandbox.pid, "ldapwhoami", [
        ...["-x", "-H", url, "-D", "cn=admin,dc=example,dc=org", "-w", r.secret.LDAP_ADMIN_PASSWORD],
      ]);
      assert.equal(w.status, 0, w.output);
    });

    it("the readiness probe fails for an entry that is not there", () => {
      const command = (r.container.readinessProbe as { exec: { command: string[] } }).exec.command;
      const missingEntry = command.map((a) => (a === testLdapGroupDn ? `cn=nobody,${testLdapUsersDn}` : a));
      assert.notEqual(probe(c, missingEntry).status, 0);
    });
  });

  it("with every capability dropped (no NET_BIND_SERVICE) the image's slapd cannot even start", async () => {
    const c = await runContainer(r, path.join(dir, "drop-all"), (container) => {
      if (container.securityContext) container.securityContext.capabilities = { drop: ["ALL"] };
    });
    try {
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([
        c.exited,
        new Promise<"running">((res) => (timer = setTimeout(() => res("running"), 60_000))),
      ]);
      clearTimeout(timer);
      assert.notEqual(code, "running", `the container kept running:\n${c.output()}`);
      assert.notEqual(code, 0);
      assert.match(c.output(), /slappasswd: Operation not permitted|slapadd: Operation not permitted/);
    } finally {
      await c.stop();
    }
  });
});
