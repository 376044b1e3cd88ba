import * as http from "node:http";

/**
 * What a user's browser does over HTTP, without the rendering: a cookie jar, redirects followed
 * (bounded), JupyterHub's and Jupyter Server's XSRF cookies sent back as their headers. Every
 * request goes to a loopback address.
 */
export interface WebResponse {
  status: number;
  /** The URL of the last response, after redirects. */
  url: string;
  text: string;
  headers: http.IncomingHttpHeaders;
}

/**
 * One HTTP exchange with node:http, not fetch: fetch (undici) always sends its own
 * `Sec-Fetch-Mode: cors`, which Jupyter Server takes for a script's request, so it refused the
 * login cookie on page loads and the journey looped through the OAuth redirects.
 */
function exchange(
  url: string,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") }),
      );
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`${method} ${url}: no answer in 30 s`)));
    req.on("error", reject);
    req.end(body);
  });
}

interface Cookie {
  name: string;
  value: string;
  path: string;
}

export class WebClient {
  private cookies: Cookie[] = [];

  constructor(readonly base: string) {
    if (!/^http:\/\/127\.\d+\.\d+\.\d+(:\d+)?$/.test(base)) throw new Error(`not a loopback base URL: ${base}`);
  }

  /** The Cookie header the client sends for this path (a websocket's handshake needs it too). */
  cookieHeader(urlPath: string): string {
    return this.cookies
      .filter((c) => urlPath.startsWith(c.path))
      .sort((a, b) => b.path.length - a.path.length)
      .map((c) => `${c.name}=${c.value}`)
      .join("; ");
  }

  private store(res: { headers: http.IncomingHttpHeaders }, urlPath: string): void {
    for (const line of res.headers["set-cookie"] ?? []) {
      const [pair, ...attrs] = line.split(";").map((s) => s.trim());
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      const pathAttr = attrs.find((a) => /^path=/i.test(a));
      const cookiePath = pathAttr ? pathAttr.slice(5) : urlPath.replace(/\/[^/]*$/, "/") || "/";
      const expires = attrs.find((a) => /^expires=/i.test(a));
      const expired =
        attrs.some((a) => /^max-age=0$/i.test(a)) ||
        (expires !== undefined && Date.parse(expires.slice(8)) < Date.now()) ||
        value === '""';
      this.cookies = this.cookies.filter((c) => !(c.name === name && c.path === cookiePath));
      if (!expired) this.cookies.push({ name, value, path: cookiePath });
    }
  }

  /** The value of a cookie the client holds for this path, if any. */
  cookie(name: string, urlPath = "/"): string | undefined {
    return this.cookies
      .filter((c) => c.name === name && urlPath.startsWith(c.path))
      .sort((a, b) => b.path.length - a.path.length)[0]?.value;
  }

  /**
   * One request with redirects followed (at most `maxRedirects`), each hop with the cookies that
   * apply. A form body is sent as application/x-www-form-urlencoded, any other object as JSON.
   */
  async request(
    method: string,
    urlPath: string,
    options: {
      form?: Record<string, string>;
      json?: unknown;
      headers?: Record<string, string>;
      maxRedirects?: number;
      /** A page load (Sec-Fetch-Mode: navigate), not a script's request. */
      navigate?: boolean;
    } = {},
  ): Promise<WebResponse> {
    let current = urlPath;
    let m = method;
    let body: string | undefined;
    const headers: Record<string, string> = { ...options.headers };
    if (options.form) {
      body = new URLSearchParams(options.form).toString();
      headers["Content-Type"] = "application/x-www-form-urlencoded";
    } else if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      headers["Content-Type"] = "application/json";
    }
    for (let hop = 0; hop <= (options.maxRedirects ?? 10); hop++) {
      const xsrf = this.cookie("_xsrf", current);
      const res = await exchange(
        this.base + current,
        m,
        {
          ...headers,
          // What a browser sends: JupyterHub and Jupyter Server accept a cookie without an XSRF
          // token only on a page load; JupyterLab's own requests carry the _xsrf cookie's value.
          ...(options.navigate ? { "Sec-Fetch-Mode": "navigate" } : xsrf ? { "X-XSRFToken": xsrf } : {}),
          Cookie: this.cookieHeader(current),
        },
        body,
      );
      this.store(res, current);
      const location = res.headers.location;
      if (res.status >= 300 && res.status < 400 && location && hop < (options.maxRedirects ?? 10)) {
        const next = new URL(location, this.base + current);
        if (next.origin !== new URL(this.base).origin) throw new Error(`redirect off the proxy: ${location}`);
        current = next.pathname + next.search;
        if (res.status !== 307 && res.status !== 308) {
          m = "GET";
          body = undefined;
          delete headers["Content-Type"];
        }
        continue;
      }
      return { status: res.status, url: current, text: res.text, headers: res.headers };
    }
    throw new Error(`${method} ${urlPath}: unreachable`);
  }

  /** A page load, as from the address bar or a link. */
  get(urlPath: string, maxRedirects?: number): Promise<WebResponse> {
    return this.request("GET", urlPath, { maxRedirects, navigate: true });
  }

  /** A script's request to a REST API (JupyterLab's, the hub's), with the XSRF header. */
  api(method: string, urlPath: string, json?: unknown): Promise<WebResponse> {
    return this.request(method, urlPath, { json, maxRedirects: 0 });
  }

  /** Logs in on the hub's form (GET /hub/login for the XSRF cookie, then POST it). */
  async login(username: string, password: string): Promise<WebResponse> {
    const page = await this.get("/hub/login");
    // The form's hidden _xsrf field, as a browser submits it.
    const xsrf = /name="_xsrf"\s+value="([^"]+)"/.exec(page.text)?.[1];
    if (!xsrf) throw new Error(`no _xsrf field on the login page (${page.status})`);
    return this.request("POST", "/hub/login", {
      form: { username, password, _xsrf: xsrf },
      maxRedirects: 0,
      navigate: true,
    });
  }
}
