/**
 * e2e stand-in for the `random` resource provider plugin (pulumi-resource-random).
 *
 * Why it exists: the real plugin is built from github.com/pulumi/pulumi-random/provider/v4, and
 * the Go module proxy these machines reach refuses every version of that module (403 "This
 * module version is not available"), so it cannot be built here. Without a `random` plugin the
 * engine cannot preview or deploy the program at all (the hub's cookie secret and proxy token,
 * the test LDAP passwords and the file browser password are @pulumi/random resources).
 *
 * What it is: a resource provider served with @pulumi/pulumi's own provider host
 * (`@pulumi/pulumi/provider`), implementing the two resource types this program uses,
 * `random:index/randomPassword:RandomPassword` and `random:index/randomBytes:RandomBytes`, with
 * the inputs, defaults and outputs that @pulumi/random 4.21.2 documents, and the replace-on-any-
 * input-change behaviour of the real provider (all of their inputs are ForceNew). Values come
 * from node:crypto. It is only ever put on PATH by the e2e test and the benchmark; it is not the
 * upstream plugin, and it reports its own version, not 4.21.2.
 */
import { randomBytes, randomInt } from "node:crypto";
import bcrypt from "bcryptjs";
import * as provider from "@pulumi/pulumi/provider";

const VERSION = "0.0.0-e2e-standin";
const PASSWORD = "random:index/randomPassword:RandomPassword";
const BYTES = "random:index/randomBytes:RandomBytes";
const DEFAULT_SPECIAL = "!@#$%&*()-_=+[]{}<>:?";

interface PasswordInputs {
  length: number;
  lower: boolean;
  upper: boolean;
  numeric: boolean;
  number: boolean;
  special: boolean;
  minLower: number;
  minUpper: number;
  minNumeric: number;
  minSpecial: number;
  overrideSpecial?: string;
  keepers?: Record<string, string>;
}

interface BytesInputs {
  length: number;
  keepers?: Record<string, string>;
}

type Props = Record<string, unknown>;

/** protobuf Structs cannot hold `undefined`: drop unset optional inputs. */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

function typeOf(urn: string): string {
  // urn:pulumi:<stack>::<project>::<parent types$>...<type>::<name>
  const parts = urn.split("::");
  const types = parts[2] ?? "";
  return types.split("$").pop() ?? "";
}

function num(v: unknown, dflt: number): number {
  return typeof v === "number" ? v : dflt;
}
function bool(v: unknown, dflt: boolean): boolean {
  return typeof v === "boolean" ? v : dflt;
}
function keepers(v: unknown): Record<string, string> | undefined {
  return v !== null && typeof v === "object" ? (v as Record<string, string>) : undefined;
}

function passwordInputs(news: Props): PasswordInputs {
  // `number` is the deprecated spelling of `numeric`; the real provider keeps both in step.
  const numeric = bool(news.numeric, bool(news.number, true));
  return defined({
    length: num(news.length, 0),
    lower: bool(news.lower, true),
    upper: bool(news.upper, true),
    numeric,
    number: numeric,
    special: bool(news.special, true),
    minLower: num(news.minLower, 0),
    minUpper: num(news.minUpper, 0),
    minNumeric: num(news.minNumeric, 0),
    minSpecial: num(news.minSpecial, 0),
    overrideSpecial: typeof news.overrideSpecial === "string" ? news.overrideSpecial : undefined,
    keepers: keepers(news.keepers),
  });
}

function bytesInputs(news: Props): BytesInputs {
  return defined({ length: num(news.length, 0), keepers: keepers(news.keepers) });
}

function checkPassword(i: PasswordInputs): provider.CheckFailure[] {
  const failures: provider.CheckFailure[] = [];
  if (!Number.isInteger(i.length) || i.length < 1) {
    failures.push({ property: "length", reason: "length must be an integer of at least 1" });
  }
  if (i.minLower + i.minUpper + i.minNumeric + i.minSpecial > i.length) {
    failures.push({ property: "length", reason: "length must be at least the sum of the min* values" });
  }
  if (!i.lower && !i.upper && !i.numeric && !i.special) {
    failures.push({ property: "special", reason: "at least one of lower, upper, numeric and special must be true" });
  }
  return failures;
}

function pick(alphabet: string, n: number): string[] {
  return Array.from({ length: n }, () => alphabet[randomInt(alphabet.length)]);
}

function generatePassword(i: PasswordInputs): string {
  const lower = "abcdefghijklmnopqrstuvwxyz";
  const upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  const digits = "0123456789";
  const special = i.overrideSpecial ?? DEFAULT_SPECIAL;
  const chars = [
    ...(i.lower ? pick(lower, i.minLower) : []),
    ...(i.upper ? pick(upper, i.minUpper) : []),
    ...(i.numeric ? pick(digits, i.minNumeric) : []),
    ...(i.special ? pick(special, i.minSpecial) : []),
  ];
  const all = (i.lower ? lower : "") + (i.upper ? upper : "") + (i.numeric ? digits : "") + (i.special ? special : "");
  chars.push(...pick(all, i.length - chars.length));
  // Fisher-Yates, so the guaranteed minimums are not all at the front.
  for (let k = chars.length - 1; k > 0; k--) {
    const j = randomInt(k + 1);
    [chars[k], chars[j]] = [chars[j], chars[k]];
  }
  return chars.join("");
}

/** Every input of both types is ForceNew in the real provider: any change replaces. */
function changedKeys(olds: Props, news: Props): string[] {
  const keys = new Set([...Object.keys(news)]);
  const outputsOnly = new Set(["result", "bcryptHash", "base64", "hex", "id"]);
  return [...keys].filter((k) => !outputsOnly.has(k) && JSON.stringify(olds[k]) !== JSON.stringify(news[k]));
}

const randomProvider: provider.Provider = {
  version: VERSION,

  async check(urn: string, _olds: Props, news: Props): Promise<provider.CheckResult> {
    const type = typeOf(urn);
    if (type === PASSWORD) {
      const inputs = passwordInputs(news);
      return { inputs, failures: checkPassword(inputs) };
    }
    if (type === BYTES) {
      const inputs = bytesInputs(news);
      const failures =
        Number.isInteger(inputs.length) && inputs.length >= 1
          ? []
          : [{ property: "length", reason: "length must be an integer of at least 1" }];
      return { inputs, failures };
    }
    throw new Error(`the e2e random stand-in does not implement ${type}`);
  },

  async diff(_id: string, _urn: string, olds: Props, news: Props): Promise<provider.DiffResult> {
    const replaces = changedKeys(olds, news);
    return { changes: replaces.length > 0, replaces, deleteBeforeReplace: false };
  },

  async create(urn: string, inputs: Props): Promise<provider.CreateResult> {
    const type = typeOf(urn);
    if (type === PASSWORD) {
      const i = passwordInputs(inputs);
      const result = generatePassword(i);
      return { id: "none", outs: { ...i, result, bcryptHash: bcrypt.hashSync(result, 10) } };
    }
    if (type === BYTES) {
      const i = bytesInputs(inputs);
      const bytes = randomBytes(i.length);
      return { id: "none", outs: { ...i, base64: bytes.toString("base64"), hex: bytes.toString("hex") } };
    }
    throw new Error(`the e2e random stand-in does not implement ${type}`);
  },

  async read(id: string, _urn: string, props?: Props): Promise<provider.ReadResult> {
    return { id, props };
  },

  async delete(): Promise<void> {
    // Nothing lives outside the state.
  },
};

provider.main(randomProvider, process.argv.slice(2)).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
