import { renderStack, type Rendering, type RenderedResource } from "../../render";
import type { JsonObject } from "../../render/mocks";

const cache = new Map<string, Promise<Rendering>>();
let queue: Promise<unknown> = Promise.resolve();

/**
 * Renders a stack (with `key=value` overrides) once per test process. Renderings share the Pulumi
 * runtime's global state, so they run one after another.
 */
export function rendered(stack: string, overrides: string[] = []): Promise<Rendering> {
  const key = JSON.stringify([stack, overrides]);
  let result = cache.get(key);
  if (!result) {
    result = queue.then(() => renderStack({ stack, overrides }));
    queue = result.catch(() => undefined);
    cache.set(key, result);
  }
  return result;
}

/** The one manifest of `kind` named `name` (a prefix, for auto-named objects, ends with "-"). */
export function manifest(r: Rendering, kind: string, name: string): JsonObject {
  const found = manifests(r, kind).filter((m) => {
    const actual = String((m.metadata as JsonObject).name);
    return name.endsWith("-") ? actual.startsWith(name) : actual === name;
  });
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name}, found ${found.length}`);
  return found[0];
}

export function manifests(r: Rendering, kind: string): JsonObject[] {
  return r.manifests.filter((m) => m.kind === kind);
}

export function resource(r: Rendering, type: string, name: string): RenderedResource {
  const found = r.resources.find((x) => x.type === type && x.name === name);
  if (!found) throw new Error(`no resource ${type} ${name}`);
  return found;
}

/** Follows a path of keys and indexes into a manifest. */
export function at(obj: unknown, ...path: (string | number)[]): unknown {
  let cur = obj;
  for (const p of path) {
    if (cur === null || typeof cur !== "object") throw new Error(`no ${path.join(".")} (stopped at ${p})`);
    cur = (cur as Record<string | number, unknown>)[p];
  }
  return cur;
}
