import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { type ConfigMap, type Deployment, LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import type { LoadMode, OpRequest, OpResult } from "./pulumi-op";
import { repoRoot } from "./toolchain";

export interface PulumiEnvOptions {
  /** Toolchain bin folder (pulumi, pulumi-resource-kubernetes, ...). */
  bin: string;
  /** Folder with the Node.js plugins (random stand-in, dynamic provider). */
  pluginDir: string;
  /** Scratch folder for the state backend, PULUMI_HOME and the project copy. */
  tmp: string;
  kubeconfig: string;
  stackName: string;
}

/**
 * The Pulumi side of the e2e test: a local file backend with a passphrase, a PULUMI_HOME of its
 * own (so nothing from ~/.pulumi is used and no plugin is ever downloaded), and a copy of
 * Pulumi.yaml in a scratch folder, so the stack file never lands in the repo.
 */
export class PulumiEnv {
  readonly workDir: string;
  readonly envVars: Record<string, string>;
  readonly pulumiRoot: string;

  constructor(readonly opts: PulumiEnvOptions) {
    this.pulumiRoot = path.dirname(opts.bin);
    this.workDir = path.join(opts.tmp, "project");
    const state = path.join(opts.tmp, "state");
    const home = path.join(opts.tmp, "pulumi-home");
    for (const d of [this.workDir, state, home]) fs.mkdirSync(d, { recursive: true });
    fs.copyFileSync(path.join(repoRoot, "Pulumi.yaml"), path.join(this.workDir, "Pulumi.yaml"));
    this.envVars = {
      PATH: `${opts.bin}:${opts.pluginDir}:${process.env.PATH ?? "/usr/bin:/bin"}`,
      PULUMI_HOME: home,
      PULUMI_BACKEND_URL: `file://${state}`,
      PULUMI_CONFIG_PASSPHRASE: "e2e-passphrase",
      PULUMI_SKIP_UPDATE_CHECK: "1",
      PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true",
      // Never fetch a plugin: every plugin the program needs is on PATH (the CLI uses plugins
      // found on PATH before its plugin cache). A missing one fails the run instead.
      PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
      KUBECONFIG: opts.kubeconfig,
    };
  }

  private async workspace(): Promise<LocalWorkspace> {
    const pulumiCommand = await PulumiCommand.get({ root: this.pulumiRoot, skipVersionCheck: true });
    return LocalWorkspace.create({ workDir: this.workDir, pulumiCommand, envVars: this.envVars });
  }

  /** `pulumi stack init` with the passphrase secrets provider, then the stack's config. */
  async createStack(config: ConfigMap): Promise<void> {
    const ws = await this.workspace();
    const stack = await Stack.create(this.opts.stackName, ws);
    await stack.setAllConfig(config, true);
  }

  /** Replaces a key's whole value (a list of objects, say) by `entries`, set with --path as `key[0].field`. */
  async replaceConfig(key: string, entries: ConfigMap): Promise<void> {
    const ws = await this.workspace();
    await ws.removeConfig(this.opts.stackName, key);
    await ws.setAllConfig(this.opts.stackName, entries, true);
  }

  /** `pulumi config rm` for each key, then `pulumi config set` (--path) for each entry. */
  async changeConfig(remove: string[], entries: ConfigMap): Promise<void> {
    const ws = await this.workspace();
    await ws.removeAllConfig(this.opts.stackName, remove);
    await ws.setAllConfig(this.opts.stackName, entries, true);
  }

  async setConfig(key: string, value: string): Promise<void> {
    const ws = await this.workspace();
    await ws.setConfig(this.opts.stackName, key, { value });
  }

  async exportStack(): Promise<Deployment> {
    const ws = await this.workspace();
    return ws.exportStack(this.opts.stackName);
  }

  /** The stack's outputs with secrets decrypted (the passphrase is the test's own). */
  async outputs(): Promise<Record<string, unknown>> {
    const ws = await this.workspace();
    const out = await ws.stackOutputs(this.opts.stackName);
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.value]));
  }

  async removeStack(): Promise<void> {
    const ws = await this.workspace();
    await ws.removeStack(this.opts.stackName);
  }

  async stackNames(): Promise<string[]> {
    const ws = await this.workspace();
    return (await ws.listStacks()).map((s) => s.name);
  }

  /**
   * The pulumi CLI itself, for what runs without the program (`cancel`, `refresh`, `stack export`),
   * with the arguments a user would type. Never throws on a non-zero exit: the caller checks `code`.
   */
  async cli(args: string[], timeoutMs = 5 * 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const child = spawn(path.join(this.opts.bin, "pulumi"), [...args, "--non-interactive"], {
      cwd: this.workDir,
      env: { ...process.env, ...this.envVars },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    const code = await new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
    clearTimeout(timer);
    return { code, stdout, stderr };
  }

  /** Runs one operation in a fresh process (see pulumi-op.ts). */
  async run(
    op: OpRequest["op"],
    options: {
      expectNoChanges?: boolean;
      loadMode?: LoadMode;
      timeoutMs?: number;
      killCli?: OpRequest["killCli"];
      /** Extra environment for this run only, e.g. a provider setting. */
      env?: Record<string, string>;
      /** Another program than the project's (the engine floor's programs in e2e/engineFloor/); loaded with tsx. */
      entry?: string;
    } = {},
  ): Promise<OpResult & { processSeconds: number }> {
    const loadMode = options.loadMode ?? "tsx";
    const entry =
      options.entry ?? (loadMode === "js" ? path.join(repoRoot, "dist", "index.js") : path.join(repoRoot, "index.ts"));
    const dir = fs.mkdtempSync(path.join(this.opts.tmp, `op-${op}-`));
    const requestFile = path.join(dir, "request.json");
    const resultFile = path.join(dir, "result.json");
    const req: OpRequest = {
      op,
      stackName: this.opts.stackName,
      workDir: this.workDir,
      pulumiRoot: this.pulumiRoot,
      entry,
      loadMode,
      expectNoChanges: options.expectNoChanges,
      envVars: { ...this.envVars, ...options.env },
      killCli: options.killCli,
    };
    fs.writeFileSync(requestFile, JSON.stringify(req));
    const runner = path.join(repoRoot, "e2e", "lib", "pulumi-op.ts");
    let loader = ["--import", "tsx"];
    const env: NodeJS.ProcessEnv = { ...process.env, ...req.envVars };
    delete env.PULUMI_NODEJS_TRANSPILE_ONLY;
    if (loadMode === "ts-node-typecheck") {
      // The ts-node and TypeScript that @pulumi/pulumi's cmd/run picks under the Node.js language
      // host (the project's own, else the SDK's vendored ts-node 7.0.1), type-checking with the
      // project's tsconfig: what every `pulumi` run costs without PULUMI_NODEJS_TRANSPILE_ONLY.
      // It also checks this small runner, which the language host would not load.
      // The vendored ts-node has no `register` entry point, so a preload written here does what
      // cmd/run does: register ts-node with the project's compiler options, type-checking.
      const preload = path.join(this.opts.tmp, "ts-node-typecheck.cjs");
      const project = path.join(repoRoot, "tsconfig.json");
      fs.writeFileSync(
        preload,
        [
          `const tsutils = require(${JSON.stringify(require.resolve("@pulumi/pulumi/tsutils"))});`,
          "const { tsnodeRequire, typescriptRequire } = tsutils.typeScriptRequireStrings();",
          `const project = ${JSON.stringify(project)};`,
          "const compilerOptions = tsutils.loadTypeScriptCompilerOptions(project);",
          "require(tsnodeRequire).register({",
          // No ts-node cache: every run type-checks, as on a fresh CI machine or after an edit.
          "  compiler: typescriptRequire, transpileOnly: false, cache: false, project, skipProject: false,",
          '  compilerOptions: { target: "ES2020", module: "nodenext", moduleResolution: "nodenext",',
          '    sourceMap: "true", ...compilerOptions },',
          "});",
          "",
        ].join("\n"),
      );
      loader = ["--require", preload];
    }
    const started = performance.now();
    const child = spawn(process.execPath, [...loader, runner, requestFile, resultFile], {
      cwd: repoRoot,
      env,
      stdio: ["ignore", "inherit", "inherit"],
    });
    const timeoutMs = options.timeoutMs ?? 10 * 60_000;
    const timer = setTimeout(() => child.kill("SIGTERM"), timeoutMs);
    const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
    clearTimeout(timer);
    const processSeconds = (performance.now() - started) / 1000;
    if (!fs.existsSync(resultFile)) {
      throw new Error(`pulumi ${op}: runner exited with ${code} and wrote no result (timeout ${timeoutMs} ms?)`);
    }
    const result = JSON.parse(fs.readFileSync(resultFile, "utf8")) as OpResult;
    return { ...result, processSeconds };
  }
}
