// What every node replicates: the key-value map (kv-state-machine.ts: the address book, tokens
// and user keys) and the orchestrator's cluster state (src/core/cluster/cluster-state.ts), in
// one log. A command's first byte says whose it is: the key-value ops are 1 and 2, a cluster
// command is CLUSTER_COMMAND_TAG followed by its envelope (command-codec.ts). A snapshot holds
// both parts, each in its own deterministic encoding.
//
// Reads: a key-value query answers a string, as before; a cluster query answers the applied
// cluster state itself (a read-only view), which the caller reads at once, inside its callback,
// so what it sees is the state at (or after) the read point.

import { assert } from "../assert.ts";
import { ClusterState, type ClusterPlantedBug } from "../cluster/cluster-state.ts";
import { decodeEnvelope, encodeEnvelope } from "../cluster/command-codec.ts";
import type { ClusterResult, ClusterView, CommandEnvelope } from "../cluster/types.ts";
import { KvStateMachine, type KvEntry, type KvListPage, type KvListQuery, type KvPlantedBug, type KvQuery, type KvResult } from "./kv-state-machine.ts";
import type { StateMachine } from "./state-machine.ts";

export const CLUSTER_COMMAND_TAG = 0x10;

export type NodeResult = KvResult | { readonly op: "cluster"; readonly result: ClusterResult };
export interface ClusterQuery {
  readonly cluster: true;
}
export type NodeQuery = KvQuery | ClusterQuery;
export type NodeQueryResult = string | ClusterView;

export const CLUSTER_QUERY: ClusterQuery = { cluster: true };

/** The log entry for a cluster command. */
export function encodeClusterCommand(envelope: CommandEnvelope): Uint8Array {
  const body = encodeEnvelope(envelope);
  const bytes = new Uint8Array(body.length + 1);
  bytes[0] = CLUSTER_COMMAND_TAG;
  bytes.set(body, 1);
  assert(bytes.length === body.length + 1 && bytes[0] === CLUSTER_COMMAND_TAG, "a cluster command starts with its tag");
  return bytes;
}

export interface NodeStateMachinePlantedBugs {
  readonly kv?: ReadonlySet<KvPlantedBug>;
  readonly cluster?: ReadonlySet<ClusterPlantedBug>;
}

export class NodeStateMachine implements StateMachine<NodeResult, NodeQuery, NodeQueryResult> {
  readonly kv: KvStateMachine;
  readonly cluster: ClusterState;
  /** Told after every applied cluster command and restore (the orchestrator's parts wake on it); never changes state. */
  private clusterListeners: Array<() => void> = [];
  /** Told after every applied key-value command and restore (watches wake on it); never changes state. */
  private kvListeners: Array<() => void> = [];

  constructor(plantedBugs: NodeStateMachinePlantedBugs = {}) {
    this.kv = new KvStateMachine(plantedBugs.kv);
    this.cluster = new ClusterState({ plantedBugs: plantedBugs.cluster });
  }

  apply(index: number, command: Uint8Array): NodeResult {
    assert(command.length >= 1, "an applied command is never empty");
    if (command[0] !== CLUSTER_COMMAND_TAG) {
      const result = this.kv.apply(index, command);
      this.notifyKv();
      return result;
    }
    const decoded = decodeEnvelope(command.subarray(1));
    // The log is checksummed and the proposer encoded what it validated: a bad entry is a programmer error.
    assert(!("error" in decoded), () => `a committed cluster command does not decode: ${"error" in decoded ? decoded.error : ""}`);
    const result = this.cluster.apply(index, decoded);
    assert(this.cluster.appliedIndex === index, "the cluster state records the index it applied");
    this.notifyCluster();
    return { op: "cluster", result };
  }

  query(query: NodeQuery): NodeQueryResult {
    if ("cluster" in query) return this.cluster;
    return this.kv.query(query);
  }

  /** The key-value value of a key ("" when absent): the request path's reader of the address book. */
  value(key: string): string {
    return this.kv.query({ key });
  }

  /** A key's value and revisions, or undefined when absent. */
  entry(key: string): KvEntry | undefined {
    return this.kv.entry(key);
  }

  /** One page of keys in key order (kv list). */
  list(query: KvListQuery): KvListPage {
    return this.kv.list(query);
  }

  /** Key-value entries whose key starts with `prefix`, in key order, at most `limit` (the token list). */
  entriesWithPrefix(prefix: string, limit: number): Array<readonly [string, string]> {
    return this.kv.entriesWithPrefix(prefix, limit);
  }

  /** kv length u32 | kv snapshot | cluster snapshot. */
  snapshot(): Uint8Array {
    const kv = this.kv.snapshot();
    const cluster = this.cluster.snapshot();
    const bytes = new Uint8Array(4 + kv.length + cluster.length);
    new DataView(bytes.buffer).setUint32(0, kv.length, true);
    bytes.set(kv, 4);
    bytes.set(cluster, 4 + kv.length);
    assert(bytes.length === 4 + kv.length + cluster.length, "node snapshot size");
    return bytes;
  }

  restore(snapshot: Uint8Array): void {
    assert(snapshot.length >= 4, "node snapshot too short");
    const kvLength = new DataView(snapshot.buffer, snapshot.byteOffset, snapshot.byteLength).getUint32(0, true);
    assert(4 + kvLength <= snapshot.length, "node snapshot truncated");
    this.kv.restore(snapshot.subarray(4, 4 + kvLength));
    this.cluster.restore(snapshot.subarray(4 + kvLength));
    this.notifyCluster();
    this.notifyKv();
  }

  /**
   * Calls `listener` after each cluster change. It runs inside apply, so it must only note the change
   * (arm a timer), never read or propose there: see NodeAgent.wake and ClusterController.wake.
   */
  onClusterChange(listener: () => void): void {
    assert(this.clusterListeners.length < 8, "a few listeners at most (the agent and the controller)");
    this.clusterListeners.push(listener);
  }

  /** Calls `listener` after each key-value apply and restore; the same rule as onClusterChange: only note it. */
  onKvChange(listener: () => void): () => void {
    assert(this.kvListeners.length < 8, "a few listeners at most (the watch hub)");
    this.kvListeners.push(listener);
    return () => {
      this.kvListeners = this.kvListeners.filter((other) => other !== listener);
    };
  }

  private notifyKv(): void {
    for (const listener of this.kvListeners) listener();
  }

  private notifyCluster(): void {
    for (const listener of this.clusterListeners) listener();
  }
}
