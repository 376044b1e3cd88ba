/** Settings the nginx server block depends on. */
export interface NginxConfSettings {
  /** Port nginx listens on inside the pod (unprivileged image: above 1024). */
  listenPort: number;
  /** Folder served: where the NFS volume is mounted read-only. */
  root: string;
  /** htpasswd file whose users nginx admits (basic auth); everything but /healthz requires it. */
  htpasswdFile: string;
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
