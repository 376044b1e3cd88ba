import assert from "node:assert/strict";
import * as fs from "node:fs";
import { after, before, describe, it } from "node:test";
import type { Rendering } from "../render";
import { hubLdapLogin } from "./support/hubLdapLogin";
import { hubPodOf, secretFileAt } from "./support/hubPod";
import { rendered } from "./support/rendered";
import { groupDn, peopleAndGroupsLdif, slapdTlsServerName, startSlapd, userDn, type Slapd } from "./support/slapd";

/**
 * The hub's LDAP connection shown with the real programs (issue 8, findings 3 and 5): the hub
 * image's JupyterHub 5.5 and LDAPAuthenticator 2.0.2 (the hub venv), configured by loading the
 * jupyterhub_config.py the program renders, log users in against Debian's slapd serving a
 * certificate from a throw-away CA that no system bundle trusts.
 */

const users = [
  { uid: "alice", password: "alice-pw-1" },
  { uid: "bob", password: "bob-pw-2" },
  { uid: "carol", password: "carol-pw-3" },
  // Names as real directories hold them: a dot, a leading digit.
  { uid: "john.doe", password: "john-pw-4" },
  { uid: "2ndyear", password: "second-pw-5" },
];
const alice = { username: "alice", password: "alice-pw-1" };

/** The prod stack pointed at the test's slapd, with alice and bob allowed (carol is in LDAP only). */
function ldapOverrides(port: number, strategy: string, extra: string[] = []): string[] {
  return [
    `ldapServer=${slapdTlsServerName}`,
    `ldapPort=${port}`,
    `ldapTlsStrategy=${strategy}`,
    `ldapBindDnTemplates=${JSON.stringify([userDn("{username}")])}`,
    "allowedGroups=[]",
    'allowedUsers=["alice","bob"]',
    ...extra,
  ];
}

/** The rendered hub config (and the other files of its folder), and the files of the hub pod its LDAP TLS settings name. */
function hubOf(r: Rendering): {
  configText: string;
  configFiles: Record<string, string>;
  files: Record<string, string>;
} {
  const hub = hubPodOf(r);
  const caFile = /"ca_certs_file": "([^"]+)"/.exec(hub.configText)?.[1];
  return {
    configText: hub.configText,
    configFiles: hub.configFiles,
    files: caFile ? { [caFile]: secretFileAt(hub, caFile) } : {},
  };
}

/** hubExtraConfig with one snippet. */
const snippet = (name: string, python: string) => `hubExtraConfig=${JSON.stringify([{ name, python }])}`;

