import * as fs from "node:fs";
import * as os from "node:os";
import type { AuditedRequest, JourneyStack } from "./journeyStack";
import { login, podOfUser, postSpawnForm, runInKernel, serverPrefix, spawnProgress, stopServer } from "./journeySteps";

/**
 * The 9 a.m. class (issue 15): N users log in through the proxy at the same moment; each waits
 * for their server, saves a notebook, runs a cell in a kernel over the proxy's websocket, reads
 * its output back, and stops the server. Run by the journey (N = 10) and by `npm run bench --
 * --only burst --users N`. Everything is the journey's: the real hub, KubeSpawner, the proxy and
 * slapd, the kubelet stand-in running each user's server as local processes.
 */

/** A user of the burst: the directory's name (the hub's), what they type at the login form, the password. */
export interface BurstUser {
  user: string;
  typed: string;
  password: string;
}

/**
 * N users named as real directories name them, in turn: a dot, typed with capitals
 * (`Ada.Lovelace07` for `ada.lovelace07`); a digit first (`07grace`); a dot and an underscore,
 * typed as the directory has it (`alan_turing.07`). Their uids in the test directory are lower
 * case; JupyterHub lower-cases the typed name.
 */
export function burstNames(n: number): { user: string; typed: string }[] {
  return Array.from({ length: n }, (_, i) => {
    const k = String(i + 1).padStart(2, "0");
    switch (i % 3) {
      case 0:
        return { user: `ada.lovelace${k}`, typed: `Ada.Lovelace${k}` };
      case 1:
        return { user: `${k}grace`, typed: `${k}Grace` };
      default:
        return { user: `alan_turing.${k}`, typed: `alan_turing.${k}` };
    }
  });
}

export interface BurstUserResult {
  user: string;
  typed: string;
  /** Seconds from the common start to the user's server answering through the proxy. */
  serverSeconds?: number;
  /** Seconds from the common start to the kernel's first output. */
  kernelSeconds?: number;
  /** Seconds from the common start to the server stopped (its pod gone). */
  stoppedSeconds?: number;
  error?: string;
}

/** What the hub's own process used during the burst, from its /proc (the idle culler, its child, not counted). */
export interface HubUsage {
  /** The process's name in /proc (its comm), to show that it is the hub's program. */
  comm: string;
  cpuSeconds: number;
  /** The highest resident set size sampled during the burst (every 250 ms). */
  peakRssMiB: number;
  /** The kernel's own high-water mark of the process's resident set (VmHWM), since it started. */
  hwmMiB: number;
}

export interface BurstReport {
  users: BurstUserResult[];
  /** Seconds from the common start to the last user's server stopped. */
  wallSeconds: number;
  hub: HubUsage;
  /** CPU seconds of the users' servers and kernels (every process of theirs, sampled). */
  userCpuSeconds: number;
  /** The highest sum of their resident sets sampled (every 500 ms). */
  userPeakRssMiB: number;
  /** The API requests of the hub's ServiceAccount during the burst, by verb and resource. */
  hubRequests: Map<string, number>;
}

/** The cell each user runs: what it prints is computed in the kernel, never an echo of the code. */
const CELL = 'import os\nprint("kernel of", os.environ["JUPYTERHUB_USER"], "says", 6 * 7)';

const NOTEBOOK = {
  type: "notebook",
  format: "json",
  content: {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: "python3", display_name: "Python 3" } },
    cells: [{ cell_type: "code", id: "burst", metadata: {}, source: CELL, outputs: [], execution_count: null }],
  },
};

const CLK_TCK = 100;

/** utime + stime (clock ticks, 100 a second on Linux), VmRSS and VmHWM (KiB) of a process. */
function procSample(pid: number): { comm: string; ticks: number; rssKiB: number; hwmKiB: number } {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
  // Fields after "pid (comm) ": state is the 3rd field, utime the 14th, stime the 15th.
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(rest[11]) + Number(rest[12]);
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  // A process that has exited but is not yet reaped (a zombie) has no memory lines: it holds none.
  const kib = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0);
  return { comm, ticks, rssKiB: kib("VmRSS"), hwmKiB: kib("VmHWM") };
}

/**
 * The hub's program under the image's init: the hub image's ENTRYPOINT is tini, which runs the
 * hub as its one child (and reaps); tini's own /proc says nothing about the hub.
 */
function belowInit(pid: number): number {
  const comm = fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  if (comm !== "tini") return pid;
  const child = Number(fs.readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/)[0]);
  if (!Number.isInteger(child) || child <= 0) throw new Error(`tini (${pid}) runs no program`);
  return belowInit(child);
}

