import assert from "node:assert/strict";
import { execFile, execFileSync, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { parseAllDocuments } from "yaml";
import { allowed, selecting, type PodRef } from "../policy/networkPolicy";
import type { JsonObject } from "../render/mocks";
import { KubernetesSchema, kubernetesVersions } from "./support/kubernetesSchema";
import { at, manifest, manifests, rendered } from "./support/rendered";

const repoRoot = path.resolve(__dirname, "..");
const kindCheck = path.join(repoRoot, "scripts", "kind-cluster-check.sh");

describe("shell scripts: shellcheck", () => {
  it("passes every shell script in the repository, and .ci/run", () => {
    const scripts = [
      ...execFileSync("git", ["ls-files", "*.sh"], { cwd: repoRoot, encoding: "utf8" }).trim().split("\n"),
      ".ci/run",
    ];
    for (const s of ["scripts/kind-cluster-check.sh", "e2e/toolchain/build.sh", "e2e/journey/dockerStacksStart.sh"]) {
      assert.ok(scripts.includes(s), s);
    }
    const result = spawnSync("shellcheck", ["--format=gcc", ...scripts], { cwd: repoRoot, encoding: "utf8" });
    assert.equal(result.error, undefined, "shellcheck is not installed (scripts/setup.sh installs it)");
    assert.equal(result.status, 0, result.stdout + result.stderr);
  });

  it("does fail a script with an unquoted expansion", () => {
    const result = spawnSync("shellcheck", ["-s", "bash", "-"], { input: "rm -rf $1/*\n", encoding: "utf8" });
    assert.equal(result.status, 1);
    assert.match(result.stdout, /SC2086/);
  });
});

/**
 * scripts/kind-cluster-check.sh's `check` step, with stand-ins on PATH for kubectl and pulumi
 * (shell scripts that answer from fixed values and record what they were handed): the real cluster
 * is not available here, so this checks the script's own logic, the pods it creates and its
 * verdicts, not the cluster's behaviour.
 */
describe("kind-cluster-check.sh check, against stand-ins for kubectl and pulumi", () => {
  let dir: string;
  const hubNamespace = "jupyterhub-dev";
  const hubIp = "10.96.0.21";
  const proxyPod = "proxy-7d9f6c-x2k4q";
  /** What a user pod must not open and the hub must: NFS, file browser, metadata, NodeLocal DNSCache's health port. */
  const targets = ["10.96.0.30:2049", "10.96.0.20:80", "169.254.169.254:80", "169.254.20.10:8080"];
  /** The hub's Service name asked of NodeLocal DNSCache and of Cloud DNS's address, over UDP and TCP. */
  const dnsTargets = ["169.254.20.10", "169.254.169.254"].flatMap((ip) =>
    ["udp", "tcp"].map((p) => `dns+${p}://${ip}:53/hub.${hubNamespace}.svc.cluster.local`),
  );
  /** What the proxy, whose egress is fenced too, must not open: the link-local addresses, the file browser. */
  const proxyTargets = ["169.254.169.254:80", "169.254.20.10:8080", "10.96.0.20:80"];

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "kind-check-"));
    fs.mkdirSync(path.join(dir, "bin"));
    fs.mkdirSync(path.join(dir, "work", "project"), { recursive: true });
    fs.mkdirSync(path.join(dir, "applied"));
    // Stand-in for `pulumi stack output <key>`.
    fs.writeFileSync(
      path.join(dir, "bin", "pulumi"),
      [
        "#!/usr/bin/env bash",
        'case "$3" in',
        `  hubNamespace) echo ${hubNamespace} ;;`,
        "  nfsNamespace) echo jupyterhub-dev-nfs ;;",
        "  nfsServerIp) echo 10.96.0.30 ;;",
        "  notebooksClaim) echo notebooks ;;",
        '  *) echo "unexpected pulumi $*" >&2; exit 1 ;;',
        "esac",
        "",
      ].join("\n"),
      { mode: 0o755 },
    );
    // Stand-in for kubectl: two nodes, the NFS server on node-a; pods succeed and log what
    // $USER_PROBE_LOG says; the hub's exec prints $HUB_PROBE_LOG, the ephemeral container in the
    // proxy's pod $PROXY_PROBE_LOG (its arguments are saved, NUL-separated, in debug-args);
    // manifests are saved in applied/.
    // Stand-ins for the cluster step's kind, helm and docker: each notes its call in $CALLS; kind
    // knows two nodes.
    for (const [tool, answer] of [
      ["kind", `[[ "$1 $2" == "get nodes" ]] && printf 'node-a\\nnode-b\\n'`],
      ["helm", ""],
      ["docker", ""],
    ]) {
      const lines = ["#!/usr/bin/env bash", `echo "${tool} $*" >> "$CALLS"`, answer, "exit 0", ""];
      fs.writeFileSync(path.join(dir, "bin", tool), lines.join("\n"), { mode: 0o755 });
    }
    fs.writeFileSync(
      path.join(dir, "bin", "kubectl"),
      [
        "#!/usr/bin/env bash",
        'args="$*"',
        'case "$args" in',
        `  *"debug pod/${proxyPod}"*) printf '%s\\0' "$@" > "$APPLIED/../debug-args" ;;`,
        '  *"get pod -l app.kubernetes.io/name=nfs-server"*) echo node-a ;;',
        `  *"get pod -l app.kubernetes.io/name=proxy"*) echo ${proxyPod} ;;`,
        "  *ephemeralContainerStatuses*) echo Completed ;;",
        '  *"get deployment coredns"*) echo registry.k8s.io/coredns/coredns:v1.11.3 ;;',
        '  *"get service kube-dns"*) echo 10.96.0.10 ;;',
        '  *taint*|*"wait --for"*|*"rollout status"*) ;;',
        "  *\"get nodes\"*) printf 'node-a\\nnode-b\\n' ;;",
        '  *"get service file-browser"*) echo 10.96.0.20 ;;',
        `  *"get service hub"*) echo ${hubIp} ;;`,
        '  *"apply -f -"*) n=$(ls "$APPLIED" | wc -l); cat > "$APPLIED/$n.yaml" ;;',
        '  *"jsonpath={.status.phase}"*) echo Succeeded ;;',
        '  *"logs user-probe"*) printf "%b" "$USER_PROBE_LOG" ;;',
        '  *"logs mount-check"*) echo "/srv/kind-check ok" ;;',
        '  *"exec deploy/hub"*) printf "%b" "$HUB_PROBE_LOG" ;;',
        `  *"logs ${proxyPod} -c dns-probe-"*) printf "%b" "$PROXY_PROBE_LOG" ;;`,
        "  *delete*|*describe*) ;;",
        '  *) echo "unexpected kubectl $args" >&2; exit 1 ;;',
        "esac",
        "",
      ].join("\n"),
      { mode: 0o755 },
    );
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  function runStep(step: string, logs: { user?: string[]; hub?: string[]; proxy?: string[] } = {}) {
    for (const f of fs.readdirSync(path.join(dir, "applied"))) fs.rmSync(path.join(dir, "applied", f));
    fs.rmSync(path.join(dir, "debug-args"), { force: true });
    fs.rmSync(path.join(dir, "calls"), { force: true });
    const lines = (l: string[] = []) => l.map((x) => `${x}\\n`).join("");
    const result = spawnSync("bash", [kindCheck, step], {
      encoding: "utf8",
      env: {
        ...process.env,
        PATH: `${path.join(dir, "bin")}:${process.env.PATH}`,
        KIND_CHECK_WORKDIR: path.join(dir, "work"),
        APPLIED: path.join(dir, "applied"),
        CALLS: path.join(dir, "calls"),
        USER_PROBE_LOG: lines(logs.user),
        HUB_PROBE_LOG: lines(logs.hub),
        PROXY_PROBE_LOG: lines(logs.proxy),
      },
    });
    const pods = fs
      .readdirSync(path.join(dir, "applied"))
      .sort((a, b) => parseInt(a) - parseInt(b))
      .flatMap((f) => parseAllDocuments(fs.readFileSync(path.join(dir, "applied", f), "utf8")))
      .map((d) => {
        assert.deepEqual(d.errors, [], "the script applied YAML that does not parse");
        return d.toJS() as JsonObject;
      });
    const debugArgsFile = path.join(dir, "debug-args");
    const debugArgs = fs.existsSync(debugArgsFile)
      ? fs.readFileSync(debugArgsFile, "utf8").split("\0").slice(0, -1)
      : undefined;
    const callsFile = path.join(dir, "calls");
    const calls = fs.existsSync(callsFile) ? fs.readFileSync(callsFile, "utf8").split("\n").filter(Boolean) : [];
    return { ...result, pods, debugArgs, calls };
  }

  const runCheck = (user: string[], hub: string[], proxy: string[] = proxyFenced) =>
    runStep("check", { user, hub, proxy });

  const answered = dnsTargets.map((t) => `${t} open ${hubIp}`);
  const fenced = [`${hubIp}:8081 open`, ...targets.map((t) => `${t} blocked TimeoutError`), ...answered];
  const proxyFenced = [...proxyTargets.map((t) => `${t} blocked TimeoutError`), ...answered];
  const hubReachesAll = [...targets.map((t) => `${t} open`), ...answered];

  it("passes when the user pod reaches the hub and nothing else, and the hub reaches everything", () => {
    const r = runCheck(fenced, hubReachesAll);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /all checks passed/);
  });

  it("mounts the claim from the node without the NFS server, and probes from a pod the singleuser policy selects", async () => {
    const r = runCheck(fenced, hubReachesAll);
    assert.deepEqual(
      r.pods.map((p) => (p.metadata as JsonObject).name),
      ["mount-check", "user-probe"],
    );
    const mount = r.pods[0].spec as JsonObject;
    assert.equal(mount.nodeName, "node-b");
    assert.deepEqual(mount.volumes, [{ name: "notebooks", persistentVolumeClaim: { claimName: "notebooks" } }]);

    // The probe pod must be one the rendered dev stack's fence applies to, or it proves nothing.
    const probe = r.pods[1];
    const policies = manifests(await rendered("dev"), "NetworkPolicy");
    const pod: PodRef = {
      namespace: hubNamespace,
      labels: (probe.metadata as JsonObject).labels as Record<string, string>,
      ip: "10.4.0.9",
    };
    assert.ok(
      selecting(policies, pod, "Egress").some((p) => (p.metadata as JsonObject).name === "singleuser"),
      "the probe pod is not selected by the singleuser NetworkPolicy",
    );
    assert.ok(!allowed(policies, pod, { ip: "169.254.169.254" }, { port: 80, protocol: "TCP" }));
    const command = ((probe.spec as JsonObject).containers as JsonObject[])[0].command as string[];
    assert.deepEqual(command.slice(0, 2), ["python3", "-c"]);
    assert.match(command[2], /socket\.create_connection/);
    assert.deepEqual(command.slice(3), ["check", `${hubIp}:8081`, ...targets, ...dnsTargets]);
    // On GKE with NodeLocal DNSCache (and Cloud DNS), what the probe asks is what the fence admits.
    for (const protocol of ["UDP", "TCP"] as const) {
      for (const ip of ["169.254.20.10", "169.254.169.254"]) {
        assert.ok(allowed(policies, pod, { ip }, { port: 53, protocol }), `user pod -> ${ip}:53/${protocol}`);
      }
    }
    assert.ok(!allowed(policies, pod, { ip: "169.254.20.10" }, { port: 8080, protocol: "TCP" }));
  });

  it("probes DNS from inside the proxy's own pod (an ephemeral container), which the proxy policy fences", async () => {
    const r = runCheck(fenced, hubReachesAll);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.debugArgs, "no ephemeral container was added to the proxy's pod");
    const dash = r.debugArgs.indexOf("--");
    const options = r.debugArgs.slice(0, dash);
    assert.ok(options.includes(`pod/${proxyPod}`));
    // Pod Security baseline (the hub namespace) refuses the general profile's SYS_PTRACE.
    assert.ok(options.includes("--profile=restricted"), options.join(" "));
    const command = r.debugArgs.slice(dash + 1);
    assert.deepEqual(command.slice(0, 2), ["python3", "-c"]);
    assert.match(command[2], /socket\.create_connection/);
    assert.deepEqual(command.slice(3), ["check", ...proxyTargets, ...dnsTargets]);

    // The pod the script picks (-l app.kubernetes.io/name=proxy) is the rendered proxy's, and the
    // rendered fence lets it resolve at both link-local resolvers and reach nothing else there.
    const dev = await rendered("dev");
    const labels = at(manifest(dev, "Deployment", "proxy"), "spec", "template", "metadata", "labels") as Record<
      string,
      string
    >;
    assert.equal(labels["app.kubernetes.io/name"], "proxy");
    const policies = manifests(dev, "NetworkPolicy");
    const proxy: PodRef = { namespace: hubNamespace, labels, ip: "10.4.0.8" };
    assert.ok(selecting(policies, proxy, "Egress").some((p) => (p.metadata as JsonObject).name === "proxy"));
    for (const protocol of ["UDP", "TCP"] as const) {
      assert.ok(allowed(policies, proxy, { ip: "169.254.20.10" }, { port: 53, protocol }), `proxy -> DNS/${protocol}`);
    }
    for (const t of proxyTargets) {
      const [ip, port] = t.split(":");
      assert.ok(!allowed(policies, proxy, { ip }, { port: Number(port), protocol: "TCP" }), `proxy -> ${t}`);
    }
  });

  it("fails when a fenced pod gets no DNS answer at NodeLocal DNSCache or Cloud DNS's address", () => {
    const tcpDns = dnsTargets[1];
    const noTcp = runCheck(
      fenced.map((l) => (l.startsWith(tcpDns) ? `${tcpDns} blocked TimeoutError` : l)),
      hubReachesAll,
    );
    assert.equal(noTcp.status, 1);
    assert.ok(
      noTcp.stderr.includes(`FAIL: the user pod got no answer from ${tcpDns} (the hub's address)`),
      noTcp.stderr,
    );
    const udpDns = dnsTargets[0];
    const proxyDeaf = runCheck(
      fenced,
      hubReachesAll,
      proxyFenced.map((l) => (l.startsWith(udpDns) ? `${udpDns} blocked TimeoutError` : l)),
    );
    assert.equal(proxyDeaf.status, 1);
    assert.ok(proxyDeaf.stderr.includes(`FAIL: the proxy got no answer from ${udpDns}`), proxyDeaf.stderr);
    // An answer that is not the hub's address is no answer to the question asked.
    const wrong = runCheck(
      fenced.map((l) => (l.startsWith(udpDns) ? `${udpDns} open 10.96.0.99` : l)),
      hubReachesAll,
    );
    assert.equal(wrong.status, 1);
  });

  it("fails when the user pod or the proxy reaches NodeLocal DNSCache's address beyond port 53", () => {
    const leak = "169.254.20.10:8080";
    const user = runCheck(
      fenced.map((l) => (l.startsWith(leak) ? `${leak} open` : l)),
      hubReachesAll,
    );
    assert.equal(user.status, 1);
    assert.match(user.stderr, /FAIL: the user pod reached 169\.254\.20\.10:8080/);
    const proxy = runCheck(
      fenced,
      hubReachesAll,
      proxyFenced.map((l) => (l.startsWith(leak) ? `${leak} open` : l)),
    );
    assert.equal(proxy.status, 1);
    assert.match(proxy.stderr, /FAIL: the proxy reached 169\.254\.20\.10:8080/);
  });

  it("fails when even the hub gets no DNS answer from the stand-ins (then a refusal elsewhere proves nothing)", () => {
    const r = runCheck(
      fenced,
      hubReachesAll.map((l) => (l.startsWith(dnsTargets[2]) ? `${dnsTargets[2]} blocked TimeoutError` : l)),
    );
    assert.equal(r.status, 1);
    assert.ok(r.stderr.includes(`FAIL: the hub got no answer from ${dnsTargets[2]}`), r.stderr);
  });

  it("cluster: a DNS stand-in answers on 169.254.20.10:53 and 169.254.169.254:53 of every node, from the host network", () => {
    const r = runStep("cluster");
    assert.equal(r.status, 0, r.stderr);
    for (const node of ["node-a", "node-b"]) {
      for (const ip of ["169.254.169.254", "169.254.20.10"]) {
        // Link scope: Cilium (local-max-addr-scope) then gives the address no host identity, so a
        // NetworkPolicy ipBlock is what admits or refuses it, as for GKE's link-local resolvers.
        assert.ok(r.calls.includes(`docker exec ${node} ip addr add ${ip}/32 dev lo scope link`), r.calls.join("\n"));
      }
    }
    const schema = KubernetesSchema.load(kubernetesVersions[0].minor, kubernetesVersions[0].module);
    for (const m of r.pods)
      assert.deepEqual(schema.validate(m), [], `${String(m.kind)} ${String(at(m, "metadata", "name"))}`);
    const standIn = r.pods.find((m) => m.kind === "DaemonSet" && at(m, "metadata", "name") === "dns-standin");
    assert.ok(standIn, "no DNS stand-in DaemonSet");
    const pod = at(standIn, "spec", "template", "spec") as JsonObject;
    assert.equal(pod.hostNetwork, true, "NodeLocal DNSCache runs in the host network: no selector matches it");
    const container = (pod.containers as JsonObject[])[0];
    assert.equal(container.image, "registry.k8s.io/coredns/coredns:v1.11.3", "the cluster's own CoreDNS image");
    const config = r.pods.find((m) => m.kind === "ConfigMap" && at(m, "metadata", "name") === "dns-standin");
    const corefile = String(at(config ?? {}, "data", "Corefile"));
    assert.match(corefile, /^\s*bind 169\.254\.20\.10 169\.254\.169\.254$/m);
    assert.match(corefile, /^\s*health 169\.254\.20\.10:8080$/m, "something listens beyond port 53, to be refused");
    assert.match(corefile, /^\s*forward \. 10\.96\.0\.10$/m, "cluster names are forwarded to kube-dns");
  });

  it("fails when the user pod reaches the metadata server, or the hub cannot reach the file browser", () => {
    const leaky = fenced.map((l) => (l.startsWith("169.254.169.254:80 ") ? "169.254.169.254:80 open" : l));
    const r = runCheck(leaky, hubReachesAll);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /FAIL: the user pod reached 169\.254\.169\.254:80/);
    const blind = runCheck(
      fenced,
      hubReachesAll.map((l) => (l.startsWith("10.96.0.20:80") ? "10.96.0.20:80 blocked" : l)),
    );
    assert.equal(blind.status, 1);
    assert.match(blind.stderr, /FAIL: the hub could not reach 10\.96\.0\.20:80/);
  });

  it("fails when the user pod cannot even reach the hub (its other results would prove nothing)", () => {
    const dead = fenced.map((l) => (l.startsWith(`${hubIp}:8081`) ? `${hubIp}:8081 blocked TimeoutError` : l));
    const r = runCheck(dead, hubReachesAll);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /FAIL: the user pod could not reach the hub/);
  });
});

