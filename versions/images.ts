/**
 * One place for the versions of everything the program deploys by default, and of the programs the
 * tests run on this machine in place of those images.
 *
 * For each image: its default reference (the `Pulumi.yaml` default of `configKey`; a unit test
 * keeps the two equal), how a container of it starts when the pod spec sets no command (ENTRYPOINT,
 * CMD, user, working directory, as the Dockerfile at the tag says: the source is named next to
 * each), and what stands in for its programs locally: a hash-pinned Python lock in this folder, an
 * npm package at an exact version, or a Debian package.
 *
 * Bumping an image: change its reference here and in Pulumi.yaml (then regenerate the config
 * table in docs/configuration.md), re-read its Dockerfile at the new tag, and for the JupyterHub images regenerate
 * the locks with `bash scripts/lock-python.sh <z2jh tag> <z2jh checkout>`. test/versions.test.ts
 * fails until all of them agree.
 */

/** How a container of the image starts: Docker's rules, with the values its Dockerfile sets. */
export interface ImageProcess {
  /** ENTRYPOINT, exec form; [] when the image sets none. */
  entrypoint: string[];
  /** CMD, exec form; [] when there is none (setting ENTRYPOINT resets a CMD inherited from the base). */
  cmd: string[];
  /** USER, as a name and the numeric ids it resolves to in the image's /etc/passwd. */
  user: { name: string; uid: number; gid: number };
  /** WORKDIR ("/" when the Dockerfile sets none). */
  workingDir: string;
  /** Where these values come from: repository, tag (commit) and path. */
  source: string;
}

/** What runs on this machine in place of the image's programs. */
export type LocalPrograms =
  | {
      kind: "python";
      /** Hash-pinned lock in versions/, installed by scripts/setup.sh into its own venv. */
      lock: string;
      /** The pip-compile input it was made from: the image's requirements.txt at the tag. */
      requirementsIn: string;
      /** The Python the image runs (ours, for the locks and venvs: versions/.python-version). */
      imagePython: string;
      /** Versions of the programs that matter to us, as the image's requirements.txt pins them. */
      pins: Record<string, string>;
    }
  | {
      kind: "npm";
      package: string;
      version: string;
      /** Its direct dependencies as the image installs them (`npm ci` from the package's own lock). */
      dependencies: Record<string, string>;
    }
  | { kind: "debian"; package: string; why: string };

export interface ImageVersion {
  /** The Pulumi.yaml key whose default this is. */
  configKey: string;
  reference: string;
  /** How it starts without a command; undefined where the tests never run the image's process. */
  process?: ImageProcess;
  programs: LocalPrograms;
}

/** The z2jh release whose hub image and requirements we follow. */
export const z2jhVersion = "4.4.0";
const z2jh = `jupyterhub/zero-to-jupyterhub-k8s@${z2jhVersion} (5c5f5df751588a68a7781ead01d0f62e88e2e72f)`;

/** The Jupyter Docker Stacks weekly build our notebook image is (its date tag). */
export const dockerStacksTag = "2026-11-30";
/**
 * Where the notebook image's start-up is read: the newest docker-stacks commit that could be read
 * here (2026-08-08; the tag is a later build of main). The journey's stand-in for the image's
 * start.sh (e2e/journey/dockerStacksStart.sh) follows start.sh at this commit.
 */
export const dockerStacks = "jupyter/docker-stacks@8209386950497966c8a9aa446b9a84a5dd78eab5";

