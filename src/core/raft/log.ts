// The in-memory Raft log: entries from snapshotIndex + 1 to lastIndex, with the
// snapshot's index and term standing in for everything compacted before them
// (etcd-io/raft's raftLog + unstable, folded into one array).
//
// Besides the entries it tracks three cursors the Ready contract needs:
// - committed / applied: the usual Raft indexes;
// - persistedIndex: the log is durable on this node's disk up to here (acknowledged by advance());
//   the leader counts its own log toward a commit quorum only up to this index;
// - unstableFrom: the first index not yet handed to the driver in a Ready.

import { assert } from "../assert.ts";
import type { Entry, Snapshot } from "./types.ts";

/** The one empty entry list handed out (nothing unstable, nothing to apply): no array per Ready. */
export const NO_ENTRIES: readonly Entry[] = [];

export class RaftLog {
  private snapshotIndexValue: number;
  private snapshotTermValue: number;
  /** entries[i].index === snapshotIndex + 1 + i */
  private entries: Entry[];
  committed: number;
  applied: number;
  persistedIndex: number;
  unstableFrom: number;
  /** The last index handed out in the Ready awaiting advance() (0 when none); truncation lowers it. */
  private handedOutIndex: number;

  constructor(snapshotIndex: number, snapshotTerm: number, entries: readonly Entry[], committed: number, termsMayDecrease = false) {
    assert(Number.isSafeInteger(snapshotIndex) && snapshotIndex >= 0, "snapshot index must be a non-negative integer");
    assert(snapshotIndex > 0 || snapshotTerm === 0, "the empty snapshot has term 0");
    this.snapshotIndexValue = snapshotIndex;
    this.snapshotTermValue = snapshotTerm;
    this.entries = [];
    let expectedIndex = snapshotIndex + 1;
    let previousTerm = snapshotTerm;
    for (const entry of entries) {
      assert(entry.index === expectedIndex, () => `recovered log is not contiguous at ${entry.index}, expected ${expectedIndex}`);
      assert(entry.term >= previousTerm || termsMayDecrease, () => `recovered log's terms decrease at index ${entry.index}`);
      this.entries.push(entry);
      expectedIndex += 1;
      previousTerm = entry.term;
    }
    this.committed = Math.max(committed, snapshotIndex);
    assert(this.committed <= this.lastIndex(), () => `recovered commit ${committed} is beyond the last index ${this.lastIndex()}`);
    this.applied = snapshotIndex;
    this.persistedIndex = this.lastIndex();
    this.unstableFrom = this.lastIndex() + 1;
    this.handedOutIndex = 0;
  }

  snapshotIndex(): number {
    return this.snapshotIndexValue;
  }

  snapshotTerm(): number {
    return this.snapshotTermValue;
  }

  firstIndex(): number {
    return this.snapshotIndexValue + 1;
  }

  lastIndex(): number {
    return this.snapshotIndexValue + this.entries.length;
  }

  lastTerm(): number {
    return this.entries.length === 0 ? this.snapshotTermValue : this.entries[this.entries.length - 1]!.term;
  }

  /** Term at `index`: 0 at index 0, the snapshot's term at its index, undefined when compacted or beyond the log. */
  termAt(index: number): number | undefined {
    if (index === 0) return 0;
    if (index === this.snapshotIndexValue) return this.snapshotTermValue;
    if (index < this.snapshotIndexValue || index > this.lastIndex()) return undefined;
    const entry = this.entries[index - this.snapshotIndexValue - 1]!;
    assert(entry.index === index, "log entry index does not match its position");
    return entry.term;
  }

  entryAt(index: number): Entry | undefined {
    if (index <= this.snapshotIndexValue || index > this.lastIndex()) return undefined;
    return this.entries[index - this.snapshotIndexValue - 1];
  }

  matchTerm(index: number, term: number): boolean {
    return this.termAt(index) === term;
  }

  /** Raft's election restriction (paper 5.4.1): is (lastIndex, lastTerm) at least as up to date as this log? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    return lastTerm > this.lastTerm() || (lastTerm === this.lastTerm() && lastIndex >= this.lastIndex());
  }

  /**
   * Entries in [low, high], at most `maxBytes` of data but at least one entry when low <= high.
   * Returns a fresh array (the entries themselves are immutable and shared).
   */
  slice(low: number, high: number, maxBytes: number): Entry[] {
    if (low < this.firstIndex()) assert(false, `slice from compacted index ${low}`);
    if (high > this.lastIndex()) assert(false, `slice beyond the last index: ${high}`);
    const out: Entry[] = [];
    let bytes = 0;
    for (let index = low; index <= high; index += 1) {
      const entry = this.entries[index - this.snapshotIndexValue - 1]!;
      if (out.length > 0 && bytes + entry.data.length > maxBytes) break;
      out.push(entry);
      bytes += entry.data.length;
    }
    return out;
  }

  /**
   * Appends entries that follow the last index (a leader's own proposals or a follower's new suffix).
   * `termsMayDecrease` is set only by the planted bug that skips truncating a conflict.
   */
  append(entries: readonly Entry[], termsMayDecrease = false): void {
    for (const entry of entries) {
      if (entry.index !== this.lastIndex() + 1) assert(false, `append is not contiguous: ${entry.index} after ${this.lastIndex()}`);
      if (!(entry.term >= this.lastTerm() || termsMayDecrease)) assert(false, `append would decrease the term at ${entry.index}`);
      this.entries.push(entry);
    }
  }

