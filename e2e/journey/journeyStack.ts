import * as fs from "node:fs";
import * as path from "node:path";
import { testLdapBaseDn, testLdapGroupDn } from "../../components/auth/testLdapDirectory";
import { KwokCluster } from "../lib/cluster";
import { PulumiEnv } from "../lib/pulumi";
import { applyLocalStorage, type LocalVolume, localStackVolumes } from "../lib/localStorage";
import { type LocalStackNames, localStackConfig } from "../lib/stackConfig";
import { writeNodePlugins } from "../lib/toolchain";
import { freeLoopbackPort } from "../../test/support/nginx";
import { startSlapd, type Slapd } from "../../test/support/slapd";
import { DeploymentProcess } from "./deploymentProcess";
import { crdName, gmpStandInCrds } from "./gmpStandIn";
import { KubeApi } from "./kubeApi";
import { GPU_GROUP_DN, gpuGroupLdif, gpuNode, JOURNEY_PROFILES, pathConfig } from "./journeyProfiles";
import { KubeletStandIn, loopbackAddresses } from "./kubeletStandIn";
import type { ConfigMap } from "@pulumi/pulumi/automation";
import type { Container, ImageStandIn } from "./podSpec";
import { images } from "../../versions/images";

const P = "jupyterhub-nfs";
export const HUB_NS = "journey-hub";
export const NFS_NS = "journey-nfs";
export const STAND_IN_NODE = "kubelet-stand-in";
/** A second stand-in, whose Node looks like a GKE GPU node to the scheduler (journeyProfiles.ts). */
export const GPU_STAND_IN_NODE = "kubelet-stand-in-gpu";
const stackNames: LocalStackNames = {
  hubNamespace: HUB_NS,
  nfsNamespace: NFS_NS,
  storageClass: "journey-local",
  diskName: "notebook-disk",
  retainDisk: false,
};

/** Idle servers are culled after this long (short, so the culler's work is seen in the test). */
export const CULL_IDLE_SECONDS = 90;
/**
 * Where users' servers open: a JupyterLab workspace of its own name, so that landing there shows
 * the setting at work (no server opens there by itself) while the page stays JupyterLab.
 */
export const DEFAULT_URL = "/lab/workspaces/journey";
/** Each user's named servers (besides the default one): one, so that a second is over the limit. */
export const NAMED_SERVERS_PER_USER = 1;

/**
 * What the journey's stack adds to every user's server (userEnvironment, userVolumes,
 * userPostStart) and to the hub's config (hubExtraConfig), and the objects the operator made for
 * them beforehand: a Secret with the course's token and a claim with the course's datasets.
 */
export const COURSE = {
  name: "Journey {101}: data science",
  secret: { name: "course-secrets", key: "token" },
  datasets: { claim: "course-datasets", mountPath: "/srv/datasets", readme: "Course datasets of the journey\n" },
  /** Written by the postStart hook into the user's folder. */
  postStartFile: ".journey-poststart",
  /** The hub's login page shows it (JupyterHub's announcement_login template variable). */
  announcement: "Welcome to the journey's course hub",
} as const;

/** hubExtraConfig entries as `pulumi config set --path` takes them. */
function snippetConfig(snippets: { name: string; python: string }[]): ConfigMap {
  return Object.fromEntries(
    snippets.flatMap((x, i) => [
      [`${P}:hubExtraConfig[${i}].name`, { value: x.name }],
      [`${P}:hubExtraConfig[${i}].python`, { value: x.python }],
    ]),
  );
}

/**
 * The snippets: listed out of order (they run in name order: the later announcement wins), and,
 * for the first deployment, one that lets users removed from the allowed list back in without
 * naming the setting in plain sight (the program cannot see it; the hub must refuse to start).
 */
export const SNIPPETS = {
  good: [
    {
      name: "20-announcement",
      python: `c.JupyterHub.template_vars = {"announcement_login": ${JSON.stringify(COURSE.announcement)}}\n`,
    },
    {
      name: "10-announcement",
      python: 'c.JupyterHub.template_vars = {"announcement_login": "overridden by 20-announcement"}\n',
    },
  ],
  hidden: { name: "30-existing-users", python: "setattr(c.Authenticator, 'allow_existing_' + 'users', True)\n" },
  plainSight: { name: "30-existing-users", python: "c.Authenticator.allow_existing_users = True\n" },
};

