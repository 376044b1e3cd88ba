import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { usageOffText } from "../../components/fileBrowser/nginxConf";
import { userQuotasPy } from "../../components/storage/userQuotasScript";
import { credentialsOf, fileBrowserOf, freeLoopbackPort, imageConfD, NginxUnderTest } from "../support/nginx";
import { manifest } from "../support/rendered";
import { configOf, renderVariation, variations } from "../support/variations";

/** The throw-away folder nginx serves: a shared volume with two users' notebooks. */
const files = {
  "README.txt": "the shared notebooks volume\n",
  "notebooks/alice/analysis.ipynb": '{"cells": [], "nbformat": 4, "nbformat_minor": 5}\n',
  "notebooks/alice/data.csv": { size: 3 * 1024 * 1024 },
  "notebooks/alice/table.parquet": { size: 20 * 1024 },
  "notebooks/bob/notes.md": "# bob's notes\n",
};

const basic = (user: string, password: string) => ({
  authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`,
});

/**
 * The NFS server's usage exporter (the real script, `export`) on this machine, over `root`, on a
 * loopback port: it stands in for the usage Service. This machine's file system is not XFS with
 * project quotas, so it serves the disk's fill and why there is no per-folder usage (the kernel
 * lab serves the real quota report). Resolves once it answers on `port`.
 */
async function startUsageExporter(dir: string, root: string, port: number): Promise<ChildProcess> {
  const script = path.join(dir, "user_quotas.py");
  fs.writeFileSync(script, userQuotasPy);
  const child = spawn("python3", [script, "export", root, "notebooks", String(port)], { stdio: "ignore" });
  for (let attempt = 0; attempt < 200; attempt++) {
    const up = await fetch(`http://127.0.0.1:${port}/usage/usage.json`).then(
      (res) => res.ok,
      () => false,
    );
    if (up) return child;
    await new Promise((r) => setTimeout(r, 25));
  }
  child.kill();
  throw new Error("the usage exporter never answered");
}

