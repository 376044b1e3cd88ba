/**
 * Monitoring (components/monitoring): what the stack renders for GKE's Managed Service for
 * Prometheus, and the alert rules checked and tested by the real promtool (the toolchain's
 * `promtool` part). The real hub serving /hub/metrics to the stack's token is in the journey.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { stringify } from "yaml";
import { gmpCollector, monitoringJobs, type RuleGroup } from "../components/monitoring";
import {
  failedSpawnStatuses,
  hubMetrics,
  hubRuleGroups,
  storageMetrics,
  storageRuleGroups,
} from "../components/monitoring/alertRules";
import type { JsonObject } from "../render/mocks";
import { promtool } from "./support/promtool";
import { at, manifest, manifests, rendered } from "./support/rendered";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "jhnfs-monitoring-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const specOf = (m: JsonObject) => m.spec as JsonObject;

/** The rendered Rules object's groups, as YAML a rule file holds. */
function ruleFile(name: string, groups: unknown): string {
  const file = path.join(tmp, `${name}.rules.yaml`);
  fs.writeFileSync(file, stringify({ groups }));
  return path.basename(file);
}

/** An alert promtool should find firing: its labels, and its annotations as Prometheus expands them. */
interface ExpectedAlert {
  labels: Record<string, string>;
}

/** One alert's expected state at one time, in a `promtool test rules` test. */
interface AlertCheck {
  at: string;
  alert: string;
  firing: ExpectedAlert[];
}

/** `{{ $labels.x }}` expanded as Prometheus's template engine does for these annotations. */
function expand(text: string, labels: Record<string, string>): string {
  return text.replace(/\{\{ \$labels\.([a-z_]+) \}\}/g, (_, l: string) => labels[l] ?? "");
}

/**
 * Runs `promtool test rules` on one test: the series (1-minute steps), and for each check the
 * alerts that must be firing (none: it must not fire). Annotations are compared too.
 */
function promtoolTest(file: string, groups: RuleGroup[], series: Record<string, string>, checks: AlertCheck[]) {
  const rules = new Map(groups.flatMap((g) => g.rules.map((r) => [r.alert, r])));
  const test = {
    rule_files: [file],
    evaluation_interval: "30s",
    tests: [
      {
        interval: "1m",
        input_series: Object.entries(series).map(([s, values]) => ({ series: s, values })),
        alert_rule_test: checks.map((c) => {
          const rule = rules.get(c.alert);
          assert.ok(rule, `no rule ${c.alert}`);
          return {
            eval_time: c.at,
            alertname: c.alert,
            exp_alerts: c.firing.map((a) => {
              const labels = { ...a.labels, ...rule.labels };
              return {
                exp_labels: labels,
                exp_annotations: Object.fromEntries(
                  Object.entries(rule.annotations).map(([k, v]) => [k, expand(v, labels)]),
                ),
              };
            }),
          };
        }),
      },
    ],
  };
  const testFile = path.join(tmp, `${file}.${Math.random().toString(36).slice(2)}.test.yaml`);
  fs.writeFileSync(testFile, stringify(test));
  const r = promtool(["test", "rules", path.basename(testFile)], tmp);
  assert.equal(r.status, 0, `promtool test rules failed:\n${r.output}`);
  assert.match(r.output, /SUCCESS/);
}

describe("monitoring off (the dev stack, its default): nothing of it is rendered", () => {
  it("no PodMonitoring, Rules, metrics token or collector RBAC; the hub config has no scraper", async () => {
    const r = await rendered("dev");
    for (const kind of ["PodMonitoring", "Rules"]) assert.equal(manifests(r, kind).length, 0, kind);
    assert.ok(!r.manifests.some((m) => String((m.metadata as JsonObject).name).includes("metrics-token")));
    const hub = manifest(r, "Deployment", "hub");
    const env = at(hub, "spec", "template", "spec", "containers", 0, "env") as JsonObject[];
    assert.ok(!env.some((e) => e.name === "JUPYTERHUB_METRICS_TOKEN"));
    const proxy = manifest(r, "Deployment", "proxy");
    const command = at(proxy, "spec", "template", "spec", "containers", 0, "command") as string[];
    assert.ok(!command.some((a) => a.startsWith("--metrics")));
  });
});