export const kwokLeavesTheStandInAlone = [
  "apiVersion: config.kwok.x-k8s.io/v1alpha1",
  "kind: KwokctlConfiguration",
  "componentsPatches:",
  "- name: kwok-controller",
  "  extraArgs:",
  // After kwokctl's own --manage-all-nodes=true: the last one counts.
  "  - key: manage-all-nodes",
  '    value: "false"',
  // The nodes kwokctl makes carry kwok's annotation; the stand-in's does not.
  "  - key: manage-nodes-with-annotation-selector",
  "    value: kwok.x-k8s.io/node=fake",
  "",
].join("\n");

/**
 * The API server's audit policy: the requests of the hub namespace's service accounts (the hub's,
 * which KubeSpawner uses), one line each when the response is complete; nothing else, so the
 * control plane does no audit work for the stand-in, kwok or the controllers. The burst counts
 * KubeSpawner's requests per spawn from it (e2e/journey/burst.ts).
 */
const hubRequestsAudit = [
  "apiVersion: audit.k8s.io/v1",
  "kind: Policy",
  "omitStages: [RequestReceived, ResponseStarted]",
  "rules:",
  "- level: Metadata",
  `  userGroups: ["system:serviceaccounts:${HUB_NS}"]`,
  "- level: None",
  "",
].join("\n");

/** One request of the audit log (the fields the burst reads). */
export interface AuditedRequest {
  verb: string;
  user: { username: string };
  objectRef?: { resource?: string; subresource?: string };
  responseStatus?: { code?: number };
}

export interface JourneyImages {
  hub: ImageStandIn;
  singleuser: ImageStandIn;
  proxy: ImageStandIn;
  fileBrowser: ImageStandIn;
  /** The NFS server's image: not run (the kernel NFS server is stood in by a folder). */
  nfs: string;
}

/** Addresses the journey's programs listen on: loopback, free ports picked at start. */
export interface JourneyPorts {
  hub: number;
  proxy: number;
  proxyApi: number;
  /** The proxy's metrics port (monitoring is on in the journey's stack). */
  proxyMetrics: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Everything the journey runs: the control plane with the stack deployed by `pulumi up`, the
 * kubelet stand-in (pods of the hub namespace, the file browser's and the NFS server's), Debian's
 * slapd seeded from the test LDAP server's own Secret, the proxy and the hub as processes started
 * from their live Deployments. Each piece is stopped in stop(), whatever happened before.
 */
export class JourneyStack {
  cluster?: KwokCluster;
  pulumi?: PulumiEnv;
  api?: KubeApi;
  standIn?: KubeletStandIn;
  gpuStandIn?: KubeletStandIn;
  slapd?: Slapd;
  hub?: DeploymentProcess;
  proxy?: DeploymentProcess;
  ports?: JourneyPorts;
  outputs: Record<string, unknown> = {};
  private readonly volumes: { data: LocalVolume; hubDb: LocalVolume; datasets: LocalVolume };
  /** The course token in the Secret the operator made (random per run). */
  readonly courseToken = `journey-${Math.random().toString(36).slice(2, 12)}`;
  /** The hub started from the first deployment's config, which must refuse to start. */
  private refusedHub?: DeploymentProcess;
  /** The hub's ServiceAccount (`system:serviceaccount:<ns>:<name>` in the audit log), once the hub was started. */
  private hubServiceAccount?: string;
  private readonly log: string[] = [];

  constructor(
    private readonly bin: string,
    readonly tmp: string,
    private readonly images: JourneyImages,
    private readonly rootSquash: boolean,
    /** The test LDAP server's users (ldapTestUsers); the project's default when not given. */
    private readonly testUsers?: string[],
    /** The first deployment's hubExtraConfig (SNIPPETS.good when not given). */
    private readonly snippets?: { name: string; python: string }[],
  ) {
    this.volumes = {
      ...localStackVolumes(stackNames, "journey", tmp),
      // The operator's own claim of course datasets, in the hub namespace, on a folder here.
      datasets: {
        name: "journey-course-datasets",
        size: "1Gi",
        claimNamespace: HUB_NS,
        claimName: COURSE.datasets.claim,
        dir: path.join(tmp, "disk-datasets"),
      },
    };
  }

  note(line: string): void {
    const l = `${new Date().toISOString().slice(11, 23)} ${line}`;
    this.log.push(l);
    if (process.env.JOURNEY_VERBOSE) console.log(`# ${l}`);
  }

  /** The stand-in's and the test's notes so far (printed when a step fails). */
  notes(last = 60): string {
    return this.log.slice(-last).join("\n");
  }

  /** The folder that stands in for the NFS export: what the NFS server pod exports, its data disk. */
  get exportDir(): string {
    return this.volumes.data.dir;
  }

