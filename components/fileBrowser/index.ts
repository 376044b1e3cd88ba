import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import {
  labelsFor,
  restrictedContainerSecurity,
  restrictedPodSecurity,
  selectorFor,
  serviceAwait,
  serviceUrl,
} from "../common";
import type { PodsOnPort } from "../network/pods";
import { renderNginxConf } from "./nginxConf";

export interface FileBrowserArgs {
  namespace: pulumi.Input<string>;
  /** An unprivileged nginx image (listens on 8080 as uid 101). */
  image: pulumi.Input<string>;
  /** The shared ReadWriteMany claim; mounted read-only. */
  claimName: pulumi.Input<string>;
  serviceType: "ClusterIP" | "NodePort" | "LoadBalancer";
  /**
   * `address:port` of the NFS server's usage exporter, whose usage page is served at /usage/
   * (per-user quotas on); absent, /usage/ says why there is none.
   */
  usageUpstream?: pulumi.Input<string>;
  /** Group that owns the user folders (mode 0750, or 0751 with mount points in them): nginx joins it to read them. */
  readerGid: number;
}

const listenPort = 8080;
/** Uid and gid of the nginx-unprivileged image. */
const nginxUid = 101;
const username = "admin";

/**
 * nginx with `autoindex` over the NFS volume: browse every user's notebooks, read-only. Always
 * behind HTTP basic auth with a generated password, whatever the Service type: a ClusterIP Service
 * is reachable from every pod of the cluster that NetworkPolicy does not stop, user pods included.
 */
export class FileBrowser extends pulumi.ComponentResource {
  public readonly serviceName: pulumi.Output<string>;
  /** Where to reach it: the load balancer's address, or the in-cluster DNS name. */
  public readonly url: pulumi.Output<string>;
  public readonly username: string = username;
  /** The basic-auth password (secret). */
  public readonly password: pulumi.Output<string>;
  /** Its pods and the port nginx listens on. */
  public readonly pods: PodsOnPort;

  constructor(name: string, args: FileBrowserArgs, opts?: pulumi.ComponentResourceOptions) {
    super("jupyterhub-nfs:web:FileBrowser", name, {}, opts);
    const labels = labelsFor("file-browser", name);
    const selector = selectorFor("file-browser", name);
    const htpasswdDir = "/etc/nginx/auth";

    this.pods = { selector, port: listenPort };

    const password = new random.RandomPassword(`${name}-password`, { length: 24, special: false }, { parent: this });
    // nginx checks the bcrypt hash through the C library's crypt(); the password itself never reaches the cluster.
    const authSecret = new k8s.core.v1.Secret(
      `${name}-htpasswd`,
      {
        metadata: { namespace: args.namespace, labels },
        stringData: { htpasswd: pulumi.interpolate`${username}:${password.bcryptHash}\n` },
      },
      { parent: this },
    );
    this.password = pulumi.secret(password.result);

    // Auto-named: a changed config gets a new name, and so rolls the pods.
    const conf = new k8s.core.v1.ConfigMap(
      `${name}-conf`,
      {
        metadata: { namespace: args.namespace, labels },
        data: {
          "default.conf": pulumi.output(args.usageUpstream).apply((usageUpstream) =>
            renderNginxConf({
              listenPort,
              root: "/srv/files",
              htpasswdFile: `${htpasswdDir}/htpasswd`,
              usageUpstream,
            }),
          ),
        },
      },
      { parent: this },
    );

    const volumes: k8s.types.input.core.v1.Volume[] = [
      { name: "files", persistentVolumeClaim: { claimName: args.claimName, readOnly: true } },
      { name: "conf", configMap: { name: conf.metadata.name } },
      { name: "tmp", emptyDir: {} },
      { name: "auth", secret: { secretName: authSecret.metadata.name } },
    ];
    const mounts: k8s.types.input.core.v1.VolumeMount[] = [
      { name: "files", mountPath: "/srv/files", readOnly: true },
      { name: "conf", mountPath: "/etc/nginx/conf.d", readOnly: true },
      { name: "tmp", mountPath: "/tmp" },
      { name: "auth", mountPath: htpasswdDir, readOnly: true },
    ];

    new k8s.apps.v1.Deployment(
      `${name}-deployment`,
      {
        metadata: { name, namespace: args.namespace, labels },
        spec: {
          replicas: 1,
          selector: { matchLabels: selector },
          template: {
            metadata: { labels },
            spec: {
              automountServiceAccountToken: false,
              securityContext: { ...restrictedPodSecurity(nginxUid, nginxUid), supplementalGroups: [args.readerGid] },
              containers: [
                {
                  name: "nginx",
                  image: args.image,
                  ports: [{ name: "http", containerPort: listenPort }],
                  securityContext: restrictedContainerSecurity,
                  readinessProbe: { httpGet: { path: "/healthz", port: "http" } },
                  resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "128Mi" } },
                  volumeMounts: mounts,
                },
              ],
              volumes,
            },
          },
        },
      },
      { parent: this },
    );

    const service = new k8s.core.v1.Service(
      `${name}-service`,
      {
        metadata: { name, namespace: args.namespace, labels, annotations: serviceAwait(args.serviceType) },
        spec: { type: args.serviceType, selector, ports: [{ name: "http", port: 80, targetPort: "http" }] },
      },
      { parent: this },
    );

    this.serviceName = service.metadata.name;
    this.url = serviceUrl(service, args.serviceType);
    this.registerOutputs({ serviceName: this.serviceName, url: this.url, password: this.password });
  }
}