/**
 * The processes of this burst's users' servers and kernels: every process whose environment names
 * this hub (`JUPYTERHUB_API_URL`) and one of the burst's users (`JUPYTERHUB_USER`), both of which
 * KubeSpawner gives each server and Jupyter Server hands on to its kernels; so neither another
 * journey running on the machine nor another user's server of this hub is counted.
 */
function userProcesses(hubUrl: string, users: string[]): number[] {
  // Its path is KubeSpawner's business (`<hub_connect_url>/hub/api`): the hub's address is ours.
  const hubMarker = `\0JUPYTERHUB_API_URL=${hubUrl}/`;
  const userMarkers = users.map((u) => `\0JUPYTERHUB_USER=${u}\0`);
  return fs.readdirSync("/proc").flatMap((entry) => {
    if (!/^\d+$/.test(entry)) return [];
    try {
      const env = `\0${fs.readFileSync(`/proc/${entry}/environ`, "latin1")}`;
      return env.includes(hubMarker) && userMarkers.some((m) => env.includes(m)) ? [Number(entry)] : [];
    } catch {
      return []; // ended while we looked
    }
  });
}

/**
 * Samples the hub's CPU time and memory from now until stop() is called, and the CPU time of
 * the users' servers and kernels (each process's last sample: a process that ends between two
 * samples loses at most that last half second).
 */
function watchProcesses(
  pid: number,
  hubUrl: string,
  users: string[],
): { stop: () => { hub: HubUsage; userCpuSeconds: number; userPeakRssMiB: number } } {
  const first = procSample(pid);
  let peak = first.rssKiB;
  const userTicks = new Map<number, number>();
  let userPeakKiB = 0;
  const sampleUsers = (): void => {
    let rss = 0;
    for (const p of userProcesses(hubUrl, users)) {
      try {
        const x = procSample(p);
        userTicks.set(p, x.ticks);
        rss += x.rssKiB;
      } catch {
        // ended while we looked: its last sample stands
      }
    }
    userPeakKiB = Math.max(userPeakKiB, rss);
  };
  const timer = setInterval(() => {
    peak = Math.max(peak, procSample(pid).rssKiB);
    sampleUsers();
  }, 500);
  return {
    stop: () => {
      clearInterval(timer);
      const last = procSample(pid);
      peak = Math.max(peak, last.rssKiB);
      return {
        hub: {
          comm: last.comm,
          cpuSeconds: (last.ticks - first.ticks) / CLK_TCK,
          peakRssMiB: peak / 1024,
          hwmMiB: last.hwmKiB / 1024,
        },
        userCpuSeconds: [...userTicks.values()].reduce((a, b) => a + b, 0) / CLK_TCK,
        userPeakRssMiB: userPeakKiB / 1024,
      };
    },
  };
}

async function oneUser(s: JourneyStack, u: BurstUser, t0: number): Promise<BurstUserResult> {
  const r: BurstUserResult = { user: u.user, typed: u.typed };
  const since = (): number => (Date.now() - t0) / 1000;
  try {
    const client = await login(s, u.typed, u.password);
    await postSpawnForm(client, u.user);
    const url = await spawnProgress(client, u.user);
    // The page the spawn-pending page then opens: through the proxy, the server's OAuth round trip with the hub.
    const lab = await client.get(`${url}lab`, 12);
    if (lab.status !== 200 || !lab.url.startsWith(`${serverPrefix(u.user)}lab`)) {
      throw new Error(`${u.user}'s JupyterLab: ${lab.status} at ${lab.url}`);
    }
    r.serverSeconds = since();
    const saved = await client.api("PUT", `${serverPrefix(u.user)}api/contents/burst.ipynb`, NOTEBOOK);
    if (saved.status !== 201 && saved.status !== 200) {
      throw new Error(`saving the notebook: ${saved.status} ${saved.text.slice(0, 200)}`);
    }
    const run = await runInKernel(client, u.user, "burst.ipynb", CELL);
    const expected = `kernel of ${u.user} says 42\n`;
    if (run.stdout !== expected) throw new Error(`the kernel printed ${JSON.stringify(run.stdout)}, not ${expected}`);
    r.kernelSeconds = (run.firstOutputAt - t0) / 1000;
    const pod = await podOfUser(s, u.user);
    if (!pod) throw new Error(`no pod of ${u.user} while the server runs`);
    await stopServer(s, client, u.user, pod.metadata.name);
    r.stoppedSeconds = since();
  } catch (err: unknown) {
    // The first line: the rest (the harness's notes) is the same for every user.
    r.error = (err instanceof Error ? err.message : String(err)).split("\n")[0];
  }
  return r;
}

