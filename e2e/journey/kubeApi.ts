import * as fs from "node:fs";
import * as https from "node:https";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import type { KubeObject } from "../lib/cluster";

interface KubeconfigFile {
  "current-context"?: string;
  contexts?: { name: string; context: { cluster: string; user: string } }[];
  clusters?: { name: string; cluster: Record<string, string> }[];
  users?: { name: string; user: Record<string, string> }[];
}

export interface WatchEvent {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: KubeObject;
}

/**
 * A small client for the local API server (the journey's kubelet stand-in talks to it many
 * times a second; a kubectl process per call would cost more CPU than the pods it runs).
 * Credentials from a kubeconfig: client certificate or bearer token, inline or in files.
 */
export class KubeApi {
  private readonly agent: https.Agent;
  readonly server: URL;
  /** The cluster's CA certificate (PEM), as the kubeconfig names it. */
  readonly caPem?: Buffer;
  private readonly token?: string;

  constructor(kubeconfigPath: string) {
    const kc = parseYaml(fs.readFileSync(kubeconfigPath, "utf8")) as KubeconfigFile;
    const ctx = kc.contexts?.find((c) => c.name === kc["current-context"])?.context;
    const cluster = kc.clusters?.find((c) => c.name === ctx?.cluster)?.cluster;
    const user = kc.users?.find((u) => u.name === ctx?.user)?.user ?? {};
    if (!cluster) throw new Error(`${kubeconfigPath}: no cluster for the current context`);
    const dir = path.dirname(kubeconfigPath);
    const read = (data?: string, file?: string): Buffer | undefined =>
      data ? Buffer.from(data, "base64") : file ? fs.readFileSync(path.resolve(dir, file)) : undefined;
    this.server = new URL(cluster.server);
    if (!/^(127\.|localhost$|\[::1\]$)/.test(this.server.hostname)) {
      throw new Error(`the API server must be on loopback, not ${this.server.hostname}`);
    }
    this.token = user.token;
    this.caPem = read(cluster["certificate-authority-data"], cluster["certificate-authority"]);
    this.agent = new https.Agent({
      ca: this.caPem,
      cert: read(user["client-certificate-data"], user["client-certificate"]),
      key: read(user["client-key-data"], user["client-key"]),
      rejectUnauthorized: cluster["insecure-skip-tls-verify"] !== "true",
      keepAlive: true,
    });
  }

  private open(
    method: string,
    urlPath: string,
    headers: Record<string, string>,
    timeoutMs: number,
  ): https.RequestOptions & { timeout: number } {
    return {
      method,
      hostname: this.server.hostname,
      port: this.server.port,
      path: urlPath,
      agent: this.agent,
      timeout: timeoutMs,
      headers: {
        Accept: "application/json",
        ...(this.token ? { Authorization: `Bearer ${this.token}` } : {}),
        ...headers,
      },
    };
  }

  /** One request; rejects on any status but 2xx (404 included: use getOrUndefined for that). */
  request<T = KubeObject>(
    method: string,
    urlPath: string,
    body?: unknown,
    contentType = "application/json",
  ): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    // An explicit length: for DELETE Node sends neither a length nor chunked encoding by default,
    // and the API server then refuses the body (400) that carries the kubelet's grace period 0.
    const headers: Record<string, string> = payload
      ? { "Content-Type": contentType, "Content-Length": String(Buffer.byteLength(payload)) }
      : {};
    return new Promise<T>((resolve, reject) => {
      const req = https.request(this.open(method, urlPath, headers, 30_000), (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          if ((res.statusCode ?? 0) >= 300) {
            const err = new Error(`${method} ${urlPath}: ${res.statusCode} ${text.slice(0, 500)}`);
            (err as Error & { status?: number }).status = res.statusCode;
            reject(err);
          } else resolve((text ? JSON.parse(text) : {}) as T);
        });
      });
      req.on("timeout", () => req.destroy(new Error(`${method} ${urlPath}: timed out`)));
      req.on("error", reject);
      req.end(payload);
    });
  }

  async getOrUndefined(urlPath: string): Promise<KubeObject | undefined> {
    try {
      return await this.request("GET", urlPath);
    } catch (err: unknown) {
      if ((err as { status?: number }).status === 404) return undefined;
      throw err;
    }
  }

  mergePatch(urlPath: string, patch: unknown): Promise<KubeObject> {
    return this.request("PATCH", urlPath, patch, "application/merge-patch+json");
  }

  /**
   * Watches a collection (urlPath without `watch`), calling onEvent for each event; re-lists and
   * re-watches when the server ends the stream, until stop() is called.
   */
  watch(urlPath: string, onEvent: (e: WatchEvent) => void, onError: (err: Error) => void): { stop(): void } {
    let stopped = false;
    let current: ReturnType<typeof https.request> | undefined;
    const sep = urlPath.includes("?") ? "&" : "?";
    const loop = async (): Promise<void> => {
      while (!stopped) {
        try {
          const list = await this.request<{ items: KubeObject[]; metadata: { resourceVersion: string } }>(
            "GET",
            urlPath,
          );
          for (const object of list.items) onEvent({ type: "ADDED", object });
          await new Promise<void>((resolve, reject) => {
            const url = `${urlPath}${sep}watch=true&resourceVersion=${list.metadata.resourceVersion}&timeoutSeconds=300`;
            current = https.request(this.open("GET", url, {}, 0), (res) => {
              if ((res.statusCode ?? 0) >= 300) {
                reject(new Error(`watch ${urlPath}: ${res.statusCode}`));
                res.resume();
                return;
              }
              let buffered = "";
              res.on("data", (c: Buffer) => {
                buffered += c.toString("utf8");
                let nl: number;
                while ((nl = buffered.indexOf("\n")) >= 0) {
                  const line = buffered.slice(0, nl).trim();
                  buffered = buffered.slice(nl + 1);
                  if (line) onEvent(JSON.parse(line) as WatchEvent);
                }
              });
              res.on("end", resolve);
              res.on("error", reject);
            });
            current.on("error", reject);
            current.end();
          });
        } catch (err: unknown) {
          if (stopped) return;
          onError(err as Error);
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    };
    void loop();
    return {
      stop: () => {
        stopped = true;
        current?.destroy();
      },
    };
  }

  close(): void {
    this.agent.destroy();
  }
}