describe("monitoring on (the prod stack): GMP's PodMonitorings and Rules, and a token only the collector reads", () => {
  const prod = () => rendered("prod", ["monitoring=true"]);

  it("the hub's PodMonitoring scrapes /hub/metrics on the hub pod's port with the token Secret; the hub reads the same token", async () => {
    const r = await prod();
    const pm = manifest(r, "PodMonitoring", monitoringJobs.hub);
    const hub = manifest(r, "Deployment", "hub");
    assert.deepEqual(at(pm, "spec", "selector", "matchLabels"), at(hub, "spec", "selector", "matchLabels"));
    const endpoint = at(pm, "spec", "endpoints", 0) as JsonObject;
    const ports = at(hub, "spec", "template", "spec", "containers", 0, "ports") as JsonObject[];
    assert.ok(
      ports.some((p) => p.name === endpoint.port),
      `the hub container has a port named ${String(endpoint.port)}`,
    );
    assert.equal(endpoint.path, "/hub/metrics");
    assert.deepEqual(endpoint.authorization, {
      type: "Bearer",
      credentials: { secret: { name: "hub-metrics-token", key: "token" } },
    });
    const secret = manifest(r, "Secret", "hub-metrics-token");
    const token = String((secret.stringData as JsonObject).token);
    assert.ok(token.length >= 32, "a generated token");
    const env = at(hub, "spec", "template", "spec", "containers", 0, "env") as JsonObject[];
    assert.deepEqual(env.find((e) => e.name === "JUPYTERHUB_METRICS_TOKEN")?.valueFrom, {
      secretKeyRef: { name: "hub-metrics-token", key: "token" },
    });
    // The hub's own Secret (cookie secret, proxy token) is not where the collector's token is.
    const hubSecret = manifest(r, "Secret", "hub");
    assert.ok(!Object.values(hubSecret.stringData as JsonObject).includes(token));
  });

  it("the hub config gives that token's service the read:metrics scope and nothing else; metrics stay authenticated", async () => {
    const r = await prod();
    const config = Object.entries(manifest(r, "ConfigMap", "jupyterhub-hub-config-").data as JsonObject).find(
      ([k]) => k === "jupyterhub_config.py",
    )?.[1];
    const text = String(config);
    assert.match(text, /\{"name": "metrics-scraper", "scopes": \["read:metrics"\], "services": \["gmp-collector"\]\}/);
    assert.match(text, /"api_token": os\.environ\["JUPYTERHUB_METRICS_TOKEN"\]/);
    assert.doesNotMatch(text, /^c\.JupyterHub\.authenticate_prometheus/m, "JupyterHub's default (on) is kept");
  });

  it("GMP's collector may get, list and watch that one Secret, in the hub namespace only", async () => {
    const r = await prod();
    const role = manifest(r, "Role", "gmp-collector-metrics-token");
    assert.deepEqual(role.rules, [
      {
        apiGroups: [""],
        resources: ["secrets"],
        resourceNames: ["hub-metrics-token"],
        verbs: ["get", "list", "watch"],
      },
    ]);
    const binding = manifest(r, "RoleBinding", "gmp-collector-metrics-token");
    assert.deepEqual(binding.subjects, [
      { kind: "ServiceAccount", name: gmpCollector.serviceAccount, namespace: gmpCollector.namespace },
    ]);
    assert.equal(at(binding, "roleRef", "name"), "gmp-collector-metrics-token");
    assert.equal(manifests(r, "ClusterRoleBinding").length, 0, "no cluster-wide grant");
  });

  it("the proxy serves its metrics on a port of its own, which its PodMonitoring scrapes", async () => {
    const r = await prod();
    const proxy = manifest(r, "Deployment", "proxy");
    const container = at(proxy, "spec", "template", "spec", "containers", 0) as JsonObject;
    const port = (container.ports as JsonObject[]).find((p) => p.name === "metrics");
    assert.ok(port, "a container port named metrics");
    assert.ok((container.command as string[]).includes(`--metrics-port=${String(port.containerPort)}`));
    const pm = manifest(r, "PodMonitoring", monitoringJobs.proxy);
    assert.deepEqual(at(pm, "spec", "selector", "matchLabels"), at(proxy, "spec", "selector", "matchLabels"));
    assert.deepEqual(at(pm, "spec", "endpoints", 0), { port: "metrics", path: "/metrics", interval: "30s" });
  });

  it("the NetworkPolicies admit GMP's collector to the hub's port and the proxy's metrics port, nothing more", async () => {
    const r = await prod();
    const fromCollector = {
      namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": gmpCollector.namespace } },
      podSelector: { matchLabels: gmpCollector.podSelector },
    };
    const collectorPorts = (policy: string) =>
      (at(manifest(r, "NetworkPolicy", policy), "spec", "ingress") as JsonObject[])
        .filter((rule) => JSON.stringify(rule.from) === JSON.stringify([fromCollector]))
        .flatMap((rule) => (rule.ports as JsonObject[]).map((p) => p.port));
    assert.deepEqual(collectorPorts("hub"), [8081]);
    assert.deepEqual(collectorPorts("proxy"), [8002]);
    assert.deepEqual(collectorPorts("singleuser"), []);
  });

  it("the Rules object carries the hub's rule groups, which promtool checks", async () => {
    const r = await prod();
    const rules = manifest(r, "Rules", "jupyterhub");
    assert.deepEqual(specOf(rules).groups, hubRuleGroups(monitoringJobs));
    const file = ruleFile("hub", specOf(rules).groups);
    const check = promtool(["check", "rules", file], tmp);
    assert.equal(check.status, 0, check.output);
    assert.match(check.output, /SUCCESS: 3 rules found/);
  });
});

