/**
 * `npm run demo`: see the hub work before any cloud account. The local control plane (etcd,
 * kube-apiserver, controller manager and scheduler, from e2e/toolchain/), `pulumi up` of the
 * journey's stack (the dev stack's shape: the in-cluster test LDAP server, a StorageClass disk,
 * ClusterIP services), and then the real programs: JupyterHub with KubeSpawner and
 * LDAPAuthenticator, configurable-http-proxy, Debian's slapd seeded from the stack's own Secret,
 * nginx as the file browser, and each user's jupyterhub-singleuser, run by the kubelet stand-in.
 * It prints the addresses (127.0.0.1 only) and the passwords, and stays up until Ctrl-C, which
 * stops every process and removes what it made.
 *
 * What it is not: no container runs (the stand-in runs each pod's containers as processes of
 * this machine, from the venvs that stand for the images) and there is no NFS (a local folder is
 * the export). e2e/README.md says what is real and what stands in.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { testLdapGroupDn, testLdapOutsider } from "../components/auth/testLdapDirectory";
import { ensureToolchain } from "./lib/toolchain";
import { journeyImages } from "./journey/journeyImages";
import { GPU_GROUP_DN, GPU_GROUP_MEMBERS, JOURNEY_PROFILES } from "./journey/journeyProfiles";
import { HUB_NS, JourneyStack } from "./journey/journeyStack";

async function main(): Promise<void> {
  const bin = ensureToolchain();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "jhnfs-demo-"));
  const stack = new JourneyStack(bin, tmp, journeyImages(path.join(tmp, "images")), true);

  let stopping: Promise<void> | undefined;
  const stop = (code: number): Promise<void> =>
    (stopping ??= (async () => {
      console.log("\ndemo: stopping the hub, the proxy, the pods and the control plane ...");
      const errors = await stack.stop();
      for (const e of errors) console.error(`demo: ${String(e)}`);
      if (errors.length === 0) fs.rmSync(tmp, { recursive: true, force: true });
      else console.error(`demo: kept ${tmp} for inspection`);
      process.exit(errors.length === 0 ? code : 1);
    })());
  process.on("SIGINT", () => void stop(0));
  process.on("SIGTERM", () => void stop(0));

  try {
    console.log("demo: starting the control plane and running pulumi up (about a minute) ...");
    await stack.deploy();
    await stack.startStandIn();
    await stack.startLdap();
    await stack.startProxy();
    await stack.startHub();
    const fileBrowser = await stack.readyPod(HUB_NS, "file-browser");
    const passwords = stack.outputs.ldapTestPasswords as Record<string, string>;
    const users = Object.entries(passwords)
      .filter(([user]) => user !== testLdapOutsider)
      .map(
        ([user, password]) =>
          `  ${user.padEnd(10)} ${password}${user === "alice" ? "   (admin)" : ""}` +
          (GPU_GROUP_MEMBERS.includes(user) ? `   (in ${GPU_GROUP_DN}: offered the GPU profile)` : ""),
      );
    console.log(
      [
        "",
        "JupyterHub on a simulated cluster: the real hub, spawner and proxy; pods run as processes.",
        "",
        `Hub:           ${stack.proxyUrl}/`,
        `Test users (the in-cluster test LDAP server's, members of ${testLdapGroupDn}):`,
        ...users,
        `  ${testLdapOutsider.padEnd(10)} ${passwords[testLdapOutsider] ?? ""}   (in the directory, in no group: refused)`,
        fileBrowser
          ? `File browser:  http://${fileBrowser.ip}:8080/   user ${String(stack.outputs.fileBrowserUsername)}, ` +
            `password ${String(stack.outputs.fileBrowserPassword)}`
          : "File browser:  its pod is not ready (see the notes below)",
        `Notebooks:     ${stack.exportDir} (the folder that stands in for the NFS export)`,
        `Profiles:      ${Object.values(JOURNEY_PROFILES)
          .map((p) => p.slug)
          .join(", ")} on the spawn form (the GPU one runs on a stand-in GPU node: there is no GPU)`,
        "",
        "Press Ctrl-C to stop; everything above is removed.",
      ].join("\n"),
    );
    if (!fileBrowser) console.log(stack.notes(20));
  } catch (err: unknown) {
    console.error(`demo: ${err instanceof Error ? err.message : String(err)}`);
    console.error(stack.notes(30));
    await stop(1);
  }
}

void main();
