import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { makeLdapTlsVerified, makeNoPlainHttpPublicHub, oauthIssuerHttps } from "../policy/transportRules";
import { renderStack } from "../render";
import { parseStackConfig, type StackConfig } from "../policy/stackConfig";
import { loadCliConfig } from "../render/stackConfig";
import { runResourcePolicy, violationsOf, type ResourceUnderTest } from "./support/policyHarness";
import { renderVariation, variations, type Variation } from "./support/variations";

/**
 * The policy pack's transport rules (policy/transportRules.ts): LDAP over verified TLS, and no plain
 * HTTP public hub. Hand-made violating objects here; every stack rendering passes the whole pack in
 * test/policy.test.ts, and below the real rendered objects are shown to fail under a stack config
 * that lacks the explicit key they rely on.
 */

const stackConfig = (values: Record<string, string>): StackConfig =>
  parseStackConfig(
    JSON.stringify(Object.fromEntries(Object.entries(values).map(([k, v]) => [`jupyterhub-nfs:${k}`, v]))),
  );
const none = stackConfig({});

function hubConfigMap(lines: string[]): ResourceUnderTest {
  const text = ["c = get_config()", 'c.JupyterHub.authenticator_class = "ldap"', ...lines].join("\n") + "\n";
  return {
    type: "kubernetes:core/v1:ConfigMap",
    name: "hub-config",
    props: {
      kind: "ConfigMap",
      metadata: { name: "hub-config-x", namespace: "hub" },
      data: { "jupyterhub_config.py": text },
    },
  };
}

const verified = 'c.LDAPAuthenticator.tls_kwargs = {"validate": ssl.CERT_REQUIRED}';
const org = 'c.LDAPAuthenticator.server_address = "ldap.example.org"';
const testServer = 'c.LDAPAuthenticator.server_address = "test-ldap.hub.svc"';

