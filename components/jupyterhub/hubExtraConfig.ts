import { py } from "./pythonLiteral";

/** A named piece of Python run by the hub after our jupyterhub_config.py (hubExtraConfig). */
export interface HubConfigSnippet {
  /** Orders the snippets (they run in name order) and names the file; letters, digits, `-`, `_`, `.`. */
  name: string;
  python: string;
}

/**
 * A group of settings the stack's config decides, which no snippet may change: the sections
 * traitlets reads them from for the class that uses them (the class and every configurable base,
 * most derived first: a value set on a base class's section applies too) and the keys.
 */
export interface ProtectedSettings {
  what: string;
  sections: readonly string[];
  keys: readonly string[];
}

/** The hub application's own sections (JupyterHub and its bases): traitlets also reads a class's settings nested under its parent's. */
export const hubAppSections: readonly string[] = [
  "JupyterHub",
  "Application",
  "SingletonConfigurable",
  "LoggingConfigurable",
  "Configurable",
];

/** Authenticator settings (JupyterHub's Authenticator base) that say who may log in and who is admin, whatever the class. */
const whoMayLogIn = ["allowed_users", "allowed_groups", "allow_all", "allow_existing_users", "admin_users"] as const;

/**
 * What a snippet may not change, and why each matters: who may log in and as whom, the LDAP
 * connection every password crosses, and what a user's pod may do and see (its identity, its
 * volumes, its ServiceAccount, the label the NetworkPolicies fence it by). The section lists are
 * the classes' MROs in the hub image (test/hubExtraConfig.test.ts checks them against the venv).
 */
export const protectedSettings: readonly ProtectedSettings[] = [
  {
    what: "the authenticator and the spawner the hub runs",
    sections: hubAppSections,
    keys: ["authenticator_class", "spawner_class"],
  },
  {
    what: "who may log in, and how the hub reaches LDAP",
    sections: ["LDAPAuthenticator", "Authenticator", "LoggingConfigurable", "Configurable"],
    keys: [
      ...whoMayLogIn,
      "server_address",
      "server_port",
      "tls_strategy",
      "tls_kwargs",
      "bind_dn_template",
      "lookup_dn",
    ],
  },
  // One group per OAuthenticator class the stack can choose, each with that class's MRO.
  ...(["GenericOAuthenticator", "GitHubOAuthenticator", "GoogleOAuthenticator"] as const).map((cls) => ({
    what: "who may log in through the OAuth provider, and which provider the hub trusts",
    sections: [cls, "OAuthenticator", "Authenticator", "LoggingConfigurable", "Configurable"],
    keys: [
      ...whoMayLogIn,
      "admin_groups",
      "manage_groups",
      "auth_state_groups_key",
      "allowed_organizations",
      "hosted_domain",
      "client_id",
      "oauth_callback_url",
      "authorize_url",
      "token_url",
      "userdata_url",
      "username_claim",
      "validate_server_cert",
    ],
  })),
  {
    what: "what a user's pod may do and see",
    sections: ["KubeSpawner", "Spawner", "LoggingConfigurable", "Configurable"],
    keys: [
      "namespace",
      "uid",
      "gid",
      "fs_gid",
      "supplemental_gids",
      "privileged",
      "allow_privilege_escalation",
      "container_security_context",
      "pod_security_context",
      "automount_service_account_token",
      "service_account",
      "component_label",
      "volumes",
      "volume_mounts",
      "init_containers",
      "extra_containers",
      "extra_pod_config",
      "extra_container_config",
      "environment",
      "lifecycle_hooks",
      "node_affinity_required",
      "storage_pvc_ensure",
      "delete_pvc",
      "profile_list",
      // The course folders' hook: it adds admins' mounts and refuses any other mount of the notebooks claim.
      "modify_pod_hook",
    ],
  },
];

