import type { KubeObject } from "../lib/cluster";
import { JOURNEY_PROFILES } from "./journeyProfiles";
import { HUB_NS, type JourneyStack } from "./journeyStack";
import { WebClient } from "./webClient";

/** What the journey and the benchmark do as a user, through the proxy. */

/** A user's server's URL prefix through the proxy: `/user/<name>/`, or `/user/<name>/<server>/` for a named one. */
export function serverPrefix(user: string, server = ""): string {
  return `/user/${user}/${server === "" ? "" : `${server}/`}`;
}

/**
 * Polls <prefix>lab through the proxy until the user's own server answers it (the hub's OAuth
 * redirects followed, as a browser would, which gives the session the server's cookie).
 */
async function waitForServer(s: JourneyStack, client: WebClient, prefix: string, timeoutMs: number): Promise<void> {
  await s.waitFor(`the server answering at ${prefix} through the proxy`, timeoutMs, async () => {
    // JupyterLab's page: the server's OAuth round trip with the hub sets its cookie on the way.
    const r = await client.get(`${prefix}lab`, 12);
    return r.status === 200 && r.url.startsWith(`${prefix}lab`);
  });
}

/** A profile the spawn form offers: its slug (the radio button's value) and its name as shown. */
export interface OfferedProfile {
  slug: string;
  name: string;
}

/**
 * The spawn form the hub shows for a stopped server, the default one or a named one (GET
 * /hub/spawn/<name>[/<server>], as the home page's buttons do): where it posts to, and the
 * profiles it offers.
 */
export async function spawnForm(
  client: WebClient,
  user: string,
  server = "",
): Promise<{ action: string; offered: OfferedProfile[] }> {
  const page = await client.get(`/hub/spawn/${user}${server === "" ? "" : `/${server}`}`, 0);
  // JupyterHub's spawn.html: the form posts back to the page's URL with the XSRF token added.
  const action = /id="spawn_form"\s+action="([^"]+)"/.exec(page.text)?.[1];
  if (page.status !== 200 || !action) {
    throw new Error(`no spawn form for ${user} (${page.status} ${page.url}): ${page.text.slice(0, 300)}`);
  }
  // KubeSpawner's form.html: a radio button per profile, its display name in the <h3> after it.
  const offered = [
    ...page.text.matchAll(/name="profile"\s+id="[^"]+"\s+value="([^"]+)"[\s\S]*?<h3>([^<]*)<\/h3>/g),
  ].map((m) => ({ slug: m[1], name: m[2] }));
  return { action: action.replace(/&amp;/g, "&"), offered };
}

/**
 * Starts the user's default server, or a named one, as the spawn form's Start button does, with
 * `choice` as the form's fields (`profile`, and `profile-option-<profile>--<option>`; the journey's
 * default profile unless given), then waits until it answers through the proxy.
 */
export async function serverAnswers(
  s: JourneyStack,
  client: WebClient,
  user: string,
  timeoutMs: number,
  server = "",
  choice: Record<string, string> = { profile: JOURNEY_PROFILES.small.slug },
): Promise<void> {
  await postSpawnForm(client, user, server, choice);
  await waitForServer(s, client, serverPrefix(user, server), timeoutMs);
}

/** Presses the spawn form's Start button with `choice` as its fields; the hub then redirects to its spawn-pending page. */
export async function postSpawnForm(
  client: WebClient,
  user: string,
  server = "",
  choice: Record<string, string> = { profile: JOURNEY_PROFILES.small.slug },
): Promise<void> {
  const form = await spawnForm(client, user, server);
  const posted = await client.request("POST", form.action, { form: choice, maxRedirects: 0, navigate: true });
  if (posted.status !== 302) {
    throw new Error(
      `starting ${user}'s server ${JSON.stringify(server)} with ${JSON.stringify(choice)}: ${posted.status} ${posted.text.slice(0, 300)}`,
    );
  }
}

