import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import {
  labelsFor,
  restrictedContainerSecurity,
  restrictedPodSecurity,
  secretChecksum,
  secretChecksumAnnotation,
  selectorFor,
  serviceHost,
} from "../common";
import type { PodsOnPort } from "../network/pods";
import {
  renderLdif,
  testLdapBaseDn,
  testLdapDirectory,
  testLdapGroupDn,
  testLdapOutsider,
  testLdapUsersDn,
} from "./testLdapDirectory";

export interface TestLdapServerArgs {
  namespace: pulumi.Input<string>;
  /** An OpenLDAP image with Bitnami's interface (LDAP_ROOT, LDAP_CUSTOM_LDIF_DIR, ...). */
  image: pulumi.Input<string>;
  /** Users to create, each with a generated password, all in one group (groupDn). */
  users: string[];
}

/** Where the image reads LDIF files to seed an empty database from (then skips its default tree). */
const ldifDir = "/ldifs";
/** Port the image listens on as a non-root user, and the port the Service offers. */
const containerPort = 1389;
const servicePort = 389;
/** The Bitnami OpenLDAP image's non-root user. */
const ldapUid = 1001;

/**
 * A throw-away OpenLDAP server with a few users, for dev stacks: plain LDAP inside the cluster,
 * data in an emptyDir (re-seeded from the Secret's LDIF at every start). The directory is
 * testLdapDirectory(): the configured users in one group, plus a user in no group.
 */
export class TestLdapServer extends pulumi.ComponentResource {
  /** Host name the hub uses to reach the server. */
  public readonly address: pulumi.Output<string>;
  public readonly port: number = servicePort;
  /** Where the directory keeps its users. */
  public readonly bindDnTemplate = `cn={username},${testLdapUsersDn}`;
  /** The group of the configured users (not of the outsider). */
  public readonly groupDn = testLdapGroupDn;
  /** The generated password of each test user, the outsider included (secret). */
  public readonly passwords: pulumi.Output<Record<string, string>>;
  /** Its pods and the port they listen on (not the Service's). */
  public readonly pods: PodsOnPort;

  constructor(name: string, args: TestLdapServerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("jupyterhub-nfs:auth:TestLdapServer", name, {}, opts);
    const labels = labelsFor("test-ldap", name);
    const selector = selectorFor("test-ldap", name);
    this.pods = { selector, port: containerPort };
    const child = { parent: this };

    const password = (id: string) =>
      new random.RandomPassword(`${name}-${id}-password`, { length: 20, special: false }, child).result;
    const adminPassword = password("admin");
    const users = [...args.users, testLdapOutsider];
    const userPasswords = users.map((user) => password(`user-${user}`));

    const secretData: Record<string, pulumi.Input<string>> = {
      LDAP_ADMIN_PASSWORD: adminPassword,
      "seed.ldif": pulumi.all(userPasswords).apply((p) => {
        const withPasswords = users.map((name, i) => ({ name, password: p[i] }));
        return renderLdif(testLdapDirectory(withPasswords.slice(0, -1), withPasswords[users.length - 1]));
      }),
    };
    const secret = new k8s.core.v1.Secret(
      `${name}-secret`,
      { metadata: { name, namespace: args.namespace, labels }, stringData: secretData },
      child,
    );

    new k8s.apps.v1.Deployment(
      `${name}-deployment`,
      {
        metadata: { name, namespace: args.namespace, labels },
        spec: {
          replicas: 1,
          selector: { matchLabels: selector },
          template: {
            metadata: {
              labels,
              // The directory is seeded from the Secret at start (an emptyDir): a new user or password
              // must restart the server, or the hub would authenticate against the old directory.
              annotations: { [secretChecksumAnnotation]: secretChecksum(adminPassword, secretData) },
            },
            spec: {
              automountServiceAccountToken: false,
              securityContext: restrictedPodSecurity(ldapUid, 0),
              containers: [
                {
                  name: "openldap",
                  image: args.image,
                  env: [
                    { name: "LDAP_ROOT", value: testLdapBaseDn },
                    { name: "LDAP_ADMIN_USERNAME", value: "admin" },
                    { name: "LDAP_CUSTOM_LDIF_DIR", value: ldifDir },
                    { name: "LDAP_PORT_NUMBER", value: String(containerPort) },
                    {
                      name: "LDAP_ADMIN_PASSWORD",
                      valueFrom: { secretKeyRef: { name: secret.metadata.name, key: "LDAP_ADMIN_PASSWORD" } },
                    },
                  ],
                  ports: [{ name: "ldap", containerPort }],
                  // The image writes its runtime config under /opt/bitnami at start-up.
                  securityContext: { ...restrictedContainerSecurity, readOnlyRootFilesystem: false },
                  readinessProbe: { tcpSocket: { port: "ldap" }, periodSeconds: 10 },
                  resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "256Mi" } },
                  volumeMounts: [
                    { name: "data", mountPath: "/bitnami/openldap" },
                    { name: "seed", mountPath: ldifDir, readOnly: true },
                  ],
                },
              ],
              volumes: [
                { name: "data", emptyDir: {} },
                {
                  name: "seed",
                  secret: { secretName: secret.metadata.name, items: [{ key: "seed.ldif", path: "seed.ldif" }] },
                },
              ],
            },
          },
        },
      },
      child,
    );

    const service = new k8s.core.v1.Service(
      `${name}-service`,
      {
        metadata: { name, namespace: args.namespace, labels },
        spec: { type: "ClusterIP", selector, ports: [{ name: "ldap", port: servicePort, targetPort: "ldap" }] },
      },
      child,
    );

    this.address = serviceHost(service);
    this.passwords = pulumi.secret(
      pulumi.all(userPasswords).apply((p) => Object.fromEntries(users.map((user, i) => [user, p[i]]))),
    );
    this.registerOutputs({ address: this.address, passwords: this.passwords });
  }
}