/** The ConfigMap key (and file next to jupyterhub_config.py) of a snippet: this prefix, its name, `.py`. */
export const snippetFilePrefix = "extra-config-";
export function snippetFile(name: string): string {
  return `${snippetFilePrefix}${name}.py`;
}

/** The snippets as ConfigMap keys: the Python exactly as the stack gives it. */
export function snippetFiles(snippets: readonly HubConfigSnippet[]): Record<string, string> {
  return Object.fromEntries(snippets.map((s) => [snippetFile(s.name), s.python]));
}

/** The snippets' names in the order they run. */
export function snippetOrder(snippets: readonly HubConfigSnippet[]): string[] {
  return snippets.map((s) => s.name).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * The end of jupyterhub_config.py when the stack has snippets: runs them in name order (as z2jh
 * runs hub.extraConfig, sorted by key), each from its own file, all in one namespace of their own,
 * and after each one compares the protected settings with what the lines above set. A change stops
 * the hub at start-up (JupyterHub raises on any error in its config file), naming the snippet and
 * the setting: a snippet cannot quietly undo what the stack's config decides.
 */
export function hubExtraConfigLines(snippets: readonly HubConfigSnippet[]): string[] {
  if (snippets.length === 0) return [];
  const protectedList = protectedSettings.map((p) => [p.sections, p.keys]);
  return [
    "",
    "# Extra hub configuration (hubExtraConfig): each snippet is a file of this ConfigMap, next to this",
    "# file, run in name order after everything above, all in one namespace of their own. The settings",
    "# in `protected` decide who may log in, how the hub reaches LDAP and what a user's pod may do: the",
    "# stack's config owns them. After each snippet they are compared with what this file set, wherever",
    "# traitlets would read them (each section of the class and its bases, also nested under the hub's",
    "# own sections); a snippet that changed one stops the hub here, naming the snippet and the setting.",
    "class ProtectedSettingChanged(Exception):",
    '    """A hubExtraConfig snippet changed a setting that the stack\'s config decides."""',
    "",
    "",
    "def _run_extra_config(names, protected, app_sections):",
    "    import copy",
    "",
    "    here = os.path.dirname(os.path.abspath(__file__))",
    "    unset = object()",
    "",
    "    def settings():",
    "        found = {}",
    "        for sections, keys in protected:",
    "            for outer in [None] + app_sections:",
    "                # dict.get, not c[...]: reading must not make an empty section.",
    "                scope = c if outer is None else dict.get(c, outer)",
    "                for section in sections:",
    "                    values = dict.get(scope, section) if isinstance(scope, dict) else None",
    "                    if not isinstance(values, dict):",
    "                        continue",
    "                    for key in keys:",
    "                        if dict.__contains__(values, key):",
    '                            where = ".".join(part for part in ("c", outer, section, key) if part)',
    "                            found[where] = copy.deepcopy(dict.get(values, key))",
    "        return found",
    "",
    "    ours = settings()",
    '    namespace = {"c": c, "get_config": get_config, "__name__": "hub_extra_config"}  # noqa: F821',
    "    for name in names:",
    `        path = os.path.join(here, ${py(snippetFile("{}"))}.format(name))`,
    '        with open(path, encoding="utf-8") as f:',
    '            code = compile(f.read(), path, "exec")',
    "        exec(code, namespace)",
    "        now = settings()",
    "        changed = sorted(w for w in set(ours) | set(now) if ours.get(w, unset) != now.get(w, unset))",
    "        if changed:",
    "            raise ProtectedSettingChanged(",
    "                f\"hubExtraConfig snippet {name!r} changes {', '.join(changed)}, which the stack's config \"",
    '                "decides: the hub refuses to start. Set it with the stack\'s own keys, or take it out of the snippet."',
    "            )",
    '        print(f"jupyterhub_config.py: ran hubExtraConfig snippet {name!r}", file=sys.stderr)',
    "",
    "",
    `_run_extra_config(${py(snippetOrder(snippets))}, ${py(protectedList)}, ${py(hubAppSections)})`,
  ];
}
