// Checks that a run cannot pass by giving up: a node that refuses to start "because its store
// is corrupt" is the real node's policy (docs/ARCHITECTURE.md, "Failure policy"), so it is
// allowed only where the fault model put corruption, and never on more nodes than the fault
// model keeps intact. Without these checks a node that refuses every restart (a storage bug
// that calls a clean torn tail corrupt) would look like a fault being handled.
//
//   Clean Disk Starts: a node whose disk the corruption consent never let corruption reach
//     (corruption-consent.ts) must never refuse to start as corrupt.
//   Minority Refusals: of 2f+1 voters at most f may refuse (the consent corrupts at most f
//     disks); one more means the cluster lost a quorum of stores to something other than the
//     fault model. Checked first: it is the stronger statement when both hold.

import { assert } from "../assert.ts";
import type { NodeId } from "../raft/types.ts";
import type { StartRefusal } from "./cluster.ts";
import type { PropertyName } from "./properties.ts";

export interface RefusalViolation {
  readonly property: Extract<PropertyName, "Clean Disk Starts" | "Minority Refusals">;
  readonly message: string;
}

export class StartRefusalCheck {
  private readonly refusedNodes = new Set<NodeId>();
  private readonly refusalsMax: number;

  constructor(
    private readonly voterCount: number,
    /** Whether the fault model ever corrupted this node's disk. */
    private readonly wasCorrupted: (nodeId: NodeId) => boolean,
  ) {
    assert(Number.isSafeInteger(voterCount) && voterCount >= 1, "voter count must be positive");
    this.refusalsMax = Math.floor((voterCount - 1) / 2);
  }

  /** A node refused to start as corrupt; returns the property this breaks, if any. */
  refused(refusal: StartRefusal): RefusalViolation | undefined {
    assert(!this.refusedNodes.has(refusal.nodeId), () => `node ${refusal.nodeId} refused to start twice (a refused node stays down)`);
    this.refusedNodes.add(refusal.nodeId);
    if (this.refusedNodes.size > this.refusalsMax) {
      const nodes = [...this.refusedNodes].sort((a, b) => a - b).join(", ");
      return {
        property: "Minority Refusals",
        message: `${this.refusedNodes.size} of ${this.voterCount} nodes (${nodes}) refused to start as corrupt, more than the ${this.refusalsMax} the fault model can corrupt; the last: ${refusal.message}`,
      };
    }
    if (!this.wasCorrupted(refusal.nodeId)) {
      return {
        property: "Clean Disk Starts",
        message: `node ${refusal.nodeId} refused to start as corrupt, but its disk was never corrupted: ${refusal.message}`,
      };
    }
    return undefined;
  }
}
