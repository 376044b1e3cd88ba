/**
 * The test LDAP directory, as data: the one source of truth for the dev stack's in-cluster test
 * LDAP server (TestLdapServer seeds its OpenLDAP from this LDIF) and for the end-to-end journey
 * (which seeds Debian's slapd from the same LDIF, read from that server's Secret).
 */

export const testLdapBaseDn = "dc=example,dc=org";
/** Where the users live: the hub binds as `cn={username},<this>`. */
export const testLdapUsersDn = `ou=users,${testLdapBaseDn}`;
/** The group every configured test user belongs to (set it in allowedGroups to admit them). */
export const testLdapGroupDn = `cn=notebook-users,ou=groups,${testLdapBaseDn}`;
/** A user who is in the directory but in no group: allowedGroups must refuse them. */
export const testLdapOutsider = "outsider";

export interface TestLdapUser {
  name: string;
  password: string;
}

/** One LDIF entry: its DN and attributes (multi-valued as arrays), in order. */
export interface LdifEntry {
  dn: string;
  attributes: [string, string | string[]][];
}

/**
 * The entries: the base, the users and groups folders, each user (inetOrgPerson, password in
 * userPassword), and the group of the configured users. The outsider is not in the group.
 */
export function testLdapDirectory(users: TestLdapUser[], outsider: TestLdapUser): LdifEntry[] {
  if (users.some((u) => u.name === outsider.name)) {
    throw new Error(`the test LDAP user ${outsider.name} is reserved: it must stay out of every group`);
  }
  const person = (u: TestLdapUser): LdifEntry => ({
    dn: `cn=${u.name},${testLdapUsersDn}`,
    attributes: [
      ["objectClass", "inetOrgPerson"],
      ["cn", u.name],
      ["sn", u.name],
      ["uid", u.name],
      ["userPassword", u.password],
    ],
  });
  return [
    {
      dn: testLdapBaseDn,
      attributes: [
        ["objectClass", ["dcObject", "organization"]],
        ["dc", "example"],
        ["o", "example"],
      ],
    },
    {
      dn: testLdapUsersDn,
      attributes: [
        ["objectClass", "organizationalUnit"],
        ["ou", "users"],
      ],
    },
    {
      dn: `ou=groups,${testLdapBaseDn}`,
      attributes: [
        ["objectClass", "organizationalUnit"],
        ["ou", "groups"],
      ],
    },
    ...[...users, outsider].map(person),
    {
      dn: testLdapGroupDn,
      attributes: [
        ["objectClass", "groupOfNames"],
        ["cn", "notebook-users"],
        ["member", users.map((u) => `cn=${u.name},${testLdapUsersDn}`)],
      ],
    },
  ];
}

/** LDIF text (RFC 2849); values that LDIF cannot carry as plain text are base64 (`::`). */
export function renderLdif(entries: LdifEntry[]): string {
  const line = (name: string, value: string): string =>
    /^[\x21-\x39\x3b\x3d-\x7e][\x20-\x7e]*$/.test(value) && !value.endsWith(" ")
      ? `${name}: ${value}`
      : `${name}:: ${Buffer.from(value, "utf8").toString("base64")}`;
  return entries
    .map((e) =>
      [
        line("dn", e.dn),
        ...e.attributes.flatMap(([name, v]) => (Array.isArray(v) ? v : [v]).map((x) => line(name, x))),
      ].join("\n"),
    )
    .join("\n\n")
    .concat("\n");
}
