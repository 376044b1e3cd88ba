import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { freeLoopbackPort } from "./nginx";

/**
 * A real OpenLDAP server for tests: Debian's slapd (scripts/setup.sh installs `slapd` and
 * `ldap-utils`) run as a child process with its own slapd.conf and mdb database in a temp folder,
 * on free loopback ports, seeded from an LDIF. Optionally with TLS: a throw-away CA and a server
 * certificate for `localhost` / 127.0.0.1 made with openssl at start, for StartTLS on the plain port
 * and for ldaps on a second port. The system slapd service is not used (and need not run).
 */

export const slapdBinary = "/usr/sbin/slapd";
export const slapaddBinary = "/usr/sbin/slapadd";
const schemaDir = "/etc/ldap/schema";
const moduleDir = "/usr/lib/ldap";

/** The host name the server certificate is issued to; it also names 127.0.0.1 as an IP address. */
export const slapdTlsServerName = "localhost";

export interface SlapdOptions {
  /** Entries to load below the suffix (the suffix entry itself is created by the harness). */
  ldif: string;
  /** Base DN, `dc=...` components only. Default `dc=example,dc=org`. */
  suffix?: string;
  /** Make a CA and a server certificate, offer StartTLS on `port` and ldaps on `ldapsPort`. */
  tls?: boolean;
}

export interface SlapdTls {
  /** PEM of the CA that signed the server certificate: what a client must trust. */
  caFile: string;
  /** ldaps:// port (TLS from the first byte). */
  ldapsPort: number;
  /** `ldaps://127.0.0.1:<ldapsPort>` (libldap swaps a literal `localhost` for the machine's own name before checking the certificate). */
  ldapsUrl: string;
}

export interface Slapd {
  /** 127.0.0.1. */
  host: string;
  /** Plain LDAP port; StartTLS works on it when `tls` is on. */
  port: number;
  /** `ldap://127.0.0.1:<port>`. */
  url: string;
  suffix: string;
  /** The database's root DN and its password (bypasses access control). */
  rootDn: string;
  rootPassword: string;
  tls?: SlapdTls;
  /** Stops slapd (SIGTERM, then SIGKILL after 5 s) and deletes its folder. Safe to call twice. */
  stop(): Promise<void>;
}

export interface SlapdUser {
  uid: string;
  password: string;
}

/**
 * A group as LDAPAuthenticator 2.0.2's `allowed_groups` finds it: it searches each allowed group DN
 * (scope base, bound as the user) with `(|(member={userdn})(uniqueMember={userdn})(memberUid={uid}))`.
 * `groupOfNames` lists members by DN (`member`), `posixGroup` by uid (`memberUid`).
 */
export interface SlapdGroup {
  cn: string;
  kind: "groupOfNames" | "posixGroup";
  /** uids of users from the same LDIF. */
  members: string[];
}

export const defaultSuffix = "dc=example,dc=org";
/** DN of a user made by peopleAndGroupsLdif: what `bind_dn_template` `uid={username},ou=people,<suffix>` gives. */
export const userDn = (uid: string, suffix = defaultSuffix) => `uid=${uid},ou=people,${suffix}`;
/** DN of a group made by peopleAndGroupsLdif: what goes into `allowed_groups`. */
export const groupDn = (cn: string, suffix = defaultSuffix) => `cn=${cn},ou=groups,${suffix}`;

/** An RFC 2307 `{SSHA}` hash, which slapd checks a simple bind against. */
function sshaHash(password: string): string {
  const salt = randomBytes(8);
  const digest = createHash("sha1").update(password).update(salt).digest();
  return `{SSHA}${Buffer.concat([digest, salt]).toString("base64")}`;
}