/**
 * Waits for a spawn as the hub's spawn-pending page does in a browser: an EventSource on the
 * progress API (GET /hub/api/users/<name>/server/progress, server-sent events, a keepalive every
 * 8 s), which the hub ends with a `ready` event (and the server's URL) or a `failed` one. No
 * polling: the hub is asked once per user, as by a real class.
 */
export async function spawnProgress(client: WebClient, user: string): Promise<string> {
  const r = await client.api("GET", `/hub/api/users/${user}/server/progress`);
  if (r.status !== 200) throw new Error(`${user}'s spawn progress: ${r.status} ${r.text.slice(0, 200)}`);
  const events = [...r.text.matchAll(/^data: (.*)$/gm)].map(
    (m) => JSON.parse(m[1]) as { ready?: boolean; failed?: boolean; url?: string; message?: string },
  );
  const last = events.at(-1);
  if (!last?.ready || !last.url) throw new Error(`${user}'s spawn: ${last?.message ?? r.text.slice(-300)}`);
  return last.url;
}

/**
 * Asks for the user's default server through the hub's REST API with `options` as the request's
 * body (what a spawn form posts), then waits until it answers through the proxy.
 */
export async function spawnWithOptions(
  s: JourneyStack,
  client: WebClient,
  user: string,
  options: Record<string, unknown>,
): Promise<void> {
  const r = await client.request("POST", `/hub/api/users/${user}/server`, {
    json: options,
    maxRedirects: 0,
    headers: { Referer: `${s.proxyUrl}/hub/home` },
  });
  if (![201, 202].includes(r.status)) throw new Error(`spawning ${user}'s server: ${r.status} ${r.text.slice(0, 200)}`);
  await waitForServer(s, client, serverPrefix(user), 120_000);
}

/** Logs in on the hub's login form (`typed` as the name); resolves with the session. */
export async function login(s: JourneyStack, typed: string, password: string): Promise<WebClient> {
  const client = new WebClient(s.proxyUrl);
  const r = await client.login(typed, password);
  if (r.status !== 302) throw new Error(`${typed}'s login: ${r.status} ${r.text.slice(0, 300)}`);
  return client;
}

/** Logs in on the hub's form; resolves with the session and the seconds until the server answered. */
export async function loginAndSpawn(
  s: JourneyStack,
  user: string,
  password: string,
  /** The name as typed at the form, when it differs from the hub user's (capitals, say). */
  typed: string = user,
): Promise<{ client: WebClient; seconds: number }> {
  const t0 = Date.now();
  const client = await login(s, typed, password);
  await serverAnswers(s, client, user, 120_000);
  return { client, seconds: (Date.now() - t0) / 1000 };
}

/** The pod KubeSpawner made for a user's default server (named `jupyter-<name>` when the name is DNS-safe), if it exists. */
export function userPod(s: JourneyStack, user: string, podName = `jupyter-${user}`): Promise<KubeObject | undefined> {
  return s.need(s.api, "api").getOrUndefined(`/api/v1/namespaces/${HUB_NS}/pods/${podName}`);
}

/**
 * The pod of a user's default server, found by the user name KubeSpawner writes in its
 * annotations unescaped (its name and labels carry the escaped slug: `john.doe` is
 * `jupyter-john-doe---<hash>`), if it exists.
 */
export async function podOfUser(s: JourneyStack, user: string): Promise<KubeObject | undefined> {
  const pods = await s.need(s.api, "api").request<{ items: KubeObject[] }>("GET", `/api/v1/namespaces/${HUB_NS}/pods`);
  return pods.items.find(
    (p) =>
      p.metadata.annotations?.["hub.jupyter.org/username"] === user &&
      (p.metadata.annotations["hub.jupyter.org/servername"] ?? "") === "" &&
      !p.metadata.deletionTimestamp,
  );
}

