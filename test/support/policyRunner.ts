import { spawn } from "node:child_process";
import * as grpc from "@grpc/grpc-js";
import { AnalyzerClient } from "@pulumi/pulumi/proto/analyzer_grpc_pb";
import {
  AnalyzeRequest,
  AnalyzeResponse,
  AnalyzerInfo,
  AnalyzerResource,
  AnalyzerResourceOptions,
  AnalyzeStackRequest,
  EnforcementLevel,
} from "@pulumi/pulumi/proto/analyzer_pb";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";

/**
 * Starts a policy pack the way `pulumi preview --policy-pack <dir>` does for a Node.js pack: the
 * CLI's `pulumi-analyzer-policy` shim resolves `@pulumi/pulumi/cmd/run-policy-pack` from the pack's
 * directory and runs it there with node (ts-node compiles and type-checks the pack), with the
 * stack's config in PULUMI_CONFIG; the pack prints the port of its Analyzer gRPC service. The test
 * then plays the engine's part over gRPC.
 */

/** What the engine sends for a value not known until the update (e.g. another resource's output). */
export const unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

export interface Diagnostic {
  policy: string;
  message: string;
  mandatory: boolean;
}

export interface RunningPack {
  info(): Promise<{ name: string; policies: { name: string; mandatory: boolean }[] }>;
  analyze(r: { type: string; name: string; urn: string; props: Record<string, unknown> }): Promise<Diagnostic[]>;
  /** The stack policies over a whole stack (`props` are the resources' outputs, as the engine sends them). */
  analyzeStack(
    resources: { type: string; name: string; urn: string; parent?: string; props: Record<string, unknown> }[],
  ): Promise<Diagnostic[]>;
  stop(): void;
}

function unary<Req, Res>(
  call: (req: Req, cb: (err: grpc.ServiceError | null, res: Res) => void) => unknown,
  req: Req,
): Promise<Res> {
  return new Promise((resolve, reject) => call(req, (err, res) => (err ? reject(err) : resolve(res))));
}

export async function startPolicyPack(dir: string, stackConfig: Record<string, string>): Promise<RunningPack> {
  const runner = require.resolve("@pulumi/pulumi/cmd/run-policy-pack", { paths: [dir] });
  // The engine address is only used for logging; nothing listens there in this test.
  const child = spawn(process.execPath, [runner, "127.0.0.1:1", "."], {
    cwd: dir,
    env: { ...process.env, PULUMI_CONFIG: JSON.stringify(stackConfig) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    let stdout = "";
    // A guard against a hung start-up (it takes seconds: ts-node type-checks the pack), not a timing check.
    const guard = setTimeout(() => {
      child.kill();
      reject(new Error(`policy pack did not serve within 5 minutes:\n${stdout}\n${stderr}`));
    }, 300_000);
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      const line = /^(\d+)\s*$/m.exec(stdout);
      if (line) {
        clearTimeout(guard);
        resolve(Number(line[1]));
      }
    });
    child.on("exit", (code) => {
      clearTimeout(guard);
      reject(new Error(`policy pack exited (${code}) before serving:\n${stdout}\n${stderr}`));
    });
  });
  const client = new AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const diagnostics = (res: AnalyzeResponse): Diagnostic[] =>
    res.getDiagnosticsList().map((d) => ({
      policy: d.getPolicyname(),
      message: d.getMessage(),
      mandatory: d.getEnforcementlevel() === EnforcementLevel.MANDATORY,
    }));
  return {
    async info() {
      const res = await unary<Empty, AnalyzerInfo>(client.getAnalyzerInfo.bind(client), new Empty());
      return {
        name: res.getName(),
        policies: res.getPoliciesList().map((p) => ({
          name: p.getName(),
          mandatory: p.getEnforcementlevel() === EnforcementLevel.MANDATORY,
        })),
      };
    },
    async analyze(r) {
      const req = new AnalyzeRequest();
      req.setType(r.type);
      req.setName(r.name);
      req.setUrn(r.urn);
      req.setProperties(Struct.fromJavaScript(r.props as Parameters<typeof Struct.fromJavaScript>[0]));
      req.setOptions(new AnalyzerResourceOptions());
      return diagnostics(await unary<AnalyzeRequest, AnalyzeResponse>(client.analyze.bind(client), req));
    },
    async analyzeStack(resources) {
      const req = new AnalyzeStackRequest();
      req.setResourcesList(
        resources.map((r) => {
          const res = new AnalyzerResource();
          res.setType(r.type);
          res.setName(r.name);
          res.setUrn(r.urn);
          if (r.parent) res.setParent(r.parent);
          res.setProperties(Struct.fromJavaScript(r.props as Parameters<typeof Struct.fromJavaScript>[0]));
          res.setOptions(new AnalyzerResourceOptions());
          return res;
        }),
      );
      return diagnostics(await unary<AnalyzeStackRequest, AnalyzeResponse>(client.analyzeStack.bind(client), req));
    },
    stop() {
      client.close();
      child.kill();
    },
  };
}