export const images = {
  hub: {
    configKey: "hubImage",
    reference: `quay.io/jupyterhub/k8s-hub:${z2jhVersion}`,
    // images/hub/Dockerfile: `adduser --uid 1000 jovyan` gives jovyan its own group, gid 1000.
    process: {
      entrypoint: ["tini", "--"],
      cmd: ["jupyterhub", "--config", "/usr/local/etc/jupyterhub/jupyterhub_config.py"],
      user: { name: "jovyan", uid: 1000, gid: 1000 },
      workingDir: "/srv/jupyterhub",
      source: `${z2jh} images/hub/Dockerfile`,
    },
    programs: {
      kind: "python",
      lock: "hub.lock",
      requirementsIn: "hub.in",
      imagePython: "3.12", // FROM python:3.12-slim-bookworm
      pins: {
        jupyterhub: "5.5.0",
        "jupyterhub-kubespawner": "7.0.0",
        "jupyterhub-ldapauthenticator": "2.0.2",
        "jupyterhub-idle-culler": "1.4.0",
        ldap3: "2.9.1",
        traitlets: "5.15.1",
      },
    },
  },
  proxy: {
    configKey: "proxyImage",
    // The newest release (5.3.0, 2026-07-08: unix sockets named http+unix; no security fix since
    // 5.2.0, which z2jh 4.4.0 ships).
    reference: "quay.io/jupyterhub/configurable-http-proxy:5.3.0",
    // The base image node:24-alpine3.23's CMD ["node"] is reset by the ENTRYPOINT. chp-docker-entrypoint
    // adds --api-ip=0.0.0.0 unless the arguments name --api-ip or --api-socket. USER 65534 is
    // Alpine's nobody (group nobody, 65534).
    process: {
      entrypoint: ["/srv/configurable-http-proxy/chp-docker-entrypoint"],
      cmd: [],
      user: { name: "65534", uid: 65534, gid: 65534 },
      workingDir: "/srv/configurable-http-proxy",
      source: "jupyterhub/configurable-http-proxy@5.3.0 (5651b9d7449aea6c6a390ecd81a9955146a2b05f) Dockerfile",
    },
    // package.json devDependency; the image runs it on Node 24, as we do (its engines: >= 20).
    // The dependencies are those package-lock.json of configurable-http-proxy 5.3.0 resolves.
    programs: {
      kind: "npm",
      package: "configurable-http-proxy",
      version: "5.3.0",
      dependencies: { commander: "15.0.0", "http-proxy-3": "1.23.3", "prom-client": "15.1.3", winston: "3.19.0" },
    },
  },
  singleuser: {
    configKey: "singleuserImage",
    // Jupyter Docker Stacks, rebuilt every week as its packages get fixes: a dated tag is the
    // weekly build of that day (their docs: pin a date before today). z2jh's k8s-singleuser-sample
    // 4.4.0 carried jupyter-server 2.19.0 and JupyterLab 4.5.8, below the fixes of critical and high
    // advisories (versions/advisories.ts); this tag's jupyter-server 2.21.1 and JupyterLab 4.6.6 are past them.
    reference: `quay.io/jupyter/minimal-notebook:${dockerStacksTag}`,
    // ENTRYPOINT `tini -g -- start.sh` (docker-stacks-foundation): as a non-root user start.sh runs
    // its hooks and execs its arguments. CMD start-notebook.py hands over to start-singleuser.py
    // (jupyterhub-singleuser) only when JUPYTERHUB_API_TOKEN is set; KubeSpawner.cmd
    // jupyterhub-singleuser replaces the CMD, so the hub's server starts whatever the environment.
    // NB_UID 1000 in NB_GID 100 ("users"): the ids our folders are made for.
    process: {
      entrypoint: ["tini", "-g", "--", "start.sh"],
      cmd: ["start-notebook.py"],
      user: { name: "jovyan", uid: 1000, gid: 100 },
      workingDir: "/home/jovyan",
      source: `${dockerStacks} images/docker-stacks-foundation/Dockerfile and images/base-notebook/Dockerfile`,
    },
    programs: {
      kind: "python",
      lock: "singleuser.lock",
      requirementsIn: "singleuser.in",
      imagePython: "3.13", // docker-stacks-foundation: ARG PYTHON_VERSION=3.13
      pins: {
        jupyterhub: "6.1.1",
        jupyterlab: "4.6.6",
        "jupyter-server": "2.21.1",
        notebook: "7.6.5",
        traitlets: "5.16.1",
      },
    },
  },
  nfs: {
    configKey: "nfsImage",
    // The image Kubernetes maintains for its own NFS tests, at its newest tag: test/images/volume/nfs/
    // VERSION is 1.6.0 at v1.36.1, and test/utils/image/manifest.go pins VolumeNFSServer at 1.6.0
    // (CentOS Stream 9 base, multi-arch). It replaces registry.k8s.io/volume-nfs:0.8 (the old
    // kubernetes/examples image), whose manifest format containerd 2 (GKE 1.33+) may refuse to pull.
    reference: "registry.k8s.io/e2e-test-images/volume/nfs:1.6.0",
    // run_nfs.sh exports each argument with rw,fsid=0,insecure,no_root_squash; the default CMD adds
    // the container's "/" to /exports, so the NFS server passes ["/exports"] alone. No USER: root.
    process: {
      entrypoint: ["/usr/local/bin/run_nfs.sh"],
      cmd: ["/exports", "/"],
      user: { name: "root", uid: 0, gid: 0 },
      workingDir: "/",
      source: "kubernetes/kubernetes@v1.36.1 test/images/volume/nfs/Dockerfile and run_nfs.sh",
    },
    programs: {
      kind: "debian",
      package: "nfs-kernel-server",
      why: "the kernel lab (e2e/kernelLab) runs run_nfs.sh's steps with Debian's NFS userland (the image's is CentOS Stream 9's) against a real kernel's nfsd; the journey exports a local folder",
    },
  },
  userQuotas: {
    configKey: "userQuotaImage",
    // The image of 2i2c's jupyterhub-home-nfs quota enforcer (its Dockerfile at 1.2.0: ubuntu:24.04
    // with python3, xfsprogs and tini; chartpress tags each release's image with the chart's
    // version). It carries what our sidecars need (python3 and xfs_quota) and is maintained for the
    // same job; the sidecars run our own script (components/storage/userQuotasScript.ts) with their
    // own command, never the image's. Not pulled here (no registry is reachable): the kernel lab runs
    // the script with Debian's python3 and xfsprogs.
    reference: "ghcr.io/2i2c-org/jupyterhub-home-nfs:1.2.0",
    programs: {
      kind: "debian",
      package: "xfsprogs",
      why: "the kernel lab runs the quota sidecars' script with Debian's python3 and xfs_quota (the image's are Ubuntu 24.04's) against a real kernel's XFS",
    },
  },
  fileBrowser: {
    configKey: "fileBrowserImage",
    // The stable line (1.30; the 1.27 line the default used to be is no longer built), newest patch
    // the image repository had when read (2026-07-15).
    reference: "docker.io/nginxinc/nginx-unprivileged:1.30.4-alpine",
    // stable/alpine/Dockerfile builds FROM the alpine-slim variant, which sets these; UID and GID
    // build arguments are 101 (user and group nginx).
    process: {
      entrypoint: ["/docker-entrypoint.sh"],
      cmd: ["nginx", "-g", "daemon off;"],
      user: { name: "101", uid: 101, gid: 101 },
      workingDir: "/",
      source:
        "nginx/docker-nginx-unprivileged@e26803b6ff7ca01455284231c59f20cb5e3ae82e (stable 1.30.4) stable/alpine-slim/Dockerfile",
    },
    programs: {
      kind: "debian",
      package: "nginx",
      why: "Debian's nginx (another version than the image's 1.30.4) serves the rendered config",
    },
  },
  ldapTest: {
    configKey: "ldapTestImage",
    // Dev stacks only (ldapTestServer). Its future (issue 18), decided 2026-12: Bitnami moved its
    // free images to docker.io/bitnamilegacy in 2025, where they get no updates and "may be
    // removed"; OpenLDAP is in Bitnami's paid catalogue only, not even as a free `latest`
    // (bitnami/containers#87985). No maintained public image offers the same seeding interface
    // (osixia/openldap's is another, and saw no release since 2021). So: the last legacy revision of
    // 2.6.10, by its revision tag (a revision tag is never re-pushed, unlike `2.6.10` or `2.6`).
    // Operators copy it into a registry of their own and pin that copy by digest
    // (`pulumi config set ldapTestImage <registry>/openldap@sha256:...`; the README says how), so a
    // removal upstream cannot break their dev stacks. The program treats the image as throw-away:
    // the NetworkPolicy admits only the hub, and its data are generated test users.
    reference: "docker.io/bitnamilegacy/openldap:2.6.10-debian-12-r4",
    // ENTRYPOINT, CMD and USER are the same in every 2.6.10 revision's Dockerfile (r1 at this
    // commit, through IMAGE_REVISION 11 at 160f8bad9279ef37cb20ef618ab92c3dcf3b447f). USER 1001 has
    // no /etc/passwd entry: group 0, which owns the image's writable folders.
    process: {
      entrypoint: ["/opt/bitnami/scripts/openldap/entrypoint.sh"],
      cmd: ["/opt/bitnami/scripts/openldap/run.sh"],
      user: { name: "1001", uid: 1001, gid: 0 },
      workingDir: "/",
      source: "bitnami/containers@0733dc81638835749ec7688f55a501bf68133ad4 bitnami/openldap/2.6/debian-12/Dockerfile",
    },
    programs: {
      kind: "debian",
      package: "slapd",
      why: "Debian's slapd and ldap-utils run the image's own start-up scripts (test/bitnamiOpenldap.test.ts) and serve the e2e journey's directory",
    },
  },
} as const satisfies Record<string, ImageVersion>;

export type ImageName = keyof typeof images;

/** The images whose programs come from a Python lock (one venv each). */
export type PythonImageName = {
  [K in ImageName]: (typeof images)[K]["programs"]["kind"] extends "python" ? K : never;
}[ImageName];

export const pythonImages = Object.keys(images).filter(
  (name): name is PythonImageName => images[name as ImageName].programs.kind === "python",
);
