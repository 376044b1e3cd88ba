import { spawn } from "node:child_process";
import * as fs from "node:fs";
import { alive } from "./processes";

/**
 * A detached shell (its own session, so a kill of the test's process group does not reach it) that
 * waits for this process to end and then runs `cleanUp`. The node test runner SIGKILLs its test
 * processes when it is itself stopped (a CI timeout), so a signal handler alone cannot be relied
 * on to end what a test started outside its own process tree. Resolves with the watchdog's pid;
 * stopWatchdog() ends it once the test has cleaned up by itself.
 */
export function startWatchdog(cleanUp: string, env: NodeJS.ProcessEnv = process.env): number {
  const script = `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done\n${cleanUp}`;
  const child = spawn("sh", ["-c", script], { detached: true, stdio: "ignore", env });
  child.unref();
  if (child.pid === undefined) throw new Error("the watchdog did not start");
  return child.pid;
}

export function stopWatchdog(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}

/** The processes whose command line carries `mark=<pid>`, with that pid (the test that started them). */
export function processesMarked(mark: string): { pid: number; owner: number }[] {
  const found: { pid: number; owner: number }[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let cmdline: string;
    try {
      cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8");
    } catch {
      continue; // ended while we looked
    }
    const owner = cmdline.split("\0").find((a) => a.startsWith(`${mark}=`));
    const ownerPid = Number(owner?.slice(mark.length + 1));
    if (owner !== undefined && Number.isInteger(ownerPid)) found.push({ pid: Number(entry), owner: ownerPid });
  }
  return found;
}

/** processesMarked whose test process is no longer running: what a killed test left behind. */
export function orphansMarked(mark: string): { pid: number; owner: number }[] {
  return processesMarked(mark).filter((p) => !alive(p.owner));
}
