import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { findSecretsInConfigMap } from "../policy/secretLike";
import { renderStack, type Rendering } from "../render";
import { readProjectFile } from "../stacks";
import { unrecognisedHubOptions } from "./support/hubConfigPython";
import { kubeSpawnerFolder } from "../components/jupyterhub/userFolder";
import { hubOauthLogin } from "./support/hubOauthLogin";
import { rejectedKeys, validate } from "./support/validate";

/**
 * The authenticator key with an OAuth provider: what is refused before anything is deployed, what
 * the hub is told, where the secrets go, and what the hub image's own JupyterHub and OAuthenticator
 * 17.4.0 make of the rendered config. GitHub and Google cannot be reached from here: their
 * authenticator classes are made from the rendered config and run on user info as those providers
 * answer it (test/support/hub_oauth_login.py); the OpenID Connect journey (e2e/journey.test.ts)
 * signs in through a real provider, Ory Hydra.
 */

const clientSecret = "oauth-client-secret-value-0123456789";
/** The dev stack (test LDAP server off: its keys at their defaults) with an OpenID Connect provider. */
const oidc = [
  "ldapTestServer=false",
  "authenticator=oidc",
  "oauthClientId=jupyterhub",
  `oauthClientSecret=${clientSecret}`,
  "oauthIssuerUrl=http://127.0.0.1:4444/",
  "oauthCallbackUrl=http://127.0.0.1:8000/hub/oauth_callback",
];
const endpoints = [
  "oauthAuthorizeUrl=https://login.uni.example/oauth2/auth",
  "oauthTokenUrl=https://login.uni.example/oauth2/token",
  "oauthUserdataUrl=https://login.uni.example/userinfo",
];
const withoutIssuer = oidc.filter((o) => !o.startsWith("oauthIssuerUrl="));
/** An OpenID Connect provider by its endpoints, admitting by the groups claim. */
const oidcByGroup = [...withoutIssuer, ...endpoints, "allowedUsers=[]", 'allowedGroups=["students"]'];

const hubConfigOf = (r: Rendering): string => {
  const texts = r.manifests
    .filter((m) => m.kind === "ConfigMap")
    .map((m) => (m.data as Record<string, string> | undefined)?.["jupyterhub_config.py"])
    .filter((t): t is string => typeof t === "string");
  assert.equal(texts.length, 1, "one hub config");
  return texts[0];
};
const hubSecretOf = (r: Rendering) =>
  r.manifests.find((m) => m.kind === "Secret" && (m.metadata as { name?: string }).name === "hub");
const hubEnvOf = (r: Rendering) => {
  const hub = r.manifests.find((m) => m.kind === "Deployment" && (m.metadata as { name?: string }).name === "hub");
  const spec = (hub?.spec as { template: { spec: { containers: { env: { name: string; valueFrom?: unknown }[] }[] } } })
    .template.spec;
  return spec.containers[0].env;
};

