import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";

/** Debian's Chromium (scripts/setup.sh installs it); playwright-core 1.64 is built for Chromium 156. */
export const chromiumPath = "/usr/bin/chromium";

/**
 * What this machine needs: no sandbox (no user namespaces for Chromium's zygote here), no GPU,
 * and nothing that calls home (updates, sync, field trials, QUIC): the browser may only talk to
 * the loopback servers under test.
 */
const chromiumFlags = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** A headless Chromium with a fresh profile; `close()` ends it and removes the profile. */
export interface Browser {
  context: BrowserContext;
  /** Requests the browser tried to send off loopback; they were aborted. */
  blocked: string[];
  close(): Promise<void>;
}

const isLoopback = (url: string): boolean => {
  const { protocol, hostname } = new URL(url);
  if (protocol === "data:" || protocol === "blob:" || protocol === "about:") return true;
  return hostname === "localhost" || /^127(\.\d{1,3}){3}$/.test(hostname) || hostname === "[::1]";
};

/**
 * Launches Debian's Chromium headless with a fresh user-data-dir. Every request to anything but a
 * loopback address is aborted and listed in `blocked` (the tests may reach nothing else).
 * `httpCredentials` answer basic-auth challenges from that origin only.
 */
export async function launchBrowser(
  options: { httpCredentials?: { username: string; password: string; origin: string } } = {},
): Promise<Browser> {
  if (!fs.existsSync(chromiumPath)) {
    throw new Error(
      `no ${chromiumPath}: run \`bash scripts/setup.sh\` (it installs Debian's chromium, on Debian only)`,
    );
  }
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "chromium-profile-"));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      args: chromiumFlags,
      viewport: { width: 1280, height: 800 },
      ...(options.httpCredentials ? { httpCredentials: options.httpCredentials } : {}),
    });
  } catch (err) {
    fs.rmSync(profile, { recursive: true, force: true });
    throw err;
  }
  const blocked: string[] = [];
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (isLoopback(url)) return route.continue();
    blocked.push(url);
    return route.abort("blockedbyclient");
  });
  return {
    context,
    blocked,
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** nginx's autoindex titles each listing `Index of <path>`; an error page says what went wrong. */
async function expectNginxListing(page: Page, listingPath: string): Promise<void> {
  await page.waitForLoadState();
  const heading = (await page.locator("h1").first().textContent())?.trim();
  if (heading !== `Index of ${listingPath}`) {
    throw new Error(`the file browser shows "${heading}" where the listing of ${listingPath} should be`);
  }
}

export interface BrowserJourneyArgs {
  /** The hub as users reach it, through the proxy: `http://127.0.0.1:<port>/`. */
  hubUrl: string;
  username: string;
  password: string;
  /** The notebook, as a path in the user's own folder (JupyterLab's view), e.g. `journey.ipynb`. */
  notebookPath: string;
  /** The file browser's root URL. */
  fileBrowserUrl: string;
  /** The user's folder as the file browser lists it, from its root, e.g. `notebooks/alice`. */
  fileBrowserFolder: string;
  /** Basic-auth credentials, when the file browser asks for them. */
  fileBrowserCredentials?: { username: string; password: string };
  /**
   * The hub's spawn form (profiles): the profile to start (its slug) and its options (option name
   * to choice slug, e.g. `{ image: "previous" }`). When given, the form must appear after signing in.
   */
  spawn?: { profile: string; options?: Record<string, string> };
  /** Where screenshots go; by default a new temporary folder. */
  screenshotDir?: string;
  /** Longest wait for any one step (the spawn included); default 120 s. */
  stepTimeoutMs?: number;
}

export interface BrowserJourneyResult {
  screenshotDir: string;
  screenshots: string[];
  /** The profiles the spawn form showed (slug and name as shown), when it appeared. */
  offeredProfiles: { slug: string; name: string }[];
  /** Where the browser landed after logging in (JupyterLab under /user/<name>/). */
  labUrl: string;
  /** The notebook's bytes as the file browser served them to the browser. */
  notebookFromFileBrowser: string;
  /** Off-loopback requests the browser attempted (aborted). */
  blocked: string[];
}

/**
 * The browser part of a user's journey, as a person would do it in Debian's Chromium:
 * 1. open the hub, sign in on its real login page with `username` and `password`; if the hub
 *    shows its spawn form (profiles), pick `spawn`'s profile and options there and press Start;
 * 2. wait until JupyterLab has loaded under /user/<username>/ (its shell and its file browser),
 *    find the notebook in JupyterLab's file browser and open it (a notebook panel with its cells);
 * 3. open the nginx file browser (with basic auth if given), follow the folder links down to
 *    `fileBrowserFolder`, see the notebook listed and download it.
 * A screenshot after each step; the folder is printed. Throws, with the step named, on the first
 * thing that does not happen within `stepTimeoutMs`.
 */
export async function browserJourney(args: BrowserJourneyArgs): Promise<BrowserJourneyResult> {
  const timeout = args.stepTimeoutMs ?? 120_000;
  const screenshotDir = args.screenshotDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "journey-screenshots-"));
  fs.mkdirSync(screenshotDir, { recursive: true });
  console.log(`# browser screenshots: ${screenshotDir}`);
  const screenshots: string[] = [];
  const fileBrowserOrigin = new URL(args.fileBrowserUrl).origin;
  const browser = await launchBrowser(
    args.fileBrowserCredentials
      ? { httpCredentials: { ...args.fileBrowserCredentials, origin: fileBrowserOrigin } }
      : {},
  );
  let page: Page | undefined;
  let step = "launching Chromium";
  const shoot = async (name: string) => {
    if (!page) return;
    const file = path.join(screenshotDir, `${String(screenshots.length + 1).padStart(2, "0")}-${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    screenshots.push(file);
  };
  try {
    page = await browser.context.newPage();
    page.setDefaultTimeout(timeout);
    page.setDefaultNavigationTimeout(timeout);

    step = "opening the hub's login page";
    await page.goto(new URL("hub/login", args.hubUrl).href);
    await page.getByLabel("Username:").fill(args.username);
    await page.getByLabel("Password:").fill(args.password);
    await shoot("login");

    step = `signing in as ${args.username} and waiting for the server to start`;
    await page.getByRole("button", { name: "Sign in" }).click();
    const userPrefix = new URL(`user/${encodeURIComponent(args.username)}/`, args.hubUrl).pathname;
    // The hub lets the user in and the server starts, or it shows its spawn form first (profiles),
    // or the login page says why not.
    const refused = page.locator("p.login_error");
    const spawnForm = page.locator("#spawn_form");
    const landed = page.waitForURL((url) => url.pathname.startsWith(`${userPrefix}lab`)).then(() => "landed");
    const refusal = refused.waitFor({ state: "visible" }).then(() => "refused");
    const form = spawnForm.waitFor({ state: "visible" }).then(() => "form");
    // The losers keep waiting until the browser closes; their rejection then is expected.
    for (const p of [landed, refusal, form]) p.catch(() => undefined);
    const outcome = await Promise.race([landed, refusal, form]);
    if (outcome === "refused") throw new Error(`the hub refused the login: ${await refused.textContent()}`);
    const offeredProfiles: { slug: string; name: string }[] = [];
    if (outcome === "form") {
      if (!args.spawn) throw new Error("the hub shows its spawn form, and no profile was given to pick");
      step = "reading the profiles the spawn form offers";
      // KubeSpawner's form.html: a label per profile, with its radio button and its name in <h3>.
      for (const label of await page.locator("label.js-profile-label").all()) {
        const slug = await label.locator('input[name="profile"]').getAttribute("value");
        offeredProfiles.push({ slug: String(slug), name: String(await label.locator("h3").textContent()).trim() });
      }
      const { profile, options = {} } = args.spawn;
      step = `picking the profile ${profile} (${JSON.stringify(options)}) and pressing Start`;
      await page.locator(`label[for="profile-item-${profile}"]`).click();
      for (const [option, choice] of Object.entries(options)) {
        await page.locator(`select[name="profile-option-${profile}--${option}"]`).selectOption(choice);
      }
      if (!(await page.locator(`#profile-item-${profile}`).isChecked())) {
        throw new Error(`the profile ${profile} is not selected after clicking it`);
      }
      await shoot("spawn-form");
      await page.getByRole("button", { name: "Start" }).click();
      step = `waiting for the server (${profile}) to start`;
      await page.waitForURL((url) => url.pathname.startsWith(`${userPrefix}lab`));
    } else if (args.spawn) {
      throw new Error(`the hub started the server without its spawn form (profile ${args.spawn.profile} not picked)`);
    }

    step = "waiting for JupyterLab's shell";
    await page.locator("#jp-main-dock-panel").waitFor({ state: "visible" });
    const listing = page.locator(".jp-DirListing-content");
    await listing.waitFor({ state: "visible" });
    const labUrl = page.url();
    await shoot("jupyterlab");

    step = `finding ${args.notebookPath} in JupyterLab's file browser and opening it`;
    const folders = path.posix
      .dirname(args.notebookPath)
      .split("/")
      .filter((p) => p !== ".");
    for (const name of [...folders, path.posix.basename(args.notebookPath)]) {
      await listing.locator(".jp-DirListing-itemText").getByText(name, { exact: true }).dblclick();
    }
    // The notebook is shown once its first cell has rendered its text (cells render lazily).
    const notebook = page.locator(".jp-NotebookPanel:visible");
    await notebook.locator(".jp-Spinner").waitFor({ state: "hidden" });
    await notebook.locator(".jp-Cell .jp-InputArea", { hasText: /\S/ }).first().waitFor({ state: "visible" });
    await shoot("notebook");

    step = "opening the file browser";
    const root = new URL(args.fileBrowserUrl).pathname;
    await page.goto(args.fileBrowserUrl);
    await expectNginxListing(page, root);
    let listed = root;
    for (const folder of args.fileBrowserFolder.split("/").filter((p) => p !== "")) {
      step = `following the file browser's link to ${folder}/`;
      await page.getByRole("link", { name: `${folder}/`, exact: true }).click();
      listed = `${listed}${folder}/`;
      await page.waitForURL((url) => url.pathname === listed);
      await expectNginxListing(page, listed);
    }
    step = `seeing ${path.posix.basename(args.notebookPath)} in the file browser's listing`;
    const link = page.getByRole("link", { name: path.posix.basename(args.notebookPath), exact: true });
    await link.waitFor({ state: "visible" });
    await shoot("file-browser");
    const href = await link.getAttribute("href");
    if (href === null) throw new Error("the notebook's link has no href");
    const response = await browser.context.request.get(new URL(href, page.url()).href);
    if (!response.ok()) throw new Error(`the file browser answered ${response.status()} for the notebook`);
    const notebookFromFileBrowser = await response.text();

    return {
      screenshotDir,
      screenshots,
      offeredProfiles,
      labUrl,
      notebookFromFileBrowser,
      blocked: [...browser.blocked],
    };
  } catch (err) {
    await shoot("failed").catch(() => undefined);
    const where = page ? ` (page ${page.url()})` : "";
    throw new Error(`browser journey failed while ${step}${where}; screenshots in ${screenshotDir}`, { cause: err });
  } finally {
    await browser.close();
  }
}
