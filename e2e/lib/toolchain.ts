import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

export const repoRoot = path.resolve(__dirname, "..", "..");

/** Every binary the e2e test and the benchmark take from the toolchain's bin folder. */
export const toolchainBinaries = [
  "pulumi",
  "pulumi-resource-kubernetes",
  "etcd",
  "kube-apiserver",
  "kube-controller-manager",
  "kube-scheduler",
  "kubectl",
  "kwok",
  "kwokctl",
  "kube-router",
  "promtool",
] as const;

/**
 * Builds the toolchain (or reuses the cached one) with e2e/toolchain/build.sh and returns its
 * bin folder. The script prints per-part timings on stderr, which is passed through.
 */
export function ensureToolchain(): string {
  const script = path.join(repoRoot, "e2e", "toolchain", "build.sh");
  const out = execFileSync("bash", [script], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  const bin = out.trim().split("\n").pop() ?? "";
  for (const b of toolchainBinaries) {
    if (!fs.existsSync(path.join(bin, b))) throw new Error(`toolchain: ${b} missing from ${bin}`);
  }
  return bin;
}

/**
 * A folder with the plugins Pulumi finds on PATH that are not Go binaries of the toolchain:
 * the e2e stand-in for pulumi-resource-random (see e2e/random-provider/main.ts) and the Node.js
 * dynamic-provider plugin that @pulumi/pulumi ships.
 */
export function writeNodePlugins(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const tsxLoader = path.join(repoRoot, "node_modules", "tsx", "dist", "loader.mjs");
  const main = path.join(repoRoot, "e2e", "random-provider", "main.ts");
  const random = path.join(dir, "pulumi-resource-random");
  fs.writeFileSync(random, `#!/bin/sh\nexec "${process.execPath}" --import "${tsxLoader}" "${main}" "$@"\n`, {
    mode: 0o755,
  });
  const dynamic = path.join(repoRoot, "node_modules", "@pulumi", "pulumi", "pulumi-resource-pulumi-nodejs");
  fs.copyFileSync(dynamic, path.join(dir, "pulumi-resource-pulumi-nodejs"));
  fs.chmodSync(path.join(dir, "pulumi-resource-pulumi-nodejs"), 0o755);
  return dir;
}
