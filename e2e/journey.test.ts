/**
 * A user's journey, end to end, with the real programs: the stack deployed by `pulumi up` on the
 * local control plane (real API server and RBAC), JupyterHub with KubeSpawner and
 * LDAPAuthenticator (from the hub's venv) running as the hub's ServiceAccount,
 * configurable-http-proxy, Debian's slapd, Debian's nginx as the file browser, the users' servers
 * (jupyterhub-singleuser from the singleuser venv). What stands in: the container runtime (the
 * kubelet stand-in runs each pod's containers as processes, see e2e/journey/kubeletStandIn.ts)
 * and the kernel NFS mount (a local folder is the export). See e2e/README.md.
 *
 *   npm run journey   (also run by npm run e2e)
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { testLdapOutsider } from "../components/auth/testLdapDirectory";
import { priorities } from "../components/capacity";
import { gkeAcceleratorLabel, gpuResource, gpuToleration } from "../components/jupyterhub/profiles";
import { bytes } from "../stacks/quantity";
import { quotaFolder } from "../stacks/userQuotas";
import { images } from "../versions/images";
import { browserJourney } from "./lib/browser";
import { ensureToolchain } from "./lib/toolchain";
import { journeyImages } from "./journey/journeyImages";
import { burstNames, failures, formatBurst, runBurst } from "./journey/burst";
import { JOURNEY_GPU_TYPE, JOURNEY_PROFILES } from "./journey/journeyProfiles";
import {
  COURSE,
  CULL_IDLE_SECONDS,
  DEFAULT_URL,
  GPU_STAND_IN_NODE,
  HUB_NS,
  JourneyStack,
  NAMED_SERVERS_PER_USER,
  SNIPPETS,
  STAND_IN_NODE,
} from "./journey/journeyStack";
import {
  login,
  inTerminal,
  loginAndSpawn,
  namedServerPod,
  podOfUser,
  serverAnswers,
  spawnForm,
  spawnWithOptions,
  startAgain,
  stopServer,
  userPod,
} from "./journey/journeySteps";
import type { KubeObject } from "./lib/cluster";
import type { Container, PodSpec } from "./journey/podSpec";
import { WebClient } from "./journey/webClient";
import {
  saveNotebookFromLab,
  signInWithProvider,
  startServerAndOpenLab,
  type OidcBrowserArgs,
} from "./journey/oidcBrowser";
import { OidcProvider, type ProviderUser } from "./journey/oidcProvider";
import { markdownNotebook } from "./journey/notebook";
import { testLdapGroupDn } from "../components/auth/testLdapDirectory";
import { GPU_GROUP_DN } from "./journey/journeyProfiles";
import { parseSamples, sampleOf, type Sample } from "./journey/metricsScrape";
import { gmpCollector, monitoringJobs } from "../components/monitoring";
import { failedSpawnStatuses, hubMetrics } from "../components/monitoring/alertRules";
import { promtool } from "../test/support/promtool";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "jhnfs-journey-"));
/** The burst's class (`npm run bench -- --only burst --users N` runs a larger one). */
const BURST_USERS = 10;
let stack: JourneyStack | undefined;
/** The OpenID Connect provider the hub is switched to at the end (Ory Hydra and its login app). */
let provider: OidcProvider | undefined;

/**
 * The OIDC part: the provider's name on the hub's button, its admin group, its people. The hub's
 * names come from the email claim without the university's domain (oauthStripDomain), as a
 * university IdP gives them; names are typed with capitals at the provider and in adminUsers.
 */
const OIDC = {
  loginService: "University",
  adminGroup: "cn=hub-admins,ou=groups,dc=example,dc=org",
  usernameClaim: "email",
  stripDomain: "uni.example.edu",
  /** An admin by name, written with capitals as an operator may: the hub user jane.doe. */
  adminUser: "Jane.Doe",
  screenshots: fs.mkdtempSync(path.join(os.tmpdir(), "journey-oidc-screenshots-")),
  users: {
    // Her university address without the domain is her LDAP name, in the same groups (the provider
    // federates the directory), and the admin group.
    alice: { password: `alice-${Math.random().toString(36).slice(2)}`, email: "alice@uni.example.edu", groups: [] },
    // Known to the provider, in none of the hub's groups.
    mallory: {
      password: `mallory-${Math.random().toString(36).slice(2)}`,
      email: "mallory@uni.example.edu",
      groups: ["cn=visitors,ou=groups,dc=example,dc=org"],
    },
    // Signs in at the provider as JDoe; her address has capitals, a dot and the domain (in capitals too).
    JDoe: {
      password: `jdoe-${Math.random().toString(36).slice(2)}`,
      email: "Jane.Doe@Uni.Example.edu",
      groups: [testLdapGroupDn],
    },
  } as Record<string, ProviderUser>,
};
OIDC.users.alice.groups = [testLdapGroupDn, GPU_GROUP_DN, OIDC.adminGroup];

/** GMP's collector, as the API server knows it: its ServiceAccount, impersonated with kubectl --as. */
const asCollector = `--as=system:serviceaccount:${gmpCollector.namespace}:${gmpCollector.serviceAccount}`;

/** Whether GMP's collector may `verb` `resource` in the hub namespace (kubectl auth can-i on the real RBAC). */
function collectorCan(s: JourneyStack, verb: string, resource: string): boolean {
  try {
    need(s.cluster, "cluster").kubectl(["auth", "can-i", verb, resource, "-n", HUB_NS, asCollector]);
    return true;
  } catch (e) {
    if ((e as { status?: number }).status === 1) return false;
    throw e;
  }
}

/**
 * The hub's /hub/metrics as GMP's collector scrapes it: straight at the hub's port (not through the
 * proxy), with the bearer token it read from the Secret its PodMonitoring names, as itself.
 */
async function scrapeHub(s: JourneyStack): Promise<{ status: number; text: string }> {
  const secret = need(s.cluster, "cluster").kubectl([
    "get",
    "secret",
    "hub-metrics-token",
    "-n",
    HUB_NS,
    asCollector,
    "-o",
    "jsonpath={.data.token}",
  ]);
  const token = Buffer.from(secret, "base64").toString("utf8");
  const r = await fetch(`http://127.0.0.1:${need(s.ports, "ports").hub}/hub/metrics`, {
    headers: { Authorization: `Bearer ${token}` },
  });
  return { status: r.status, text: await r.text() };
}

/**
 * The text is Prometheus's format as the real promtool parses it (`check metrics --extended`: it
 * parses every family and counts series; lint off, as the metric names are upstream's).
 */
function assertExposition(text: string, what: string): void {
  const check = promtool(["check", "metrics", "--extended", "--lint=none"], os.tmpdir(), text);
  assert.equal(check.status, 0, `${what}: promtool check metrics:\n${check.output}`);
}

function need<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Error(`${what} is not available (an earlier step failed)`);
  return v;
}

/** The notebook the LDAP-era steps save. */
const notebook = markdownNotebook("journey", "saved by the e2e journey");

/**
 * The resources a profile's pod carries, as the API server keeps them: CPU as written (canonical
 * already), memory as the number of bytes KubeSpawner sends.
 */
function profileResources(p: { cpuLimit: string; cpuGuarantee: string; memoryLimit: string; memoryGuarantee: string }) {
  return {
    limits: { cpu: p.cpuLimit, memory: String(bytes(p.memoryLimit)) },
    requests: { cpu: p.cpuGuarantee, memory: String(bytes(p.memoryGuarantee)) },
  };
}

