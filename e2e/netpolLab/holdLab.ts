/**
 * Starts the network policy lab (control plane, namespace, relay, kernel) and holds it until this
 * process is killed; prints what it started, one JSON line, first. The watchdog test
 * (e2e/netpolLab.test.ts) SIGKILLs this process, as a CI timeout would, and checks that nothing of
 * the lab outlives it.
 */
import { ensureToolchain } from "../lib/toolchain";
import { NetpolLab } from ".";

void (async () => {
  const lab = await NetpolLab.start(ensureToolchain());
  console.log(
    JSON.stringify({
      pid: process.pid,
      netns: lab.netns,
      folders: [lab.tmp, lab.lab.dir],
      relay: lab.relayPid,
      controlPlane: lab.cluster.startedPids,
    }),
  );
  // Held until killed.
  setInterval(() => undefined, 60_000);
})();
