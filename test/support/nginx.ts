import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import type { Rendering } from "../../render";
import type { JsonObject } from "../../render/mocks";

/** Debian's nginx (scripts/setup.sh installs it). */
export const nginxBinary = "/usr/sbin/nginx";

/** Where the nginx-unprivileged image's nginx.conf includes server blocks from, inside `http {}`. */
export const imageConfD = "/etc/nginx/conf.d";

/** What the file browser's pod would see, taken from the rendered objects. */
export interface RenderedFileBrowser {
  /** The ConfigMap's `default.conf`. */
  conf: string;
  /** The container port nginx is meant to listen on. */
  containerPort: number;
  /** Where the notebooks claim is mounted in the container. */
  filesMountPath: string;
  /** Whether that mount is read-only. */
  filesReadOnly: boolean;
  /** Where the ConfigMap is mounted. */
  confMountPath: string;
  /** The htpasswd file as the Secret carries it, and where the container sees it; undefined without basic auth. */
  htpasswd?: { content: string; path: string };
}

const asObject = (v: unknown): JsonObject => (typeof v === "object" && v !== null ? (v as JsonObject) : {});
const asList = (v: unknown): JsonObject[] => (Array.isArray(v) ? (v as JsonObject[]) : []);
const nameOf = (m: JsonObject) => String(asObject(m.metadata).name);

/**
 * The file browser in a rendering: the ConfigMap with an nginx `default.conf`, the Deployment that
 * mounts it, and the htpasswd Secret that Deployment mounts, if any. Undefined if there is none.
 */
export function fileBrowserOf(r: Rendering): RenderedFileBrowser | undefined {
  const confMaps = r.manifests.filter(
    (m) => m.kind === "ConfigMap" && typeof asObject(m.data)["default.conf"] === "string",
  );
  if (confMaps.length === 0) return undefined;
  if (confMaps.length > 1) throw new Error(`${confMaps.length} ConfigMaps carry an nginx default.conf`);
  const confMap = confMaps[0];
  const podSpecOf = (d: JsonObject) => asObject(asObject(asObject(d.spec).template).spec);
  const deployments = r.manifests.filter(
    (m) =>
      m.kind === "Deployment" &&
      asList(podSpecOf(m).volumes).some((v) => asObject(v.configMap).name === nameOf(confMap)),
  );
  if (deployments.length !== 1) throw new Error(`${deployments.length} Deployments mount ConfigMap ${nameOf(confMap)}`);
  const pod = podSpecOf(deployments[0]);
  const containers = asList(pod.containers);
  if (containers.length !== 1) throw new Error(`the file browser pod has ${containers.length} containers, expected 1`);
  const container = containers[0];
  const volumes = asList(pod.volumes);
  const mountOf = (pred: (v: JsonObject) => boolean): JsonObject | undefined => {
    const volume = volumes.find(pred);
    return volume && asList(container.volumeMounts).find((m) => m.name === volume.name);
  };

  const confMount = mountOf((v) => asObject(v.configMap).name === nameOf(confMap));
  const filesMount = mountOf((v) => v.persistentVolumeClaim !== undefined);
  if (!confMount || !filesMount) throw new Error("the file browser container mounts neither its config nor the files");
  const ports = asList(container.ports);
  if (ports.length !== 1) throw new Error(`the file browser container has ${ports.length} ports, expected 1`);

  let htpasswd: RenderedFileBrowser["htpasswd"];
  const secretVolume = volumes.find((v) => v.secret !== undefined);
  if (secretVolume) {
    const secretName = asObject(secretVolume.secret).secretName;
    const secret = r.manifests.find((m) => m.kind === "Secret" && nameOf(m) === secretName);
    const content = asObject(secret?.stringData).htpasswd;
    const mount = asList(container.volumeMounts).find((m) => m.name === secretVolume.name);
    if (typeof content !== "string" || !mount)
      throw new Error(`Secret ${String(secretName)} has no htpasswd, or is not mounted`);
    htpasswd = { content, path: `${String(mount.mountPath)}/htpasswd` };
  }
  return {
    conf: String(asObject(confMap.data)["default.conf"]),
    containerPort: Number(ports[0].containerPort),
    filesMountPath: String(filesMount.mountPath),
    filesReadOnly: filesMount.readOnly === true,
    confMountPath: String(confMount.mountPath),
    htpasswd,
  };
}

