// After a heal: wait, within a bound, for the cluster to recover: every running member answers,
// all agree on one leader and term, and every one has applied what that leader had committed
// when the wait began. Returns the time it took, or undefined when the bound passed.
import { performance } from "node:perf_hooks";
import type { LocalStatus } from "../e2e/process-cluster.ts";
import type { NodeProcesses } from "./node-processes.ts";

/** The same fields the e2e harness reads from a node's local status. */
export type NodeStatusLine = LocalStatus;

export async function localStatus(nodes: NodeProcesses, id: number): Promise<NodeStatusLine | undefined> {
  try {
    const response = await nodes.client(id, 1_000).cluster.status({ localOnly: true });
    const node = response.nodes[0];
    if (node === undefined) return undefined;
    return { id, role: node.role, term: Number(node.term), leaderId: Number(node.leaderId), commit: Number(node.commit), applied: Number(node.applied) };
  } catch {
    return undefined;
  }
}

export interface Recovery {
  readonly ms: number | undefined;
  /** The last statuses seen, for the report when recovery did not come. */
  readonly lastStatuses: readonly NodeStatusLine[];
}

export async function waitForRecovery(nodes: NodeProcesses, members: readonly number[], boundMs: number): Promise<Recovery> {
  const start = performance.now();
  let target: number | undefined;
  let last: NodeStatusLine[] = [];
  while (performance.now() - start <= boundMs) {
    const statuses = (await Promise.all(members.map((id) => localStatus(nodes, id)))).filter((s): s is NodeStatusLine => s !== undefined);
    last = statuses;
    const leader = statuses.find((s) => s.role === "leader");
    if (statuses.length === members.length && leader !== undefined && statuses.every((s) => s.leaderId === leader.id && s.term === leader.term)) {
      target ??= leader.commit;
      if (statuses.every((s) => s.applied >= target!)) return { ms: Math.round(performance.now() - start), lastStatuses: statuses };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { ms: undefined, lastStatuses: last };
}