/** Runs the burst: every user's login starts at the same moment. */
export async function runBurst(s: JourneyStack, users: BurstUser[]): Promise<BurstReport> {
  const hubPid = belowInit(s.need(s.need(s.hub, "hub").pid, "the hub's PID"));
  const mark = s.auditMark();
  const usage = watchProcesses(
    hubPid,
    s.hubConnectUrl,
    users.map((u) => u.user),
  );
  const t0 = Date.now();
  const results = await Promise.all(users.map((u) => oneUser(s, u, t0)));
  const wallSeconds = (Date.now() - t0) / 1000;
  const { hub, userCpuSeconds, userPeakRssMiB } = usage.stop();
  const hubRequests = new Map<string, number>();
  for (const e of s.hubRequestsSince(mark)) {
    const key = requestKind(e);
    hubRequests.set(key, (hubRequests.get(key) ?? 0) + 1);
  }
  return { users: results, wallSeconds, hub, userCpuSeconds, userPeakRssMiB, hubRequests };
}

function requestKind(e: AuditedRequest): string {
  const ref = e.objectRef;
  const what = ref?.resource ? `${ref.resource}${ref.subresource ? `/${ref.subresource}` : ""}` : "(no resource)";
  return `${e.verb} ${what}`;
}

/** The nearest-rank percentile (p in 0..100) of a non-empty list. */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)];
}

export function failures(report: BurstReport): BurstUserResult[] {
  return report.users.filter((u) => u.error !== undefined);
}

/** The report as printed by the bench and the journey. */
export function formatBurst(report: BurstReport): string[] {
  const n = report.users.length;
  const failed = failures(report);
  const f = (x: number | undefined): string => (x === undefined ? "-" : `${x.toFixed(1)} s`);
  const lines = [
    `burst: ${n} users at the same moment: ${n - failed.length} ran a cell and stopped, ${failed.length} failed, ` +
      `all done in ${report.wallSeconds.toFixed(1)} s`,
    `  ${"user (as typed)".padEnd(34)} ${"server".padStart(8)} ${"kernel".padStart(8)} ${"stopped".padStart(8)}`,
    ...report.users.map(
      (u) =>
        `  ${`${u.user} (${u.typed})`.padEnd(34)} ${f(u.serverSeconds).padStart(8)} ${f(u.kernelSeconds).padStart(8)} ` +
        `${f(u.stoppedSeconds).padStart(8)}${u.error ? `   FAILED: ${u.error}` : ""}`,
    ),
  ];
  const stats = (label: string, xs: number[]): string =>
    xs.length === 0
      ? `  ${label}: none`
      : `  ${label.padEnd(38)} p50 ${f(percentile(xs, 50))}   p95 ${f(percentile(xs, 95))}   max ${f(Math.max(...xs))}`;
  const defined = (xs: (number | undefined)[]): number[] => xs.filter((x): x is number => x !== undefined);
  lines.push(
    stats("login to server answering", defined(report.users.map((u) => u.serverSeconds))),
    stats("login to the kernel's first output", defined(report.users.map((u) => u.kernelSeconds))),
    `  hub process (${report.hub.comm}): ${report.hub.cpuSeconds.toFixed(1)} CPU s during the burst ` +
      `(${(report.hub.cpuSeconds / n).toFixed(2)} per user), peak RSS ${report.hub.peakRssMiB.toFixed(0)} MiB ` +
      `(VmHWM since start ${report.hub.hwmMiB.toFixed(0)} MiB)`,
    `  users' servers and kernels: ${report.userCpuSeconds.toFixed(1)} CPU s (${(report.userCpuSeconds / n).toFixed(1)} per user), ` +
      `on this machine's ${os.cpus().length} cores, which every server of the class shares here; ` +
      `their resident memory at its peak ${report.userPeakRssMiB.toFixed(0)} MiB (${(report.userPeakRssMiB / n).toFixed(0)} per user)`,
  );
  const total = [...report.hubRequests.values()].reduce((a, b) => a + b, 0);
  // KubeSpawner's reflectors (pods, events) list and re-watch on a clock (a watch ends after 10 s
  // without an event, 30 s at most), whatever the number of users; the rest is the spawns' own.
  const clocked = [...report.hubRequests.entries()]
    .filter(([k]) => /^(list|watch) /.test(k))
    .reduce((a, [, v]) => a + v, 0);
  lines.push(
    `  API-server requests by the hub's ServiceAccount: ${total}: ` +
      [...report.hubRequests.entries()]
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => `${k} ${v}`)
        .join(", "),
    `    per spawn (and stop): ${((total - clocked) / n).toFixed(1)}; the reflectors' lists and watches: ${clocked}, ` +
      `${((clocked / report.wallSeconds) * 60).toFixed(0)} a minute, whatever the number of users`,
  );
  return lines;
}
