/**
 * The package's entry point, for another Pulumi program (package.json `exports`): the whole
 * deployment as one component, JupyterHubNfs (its args are this project's config keys), and each
 * component it is made of, with its args type, for a program that wires them itself.
 */
export { JupyterHubNfs, deployJupyterHubNfs, type JupyterHubNfsArgs, type JupyterHubNfsOutputs } from "./jupyterhubNfs";
export { gkeKubeconfig, type GkeClusterInfo } from "./gkeKubeconfig";

export { GceDisk, type GceDiskArgs } from "./storage/gceDisk";
export { StorageClassDisk, type StorageClassDiskArgs } from "./storage/storageClassDisk";
export { NfsServer, type NfsServerArgs } from "./storage/nfsServer";
export { NfsVolume, type NfsVolumeArgs } from "./storage/nfsVolume";
export { FileBrowser, type FileBrowserArgs } from "./fileBrowser";
export { TestLdapServer, type TestLdapServerArgs } from "./auth/testLdapServer";
export {
  Hub,
  JupyterHub,
  Proxy,
  renderHubConfig,
  type HubArgs,
  type HubConfigInput,
  type HubSettings,
  type JupyterHubArgs,
  type LdapSettings,
  type ProxyArgs,
  type UserServerSettings,
} from "./jupyterhub";
export { HttpsIngress, type HttpsIngressArgs } from "./jupyterhub/httpsIngress";
export type { HubConfigSnippet } from "./jupyterhub/hubExtraConfig";
export type { UserBucketVolume, UserClaimVolume, UserEnvVar, UserVolume } from "./jupyterhub/userServerExtras";
export {
  UserCapacity,
  UserScheduler,
  type UserCapacityArgs,
  type UserPlacement,
  type UserSchedulerArgs,
} from "./capacity";
export { NetworkFence, type HubNamespacePods, type NetworkFenceArgs, type PodsOnPort } from "./network";
export { HubMonitoring, type HubMonitoringArgs, type RuleGroup } from "./monitoring";
export { StackConfigError, type StackConfig } from "../stacks";
