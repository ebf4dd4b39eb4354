// What a leader knows of one follower (etcd-io/raft's tracker/progress.go).
//
// States:
// - probe: the leader does not know where the follower's log ends; it sends one append at a
//   time and waits for the answer (or the next heartbeat response) before sending another;
// - replicate: the follower is keeping up; appends stream optimistically, bounded by the
//   in-flight window (count and bytes);
// - snapshot: the follower needs entries the leader has compacted; a snapshot is on its way
//   and nothing else is sent until it is acknowledged or the leader gives up and probes again.

import { assert } from "../../assert.ts";
import { Inflights } from "./inflights.ts";

export type ProgressState = "probe" | "replicate" | "snapshot";

export class Progress {
  /** The highest index known to match the leader's log. */
  match = 0;
  /** The next index to send. */
  next: number;
  state: ProgressState = "probe";
  /** In probe state: an append is outstanding, wait for its answer or a heartbeat response. */
  probeSent = false;
  /** In snapshot state: the index of the snapshot sent. */
  pendingSnapshotIndex = 0;
  /** Leader ticks since the snapshot was sent; after an election timeout the leader probes again. */
  snapshotElapsedTicks = 0;
  /** Heard from since the last CheckQuorum round. */
  recentActive = true;
  readonly inflights: Inflights;

  constructor(next: number, maxInflightMessages: number, maxInflightBytes: number) {
    assert(next >= 1, "next index starts at 1");
    this.next = next;
    this.inflights = new Inflights(maxInflightMessages, maxInflightBytes);
  }

  becomeProbe(): void {
    // After a snapshot the follower holds at least the snapshot's index.
    if (this.state === "snapshot") this.next = Math.max(this.match + 1, this.pendingSnapshotIndex + 1);
    else this.next = this.match + 1;
    this.state = "probe";
    this.probeSent = false;
    this.pendingSnapshotIndex = 0;
    this.inflights.reset();
    this.checkInvariant();
  }

  becomeReplicate(): void {
    this.state = "replicate";
    this.next = this.match + 1;
    this.probeSent = false;
    this.pendingSnapshotIndex = 0;
    this.inflights.reset();
    this.checkInvariant();
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.state = "snapshot";
    this.pendingSnapshotIndex = snapshotIndex;
    this.snapshotElapsedTicks = 0;
    this.probeSent = false;
    this.inflights.reset();
  }

  /** An acknowledgement up to `index` arrived; false when it is stale. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    this.checkInvariant();
    return updated;
  }

  /** An append carrying entries up to `lastIndex` (with `sizeBytes` of data) was sent. */
  sentEntries(lastIndex: number, sizeBytes: number): void {
    switch (this.state) {
      case "replicate":
        this.inflights.add(lastIndex, sizeBytes);
        this.next = lastIndex + 1;
        break;
      case "probe":
        this.probeSent = true;
        break;
      case "snapshot":
        assert(false, "sending entries to a follower that waits for a snapshot");
    }
    this.checkInvariant();
  }

  /** Whether the leader must hold back appends to this follower for now. */
  isPaused(): boolean {
    switch (this.state) {
      case "probe":
        return this.probeSent;
      case "replicate":
        return this.inflights.full();
      case "snapshot":
        return true;
    }
  }

  checkInvariant(): void {
    if (this.match > this.next - 1) assert(false, `progress match ${this.match} must be below next ${this.next}`);
  }
}
