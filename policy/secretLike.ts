/**
 * Finds values in a ConfigMap that look like credentials. ConfigMaps are readable by anyone who can
 * read the namespace's configuration and land in logs, dumps and `kubectl describe`; credentials
 * belong in a Secret. The rule must not fire on configuration that merely *names* a secret (an
 * environment variable such as JPY_COOKIE_SECRET, a `*_file` path, an `os.environ[...]` lookup):
 * it looks for credential-shaped values, not for words.
 */

export interface SecretFinding {
  /** The ConfigMap key the value sits under. */
  key: string;
  /** Why it looks like a credential (never the value itself). */
  reason: string;
}

/** An identifier whose last word says it holds a credential: cookie_secret, db-password, API_KEY. */
const credentialName =
  /(?:^|[^a-z0-9])?(?:password|passwd|passphrase|pwd|secret|token|apikey|api[_-]key|privatekey|private[_-]key|credentials?|auth[_-]?key|access[_-]?key)$/i;

/** `name = value`, `name: value`, `"name": "value"`, `NAME=value` anywhere in a text. */
const assignment =
  /(?<![\w.$-])(["']?)([A-Za-z_][\w.-]*)\1[ \t]*(?::=|=|:)[ \t]*(?:"([^"\n]*)"|'([^'\n]*)'|([^\s,;#}\])"']+))/g;

const knownFormats: Array<[RegExp, string]> = [
  [/-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----/, "a PEM private key"],
  [/\bAKIA[0-9A-Z]{16}\b/, "an AWS access key id"],
  [/\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})\b/, "a GitHub token"],
  [/\bAIza[0-9A-Za-z_-]{35}\b/, "a Google API key"],
  [/\bxox[abprs]-[A-Za-z0-9-]{10,}/, "a Slack token"],
  [/\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/, "a JSON Web Token"],
  [/\$2[abxy]?\$\d{2}\$[./A-Za-z0-9]{53}/, "a bcrypt password hash"],
  [/\$(?:apr1|1|5|6)\$[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{22,}/, "a crypt(3) password hash"],
  [/\b[a-z][a-z0-9+.-]*:\/\/[^\s/:@'"]+:[^\s/@'"]+@/i, "a URL with a password in it"],
];

const booleanOrNull = /^(?:true|false|yes|no|on|off|none|null|nil|undefined)$/i;
const numeric = /^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?[a-z]{0,3}$/i;

/** A value that refers to a credential kept elsewhere rather than being one. */
function isReference(value: string): boolean {
  return (
    /^\$\{?[A-Za-z_]/.test(value) || // $VAR, ${VAR}
    /^(?:\/|\.\.?\/|~\/|file:|env:|secret:|vault:)/.test(value) || // a path or a reference scheme
    /^<[^>]*>$/.test(value) || // <placeholder>
    /^\{\{.*\}\}$/.test(value) || // {{ template }}
    /[([]/.test(value) // an expression: os.environ["X"], open(...).read(), getenv(...)
  );
}

/** Shannon entropy in bits per character. */
export function entropy(s: string): number {
  const counts = new Map<string, number>();
  for (const ch of s) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let bits = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

/** A long string that only a random generator would write: a hex key or a base64/base62 token. */
export function looksRandom(token: string): boolean {
  if (token.length < 32) return false;
  const hasDigit = /\d/.test(token);
  if (/^[0-9a-f]+$/.test(token) || /^[0-9A-F]+$/.test(token)) {
    return hasDigit && /[a-f]/i.test(token) && entropy(token) >= 3;
  }
  return hasDigit && /[a-z]/.test(token) && /[A-Z]/.test(token) && entropy(token) >= 4;
}

/** Whether a literal assigned to a credential-named key is itself a credential. */
function literalLooksLikeCredential(value: string, quoted: boolean): boolean {
  const v = value.trim();
  if (v === "" || booleanOrNull.test(v) || numeric.test(v) || isReference(v)) return false;
  if (quoted) return v.length >= 6;
  // A bare word may be a variable (Python, shell): only flag what does not read like a name.
  return v.length >= 8 && (/\d/.test(v) || (/[a-z]/.test(v) && /[A-Z]/.test(v)) || /[^\w.-]/.test(v));
}

/** Scans one text (a ConfigMap value) and reports what looks like a credential in it. */
export function findSecretsInText(key: string, text: string): SecretFinding[] {
  const findings: SecretFinding[] = [];
  for (const [pattern, what] of knownFormats) {
    if (pattern.test(text)) findings.push({ key, reason: `contains ${what}` });
  }
  for (const m of text.matchAll(assignment)) {
    const name = m[2];
    const lastWord = name.split(".").pop() ?? name;
    if (!credentialName.test(lastWord)) continue;
    const quotedValue = m[3] ?? m[4];
    const value = quotedValue ?? m[5] ?? "";
    if (literalLooksLikeCredential(value, quotedValue !== undefined)) {
      findings.push({ key, reason: `assigns a literal value to '${name}'` });
    }
  }
  for (const m of text.matchAll(/(?<![A-Za-z0-9+/_=-])(?:sha256:|sha512:)?[A-Za-z0-9+/_=-]{32,}/g)) {
    const token = m[0];
    if (/^sha(?:256|512):/.test(token)) continue; // an image digest or checksum, public by nature
    if (looksRandom(token.replace(/=+$/, ""))) {
      findings.push({ key, reason: `contains a ${token.length}-character random-looking string` });
    }
  }
  return findings;
}

/** A ConfigMap key that is itself named like a credential (`password`, `api-token`) with a value. */
function keyNamesCredential(key: string, value: string): boolean {
  const base = key.replace(/\.[a-z0-9]{1,5}$/i, ""); // token.txt, db-password.env
  return credentialName.test(base) && value.trim() !== "";
}

/** Every credential-looking value in a ConfigMap's `data` and `binaryData`. */
export function findSecretsInConfigMap(data: unknown, binaryData: unknown): SecretFinding[] {
  const findings: SecretFinding[] = [];
  const scan = (key: string, text: string) => {
    if (keyNamesCredential(key, text)) findings.push({ key, reason: "the key names a credential and has a value" });
    findings.push(...findSecretsInText(key, text));
  };
  if (isRecord(data)) {
    for (const [key, value] of Object.entries(data)) {
      if (typeof value === "string") scan(key, value);
    }
  }
  if (isRecord(binaryData)) {
    for (const [key, value] of Object.entries(binaryData)) {
      if (typeof value === "string") scan(key, Buffer.from(value, "base64").toString("latin1"));
    }
  }
  return findings;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
