// The membership a node uses at every point of its log. A change takes effect as soon as its
// entry is appended to the log (the Raft dissertation's rule, docs/RAFT.md), so a follower
// whose uncommitted suffix is truncated must fall back to the membership before it. This keeps
// one ConfState per conf-change entry still in the log, on top of the snapshot's membership.

import { assert } from "../assert.ts";
import { assertConfState } from "./conf-change.ts";
import type { ConfState, NodeId } from "./types.ts";

interface ConfAtIndex {
  readonly index: number;
  readonly confState: ConfState;
}

export class Membership {
  private baseIndex: number;
  private base: ConfState;
  /** Ascending by index, all > baseIndex; bounded by the conf-change entries in the log. */
  private readonly changes: ConfAtIndex[] = [];

  constructor(baseIndex: number, base: ConfState) {
    assertConfState(base);
    this.baseIndex = baseIndex;
    this.base = base;
  }

  current(): ConfState {
    return this.changes.length === 0 ? this.base : this.changes[this.changes.length - 1]!.confState;
  }

  /** Index of the newest conf-change entry in the log (0 if none since the snapshot). */
  lastChangeIndex(): number {
    return this.changes.length === 0 ? 0 : this.changes[this.changes.length - 1]!.index;
  }

  isVoter(id: NodeId): boolean {
    return this.current().voters.includes(id);
  }

  isMember(id: NodeId): boolean {
    const conf = this.current();
    return conf.voters.includes(id) || conf.learners.includes(id);
  }

  /** The membership in effect once the log holds everything up to `index`. */
  at(index: number): ConfState {
    if (index < this.baseIndex) assert(false, `membership at ${index} is older than the snapshot at ${this.baseIndex}`);
    let conf = this.base;
    for (const change of this.changes) {
      if (change.index > index) break;
      conf = change.confState;
    }
    return conf;
  }

  /** A conf-change entry at `index` was appended to the log. */
  appended(index: number, confState: ConfState): void {
    assert(index > Math.max(this.baseIndex, this.lastChangeIndex()), () => `conf change at ${index} is out of order`);
    assertConfState(confState);
    this.changes.push({ index, confState });
  }

  /** The log lost every entry from `index` on. */
  truncatedFrom(index: number): void {
    while (this.changes.length > 0 && this.changes[this.changes.length - 1]!.index >= index) this.changes.pop();
  }

  /** The log was compacted up to `index`. */
  compactedTo(index: number): void {
    const conf = this.at(index);
    while (this.changes.length > 0 && this.changes[0]!.index <= index) this.changes.shift();
    this.baseIndex = index;
    this.base = conf;
  }

  /** A snapshot replaced the whole log. */
  reset(index: number, confState: ConfState): void {
    assertConfState(confState);
    this.changes.length = 0;
    this.baseIndex = index;
    this.base = confState;
  }

  /** A node that joins with an empty membership and no snapshot does not know its log's base yet. */
  baseUnknown(): boolean {
    return this.baseIndex === 0 && this.base.voters.length === 0 && this.base.learners.length === 0;
  }
}
