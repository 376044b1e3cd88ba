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
  serviceAwait,
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
  /**
   * An OpenLDAP image with Bitnami's interface and layout (LDAP_ROOT, LDAP_CUSTOM_LDIF_DIR, uid 1001,
   * /opt/bitnami/openldap, /bitnami/openldap): versions/images.ts `ldapTest` says which and why.
   */
  image: pulumi.Input<string>;
  /** Users to create, each with a generated password, all in one group (groupDn). */
  users: string[];
}

/*
 * What the image's start-up does with this (bitnami/containers, bitnami/openldap/2.6/debian-12/rootfs/
 * opt/bitnami/scripts, as of the 2.6.10 tags; test/bitnamiOpenldap.test.ts runs those scripts on
 * the rendered pod spec when it is given a copy of them):
 * - entrypoint.sh runs openldap/setup.sh, then run.sh execs slapd. setup.sh's ldap_initialize()
 *   initialises only when /bitnami/openldap/data is empty; otherwise it logs "Using persisted data"
 *   and seeds nothing.
 * - Initialising: cn=config from ldap_create_slapd_file(), a slapd in the background (plain LDAP on
 *   LDAP_PORT_NUMBER and ldapi), root DN `cn=<LDAP_ADMIN_USERNAME>,<LDAP_ROOT>` with
 *   LDAP_ADMIN_PASSWORD (ldap_admin_credentials()), the schemas cosine, inetorgperson and nis
 *   (LDAP_EXTRA_SCHEMAS' default), then ldap_add_custom_ldifs(): every `*.ldif` directly in
 *   LDAP_CUSTOM_LDIF_DIR, regular file or symbolic link (a Secret volume's files are links into
 *   its `..data`), in name order, each through `ldapadd` bound as that root DN (no `-c`: the first
 *   failing entry stops it). As that folder is not empty, ldap_create_tree() is skipped: no base
 *   entry, no ou=users/ou=groups, no user01/user02, no `readers` group; the seed makes all of it,
 *   base entry included. A failing ldapadd fails setup.sh (xargs exits 123; errexit, pipefail) and
 *   with it the container.
 * - ldap_add_custom_ldifs() splices LDAP_ADMIN_PASSWORD into a `bash -c` command line between
 *   double quotes: the generated password must stay free of shell syntax (`special: false`).
 * - No olcAccess is set on the database: slapd's default lets anyone read every entry, userPassword
 *   included, and seeded passwords are stored as given. The NetworkPolicy (testLdapSpec) lets only
 *   the hub reach this server; it is a throw-away directory of generated test passwords.
 */

/** Where the image reads LDIF files to seed an empty database from (then skips its default tree). */
const ldifDir = "/ldifs";
/** Port the image listens on as a non-root user, and the port the Service offers. */
const containerPort = 1389;
const servicePort = 389;
/** The Bitnami OpenLDAP image's non-root user (its files are group 0 and group-writable). */
const ldapUid = 1001;
/**
 * The image's postunpack.sh gives slapd (and slappasswd, slapadd...: links to it) the file
 * capability `cap_net_bind_service=+eip`. A program with an effective file capability that the
 * process's bounding set lacks cannot be started at all (execve fails with EPERM), so with
 * `drop: [ALL]` the image's setup fails at its first `slappasswd` and slapd never starts
 * (bitnami/containers#40841). NET_BIND_SERVICE is the one capability Pod Security `restricted`
 * lets a container add; slapd still binds only the unprivileged port 1389.
 */
const ldapCapabilities = { drop: ["ALL"], add: ["NET_BIND_SERVICE"] };

/**
 * The image's own ldapsearch, anonymously, for one entry (scope base) on the plain port: exits 0
 * only if the entry exists. The image allows anonymous binds (LDAP_ALLOW_ANON_BINDING's default).
 */
export function ldapSearchBase(dn: string): string[] {
  return [
    "/opt/bitnami/openldap/bin/ldapsearch",
    ...["-x", "-LLL", "-H", `ldap://127.0.0.1:${containerPort}`],
    ...["-s", "base", "-b", dn, "(objectClass=*)", "1.1"],
  ];
}

/**
 * A throw-away OpenLDAP server with a few users, for dev stacks: plain LDAP inside the cluster,
 * its database in the container's own writable layer, so every container start (a new pod, or the
 * kubelet restarting the container) begins empty and is seeded afresh from the Secret's LDIF. The
 * directory is testLdapDirectory(): the configured users in one group, plus a user in no group.
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

    // Letters and digits only: the image pastes the admin password into a shell command line.
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
                  // The image writes its runtime config under /opt/bitnami and its database under
                  // /bitnami/openldap at start-up. No volume there on purpose: an emptyDir would outlive
                  // a container restart, and the image seeds only an empty database ("Using persisted
                  // data"), so a set-up that failed half-way would be served as it was left.
                  securityContext: {
                    ...restrictedContainerSecurity,
                    readOnlyRootFilesystem: false,
                    capabilities: ldapCapabilities,
                  },
                  // Ready once the seed's last entry (the group) is there: a TCP check would pass while
                  // set-up's own slapd is still loading the seed on the same port.
                  readinessProbe: {
                    exec: { command: ldapSearchBase(testLdapGroupDn) },
                    periodSeconds: 5,
                    timeoutSeconds: 5,
                  },
                  resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "256Mi" } },
                  volumeMounts: [{ name: "seed", mountPath: ldifDir, readOnly: true }],
                },
              ],
              volumes: [
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
        metadata: { name, namespace: args.namespace, labels, annotations: serviceAwait("ClusterIP") },
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