describe("monitoring with per-user quotas: the NFS server's usage exporter, and the storage alerts", () => {
  it("scrapes the exporter's port on the NFS server pod and puts the storage Rules in the NFS namespace (a Rules object sees its own namespace only)", async () => {
    const r = await rendered("prod", ["monitoring=true", "userQuotaDefault=10Gi"]);
    const pm = manifest(r, "PodMonitoring", monitoringJobs.storage);
    const nfs = manifest(r, "Deployment", "nfs-server");
    assert.equal(at(pm, "metadata", "namespace"), at(nfs, "metadata", "namespace"));
    assert.deepEqual(at(pm, "spec", "selector", "matchLabels"), at(nfs, "spec", "selector", "matchLabels"));
    const endpoint = at(pm, "spec", "endpoints", 0) as JsonObject;
    assert.deepEqual(endpoint, { port: "metrics", path: "/metrics", interval: "30s" });
    const containers = at(nfs, "spec", "template", "spec", "containers") as JsonObject[];
    const exporter = containers.find((c) => c.name === "usage-exporter");
    assert.ok(exporter, "the usage-exporter container");
    assert.ok(
      (exporter.ports as JsonObject[]).some((p) => p.name === endpoint.port),
      "... has the port scraped",
    );
    const rules = manifest(r, "Rules", "jupyterhub-nfs-storage");
    assert.equal(at(rules, "metadata", "namespace"), at(nfs, "metadata", "namespace"));
    assert.deepEqual(specOf(rules).groups, storageRuleGroups(monitoringJobs.storage));
    const check = promtool(["check", "rules", ruleFile("storage", specOf(rules).groups)], tmp);
    assert.equal(check.status, 0, check.output);
    assert.match(check.output, /SUCCESS: 5 rules found/);
  });

  it("without quotas there is no exporter, so no storage PodMonitoring or Rules", async () => {
    const r = await rendered("prod", ["monitoring=true"]);
    assert.equal(manifests(r, "PodMonitoring").length, 2);
    assert.deepEqual(
      manifests(r, "Rules").map((m) => at(m, "metadata", "name")),
      ["jupyterhub"],
    );
  });

  it("promtool refuses a broken expression (the check is real)", () => {
    const [group] = storageRuleGroups(monitoringJobs.storage);
    const broken = [{ ...group, rules: [{ ...group.rules[0], expr: `${storageMetrics.filesystemUsed} >` }] }];
    const check = promtool(["check", "rules", ruleFile("broken", broken)], tmp);
    assert.notEqual(check.status, 0);
    assert.match(check.output, /parse error/);
  });
});