describe("authenticator: bad input refused before anything is deployed, the key named", () => {
  it("accepts an OpenID Connect provider on a dev stack (plain http on loopback), by issuer or by endpoints", () => {
    assert.equal(validate("dev", oidc).authenticator, "oidc");
    assert.equal(
      validate("dev", [...withoutIssuer, ...endpoints]).oauthTokenUrl,
      "https://login.uni.example/oauth2/token",
    );
  });

  it("an http:// issuer or endpoint on a stack with hubDomain (a production hub)", () => {
    const domain = ["hubDomain=hub.uni.example", "oauthCallbackUrl="];
    assert.deepEqual(rejectedKeys("dev", [...oidc, ...domain]), ["oauthIssuerUrl"]);
    const plainToken = endpoints.map((e) =>
      e.replace("https://login.uni.example/oauth2/token", "http://login.uni.example/t"),
    );
    assert.deepEqual(rejectedKeys("dev", [...withoutIssuer, ...plainToken, ...domain]), ["oauthTokenUrl"]);
  });

  it("a missing client secret or client ID", () => {
    assert.deepEqual(rejectedKeys("dev", [...oidc, "oauthClientSecret="]), ["oauthClientSecret"]);
    assert.deepEqual(rejectedKeys("dev", [...oidc, "oauthClientId="]), ["oauthClientId"]);
  });

  it("no allowed users or groups and no explicit allow-all", () => {
    assert.deepEqual(rejectedKeys("dev", [...oidc, "allowedUsers=[]"]), ["allowedUsers"]);
    assert.equal(validate("dev", [...oidc, "allowedUsers=[]", "allowAllUsers=true"]).allowAllUsers, true);
  });

  it("LDAP keys set while OAuth is chosen, and the reverse", () => {
    const withLdap = oidc.filter((o) => o !== "ldapTestServer=false");
    assert.deepEqual(rejectedKeys("dev", withLdap), ["ldapTestServer"]);
    assert.deepEqual(rejectedKeys("dev", [...oidc, "ldapServer=ldap.uni.example"]), ["ldapServer"]);
    assert.deepEqual(rejectedKeys("dev", ["oauthClientId=jupyterhub"]), ["oauthClientId"]);
    assert.deepEqual(rejectedKeys("dev", ['adminGroups=["admins"]']), ["adminGroups"]);
  });

  it("a username or groups claim that is not a plain claim name", () => {
    for (const claim of ["user.name", "name with space", "{username}", "https://uni.example/claims/uid"]) {
      assert.deepEqual(rejectedKeys("dev", [...oidc, `oauthUsernameClaim=${claim}`]), ["oauthUsernameClaim"], claim);
    }
    assert.deepEqual(rejectedKeys("dev", [...oidc, "oauthGroupsClaim=realm.groups"]), ["oauthGroupsClaim"]);
  });

  it("the callback URL: required without hubDomain, and the hub's own /hub/oauth_callback", () => {
    assert.deepEqual(rejectedKeys("dev", [...oidc, "oauthCallbackUrl="]), ["oauthCallbackUrl"]);
    assert.deepEqual(rejectedKeys("dev", [...oidc, "oauthCallbackUrl=http://127.0.0.1:8000/callback"]), [
      "oauthCallbackUrl",
    ]);
  });

  it("half of the explicit endpoints, or both an issuer and endpoints", () => {
    assert.deepEqual(rejectedKeys("dev", [...withoutIssuer, endpoints[0]]), ["oauthAuthorizeUrl", "oauthIssuerUrl"]);
    assert.deepEqual(rejectedKeys("dev", [...oidc, ...endpoints]), ["oauthIssuerUrl"]);
  });

  it("what a kind does not have: endpoints and groups claims for GitHub and Google, Google groups, hosted domains elsewhere", () => {
    const github = [...withoutIssuer.filter((o) => o !== "authenticator=oidc"), "authenticator=github"];
    assert.deepEqual(rejectedKeys("dev", [...github, "oauthIssuerUrl=https://github.com/"]), ["oauthIssuerUrl"]);
    assert.deepEqual(rejectedKeys("dev", [...github, 'adminGroups=["org:admins"]']), ["adminGroups"]);
    assert.deepEqual(rejectedKeys("dev", [...github, 'oauthHostedDomains=["uni.example"]']), ["oauthHostedDomains"]);
    const google = [...withoutIssuer.filter((o) => o !== "authenticator=oidc"), "authenticator=google"];
    // Google's names are e-mail addresses: the dev stack's bare names would be refused too.
    const googleUsers = ['allowedUsers=["alice@uni.example"]', "adminUsers=[]"];
    assert.deepEqual(rejectedKeys("dev", [...google, ...googleUsers, 'allowedGroups=["staff@uni.example"]']), [
      "allowedGroups",
    ]);
    assert.deepEqual(rejectedKeys("dev", [...google, "allowedUsers=[]", "adminUsers=[]", "allowAllUsers=true"]), [
      "allowAllUsers",
    ]);
    assert.equal(
      validate("dev", [...google, "allowedUsers=[]", "allowAllUsers=true", 'oauthHostedDomains=["uni.example"]'])
        .oauthHostedDomains[0],
      "uni.example",
    );
  });

  it("e-mail addresses as user names with a provider, not with LDAP", () => {
    assert.deepEqual(validate("dev", [...oidc, 'adminUsers=["john.doe@uni.example"]']).adminUsers, [
      "john.doe@uni.example",
    ]);
    assert.deepEqual(rejectedKeys("dev", ['adminUsers=["john.doe@uni.example"]']), ["adminUsers[0]"]);
  });
});