  /** Control plane up, stack deployed. */
  async deploy(): Promise<void> {
    // kwokctl's binary runtime has kwok manage every node; here every node but the stand-in's, so
    // that the kubelet stand-in alone writes the status of the pods on its node.
    const cluster = new KwokCluster(
      this.bin,
      this.tmp,
      `jhnfs-journey-${process.pid}`,
      kwokLeavesTheStandInAlone,
      hubRequestsAudit,
    );
    this.cluster = cluster;
    cluster.start();
    applyLocalStorage(cluster, stackNames, [this.volumes.data, this.volumes.hubDb, this.volumes.datasets]);
    // GMP's PodMonitoring and Rules kinds, as stand-ins (gmpStandIn.ts): the stack has monitoring on.
    for (const crd of gmpStandInCrds()) cluster.apply(crd);
    cluster.kubectl(["wait", "--for=condition=Established", "--timeout=60s", ...gmpStandInCrds().map(crdName)]);
    fs.mkdirSync(this.volumes.datasets.dir, { recursive: true });
    fs.writeFileSync(path.join(this.volumes.datasets.dir, "README.txt"), COURSE.datasets.readme);
    const pluginDir = writeNodePlugins(path.join(this.tmp, "plugins"));
    this.pulumi = new PulumiEnv({
      bin: this.bin,
      pluginDir,
      tmp: this.tmp,
      kubeconfig: cluster.kubeconfig,
      stackName: "journey",
    });
    const base = localStackConfig(stackNames);
    // Admission by LDAP group (the test directory's group, and the journey's GPU group), not by
    // name: the outsider is in the directory but in no group. alice is an admin. The profiles are
    // set as a user sets a list of objects, with --path.
    const config = Object.fromEntries(Object.entries(base).filter(([k]) => !k.startsWith(`${P}:allowedUsers`)));
    await this.pulumi.createStack({
      ...config,
      [`${P}:allowedGroups[0]`]: { value: testLdapGroupDn },
      [`${P}:allowedGroups[1]`]: { value: GPU_GROUP_DN },
      ...pathConfig(`${P}:profiles`, Object.values(JOURNEY_PROFILES)),
      [`${P}:adminUsers[0]`]: { value: "alice" },
      [`${P}:cullIdleSeconds`]: { value: String(CULL_IDLE_SECONDS) },
      // The culler runs with these (it refuses options it does not know, and then culls nothing);
      // no server here lives for an hour.
      [`${P}:cullMaxAgeSeconds`]: { value: "3600" },
      [`${P}:cullConcurrency`]: { value: "2" },
      // A course: shared/ read-only for users, read-write for alice, who also sees every folder.
      [`${P}:sharedFolder`]: { value: "true" },
      [`${P}:adminAllUsersFolder`]: { value: "true" },
      [`${P}:namedServersPerUser`]: { value: String(NAMED_SERVERS_PER_USER) },
      // User pods carry the user PriorityClass (e2e/capacity.test.ts shows what it is for).
      [`${P}:userPriorityClasses`]: { value: "true" },
      [`${P}:userDefaultUrl`]: { value: DEFAULT_URL },
      // The burst starts a class of servers at once on this machine's cores (a cluster gives each
      // its node's): with 60 s the hub gave up on servers still importing JupyterLab when the
      // machine was shared (burst.ts).
      [`${P}:userStartTimeoutSeconds`]: { value: "300" },
      [`${P}:userHttpTimeoutSeconds`]: { value: "240" },
      // The hub's metrics token, PodMonitorings and Rules (the journey scrapes as GMP's collector would).
      [`${P}:monitoring`]: { value: "true" },
      // Users reach the proxy on loopback here, not through a Service.
      [`${P}:proxyServiceType`]: { value: "ClusterIP" },
      ...Object.fromEntries((this.testUsers ?? []).map((u, i) => [`${P}:ldapTestUsers[${i}]`, { value: u }])),
      // Every user's server: a literal variable and one from the operator's Secret, the course's
      // datasets read-only, and a postStart command that leaves a file in the user's folder.
      [`${P}:userEnvironment[0].name`]: { value: "COURSE_NAME" },
      [`${P}:userEnvironment[0].value`]: { value: COURSE.name },
      [`${P}:userEnvironment[1].name`]: { value: "COURSE_TOKEN" },
      [`${P}:userEnvironment[1].secretName`]: { value: COURSE.secret.name },
      [`${P}:userEnvironment[1].secretKey`]: { value: COURSE.secret.key },
      [`${P}:userVolumes[0].name`]: { value: "datasets" },
      [`${P}:userVolumes[0].mountPath`]: { value: COURSE.datasets.mountPath },
      [`${P}:userVolumes[0].claimName`]: { value: COURSE.datasets.claim },
      [`${P}:userPostStart[0]`]: { value: "sh" },
      [`${P}:userPostStart[1]`]: { value: "-c" },
      [`${P}:userPostStart[2]`]: {
        value: `{ echo "$COURSE_NAME"; cat ${COURSE.datasets.mountPath}/README.txt; } > ~/${COURSE.postStartFile}`,
      },
      ...snippetConfig(this.snippets ?? SNIPPETS.good),
    });
    await this.up();
    // What the operator made in the hub namespace for the stack: the course's Secret and claim.
    cluster.apply({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: COURSE.secret.name, namespace: HUB_NS },
      stringData: { [COURSE.secret.key]: this.courseToken },
    });
    cluster.apply({
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: { name: COURSE.datasets.claim, namespace: HUB_NS },
      spec: {
        accessModes: ["ReadWriteOnce"],
        storageClassName: stackNames.storageClass,
        volumeName: this.volumes.datasets.name,
        resources: { requests: { storage: this.volumes.datasets.size } },
      },
    });
  }