describe("the file browser's nginx config under Debian's nginx", () => {
  for (const v of variations()) {
    const cfg = configOf(v);
    if (!cfg.fileBrowser) {
      test(`${v.name}: no file browser, so no nginx config`, async () => {
        assert.equal(fileBrowserOf(await renderVariation(v)), undefined);
      });
      continue;
    }
    test(`${v.name} (${cfg.fileBrowserServiceType}, basic auth)`, async (t) => {
      const r = await renderVariation(v);
      const fb = fileBrowserOf(r);
      assert.ok(fb, "no ConfigMap with an nginx default.conf in the rendering");
      assert.equal(
        fb.confMountPath,
        imageConfD,
        "the ConfigMap must be mounted where the image includes server blocks",
      );
      assert.ok(fb.filesReadOnly, "the notebooks volume must be mounted read-only");
      // Whatever the Service type: a ClusterIP Service is open to every pod NetworkPolicy does not stop.
      assert.ok(fb.htpasswd, "basic auth must be on behind every Service type");
      const creds = credentialsOf(r, fb);
      const auth = basic(creds.user, creds.password);

      // With per-user quotas, /usage/ is proxied to the usage exporter's Service.
      const quotas = cfg.userQuotaDefault !== "" && cfg.diskKind !== "filestore";
      const usagePort = quotas ? await freeLoopbackPort() : undefined;
      const nginx = await NginxUnderTest.prepare(
        fb,
        files,
        usagePort === undefined ? {} : { proxyPass: `http://127.0.0.1:${usagePort}` },
      );
      let exporter: ChildProcess | undefined;
      try {
        // What the rewrite replaced must be what the pod has: its port, its mounts.
        assert.equal(nginx.rewritten.listen, String(fb.containerPort), "nginx must listen on the container port");
        assert.equal(nginx.rewritten.root, fb.filesMountPath, "nginx must serve the notebooks mount");
        assert.equal(
          nginx.rewritten.htpasswdFile,
          fb.htpasswd?.path,
          "auth_basic_user_file must be the mounted Secret",
        );

        const check = nginx.test();
        assert.ok(check.ok, `nginx -t refused the config:\n${check.output}\n${nginx.numberedServerBlock()}`);
        assert.match(check.output, /syntax is ok/);
        await nginx.start();

        await t.test("lists the served folder", async () => {
          const res = await fetch(nginx.url("/"), { headers: auth });
          const body = await res.text();
          assert.equal(res.status, 200, body);
          assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
          assert.equal(res.headers.get("server"), "nginx", "server_tokens off: no version in the Server header");
          assert.match(body, /<title>Index of \/<\/title>/);
          assert.match(body, /href="README\.txt"/);
          assert.match(body, /href="notebooks\/"/);
        });

        await t.test("shows sizes human-readable", async () => {
          const res = await fetch(nginx.url("/notebooks/alice/"), { headers: auth });
          const body = await res.text();
          assert.equal(res.status, 200, body);
          const row = (name: string) => body.split("\n").find((l) => l.includes(`href="${name}"`)) ?? "";
          assert.match(row("data.csv"), /\s3M\s*$/);
          assert.match(row("table.parquet"), /\s20K\s*$/);
          assert.match(row("analysis.ipynb"), /\s\d+\s*$/);
          assert.doesNotMatch(body, /3145728/);
        });

        await t.test("serves a file", async () => {
          const res = await fetch(nginx.url("/notebooks/bob/notes.md"), { headers: auth });
          assert.equal(res.status, 200);
          assert.equal(await res.text(), files["notebooks/bob/notes.md"]);
          const head = await fetch(nginx.url("/notebooks/bob/notes.md"), { method: "HEAD", headers: auth });
          assert.equal(head.status, 200);
        });

        await t.test("refuses writes", async () => {
          const writes: [string, string][] = [
            ["PUT", "/notebooks/alice/new.txt"],
            ["POST", "/notebooks/alice/"],
            ["DELETE", "/notebooks/bob/notes.md"],
            ["PATCH", "/README.txt"],
          ];
          for (const [method, p] of writes) {
            const res = await fetch(nginx.url(p), {
              method,
              headers: auth,
              body: method === "DELETE" ? undefined : "x",
            });
            await res.arrayBuffer();
            assert.equal(res.status, 403, `${method} ${p} with credentials`);
            const anonymous = await fetch(nginx.url(p), { method, body: method === "DELETE" ? undefined : "x" });
            await anonymous.arrayBuffer();
            assert.ok([401, 403].includes(anonymous.status), `${method} ${p} without credentials: ${anonymous.status}`);
          }
          assert.ok(!fs.existsSync(path.join(nginx.filesDir, "notebooks/alice/new.txt")));
          assert.ok(fs.existsSync(path.join(nginx.filesDir, "notebooks/bob/notes.md")));
        });

        await t.test(
          "/usage/: each folder's usage from the NFS server's usage exporter, or why there is none",
          async () => {
            const anonymous = await fetch(nginx.url("/usage/"));
            await anonymous.arrayBuffer();
            assert.equal(anonymous.status, 401, "behind the same basic auth");
            if (usagePort === undefined) {
              const res = await fetch(nginx.url("/usage/"), { headers: auth });
              assert.equal(res.status, 404);
              assert.equal(await res.text(), `${usageOffText}\n`);
              return;
            }
            const service = manifest(r, "Service", "nfs-server-usage");
            const { clusterIP, ports } = service.spec as { clusterIP: string; ports: { port: number }[] };
            assert.equal(
              nginx.rewritten.proxyPass,
              `http://${clusterIP}:${ports[0].port}`,
              "the usage Service's address",
            );
            exporter = await startUsageExporter(nginx.dir, nginx.filesDir, usagePort);
            const res = await fetch(nginx.url("/usage/"), { headers: auth });
            const page = await res.text();
            assert.equal(res.status, 200, `${page}\n${nginx.errorLogText()}`);
            assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
            assert.match(page, /<p>Disk: [\d.]+ \S+ of [\d.]+ \S+ used \([\d.]+ %\)<\/p>/);
            assert.match(page, /No per-folder usage: the quota report could not be read: .* not XFS/);
            const json = (await (await fetch(nginx.url("/usage/usage.json"), { headers: auth })).json()) as {
              quotaReport: { ok: boolean };
              folders: unknown[];
            };
            assert.deepEqual([json.quotaReport.ok, json.folders], [false, []]);
            const post = await fetch(nginx.url("/usage/"), { method: "POST", headers: auth, body: "x" });
            await post.arrayBuffer();
            assert.equal(post.status, 403, "read-only");
          },
        );

        await t.test("answers the readiness probe without credentials", async () => {
          const res = await fetch(nginx.url("/healthz"));
          assert.equal(res.status, 200);
          assert.equal(await res.text(), "ok\n");
        });

        await t.test("basic auth: no or wrong credentials are refused, the rendered ones let in", async () => {
          const none = await fetch(nginx.url("/"));
          await none.arrayBuffer();
          assert.equal(none.status, 401);
          assert.match(none.headers.get("www-authenticate") ?? "", /^Basic realm=/);
          const wrong = await fetch(nginx.url("/"), { headers: basic(creds.user, `${creds.password}x`) });
          await wrong.arrayBuffer();
          assert.equal(wrong.status, 401);
          const otherUser = await fetch(nginx.url("/"), { headers: basic("alice", creds.password) });
          await otherUser.arrayBuffer();
          assert.equal(otherUser.status, 401);
          // nginx checks the bcrypt hash with the C library's crypt(): this is what proves it can.
          const right = await fetch(nginx.url("/notebooks/"), { headers: auth });
          const body = await right.text();
          assert.equal(right.status, 200, `${body}\n${nginx.errorLogText()}`);
          assert.match(body, /href="alice\/"/);
        });
      } finally {
        exporter?.kill();
        await nginx.stop();
      }
    });
  }
});