describe("promtool test rules: each alert fires when it should and not otherwise", () => {
  const hubGroups = hubRuleGroups(monitoringJobs);
  const hubFile = ruleFile("hub-tests", hubGroups);
  const storageGroups = storageRuleGroups(monitoringJobs.storage);
  const storageFile = ruleFile("storage-tests", storageGroups);
  const hubUp = (job: string, pod: string) => `up{job="${job}", instance="${pod}:http"}`;
  const spawns = (status: string) =>
    `${hubMetrics.spawnDurationCount}{job="hub", instance="hub-0:http", status="${status}"}`;

  it("JupyterHubSpawnsFailing: a failed or throttled spawn fires it for 10 minutes; successes never do", () => {
    assert.deepEqual(failedSpawnStatuses, ["failure", "throttled", "too-many-users"]);
    promtoolTest(
      hubFile,
      hubGroups,
      {
        [spawns("success")]: "0+1x40",
        // One failure at minute 3.
        [spawns("failure")]: "0 0 0 1x40",
        [spawns("throttled")]: "0x40",
      },
      [
        { at: "2m", alert: "JupyterHubSpawnsFailing", firing: [] },
        { at: "5m", alert: "JupyterHubSpawnsFailing", firing: [{ labels: { status: "failure" } }] },
        { at: "30m", alert: "JupyterHubSpawnsFailing", firing: [] },
      ],
    );
  });

  it("JupyterHubHubNotReady: the hub's scrape failing for 5 minutes, or no hub to scrape at all; not a short blip", () => {
    promtoolTest(hubFile, hubGroups, { [hubUp("hub", "hub-0")]: "1 1 0x20", [hubUp("proxy", "proxy-0")]: "1x20" }, [
      { at: "4m", alert: "JupyterHubHubNotReady", firing: [] },
      { at: "10m", alert: "JupyterHubHubNotReady", firing: [{ labels: { job: "hub", instance: "hub-0:http" } }] },
      { at: "10m", alert: "JupyterHubProxyNotReady", firing: [] },
    ]);
    promtoolTest(hubFile, hubGroups, { [hubUp("proxy", "proxy-0")]: "1x20" }, [
      { at: "10m", alert: "JupyterHubHubNotReady", firing: [{ labels: { job: "hub" } }] },
    ]);
    promtoolTest(hubFile, hubGroups, { [hubUp("hub", "hub-0")]: "1 0 0 1x20" }, [
      { at: "10m", alert: "JupyterHubHubNotReady", firing: [] },
    ]);
  });

  it("JupyterHubProxyNotReady: the proxy's scrape failing for 5 minutes, or no proxy at all", () => {
    promtoolTest(hubFile, hubGroups, { [hubUp("hub", "hub-0")]: "1x20", [hubUp("proxy", "proxy-0")]: "0x20" }, [
      { at: "3m", alert: "JupyterHubProxyNotReady", firing: [] },
      { at: "8m", alert: "JupyterHubProxyNotReady", firing: [{ labels: { job: "proxy", instance: "proxy-0:http" } }] },
      { at: "8m", alert: "JupyterHubHubNotReady", firing: [] },
    ]);
    promtoolTest(hubFile, hubGroups, { [hubUp("hub", "hub-0")]: "1x20" }, [
      { at: "10m", alert: "JupyterHubProxyNotReady", firing: [{ labels: { job: "proxy" } }] },
    ]);
  });

  const target = { job: monitoringJobs.storage, instance: "nfs-server-0:metrics" };
  const series = (name: string, extra = "") => `${name}{job="${target.job}", instance="${target.instance}"${extra}}`;
  const disk = (usedGi: number) => ({
    [series(storageMetrics.filesystemSize)]: "100x30",
    [series(storageMetrics.filesystemUsed)]: `${usedGi}x30`,
  });

  it("NotebookDiskFilling at 80 % for 15 minutes, NotebookDiskAlmostFull (alone) at 95 % for 5", () => {
    for (const [used, filling, full] of [
      [50, false, false],
      [85, true, false],
      [97, false, true],
    ] as const) {
      promtoolTest(storageFile, storageGroups, disk(used), [
        { at: "10m", alert: "NotebookDiskFilling", firing: [] },
        { at: "20m", alert: "NotebookDiskFilling", firing: filling ? [{ labels: target }] : [] },
        { at: "3m", alert: "NotebookDiskAlmostFull", firing: [] },
        { at: "20m", alert: "NotebookDiskAlmostFull", firing: full ? [{ labels: target }] : [] },
      ]);
    }
  });

  it("NotebookUserNearQuota: a user past 90 % of their quota for 15 minutes; not one below it, nor one without a quota", () => {
    const user = (name: string) => `, user="${name}"`;
    promtoolTest(
      storageFile,
      storageGroups,
      {
        ...disk(10),
        [series(storageMetrics.userUsed, user("alice"))]: "95x30",
        [series(storageMetrics.userQuota, user("alice"))]: "100x30",
        [series(storageMetrics.userUsed, user("bob"))]: "50x30",
        [series(storageMetrics.userQuota, user("bob"))]: "100x30",
        // No limit: no quota series (the exporter's contract).
        [series(storageMetrics.userUsed, user("carol"))]: "5000x30",
      },
      [
        { at: "10m", alert: "NotebookUserNearQuota", firing: [] },
        { at: "20m", alert: "NotebookUserNearQuota", firing: [{ labels: { ...target, user: "alice" } }] },
      ],
    );
  });

  it("NotebookQuotaReportFailing when the quota report has not been read for 15 minutes", () => {
    const report = series(storageMetrics.quotaReportSuccess);
    promtoolTest(storageFile, storageGroups, { [report]: "0x30" }, [
      { at: "10m", alert: "NotebookQuotaReportFailing", firing: [] },
      { at: "20m", alert: "NotebookQuotaReportFailing", firing: [{ labels: target }] },
    ]);
    promtoolTest(storageFile, storageGroups, { [report]: "1x30" }, [
      { at: "20m", alert: "NotebookQuotaReportFailing", firing: [] },
    ]);
  });

  it("NfsServerNotReady: the exporter's scrape failing for 5 minutes, or no NFS server pod at all", () => {
    const up = `up{job="${target.job}", instance="${target.instance}"}`;
    promtoolTest(storageFile, storageGroups, { [up]: "1 0x20" }, [
      { at: "4m", alert: "NfsServerNotReady", firing: [] },
      { at: "8m", alert: "NfsServerNotReady", firing: [{ labels: target }] },
    ]);
    promtoolTest(storageFile, storageGroups, { [up]: "1x20" }, [{ at: "10m", alert: "NfsServerNotReady", firing: [] }]);
    promtoolTest(storageFile, storageGroups, disk(10), [
      { at: "10m", alert: "NfsServerNotReady", firing: [{ labels: { job: target.job } }] },
    ]);
  });
});
