import { py } from "./pythonLiteral";

/**
 * Profiles: the server sizes and images a user chooses among on the hub's spawn form, as
 * KubeSpawner 7.0's `profile_list`, offered to each user according to their groups.
 */

/** The node label GKE puts on GPU nodes, naming their GPU type. */
export const gkeAcceleratorLabel = "cloud.google.com/gke-accelerator";
/** The extended resource NVIDIA's device plugin advertises on GPU nodes (GKE installs it). */
export const gpuResource = "nvidia.com/gpu";
/**
 * GKE taints GPU nodes `nvidia.com/gpu=present:NoSchedule` (when the cluster has other nodes), so
 * that only pods asking for GPUs land there. GKE's ExtendedResourceToleration admission would add
 * this toleration to a pod asking for `nvidia.com/gpu` too; the profile carries it itself, so the
 * pod schedules the same on any cluster that taints GPU nodes the same way.
 */
export const gpuToleration: Toleration = { key: gpuResource, operator: "Exists", effect: "NoSchedule" };

/** A Kubernetes Toleration (fields left out take the API's defaults). */
export interface Toleration {
  key?: string;
  operator?: "Equal" | "Exists";
  value?: string;
  effect?: "NoSchedule" | "PreferNoSchedule" | "NoExecute";
  tolerationSeconds?: number;
}

/** One image a user may pick inside a profile. */
export interface ImageChoice {
  slug: string;
  displayName: string;
  image: string;
  default: boolean;
}

/**
 * A profile. What it leaves out is what every user pod gets (UserServerSettings: the image, the
 * CPU and memory); what it sets replaces that for the servers started with it.
 */
export interface UserProfile {
  /** Identifies the profile in the spawn form and in `{"profile": "<slug>"}` of the REST API. */
  slug: string;
  displayName: string;
  description: string;
  /** Started when a request names no profile (KubeSpawner makes the first the default if none is). */
  default: boolean;
  image?: string;
  /** Images the user picks among on the form (KubeSpawner's profile_options, no free-form entry). */
  imageChoices: ImageChoice[];
  /** CPU limit and guarantee in cores, memory limit and guarantee in bytes. */
  cpuLimit?: number;
  cpuGuarantee?: number;
  memoryLimitBytes?: number;
  memoryGuaranteeBytes?: number;
  /** GPUs: the `nvidia.com/gpu` limit, on a GKE node with this accelerator type. */
  gpus?: { count: number; type: string };
  nodeSelector: Record<string, string>;
  tolerations: Toleration[];
  /**
   * Offered only to members of one of these groups, as the authenticator reports them: LDAP group
   * DNs, spelt as in allowedGroups. Empty: offered to everyone.
   */
  groups: string[];
}

/**
 * Text for KubeSpawner's form template, which inserts display names and descriptions as they are
 * (its Jinja environment does not escape): "R&D <GPU>" must show as written, not as markup.
 */