describe("authenticator: the README's GKE stack files", () => {
  it("each OAuth kind's block, in place of Pulumi.prod.yaml's LDAP keys and allowedGroups, is accepted", () => {
    const project = readProjectFile();
    const readme = fs.readFileSync(path.join(project.dir, "README.md"), "utf8");
    const blocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)]
      .map((m) => parse(m[1]) as Record<string, unknown>)
      .filter((b) => b["jupyterhub-nfs:authenticator"] !== undefined);
    assert.deepEqual(
      blocks.map((b) => b["jupyterhub-nfs:authenticator"]),
      ["oidc", "github", "google"],
    );
    const prod = parse(fs.readFileSync(path.join(project.dir, "Pulumi.prod.yaml"), "utf8")) as {
      config: Record<string, unknown>;
    };
    const cli = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));
    const reset = Object.keys(prod.config)
      .map((k) => k.replace("jupyterhub-nfs:", ""))
      .filter((k) => k.startsWith("ldap") || k === "allowedGroups")
      .map((k) => `${k}=${cli(project.config.get(k)?.default)}`);
    for (const block of blocks) {
      const set = Object.entries(block).map(([k, v]) => `${k}=${cli(v)}`);
      const cfg = validate("prod", [...reset, ...set, "oauthClientSecret=from-pulumi-config-set-secret"]);
      assert.equal(cfg.authenticator, block["jupyterhub-nfs:authenticator"]);
    }
  });
});

describe("authenticator: the secrets go through the hub's Secret and environment only", () => {
  it("the client secret is in the hub Secret and reaches the hub as OAUTH_CLIENT_SECRET; no ConfigMap holds it", async () => {
    const r = await renderStack({ stack: "dev", overrides: oidc });
    const secret = hubSecretOf(r);
    assert.equal((secret?.stringData as Record<string, string>)["oauth-client-secret"], clientSecret);
    const env = hubEnvOf(r);
    assert.deepEqual(env.find((e) => e.name === "OAUTH_CLIENT_SECRET")?.valueFrom, {
      secretKeyRef: { name: "hub", key: "oauth-client-secret" },
    });
    assert.equal(
      env.find((e) => e.name === "JUPYTERHUB_CRYPT_KEY"),
      undefined,
      "no crypt key without auth state",
    );
    for (const m of r.manifests.filter((m) => m.kind !== "Secret")) {
      assert.ok(!JSON.stringify(m).includes(clientSecret), `${String(m.kind)} holds the client secret`);
    }
    assert.match(hubConfigOf(r), /^c\.GenericOAuthenticator\.client_secret = os\.environ\["OAUTH_CLIENT_SECRET"\]$/m);
    // The policy pack's no-secrets-in-configmaps: naming the variable is not holding a secret.
    for (const m of r.manifests.filter((m) => m.kind === "ConfigMap")) {
      assert.deepEqual(findSecretsInConfigMap(m.data, m.binaryData), []);
    }
  });

  it("with auth state kept, JUPYTERHUB_CRYPT_KEY comes from @pulumi/random in the same Secret", async () => {
    const r = await renderStack({ stack: "dev", overrides: [...oidc, "oauthEnableAuthState=true"] });
    const key = (hubSecretOf(r)?.stringData as Record<string, string>)["crypt-key"];
    assert.match(key, /^[0-9a-f]{64}$/, "32 random bytes, hex");
    assert.ok(
      r.resources.some((res) => res.type === "random:index/randomBytes:RandomBytes" && res.name.endsWith("-crypt-key")),
    );
    assert.deepEqual(hubEnvOf(r).find((e) => e.name === "JUPYTERHUB_CRYPT_KEY")?.valueFrom, {
      secretKeyRef: { name: "hub", key: "crypt-key" },
    });
    assert.match(hubConfigOf(r), /^c\.Authenticator\.enable_auth_state = True$/m);
  });

  it("an error naming the client secret never repeats it", () => {
    try {
      validate("dev", [...oidc, "ldapServer=ldap.uni.example", "oauthClientSecret=x y"]);
      assert.fail("accepted");
    } catch (err) {
      assert.ok(!String(err).includes("x y"));
    }
  });
});