/** The pod of a user's named server, found by the labels KubeSpawner puts on it, if it exists. */
export async function namedServerPod(s: JourneyStack, user: string, server: string): Promise<KubeObject | undefined> {
  const selector = `hub.jupyter.org/username=${user},hub.jupyter.org/servername=${server}`;
  const list = await s
    .need(s.api, "api")
    .request<{ items: KubeObject[] }>(
      "GET",
      `/api/v1/namespaces/${HUB_NS}/pods?labelSelector=${encodeURIComponent(selector)}`,
    );
  return list.items.find((p) => !p.metadata.deletionTimestamp);
}

/** Stops the user's server through the hub's REST API and waits until its pod is gone. */
export async function stopServer(
  s: JourneyStack,
  client: WebClient,
  user: string,
  podName = `jupyter-${user}`,
): Promise<void> {
  const r = await client.request("DELETE", `/hub/api/users/${user}/server`, {
    headers: { Referer: `${s.proxyUrl}/hub/home` },
  });
  if (![202, 204].includes(r.status)) throw new Error(`stopping ${user}'s server: ${r.status} ${r.text.slice(0, 200)}`);
  await s.waitFor(`${user}'s pod deleted`, 60_000, async () => (await userPod(s, user, podName)) === undefined);
}

/** Starts the user's server again in the same session (with `choice` on the spawn form); resolves with the seconds until it answered. */
export async function startAgain(
  s: JourneyStack,
  client: WebClient,
  user: string,
  choice?: Record<string, string>,
): Promise<number> {
  const t0 = Date.now();
  await serverAnswers(s, client, user, 120_000, "", choice);
  return (Date.now() - t0) / 1000;
}

/**
 * Runs a shell script in a new terminal of the user's server, as a user does in JupyterLab's
 * terminal: Jupyter Server's terminals API (POST api/terminals, then its websocket, both through
 * the proxy with the session's cookies), the shell that the server itself starts (it inherits the
 * server's environment). Resolves with what the script printed; the terminal is closed after.
 */
export async function inTerminal(s: JourneyStack, client: WebClient, user: string, script: string): Promise<string> {
  const created = await client.api("POST", `/user/${user}/api/terminals`);
  if (created.status !== 200) throw new Error(`opening a terminal: ${created.status} ${created.text.slice(0, 200)}`);
  const name = (JSON.parse(created.text) as { name: string }).name;
  const wsPath = `/user/${user}/terminals/websocket/${name}`;
  // The markers are what the shell prints (6*7 evaluated), never what it echoes of the input.
  const begin = "@@42@@begin";
  const end = "@@42@@end";
  try {
    return await new Promise<string>((resolve, reject) => {
      const ws = new WebSocket(`${client.base.replace(/^http/, "ws")}${wsPath}`, {
        headers: { Cookie: client.cookieHeader(wsPath) },
      });
      let output = "";
      const timer = setTimeout(() => {
        ws.close();
        reject(new Error(`the terminal did not finish in 30 s; it printed:\n${output}`));
      }, 30_000);
      ws.onerror = () => reject(new Error(`the terminal's websocket failed; it printed:\n${output}`));
      ws.onopen = () =>
        ws.send(JSON.stringify(["stdin", `echo "@@$((6*7))@@begin"; ${script}; echo "@@$((6*7))@@end"\r`]));
      ws.onmessage = (e: MessageEvent) => {
        const [kind, text] = JSON.parse(String(e.data)) as [string, string];
        if (kind === "stdout") output += text;
        const from = output.indexOf(`${begin}\r\n`);
        const to = output.indexOf(end, from + begin.length);
        if (from >= 0 && to >= 0) {
          clearTimeout(timer);
          ws.close();
          resolve(output.slice(from + begin.length + 2, to).replace(/\r/g, ""));
        }
      };
    });
  } finally {
    await client.api("DELETE", `/user/${user}/api/terminals/${name}`).catch(() => undefined);
    s.note(`${user}: terminal ${name} closed`);
  }
}