describe("policy ldap-tls-verified", () => {
  const check = (r: ResourceUnderTest, stack = none) => runResourcePolicy(makeLdapTlsVerified(stack), r);

  it("passes verified StartTLS and LDAPS, with the system bundle or a CA file", async () => {
    for (const strategy of ["before_bind", "on_connect"]) {
      const s = `c.LDAPAuthenticator.tls_strategy = "${strategy}"`;
      assert.deepEqual(await check(hubConfigMap([org, s, verified])), []);
      const ca = 'c.LDAPAuthenticator.tls_kwargs = {"validate": ssl.CERT_REQUIRED, "ca_certs_file": "/etc/ca/ca.crt"}';
      assert.deepEqual(await check(hubConfigMap([org, s, ca])), []);
    }
  });

  it("reports TLS without tls_kwargs (ldap3's default is CERT_NONE), with CERT_NONE, and with CERT_OPTIONAL", async () => {
    const s = 'c.LDAPAuthenticator.tls_strategy = "before_bind"';
    const [missing] = await check(hubConfigMap([org, s]));
    assert.match(
      missing,
      /ConfigMap hub\/hub-config-x \(jupyterhub_config\.py\): LDAP over TLS \("before_bind"\) does not verify/,
    );
    assert.match(missing, /unset: ldap3 defaults to CERT_NONE/);
    for (const mode of ["CERT_NONE", "CERT_OPTIONAL"]) {
      const kwargs = `c.LDAPAuthenticator.tls_kwargs = {"validate": ssl.${mode}}`;
      assert.equal((await check(hubConfigMap([org, s, kwargs]))).length, 1, mode);
    }
    // No tls_strategy at all is LDAPAuthenticator's default, before_bind: still needs verification.
    assert.equal((await check(hubConfigMap([org]))).length, 1);
    // The last assignment wins, as in Python.
    assert.equal(
      (await check(hubConfigMap([org, s, verified, 'c.LDAPAuthenticator.tls_kwargs = {"validate": ssl.CERT_NONE}'])))
        .length,
      1,
    );
  });

  it('reports tls_strategy "insecure" to the organisation\'s server', async () => {
    const [msg] = await check(hubConfigMap([org, 'c.LDAPAuthenticator.tls_strategy = "insecure"']));
    assert.match(msg, /tls_strategy "insecure" sends every password to "ldap\.example\.org" in clear text/);
  });

  it("allows plain LDAP only to the in-cluster test server of a stack with ldapTestServer", async () => {
    const plain = 'c.LDAPAuthenticator.tls_strategy = "insecure"';
    const dev = stackConfig({ ldapTestServer: "true" });
    assert.deepEqual(await check(hubConfigMap([testServer, plain]), dev), []);
    assert.equal((await check(hubConfigMap([testServer, plain]), none)).length, 1, "not without ldapTestServer");
    assert.equal((await check(hubConfigMap([org, plain]), dev)).length, 1, "not to a server outside the cluster");
  });

  it("allows anything when the stack sets ldapTlsInsecureSkipVerify", async () => {
    const insecure = stackConfig({ ldapTlsInsecureSkipVerify: "true" });
    assert.deepEqual(await check(hubConfigMap([org, 'c.LDAPAuthenticator.tls_strategy = "insecure"']), insecure), []);
    assert.deepEqual(
      await check(hubConfigMap([org, 'c.LDAPAuthenticator.tls_kwargs = {"validate": ssl.CERT_NONE}']), insecure),
      [],
    );
  });

  it("judges the config after the hubExtraConfig snippets it runs, in their order", async () => {
    const s = 'c.LDAPAuthenticator.tls_strategy = "before_bind"';
    const withSnippets = (snippets: Record<string, string>) => {
      const cm = hubConfigMap([
        org,
        s,
        verified,
        `_run_extra_config(${JSON.stringify(Object.keys(snippets))}, [], [])`,
      ]);
      const data = cm.props.data as Record<string, string>;
      const files = Object.fromEntries(
        Object.entries(snippets).map(([name, text]) => [`extra-config-${name}.py`, text]),
      );
      return { ...cm, props: { ...cm.props, data: { ...data, ...files } } };
    };
    const unverify = 'c.LDAPAuthenticator.tls_kwargs = {"validate": ssl.CERT_NONE}\n';
    const [found] = await check(withSnippets({ "10-motd": "c.JupyterHub.template_vars = {}\n", "20-tls": unverify }));
    assert.match(found, /does not verify the server's certificate \(tls_kwargs \{"validate": ssl\.CERT_NONE\}\)/);
    // A later snippet that puts verification back is what the hub ends up with.
    assert.deepEqual(await check(withSnippets({ "20-tls": unverify, "30-again": `${verified}\n` })), []);
    // A snippet file the config does not run is not part of the config.
    const notRun = withSnippets({});
    (notRun.props.data as Record<string, string>)["extra-config-99-stray.py"] = unverify;
    assert.deepEqual(await check(notRun), []);
  });

  it("ignores ConfigMaps that are not an LDAP hub config", async () => {
    const other: ResourceUnderTest = {
      type: "kubernetes:core/v1:ConfigMap",
      name: "x",
      props: { kind: "ConfigMap", metadata: { name: "x" }, data: { "a.conf": 'tls_strategy = "insecure"' } },
    };
    assert.deepEqual(await check(other), []);
  });
});

function service(labels: Record<string, string>, type: string): ResourceUnderTest {
  return {
    type: "kubernetes:core/v1:Service",
    name: "svc",
    props: {
      kind: "Service",
      metadata: { name: "proxy-public", namespace: "hub", labels },
      spec: { type, ports: [{ port: 80 }] },
    },
  };
}

function ingress(annotations: Record<string, string>, tls?: unknown[]): ResourceUnderTest {
  return {
    type: "kubernetes:networking.k8s.io/v1:Ingress",
    name: "ing",
    props: {
      kind: "Ingress",
      metadata: { name: "hub-https", namespace: "hub", annotations },
      spec: { defaultBackend: { service: { name: "proxy-public", port: { number: 80 } } }, ...(tls ? { tls } : {}) },
    },
  };
}

describe("policy no-plain-http-public-hub", () => {
  const check = (r: ResourceUnderTest, stack = none) => runResourcePolicy(makeNoPlainHttpPublicHub(stack), r);
  const proxy = { "app.kubernetes.io/name": "proxy" };
  const managed = { "networking.gke.io/managed-certificates": "hub-https" };
  const redirect = { "networking.gke.io/v1beta1.FrontendConfig": "hub-https" };

  it("reports the hub's or proxy's Service as LoadBalancer or NodePort, not as ClusterIP", async () => {
    for (const type of ["LoadBalancer", "NodePort"]) {
      const [msg] = await check(service(proxy, type));
      assert.match(
        msg,
        new RegExp(`Service hub/proxy-public \\(proxy\\) is a ${type}: it serves the hub's login page in plain HTTP`),
      );
      assert.equal((await check(service({ "app.kubernetes.io/name": "hub" }, type))).length, 1);
    }
    assert.deepEqual(await check(service(proxy, "ClusterIP")), []);
    assert.deepEqual(
      await check(service({ "app.kubernetes.io/name": "file-browser" }, "LoadBalancer")),
      [],
      "not the hub",
    );
  });

  it("reports an Ingress without a certificate, or one that still serves plain HTTP", async () => {
    assert.deepEqual(await check(ingress({ ...managed, ...redirect })), []);
    assert.deepEqual(await check(ingress({ ...redirect }, [{ secretName: "hub-tls" }])), []);
    assert.deepEqual(await check(ingress({ ...managed, "kubernetes.io/ingress.allow-http": "false" })), []);
    assert.deepEqual(
      (await check(ingress({}))).map((m) => m.replace(/:.*/, "")),
      ["Ingress hub/hub-https has no certificate", "Ingress hub/hub-https also answers plain HTTP"],
    );
    assert.equal((await check(ingress({ ...managed }))).length, 1, "a certificate but HTTP still served");
  });

  it("reports a FrontendConfig that does not redirect", async () => {
    const frontend = (redirectToHttps: unknown): ResourceUnderTest => ({
      type: "kubernetes:networking.gke.io/v1beta1:FrontendConfig",
      name: "fc",
      props: { kind: "FrontendConfig", metadata: { name: "hub-https", namespace: "hub" }, spec: { redirectToHttps } },
    });
    assert.deepEqual(await check(frontend({ enabled: true })), []);
    assert.equal((await check(frontend({ enabled: false }))).length, 1);
    assert.equal((await check(frontend(undefined))).length, 1);
  });

  it("allows all of it when the stack sets hubInsecureAllowPlainHttp", async () => {
    const allowed = stackConfig({ hubInsecureAllowPlainHttp: "true" });
    assert.deepEqual(await check(service(proxy, "LoadBalancer"), allowed), []);
    assert.deepEqual(await check(ingress({}), allowed), []);
  });
});

describe("transport rules on the program's own rendered objects", () => {
  const configOf = (v: Variation) => new Map(Object.entries(loadCliConfig(v.stack, v.overrides).values));
  const policies = (c: StackConfig) => [makeLdapTlsVerified(c), makeNoPlainHttpPublicHub(c)];
  const named = (name: string) => {
    const v = variations().find((x) => x.name.includes(name));
    assert.ok(v, `no variation "${name}"`);
    return v;
  };

  it("every stack and variation passes under its own config", async () => {
    for (const v of variations()) {
      const found = await violationsOf(policies(configOf(v)), v.stack, await renderVariation(v));
      assert.deepEqual(found, [], `${v.name}: ${found.map((f) => f.message).join("\n")}`);
    }
  });

  it("an unverified LDAP rendering fails once the stack config no longer says ldapTlsInsecureSkipVerify", async () => {
    for (const v of [named("TLS unverified (explicitly)"), named("plain LDAP explicitly allowed")]) {
      const config = new Map(configOf(v));
      config.delete("jupyterhub-nfs:ldapTlsInsecureSkipVerify");
      const found = await violationsOf(policies(config), v.stack, await renderVariation(v));
      assert.deepEqual(
        found.map((f) => f.policy),
        ["ldap-tls-verified"],
        v.name,
      );
      assert.match(found[0].urn, /kubernetes:core\/v1:ConfigMap::jupyterhub-hub-config$/);
    }
  });

  it("a plain-HTTP public hub rendering fails once the stack config no longer says hubInsecureAllowPlainHttp", async () => {
    for (const v of [named("LoadBalancer services"), named("NodePort services")]) {
      const config = new Map(configOf(v));
      config.delete("jupyterhub-nfs:hubInsecureAllowPlainHttp");
      const found = await violationsOf(policies(config), v.stack, await renderVariation(v));
      assert.deepEqual(
        found.map((f) => f.policy),
        ["no-plain-http-public-hub"],
        v.name,
      );
      assert.match(found[0].urn, /kubernetes:core\/v1:Service::jupyterhub-proxy-public$/);
    }
  });
});

describe("policy oauth-issuer-https", () => {
  const oauthConfigMap = (publicUrl: string | undefined, lines: string[]): ResourceUnderTest => {
    const r = hubConfigMap([]);
    const text = [
      "c = get_config()",
      'c.JupyterHub.authenticator_class = "generic-oauth"',
      ...(publicUrl ? [`c.JupyterHub.public_url = "${publicUrl}"`] : []),
      ...lines,
    ].join("\n");
    return { ...r, props: { ...r.props, data: { "jupyterhub_config.py": text + "\n" } } };
  };
  const check = (r: ResourceUnderTest) => runResourcePolicy(oauthIssuerHttps, r);

  it("refuses a production hub (public over HTTPS) whose issuer or endpoints are plain http", async () => {
    const [issuer] = await check(
      oauthConfigMap("https://hub.uni.example/", ['OIDC_ISSUER = "http://login.uni.example/"']),
    );
    assert.match(issuer, /discovers its OpenID provider at "http:\/\/login\.uni\.example\/", not over HTTPS/);
    const token = 'c.GenericOAuthenticator.token_url = "http://login.uni.example/token"';
    const [endpoint] = await check(oauthConfigMap("https://hub.uni.example/", [token]));
    assert.match(endpoint, /sends its OAuth token_url to "http:\/\/login\.uni\.example\/token"/);
  });

  it("passes an https provider, and a dev hub (no public URL) with a plain-http provider on loopback", async () => {
    assert.deepEqual(
      await check(oauthConfigMap("https://hub.uni.example/", ['OIDC_ISSUER = "https://login.uni.example/"'])),
      [],
    );
    assert.deepEqual(await check(oauthConfigMap(undefined, ['OIDC_ISSUER = "http://127.0.0.1:4444/"'])), []);
  });

  it("judges the rendered hub config: an https issuer passes; the same config with it turned to http fails", async () => {
    const r = await renderStack({
      stack: "dev",
      overrides: [
        "ldapTestServer=false",
        "authenticator=oidc",
        "oauthClientId=jupyterhub",
        "oauthClientSecret=s3cret-for-the-policy-test",
        "oauthIssuerUrl=https://login.uni.example/",
        "hubDomain=hub.uni.example",
      ],
    });
    const cm = r.manifests.find((m) => m.kind === "ConfigMap" && JSON.stringify(m.data).includes("OIDC_ISSUER"));
    const data = (cm?.data ?? {}) as Record<string, string>;
    const asResource = (d: Record<string, string>): ResourceUnderTest => ({
      type: "kubernetes:core/v1:ConfigMap",
      name: "jupyterhub-hub-config",
      props: { kind: "ConfigMap", metadata: cm?.metadata, data: d },
    });
    assert.deepEqual(await check(asResource(data)), []);
    const plain = data["jupyterhub_config.py"].replace('OIDC_ISSUER = "https://', 'OIDC_ISSUER = "http://');
    assert.equal((await check(asResource({ ...data, "jupyterhub_config.py": plain }))).length, 1);
  });
});