  private async up(): Promise<void> {
    const up = await this.need(this.pulumi, "pulumi").run("up");
    if (!up.ok) throw new Error(`pulumi up failed:\n${(up.error ?? "").split("\n").slice(-30).join("\n")}`);
    this.outputs = await this.need(this.pulumi, "pulumi").outputs();
  }

  /** The stack's hubExtraConfig replaced by `snippets`, then `pulumi preview` (`up`: `pulumi up`). */
  async withSnippets(snippets: { name: string; python: string }[], op: "preview" | "up") {
    const pulumi = this.need(this.pulumi, "pulumi");
    await pulumi.replaceConfig(`${P}:hubExtraConfig`, snippetConfig(snippets));
    if (op === "up") return this.up();
    return pulumi.run("preview");
  }

  /**
   * The running hub switched from LDAP to OpenID Connect with `pulumi up`, as an operator does it:
   * the LDAP keys removed (the in-cluster test LDAP server goes with them), the provider's keys set,
   * the client secret as a secret. The groups keep their names (the provider's groups claim carries
   * the directory's group DNs, as an IdP federating that directory does), so allowedGroups and the
   * profiles stay; admins come from the admin group, and adminUsers names one user as the provider
   * names her (`usernameClaim` without `stripDomain`), with capitals. The hub is then started
   * again from its new Deployment, as the kubelet would roll it. Resolves with the seconds of the
   * `pulumi up` and of the hub's start.
   */
  async switchToOidc(o: {
    issuer: string;
    clientId: string;
    clientSecret: string;
    loginService: string;
    adminGroup: string;
    usernameClaim: string;
    stripDomain: string;
    adminUser: string;
  }): Promise<{ upSeconds: number; hubSeconds: number }> {
    const pulumi = this.need(this.pulumi, "pulumi");
    await pulumi.changeConfig([`${P}:ldapTestServer`, `${P}:ldapTestUsers`, `${P}:adminUsers`], {
      [`${P}:oauthUsernameClaim`]: { value: o.usernameClaim },
      [`${P}:oauthStripDomain`]: { value: o.stripDomain },
      [`${P}:adminUsers[0]`]: { value: o.adminUser },
      [`${P}:authenticator`]: { value: "oidc" },
      [`${P}:oauthIssuerUrl`]: { value: o.issuer },
      [`${P}:oauthClientId`]: { value: o.clientId },
      [`${P}:oauthClientSecret`]: { value: o.clientSecret, secret: true },
      [`${P}:oauthCallbackUrl`]: { value: `${this.proxyUrl}/hub/oauth_callback` },
      [`${P}:oauthLoginService`]: { value: o.loginService },
      [`${P}:oauthEnableAuthState`]: { value: "true" },
      [`${P}:adminGroups[0]`]: { value: o.adminGroup },
    });
    // The hub's Deployment rolls (a new ConfigMap, new Secret keys), and `pulumi up` waits for its
    // new pod to be ready. The hub itself runs as a process started from the Deployment (below), so
    // that pod goes to kwok's node, which reports it running as at the first `up`: the stand-ins'
    // nodes are cordoned meanwhile (they would run a second hub on the hub's database).
    const cluster = this.need(this.cluster, "cluster");
    const standIns = [STAND_IN_NODE, GPU_STAND_IN_NODE];
    const kwokNodes = cluster
      .list("nodes")
      .map((n) => n.metadata.name)
      .filter((n) => !standIns.includes(n));
    const schedule = (cordon: string[], uncordon: string[]) => {
      for (const n of cordon) cluster.kubectl(["cordon", n]);
      for (const n of uncordon) cluster.kubectl(["uncordon", n]);
    };
    const t0 = Date.now();
    schedule(standIns, kwokNodes);
    try {
      await this.up();
    } finally {
      schedule(kwokNodes, standIns);
    }
    const upSeconds = (Date.now() - t0) / 1000;
    await this.need(this.hub, "hub").stop();
    this.hub = await this.hubProcess();
    return { upSeconds, hubSeconds: await this.restartHub(false) };
  }

