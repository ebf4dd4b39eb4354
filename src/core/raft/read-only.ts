// ReadIndex bookkeeping on the leader (Raft dissertation 6.4, etcd-io/raft's read_only.go).
// A read records the commit index when it arrives; once a quorum of voters answers a message
// sent after it, leadership was confirmed at a time after the read arrived, so serving the read
// at that index is linearizable.
//
// Reads are confirmed in numbered rounds (docs/RAFT.md, "Read rounds"). Every append and
// heartbeat the leader sends carries its newest round number (`sentRound`); a follower echoes the
// highest round it has seen from this leader in its append and heartbeat responses. A round is
// opened (numbered) only just before messages carrying it leave, and it takes the reads waiting
// then: so every message carrying round r, or a later one, left after r's reads arrived, and a
// quorum echoing >= r (in this term) confirms them. Echoes only grow per follower, so a stale or
// duplicated response (an older round) never confirms a newer read.

import { assert } from "../assert.ts";
import type { NodeId, ReadState } from "./types.ts";

interface PendingRead {
  readonly context: number;
  /** The commit index when the read was accepted; 0 while the leader has not committed in its term. */
  index: number;
  /** The round that covers it; 0 while no round was opened for it. */
  round: number;
}

export class ReadOnly {
  /** In arrival order; bounded by maxPendingReads (asserted by the caller's admission check). */
  private readonly pending: PendingRead[] = [];
  /** The newest round opened: every append and heartbeat carries it. Grows over the node's life. */
  private sentRound = 0;
  /** The highest round each voter echoed in this leadership (cleared with it). */
  private readonly echoed = new Map<NodeId, number>();

  constructor(readonly maxPendingReads: number) {
    assert(Number.isSafeInteger(maxPendingReads) && maxPendingReads > 0, "maxPendingReads must be a positive integer");
  }

  count(): number {
    return this.pending.length;
  }

  /** The round number the leader's appends and heartbeats carry now. */
  currentRound(): number {
    return this.sentRound;
  }

  /** Some read has its index (the term's first commit happened) and no round covers it yet. */
  hasUncovered(): boolean {
    return this.pending.some((read) => read.round === 0 && read.index > 0);
  }

  /** Some covered read waits for its round's confirmation. */
  inFlight(): boolean {
    return this.pending.some((read) => read.round !== 0);
  }

  /** No round is in flight and some read waits for one: the next Ready starts one. */
  wantsRound(): boolean {
    return !this.inFlight() && this.hasUncovered();
  }

  /**
   * Numbers a new round before messages carrying it leave; `cover` false leaves the waiting reads
   * uncovered (safe either way: they arrived before the round's messages), so they get a later
   * round. Returns the round.
   */
  openRound(cover: boolean): number {
    this.sentRound += 1;
    assert(Number.isSafeInteger(this.sentRound), "read round overflow");
    if (cover) this.coverWaiting();
    return this.sentRound;
  }

  /** The newest round's messages reached a quorum after all: it covers the reads still waiting (they arrived before it was opened). */
  coverWaiting(): void {
    for (const read of this.pending) if (read.round === 0 && read.index > 0) read.round = this.sentRound;
  }

  hasWaitingForCommit(): boolean {
    return this.pending.some((read) => read.index === 0);
  }

  /** Queues a read; `index` 0 means it waits for the leader's first commit in its term. */
  add(context: number, index: number): void {
    assert(this.pending.length < this.maxPendingReads, "pending reads over their limit");
    this.pending.push({ context, index, round: 0 });
  }

  /** The leader committed in its term: reads that waited for it read at `commit` from now on. */
  startWaiting(commit: number): void {
    for (const read of this.pending) if (read.index === 0) read.index = commit;
  }

  /**
   * Voter `from` echoed `round` in a response of this term. An echo above the newest round opened
   * (a forged or mutated answer) is ignored; a lower one than already seen changes nothing.
   */
  ack(from: NodeId, round: number): void {
    if (round === 0 || round > this.sentRound) return;
    if (round > (this.echoed.get(from) ?? 0)) this.echoed.set(from, round);
  }

  /** The highest round `from` echoed in this leadership (0: none). */
  echoedRound(from: NodeId): number {
    return this.echoed.get(from) ?? 0;
  }

  /**
   * Removes and returns, in order, the reads whose round a quorum echoed (`confirmed(round)`;
   * round 0, no round yet, is confirmed only by a quorum of the leader alone).
   */
  release(confirmed: (round: number) => boolean): ReadState[] {
    let last = -1;
    for (let i = 0; i < this.pending.length; i += 1) {
      const read = this.pending[i]!;
      if (read.index > 0 && confirmed(read.round)) last = i;
    }
    // Rounds grow along the queue (reads are covered in arrival order), so the prefix is confirmed too.
    for (let i = 1; i <= last; i += 1) {
      const earlier = this.pending[i - 1]!.round;
      const later = this.pending[i]!.round;
      assert(later === 0 || (earlier !== 0 && earlier <= later), "reads covered out of arrival order");
    }
    const released = this.pending.splice(0, last + 1);
    // Reads before a confirmed one were accepted earlier, so the same confirmation covers them.
    return released.map((read) => {
      assert(read.index > 0, "a read released before the leader committed in its term");
      assert(read.round === 0 || read.round <= this.sentRound, "a read covered by a round never opened");
      return { context: read.context, index: read.index };
    });
  }

  clear(): void {
    this.pending.length = 0;
    this.echoed.clear();
  }
}
