import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { labelsFor } from "../common";
import type { PodsElsewhere } from "./addresses";
import { defaultDenySpec } from "./defaultDeny";
import { fileBrowserSpec } from "./fileBrowserPolicy";
import { hubSpec } from "./hubPolicy";
import type { HubNamespacePods } from "./pods";
import { proxySpec } from "./proxyPolicy";
import { testLdapSpec } from "./testLdapPolicy";
import { userPodsSpec } from "./userPodsPolicy";
import { userSchedulerSpec } from "./userSchedulerPolicy";

export type { HubNamespacePods, PodsOnPort } from "./pods";
export { metadataServerIp, nodeLocalDnsIp, nonPublicRanges } from "./addresses";

export interface NetworkFenceArgs {
  /** The hub namespace: the hub, the proxy, the file browser, the test LDAP server and the user pods. */
  namespace: pulumi.Input<string>;
  pods: HubNamespacePods;
  /** Private ranges user pods may reach besides the hub, the proxy, DNS and public addresses. */
  userEgressCidrs: string[];
  /**
   * Let user pods reach the GKE metadata server (a Cloud Storage FUSE volume's sidecar needs it).
   * Only for user pods that KubeSpawner binds to nodes running it (userServerExtras.ts).
   */
  userPodsReachGkeMetadataServer?: boolean;
  /** The metrics collector (GMP's), admitted to the hub's port and the proxy's metrics port. */
  metricsCollector?: PodsElsewhere;
}

/**
 * The NetworkPolicies of the hub namespace, after z2jh's model: the user pods are fenced in (out
 * only to the hub, the proxy, DNS and public addresses), and each other pod admits only who needs
 * it. Nothing here selects nodes by address: on Cilium (GKE Dataplane V2) an ipBlock does not match
 * node addresses, so the fence is written in terms of pods only. Enforced only where the cluster
 * implements NetworkPolicy.
 */
export class NetworkFence extends pulumi.ComponentResource {
  /** Names of the policies, by what they guard. */
  public readonly policyNames: pulumi.Output<string>[];

  constructor(name: string, args: NetworkFenceArgs, opts?: pulumi.ComponentResourceOptions) {
    super("jupyterhub-nfs:network:NetworkFence", name, {}, opts);
    const { pods } = args;
    const specs: [string, k8s.types.input.networking.v1.NetworkPolicySpec][] = [
      ["default-deny", defaultDenySpec()],
      ["singleuser", userPodsSpec(pods, args.userEgressCidrs, args.userPodsReachGkeMetadataServer)],
      ["hub", hubSpec(pods, args.metricsCollector)],
      ["proxy", proxySpec(pods, args.metricsCollector)],
    ];
    if (pods.fileBrowser) specs.push(["file-browser", fileBrowserSpec(pods, pods.fileBrowser)]);
    if (pods.testLdap) specs.push(["test-ldap", testLdapSpec(pods, pods.testLdap)]);
    if (pods.userScheduler) specs.push(["user-scheduler", userSchedulerSpec(pods.userScheduler)]);

    this.policyNames = specs.map(
      ([policy, spec]) =>
        new k8s.networking.v1.NetworkPolicy(
          `${name}-${policy}`,
          { metadata: { name: policy, namespace: args.namespace, labels: labelsFor("network-fence", name) }, spec },
          { parent: this },
        ).metadata.name,
    );
    this.registerOutputs({ policyNames: this.policyNames });
  }
}