function htmlText(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/** The KubeSpawner settings a profile replaces, by KubeSpawner's trait names. */
function kubespawnerOverride(p: UserProfile): Record<string, unknown> {
  const override: Record<string, unknown> = {};
  if (p.image !== undefined) override.image = p.image;
  if (p.cpuLimit !== undefined) override.cpu_limit = p.cpuLimit;
  if (p.cpuGuarantee !== undefined) override.cpu_guarantee = p.cpuGuarantee;
  if (p.memoryLimitBytes !== undefined) override.mem_limit = p.memoryLimitBytes;
  if (p.memoryGuaranteeBytes !== undefined) override.mem_guarantee = p.memoryGuaranteeBytes;
  // A limit alone: the API server copies an extended resource's limit into its request.
  if (p.gpus) override.extra_resource_limits = { [gpuResource]: String(p.gpus.count) };
  const { nodeSelector, tolerations } = profilePlacement(p);
  if (Object.keys(nodeSelector).length > 0) override.node_selector = nodeSelector;
  if (tolerations.length > 0) override.tolerations = tolerations;
  return override;
}

/** Which nodes a profile's pods may go to: its own selector and tolerations, and a GPU node's. */
export function profilePlacement(p: UserProfile): { nodeSelector: Record<string, string>; tolerations: Toleration[] } {
  return {
    nodeSelector: { ...p.nodeSelector, ...(p.gpus ? { [gkeAcceleratorLabel]: p.gpus.type } : {}) },
    tolerations: [...p.tolerations, ...(p.gpus ? [gpuToleration] : [])],
  };
}

/** One entry of KubeSpawner's profile_list. */
function profileEntry(p: UserProfile): Record<string, unknown> {
  return {
    slug: p.slug,
    display_name: htmlText(p.displayName),
    description: htmlText(p.description),
    ...(p.default ? { default: true } : {}),
    kubespawner_override: kubespawnerOverride(p),
    ...(p.imageChoices.length > 0
      ? {
          profile_options: {
            image: {
              display_name: "Image",
              choices: Object.fromEntries(
                p.imageChoices.map((c) => [
                  c.slug,
                  {
                    display_name: htmlText(c.displayName),
                    ...(c.default ? { default: true } : {}),
                    kubespawner_override: { image: c.image },
                  },
                ]),
              ),
            },
          },
        }
      : {}),
  };
}

/** Whether any profile is offered to some groups only (the hub must then know users' groups). */
function profilesUseGroups(profiles: UserProfile[]): boolean {
  return profiles.some((p) => p.groups.length > 0);
}

/** The KubeSpawner lines for the profiles; none without profiles, so such stacks render as before. */
export function profileConfigLines(profiles: UserProfile[]): string[] {
  if (profiles.length === 0) return [];
  return [
    "",
    "# Profiles (profiles): KubeSpawner 7.0 has no group filter of its own, so profile_list is a function",
    "# of the spawner. Each user is offered, on the spawn form, the profiles open to everyone and those of",
    "# a group they are in (spawner.user.groups: the LDAP groups found at login). KubeSpawner checks the",
    "# profile a start request names against this same list (load_user_options, _get_profile), so a slug",
    "# the user is not offered is refused however it is posted (the form or the REST API). The form offers",
    "# only the listed images: no free-form image (unlisted_choice stays off).",
    `_profiles = [`,
    ...profiles.map((p) => `    (${py(p.groups)}, ${py(profileEntry(p))}),`),
    "]",
    "",
    "",
    "def _profiles_for(spawner):",
    "    groups = {group.name for group in spawner.user.groups}",
    "    return [profile for allowed, profile in _profiles if not allowed or groups.intersection(allowed)]",
    "",
    "",
    "c.KubeSpawner.profile_list = _profiles_for",
  ];
}

/**
 * The authenticator lines that give the hub each user's groups, when a profile needs them.
 * LDAPAuthenticator 2.0.2 looks up which of allowed_groups the user is in and returns them as
 * auth_state["ldap_groups"] (the DNs as configured), but not as JupyterHub groups. The hook hands
 * them over; with manage_groups JupyterHub then sets the user's groups to exactly these at every
 * login (and keeps them in its database across restarts). The profile filter reads them there.
 */
export function profileGroupLines(profiles: UserProfile[]): string[] {
  if (!profilesUseGroups(profiles)) return [];
  return [
    "",
    "",
    "# Groups for the profiles: the allowedGroups a user is in, as LDAPAuthenticator found them at login,",
    "# become the user's JupyterHub groups (replaced at every login; read by the profile filter below).",
    "def _ldap_groups_as_hub_groups(authenticator, handler, auth_model):",
    '    auth_model["groups"] = list((auth_model.get("auth_state") or {}).get("ldap_groups", []))',
    "    return auth_model",
    "",
    "",
    "c.Authenticator.post_auth_hook = _ldap_groups_as_hub_groups",
    "c.Authenticator.manage_groups = True",
  ];
}
