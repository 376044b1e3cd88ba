/**
 * `npm run preflight -- --stack <stack>`: checks the cluster of the current kube context against the
 * stack's config before any `pulumi up`, one line per check, and exits non-zero if any check fails.
 */
import * as path from "node:path";
import { parseArgs } from "node:util";
import { loadCliConfig } from "../render/stackConfig";
import { findProjectDir, readProjectFile, StackConfigError, validateCliConfig } from "../stacks";
import { failed, formatResult, runChecks, type Status } from "./checks";
import { clusterTarget, gatherFacts } from "./cluster";

const usage =
  "usage: npm run preflight -- --stack <stack> [--config <key>=<value> ...] [--cwd <folder with Pulumi.yaml>]";

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      stack: { type: "string" },
      config: { type: "string", multiple: true },
      cwd: { type: "string" },
      help: { type: "boolean" },
    },
    strict: true,
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (!values.stack) {
    console.error(usage);
    return 2;
  }
  // `org/project/stack` or `stack`: the stack file is named after the last part, as the CLI names it.
  const stack = values.stack.split("/").pop() ?? values.stack;
  try {
    const project = readProjectFile(values.cwd ? findProjectDir(path.resolve(values.cwd)) : undefined);
    const cli = loadCliConfig(stack, values.config ?? [], project);
    const cfg = validateCliConfig(cli.values, project);
    // The provider uses `kubernetes:context` from the stack when it is set, else the current context.
    const target = clusterTarget(cli.values["kubernetes:context"]);
    console.log(`preflight of stack ${stack} against context ${target.context} (${target.server})`);
    let results;
    try {
      results = runChecks(cfg, stack, await gatherFacts(target, cfg, stack));
    } catch (err: unknown) {
      console.log(
        formatResult({
          check: "api-server",
          status: "fail",
          detail: err instanceof Error ? err.message : String(err),
          fix: "point KUBECONFIG (or kubectl config use-context) at the cluster, or set kubernetes:context",
        }),
      );
      return 1;
    }
    for (const r of results) console.log(formatResult(r));
    const count = (s: Status) => results.filter((r) => r.status === s).length;
    console.log(
      `${count("pass")} passed, ${count("warn")} warnings, ${count("fail")} failed, ${count("skip")} skipped`,
    );
    return failed(results) ? 1 : 0;
  } catch (err: unknown) {
    console.error(err instanceof StackConfigError || err instanceof Error ? `error: ${err.message}` : err);
    return 1;
  }
}

main().then((code) => process.exit(code));