/**
 * The probe's DNS client (the network policy lab's podnet.py, which scripts/kind-cluster-check.sh
 * runs as its probe: Python's standard library only, as the probe image has nothing else), against a small responder that answers as DNS servers do (the
 * answer's name a compression pointer to the question), over UDP and TCP; and a closed port.
 */
describe("kind-cluster-check.sh's probe: DNS over UDP and TCP", () => {
  const responder = `
import socket, socketserver, struct, sys, threading
def answer(q):
    end = q.index(b"\\0", 12) + 5
    head = struct.pack(">HHHHHH", struct.unpack(">H", q[:2])[0], 0x8180, 1, 1, 0, 0)
    return head + q[12:end] + b"\\xc0\\x0c" + struct.pack(">HHIH", 1, 1, 30, 4) + socket.inet_aton("10.96.0.21")
class U(socketserver.BaseRequestHandler):
    def handle(self):
        self.request[1].sendto(answer(self.request[0]), self.client_address)
class T(socketserver.StreamRequestHandler):
    def handle(self):
        n = struct.unpack(">H", self.rfile.read(2))[0]
        a = answer(self.rfile.read(n))
        self.wfile.write(struct.pack(">H", len(a)) + a)
t = socketserver.TCPServer(("127.0.0.1", 0), T)
u = socketserver.UDPServer(("127.0.0.1", t.server_address[1]), U)
threading.Thread(target=u.serve_forever, daemon=True).start()
print(t.server_address[1], flush=True)
t.serve_forever()
`;

  it("gets the A record back over both, and calls a closed port blocked", async () => {
    // What the script runs: podnet.py's text, with `check` and the targets.
    assert.match(
      fs.readFileSync(kindCheck, "utf8"),
      /^probe_script="\$\(cat "\$\{repo_root\}\/e2e\/netpolLab\/podnet\.py"\)"$/m,
    );
    const probe = fs.readFileSync(path.join(repoRoot, "e2e", "netpolLab", "podnet.py"), "utf8");
    const server = spawn("python3", ["-c", responder], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      const port = await new Promise<string>((resolve, reject) => {
        server.stdout.once("data", (d: Buffer) => resolve(d.toString().trim()));
        server.once("error", reject);
      });
      const closed = net.createServer();
      await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
      const closedPort = (closed.address() as net.AddressInfo).port;
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      const name = "hub.jupyterhub-dev.svc.cluster.local";
      const wanted = [
        `dns+udp://127.0.0.1:${port}/${name}`,
        `dns+tcp://127.0.0.1:${port}/${name}`,
        `dns+tcp://127.0.0.1:${closedPort}/${name}`,
        `dns+udp://127.0.0.1:${closedPort}/${name}`,
      ];
      const out = await new Promise<string>((resolve, reject) => {
        execFile("python3", ["-c", probe, "check", ...wanted], { timeout: 30000 }, (err, stdout, stderr) =>
          err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
        );
      });
      const lines = out.trim().split("\n");
      assert.deepEqual(lines.slice(0, 2), [`${wanted[0]} open 10.96.0.21`, `${wanted[1]} open 10.96.0.21`]);
      assert.match(lines[2], new RegExp(`^${wanted[2].replace(/[.+/]/g, "\\$&")} blocked ConnectionRefusedError$`));
      assert.match(lines[3], new RegExp(`^${wanted[3].replace(/[.+/]/g, "\\$&")} blocked ConnectionRefusedError$`));
    } finally {
      server.kill();
    }
  });
});
