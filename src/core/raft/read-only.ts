// ReadIndex bookkeeping on the leader (Raft dissertation 6.4, etcd-io/raft's read_only.go).
// A read records the commit index when it arrives; once a quorum of voters answers a heartbeat
// sent after it, leadership was confirmed at a time after the read arrived, so serving the read
// at that index is linearizable. An answer to a later heartbeat confirms every earlier read too.
//
// Reads are confirmed in rounds, not one heartbeat broadcast each: a round is one broadcast,
// sent after every read it covers arrived (the pending reads when it leaves, a prefix of the
// queue). While a round is in flight, new reads wait for the next one, which starts when the
// round is confirmed (or at the next periodic heartbeat, which is a round too: a lost round
// costs at most one heartbeat interval). A read is never confirmed by a round that started
// before it arrived: ack() only reaches reads up to the context a round carried.

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
  /** How many reads (a prefix of `pending`) the newest round was sent after; 0: no round in flight. */
  private covered = 0;

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

  /** No round is in flight and some read waits for one (and has its index: the term's first commit happened). */
  wantsRound(): boolean {
    return this.covered === 0 && this.pending.length > 0 && this.pending[0]!.index > 0;
  }

  /**
   * A round (heartbeats to every follower) leaves now: it covers every pending read. Returns the
   * context the heartbeats carry (the newest read's), or 0 when no read waits for a confirmation.
   */
  roundSent(): number {
    const context = this.lastContext();
    if (context === 0) return 0;
    this.covered = this.pending.length;
    assert(this.pending[this.covered - 1]!.context === context, "a round carries the newest read's context");
    return context;
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

  /**
   * `from` answered a heartbeat carrying `context`: it confirms that read and every earlier one.
   * Only reads a round covered are looked at: a context that names a later read (a forged or
   * mutated answer) confirms nothing, so no read is confirmed by a round that began before it.
   */
  ack(from: NodeId, context: number): void {
    let last = -1;
    for (let i = 0; i < this.covered; i += 1) if (this.pending[i]!.context === context && this.pending[i]!.index > 0) last = i;
    for (let i = 0; i <= last; i += 1) this.pending[i]!.acks.add(from);
  }

  /** Removes and returns, in order, the reads confirmed by a quorum (`confirmed(acks)`). */
  release(confirmed: (acks: ReadonlySet<NodeId>) => boolean): ReadState[] {
    let last = -1;
    for (let i = 0; i < this.pending.length; i += 1) {
      const read = this.pending[i]!;
      if (read.index > 0 && confirmed(read.acks)) last = i;
    }
    // A read no round covered has no acknowledgements: only a quorum of the leader alone confirms it.
    for (let i = this.covered; i <= last; i += 1) assert(this.pending[i]!.acks.size === 0, "a read acknowledged by a round that began before it");
    const released = this.pending.splice(0, last + 1);
    this.covered = Math.max(0, this.covered - released.length);
    // Reads before a confirmed one were accepted earlier, so the same confirmation covers them.
    return released.map((read) => {
      assert(read.index > 0, "a read released before the leader committed in its term");
      return { context: read.context, index: read.index };
    });
  }

  clear(): void {
    this.pending.length = 0;
    this.covered = 0;
  }
}
