/**
 * The alert rules, as Prometheus rule groups: what a GMP `Rules` object carries in `spec.groups`
 * (monitoring.googleapis.com/v1 RuleGroup: name, interval, rules of alert, expr, for, labels,
 * annotations) and, the same groups, what `promtool check rules` and `promtool test rules` read.
 *
 * GMP scopes a namespaced `Rules` object to its own namespace and cluster: it adds their labels to
 * every selector, so an expression here sees only the series scraped in that namespace. The `job`
 * label of a scraped series is the name of the PodMonitoring that scraped it (GMP's pod_config.go).
 */

export interface AlertRule {
  alert: string;
  expr: string;
  /** How long the expression must hold before the alert fires (Prometheus duration). */
  for: string;
  labels: { severity: "warning" | "critical" };
  annotations: { summary: string; description: string };
}

export interface RuleGroup {
  name: string;
  /** How often the group is evaluated (Prometheus duration). */
  interval: string;
  rules: AlertRule[];
}

/** The metric names the hub rules read: JupyterHub 5.5's own (jupyterhub/metrics.py). */
export const hubMetrics = {
  /**
   * Histogram with a `status` label. JupyterHub creates every status's series at start-up
   * (ServerSpawnStatus: success, failure, already-pending, throttled, too-many-users), so a failure
   * counter exists, at 0, before the first failure.
   */
  spawnDurationCount: "jupyterhub_server_spawn_duration_seconds_count",
  runningServers: "jupyterhub_running_servers",
  /** Gauge with a `period` label (24h, 7d, 30d), recomputed every hour and at start-up. */
  activeUsers: "jupyterhub_active_users",
} as const;

/**
 * The spawn statuses that mean a user asked for a server and got none: the spawner failed, or a
 * limit (concurrent_spawn_limit, active_server_limit) turned the request away.
 */
export const failedSpawnStatuses = ["failure", "throttled", "too-many-users"] as const;

/** The storage metrics the NFS server's usage exporter serves (only when per-user quotas are on). */
export const storageMetrics = {
  filesystemSize: "jupyterhub_nfs_filesystem_size_bytes",
  filesystemUsed: "jupyterhub_nfs_filesystem_used_bytes",
  /** Both with a `user` label: the folder's name under notebooks/. */
  userUsed: "jupyterhub_nfs_user_used_bytes",
  userQuota: "jupyterhub_nfs_user_quota_bytes",
  quotaReportSuccess: "jupyterhub_nfs_quota_report_success",
} as const;

/** The thresholds the storage alerts fire at (fractions). */
export const storageThresholds = { diskWarning: 0.8, diskCritical: 0.95, userQuota: 0.9 } as const;

/** The scrape jobs the rules read: the names of the PodMonitorings (GMP's `job` label). */
export interface HubJobs {
  hub: string;
  proxy: string;
}

/**
 * A target that is down (`up` 0: the scrape failed) or gone (no `up` series at all: no pod of it
 * runs, so nothing is scraped). `absent` is what catches a Deployment scaled to nothing or a pod
 * that never gets scheduled; `up` alone would say nothing then.
 */
function notUp(job: string): string {
  return `up{job="${job}"} == 0 or absent(up{job="${job}"})`;
}

const percent = (f: number) => `${Math.round(f * 100)} %`;