/** The user and password the rendered htpasswd accepts: the RandomPassword whose bcrypt hash it carries. */
export function credentialsOf(r: Rendering, fb: RenderedFileBrowser): { user: string; password: string } {
  const lines = fb.htpasswd?.content.split("\n").filter((l) => l !== "") ?? [];
  assert.equal(lines.length, 1, `expected one htpasswd line, got ${lines.length}`);
  const [user, hash] = lines[0].split(":");
  assert.match(hash, /^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/, "the htpasswd entry is not a bcrypt hash");
  const source = r.resources.find((x) => x.type.startsWith("random:") && x.outputs.bcryptHash === hash);
  assert.ok(source, "no RandomPassword produced the htpasswd hash");
  assert.equal(typeof source.outputs.result, "string");
  return { user, password: String(source.outputs.result) };
}

/** Replaces the one directive `name` in `conf` (it must occur exactly once) and returns its old argument. */
function rewriteDirective(conf: string, name: string, replace: (arg: string) => string): { conf: string; was: string } {
  const re = new RegExp(`^(\\s*)${name}\\s+([^;\\n]+);`, "gm");
  const found = [...conf.matchAll(re)];
  if (found.length !== 1)
    throw new Error(`expected one "${name}" directive in the rendered nginx config, found ${found.length}`);
  const was = found[0][2].trim();
  return { conf: conf.replace(re, (_m, indent: string) => `${indent}${name} ${replace(was)};`), was };
}

/** A free TCP port on the loopback interface. */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface NginxCheckResult {
  ok: boolean;
  output: string;
}

/**
 * The rendered server block under a real nginx, the way the image runs it: included from a conf.d
 * folder inside an `http {}` like the image's nginx.conf, with the listen port moved to a free
 * loopback port, `root` pointed at `files` and the htpasswd path at a copy of the rendered file.
 * Everything lives in a temporary folder. As root, nginx runs as `nobody` (the image runs as uid 101).
 */
export class NginxUnderTest {
  readonly dir: string;
  readonly filesDir: string;
  readonly confFile: string;
  private readonly errorLog: string;
  private readonly runAs?: { uid: number; gid: number };
  private process?: ChildProcess;
  /** The rendered server block as nginx reads it here (conf.d/default.conf), after the rewrites. */
  serverBlock = "";

  private constructor(
    readonly port: number,
    readonly rewritten: { listen: string; root: string; htpasswdFile?: string; proxyPass?: string },
    dir: string,
  ) {
    this.dir = dir;
    this.filesDir = path.join(dir, "files");
    this.confFile = path.join(dir, "nginx.conf");
    this.errorLog = path.join(dir, "run", "error.log");
    if (process.getuid?.() === 0) this.runAs = { uid: 65534, gid: 65534 };
  }

