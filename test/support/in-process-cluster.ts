// Three (or n) real nodes in this process: NodeRuntime on loopback TCP (peer transport and API),
// plaintext, a 20 ms tick, the test admin token. Each node's log is pino's JSON lines, kept in
// memory (`logOf`), so tests read what an operator would. stop() stops every node still running.
import { join } from "node:path";
import pino from "pino";
import { NodeRuntime } from "../../src/shell/node/runtime.ts";
import { createApiClients, type ApiClients } from "../../src/shell/api/client.ts";
import { ADMIN_TOKEN, BOOTSTRAP_TOKENS } from "./admin-token.ts";
import { freePort } from "../e2e/process-cluster.ts";
import { waitUntil } from "./wait-until.ts";

/** A parsed pino record: level, time, node, msg and the record's own fields. */
export type LogRecord = Record<string, unknown> & { readonly msg: string; readonly level: number };

export class InProcessCluster {
  readonly nodes = new Map<number, NodeRuntime>();
  private readonly lines = new Map<number, string[]>();

  private constructor(readonly ids: readonly number[]) {}

  static async start(dir: string, ids: readonly number[] = [1, 2, 3]): Promise<InProcessCluster> {
    const cluster = new InProcessCluster(ids);
    const peers = new Map<number, string>();
    for (const id of ids) peers.set(id, `127.0.0.1:${await freePort()}`);
    const started = await Promise.allSettled(
      ids.map(async (id) => {
        const lines: string[] = [];
        cluster.lines.set(id, lines);
        const log = pino({ level: "debug", base: { node: String(id) } }, { write: (line: string) => void lines.push(line) });
        const node = await NodeRuntime.start({
          nodeId: id,
          security: "insecure",
          peerListen: peers.get(id)!,
          apiListen: "127.0.0.1:0",
          dataDir: join(dir, `node-${id}`),
          initialCluster: peers,
          log,
          tickMs: 20,
          bootstrapTokens: BOOTSTRAP_TOKENS,
        });
        cluster.nodes.set(id, node);
      }),
    );
    const failed = started.find((result) => result.status === "rejected");
    if (failed !== undefined) {
      await cluster.stop();
      throw (failed as PromiseRejectedResult).reason;
    }
    return cluster;
  }

  /** The node's log so far, parsed. */
  logOf(id: number): LogRecord[] {
    return (this.lines.get(id) ?? []).flatMap((chunk) => chunk.split("\n").filter((line) => line !== "").map((line) => JSON.parse(line) as LogRecord));
  }

  client(id: number): ApiClients {
    return createApiClients(`http://${this.nodes.get(id)!.apiAddress}`, { token: ADMIN_TOKEN.text, timeoutMs: 5_000 });
  }

  /** The leader every running node of `ids` agrees on. */
  async waitForLeader(ids: readonly number[] = this.ids, deadlineMs = 20_000): Promise<number> {
    let leader = 0;
    await waitUntil(
      "one leader known by every node",
      () => {
        const seen = ids.map((id) => this.nodes.get(id)!.status().raft.leaderId);
        leader = seen[0]!;
        return leader !== 0 && seen.every((l) => l === leader);
      },
      deadlineMs,
    );
    return leader;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((node) => node.stop()));
  }
}
