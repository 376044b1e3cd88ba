/**
 * The pod sandbox of the kubelet stand-in (kubeletStandIn.ts): started by it as PID 1 of a new
 * PID namespace and in a new network namespace of its own, as a pod's "pause" container would be.
 * Every container of the pod joins both namespaces, so
 *   - a server that listens on 0.0.0.0 listens only inside this pod, and one that listens on
 *     localhost is not reachable from outside it (as in a real pod);
 *   - when this process ends, the kernel ends every process of the pod.
 * Traffic crosses the namespace only through Unix sockets in the pod's folder (the file system
 * is shared), which the stand-in joins to TCP on the host's loopback:
 *   ingress: `<dir>/in-<port>.sock` -> the pod's address:<port>, inside the pod;
 *   egress:  127.0.0.1:<port> inside the pod -> `<dir>/out-<port>.sock` (the stand-in connects it
 *            to 127.0.0.1:<port> on the host: only the ports the test lists, such as the hub's API).
 *
 *   unshare --net --pid --fork --kill-child -- node --import tsx podSandbox.ts '<json>'
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";

export interface SandboxSpec {
  dir: string;
  podIP: string;
  ingressPorts: number[];
  egressPorts: number[];
}

/** Joins two sockets both ways; either side closing closes the other. */
export function pipeSockets(a: net.Socket, b: net.Socket): void {
  a.pipe(b);
  b.pipe(a);
  const end = (): void => {
    a.destroy();
    b.destroy();
  };
  a.on("error", end);
  b.on("error", end);
  a.on("close", end);
  b.on("close", end);
}

function main(spec: SandboxSpec): void {
  const lo = spawnSync("ip", ["link", "set", "lo", "up"], { encoding: "utf8" });
  if (lo.status !== 0) throw new Error(`ip link set lo up: ${lo.stderr}`);
  const listening: Promise<void>[] = [];
  const listen = (server: net.Server, ...args: [string] | [number, string]): void => {
    listening.push(
      new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(...(args as [number, string]), () => resolve());
      }),
    );
  };
  for (const port of spec.ingressPorts) {
    const sock = path.join(spec.dir, `in-${port}.sock`);
    fs.rmSync(sock, { force: true });
    listen(
      net.createServer((client) => pipeSockets(client, net.connect(port, spec.podIP))),
      sock,
    );
  }
  for (const port of spec.egressPorts) {
    const sock = path.join(spec.dir, `out-${port}.sock`);
    listen(
      net.createServer((client) => pipeSockets(client, net.connect(sock))),
      port,
      "127.0.0.1",
    );
  }
  Promise.all(listening).then(
    () => fs.writeFileSync(path.join(spec.dir, "sandbox-ready"), String(process.pid)),
    (err: unknown) => {
      console.error(`pod sandbox: ${String(err)}`);
      process.exit(1);
    },
  );
  // PID 1 of the pod: the default action of SIGTERM does not apply to PID 1, so end explicitly.
  process.on("SIGTERM", () => process.exit(0));
}

if (require.main === module) main(JSON.parse(process.argv[2]) as SandboxSpec);