  /**
   * Drops every entry from `index` on (a follower resolving a conflict with its leader).
   * Committed entries are never truncated: that would be a safety violation.
   */
  truncateFrom(index: number): void {
    assert(index > this.committed, () => `truncating committed entry ${index} (commit ${this.committed})`);
    assert(index > this.snapshotIndexValue && index <= this.lastIndex(), () => `truncate at ${index} outside the log`);
    this.entries.length = index - this.snapshotIndexValue - 1;
    this.persistedIndex = Math.min(this.persistedIndex, index - 1);
    this.unstableFrom = Math.min(this.unstableFrom, index);
    this.handedOutIndex = Math.min(this.handedOutIndex, index - 1);
    assert(this.lastIndex() === index - 1, "truncate left the wrong last index");
  }

  /**
   * The first index in `entries` whose term differs from this log's (or that lies beyond it),
   * or 0 when every entry is already present.
   */
  findConflict(entries: readonly Entry[]): number {
    for (const entry of entries) {
      if (!this.matchTerm(entry.index, entry.term)) return entry.index;
    }
    return 0;
  }

  /** The first index holding the same term as `index` (the dissertation's conflictIndex hint). */
  firstIndexOfTermAt(index: number): number {
    const term = this.termAt(index);
    if (term === undefined) assert(false, `no term at ${index}`);
    let first = index;
    while (first - 1 > this.snapshotIndexValue && this.termAt(first - 1) === term) first -= 1;
    return first;
  }

  /** The last index <= `atMost` whose term is `term`, or 0 when this log holds no such entry. */
  lastIndexOfTerm(term: number, atMost: number): number {
    let index = Math.min(atMost, this.lastIndex());
    while (index > this.snapshotIndexValue) {
      const t = this.termAt(index)!;
      if (t === term) return index;
      if (t < term) return 0;
      index -= 1;
    }
    return index === this.snapshotIndexValue && this.snapshotTermValue === term && index > 0 ? index : 0;
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    if (index > this.lastIndex()) assert(false, `commit ${index} beyond the last index ${this.lastIndex()}`);
    this.committed = index;
  }

  hasUnstableEntries(): boolean {
    return this.unstableFrom <= this.lastIndex();
  }

  /** Hands the driver every entry from unstableFrom to lastIndex, to persist before advance(). */
  handOutUnstableEntries(): readonly Entry[] {
    if (this.unstableFrom > this.lastIndex()) return NO_ENTRIES;
    const out = this.entries.slice(this.unstableFrom - this.snapshotIndexValue - 1);
    this.handedOutIndex = this.lastIndex();
    this.unstableFrom = this.lastIndex() + 1;
    return out;
  }

  /** advance(): what was handed out is durable now (as far as it still belongs to this log). */
  handedOutPersisted(): void {
    this.persistedIndex = Math.max(this.persistedIndex, this.handedOutIndex);
    this.handedOutIndex = 0;
    assert(this.persistedIndex <= this.lastIndex(), "persisted index beyond the last index");
  }

  /** The first index the state machine has not been given yet. */
  nextApplyIndex(): number {
    return Math.max(this.applied, this.snapshotIndexValue) + 1;
  }

  hasEntriesToApply(): boolean {
    return this.nextApplyIndex() <= this.committed;
  }

  /** The next committed entries to apply, at most `maxEntries` (the rest waits for the next Ready). */
  entriesToApply(maxEntries: number): readonly Entry[] {
    assert(maxEntries > 0, "apply batches hold at least one entry");
    const from = this.nextApplyIndex();
    if (from > this.committed) return NO_ENTRIES;
    const start = from - this.snapshotIndexValue - 1;
    return this.entries.slice(start, start + Math.min(this.committed - from + 1, maxEntries));
  }

  /** The application snapshotted at `index`: drop the entries up to it. */
  compact(index: number, term: number): void {
    assert(index > this.snapshotIndexValue && index <= this.applied, () => `compact to ${index} outside (snapshot, applied]`);
    assert(this.termAt(index) === term, "compaction term does not match the log");
    this.entries = this.entries.slice(index - this.snapshotIndexValue);
    this.snapshotIndexValue = index;
    this.snapshotTermValue = term;
    assert(this.firstIndex() === index + 1, "compaction left the wrong first index");
  }

  /** A follower installs a leader's snapshot that its log does not contain: the log restarts after it. */
  restore(snapshot: Snapshot): void {
    const { index, term } = snapshot.metadata;
    assert(index > this.committed, () => `restoring snapshot ${index} at or below commit ${this.committed}`);
    this.entries = [];
    this.snapshotIndexValue = index;
    this.snapshotTermValue = term;
    this.committed = index;
    // The snapshot reaches the disk in the next Ready, before any message that depends on it.
    this.persistedIndex = index;
    this.unstableFrom = index + 1;
    this.handedOutIndex = Math.min(this.handedOutIndex, index);
  }
}