/** The hub namespace's group: failed spawns, the hub and the proxy not ready. */
export function hubRuleGroups(jobs: HubJobs): RuleGroup[] {
  return [
    {
      name: "jupyterhub",
      interval: "30s",
      rules: [
        {
          alert: "JupyterHubSpawnsFailing",
          expr: `sum by (status) (increase(${hubMetrics.spawnDurationCount}{job="${jobs.hub}", status=~"${failedSpawnStatuses.join("|")}"}[10m])) > 0`,
          for: "0s",
          labels: { severity: "warning" },
          annotations: {
            summary: "User servers failed to start ({{ $labels.status }})",
            description:
              "In the last 10 minutes the hub gave up on at least one spawn with status {{ $labels.status }}: " +
              "failure (the pod did not start or answer in time), throttled (concurrent_spawn_limit) or " +
              "too-many-users (active_server_limit). See docs/operations.md, Alerts.",
          },
        },
        {
          alert: "JupyterHubHubNotReady",
          expr: notUp(jobs.hub),
          for: "5m",
          labels: { severity: "critical" },
          annotations: {
            summary: "The hub has not answered its metrics scrape for 5 minutes",
            description:
              "No hub pod answered /hub/metrics (down, not scheduled, or refusing the metrics token): " +
              "nobody can log in or start a server. See docs/operations.md, Alerts.",
          },
        },
        {
          alert: "JupyterHubProxyNotReady",
          expr: notUp(jobs.proxy),
          for: "5m",
          labels: { severity: "critical" },
          annotations: {
            summary: "The proxy has not answered its metrics scrape for 5 minutes",
            description:
              "No configurable-http-proxy pod answered on its metrics port: users cannot reach the hub " +
              "or their servers. See docs/operations.md, Alerts.",
          },
        },
      ],
    },
  ];
}

/** The NFS namespace's group: the disk filling, a user near their quota, the NFS server not ready. */
export function storageRuleGroups(job: string): RuleGroup[] {
  const used = `${storageMetrics.filesystemUsed}{job="${job}"} / ${storageMetrics.filesystemSize}{job="${job}"}`;
  const { diskWarning, diskCritical, userQuota } = storageThresholds;
  return [
    {
      name: "jupyterhub-nfs-storage",
      interval: "1m",
      rules: [
        {
          alert: "NotebookDiskFilling",
          // Below the critical threshold only: one alert at a time for the disk.
          expr: `${used} >= ${diskWarning} < ${diskCritical}`,
          for: "15m",
          labels: { severity: "warning" },
          annotations: {
            summary: `The notebook disk is over ${percent(diskWarning)} full`,
            description:
              "The NFS export's file system is filling: grow the disk (diskSize) or ask users to clean up " +
              "before it is full. See docs/operations.md, Alerts.",
          },
        },
        {
          alert: "NotebookDiskAlmostFull",
          expr: `${used} >= ${diskCritical}`,
          for: "5m",
          labels: { severity: "critical" },
          annotations: {
            summary: `The notebook disk is over ${percent(diskCritical)} full`,
            description:
              "Every user's saves fail when it is full: grow the disk (diskSize) now. See docs/operations.md, Alerts.",
          },
        },
        {
          alert: "NotebookUserNearQuota",
          // A folder with no limit has no quota series, so it never matches.
          expr: `${storageMetrics.userUsed}{job="${job}"} / ${storageMetrics.userQuota}{job="${job}"} >= ${userQuota}`,
          for: "15m",
          labels: { severity: "warning" },
          annotations: {
            summary: `{{ $labels.user }} has used over ${percent(userQuota)} of their quota`,
            description:
              "Their saves fail at the quota: raise it (userQuotaOverrides) or ask them to clean up. " +
              "See docs/operations.md, Alerts.",
          },
        },
        {
          alert: "NotebookQuotaReportFailing",
          expr: `${storageMetrics.quotaReportSuccess}{job="${job}"} == 0`,
          for: "15m",
          labels: { severity: "warning" },
          annotations: {
            summary: "The NFS server's quota report cannot be read",
            description: "Per-user usage is not known, so no quota alert can fire. See docs/operations.md, Alerts.",
          },
        },
        {
          alert: "NfsServerNotReady",
          expr: notUp(job),
          for: "5m",
          labels: { severity: "critical" },
          annotations: {
            summary: "The NFS server pod has not answered its metrics scrape for 5 minutes",
            description:
              "No NFS server pod runs, or its usage exporter does not answer: user servers cannot read " +
              "or save notebooks. See docs/operations.md, Alerts.",
          },
        },
      ],
    },
  ];
}
