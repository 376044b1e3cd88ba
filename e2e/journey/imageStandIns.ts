import * as fs from "node:fs";
import * as path from "node:path";
import type { ImageStandIn } from "./podSpec";

/** How an image's container starts (versions/images.ts: ENTRYPOINT, CMD, USER, WORKDIR). */
export interface ImageStart {
  entrypoint: readonly string[];
  cmd: readonly string[];
  user: { name: string; uid: number; gid: number };
  workingDir: string;
}

/**
 * A venv and the Python it was made from (pyvenv.cfg's `home`), the folders a container needs to
 * run the venv's programs.
 */
export function venvFolders(venv: string): { bin: string; folders: string[] } {
  const cfg = fs.readFileSync(path.join(venv, "pyvenv.cfg"), "utf8");
  const home = /^home\s*=\s*(.+)$/m.exec(cfg)?.[1]?.trim();
  if (!home) throw new Error(`${venv}/pyvenv.cfg names no home`);
  return { bin: path.join(venv, "bin"), folders: [venv, path.dirname(home)] };
}

/** A JupyterHub image (hub, singleuser): its programs from a venv, its user's home as HOME. */
export function pythonImage(start: ImageStart, venv: string, home: string): ImageStandIn {
  const v = venvFolders(venv);
  return {
    path: [v.bin],
    programFolders: v.folders,
    entrypoint: [...start.entrypoint],
    cmd: [...start.cmd],
    uid: start.user.uid,
    gid: start.user.gid,
    env: { HOME: home },
    workingDir: start.workingDir,
  };
}

/**
 * A Jupyter Docker Stacks notebook image: its Jupyter programs from a venv (in place of its conda
 * environment) and its start-up as the image runs it: ENTRYPOINT `tini -g -- start.sh` with the
 * image's ENV. start.sh is a stand-in of ours for the image's own (dockerStacksStart.sh: its
 * non-root path, hooks and exec), at /usr/local/bin with the two hook folders it reads, empty: the
 * image's one hook, before-notebook.d/10activate-conda-env.sh (`conda shell.bash hook`), has no
 * conda to run here, and the venv is on PATH instead.
 */
export function dockerStacksImage(start: ImageStart, venv: string, dir: string): ImageStandIn {
  const files: Record<string, string> = { "/usr/local/bin/start.sh": path.join(__dirname, "dockerStacksStart.sh") };
  for (const hooks of ["start-notebook.d", "before-notebook.d"]) {
    fs.mkdirSync(path.join(dir, hooks), { recursive: true });
    files[`/usr/local/bin/${hooks}`] = path.join(dir, hooks);
  }
  const home = `/home/${start.user.name}`;
  const image = pythonImage(start, venv, home);
  return {
    ...image,
    // docker-stacks-foundation and base-notebook's ENV (CONDA_DIR left out: no conda here).
    env: {
      ...image.env,
      NB_USER: start.user.name,
      NB_UID: String(start.user.uid),
      NB_GID: String(start.user.gid),
      SHELL: "/bin/bash",
      LC_ALL: "C.UTF-8",
      LANG: "C.UTF-8",
      LANGUAGE: "C.UTF-8",
      JUPYTER_PORT: "8888",
    },
    files,
  };
}

/** configurable-http-proxy from npm on this machine's Node.js. */
export function proxyImage(start: ImageStart, chpBin: string): ImageStandIn {
  return {
    path: [chpBin, path.dirname(process.execPath)],
    programFolders: [path.dirname(chpBin), path.dirname(process.execPath)].filter((f) => f.startsWith("/root/")),
    entrypoint: [...start.entrypoint],
    cmd: [...start.cmd],
    uid: start.user.uid,
    gid: start.user.gid,
    env: {},
    workingDir: start.workingDir,
  };
}

/**
 * The nginx-unprivileged image, run by Debian's nginx. The image's ENTRYPOINT
 * (/docker-entrypoint.sh: runs the image's /docker-entrypoint.d scripts, which with a read-only
 * conf.d change nothing, then execs its arguments) is not on this machine: its CMD runs directly.
 * Its nginx.conf is the image's (pid and temp files in /tmp, logs to stderr/stdout, conf.d
 * included in `http`), written to `dir`.
 */
export function nginxImage(start: ImageStart, dir: string): ImageStandIn {
  fs.mkdirSync(dir, { recursive: true });
  const conf = path.join(dir, "nginx.conf");
  fs.writeFileSync(
    conf,
    [
      "worker_processes auto;",
      "error_log /dev/stderr notice;",
      "pid /tmp/nginx.pid;",
      "events { worker_connections 1024; }",
      "http {",
      "    proxy_temp_path /tmp/proxy_temp;",
      "    client_body_temp_path /tmp/client_temp;",
      "    fastcgi_temp_path /tmp/fastcgi_temp;",
      "    uwsgi_temp_path /tmp/uwsgi_temp;",
      "    scgi_temp_path /tmp/scgi_temp;",
      "    include /etc/nginx/mime.types;",
      "    default_type application/octet-stream;",
      "    access_log /dev/stdout;",
      "    sendfile on;",
      "    keepalive_timeout 65;",
      "    include /etc/nginx/conf.d/*.conf;",
      "}",
      "",
    ].join("\n"),
  );
  if (start.entrypoint[0] !== "/docker-entrypoint.sh") {
    throw new Error(`the nginx image's ENTRYPOINT is ${start.entrypoint.join(" ")}: re-check what stands in for it`);
  }
  return {
    path: ["/usr/sbin"],
    programFolders: [],
    entrypoint: [],
    cmd: [...start.cmd],
    uid: start.user.uid,
    gid: start.user.gid,
    env: {},
    workingDir: start.workingDir,
    files: { "/etc/nginx/nginx.conf": conf },
  };
}
