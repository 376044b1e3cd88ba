import { parseArgs } from "node:util";
import { StackConfigError } from "../stacks";
import { renderStack, writeRendering } from "./index";

const usage = "usage: npm run render -- --stack <stack> --out <dir> [--config <key>=<value> ...]";

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      stack: { type: "string" },
      out: { type: "string" },
      config: { type: "string", multiple: true },
      help: { type: "boolean" },
    },
    strict: true,
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (!values.stack || !values.out) {
    console.error(usage);
    return 2;
  }
  try {
    const rendering = await renderStack({ stack: values.stack, overrides: values.config ?? [] });
    writeRendering(rendering, values.out);
    console.log(
      `rendered stack ${values.stack}: ${rendering.manifests.length} Kubernetes objects, ` +
        `${rendering.resources.length} resources -> ${values.out}`,
    );
    return 0;
  } catch (err) {
    console.error(err instanceof StackConfigError || err instanceof Error ? `error: ${err.message}` : err);
    return 1;
  }
}

main().then((code) => process.exit(code));