/** The notebook container of a user's pod. */
function notebookOf(pod: KubeObject): Container {
  const spec = pod.spec as unknown as PodSpec;
  return spec.containers.find((c) => c.name === "notebook") ?? spec.containers[0];
}

describe(
  "a user's journey: LDAP login, spawn, a notebook on the shared volume, the file browser",
  { concurrency: false },
  () => {
    const passwords: Record<string, string> = {};
    let alice: WebClient | undefined;
    let bob: WebClient | undefined;
    /** What the hub snippet that lets removed users back in met: the program's preview, the hub's start. */
    const refused: { preview?: string; hubLog?: string } = {};

    before(async () => {
      const bin = ensureToolchain();
      // The export squashes root unless JOURNEY_ROOT_SQUASH=0 (see e2e/README.md, the kubelet stand-in).
      const rootSquash = process.env.JOURNEY_ROOT_SQUASH !== "0";
      // First deployed with a hub snippet that hides what it changes (SNIPPETS.hidden).
      const firstSnippets = [...SNIPPETS.good, SNIPPETS.hidden];
      stack = new JourneyStack(
        bin,
        tmp,
        journeyImages(path.join(tmp, "images")),
        rootSquash,
        // A name as real directories hold them: a dot, and typed with capitals at the form; and the burst's class.
        ["alice", "bob", "john.doe", ...burstNames(BURST_USERS).map((n) => n.user)],
        firstSnippets,
      );
      const t0 = Date.now();
      await stack.deploy();
      console.log(`# control plane + pulumi up: ${((Date.now() - t0) / 1000).toFixed(1)}s`);
      Object.assign(passwords, stack.outputs.ldapTestPasswords as Record<string, string>);
      await stack.startLdap();
      // The real hub, from that deployment, must refuse to start; the program must refuse the same
      // snippet written in plain sight before deploying anything; then the operator drops it.
      const t1 = Date.now();
      refused.hubLog = await stack.hubRefusesToStart();
      const preview = await stack.withSnippets([...SNIPPETS.good, SNIPPETS.plainSight], "preview");
      refused.preview = preview && !preview.ok ? `${preview.error ?? ""}\n${preview.stderr}\n${preview.stdout}` : "";
      await stack.withSnippets(SNIPPETS.good, "up");
      console.log(
        `# a protected hub setting: the hub refused, preview refused, pulumi up without it: ${((Date.now() - t1) / 1000).toFixed(1)}s`,
      );
      const t2 = Date.now();
      await stack.startStandIn();
      await stack.startProxy();
      const hubSeconds = await stack.startHub();
      console.log(
        `# stand-in, proxy, hub up in ${((Date.now() - t2) / 1000).toFixed(1)}s ` +
          `(hub process start to /hub/health: ${hubSeconds.toFixed(1)}s)`,
      );
    });

    after(async () => {
      const s = stack;
      const errorsBefore: unknown[] = [];
      try {
        await provider?.stop();
      } catch (err) {
        errorsBefore.push(err);
      }
      if (!s) return;
      const pids = [...s.startedPids, ...(provider?.startedPids ?? [])];
      const errors = [...errorsBefore, ...(await s.stop())];
      const alive = pids.filter((p) => {
        try {
          process.kill(p, 0);
          return true;
        } catch {
          return false;
        }
      });
      if (alive.length > 0) errors.push(new Error(`processes still running after stop: ${alive.join(" ")}`));
      if (errors.length === 0) fs.rmSync(tmp, { recursive: true, force: true });
      else console.log(`# kept ${tmp} for inspection`);
      if (errors.length > 0) throw errors[0];
    });

    test("a hub config snippet that lets users removed from the allowed list back in: refused before deploying when it says so; when it hides it, the real hub refuses to start, naming it", () => {
      assert.match(
        need(refused.preview, "the preview's result"),
        /hubExtraConfig\[2\]\[python\]: \(not repeated here\) changes allow_existing_users/,
        "pulumi preview names the key, the item and the setting",
      );
      const log = need(refused.hubLog, "the refused hub's log");
      assert.match(
        log,
        /ProtectedSettingChanged: hubExtraConfig snippet '30-existing-users' changes c\.Authenticator\.allow_existing_users/,
      );
      assert.match(log, /ran hubExtraConfig snippet '20-announcement'/, "the snippets before it ran, in name order");
      assert.ok(!/JupyterHub is now running/.test(log), "the hub did not start");
    });

    test("the other snippets took effect, in name order: the hub's login page shows the later one's announcement", async () => {
      const page = await new WebClient(need(stack, "stack").proxyUrl).get("/hub/login");
      assert.equal(page.status, 200);
      assert.ok(page.text.includes(COURSE.announcement), "the announcement of 20-announcement");
      assert.ok(!page.text.includes("overridden by"), "10-announcement ran first");
    });

    test("alice logs in with her LDAP password through the proxy; her server (the default profile, from the spawn form) starts and answers at /user/alice/", async () => {
      const r = await loginAndSpawn(need(stack, "stack"), "alice", passwords.alice);
      alice = r.client;
      console.log(`# alice: login to her server answering through the proxy: ${r.seconds.toFixed(1)}s`);
      const lab = await alice.get("/user/alice/lab");
      assert.equal(lab.status, 200, "JupyterLab's page");
      assert.match(lab.text, /JupyterLab/);
    });

    test("the pod KubeSpawner made: notebooks claim, per-user subPath, init container, security context, limits, no token, the user PriorityClass", async () => {
      const pod = need(await userPod(need(stack, "stack"), "alice"), "alice's pod");
      const s = need(stack, "stack");
      const spec = pod.spec as unknown as PodSpec & {
        automountServiceAccountToken?: boolean;
        priorityClassName?: string;
        priority?: number;
      };
      assert.equal(spec.nodeName, STAND_IN_NODE, "run by the kubelet stand-in");
      // The API server's Priority admission resolved the class the stack made (it refuses a pod
      // naming a class that does not exist).
      assert.equal(spec.priorityClassName, `${HUB_NS}-user`);
      assert.equal(spec.priority, priorities.user);
      assert.match(
        String(pod.status?.podIP),
        /^127\./,
        "at a loopback address the stand-in gave it, nothing else wrote it",
      );
      const notebooks = spec.volumes?.find((v) => v.persistentVolumeClaim?.claimName === s.outputs.notebooksClaim);
      assert.ok(notebooks, "mounts the notebooks claim");
      assert.equal(spec.automountServiceAccountToken, false, "no service-account token");
      assert.ok(!(spec.volumes ?? []).some((v) => "projected" in v), "no projected token volume");
      const notebook: Container = spec.containers.find((c) => c.name === "notebook") ?? spec.containers[0];
      const mount = notebook.volumeMounts?.find((m) => m.name === notebooks.name);
      assert.deepEqual([mount?.mountPath, mount?.subPath], ["/home/jovyan", "notebooks/alice"]);
      assert.equal(notebook.securityContext?.allowPrivilegeEscalation, false);
      assert.deepEqual(notebook.securityContext?.capabilities?.drop, ["ALL"]);
      // KubeSpawner 7 sets the uid on the container and fs_gid on the pod.
      assert.equal(notebook.securityContext?.runAsUser, 1000);
      assert.equal(spec.securityContext?.fsGroup, 100);
      // The default profile's sizes, which the spawn form started.
      assert.deepEqual(notebook.resources, profileResources(JOURNEY_PROFILES.small));
      assert.equal(notebook.image, images.singleuser.reference, "the default image (singleuserImage)");
      // KubeSpawner passes its cmd as args: the image's ENTRYPOINT (tini) stays, its CMD is replaced.
      assert.equal(notebook.command, undefined);
      assert.equal(
        notebook.args?.[0],
        "jupyterhub-singleuser",
        "the hub's own single-user server, not the image's CMD",
      );
      // ... started through the image's ENTRYPOINT: tini -g, then (the stand-in for) its start.sh.
      const started = s
        .notes(Number.MAX_SAFE_INTEGER)
        .split("\n")
        .find((l) => l.includes(`${HUB_NS}/${String(pod.metadata?.name)}: container ${notebook.name} `));
      assert.match(String(started), /\(image ENTRYPOINT\/CMD\) tini -g -- start\.sh jupyterhub-singleuser/);
      const log = /\(log (\S+)\)$/.exec(String(started))?.[1];
      assert.match(
        fs.readFileSync(String(log), "utf8"),
        /start\.sh \(journey stand-in\): executing: jupyterhub-singleuser/,
      );
      // alice is an admin: shared/ read-write, and every user's folder (modify_pod_hook).
      assert.deepEqual(
        (notebook.volumeMounts ?? [])
          .filter((m) => m.name === notebooks.name)
          .map((m) => [m.mountPath, m.subPath, m.readOnly ?? false]),
        [
          ["/home/jovyan", "notebooks/alice", false],
          ["/home/jovyan/shared", "shared", false],
          ["/home/jovyan/allusers", "notebooks", false],
        ],
      );
      const init = spec.initContainers ?? [];
      assert.deepEqual(
        init.map((c) => c.name),
        ["make-notebook-dir"],
      );
      // ... whose mount points it makes in her folder as the notebook user (the runtime would as root).
      assert.deepEqual(init[0].command?.slice(-3), ["/srv/notebooks/alice", "shared", "allusers"]);
      assert.deepEqual(
        [init[0].securityContext?.runAsUser, init[0].securityContext?.runAsGroup],
        [1000, 100],
        "the init container runs as the notebook user, not root",
      );
    });

    test("her pod carries the stack's environment (a value; a Secret's key, by reference), the course datasets read-only, the postStart command", async () => {
      const pod = need(await userPod(need(stack, "stack"), "alice"), "alice's pod");
      const spec = pod.spec as unknown as PodSpec;
      const notebook: Container = spec.containers.find((c) => c.name === "notebook") ?? spec.containers[0];
      const env = (notebook.env ?? []).filter((e) => e.name.startsWith("COURSE_"));
      assert.deepEqual(env, [
        { name: "COURSE_NAME", value: COURSE.name },
        { name: "COURSE_TOKEN", valueFrom: { secretKeyRef: { name: COURSE.secret.name, key: COURSE.secret.key } } },
      ]);
      const volume = spec.volumes?.find((v) => v.persistentVolumeClaim?.claimName === COURSE.datasets.claim);
      assert.deepEqual(volume?.persistentVolumeClaim, { claimName: COURSE.datasets.claim, readOnly: true });
      const mount = notebook.volumeMounts?.find((m) => m.name === volume?.name);
      assert.deepEqual([mount?.mountPath, mount?.readOnly], [COURSE.datasets.mountPath, true]);
      assert.equal(notebook.lifecycle?.postStart?.exec?.command[0], "sh");
    });

    test("the postStart command ran in her container, as her, with its environment and volumes: its file is in her folder", () => {
      const s = need(stack, "stack");
      const file = path.join(s.exportDir, "notebooks", "alice", COURSE.postStartFile);
      assert.equal(fs.readFileSync(file, "utf8"), `${COURSE.name}\n${COURSE.datasets.readme}`);
      const st = fs.statSync(file);
      assert.deepEqual([st.uid, st.gid], [1000, 100], "written as the notebook user");
      assert.match(s.notes(Number.MAX_SAFE_INTEGER), /jupyter-alice: container notebook postStart sh -c .* exited 0/);
    });

    test("in a terminal of her server (Jupyter Server's terminal API through the proxy) the shell sees both variables, reads the datasets and cannot write there", async () => {
      const s = need(stack, "stack");
      const out = await inTerminal(
        s,
        need(alice, "alice's session"),
        "alice",
        `echo "name=[$COURSE_NAME] token=[$COURSE_TOKEN]"; cat ${COURSE.datasets.mountPath}/README.txt; ` +
          `touch ${COURSE.datasets.mountPath}/mine 2>&1 || echo "write refused"`,
      );
      assert.ok(out.includes(`name=[${COURSE.name}] token=[${s.courseToken}]`), out);
      assert.ok(out.includes(COURSE.datasets.readme.trim()), out);
      assert.match(out, /Read-only file system\nwrite refused/);
    });

    test("a notebook saved through the contents API lands in notebooks/alice/ on the export, owned 1000:100", async () => {
      const client = need(alice, "alice's session");
      const put = await client.api("PUT", "/user/alice/api/contents/journey.ipynb", notebook);
      assert.ok(put.status === 201 || put.status === 200, `saved (${put.status}: ${put.text.slice(0, 200)})`);
      const file = path.join(need(stack, "stack").exportDir, "notebooks", "alice", "journey.ipynb");
      const st = fs.statSync(file);
      assert.deepEqual([st.uid, st.gid], [1000, 100], "owned by the notebook user and the users group");
      assert.match(fs.readFileSync(file, "utf8"), /saved by the e2e journey/);
      const dir = fs.statSync(path.dirname(file));
      // 0751, not 0750: shared/ and allusers/ are mounted inside it, and the runtime, nobody on this
      // squashing export, must search the folder to reach their mount points.
      assert.deepEqual([dir.uid, dir.gid, (dir.mode & 0o777).toString(8)], [1000, 100, "751"], "alice's folder");
    });

    test("the file browser (nginx, its own pod) lists and serves it", async () => {
      const s = need(stack, "stack");
      const pod = need(await s.readyPod(HUB_NS, "file-browser"), "the file browser's pod");
      const user = s.outputs.fileBrowserUsername as string | undefined;
      const password = s.outputs.fileBrowserPassword as string | undefined;
      const auth: Record<string, string> =
        user && password ? { Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` } : {};
      const base = `http://${pod.ip}:8080`;
      if (user) {
        const anonymous = await fetch(`${base}/notebooks/alice/`, { signal: AbortSignal.timeout(10_000) });
        assert.equal(anonymous.status, 401, "no listing without the stack's credentials");
      }
      const listing = await fetch(`${base}/notebooks/alice/`, { headers: auth, signal: AbortSignal.timeout(10_000) });
      assert.equal(listing.status, 200);
      assert.match(await listing.text(), /journey\.ipynb/);
      const served = await fetch(`${base}/notebooks/alice/journey.ipynb`, {
        headers: auth,
        signal: AbortSignal.timeout(10_000),
      });
      assert.equal(served.status, 200);
      assert.match(await served.text(), /saved by the e2e journey/);
    });

    test("in a real browser (Chromium): alice, her server stopped, logs in, sees every profile on the spawn form (the GPU one: she is in its group), starts Large with the previous image, lands in JupyterLab, opens the notebook; the file browser shows it", async () => {
      const s = need(stack, "stack");
      await stopServer(s, need(alice, "alice's session"), "alice");
      const pod = need(await s.readyPod(HUB_NS, "file-browser"), "the file browser's pod");
      const user = s.outputs.fileBrowserUsername as string | undefined;
      const password = s.outputs.fileBrowserPassword as string | undefined;
      const r = await browserJourney({
        hubUrl: `${s.proxyUrl}/`,
        username: "alice",
        password: need(passwords.alice, "alice's LDAP password"),
        notebookPath: "journey.ipynb",
        fileBrowserUrl: `http://${pod.ip}:8080/`,
        fileBrowserFolder: "notebooks/alice",
        ...(user && password ? { fileBrowserCredentials: { username: user, password } } : {}),
        spawn: { profile: JOURNEY_PROFILES.large.slug, options: { image: "previous" } },
      });
      assert.deepEqual(
        r.offeredProfiles,
        Object.values(JOURNEY_PROFILES).map((p) => ({ slug: p.slug, name: p.displayName })),
        "the spawn form offers alice every profile",
      );
      console.log(`# alice's spawn form: ${r.screenshots.find((f) => f.includes("spawn-form"))}`);
      // The redirect after the spawn lands on the stack's userDefaultUrl, a path no server opens by itself.
      assert.ok(
        new URL(r.labUrl).pathname.startsWith(`/user/alice${DEFAULT_URL}`),
        `landed in JupyterLab at ${DEFAULT_URL}: ${r.labUrl}`,
      );
      assert.match(r.notebookFromFileBrowser, /saved by the e2e journey/, "the file browser served the notebook");
      assert.deepEqual(r.blocked, [], "the browser tried no address off loopback");
      // The pod KubeSpawner made for what she picked: Large's sizes, the image she chose.
      const large = notebookOf(need(await userPod(s, "alice"), "alice's pod"));
      assert.deepEqual(large.resources, profileResources(JOURNEY_PROFILES.large));
      assert.equal(large.image, JOURNEY_PROFILES.large.imageChoices.find((c) => c.slug === "previous")?.image);
    });

    test("alice stops her server (the pod is deleted) and starts it again, with the GPU profile: the notebook is still there", async () => {
      const s = need(stack, "stack");
      const client = need(alice, "alice's session");
      await stopServer(s, client, "alice");
      const seconds = await startAgain(s, client, "alice", { profile: JOURNEY_PROFILES.gpu.slug });
      console.log(`# alice: second start to her server answering: ${seconds.toFixed(1)}s`);
      const got = await client.api("GET", "/user/alice/api/contents/journey.ipynb");
      assert.equal(got.status, 200);
      assert.match(got.text, /saved by the e2e journey/);
    });

    test("the GPU profile's pod: the GPU limit, GKE's accelerator node selector and GPU toleration; the API server accepted it, the scheduler bound it to the GPU node (a stand-in), where it runs", async () => {
      const s = need(stack, "stack");
      const api = need(s.api, "api");
      const pod = need(await userPod(s, "alice"), "alice's pod");
      const spec = pod.spec as unknown as PodSpec & {
        nodeSelector?: Record<string, string>;
        tolerations?: Record<string, unknown>[];
      };
      const notebook = notebookOf(pod);
      assert.equal(notebook.resources?.limits?.[gpuResource], String(JOURNEY_PROFILES.gpu.gpuCount));
      // KubeSpawner sets the limit only; the API server made the request equal to it, as it does
      // for extended resources.
      assert.equal(notebook.resources?.requests?.[gpuResource], String(JOURNEY_PROFILES.gpu.gpuCount));
      assert.deepEqual(spec.nodeSelector, { [gkeAcceleratorLabel]: JOURNEY_GPU_TYPE });
      assert.deepEqual(
        spec.tolerations?.filter((t) => t.key === gpuResource),
        [gpuToleration],
      );
      // The scheduler bound it (KubeSpawner names no node) to the one node that has the label, a
      // free nvidia.com/gpu and the taint the pod tolerates; every other pod of the journey runs
      // on the plain stand-in's node, which the GPU node's taint kept them from.
      assert.equal(spec.nodeName, GPU_STAND_IN_NODE);
      const events = await api.request<{ items: { reason: string; message: string }[] }>(
        "GET",
        `/api/v1/namespaces/${HUB_NS}/events?fieldSelector=${encodeURIComponent(`involvedObject.uid=${pod.metadata.uid},reason=Scheduled`)}`,
      );
      assert.match(
        events.items.map((e) => e.message).join("\n"),
        new RegExp(`Successfully assigned ${HUB_NS}/jupyter-alice to ${GPU_STAND_IN_NODE}`),
        "the scheduler's Scheduled event",
      );
      const node = await api.request("GET", `/api/v1/nodes/${GPU_STAND_IN_NODE}`);
      assert.deepEqual(node.spec?.taints, [{ key: gpuResource, value: "present", effect: "NoSchedule" }]);
      assert.equal((node.metadata.labels ?? {})[gkeAcceleratorLabel], JOURNEY_GPU_TYPE);
      const others = await api.request<{ items: KubeObject[] }>(
        "GET",
        `/api/v1/pods?fieldSelector=spec.nodeName%3D${GPU_STAND_IN_NODE}`,
      );
      assert.deepEqual(
        others.items.map((p) => p.metadata.name),
        ["jupyter-alice"],
        "only the GPU pod is on the GPU node",
      );
      const ready = (pod.status?.conditions as { type: string; status: string }[]).find((c) => c.type === "Ready");
      assert.equal(ready?.status, "True", "run by the GPU node's stand-in and Ready");
    });

    test("alice runs a named server next to her default one: both answer through the proxy and share her folder; a second is over the limit", async () => {
      const s = need(stack, "stack");
      const client = need(alice, "alice's session");
      const t0 = Date.now();
      await serverAnswers(s, client, "alice", 120_000, "second");
      console.log(`# alice: named server answering: ${((Date.now() - t0) / 1000).toFixed(1)}s`);
      const [main, named] = [await userPod(s, "alice"), await namedServerPod(s, "alice", "second")];
      assert.ok(main && named && main.metadata.name !== named.metadata.name, "two pods at once");
      const mounts = (pod: typeof main) =>
        ((pod?.spec as unknown as PodSpec).containers[0].volumeMounts ?? []).map((m) => [m.mountPath, m.subPath]);
      assert.deepEqual(mounts(named), mounts(main), "the same home and folders");
      const fromNamed = await client.api("GET", "/user/alice/second/api/contents/journey.ipynb");
      assert.equal(fromNamed.status, 200);
      assert.match(fromNamed.text, /saved by the e2e journey/);
      const put = await client.api("PUT", "/user/alice/second/api/contents/from-second.txt", {
        type: "file",
        format: "text",
        content: "written by alice's named server",
      });
      assert.equal(put.status, 201, put.text.slice(0, 200));
      const fromMain = await client.api("GET", "/user/alice/api/contents/from-second.txt");
      assert.equal(fromMain.status, 200, "the default server sees what the named one saved");
      assert.match(fromMain.text, /written by alice's named server/);
      const third = await client.request("POST", "/hub/api/users/alice/servers/third", {
        json: {},
        maxRedirects: 0,
        headers: { Referer: `${s.proxyUrl}/hub/home` },
      });
      assert.equal(third.status, 400);
      assert.match(third.text, new RegExp(`already has the maximum of ${NAMED_SERVERS_PER_USER} named servers`));
    });

    test("bob, outside the GPU group, is not offered the GPU profile; the hub refuses it when he posts it to the spawn form or to the REST API, and makes no pod", async () => {
      const s = need(stack, "stack");
      const bob = await login(s, "bob", passwords.bob);
      const form = await spawnForm(bob, "bob");
      assert.deepEqual(
        form.offered.map((p) => p.slug),
        [JOURNEY_PROFILES.small.slug, JOURNEY_PROFILES.large.slug],
        "bob's spawn form",
      );
      const gpu = JOURNEY_PROFILES.gpu.slug;
      // The form: the hub answers 500 when the start fails within its first second (it does here,
      // KubeSpawner refuses before it makes anything); later, the pending page reports the failure.
      const posted = await bob.request("POST", form.action, {
        form: { profile: gpu },
        maxRedirects: 0,
        navigate: true,
      });
      const pending = posted.status === 302 ? await bob.get(String(posted.headers.location), 0) : undefined;
      assert.ok(
        posted.status === 500 || /Spawn failed/.test(pending?.text ?? ""),
        `the spawn form took ${gpu}: ${posted.status} ${pending?.text.slice(0, 300) ?? ""}`,
      );
      // The REST API waits for the start (up to slow_spawn_timeout) and answers its failure.
      const api = await bob.api("POST", "/hub/api/users/bob/server", { profile: gpu });
      assert.equal(api.status, 500, `the REST API took ${gpu}: ${api.text.slice(0, 300)}`);
      const state = await bob.api("GET", "/hub/api/users/bob");
      assert.equal(
        (JSON.parse(state.text) as { servers: Record<string, unknown> }).servers[""],
        undefined,
        "a server for bob",
      );
      const log = fs.readFileSync(need(s.hub, "hub").logFile, "utf8");
      const refusals = log
        .split("\n")
        .filter((l) => l.includes(`No such profile: ${gpu}. Options include: small, large`));
      assert.ok(refusals.length >= 2, `KubeSpawner refused each request against bob's list:\n${refusals.join("\n")}`);
      assert.equal(await userPod(s, "bob"), undefined, "no pod for bob");
    });

    test("bob logs in; a spawn request naming admin mounts gets him none; his server cannot see alice's folder", async () => {
      const s = need(stack, "stack");
      bob = new WebClient(s.proxyUrl);
      const login = await bob.login("bob", passwords.bob);
      assert.equal(login.status, 302, `bob's login: ${login.text.slice(0, 200)}`);
      // What a forged spawn form could post: KubeSpawner reads only a profile from the options.
      await spawnWithOptions(s, bob, "bob", {
        admin: true,
        volume_mounts: [{ name: "notebooks", mountPath: "/home/jovyan/allusers", subPath: "notebooks" }],
      });
      // The hub sends a logged-in user to the running server, which opens at userDefaultUrl.
      const landed = await bob.get("/hub/", 12);
      assert.equal(landed.url, `/user/bob${DEFAULT_URL}`);
      const root = await bob.api("GET", "/user/bob/api/contents/");
      assert.equal(root.status, 200);
      const names = (JSON.parse(root.text) as { content: { name: string }[] }).content.map((c) => c.name);
      assert.ok(!names.includes("journey.ipynb") && !names.includes("alice"), `bob's folder: ${names.join(", ")}`);
      const escape = await bob.api("GET", "/user/bob/api/contents/..%2Falice%2Fjourney.ipynb");
      assert.notEqual(escape.status, 200, "no way out of his folder through the contents API");
      const pod = need(await userPod(need(stack, "stack"), "bob"), "bob's pod");
      const mounts = ((pod.spec as unknown as PodSpec).containers[0].volumeMounts ?? []).filter(
        (m) => m.name === "notebooks",
      );
      assert.deepEqual(
        mounts.map((m) => [m.mountPath, m.subPath, m.readOnly ?? false]),
        [
          ["/home/jovyan", "notebooks/bob", false],
          ["/home/jovyan/shared", "shared", true],
        ],
        "his folder, and shared/ read-only",
      );
    });

    test("John.Doe, typed with capitals (john.doe in LDAP), logs in as hub user john.doe; the notebook lands in his folder", async () => {
      const s = need(stack, "stack");
      const r = await loginAndSpawn(s, "john.doe", need(passwords["john.doe"], "john.doe's password"), "John.Doe");
      const put = await r.client.api("PUT", "/user/john.doe/api/contents/journey.ipynb", notebook);
      assert.ok(put.status === 201 || put.status === 200, `saved (${put.status}: ${put.text.slice(0, 200)})`);
      // KubeSpawner names the pod and the folder by the user's safe slug (a dot is not DNS-safe).
      const pod = need(await podOfUser(s, "john.doe"), "the pod of hub user john.doe");
      const mount = (pod.spec as unknown as PodSpec).containers[0].volumeMounts?.find(
        (m) => m.mountPath === "/home/jovyan",
      );
      const folder = String(mount?.subPath);
      assert.match(folder, /^notebooks\/john-doe---[0-9a-f]+$/, "one folder, named by KubeSpawner's safe slug");
      const st = fs.statSync(path.join(s.exportDir, folder, "journey.ipynb"));
      assert.deepEqual([st.uid, st.gid], [1000, 100]);
      await stopServer(s, r.client, "john.doe", pod.metadata.name);
    });

    test("alice (admin) writes into shared/ and into bob's folder; bob reads shared/, cannot write there (read-only mount), and edits her file", async () => {
      const s = need(stack, "stack");
      const [a, b] = [need(alice, "alice's session"), need(bob, "bob's session")];
      const file = (content: string) => ({ type: "file", format: "text", content });
      const put = async (client: WebClient, url: string, content: string) => {
        const r = await client.api("PUT", url, file(content));
        assert.ok(r.status === 201 || r.status === 200, `PUT ${url}: ${r.status} ${r.text.slice(0, 200)}`);
      };
      await put(a, "/user/alice/api/contents/shared/welcome.md", "# Week 1\n");
      await put(a, "/user/alice/api/contents/allusers/bob/feedback.md", "graded: well done\n");
      // Every user's folder, named as the rest of the program names it (john.doe's by his safe slug).
      const everyone = await a.api("GET", "/user/alice/api/contents/allusers");
      const folders = (JSON.parse(everyone.text) as { content: { name: string }[] }).content.map((c) => c.name);
      assert.deepEqual(folders.sort(), fs.readdirSync(path.join(s.exportDir, "notebooks")).sort());
      assert.ok(folders.includes("bob") && folders.some((f) => /^john-doe---[0-9a-f]+$/.test(f)), folders.join(", "));
      // Both servers run as uid 1000 (the notebook image's jovyan): what alice writes is bob's to change.
      for (const f of ["shared/welcome.md", "notebooks/bob/feedback.md"]) {
        const st = fs.statSync(path.join(s.exportDir, f));
        assert.deepEqual([st.uid, st.gid, (st.mode & 0o777).toString(8)], [1000, 100, "644"], f);
      }

      const read = await b.api("GET", "/user/bob/api/contents/shared/welcome.md");
      assert.equal(read.status, 200);
      assert.match(read.text, /# Week 1/);
      const write = await b.api("PUT", "/user/bob/api/contents/shared/mine.md", file("bob's"));
      assert.equal(write.status, 500, write.text.slice(0, 300));
      assert.match(write.text, /Read-only file system/, "the mount refused it, not a permission");
      assert.ok(!fs.existsSync(path.join(s.exportDir, "shared", "mine.md")));

      const feedback = await b.api("GET", "/user/bob/api/contents/feedback.md");
      assert.equal(feedback.status, 200);
      assert.match(feedback.text, /graded: well done/);
      await put(b, "/user/bob/api/contents/feedback.md", "graded: well done\nthanks!\n");
      assert.equal(
        fs.readFileSync(path.join(s.exportDir, "notebooks", "bob", "feedback.md"), "utf8"),
        "graded: well done\nthanks!\n",
      );
      const root = await b.api("GET", "/user/bob/api/contents/");
      const names = (JSON.parse(root.text) as { content: { name: string }[] }).content.map((c) => c.name).sort();
      assert.deepEqual(
        names,
        ["feedback.md", "shared"],
        "his folder: alice's file and the shared folder, nothing else",
      );
    });

    test("the file browser shows shared/ and bob's folder with alice's file, and writes nothing", async () => {
      const s = need(stack, "stack");
      const pod = need(await s.readyPod(HUB_NS, "file-browser"), "the file browser's pod");
      const user = String(s.outputs.fileBrowserUsername);
      const password = String(s.outputs.fileBrowserPassword);
      const auth = { Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` };
      const base = `http://${pod.ip}:8080`;
      for (const [folder, name] of [
        ["shared", "welcome.md"],
        ["notebooks/bob", "feedback.md"],
      ]) {
        const listing = await fetch(`${base}/${folder}/`, { headers: auth, signal: AbortSignal.timeout(10_000) });
        assert.equal(listing.status, 200);
        assert.match(await listing.text(), new RegExp(name.replace(".", "\\.")));
      }
      const upload = await fetch(`${base}/shared/upload.md`, {
        method: "PUT",
        body: "x",
        headers: auth,
        signal: AbortSignal.timeout(10_000),
      });
      assert.equal(upload.status, 403, "nginx serves files, it takes none (GET and HEAD only)");
      assert.ok(!fs.existsSync(path.join(s.exportDir, "shared", "upload.md")));
    });

    test("a wrong password and a user outside the allowed groups are refused", async () => {
      const s = need(stack, "stack");
      const wrong = new WebClient(s.proxyUrl);
      const bad = await wrong.login("alice", `${passwords.alice}-wrong`);
      assert.equal(bad.status, 403, "wrong password");
      assert.equal(wrong.cookie("jupyterhub-session-id") && wrong.cookie("jupyterhub-hub-login", "/hub/"), undefined);
      const outsider = new WebClient(s.proxyUrl);
      const out = await outsider.login(testLdapOutsider, need(passwords[testLdapOutsider], "the outsider's password"));
      assert.equal(out.status, 403, "a valid LDAP user in no allowed group");
      const home = await outsider.get("/hub/home", 0);
      assert.equal(home.status, 302, "... gets no session");
    });

    test("an admin reaches the admin page; a user does not", async () => {
      const adminPage = await need(alice, "alice's session").get("/hub/admin", 0);
      assert.equal(adminPage.status, 200);
      const notAdmin = await need(bob, "bob's session").get("/hub/admin", 0);
      assert.equal(notAdmin.status, 403);
    });

    test("monitoring: GMP's collector (impersonated on the real RBAC) may read the hub's metrics token Secret and no other; the PodMonitorings select the hub's and the proxy's pods by a port they have", async () => {
      const s = need(stack, "stack");
      assert.ok(collectorCan(s, "get", "secret/hub-metrics-token"), "get the token Secret");
      assert.ok(collectorCan(s, "watch", "secret/hub-metrics-token"), "watch it");
      assert.ok(!collectorCan(s, "get", "secret/hub"), "not the hub's own Secret (cookie secret, proxy token)");
      assert.ok(!collectorCan(s, "list", "secrets"), "not every Secret");
      const cluster = need(s.cluster, "cluster");
      for (const job of [monitoringJobs.hub, monitoringJobs.proxy]) {
        const pm = need(cluster.get("podmonitorings.monitoring.googleapis.com", job, HUB_NS), `PodMonitoring ${job}`);
        const spec = pm.spec as { selector: { matchLabels: Record<string, string> }; endpoints: { port: string }[] };
        const selector = Object.entries(spec.selector.matchLabels)
          .map(([k, v]) => `${k}=${v}`)
          .join(",");
        const pods = JSON.parse(cluster.kubectl(["get", "pods", "-n", HUB_NS, "-l", selector, "-o", "json"])) as {
          items: KubeObject[];
        };
        assert.ok(pods.items.length > 0, `PodMonitoring ${job} selects no pod (${selector})`);
        for (const pod of pods.items) {
          const ports = (pod.spec as unknown as PodSpec).containers.flatMap((c) => c.ports ?? []);
          assert.ok(
            ports.some((p) => p.name === spec.endpoints[0].port),
            `pod ${pod.metadata.name} has no port named ${spec.endpoints[0].port}`,
          );
        }
      }
      assert.ok(cluster.get("rules.monitoring.googleapis.com", "jupyterhub", HUB_NS), "the Rules object");
    });

    test("monitoring: the real hub serves /hub/metrics to the stack's token (403 without it); after the journey's spawns the series the alert rules read are there", async () => {
      const s = need(stack, "stack");
      const anonymous = await fetch(`http://127.0.0.1:${need(s.ports, "ports").hub}/hub/metrics`);
      assert.equal(anonymous.status, 403, "metrics need the read:metrics scope");
      const t0 = Date.now();
      const scrape = await scrapeHub(s);
      assert.equal(scrape.status, 200, scrape.text.slice(0, 300));
      assertExposition(scrape.text, "the hub's metrics");
      console.log(`# hub metrics scraped with the collector's token and checked by promtool: ${Date.now() - t0} ms`);
      const samples = parseSamples(scrape.text);
      const count = (status: string): Sample =>
        need(
          sampleOf(samples, hubMetrics.spawnDurationCount, { status }),
          `${hubMetrics.spawnDurationCount}{status="${status}"}`,
        );
      // alice (twice, and her named server), bob and john.doe started servers.
      assert.ok(count("success").value >= 5, `successful spawns: ${count("success").value}`);
      // Every status the failed-spawn alert reads exists, failures or not (JupyterHub creates them at start-up).
      for (const status of failedSpawnStatuses) count(status);
      console.log(
        `# spawns as the hub counts them: ${["success", ...failedSpawnStatuses].map((st) => `${st} ${count(st).value}`).join(", ")}`,
      );
      const running = need(sampleOf(samples, hubMetrics.runningServers), hubMetrics.runningServers);
      assert.ok(running.value >= 1, `running servers: ${running.value}`);
      for (const period of ["24h", "7d", "30d"]) {
        need(sampleOf(samples, hubMetrics.activeUsers, { period }), `${hubMetrics.activeUsers}{period="${period}"}`);
      }
    });

    test("monitoring: the real proxy serves its metrics on its own port (what the proxy's PodMonitoring scrapes)", async () => {
      const s = need(stack, "stack");
      const r = await fetch(`http://127.0.0.1:${need(s.ports, "ports").proxyMetrics}/metrics`);
      assert.equal(r.status, 200);
      const text = await r.text();
      assertExposition(text, "the proxy's metrics");
      assert.ok(parseSamples(text).length > 0, "samples");
    });

    test("the hub restarts while alice's server runs: it keeps running and is reachable again", async () => {
      const s = need(stack, "stack");
      const before = need(await userPod(need(stack, "stack"), "alice"), "alice's pod");
      const seconds = await s.restartHub(true, "SIGKILL");
      console.log(`# hub killed and started again: /hub/health after ${seconds.toFixed(1)}s`);
      const after = need(await userPod(need(stack, "stack"), "alice"), "alice's pod after the restart");
      assert.equal(after.metadata.uid, before.metadata.uid, "the same pod");
      const client = need(alice, "alice's session");
      await s.waitFor("alice's server answering after the hub restart", 60_000, async () => {
        const r = await client.api("GET", "/user/alice/api/contents/journey.ipynb");
        return r.status === 200;
      });
    });

    test("monitoring: the restarted hub counts the journey's users as active in the last 24 hours (recomputed at start-up, then hourly)", async () => {
      const scrape = await scrapeHub(need(stack, "stack"));
      assert.equal(scrape.status, 200);
      const active = need(
        sampleOf(parseSamples(scrape.text), hubMetrics.activeUsers, { period: "24h" }),
        `${hubMetrics.activeUsers}{period="24h"}`,
      );
      // alice, bob and john.doe used the hub in this run.
      assert.ok(active.value >= 3, `active users in 24h: ${active.value}`);
    });

    test("the proxy restarts: the routes come back within the hub's last_activity_interval", async () => {
      const s = need(stack, "stack");
      const t0 = Date.now();
      await s.restartProxy();
      const client = need(alice, "alice's session");
      await s.waitFor("alice's route back in the proxy", 45_000, async () => {
        const r = await client.api("GET", "/user/alice/api/contents/journey.ipynb");
        return r.status === 200;
      });
      console.log(`# proxy restarted; alice's route back after ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    });

    test(`the idle culler stops idle servers, named ones too (bob's, alice's "second", idle for over ${CULL_IDLE_SECONDS}s)`, async () => {
      const s = need(stack, "stack");
      await s.waitFor(
        "bob's pod and alice's named server's pod deleted by the idle culler",
        (CULL_IDLE_SECONDS * 2 + 30) * 1000,
        async () =>
          (await userPod(s, "bob")) === undefined && (await namedServerPod(s, "alice", "second")) === undefined,
      );
      const log = fs.readFileSync(need(s.hub, "hub").logFile, "utf8");
      assert.match(log, /Culling server bob /, "the culler says why");
      assert.match(log, /Culling server alice\/second /, "... for the named server too");
    });

    test(`a class of ${BURST_USERS} logs in at the same moment (a dot, capitals as typed, a digit first): every server answers, saves a notebook, runs a cell in its kernel over the proxy's websocket, and stops`, async () => {
      const s = need(stack, "stack");
      const report = await runBurst(
        s,
        burstNames(BURST_USERS).map((n) => ({ ...n, password: need(passwords[n.user], `${n.user}'s password`) })),
      );
      const lines = formatBurst(report);
      console.log(lines.map((l) => `# ${l}`).join("\n"));
      assert.deepEqual(failures(report), [], `${lines.join("\n")}\n--- notes:\n${s.notes(40)}`);
      for (const u of report.users) {
        // The notebook is on the export, in the user's own folder (KubeSpawner's slug for a dot).
        const folder = fs
          .readdirSync(path.join(s.exportDir, "notebooks"))
          // KubeSpawner's safe slug: unsafe characters as '-', an "x-" before a name that does not
          // start with a letter (02grace: x-02grace---<hash>), then a hash of the name.
          .filter(
            (f) => f === u.user || new RegExp(`^(x-)?${u.user.replace(/[^a-z0-9-]/g, "-")}---[0-9a-f]+$`).test(f),
          );
        assert.equal(folder.length, 1, `${u.user}'s one folder: ${folder.join(", ")}`);
        const saved = JSON.parse(
          fs.readFileSync(path.join(s.exportDir, "notebooks", folder[0], "burst.ipynb"), "utf8"),
        ) as { cells: { source: string | string[] }[] };
        // nbformat writes a cell's source as a list of lines.
        const source = saved.cells[0].source;
        assert.match(Array.isArray(source) ? source.join("") : source, /JUPYTERHUB_USER/);
      }
      // KubeSpawner created and deleted one pod per user, no more.
      assert.equal(report.hubRequests.get("create pods"), BURST_USERS);
      assert.equal(report.hubRequests.get("delete pods"), BURST_USERS);
    });

    // ---- The switch to OpenID Connect (issue 14): the same stack, re-configured by `pulumi up`. ----

    /** What alice's OIDC session leaves for the steps after the sign-in. */
    const oidcRun: { session?: Awaited<ReturnType<typeof signInWithProvider>>; switched?: boolean } = {};
    const oidcArgs = (username: string): OidcBrowserArgs => ({
      hubUrl: `${need(stack, "stack").proxyUrl}/`,
      loginService: OIDC.loginService,
      username,
      password: OIDC.users[username].password,
      screenshotDir: OIDC.screenshots,
      profile: JOURNEY_PROFILES.small.slug,
    });

    test("the operator switches the running hub from LDAP to OpenID Connect (Ory Hydra) with pulumi up: the hub runs GenericOAuthenticator, with the client secret and JUPYTERHUB_CRYPT_KEY from its Secret", async () => {
      const s = need(stack, "stack");
      const t0 = Date.now();
      // alice's server stopped, so that she starts it again after signing in the new way.
      if (await userPod(s, "alice")) await stopServer(s, need(alice, "alice's session"), "alice");
      provider = await OidcProvider.start(ensureToolchain(), path.join(tmp, "oidc"), OIDC.users);
      const client = await provider.registerClient(`${s.proxyUrl}/hub/oauth_callback`);
      const started = (Date.now() - t0) / 1000;
      const { upSeconds, hubSeconds } = await s.switchToOidc({
        issuer: provider.issuer,
        ...client,
        loginService: OIDC.loginService,
        adminGroup: OIDC.adminGroup,
        usernameClaim: OIDC.usernameClaim,
        stripDomain: OIDC.stripDomain,
        adminUser: OIDC.adminUser,
      });
      console.log(
        `# OIDC: Hydra up and the hub registered in ${started.toFixed(1)}s; pulumi up (LDAP to OIDC) ${upSeconds.toFixed(1)}s; hub (discovery at start) ${hubSeconds.toFixed(1)}s`,
      );
      const cluster = need(s.cluster, "cluster");
      const configMaps = cluster.list("configmaps", HUB_NS).map((c) => JSON.stringify(c.data ?? {}));
      const hubConfig = configMaps.find((d) => d.includes("jupyterhub_config.py"));
      assert.match(need(hubConfig, "the hub's ConfigMap"), /authenticator_class = \\"generic-oauth\\"/);
      assert.match(need(hubConfig, "the hub's ConfigMap"), /username_claim = _username_without_domain/);
      assert.ok(
        configMaps.every((d) => !d.includes(client.clientSecret)),
        "no ConfigMap holds the client secret",
      );
      const secret = cluster.list("secrets", HUB_NS).find((x) => x.metadata.name === "hub");
      const keys = Object.keys((secret?.data as Record<string, string> | undefined) ?? {});
      assert.ok(keys.includes("oauth-client-secret") && keys.includes("crypt-key"), keys.join(", "));
      const log = fs.readFileSync(need(s.hub, "hub").logFile, "utf8");
      assert.match(log, /GenericOAuthenticator/, "the hub logs the authenticator it runs");
      assert.ok(!log.includes(client.clientSecret), "the hub's log does not show the client secret");
      oidcRun.switched = true;
    });

    test("in Chromium: alice presses \"Sign in with University\", signs in on the provider's page, starts her server and lands in JupyterLab through the proxy; her e-mail claim without the university's domain is her LDAP name: her folder kept her LDAP-era notebook, and a new one lands there too", async () => {
      assert.ok(oidcRun.switched, "the hub was switched to OIDC");
      const s = need(stack, "stack");
      const t0 = Date.now();
      const session = await signInWithProvider(oidcArgs("alice"), "alice");
      oidcRun.session = session;
      const listed = await startServerAndOpenLab(session, oidcArgs("alice"), "alice");
      console.log(`# OIDC: alice from the hub's login page to JupyterLab: ${((Date.now() - t0) / 1000).toFixed(1)}s`);
      assert.deepEqual(need(provider, "provider").signIns, ["alice"], "she signed in at the provider");
      assert.ok(listed.includes("journey.ipynb"), `JupyterLab lists her LDAP-era notebook: ${listed.join(", ")}`);
      assert.equal(await saveNotebookFromLab(session, "alice", "oidc.ipynb", "saved after the switch to OIDC"), 201);
      const folder = path.join(s.exportDir, "notebooks", "alice");
      assert.match(fs.readFileSync(path.join(folder, "oidc.ipynb"), "utf8"), /saved after the switch to OIDC/);
      assert.match(fs.readFileSync(path.join(folder, "journey.ipynb"), "utf8"), /saved by the e2e journey/);
      assert.deepEqual(session.blocked, [], "the browser tried no address off loopback");
    });

    test("alice, in the provider's admin group (adminUsers no longer names her), reaches the admin page", async () => {
      const session = need(oidcRun.session, "alice's OIDC session");
      const page = session.page;
      const r = await page.goto(new URL("hub/admin", oidcArgs("alice").hubUrl).href);
      assert.equal(r?.status(), 200);
      await page.locator("#react-admin-hook").waitFor({ state: "attached" });
      await session.shoot("admin-page");
    });

    test("logging out of the hub ends the session: the hub sends her back to its login page", async () => {
      const session = need(oidcRun.session, "alice's OIDC session");
      const page = session.page;
      const hubUrl = oidcArgs("alice").hubUrl;
      try {
        await page.goto(new URL("hub/logout", hubUrl).href);
        await page.goto(new URL("hub/home", hubUrl).href);
        assert.equal(new URL(page.url()).pathname, "/hub/login", `after logout, /hub/home went to ${page.url()}`);
        await page.getByRole("button", { name: `Sign in with ${OIDC.loginService}` }).waitFor({ state: "visible" });
        await session.shoot("logged-out");
      } finally {
        await session.close();
        oidcRun.session = undefined;
      }
    });

    test("mallory, whom the provider knows but whose groups claim has none of the allowed groups, is refused by the hub with a clear page", async () => {
      assert.ok(oidcRun.switched, "the hub was switched to OIDC");
      const session = await signInWithProvider(oidcArgs("mallory"), "mallory");
      try {
        const page = session.page;
        await page.getByText("you are not currently authorized to use this hub").waitFor({ state: "visible" });
        await session.shoot("refused");
        const home = await page.goto(new URL("hub/home", oidcArgs("mallory").hubUrl).href);
        assert.equal(
          new URL(page.url()).pathname,
          "/hub/login",
          `no session: /hub/home went to ${page.url()} (${home?.status()})`,
        );
        assert.equal(await userPod(need(stack, "stack"), "mallory"), undefined, "no pod for her");
        console.log(`# OIDC screenshots: ${OIDC.screenshots}`);
      } finally {
        await session.close();
      }
    });

    test("names users type: JDoe signs in, her e-mail claim Jane.Doe@Uni.Example.edu (capitals, a dot, the domain); the hub makes her jane.doe, an admin because adminUsers names her Jane.Doe; her notebook lands in the folder KubeSpawner names for her, which a quota override for Jane.Doe and her own allusers view name too", async () => {
      assert.ok(oidcRun.switched, "the hub was switched to OIDC");
      const s = need(stack, "stack");
      const hubName = "jane.doe";
      const t0 = Date.now();
      const session = await signInWithProvider(oidcArgs("JDoe"), "jdoe");
      try {
        // JupyterLab opens under /user/jane.doe/: the hub's name for her.
        await startServerAndOpenLab(session, oidcArgs("JDoe"), hubName);
        console.log(
          `# OIDC names: JDoe from the hub's login page to JupyterLab as ${hubName}: ${((Date.now() - t0) / 1000).toFixed(1)}s`,
        );
        const page = session.page;
        const admin = await page.goto(new URL("hub/admin", oidcArgs("JDoe").hubUrl).href);
        assert.equal(admin?.status(), 200, `adminUsers' ${OIDC.adminUser} is the hub user ${hubName}, an admin`);
        await page.locator("#react-admin-hook").waitFor({ state: "attached" });
        await session.shoot("admin-page");

        assert.equal(await saveNotebookFromLab(session, hubName, "names.ipynb", `saved as ${hubName}`), 201);
        // The folder a quota override for "Jane.Doe" goes to (the program's own mapping, which the
        // enforcer's ConfigMap is keyed by) is the folder the real hub's pod wrote to.
        const folder = quotaFolder(OIDC.adminUser);
        const saved = path.join(s.exportDir, "notebooks", folder, "names.ipynb");
        assert.match(fs.readFileSync(saved, "utf8"), new RegExp(`saved as ${hubName}`));
        const pod = need(await podOfUser(s, hubName), `${hubName}'s pod`);
        const home = notebookOf(pod).volumeMounts?.find((m) => m.mountPath === "/home/jovyan");
        assert.equal(home?.subPath, `notebooks/${folder}`, "KubeSpawner's subPath for her");
        // Her allusers view (an admin's) lists the export's folders, hers by the same name.
        const listing = await page.request.get(new URL(`/user/${hubName}/api/contents/allusers`, page.url()).href);
        assert.equal(listing.status(), 200);
        const folders = ((await listing.json()) as { content: { name: string }[] }).content.map((c) => c.name);
        assert.deepEqual(folders.sort(), fs.readdirSync(path.join(s.exportDir, "notebooks")).sort());
        assert.ok(folders.includes(folder) && folders.includes("alice"), folders.join(", "));
        assert.deepEqual(
          need(provider, "provider").signIns.slice(-1),
          ["JDoe"],
          "she signed in at the provider as JDoe",
        );
        assert.deepEqual(session.blocked, [], "the browser tried no address off loopback");
      } finally {
        await session.close();
      }
    });
  },
);
