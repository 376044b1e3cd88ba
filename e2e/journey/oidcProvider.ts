import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import { freeLoopbackPort } from "../../test/support/nginx";

/**
 * The OIDC journey's identity provider: Ory Hydra v2.3.0 (built from the Go module proxy by
 * e2e/toolchain/build.sh), the real OpenID provider, with its clients, keys and sessions in an
 * in-memory sqlite database; and the smallest login and consent app Hydra needs, which stands in
 * for the university's login page (Hydra leaves both to an app of the operator's). Everything
 * listens on 127.0.0.1.
 */

/** A person of the provider's directory, as the login app knows them. */
export interface ProviderUser {
  password: string;
  email: string;
  /** What the `groups` claim carries. */
  groups: string[];
}

export interface OidcClient {
  clientId: string;
  clientSecret: string;
}

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c);

/** The login app's page title, which the journey looks for in Chromium. */
export const loginPageTitle = "University sign-in";

export class OidcProvider {
  readonly issuer: string;
  private hydra?: ChildProcess;
  private app?: http.Server;
  /** Who signed in at the login app, in order (the journey checks who reached the provider). */
  readonly signIns: string[] = [];

  private constructor(
    private readonly bin: string,
    private readonly dir: string,
    private readonly ports: { public: number; admin: number; app: number },
    private readonly users: Record<string, ProviderUser>,
  ) {
    this.issuer = `http://127.0.0.1:${ports.public}/`;
  }

  /** Starts Hydra and the login app; resolves once Hydra's discovery document answers. */
  static async start(bin: string, dir: string, users: Record<string, ProviderUser>): Promise<OidcProvider> {
    fs.mkdirSync(dir, { recursive: true });
    const ports = { public: await freeLoopbackPort(), admin: await freeLoopbackPort(), app: await freeLoopbackPort() };
    const provider = new OidcProvider(bin, dir, ports, users);
    try {
      await provider.startApp();
      await provider.startHydra();
    } catch (err) {
      // Nobody else holds it yet: stop what did start.
      await provider.stop();
      throw err;
    }
    return provider;
  }

  get logFile(): string {
    return path.join(this.dir, "hydra.log");
  }

  get startedPids(): number[] {
    return this.hydra?.pid !== undefined ? [this.hydra.pid] : [];
  }

  private get admin(): string {
    return `http://127.0.0.1:${this.ports.admin}`;
  }

