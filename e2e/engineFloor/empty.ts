/**
 * The engine floor's first program (npm run bench): no resource at all. What a `pulumi preview`
 * or `up` of it costs is the CLI, the engine, the state backend and the Node.js runtime, which no
 * program can go below.
 */
export default function program(): Record<string, never> {
  return {};
}