/** ou=people with inetOrgPerson users (hashed passwords) and ou=groups with the groups, as LDIF. */
export function peopleAndGroupsLdif(users: SlapdUser[], groups: SlapdGroup[] = [], suffix = defaultSuffix): string {
  const entries = [
    `dn: ou=people,${suffix}\nobjectClass: organizationalUnit\nou: people`,
    `dn: ou=groups,${suffix}\nobjectClass: organizationalUnit\nou: groups`,
    ...users.map((u) =>
      [
        `dn: ${userDn(u.uid, suffix)}`,
        "objectClass: inetOrgPerson",
        `uid: ${u.uid}`,
        `cn: ${u.uid}`,
        `sn: ${u.uid}`,
        `userPassword: ${sshaHash(u.password)}`,
      ].join("\n"),
    ),
    ...groups.map((g, i) => {
      const members =
        g.kind === "groupOfNames"
          ? g.members.map((m) => `member: ${userDn(m, suffix)}`)
          : g.members.map((m) => `memberUid: ${m}`);
      if (g.kind === "groupOfNames" && members.length === 0) throw new Error(`groupOfNames ${g.cn} needs a member`);
      const head = [`dn: ${groupDn(g.cn, suffix)}`, `objectClass: ${g.kind}`, `cn: ${g.cn}`];
      if (g.kind === "posixGroup") head.push(`gidNumber: ${5000 + i}`);
      return [...head, ...members].join("\n");
    }),
  ];
  return entries.join("\n\n") + "\n";
}

function run(command: string, args: string[], cwd: string): void {
  const out = spawnSync(command, args, { cwd, encoding: "utf8" });
  if (out.error) throw out.error;
  if (out.status !== 0) throw new Error(`${command} ${args.join(" ")} failed:\n${out.stderr}${out.stdout}`);
}

/** A CA and a server certificate for localhost / 127.0.0.1 signed by it, valid for a day. */
function makeCertificates(dir: string): { ca: string; cert: string; key: string } {
  const ca = path.join(dir, "ca.pem");
  const cert = path.join(dir, "server.pem");
  const key = path.join(dir, "server.key");
  run(
    "openssl",
    [
      "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
      "-keyout", "ca.key", "-out", ca, "-subj", "/CN=jupyterhub-nfs test CA",
      "-addext", "basicConstraints=critical,CA:TRUE",
      "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    ], // prettier-ignore
    dir,
  );
  fs.writeFileSync(
    path.join(dir, "server.ext"),
    [
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth",
      `subjectAltName=DNS:${slapdTlsServerName},IP:127.0.0.1`,
      "subjectKeyIdentifier=hash",
      "authorityKeyIdentifier=keyid:always",
    ].join("\n") + "\n",
  );
  run(
    "openssl",
    [
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      key,
      "-out",
      "server.csr",
      "-subj",
      `/CN=${slapdTlsServerName}`,
    ],
    dir,
  );
  run(
    "openssl",
    [
      "x509", "-req", "-in", "server.csr", "-CA", ca, "-CAkey", "ca.key", "-CAcreateserial",
      "-days", "1", "-extfile", "server.ext", "-out", cert,
    ], // prettier-ignore
    dir,
  );
  return { ca, cert, key };
}

function slapdConf(
  dir: string,
  suffix: string,
  rootDn: string,
  rootPassword: string,
  tls?: ReturnType<typeof makeCertificates>,
) {
  return [
    ...["core", "cosine", "inetorgperson", "nis"].map((s) => `include ${schemaDir}/${s}.schema`),
    `pidfile ${path.join(dir, "slapd.pid")}`,
    `argsfile ${path.join(dir, "slapd.args")}`,
    `modulepath ${moduleDir}`,
    "moduleload back_mdb",
    ...(tls
      ? [`TLSCACertificateFile ${tls.ca}`, `TLSCertificateFile ${tls.cert}`, `TLSCertificateKeyFile ${tls.key}`]
      : []),
    "database mdb",
    "maxsize 67108864",
    `suffix "${suffix}"`,
    `rootdn "${rootDn}"`,
    `rootpw ${rootPassword}`,
    `directory ${path.join(dir, "data")}`,
    // Passwords: usable to bind, readable by nobody; everything else readable by bound users,
    // whom LDAPAuthenticator's group search runs as.
    "access to attrs=userPassword by anonymous auth by * none",
    "access to * by users read by anonymous auth",
    "",
  ].join("\n");
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port, rejects when `exited` does first or after 10 s. */
async function waitForPort(port: number, exited: Promise<string>): Promise<void> {
  const deadline = Date.now() + 10_000;
  let exitMessage: string | undefined;
  void exited.then((m) => (exitMessage = m));
  while (Date.now() < deadline) {
    if (exitMessage !== undefined) throw new Error(exitMessage);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, "127.0.0.1");
      socket.once("connect", () => (socket.destroy(), resolve(true)));
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`slapd did not listen on 127.0.0.1:${port} within 10 s`);
}

function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    child.once("exit", () => (clearTimeout(timer), resolve()));
    child.kill("SIGTERM");
  });
}