  /**
   * The kubelet stand-in registers its node; kwok's node is cordoned so that every new pod lands
   * on the stand-in's; the file browser's and the NFS server's pods are deleted, so that their
   * Deployments make new ones, which the stand-in runs.
   */
  async startStandIn(): Promise<void> {
    const cluster = this.need(this.cluster, "cluster");
    this.api ??= new KubeApi(cluster.kubeconfig);
    const nfsService = cluster.list("services", NFS_NS).find((s) => s.spec?.clusterIP === this.outputs.nfsServerIp);
    if (!nfsService)
      throw new Error(`no Service in ${NFS_NS} has the NFS server's address ${String(this.outputs.nfsServerIp)}`);
    const hubPort = (await this.ensurePorts()).hub;
    const standIn = (nodeName: string, node?: typeof gpuNode) =>
      new KubeletStandIn({
        api: this.need(this.api, "api"),
        nodeName,
        node,
        addresses,
        workDir: path.join(this.tmp, "pods", nodeName),
        image: (c) => this.imageFor(c),
        nfsExport: (server, exportPath) => {
          // The NFS volume must point at the NFS server's Service: then it is that server's export.
          if (server !== this.outputs.nfsServerIp)
            throw new Error(`NFS server ${server} is not the stack's NFS Service`);
          return path.join(this.exportDir, exportPath);
        },
        rootSquash: this.rootSquash,
        // A user's server reaches the hub's API (hub_connect_url) at 127.0.0.1:<hub port> in its pod.
        egressPorts: () => [hubPort],
        log: (l) => this.note(l),
      });
    const addresses = loopbackAddresses();
    this.standIn = standIn(STAND_IN_NODE);
    await this.standIn.start();
    for (const node of cluster.list("nodes")) {
      if (node.metadata.name !== STAND_IN_NODE) cluster.kubectl(["cordon", node.metadata.name]);
    }
    await this.waitForNode(STAND_IN_NODE, []);
    // After the cordon: the GPU node stays schedulable, for the pods that tolerate its taint.
    this.gpuStandIn = standIn(GPU_STAND_IN_NODE, gpuNode);
    await this.gpuStandIn.start();
    await this.waitForNode(GPU_STAND_IN_NODE, gpuNode.taints ?? []);
    for (const [ns, app] of [
      [NFS_NS, "nfs-server"],
      [HUB_NS, "file-browser"],
    ]) {
      cluster.kubectl(["delete", "pods", "-n", ns, "-l", `app.kubernetes.io/name=${app}`, "--wait=false"]);
      await this.waitFor(
        `the ${app} pod Ready on the stand-in`,
        120_000,
        async () => (await this.readyPod(ns, app)) !== undefined,
      );
    }
  }

  /** Waits until a stand-in's Node is Ready with exactly these taints (none: no cordon, no not-ready taint). */
  private async waitForNode(name: string, taints: { key: string }[]): Promise<void> {
    await this.waitFor(`the ${name} node Ready`, 60_000, async () => {
      const n = await this.api?.getOrUndefined(`/api/v1/nodes/${name}`);
      const ready = (n?.status?.conditions as { type: string; status: string }[] | undefined)?.find(
        (c) => c.type === "Ready",
      );
      const keys = ((n?.spec?.taints as { key: string }[] | undefined) ?? []).map((t) => t.key);
      return ready?.status === "True" && JSON.stringify(keys) === JSON.stringify(taints.map((t) => t.key));
    });
  }

  /** The loopback ports of the hub, the proxy and its API, picked on first use. */
  private async ensurePorts(): Promise<JourneyPorts> {
    this.ports ??= {
      hub: await freeLoopbackPort(),
      proxy: await freeLoopbackPort(),
      proxyApi: await freeLoopbackPort(),
      proxyMetrics: await freeLoopbackPort(),
    };
    return this.ports;
  }

  /** The Ready pod of a component on the stand-in's node, if any. */
  async readyPod(ns: string, app: string): Promise<{ name: string; ip: string } | undefined> {
    const list = await this.need(this.api, "api").request<{ items: import("../lib/cluster").KubeObject[] }>(
      "GET",
      `/api/v1/namespaces/${ns}/pods?labelSelector=${encodeURIComponent(`app.kubernetes.io/name=${app}`)}`,
    );
    for (const p of list.items) {
      const conditions = (p.status?.conditions ?? []) as { type: string; status: string }[];
      const ready = conditions.some((c) => c.type === "Ready" && c.status === "True");
      if (ready && !p.metadata.deletionTimestamp && p.spec?.nodeName === STAND_IN_NODE) {
        return { name: p.metadata.name, ip: String(p.status?.podIP) };
      }
    }
    return undefined;
  }

