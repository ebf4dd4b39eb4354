// One in-process node that leads its own one-member cluster, as the API and CLI tests use it:
// plaintext (--insecure), ephemeral ports, a 20 ms tick, the test admin token's hash. Waits until
// it leads.
import { join } from "node:path";
import { silentLogger } from "../../src/core/env/environment.ts";
import { NodeRuntime, type NodeRuntimeConfig } from "../../src/shell/node/runtime.ts";
import { BOOTSTRAP_TOKENS } from "./admin-token.ts";
import { waitUntil } from "./wait-until.ts";

export async function startSingleNode(dir: string, overrides: Partial<NodeRuntimeConfig> = {}): Promise<NodeRuntime> {
  const node = await NodeRuntime.start({
    nodeId: 1,
    security: "insecure",
    peerListen: "127.0.0.1:0",
    apiListen: "127.0.0.1:0",
    dataDir: join(dir, "node-1"),
    initialCluster: new Map([[1, "127.0.0.1:0"]]),
    log: silentLogger,
    tickMs: 20,
    bootstrapTokens: BOOTSTRAP_TOKENS,
    ...overrides,
  });
  await waitUntil("leadership", () => node.status().raft.role === "leader");
  return node;
}
