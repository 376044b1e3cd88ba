/** Settings the nginx server block depends on. */
export interface NginxConfSettings {
  /** Port nginx listens on inside the pod (unprivileged image: above 1024). */
  listenPort: number;
  /** Folder served: where the NFS volume is mounted read-only. */
  root: string;
  /** htpasswd file whose users nginx admits (basic auth); everything but /healthz requires it. */
  htpasswdFile: string;
  /**
   * `address:port` of the NFS server's usage exporter, whose usage page nginx serves at /usage/;
   * without it (per-user quotas off, or Filestore) /usage/ says why there is no such page.
   */
  usageUpstream?: string;
}

/** Where the file browser shows each folder's usage. */
export const usagePath = "/usage/";

/**
 * What /usage/ answers without a usage exporter: the usage comes from the kernel's per-user quota
 * report, and the disk is never walked to count it (on a large disk that takes hours, and load).
 */
export const usageOffText =
  "No per-folder usage: it is read from the per-user quota report of the NFS server, and per-user quotas are off (userQuotaDefault; Filestore has none).";

/** The /usage/ location: proxied to the usage exporter, or a 404 that says why there is none. */
function usageLocation(upstream: string | undefined): string[] {
  if (upstream === undefined) {
    return [
      `    location ${usagePath} {`,
      "        # Says why there is no usage page, after basic auth: try_files runs after the access",
      "        # checks (a `return` here would answer before them). Its one name, empty, is the root",
      "        # folder itself, never a file, so the fallback is always taken.",
      '        try_files "" @usage-off;',
      "    }",
      "",
      "    location @usage-off {",
      "        default_type text/plain;",
      `        return 404 "${usageOffText}\\n";`,
      "    }",
    ];
  }
  return [
    `    location ${usagePath} {`,
    "        # Each folder's usage and quota, and the disk's fill, from the NFS server's usage exporter",
    "        # (components/storage/userQuotasScript.ts); behind the same basic auth.",
    "        limit_except GET {",
    "            deny all;",
    "        }",
    `        proxy_pass http://${upstream};`,
    "    }",
  ];
}

/**
 * The file browser's nginx server block: a read-only directory listing of the NFS volume.
 * Included by the image's nginx.conf inside its `http` block (conf.d/*.conf).
 */
export function renderNginxConf(s: NginxConfSettings): string {
  return [
    "server {",
    `    listen ${s.listenPort};`,
    "    server_name _;",
    `    root ${s.root};`,
    "    server_tokens off;",
    `    auth_basic "notebooks";`,
    `    auth_basic_user_file ${s.htpasswdFile};`,
    "",
    "    location / {",
    "        # Read-only: anything but GET and HEAD is refused.",
    "        limit_except GET {",
    "            deny all;",
    "        }",
    "        autoindex on;",
    "        autoindex_exact_size off;",
    "        autoindex_localtime on;",
    "    }",
    "",
    ...usageLocation(s.usageUpstream),
    "",
    "    # For the readiness probe, which has no credentials.",
    "    location = /healthz {",
    "        auth_basic off;",
    "        access_log off;",
    "        default_type text/plain;",
    '        return 200 "ok\\n";',
    "    }",
    "}",
    "",
  ].join("\n");
}
