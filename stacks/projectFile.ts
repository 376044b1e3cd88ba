import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import type { ConfigValueType } from "./schema";

/** One key as Pulumi.yaml declares it. */
export interface ConfigDeclaration {
  type: ConfigValueType;
  description: string;
  default: string | number | boolean | string[];
}

export interface ProjectFile {
  /** Directory that holds Pulumi.yaml and the Pulumi.<stack>.yaml files. */
  dir: string;
  name: string;
  config: Map<string, ConfigDeclaration>;
}

/** Finds Pulumi.yaml in `start` or the nearest folder above it (the program may run from dist/). */
export function findProjectDir(start: string = __dirname): string {
  for (let dir = path.resolve(start); ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, "Pulumi.yaml"))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no Pulumi.yaml in ${start} or any folder above it`);
  }
}

export function readProjectFile(dir: string = findProjectDir()): ProjectFile {
  const doc = parse(fs.readFileSync(path.join(dir, "Pulumi.yaml"), "utf8")) as {
    name: string;
    config?: Record<string, Partial<ConfigDeclaration>>;
  };
  const config = new Map<string, ConfigDeclaration>();
  for (const [key, decl] of Object.entries(doc.config ?? {})) {
    if (!decl.type || decl.description === undefined || decl.default === undefined) {
      throw new Error(`Pulumi.yaml: config key ${key} needs a type, a description and a default`);
    }
    config.set(key, { type: decl.type, description: decl.description, default: decl.default });
  }
  return { dir, name: doc.name, config };
}
