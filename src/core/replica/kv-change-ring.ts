// The recent changes of the key-value map, for watches: a bounded ring of (put | delete, key,
// value, revision) in apply order, so in revision order. It is derived from the applied log and
// kept beside the state machine, never in a snapshot: every replica that applied the same
// entries holds the same ring (up to where each one's history started), and a restore starts
// it afresh.
//
// What the ring can answer is stated by `compactedThrough`: every change with a revision above
// it is held. It is 0 for a node that applied its log from the start; it moves up when old
// changes are dropped to stay within the bounds; after a restore it is unknown until the next
// change is recorded (no change lies between the snapshot and that change, so it becomes the
// revision just before it). A watch from a revision at or below it is refused as compacted
// (etcd's ErrCompacted), never answered with a gap.
//
// One delete-prefix writes several changes at one revision: an answer never splits such a
// group, so a client that continues from the last revision + 1 neither skips nor repeats one.

import { assert } from "../assert.ts";

export interface KvChange {
  /** append: value is the element appended to the key's list. */
  readonly type: "put" | "delete" | "append";
  readonly key: string;
  /** The value written ("" for a delete). */
  readonly value: string;
  /** The log index of the write. */
  readonly revision: number;
}

export type KvChangeRead =
  | {
      readonly status: "ok";
      /** The matching changes from the asked revision on, in revision order (whole revision groups). */
      readonly changes: readonly KvChange[];
      /** Where the next read continues: after the last change returned, or after everything applied. */
      readonly nextRevision: number;
    }
  | { readonly status: "compacted"; readonly oldestRevision: number };

export interface KvChangeReadLimits {
  /** Stop after this many changes (a revision group is never split, so it may run over by one group). */
  readonly changesMax: number;
  /** Stop once the changes hold this many key and value characters (the same rule about groups). */
  readonly bytesMax: number;
}

/** A change's weight against the byte bound: its texts in UTF-16 units (a UTF-8 byte count would cost an encode per change) and a little more. */
export function kvChangeWeight(change: KvChange): number {
  return change.key.length * 3 + change.value.length * 3 + 16;
}

export class KvChangeRing {
  private changes: KvChange[] = [];
  /** changes[head..] are held; earlier slots are dropped and reclaimed in batches. */
  private head = 0;
  private weight = 0;
  private compactedThroughRevision: number | undefined = 0;

  constructor(
    readonly changesMax: number,
    readonly weightMax: number,
  ) {
    assert(changesMax >= 1 && weightMax >= 1, "a change ring holds at least one change");
  }

  get size(): number {
    return this.changes.length - this.head;
  }

  /** Every change with a revision above this is held; undefined after a restore until the next change. */
  get compactedThrough(): number | undefined {
    return this.compactedThroughRevision;
  }

  /** The revision of the newest change held, or 0. */
  get newestRevision(): number {
    return this.size === 0 ? 0 : this.changes[this.changes.length - 1]!.revision;
  }

  record(change: KvChange): void {
    assert(Number.isSafeInteger(change.revision) && change.revision >= 1, "a change's revision is a log index");
    assert(change.revision >= this.newestRevision, "changes are recorded in revision order");
    if (this.compactedThroughRevision === undefined) this.compactedThroughRevision = change.revision - 1;
    this.changes.push(change);
    this.weight += kvChangeWeight(change);
    while (this.size > this.changesMax || (this.weight > this.weightMax && this.size > 1)) this.dropOldest();
    if (this.head >= 1024 && this.head * 2 >= this.changes.length) {
      this.changes = this.changes.slice(this.head);
      this.head = 0;
    }
    assert(this.size <= this.changesMax, "the change ring stays within its count bound");
  }

  /** Forgets every change: the history restarts at the next one (a snapshot replaced the state). */
  reset(): void {
    this.changes = [];
    this.head = 0;
    this.weight = 0;
    this.compactedThroughRevision = undefined;
  }

  /**
   * The changes whose key `matches`, with revisions from `fromRevision` on. `appliedIndex` is the
   * node's applied index: an answer with nothing left continues after it, and after a restore the
   * history starts after it.
   */
  read(fromRevision: number, appliedIndex: number, matches: (key: string) => boolean, limits: KvChangeReadLimits): KvChangeRead {
    assert(Number.isSafeInteger(fromRevision) && fromRevision >= 1, "a watch reads from a revision ≥ 1");
    assert(limits.changesMax >= 1 && limits.bytesMax >= 1, "a read returns at least one change when one exists");
    const applied = Math.max(appliedIndex, this.newestRevision);
    const oldestRevision = (this.compactedThroughRevision ?? applied) + 1;
    if (fromRevision < oldestRevision) return { status: "compacted", oldestRevision };
    const found: KvChange[] = [];
    let weight = 0;
    for (let i = this.firstAtOrAfter(fromRevision); i < this.changes.length; i++) {
      const change = this.changes[i]!;
      const last = found[found.length - 1];
      if (last !== undefined && change.revision !== last.revision && (found.length >= limits.changesMax || weight >= limits.bytesMax)) {
        return { status: "ok", changes: found, nextRevision: last.revision + 1 };
      }
      if (!matches(change.key)) continue;
      found.push(change);
      weight += kvChangeWeight(change);
    }
    return { status: "ok", changes: found, nextRevision: Math.max(fromRevision, applied + 1) };
  }

  private dropOldest(): void {
    const dropped = this.changes[this.head]!;
    this.head += 1;
    this.weight -= kvChangeWeight(dropped);
    this.compactedThroughRevision = dropped.revision;
    assert(this.weight >= 0, "the ring's weight never goes negative");
  }

  /** The first slot whose change has a revision ≥ revision (binary search: revisions never decrease). */
  private firstAtOrAfter(revision: number): number {
    let low = this.head;
    let high = this.changes.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.changes[middle]!.revision < revision) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}