describe("authenticator: the rendered config, as the hub image's JupyterHub and OAuthenticator 17.4.0 take it", () => {
  const env = { OAUTH_CLIENT_SECRET: clientSecret };

  it("oidc with explicit endpoints: the groups claim becomes hub groups; allowed and admin groups decide; the username claim is the name", async () => {
    const r = await renderStack({
      stack: "dev",
      overrides: [...oidcByGroup, "adminUsers=[]", 'adminGroups=["teachers"]'],
    });
    const out = hubOauthLogin(
      hubConfigOf(r),
      {
        traits: [
          "client_id",
          "client_secret",
          "authorize_url",
          "token_url",
          "userdata_url",
          "scope",
          "username_claim",
          "manage_groups",
          "oauth_callback_url",
        ],
        users: [
          { sub: "1", preferred_username: "Alice", groups: ["students", "teachers"] },
          { sub: "2", preferred_username: "bob", groups: ["students"] },
          { sub: "3", preferred_username: "mallory", groups: ["visitors"] },
        ],
      },
      env,
    );
    assert.equal(out.class, "GenericOAuthenticator");
    assert.deepEqual(out.traits, {
      client_id: "jupyterhub",
      client_secret: clientSecret,
      authorize_url: "https://login.uni.example/oauth2/auth",
      token_url: "https://login.uni.example/oauth2/token",
      userdata_url: "https://login.uni.example/userinfo",
      scope: ["openid", "profile", "email"],
      username_claim: "preferred_username",
      manage_groups: true,
      oauth_callback_url: "http://127.0.0.1:8000/hub/oauth_callback",
    });
    assert.deepEqual(out.logins, [
      { user: "alice", admin: true, groups: ["students", "teachers"], error: null, folder: "alice" },
      { user: "bob", admin: false, groups: ["students"], error: null, folder: "bob" },
      { user: null, admin: null, groups: null, error: null },
    ]);
  });

  it("oidc by issuer: the hub reads the endpoints from the discovery document when it loads its config, and refuses one naming another issuer", async () => {
    const r = await renderStack({ stack: "dev", overrides: oidc });
    const text = hubConfigOf(r);
    assert.match(text, /^OIDC_ISSUER = "http:\/\/127\.0\.0\.1:4444\/"$/m);
    // The document served from a file (urllib reads file: URLs too): no network in unit tests.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oidc-discovery-"));
    try {
      const issuer = `file://${dir}`;
      fs.mkdirSync(path.join(dir, ".well-known"));
      const document = (iss: string) =>
        JSON.stringify({
          issuer: iss,
          authorization_endpoint: "https://login.uni.example/a",
          token_endpoint: "https://login.uni.example/t",
          userinfo_endpoint: "https://login.uni.example/u",
        });
      const discovery = path.join(dir, ".well-known", "openid-configuration");
      fs.writeFileSync(discovery, document(issuer));
      const local = text.replace(/^OIDC_ISSUER = .*$/m, `OIDC_ISSUER = ${JSON.stringify(issuer)}`);
      const out = hubOauthLogin(local, { traits: ["authorize_url", "token_url", "userdata_url"], users: [] }, env);
      assert.deepEqual(out.traits, {
        authorize_url: "https://login.uni.example/a",
        token_url: "https://login.uni.example/t",
        userdata_url: "https://login.uni.example/u",
      });
      fs.writeFileSync(discovery, document("https://elsewhere.example/"));
      assert.throws(
        () => hubOauthLogin(local, { traits: [], users: [] }, env),
        /names the issuer 'https:\/\/elsewhere\.example\/'/,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("github: GitHubOAuthenticator with the organisations and teams of allowedGroups, read:org, the login as the name (no GitHub here)", async () => {
    const r = await renderStack({
      stack: "dev",
      overrides: [
        ...withoutIssuer.filter((o) => o !== "authenticator=oidc"),
        "authenticator=github",
        "oauthCallbackUrl=",
        "hubDomain=hub.uni.example",
        'allowedGroups=["uni-lab","uni-courses:data-101"]',
      ],
    });
    const out = hubOauthLogin(
      hubConfigOf(r),
      {
        traits: [
          "allowed_organizations",
          "scope",
          "username_claim",
          "oauth_callback_url",
          "client_id",
          "client_secret",
        ],
        users: [{ login: "Alice", id: 1, email: "alice@uni.example" }],
      },
      env,
    );
    assert.equal(out.class, "GitHubOAuthenticator");
    assert.deepEqual(out.traits, {
      allowed_organizations: ["uni-courses:data-101", "uni-lab"],
      scope: ["read:org"],
      username_claim: "login",
      oauth_callback_url: "https://hub.uni.example/hub/oauth_callback",
      client_id: "jupyterhub",
      client_secret: clientSecret,
    });
    // alice is in allowedUsers (the dev stack's), which GitHubOAuthenticator checks before asking GitHub.
    assert.deepEqual(out.logins, [{ user: "alice", admin: true, groups: null, error: null, folder: "alice" }]);
  });

  it("google: GoogleOAuthenticator for one Workspace domain strips it from user names; other domains are blocked (no Google here)", async () => {
    const r = await renderStack({
      stack: "dev",
      overrides: [
        ...withoutIssuer.filter((o) => o !== "authenticator=oidc"),
        "authenticator=google",
        "allowedUsers=[]",
        "adminUsers=[]",
        "allowAllUsers=true",
        'oauthHostedDomains=["uni.example"]',
        "oauthLoginService=Uni Google account",
      ],
    });
    const out = hubOauthLogin(
      hubConfigOf(r),
      {
        traits: ["hosted_domain", "strip_domain", "scope", "username_claim", "login_service"],
        users: [
          { email: "John.Doe@uni.example", verified_email: true, hd: "uni.example" },
          { email: "eve@gmail.example", verified_email: true },
        ],
      },
      env,
    );
    assert.equal(out.class, "GoogleOAuthenticator");
    assert.deepEqual(out.traits, {
      hosted_domain: ["uni.example"],
      strip_domain: true,
      scope: ["openid", "email"],
      username_claim: "email",
      login_service: "Uni Google account",
    });
    assert.deepEqual(out.logins, [
      { user: "john.doe", admin: null, groups: null, error: null, folder: "john-doe---30f69670" },
      { user: null, admin: null, groups: null, error: null },
    ]);
  });

  it("names users type, through the real classes: capitals, a dot, a digit first, a domain; the hub name, its folder (KubeSpawner's own safe_slug), the admin list and the quota override agree", async () => {
    // A university IdP whose email claim holds the name: one domain taken off (oauthStripDomain).
    const stripped = await renderStack({
      stack: "dev",
      overrides: [
        ...oidcByGroup,
        "oauthUsernameClaim=email",
        "oauthStripDomain=uni.example.edu",
        'adminUsers=["Jane.Doe"]',
        "userQuotaDefault=1Gi",
        'userQuotaOverrides=[{"user":"Jane.Doe","quota":"2Gi"}]',
      ],
    });
    const text = hubConfigOf(stripped);
    assert.match(text, /^c\.GenericOAuthenticator\.username_claim = _username_without_domain$/m);
    const out = hubOauthLogin(
      text,
      {
        traits: ["admin_users"],
        users: [
          { email: "Jane.Doe@Uni.Example.edu", preferred_username: "JDoe", groups: [] },
          { email: "0xy.z@uni.example.edu", groups: ["students"] },
          // Another domain keeps its name whole: never the same hub user as a university name.
          { email: "Jane.Doe@Other.Example.org", groups: ["students"] },
        ],
      },
      env,
    );
    // JupyterHub lower-cases adminUsers when it starts, as it lower-cases login names.
    assert.deepEqual(out.traits, { admin_users: ["jane.doe"] });
    assert.deepEqual(out.logins, [
      { user: "jane.doe", admin: true, groups: [], error: null, folder: "jane-doe---d48722fc" },
      { user: "0xy.z", admin: null, groups: ["students"], error: null, folder: "x-0xy-z---09245686" },
      {
        user: "jane.doe@other.example.org",
        admin: null,
        groups: ["students"],
        error: null,
        folder: "jane-doe-other-example-org---c74a9ca4",
      },
    ]);
    for (const login of out.logins) {
      assert.ok(login.user !== null);
      assert.equal(kubeSpawnerFolder(login.user), login.folder, `our folder name for ${login.user}`);
    }
    // The quota override named as the admin list names her reaches the enforcer by her folder.
    const quotas = JSON.parse(
      String(
        (
          stripped.manifests.find(
            (m) => m.kind === "ConfigMap" && (m.metadata as { name?: string }).name?.startsWith("user-quotas"),
          )?.data as Record<string, string>
        )["quotas.json"],
      ),
    ) as { overridesBytes: Record<string, number> };
    assert.deepEqual(Object.keys(quotas.overridesBytes), [out.logins[0].folder]);

    // The claim as it is (preferred_username, the default): capitals only lower-cased, a domain kept.
    const whole = await renderStack({
      stack: "dev",
      overrides: [...oidcByGroup, 'adminUsers=["JDoe"]'],
    });
    const plain = hubOauthLogin(
      hubConfigOf(whole),
      {
        traits: ["username_claim"],
        users: [
          { preferred_username: "JDoe", groups: [] },
          { preferred_username: "0xy.z", groups: ["students"] },
          { preferred_username: "Jane.Doe@Uni.Example.edu", groups: ["students"] },
        ],
      },
      env,
    );
    assert.deepEqual(plain.traits, { username_claim: "preferred_username" });
    assert.deepEqual(
      plain.logins.map((l) => [l.user, l.admin, l.folder]),
      [
        ["jdoe", true, "jdoe"],
        ["0xy.z", null, "x-0xy-z---09245686"],
        ["jane.doe@uni.example.edu", null, "jane-doe-uni-example-edu---b9e4bc94"],
      ],
    );
  });

  it("refuses a config name no login could have, naming the key: the stripped domain, a bare name with an e-mail claim, a domain with GitHub or outside Google's hosted domain", () => {
    const oidcEmail = [...oidcByGroup, "oauthUsernameClaim=email"];
    const strip = [...oidcEmail, "oauthStripDomain=uni.example.edu"];
    assert.deepEqual(rejectedKeys("dev", [...strip, 'adminUsers=["Jane.Doe@Uni.Example.edu"]']), ["adminUsers[0]"]);
    assert.deepEqual(
      rejectedKeys("dev", [
        ...strip,
        "adminUsers=[]",
        "userQuotaDefault=1Gi",
        'userQuotaOverrides=[{"user":"jdoe@uni.example.edu","quota":"2Gi"}]',
      ]),
      ["userQuotaOverrides[0][user]"],
    );
    assert.doesNotThrow(() => validate("dev", [...strip, 'adminUsers=["Jane.Doe","guest@other.example.org"]']));
    // With the whole e-mail as the name, a bare name is nobody's.
    assert.deepEqual(rejectedKeys("dev", [...oidcEmail, 'adminUsers=["jane.doe"]']), ["adminUsers[0]"]);
    assert.doesNotThrow(() => validate("dev", [...oidcEmail, 'adminUsers=["Jane.Doe@Uni.Example.edu"]']));
    // preferred_username (the default) may hold either form: both are taken.
    assert.doesNotThrow(() =>
      validate("dev", [...withoutIssuer, ...endpoints, 'adminUsers=["JDoe","jane@uni.example.edu"]']),
    );
    const github = [...withoutIssuer.filter((o) => o !== "authenticator=oidc"), "authenticator=github"];
    assert.deepEqual(rejectedKeys("dev", [...github, 'adminUsers=["alice@uni.example"]']), ["adminUsers[0]"]);
    assert.deepEqual(rejectedKeys("dev", [...github, "oauthStripDomain=uni.example"]), ["oauthStripDomain"]);
    const google = [
      ...withoutIssuer.filter((o) => o !== "authenticator=oidc"),
      "authenticator=google",
      'oauthHostedDomains=["uni.example"]',
    ];
    assert.deepEqual(rejectedKeys("dev", [...google, 'allowedUsers=["bob"]', 'adminUsers=["alice@uni.example"]']), [
      "adminUsers[0]",
    ]);
    assert.deepEqual(rejectedKeys("dev", [...google, 'allowedUsers=["bob@gmail.example"]', "adminUsers=[]"]), [
      "allowedUsers[0]",
    ]);
  });

  it("every option the three kinds' configs set is one their classes read (none misspelt)", async () => {
    const base = withoutIssuer.filter((o) => o !== "authenticator=oidc");
    const kinds = {
      oidc: [...withoutIssuer, ...endpoints, "oauthEnableAuthState=true", 'adminGroups=["teachers"]'],
      github: [...base, "authenticator=github", 'allowedGroups=["uni-lab"]'],
      google: [...base, "authenticator=google", 'oauthHostedDomains=["uni.example"]'],
    };
    const configs = [];
    // One rendering at a time: the Pulumi runtime the renders share is global.
    for (const [name, overrides] of Object.entries(kinds)) {
      const configText = hubConfigOf(await renderStack({ stack: "dev", overrides }));
      configs.push({ name, configText, env: { ...env, JUPYTERHUB_CRYPT_KEY: "0".repeat(64) } });
    }
    assert.deepEqual(unrecognisedHubOptions(configs), { github: [], google: [], oidc: [] });
  });

  it("LDAP stacks render exactly as before: no OAuth setting", async () => {
    const text = hubConfigOf(await renderStack({ stack: "dev" }));
    assert.match(text, /^c\.JupyterHub\.authenticator_class = "ldap"$/m);
    assert.ok(!/OAuthenticator|OIDC_ISSUER|enable_auth_state/.test(text));
  });
});