  /**
   * The stand-in for a container's image. The NFS server's own program (the image's ENTRYPOINT,
   * run_nfs.sh and the kernel's nfsd) is not run: a local folder is the export. A container of
   * that image with a command of its own (the init container making the notebooks folder) runs
   * with this machine's shell and coreutils.
   */
  private imageFor(c: Container): ImageStandIn | "not-run" {
    const image = c.image;
    if (image === this.images.nfs) {
      return c.command ? { path: [], programFolders: [], entrypoint: [], cmd: [], uid: 0, gid: 0, env: {} } : "not-run";
    }
    // By repository (any tag of the default images' repositories: the e2e bumps tags).
    const repoOf = (reference: string): string => reference.replace(/[:@][^/]*$/, "");
    const byRepo: [string, ImageStandIn][] = [
      [repoOf(images.singleuser.reference), this.images.singleuser],
      [repoOf(images.hub.reference), this.images.hub],
      [repoOf(images.proxy.reference), this.images.proxy],
      [repoOf(images.fileBrowser.reference), this.images.fileBrowser],
    ];
    const found = byRepo.find(([repo]) => repo === repoOf(image));
    if (!found) throw new Error(`no stand-in for image ${image}`);
    return found[1];
  }

  /** Debian's slapd, seeded with the LDIF of the stack's own test LDAP server (its Secret). */
  async startLdap(): Promise<void> {
    const secrets = this.need(this.cluster, "cluster").list("secrets", HUB_NS);
    const seed = secrets.find((s) => s.data?.["seed.ldif"] !== undefined)?.data?.["seed.ldif"];
    if (!seed) throw new Error("no Secret in the hub namespace carries seed.ldif");
    const ldif = Buffer.from(seed, "base64").toString("utf8");
    // The harness makes the suffix entry itself.
    const entries = ldif.split(/\n\n+/).filter((e) => !e.startsWith(`dn: ${testLdapBaseDn}\n`));
    // The journey's GPU group, which the stack's test directory does not have (journeyProfiles.ts).
    entries.push(gpuGroupLdif().trim());
    this.slapd = await startSlapd({ ldif: entries.join("\n\n"), suffix: testLdapBaseDn });
  }

  async startProxy(): Promise<void> {
    const ports = this.need(this.ports, "ports");
    this.proxy = new DeploymentProcess({
      api: this.need(this.api, "api"),
      namespace: HUB_NS,
      deployment: "proxy",
      container: "proxy",
      image: this.images.proxy,
      workDir: path.join(this.tmp, "proxy"),
      overrideCommand: (argv) =>
        replaceArgs(argv, {
          "--ip": "127.0.0.1",
          "--port": String(ports.proxy),
          "--api-ip": "127.0.0.1",
          "--api-port": String(ports.proxyApi),
          "--default-target": `http://127.0.0.1:${ports.hub}`,
          "--error-target": `http://127.0.0.1:${ports.hub}/hub/error`,
          "--metrics-ip": "127.0.0.1",
          "--metrics-port": String(ports.proxyMetrics),
        }),
    });
    fs.mkdirSync(path.join(this.tmp, "proxy"), { recursive: true });
    await this.proxy.start();
    await this.waitForHttp(`http://127.0.0.1:${ports.proxy}/_chp_healthz`, 30_000);
  }

  /**
   * The hub: the live Deployment's command, with `--config` pointed at a file that loads the
   * live ConfigMap's jupyterhub_config.py first and then sets the loopback addresses; as the
   * hub's ServiceAccount, with a token from the TokenRequest API where the kubelet would mount it.
   * Resolves with the seconds from process start to /hub/health answering.
   */
  async startHub(): Promise<number> {
    this.hub = await this.hubProcess();
    return this.restartHub(false);
  }

  /**
   * The hub from the live Deployment, for a config it must refuse (see SNIPPETS): resolves with its
   * log once the process has ended, and throws if it is still up after `timeoutMs`.
   */
  async hubRefusesToStart(timeoutMs = 90_000): Promise<string> {
    const hub = await this.hubProcess();
    this.refusedHub = hub;
    await hub.start();
    await this.waitFor("the hub to refuse to start", timeoutMs, () => !hub.running);
    return fs.readFileSync(hub.logFile, "utf8");
  }

