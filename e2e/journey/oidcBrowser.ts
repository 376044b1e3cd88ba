import * as fs from "node:fs";
import * as path from "node:path";
import type { Page } from "playwright-core";
import { launchBrowser } from "../lib/browser";
import { markdownNotebook } from "./notebook";
import { loginPageTitle } from "./oidcProvider";

/**
 * The OpenID Connect sign-in as a person does it in Debian's Chromium: the hub's login page, its
 * "Sign in with <provider>" button, the provider's login page (Hydra's login app), back at the hub.
 * Screenshots after each step go to `screenshotDir`.
 */

export interface OidcBrowserArgs {
  /** The hub through the proxy: `http://127.0.0.1:<port>/`. */
  hubUrl: string;
  /** The provider's name on the hub's button. */
  loginService: string;
  username: string;
  password: string;
  screenshotDir: string;
  /** The profile to pick when the hub shows its spawn form. */
  profile: string;
  stepTimeoutMs?: number;
}

export interface OidcSession {
  page: Page;
  /** Takes a screenshot named `name` (numbered in order); resolves with its file. */
  shoot(name: string): Promise<string>;
  close(): Promise<void>;
  /** Off-loopback requests the browser attempted (aborted). */
  blocked: string[];
}

/** Opens the hub's login page, presses "Sign in with …", signs in at the provider; the page is then back at the hub. */
export async function signInWithProvider(args: OidcBrowserArgs, prefix: string): Promise<OidcSession> {
  fs.mkdirSync(args.screenshotDir, { recursive: true });
  const browser = await launchBrowser();
  const page = await browser.context.newPage();
  const timeout = args.stepTimeoutMs ?? 120_000;
  page.setDefaultTimeout(timeout);
  page.setDefaultNavigationTimeout(timeout);
  let n = 0;
  const session: OidcSession = {
    page,
    blocked: browser.blocked,
    shoot: async (name) => {
      n += 1;
      const file = path.join(args.screenshotDir, `${prefix}-${String(n).padStart(2, "0")}-${name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      return file;
    },
    close: () => browser.close(),
  };
  let step = "opening the hub's login page";
  try {
    await page.goto(new URL("hub/login", args.hubUrl).href);
    const button = page.getByRole("button", { name: `Sign in with ${args.loginService}` });
    await button.waitFor({ state: "visible" });
    await session.shoot("hub-login");
    step = `pressing "Sign in with ${args.loginService}"`;
    await button.click();
    step = "waiting for the provider's login page";
    await page.getByRole("heading", { name: loginPageTitle }).waitFor({ state: "visible" });
    await page.getByLabel("Username").fill(args.username);
    await page.getByLabel("Password").fill(args.password);
    await session.shoot("provider-login");
    step = `signing in at the provider as ${args.username}`;
    const hubOrigin = new URL(args.hubUrl).origin;
    await page.getByRole("button", { name: "Sign in" }).click();
    // Back at the hub: its callback redirects onwards (no page of its own) or shows its refusal.
    await page.waitForURL((url) => url.origin === hubOrigin);
    await page.waitForLoadState();
    return session;
  } catch (err) {
    await session.shoot("failed").catch(() => undefined);
    await browser.close();
    throw new Error(`OIDC sign-in failed while ${step} (page ${page.url()})`, { cause: err });
  }
}

/**
 * After signing in: the spawn form (the stack has profiles) with `profile` picked, then JupyterLab
 * under /user/<name>/ with its file browser listed. Resolves with the names JupyterLab lists.
 */
export async function startServerAndOpenLab(s: OidcSession, args: OidcBrowserArgs, user: string): Promise<string[]> {
  const page = s.page;
  const userPrefix = `/user/${encodeURIComponent(user)}/`;
  await page.locator("#spawn_form").waitFor({ state: "visible" });
  await page.locator(`label[for="profile-item-${args.profile}"]`).click();
  await s.shoot("spawn-form");
  await page.getByRole("button", { name: "Start" }).click();
  await page.waitForURL((url) => url.pathname.startsWith(`${userPrefix}lab`));
  await page.locator("#jp-main-dock-panel").waitFor({ state: "visible" });
  const items = page.locator(".jp-DirListing-content .jp-DirListing-itemText");
  await items.first().waitFor({ state: "visible" });
  await s.shoot("jupyterlab");
  return (await items.allTextContents()).map((t) => t.trim());
}

/**
 * Saves a notebook through Jupyter Server's contents API with the browser session's own cookies and
 * its XSRF token (the `_xsrf` cookie Jupyter Server set for JupyterLab's page), as JupyterLab saves one.
 */
export async function saveNotebookFromLab(s: OidcSession, user: string, name: string, text: string): Promise<number> {
  const url = new URL(`/user/${encodeURIComponent(user)}/api/contents/${encodeURIComponent(name)}`, s.page.url());
  const xsrf = (await s.page.context().cookies(url.href)).find((c) => c.name === "_xsrf")?.value;
  if (xsrf === undefined) throw new Error(`no _xsrf cookie for ${url.href}`);
  const r = await s.page.request.put(url.href, {
    headers: { "X-XSRFToken": xsrf },
    data: markdownNotebook("oidc", text),
  });
  return r.status();
}
