import * as fs from "node:fs";

/** Parent PID of every process, from /proc/<pid>/stat (Linux). */
function parents(): Map<number, number> {
  const result = new Map<number, number>();
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      // pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ")".
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      result.set(Number(entry), ppid);
    } catch {
      // the process ended while we looked
    }
  }
  return result;
}

/** Every descendant of `pid` (children, their children, ...). */
export function descendants(pid: number): number[] {
  const ppids = parents();
  const found: number[] = [];
  let frontier = [pid];
  while (frontier.length > 0) {
    const next = [...ppids].filter(([, ppid]) => frontier.includes(ppid)).map(([p]) => p);
    found.push(...next);
    frontier = next;
  }
  return found;
}

/** The direct children of `pid` whose executable is `exe`. */
export function childrenRunning(pid: number, exe: string): number[] {
  return [...parents()]
    .filter(([p, ppid]) => {
      if (ppid !== pid) return false;
      try {
        return fs.readlinkSync(`/proc/${p}/exe`) === exe;
      } catch {
        return false;
      }
    })
    .map(([p]) => p);
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
