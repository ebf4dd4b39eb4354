// The simulator's consent to storage corruption (SimDisk's `mayCorrupt`), in the manner of
// TigerBeetle's VOPR: the fault model must keep at least one intact copy of every committed
// entry somewhere in the cluster (docs/SIMULATION.md, "Storage faults" has the argument).
//
// An intact copy, under Blixard's policy (a node that finds corruption before its log's tail
// refuses to start): node n holds one of committed entry e when n's durable log or snapshot
// holds e with its committed term and bytes AND n can start, i.e. none of n's durable files
// is corrupt. A node with any corrupt byte may refuse to start at its next restart, and then
// none of its copies serves anyone, so the rule counts a node's copies only while nothing
// was ever corrupted on its disk.
//
// The rule: corruption is allowed on at most f = floor((N - 1) / 2) nodes over the whole
// run (the first f nodes the disks ask about, in event order, which is deterministic), and
// never on a WAL segment's sync point slots (the storage layer's own trust anchor: with a
// damaged slot, a misdirected append could again pass for a torn tail). The other N - f
// nodes, a majority, never see a corrupt byte.

import { assert } from "../assert.ts";
import type { NodeId } from "../raft/types.ts";
import { parseSegmentFileName } from "../storage/file-names.ts";
import { SEGMENT_DATA_START, SYNC_POINT_SLOT_OFFSETS } from "../storage/sync-point.ts";

/**
 * Bugs planted in the simulator's own fault model, for the test harness only (docs/PLANTED-BUGS.md):
 *   consent-to-corrupt-every-node: the consent lets corruption reach every node, not only a minority.
 */
export type FaultModelPlantedBug = "consent-to-corrupt-every-node";

export class CorruptionConsent {
  private readonly taintedNodes: NodeId[] = [];
  private readonly nodeIds: ReadonlySet<NodeId>;
  /** At most this many nodes may ever hold a corrupt byte. */
  readonly maxTaintedNodes: number;

  constructor(nodeIds: readonly NodeId[], plantedBugs: ReadonlySet<FaultModelPlantedBug> = new Set()) {
    this.nodeIds = new Set(nodeIds);
    const everyNode = plantedBugs.has("consent-to-corrupt-every-node");
    this.maxTaintedNodes = everyNode ? nodeIds.length : Math.floor((nodeIds.length - 1) / 2);
    assert(everyNode || this.maxTaintedNodes * 2 < nodeIds.length, "corruption must leave a majority untouched");
  }

  /** Whether the consent ever let corruption reach this node's disk. */
  wasTainted(nodeId: NodeId): boolean {
    return this.taintedNodes.includes(nodeId);
  }

  /** SimDisk's consent hook for `nodeId`'s disk: may bytes [offset, offset + length) of `name` be corrupted? */
  mayCorrupt(nodeId: NodeId, name: string, offset: number, length: number): boolean {
    assert(this.nodeIds.has(nodeId), () => `corruption asked for unknown node ${nodeId}`);
    assert(offset >= 0 && length >= 0, "corruption range out of bounds");
    if (parseSegmentFileName(name) !== undefined && offset < SEGMENT_DATA_START && offset + length > SYNC_POINT_SLOT_OFFSETS[0]) return false;
    if (this.taintedNodes.includes(nodeId)) return true;
    if (this.taintedNodes.length >= this.maxTaintedNodes) return false;
    this.taintedNodes.push(nodeId);
    return true;
  }

  /** The nodes whose disks were allowed corruption, in the order they were first allowed it. */
  tainted(): readonly NodeId[] {
    return [...this.taintedNodes];
  }
}
