// ReadIndex bookkeeping on the leader (Raft dissertation 6.4, etcd-io/raft's read_only.go).
// A read records the commit index when it arrives; once a quorum of voters answers a heartbeat
// sent after it, leadership was confirmed at a time after the read arrived, so serving the read
// at that index is linearizable. An answer to a later heartbeat confirms every earlier read too.

import { assert } from "../assert.ts";
import type { NodeId, ReadState } from "./types.ts";

interface PendingRead {
  readonly context: number;
  /** The commit index when the read was accepted; 0 while the leader has not committed in its term. */
  index: number;
  readonly acks: Set<NodeId>;
}

export class ReadOnly {
  /** In arrival order; bounded by maxPendingReads (asserted by the caller's admission check). */
  private readonly pending: PendingRead[] = [];

  constructor(readonly maxPendingReads: number) {
    assert(Number.isSafeInteger(maxPendingReads) && maxPendingReads > 0, "maxPendingReads must be a positive integer");
  }

  count(): number {
    return this.pending.length;
  }

  /** The context of the newest read waiting for confirmation, or 0 (carried by heartbeats). */
  lastContext(): number {
    for (let i = this.pending.length - 1; i >= 0; i -= 1) if (this.pending[i]!.index > 0) return this.pending[i]!.context;
    return 0;
  }

  hasWaitingForCommit(): boolean {
    return this.pending.some((read) => read.index === 0);
  }

  /** Queues a read; `index` 0 means it waits for the leader's first commit in its term. */
  add(context: number, index: number): void {
    assert(this.pending.length < this.maxPendingReads, "pending reads over their limit");
    this.pending.push({ context, index, acks: new Set() });
  }

  /** The leader committed in its term: reads that waited for it read at `commit` from now on. */
  startWaiting(commit: number): void {
    for (const read of this.pending) if (read.index === 0) read.index = commit;
  }

  /** `from` answered a heartbeat carrying `context`: it confirms that read and every earlier one. */
  ack(from: NodeId, context: number): void {
    let last = -1;
    for (let i = 0; i < this.pending.length; i += 1) if (this.pending[i]!.context === context && this.pending[i]!.index > 0) last = i;
    for (let i = 0; i <= last; i += 1) this.pending[i]!.acks.add(from);
  }

  /** Removes and returns, in order, the reads confirmed by a quorum (`confirmed(acks)`). */
  release(confirmed: (acks: ReadonlySet<NodeId>) => boolean): ReadState[] {
    let last = -1;
    for (let i = 0; i < this.pending.length; i += 1) {
      const read = this.pending[i]!;
      if (read.index > 0 && confirmed(read.acks)) last = i;
    }
    const released = this.pending.splice(0, last + 1);
    // Reads before a confirmed one were accepted earlier, so the same confirmation covers them.
    return released.map((read) => {
      assert(read.index > 0, "a read released before the leader committed in its term");
      return { context: read.context, index: read.index };
    });
  }

  clear(): void {
    this.pending.length = 0;
  }
}