/** One attempt on ports that were free a moment ago; throws with slapd's output if it does not come up. */
async function launch(dir: string, conf: string, withLdaps: boolean) {
  const port = await freeLoopbackPort();
  const ldapsPort = withLdaps ? await freeLoopbackPort() : undefined;
  const urls = [`ldap://127.0.0.1:${port}/`, ...(ldapsPort ? [`ldaps://127.0.0.1:${ldapsPort}/`] : [])];
  // -d 0: stay in the foreground (our child), log nothing but errors.
  const child = spawn(slapdBinary, ["-d", "0", "-f", conf, "-h", urls.join(" ")], {
    cwd: dir,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<string>((resolve) =>
    child.once("exit", (code, signal) => resolve(`slapd exited (${signal ?? code}):\n${stderr}`)),
  );
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  try {
    await waitForPort(port, exited);
    if (ldapsPort) await waitForPort(ldapsPort, exited);
  } catch (e) {
    await stopProcess(child);
    process.removeListener("exit", killOnExit);
    throw e;
  }
  return { child, port, ldapsPort, killOnExit };
}

/** Starts slapd seeded with `options.ldif`; the caller must `stop()` it (also when its test fails). */
export async function startSlapd(options: SlapdOptions): Promise<Slapd> {
  const suffix = options.suffix ?? defaultSuffix;
  const rdns = suffix.split(",").map((rdn) => /^dc=([A-Za-z0-9-]+)$/.exec(rdn.trim()));
  if (rdns.some((m) => !m)) throw new Error(`suffix ${suffix}: only dc=... components are supported`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "slapd-"));
  try {
    fs.mkdirSync(path.join(dir, "data"));
    const rootDn = `cn=admin,${suffix}`;
    const rootPassword = randomBytes(12).toString("hex");
    const certs = options.tls ? makeCertificates(dir) : undefined;
    const conf = path.join(dir, "slapd.conf");
    fs.writeFileSync(conf, slapdConf(dir, suffix, rootDn, rootPassword, certs));
    const top = rdns[0]?.[1] ?? "";
    const base = `dn: ${suffix}\nobjectClass: dcObject\nobjectClass: organization\ndc: ${top}\no: ${top}\n`;
    fs.writeFileSync(path.join(dir, "seed.ldif"), `${base}\n${options.ldif.trim()}\n`);
    run(slapaddBinary, ["-q", "-f", conf, "-l", path.join(dir, "seed.ldif")], dir);

    // The ports are picked free, then handed to slapd: another process may take one in between.
    let started: Awaited<ReturnType<typeof launch>> | undefined;
    for (let attempt = 1; !started; attempt++) {
      try {
        started = await launch(dir, conf, certs !== undefined);
      } catch (e) {
        if (attempt >= 3 || !/bind\(|Address already in use/.test(String(e))) throw e;
      }
    }
    const { child, port, ldapsPort, killOnExit } = started;
    let stopped: Promise<void> | undefined;
    return {
      host: "127.0.0.1",
      port,
      url: `ldap://127.0.0.1:${port}`,
      suffix,
      rootDn,
      rootPassword,
      tls: certs && ldapsPort ? { caFile: certs.ca, ldapsPort, ldapsUrl: `ldaps://127.0.0.1:${ldapsPort}` } : undefined,
      stop: () =>
        (stopped ??= stopProcess(child).then(() => {
          process.removeListener("exit", killOnExit);
          fs.rmSync(dir, { recursive: true, force: true });
        })),
    };
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