describe("the hub's LDAP login over TLS, with the real LDAPAuthenticator against slapd", () => {
  let slapd: Slapd;
  let ca: string;
  before(async () => {
    slapd = await startSlapd({
      ldif: peopleAndGroupsLdif(users, [
        { cn: "course", kind: "groupOfNames", members: ["john.doe", "2ndyear"] },
        { cn: "gpu-lab", kind: "groupOfNames", members: ["alice"] },
      ]),
      tls: true,
    });
    assert.ok(slapd.tls);
    ca = fs.readFileSync(slapd.tls.caFile, "utf8");
  });
  after(() => slapd?.stop());

  it("StartTLS (before_bind), no CA configured: the self-signed certificate is refused", async () => {
    const hub = hubOf(await rendered("prod", ldapOverrides(slapd.port, "before_bind")));
    const [login] = hubLdapLogin(hub.configText, { ...hub, logins: [alice] }).results;
    assert.equal(login.user, null, "logged in over a connection whose certificate nobody checked");
    assert.match(String(login.error), /certificate verify failed/i);
  });

  it("StartTLS (before_bind), the CA configured and mounted as rendered: accepted; a wrong password refused", async () => {
    const r = await rendered("prod", ldapOverrides(slapd.port, "before_bind", [`ldapTlsCaCertificate=${ca}`]));
    const hub = hubOf(r);
    assert.deepEqual(Object.values(hub.files), [ca], "the CA reaches the pod through its Secret volume");
    const { results, log } = hubLdapLogin(hub.configText, {
      ...hub,
      logins: [alice, { username: "bob", password: "alice-pw-1" }],
    });
    assert.deepEqual(
      results,
      [
        { user: "alice", error: null },
        { user: null, error: null },
      ],
      log,
    );
  });

  it("LDAPS (on_connect), the CA configured: accepted; no CA: refused", async () => {
    assert.ok(slapd.tls);
    const port = slapd.tls.ldapsPort;
    const withCa = hubOf(await rendered("prod", ldapOverrides(port, "on_connect", [`ldapTlsCaCertificate=${ca}`])));
    assert.deepEqual(hubLdapLogin(withCa.configText, { ...withCa, logins: [alice] }).results, [
      { user: "alice", error: null },
    ]);
    const without = hubOf(await rendered("prod", ldapOverrides(port, "on_connect")));
    const [refused] = hubLdapLogin(without.configText, { ...without, logins: [alice] }).results;
    assert.equal(refused.user, null);
    assert.match(String(refused.error), /certificate verify failed/i);
  });

  it("control: with ldapTlsInsecureSkipVerify (CERT_NONE, ldap3's default) the same certificate is accepted", async () => {
    // What the hub did before tls_kwargs was set: anyone answering for the address gets the password.
    const hub = hubOf(
      await rendered("prod", ldapOverrides(slapd.port, "before_bind", ["ldapTlsInsecureSkipVerify=true"])),
    );
    assert.deepEqual(hubLdapLogin(hub.configText, { ...hub, logins: [alice] }).results, [
      { user: "alice", error: null },
    ]);
  });

  it("a user removed from allowedUsers but still in the hub's database is refused (allow_existing_users)", async () => {
    const hub = hubOf(await rendered("prod", ldapOverrides(slapd.port, "before_bind", [`ldapTlsCaCertificate=${ca}`])));
    const carol = { username: "carol", password: "carol-pw-3" };
    const request = { ...hub, existingUsers: ["alice", "carol"], logins: [carol, alice] };
    assert.deepEqual(hubLdapLogin(hub.configText, request).results, [
      { user: null, error: null },
      { user: "alice", error: null },
    ]);
    // Control: without the line, JupyterHub 5's default lets carol back in.
    const line = "c.Authenticator.allow_existing_users = False\n";
    assert.ok(hub.configText.includes(line));
    const jupyterhubDefault = hub.configText.replace(line, "");
    assert.deepEqual(hubLdapLogin(jupyterhubDefault, request).results[0], { user: "carol", error: null });
  });

  it("profiles kept for a group: the allowedGroups a user is in become their JupyterHub groups at each login", async () => {
    const [course, gpuLab] = [groupDn("course"), groupDn("gpu-lab")];
    const profiles = [
      { slug: "small", displayName: "Small" },
      { slug: "gpu", displayName: "GPU", gpuCount: 1, gpuType: "nvidia-l4", groups: [gpuLab] },
    ];
    const hub = hubOf(
      await rendered(
        "prod",
        ldapOverrides(slapd.port, "before_bind", [
          `allowedGroups=${JSON.stringify([course, gpuLab])}`,
          `profiles=${JSON.stringify(profiles)}`,
          `ldapTlsCaCertificate=${ca}`,
        ]),
      ),
    );
    const john = { username: "john.doe", password: "john-pw-4" };
    const r = hubLdapLogin(hub.configText, {
      ...hub,
      logins: [alice, john, { username: "bob", password: "bob-pw-2" }],
    });
    // LDAPAuthenticator looks up each of allowedGroups; the hook hands what it found to the hub
    // (manage_groups). bob, let in by name, is in none of them.
    assert.deepEqual(
      r.results,
      [
        { user: "alice", error: null, groups: [gpuLab] },
        { user: "john.doe", error: null, groups: [course] },
        { user: "bob", error: null, groups: [] },
      ],
      r.log,
    );
  });

  it("names as directories hold them, typed with capitals, log in as one lower-case hub user, by name or by group", async () => {
    const typed = [
      { username: "John.Doe", password: "john-pw-4" },
      { username: "john.doe", password: "john-pw-4" },
      { username: "2ndyear", password: "second-pw-5" },
      { username: "JOHN.DOE", password: "wrong" },
    ];
    const expected = [
      { user: "john.doe", error: null },
      { user: "john.doe", error: null },
      { user: "2ndyear", error: null },
      { user: null, error: null },
    ];
    const byName = ['allowedUsers=["John.Doe","2ndyear"]', `ldapTlsCaCertificate=${ca}`];
    const named = hubOf(await rendered("prod", ldapOverrides(slapd.port, "before_bind", byName)));
    // JupyterHub lower-cases allowed_users at start-up (JupyterHub.init_users); the harness does not start a hub.
    const lowered = named.configText.replace('{"John.Doe", "2ndyear"}', '{"john.doe", "2ndyear"}');
    assert.notEqual(lowered, named.configText);
    const r1 = hubLdapLogin(lowered, { ...named, logins: typed });
    assert.deepEqual(r1.results, expected, r1.log);

    const byGroup = [`allowedGroups=${JSON.stringify([groupDn("course")])}`, `ldapTlsCaCertificate=${ca}`];
    const grouped = hubOf(await rendered("prod", ldapOverrides(slapd.port, "before_bind", byGroup)));
    const r2 = hubLdapLogin(grouped.configText, { ...grouped, logins: typed });
    assert.deepEqual(r2.results, expected, r2.log);

    // Control: LDAPAuthenticator's own default refuses the capital and the leading digit unasked.
    const line = /^c\.LDAPAuthenticator\.valid_username_regex = .*\n/m;
    assert.match(grouped.configText, line);
    const r3 = hubLdapLogin(grouped.configText.replace(line, ""), { ...grouped, logins: typed.slice(0, 3) });
    assert.deepEqual(
      r3.results.map((r) => r.user),
      [null, "john.doe", null],
    );
  });

  describe("after hubExtraConfig snippets, which the hub runs after our config", () => {
    /**
     * Snippets that undo what the stack decided without naming the setting in plain sight (the
     * program refuses those before deploying): only Python, at the hub's start-up, sees them.
     */
    const unverify = 'import ssl\nsetattr(c.LDAPAuthenticator, "tls_" + "kwargs", {"validate": ssl.CERT_NONE})\n';
    const letExistingIn = "setattr(c.Authenticator, 'allow_existing_' + 'users', True)\n";

    it("a snippet that changes nothing protected: the certificate is still verified, and the snippet ran", async () => {
      const overrides = [snippet("50-motd", "c.JupyterHub.template_vars = {'announcement_login': 'hello'}\n")];
      const unverified = hubOf(await rendered("prod", ldapOverrides(slapd.port, "before_bind", overrides)));
      const [refused] = hubLdapLogin(unverified.configText, { ...unverified, logins: [alice] }).results;
      assert.match(String(refused.error), /certificate verify failed/i);
      const r = await rendered(
        "prod",
        ldapOverrides(slapd.port, "before_bind", [`ldapTlsCaCertificate=${ca}`, ...overrides]),
      );
      const hub = hubOf(r);
      const { results, log } = hubLdapLogin(hub.configText, { ...hub, logins: [alice] });
      assert.deepEqual(results, [{ user: "alice", error: null }]);
      assert.match(log, /ran hubExtraConfig snippet '50-motd'/);
    });

    it("a snippet that turns certificate verification off: the config does not load, naming the snippet", async () => {
      const hub = hubOf(
        await rendered("prod", ldapOverrides(slapd.port, "before_bind", [snippet("50-tls", unverify)])),
      );
      assert.throws(
        () => hubLdapLogin(hub.configText, { ...hub, logins: [alice] }),
        /ProtectedSettingChanged: hubExtraConfig snippet '50-tls' changes c\.LDAPAuthenticator\.tls_kwargs/,
      );
      // Control: the same lines at the end of the file, unguarded, are taken, and anyone answering
      // for the LDAP server's address gets the password.
      const raw = hubOf(await rendered("prod", ldapOverrides(slapd.port, "before_bind")));
      assert.deepEqual(hubLdapLogin(raw.configText + unverify, { ...raw, logins: [alice] }).results, [
        { user: "alice", error: null },
      ]);
    });

    it("a snippet that lets users removed from allowedUsers back in: the config does not load, naming the snippet", async () => {
      const guarded = [`ldapTlsCaCertificate=${ca}`, snippet("50-existing", letExistingIn)];
      const hub = hubOf(await rendered("prod", ldapOverrides(slapd.port, "before_bind", guarded)));
      const carol = { username: "carol", password: "carol-pw-3" };
      const request = { ...hub, existingUsers: ["alice", "carol"], logins: [carol] };
      assert.throws(
        () => hubLdapLogin(hub.configText, request),
        /ProtectedSettingChanged: hubExtraConfig snippet '50-existing' changes c\.Authenticator\.allow_existing_users/,
      );
      // Control: unguarded, the same line lets carol back in.
      const raw = hubOf(
        await rendered("prod", ldapOverrides(slapd.port, "before_bind", [`ldapTlsCaCertificate=${ca}`])),
      );
      assert.deepEqual(hubLdapLogin(raw.configText + letExistingIn, { ...raw, ...request, configFiles: {} }).results, [
        { user: "carol", error: null },
      ]);
    });
  });
});
