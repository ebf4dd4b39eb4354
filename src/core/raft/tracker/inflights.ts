// The in-flight window of one follower in replicate state (etcd-io/raft's tracker/inflights.go):
// appends sent and not yet acknowledged, bounded by count and by bytes, freed in index order as
// acknowledgements arrive.

import { assert } from "../../assert.ts";

/** A bounded window of appends sent but not yet acknowledged, oldest first. */
export class Inflights {
  private readonly lastIndexes: number[] = [];
  private readonly sizesBytes: number[] = [];
  private totalBytes = 0;

  constructor(
    readonly maxMessages: number,
    readonly maxBytes: number,
  ) {
    assert(Number.isSafeInteger(maxMessages) && maxMessages > 0, "maxInflightMessages must be a positive integer");
    assert(maxBytes > 0, "maxInflightBytes must be positive");
  }

  count(): number {
    return this.lastIndexes.length;
  }

  bytes(): number {
    return this.totalBytes;
  }

  full(): boolean {
    return this.lastIndexes.length >= this.maxMessages || this.totalBytes >= this.maxBytes;
  }

  add(lastIndex: number, sizeBytes: number): void {
    assert(!this.full(), "adding to a full inflight window");
    const previous = this.lastIndexes[this.lastIndexes.length - 1];
    assert(previous === undefined || lastIndex > previous, "inflight appends must be sent in index order");
    this.lastIndexes.push(lastIndex);
    this.sizesBytes.push(sizeBytes);
    this.totalBytes += sizeBytes;
    assert(this.lastIndexes.length <= this.maxMessages, "inflight count over its limit");
  }

  /** Frees every append whose last index is <= `index` (the follower acknowledged up to there). */
  freeTo(index: number): void {
    let freed = 0;
    while (freed < this.lastIndexes.length && this.lastIndexes[freed]! <= index) {
      this.totalBytes -= this.sizesBytes[freed]!;
      freed += 1;
    }
    // splice returns the removed elements as a new array: skip it when nothing was freed.
    if (freed > 0) {
      this.lastIndexes.splice(0, freed);
      this.sizesBytes.splice(0, freed);
    }
    assert(this.totalBytes >= 0, "inflight bytes went negative");
  }

  reset(): void {
    this.lastIndexes.length = 0;
    this.sizesBytes.length = 0;
    this.totalBytes = 0;
  }
}