  /** The hub's process as the live Deployment runs it (see startHub). */
  private async hubProcess(): Promise<DeploymentProcess> {
    const api = (this.api ??= new KubeApi(this.need(this.cluster, "cluster").kubeconfig));
    const ports = await this.ensurePorts();
    const slapd = this.need(this.slapd, "slapd");
    const dir = path.join(this.tmp, "hub");
    const saDir = path.join(dir, "serviceaccount");
    const overrideDir = path.join(dir, "journey-config");
    for (const d of [saDir, overrideDir]) fs.mkdirSync(d, { recursive: true });
    const deployment = await api.request("GET", `/apis/apps/v1/namespaces/${HUB_NS}/deployments/hub`);
    const sa = String((deployment.spec?.template as { spec: { serviceAccountName?: string } }).spec.serviceAccountName);
    this.hubServiceAccount = `system:serviceaccount:${HUB_NS}:${sa}`;
    const token = await api.request<{ status: { token: string } }>(
      "POST",
      `/api/v1/namespaces/${HUB_NS}/serviceaccounts/${sa}/token`,
      { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds: 3600 } },
    );
    fs.writeFileSync(path.join(saDir, "token"), token.status.token);
    fs.writeFileSync(path.join(saDir, "namespace"), HUB_NS);
    fs.writeFileSync(path.join(saDir, "ca.crt"), this.need(api.caPem, "the cluster's CA certificate"));
    const serverPort = api.server.port;
    const configInImage = "/usr/local/etc/jupyterhub/jupyterhub_config.py";
    const overrideInImage = "/usr/local/etc/jupyterhub-journey/journey_config.py";
    fs.writeFileSync(
      path.join(overrideDir, "journey_config.py"),
      renderJourneyOverrides(configInImage, {
        hubConnectUrl: this.hubConnectUrl,
        hubPort: ports.hub,
        proxyApiPort: ports.proxyApi,
        ldapHost: slapd.host,
        ldapPort: slapd.port,
      }),
    );
    return new DeploymentProcess({
      api,
      namespace: HUB_NS,
      deployment: "hub",
      container: "hub",
      image: this.images.hub,
      workDir: dir,
      overrideCommand: (argv) => {
        const i = argv.indexOf("--config");
        if (i < 0 || argv[i + 1] !== configInImage)
          throw new Error(`the hub's command has no --config ${configInImage}: ${argv.join(" ")}`);
        return [...argv.slice(0, i + 1), overrideInImage, ...argv.slice(i + 2)];
      },
      // What the kubelet gives a pod with a service-account token: the API server's address (here
      // the loopback API server, not the kubernetes Service's simulated IP) and the token files.
      extraEnv: { KUBERNETES_SERVICE_HOST: "127.0.0.1", KUBERNETES_SERVICE_PORT: serverPort },
      extraMounts: [
        { source: saDir, target: "/var/run/secrets/kubernetes.io/serviceaccount", readOnly: true },
        { source: overrideDir, target: path.dirname(overrideInImage), readOnly: true },
      ],
    });
  }

  /** (Re)starts the hub process; resolves with the seconds until /hub/health answered. */
  async restartHub(stopFirst = true, signal: "SIGTERM" | "SIGKILL" = "SIGTERM"): Promise<number> {
    const hub = this.need(this.hub, "hub");
    if (stopFirst) await hub.stop(signal);
    const t0 = Date.now();
    await hub.start();
    await this.waitForHttp(`http://127.0.0.1:${this.need(this.ports, "ports").hub}/hub/health`, 120_000, () =>
      hub.running ? undefined : `the hub exited; its log:\n${tail(hub.logFile, 40)}`,
    );
    return (Date.now() - t0) / 1000;
  }

  async restartProxy(): Promise<void> {
    const proxy = this.need(this.proxy, "proxy");
    await proxy.stop();
    await proxy.start();
    await this.waitForHttp(`http://127.0.0.1:${this.need(this.ports, "ports").proxy}/_chp_healthz`, 30_000);
  }

  /** Where the users' servers reach the hub (hub_connect_url, see renderJourneyOverrides). */
  get hubConnectUrl(): string {
    return `http://127.0.0.1:${this.need(this.ports, "ports").hub}`;
  }

  /** Where the audit log ends now: hubRequestsSince(mark) reads what comes after. */
  auditMark(): number {
    const log = this.need(this.cluster, "cluster").auditLog;
    return fs.existsSync(log) ? fs.statSync(log).size : 0;
  }

  /** The requests the hub's ServiceAccount made to the API server since auditMark() returned `mark`. */
  hubRequestsSince(mark: number): AuditedRequest[] {
    const sa = this.need(this.hubServiceAccount, "the hub's ServiceAccount");
    const text = fs.readFileSync(this.need(this.cluster, "cluster").auditLog).subarray(mark).toString("utf8");
    return text
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l) as AuditedRequest)
      .filter((e) => e.user.username === sa);
  }

  get proxyUrl(): string {
    return `http://127.0.0.1:${this.need(this.ports, "ports").proxy}`;
  }

  async waitFor(what: string, timeoutMs: number, check: () => Promise<boolean> | boolean): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await check()) return;
      await sleep(250);
    }
    throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}\n--- notes:\n${this.notes(30)}`);
  }

  async waitForHttp(url: string, timeoutMs: number, gone?: () => string | undefined): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    while (Date.now() < deadline) {
      const why = gone?.();
      if (why) throw new Error(why);
      try {
        const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
        if (r.ok) return;
        last = `${r.status}`;
      } catch (err: unknown) {
        last = String(err);
      }
      await sleep(200);
    }
    throw new Error(`${url} did not answer in ${timeoutMs / 1000}s (${last})`);
  }

  need<T>(v: T | undefined, what: string): T {
    if (v === undefined) throw new Error(`${what} is not available (an earlier step failed)`);
    return v;
  }

  /** Every process the journey started (for the leak check after stop()). */
  get startedPids(): number[] {
    return [
      ...(this.standIn?.startedPids ?? []),
      ...(this.gpuStandIn?.startedPids ?? []),
      ...(this.refusedHub?.startedPids ?? []),
      ...(this.hub?.startedPids ?? []),
      ...(this.proxy?.startedPids ?? []),
    ];
  }

  /** Stops everything, in reverse order, collecting errors rather than stopping at the first. */
  async stop(): Promise<unknown[]> {
    const errors: unknown[] = [];
    const attempt = async (f: () => Promise<void> | void): Promise<void> => {
      try {
        await f();
      } catch (err: unknown) {
        errors.push(err);
      }
    };
    await attempt(() => this.hub?.stop());
    await attempt(() => this.refusedHub?.stop());
    await attempt(() => this.proxy?.stop());
    await attempt(() => this.standIn?.stop());
    await attempt(() => this.gpuStandIn?.stop());
    await attempt(() => this.slapd?.stop());
    await attempt(() => this.api?.close());
    await attempt(() => this.cluster?.stop());
    return errors;
  }
}

/** Replaces `--name=value` arguments (each must be there exactly once). */
export function replaceArgs(argv: string[], values: Record<string, string>): string[] {
  const out = [...argv];
  for (const [name, value] of Object.entries(values)) {
    const at = out.flatMap((a, i) => (a === name || a.startsWith(`${name}=`) ? [i] : []));
    if (at.length !== 1) throw new Error(`expected one ${name} in ${argv.join(" ")}`);
    out[at[0]] = `${name}=${value}`;
  }
  return out;
}

/**
 * The journey's second config file: ours first (traitlets' load_subconfig), then only the
 * addresses that differ on loopback. e2e/README.md lists each and why.
 */
export function renderJourneyOverrides(
  ours: string,
  a: { hubConnectUrl: string; hubPort: number; proxyApiPort: number; ldapHost: string; ldapPort: number },
): string {
  return [
    "# The end-to-end journey's overrides (e2e/journey/journeyStack.ts): addresses only.",
    "import os",
    "",
    "c = get_config()  # noqa: F821",
    `ours = ${JSON.stringify(ours)}`,
    "# load_subconfig skips a missing file silently: make that an error.",
    "if not os.path.exists(ours):",
    "    raise FileNotFoundError(ours)",
    "load_subconfig(ours)  # noqa: F821",
    "",
    "# The hub listens on a free loopback port (ours: 0.0.0.0:8081, the pod's own address).",
    'c.JupyterHub.hub_ip = "127.0.0.1"',
    `c.JupyterHub.hub_port = ${a.hubPort}`,
    "# User pods reach the hub at this address inside their pod (the stand-in forwards it to the hub);",
    "# ours is the hub Service's DNS name, which nothing resolves here.",
    `c.JupyterHub.hub_connect_url = ${JSON.stringify(a.hubConnectUrl)}`,
    "# The proxy's API on loopback (ours: the proxy-api Service's DNS name).",
    `c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:${a.proxyApiPort}"`,
    "# Debian's slapd on loopback (ours: the test LDAP Service's DNS name, port 389).",
    `c.LDAPAuthenticator.server_address = ${JSON.stringify(a.ldapHost)}`,
    `c.LDAPAuthenticator.server_port = ${a.ldapPort}`,
    "",
  ].join("\n");
}

function tail(file: string, lines: number): string {
  try {
    return fs.readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}