  private async startHydra(): Promise<void> {
    const app = `http://127.0.0.1:${this.ports.app}`;
    const log = fs.openSync(this.logFile, "a");
    // `--dev` lets Hydra serve its issuer over plain HTTP on loopback (it refuses to otherwise).
    const child = spawn(path.join(this.bin, "hydra"), ["serve", "all", "--dev"], {
      stdio: ["ignore", log, log],
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        DSN: "memory",
        URLS_SELF_ISSUER: this.issuer,
        URLS_LOGIN: `${app}/login`,
        URLS_CONSENT: `${app}/consent`,
        SECRETS_SYSTEM: randomBytes(24).toString("hex"),
        SERVE_PUBLIC_HOST: "127.0.0.1",
        SERVE_PUBLIC_PORT: String(this.ports.public),
        SERVE_ADMIN_HOST: "127.0.0.1",
        SERVE_ADMIN_PORT: String(this.ports.admin),
        LOG_LEVEL: "info",
        // No telemetry: nothing leaves loopback.
        SQA_OPT_OUT: "true",
      },
    });
    fs.closeSync(log);
    this.hydra = child;
    const deadline = Date.now() + 60_000;
    const ready = `${this.admin}/health/ready`;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`hydra exited (${child.exitCode}):\n${this.logTail()}`);
      if (Date.now() > deadline) throw new Error(`hydra's ${ready} did not answer in 60s:\n${this.logTail()}`);
      try {
        const r = await fetch(ready, { signal: AbortSignal.timeout(2000) });
        if (r.ok) break;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    // Hydra's ID token signing key, made before anything asks for it: left to itself, Hydra makes a
    // 4096-bit RSA key on the first request that needs one, which on this busy machine took longer
    // than Hydra let that request run (the connection was closed, and the next request started
    // over). An ES256 key is made at once; Hydra signs with whatever key the set holds, and
    // OAuthenticator reads the user from the userinfo endpoint, not from the ID token.
    await this.adminApi("POST", "/admin/keys/hydra.openid.id-token", { alg: "ES256", kid: "journey", use: "sig" });
    const discovery = await fetch(`${this.issuer}.well-known/openid-configuration`, {
      signal: AbortSignal.timeout(120_000),
    });
    if (!discovery.ok) throw new Error(`hydra's discovery document: ${discovery.status}\n${this.logTail()}`);
  }

  logTail(lines = 30): string {
    try {
      return fs.readFileSync(this.logFile, "utf8").split("\n").slice(-lines).join("\n");
    } catch {
      return "(no log)";
    }
  }

  /** Hydra's admin API, JSON in and out. */
  private async adminApi<T>(method: string, urlPath: string, body?: unknown): Promise<T> {
    const r = await fetch(`${this.admin}${urlPath}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`hydra admin ${method} ${urlPath}: ${r.status} ${text}`);
    return JSON.parse(text) as T;
  }

  /**
   * Registers the hub as a client, as a university's IT registers a service: the callback URL,
   * the scopes, a secret sent in the token request's body (OAuthenticator's default).
   */
  async registerClient(callbackUrl: string): Promise<OidcClient> {
    const secret = randomBytes(24).toString("hex");
    const created = await this.adminApi<{ client_id: string }>("POST", "/admin/clients", {
      client_name: "jupyterhub",
      client_secret: secret,
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      scope: "openid profile email offline_access",
      redirect_uris: [callbackUrl],
      token_endpoint_auth_method: "client_secret_post",
    });
    return { clientId: created.client_id, clientSecret: secret };
  }

  private async startApp(): Promise<void> {
    const server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        res.writeHead(500, { "content-type": "text/plain" });
        res.end(String(err));
      });
    });
    await new Promise<void>((resolve) => server.listen(this.ports.app, "127.0.0.1", resolve));
    this.app = server;
  }

  private loginPage(challenge: string, error?: string): string {
    return [
      "<!doctype html>",
      `<html><head><title>${loginPageTitle}</title></head><body>`,
      `<h1>${loginPageTitle}</h1>`,
      error ? `<p class="error">${escapeHtml(error)}</p>` : "",
      '<form method="post" action="/login">',
      `<input type="hidden" name="challenge" value="${escapeHtml(challenge)}">`,
      '<label for="username">Username</label> <input id="username" name="username" autocomplete="off">',
      '<label for="password">Password</label> <input id="password" name="password" type="password">',
      '<button type="submit">Sign in</button>',
      "</form></body></html>",
    ].join("\n");
  }

  /**
   * GET /login: Hydra sends the browser here with a login challenge; the form. POST /login: the
   * password checked against the test's own users, the login accepted through Hydra's admin API.
   * GET /consent: the hub is the university's own service, so consent is granted without asking,
   * with the user's claims (preferred_username, email, groups) put in the ID token, which Hydra's
   * userinfo endpoint also answers with.
   */
  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", `http://127.0.0.1:${this.ports.app}`);
    const redirect = (to: string) => {
      res.writeHead(302, { location: to });
      res.end();
    };
    if (req.method === "GET" && url.pathname === "/login") {
      const challenge = url.searchParams.get("login_challenge") ?? "";
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(this.loginPage(challenge));
      return;
    }
    if (req.method === "POST" && url.pathname === "/login") {
      let body = "";
      for await (const chunk of req) body += String(chunk);
      const form = new URLSearchParams(body);
      const challenge = form.get("challenge") ?? "";
      const username = form.get("username") ?? "";
      const user = this.users[username] as ProviderUser | undefined;
      if (!user || user.password !== (form.get("password") ?? "")) {
        res.writeHead(401, { "content-type": "text/html; charset=utf-8" });
        res.end(this.loginPage(challenge, "Wrong username or password."));
        return;
      }
      this.signIns.push(username);
      const accepted = await this.adminApi<{ redirect_to: string }>(
        "PUT",
        `/admin/oauth2/auth/requests/login/accept?login_challenge=${encodeURIComponent(challenge)}`,
        // Not remembered: every sign-in at the hub goes through this form again.
        { subject: username, remember: false },
      );
      redirect(accepted.redirect_to);
      return;
    }
    if (req.method === "GET" && url.pathname === "/consent") {
      const challenge = url.searchParams.get("consent_challenge") ?? "";
      const q = `consent_challenge=${encodeURIComponent(challenge)}`;
      const request = await this.adminApi<{
        subject: string;
        requested_scope: string[];
        requested_access_token_audience: string[];
      }>("GET", `/admin/oauth2/auth/requests/consent?${q}`);
      const user = this.users[request.subject];
      const accepted = await this.adminApi<{ redirect_to: string }>(
        "PUT",
        `/admin/oauth2/auth/requests/consent/accept?${q}`,
        {
          grant_scope: request.requested_scope,
          grant_access_token_audience: request.requested_access_token_audience,
          remember: false,
          session: {
            id_token: { preferred_username: request.subject, email: user.email, groups: user.groups },
          },
        },
      );
      redirect(accepted.redirect_to);
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("not found");
  }

  async stop(): Promise<void> {
    const app = this.app;
    if (app) await new Promise<void>((resolve) => app.close(() => resolve()));
    const hydra = this.hydra;
    if (hydra && hydra.exitCode === null) {
      const exited = new Promise<void>((resolve) => hydra.once("exit", () => resolve()));
      hydra.kill("SIGTERM");
      const timer = setTimeout(() => hydra.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    }
  }
}
