import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";

/**
 * The package as another Pulumi program gets it: `npm pack` (which builds dist/package first), the
 * tarball unpacked into a scratch program's node_modules, and the program the README shows, taken
 * from the README as written, type-checked against it with tsc (strict, resolving the package
 * through its `exports`). Its dependencies are this repository's installed ones, linked in.
 */

const repo = path.resolve(__dirname, "..");
const bin = (name: string) => path.join(repo, "node_modules", ".bin", name);

/** The TypeScript block under the README's "From your own Pulumi program". */
function readmeProgram(): string {
  const readme = fs.readFileSync(path.join(repo, "README.md"), "utf8");
  const section = readme.split(/^## /m).find((s) => s.startsWith("From your own Pulumi program"));
  const code = section && /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(code, "the README has a TypeScript program under ## From your own Pulumi program");
  return code;
}

function run(command: string, args: string[], cwd: string): string {
  const out = spawnSync(command, args, { cwd, encoding: "utf8", timeout: 180_000 });
  if (out.error) throw out.error;
  assert.equal(out.status, 0, `${command} ${args.join(" ")}:\n${out.stdout}\n${out.stderr}`);
  return out.stdout;
}

describe("the npm package, used by another Pulumi program", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "jhnfs-package-"));
  let files: string[] = [];

  before(() => {
    // npm's JSON report of the tarball it made (prepack builds dist/package first).
    const report = JSON.parse(run("npm", ["pack", "--json", "--pack-destination", tmp], repo)) as {
      filename: string;
      files: { path: string }[];
    }[];
    files = report[0].files.map((f) => f.path);
    const pkg = path.join(tmp, "program", "node_modules", "jupyterhub-nfs");
    fs.mkdirSync(pkg, { recursive: true });
    run("tar", ["-xzf", path.join(tmp, report[0].filename), "-C", pkg, "--strip-components=1"], tmp);
    // The package's dependencies (and the program's), as npm would install them beside it.
    for (const dep of ["@pulumi", "@types", "yaml", "zod", "typescript"]) {
      fs.symlinkSync(path.join(repo, "node_modules", dep), path.join(tmp, "program", "node_modules", dep));
    }
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it("holds the compiled components with their declarations and Pulumi.yaml, and no sources, tests or tools", () => {
    for (const f of [
      "package.json",
      "Pulumi.yaml",
      "dist/package/components/index.js",
      "dist/package/components/index.d.ts",
    ]) {
      assert.ok(files.includes(f), `${f} is in the package`);
    }
    const strays = files.filter(
      (f) =>
        !/^dist\/package\/(components|stacks|policy)\/.+\.(js|d\.ts)$/.test(f) &&
        !["package.json", "Pulumi.yaml", "README.md"].includes(f),
    );
    assert.deepEqual(strays, [], "only the compiled package, its project file and README");
    assert.ok(!files.some((f) => /^dist\/package\/(test|e2e|render|scripts)\//.test(f)));
  });

  it("the README's program type-checks against it (strict, through the package's exports)", () => {
    const dir = path.join(tmp, "program");
    fs.writeFileSync(path.join(dir, "index.ts"), readmeProgram());
    fs.writeFileSync(
      path.join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          target: "ES2022",
          module: "node16",
          moduleResolution: "node16",
          types: ["node"],
          noEmit: true,
          skipLibCheck: true,
        },
        files: ["index.ts"],
      }),
    );
    run(bin("tsc"), ["-p", dir], dir);
  });

  it("loads in Node through its exports, with its components and the README's names", () => {
    const dir = path.join(tmp, "program");
    const names = run(
      process.execPath,
      ["-e", "const p = require('jupyterhub-nfs'); console.log(Object.keys(p).sort().join(' '))"],
      dir,
    ).trim();
    for (const name of [
      "JupyterHubNfs",
      "gkeKubeconfig",
      "JupyterHub",
      "NfsServer",
      "NfsVolume",
      "GceDisk",
      "NetworkFence",
    ]) {
      assert.ok(names.split(" ").includes(name), `${name} in ${names}`);
    }
  });
});
