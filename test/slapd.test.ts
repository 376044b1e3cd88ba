import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { groupDn, peopleAndGroupsLdif, startSlapd, userDn, type Slapd } from "./support/slapd";

/**
 * The slapd harness (test/support/slapd.ts) checked with OpenLDAP's own clients (ldap-utils):
 * binds, the group entries LDAPAuthenticator searches, and TLS that a client trusts only with the CA.
 */

interface ClientResult {
  status: number | null;
  output: string;
}

/**
 * An ldap-utils command that reads neither /etc/ldap/ldap.conf (LDAPCONF) nor an ldaprc (LDAPRC,
 * HOME), so only `env` configures TLS. (LDAPNOINIT would also ignore the LDAPTLS_* variables.)
 */
function ldapClient(command: string, args: string[], env: Record<string, string> = {}): ClientResult {
  const out = spawnSync(command, args, {
    encoding: "utf8",
    env: { PATH: "/usr/bin:/bin", LDAPCONF: "/dev/null", LDAPRC: "no-ldaprc", HOME: "/nonexistent", ...env },
    timeout: 15_000,
  });
  if (out.error) throw out.error;
  return { status: out.status, output: `${out.stdout}${out.stderr}` };
}

const whoami = (url: string, dn: string, password: string, extra: string[] = [], env: Record<string, string> = {}) =>
  ldapClient("/usr/bin/ldapwhoami", ["-x", "-H", url, "-D", dn, "-w", password, ...extra], env);

const users = [
  { uid: "alice", password: "alice-secret-1" },
  { uid: "bob", password: "bob-secret-2" },
];
const groups = [
  { cn: "hub-users", kind: "groupOfNames" as const, members: ["alice"] },
  { cn: "hub-posix", kind: "posixGroup" as const, members: ["bob"] },
];

describe("slapd harness: plain LDAP", () => {
  let slapd: Slapd;
  before(async () => {
    slapd = await startSlapd({ ldif: peopleAndGroupsLdif(users, groups) });
  });
  after(() => slapd?.stop());

  test("a user binds with the right password", () => {
    const r = whoami(slapd.url, userDn("alice"), "alice-secret-1");
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, new RegExp(`dn:${userDn("alice")}`));
  });

  test("a wrong password is refused (invalid credentials, 49)", () => {
    const r = whoami(slapd.url, userDn("alice"), "bob-secret-2");
    assert.equal(r.status, 49, r.output);
    assert.match(r.output, /Invalid credentials/);
  });

  test("an unknown user is refused", () => {
    const r = whoami(slapd.url, userDn("mallory"), "anything");
    assert.equal(r.status, 49, r.output);
  });

  test("the group searches LDAPAuthenticator 2.0.2 runs find members, bound as the user", () => {
    // Its default group_search_filter, on each allowed group DN with scope base.
    const search = (group: string, uid: string) =>
      ldapClient("/usr/bin/ldapsearch", [
        ...["-x", "-LLL", "-H", slapd.url, "-D", userDn("bob"), "-w", "bob-secret-2"],
        ...["-s", "base", "-b", group],
        `(|(member=${userDn(uid)})(uniqueMember=${userDn(uid)})(memberUid=${uid}))`,
        "dn",
      ]);
    const found = (group: string, uid: string) => {
      const r = search(group, uid);
      assert.equal(r.status, 0, r.output);
      return r.output.includes(`dn: ${group}`);
    };
    assert.equal(found(groupDn("hub-users"), "alice"), true);
    assert.equal(found(groupDn("hub-users"), "bob"), false);
    assert.equal(found(groupDn("hub-posix"), "bob"), true);
    assert.equal(found(groupDn("hub-posix"), "alice"), false);
  });

  test("password hashes are not readable by other users", () => {
    const r = ldapClient("/usr/bin/ldapsearch", [
      ...["-x", "-LLL", "-H", slapd.url, "-D", userDn("bob"), "-w", "bob-secret-2"],
      ...["-b", userDn("alice"), "-s", "base", "userPassword", "uid"],
    ]);
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, /uid: alice/);
    assert.doesNotMatch(r.output, /userPassword/);
  });

  test("an LDIF slapadd rejects fails the start with slapadd's message, leaving no server", async () => {
    await assert.rejects(
      startSlapd({ ldif: "dn: uid=x,ou=nowhere,dc=example,dc=org\nobjectClass: inetOrgPerson\nuid: x\n" }),
      /slapadd .* failed:[\s\S]*(sn|cn)/,
    );
  });

  test("stop() ends the server", async () => {
    const other = await startSlapd({ ldif: peopleAndGroupsLdif(users) });
    assert.equal(whoami(other.url, userDn("bob"), "bob-secret-2").status, 0);
    await other.stop();
    const r = whoami(other.url, userDn("bob"), "bob-secret-2");
    assert.equal(r.status, 255, `still answering after stop():\n${r.output}`);
  });
});

describe("slapd harness: TLS with a throw-away CA", () => {
  let slapd: Slapd;
  before(async () => {
    slapd = await startSlapd({ ldif: peopleAndGroupsLdif(users), tls: true });
  });
  after(() => slapd?.stop());

  const tls = () => {
    assert.ok(slapd.tls, "no TLS settings although tls: true");
    return slapd.tls;
  };
  const trusting = () => ({ LDAPTLS_CACERT: tls().caFile, LDAPTLS_REQCERT: "demand" });

  test("StartTLS (-ZZ: required) binds when the client trusts the CA", () => {
    const r = whoami(slapd.url, userDn("alice"), "alice-secret-1", ["-ZZ"], trusting());
    assert.equal(r.status, 0, r.output);
  });

  test("StartTLS is refused when the client verifies without the CA", () => {
    const r = whoami(slapd.url, userDn("alice"), "alice-secret-1", ["-ZZ"], { LDAPTLS_REQCERT: "demand" });
    assert.notEqual(r.status, 0);
    assert.match(r.output, /certificate verify failed|Connect error|unable to get local issuer/i);
  });

  test("ldaps binds when the client trusts the CA, and is refused without it", () => {
    const ok = whoami(tls().ldapsUrl, userDn("bob"), "bob-secret-2", [], trusting());
    assert.equal(ok.status, 0, ok.output);
    // libldap reports a failed ldaps handshake as "Can't contact LDAP server": same URL, only the CA differs.
    const refused = whoami(tls().ldapsUrl, userDn("bob"), "bob-secret-2", [], { LDAPTLS_REQCERT: "demand" });
    assert.notEqual(refused.status, 0, refused.output);
  });

  test("a wrong password over StartTLS is still refused", () => {
    const r = whoami(slapd.url, userDn("alice"), "wrong", ["-ZZ"], trusting());
    assert.equal(r.status, 49, r.output);
  });
});