  /**
   * Lays out the temporary folder; `files` maps paths under the served root to contents or sizes;
   * `proxyPass`, when given, replaces the one proxy_pass target (a Service address, here a local
   * stand-in's).
   */
  static async prepare(
    fb: RenderedFileBrowser,
    files: Record<string, string | { size: number }>,
    o: { proxyPass?: string } = {},
  ): Promise<NginxUnderTest> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nginx-file-browser-"));
    const port = await freeLoopbackPort();
    const filesDir = path.join(dir, "files");
    const authDir = path.join(dir, "auth");
    let conf = fb.conf;
    const listen = rewriteDirective(conf, "listen", () => `127.0.0.1:${port}`);
    conf = listen.conf;
    const root = rewriteDirective(conf, "root", () => filesDir);
    conf = root.conf;
    let htpasswdFile: string | undefined;
    if (fb.htpasswd) {
      const auth = rewriteDirective(conf, "auth_basic_user_file", () => path.join(authDir, "htpasswd"));
      conf = auth.conf;
      htpasswdFile = auth.was;
    }
    let proxyPass: string | undefined;
    if (o.proxyPass !== undefined) {
      const proxy = rewriteDirective(conf, "proxy_pass", () => o.proxyPass ?? "");
      conf = proxy.conf;
      proxyPass = proxy.was;
    }
    const under = new NginxUnderTest(port, { listen: listen.was, root: root.was, htpasswdFile, proxyPass }, dir);
    under.layOut(conf, fb, files);
    return under;
  }

  private layOut(serverBlock: string, fb: RenderedFileBrowser, files: Record<string, string | { size: number }>): void {
    const run = path.join(this.dir, "run");
    const confD = path.join(this.dir, "conf.d");
    for (const d of [this.filesDir, confD, run]) fs.mkdirSync(d, { recursive: true });
    this.serverBlock = serverBlock;
    fs.writeFileSync(path.join(confD, "default.conf"), serverBlock);
    if (fb.htpasswd) {
      fs.mkdirSync(path.join(this.dir, "auth"));
      fs.writeFileSync(path.join(this.dir, "auth", "htpasswd"), fb.htpasswd.content);
    }
    for (const [rel, content] of Object.entries(files)) {
      const file = path.join(this.filesDir, rel);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      if (typeof content === "string") fs.writeFileSync(file, content);
      else {
        fs.writeFileSync(file, "");
        fs.truncateSync(file, content.size);
      }
    }
    const tmp = (name: string) => path.join(run, name);
    // The nginx-unprivileged image's nginx.conf, with its paths moved into the temporary folder.
    fs.writeFileSync(
      this.confFile,
      [
        "worker_processes 1;",
        "daemon off;",
        `pid ${tmp("nginx.pid")};`,
        `error_log ${this.errorLog} notice;`,
        "events { worker_connections 64; }",
        "http {",
        `    client_body_temp_path ${tmp("client_temp")};`,
        `    proxy_temp_path ${tmp("proxy_temp")};`,
        `    fastcgi_temp_path ${tmp("fastcgi_temp")};`,
        `    uwsgi_temp_path ${tmp("uwsgi_temp")};`,
        `    scgi_temp_path ${tmp("scgi_temp")};`,
        "    include /etc/nginx/mime.types;",
        "    default_type application/octet-stream;",
        `    access_log ${tmp("access.log")};`,
        "    sendfile on;",
        "    keepalive_timeout 65;",
        `    include ${confD}/*.conf;`,
        "}",
        "",
      ].join("\n"),
    );
    // Readable by nginx's user; the run folder writable by it.
    const readable = (p: string): void => {
      const isDir = fs.statSync(p).isDirectory();
      fs.chmodSync(p, isDir ? 0o755 : 0o644);
      if (isDir) for (const name of fs.readdirSync(p)) readable(path.join(p, name));
    };
    readable(this.dir);
    if (this.runAs) {
      fs.chownSync(run, this.runAs.uid, this.runAs.gid);
    }
  }

  private args(): string[] {
    return ["-p", `${this.dir}/`, "-c", this.confFile, "-e", this.errorLog];
  }

  /** `nginx -t`: parses the whole configuration, opens the files it names, and says whether it is valid. */
  test(): NginxCheckResult {
    const out = spawnSync(nginxBinary, ["-t", ...this.args()], { encoding: "utf8", ...this.runAs });
    if (out.error) throw out.error;
    return { ok: out.status === 0, output: `${out.stdout}${out.stderr}`.trim() };
  }

  /** Starts nginx in the foreground and resolves once it accepts connections on its port. */
  async start(): Promise<void> {
    const child = spawn(nginxBinary, this.args(), { stdio: ["ignore", "pipe", "pipe"], ...this.runAs });
    this.process = child;
    let output = "";
    child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
    const exited = new Promise<never>((_resolve, reject) => {
      child.once("exit", (code, signal) =>
        reject(new Error(`nginx exited (${code ?? signal}) before serving:\n${output}${this.errorLogText()}`)),
      );
      child.once("error", reject);
    });
    exited.catch(() => undefined);
    // Bounded: 200 attempts, 25 ms apart.
    for (let attempt = 0; attempt < 200; attempt++) {
      const up = await Promise.race([exited, canConnect(this.port)]);
      if (up) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`nginx never listened on 127.0.0.1:${this.port}:\n${output}${this.errorLogText()}`);
  }

  /** The server block with line numbers, to read nginx's "in .../default.conf:12" messages against. */
  numberedServerBlock(): string {
    return this.serverBlock
      .split("\n")
      .map((line, i) => `${String(i + 1).padStart(3)}  ${line}`)
      .join("\n");
  }

  errorLogText(): string {
    return fs.existsSync(this.errorLog) ? fs.readFileSync(this.errorLog, "utf8") : "";
  }

  /** Stops nginx (waiting for it to exit) and removes the temporary folder. */
  async stop(): Promise<void> {
    const child = this.process;
    if (child && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill("SIGTERM");
      await gone;
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  url(p: string): string {
    return `http://127.0.0.1:${this.port}${p}`;
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