/** What a kernel printed for one cell, and when its first output came. */
export interface KernelRun {
  stdout: string;
  /** Date.now() when the first stdout of the cell arrived. */
  firstOutputAt: number;
}

/**
 * Runs `code` as one cell in a new kernel of the user's server, as JupyterLab does when a notebook
 * is opened and a cell run: a session for the notebook (POST api/sessions, which starts the
 * kernel), then the kernel's channels websocket through the proxy (Jupyter Server's default JSON
 * framing: each message a JSON text frame with its `channel`), an `execute_request` on the shell
 * channel, its `stream` output read from iopub until the kernel reports the cell done. The session
 * (and its kernel) is deleted after.
 */
export async function runInKernel(
  client: WebClient,
  user: string,
  notebookPath: string,
  code: string,
  timeoutMs = 60_000,
): Promise<KernelRun> {
  const prefix = serverPrefix(user);
  const created = await client.api("POST", `${prefix}api/sessions`, {
    path: notebookPath,
    name: notebookPath,
    type: "notebook",
    kernel: { name: "python3" },
  });
  if (created.status !== 201) throw new Error(`starting a kernel: ${created.status} ${created.text.slice(0, 200)}`);
  const session = JSON.parse(created.text) as { id: string; kernel: { id: string } };
  const clientSession = crypto.randomUUID();
  const wsPath = `${prefix}api/kernels/${session.kernel.id}/channels?session_id=${clientSession}`;
  const msgId = crypto.randomUUID();
  try {
    return await new Promise<KernelRun>((resolve, reject) => {
      const ws = new WebSocket(`${client.base.replace(/^http/, "ws")}${wsPath}`, {
        headers: { Cookie: client.cookieHeader(wsPath) },
      });
      let stdout = "";
      let firstOutputAt: number | undefined;
      let replied = false;
      let idle = false;
      const timer = setTimeout(() => {
        ws.close();
        reject(new Error(`the cell did not finish in ${timeoutMs / 1000} s; it printed: ${JSON.stringify(stdout)}`));
      }, timeoutMs);
      ws.onerror = () => {
        clearTimeout(timer);
        reject(new Error(`the kernel's websocket failed; it printed: ${JSON.stringify(stdout)}`));
      };
      ws.onopen = () =>
        ws.send(
          JSON.stringify({
            channel: "shell",
            header: {
              msg_id: msgId,
              msg_type: "execute_request",
              username: user,
              session: clientSession,
              date: new Date().toISOString(),
              version: "5.3",
            },
            parent_header: {},
            metadata: {},
            content: { code, silent: false, store_history: true, user_expressions: {}, allow_stdin: false },
            buffers: [],
          }),
        );
      ws.onmessage = (e: MessageEvent) => {
        const m = JSON.parse(String(e.data)) as {
          channel: string;
          header: { msg_type: string };
          parent_header: { msg_id?: string };
          content: { name?: string; text?: string; execution_state?: string; status?: string; evalue?: string };
        };
        if (m.parent_header.msg_id !== msgId) return;
        const type = m.header.msg_type;
        if (m.channel === "iopub" && type === "stream" && m.content.name === "stdout") {
          firstOutputAt ??= Date.now();
          stdout += m.content.text ?? "";
        } else if (m.channel === "iopub" && type === "error") {
          clearTimeout(timer);
          ws.close();
          reject(new Error(`the cell failed: ${m.content.evalue ?? ""}`));
          return;
        } else if (m.channel === "iopub" && type === "status" && m.content.execution_state === "idle") {
          idle = true;
        } else if (m.channel === "shell" && type === "execute_reply") {
          replied = true;
        }
        if (replied && idle) {
          clearTimeout(timer);
          ws.close();
          if (firstOutputAt === undefined) reject(new Error("the cell finished without printing"));
          else resolve({ stdout, firstOutputAt });
        }
      };
    });
  } finally {
    await client.api("DELETE", `${prefix}api/sessions/${session.id}`).catch(() => undefined);
  }
}
