// The terms of a log, kept as runs: [startIndex, term] pairs where each run covers the
// indexes from its start to the next run's start - 1. Terms change only at elections, so
// a log of millions of entries needs a handful of runs. The storage layer keeps this to
// check a batch against the log it extends (terms never decrease along the log) and to
// chain new segments to what precedes them, without keeping the entries themselves.

import { assert } from "../assert.ts";

export class TermRuns {
  private starts: number[] = [];
  private terms: number[] = [];
  /** The index before the first entry (the snapshot's index), whose term is terms[0] when the log is empty. */
  private base: number;
  private last: number;

  /** An empty log after (baseIndex, baseTerm). */
  constructor(baseIndex: number, baseTerm: number) {
    assert(baseIndex >= 0 && baseTerm >= 0, "TermRuns base must be non-negative");
    this.base = baseIndex;
    this.last = baseIndex;
    this.starts.push(baseIndex);
    this.terms.push(baseTerm);
  }

  get baseIndex(): number {
    return this.base;
  }

  get lastIndex(): number {
    return this.last;
  }

  get lastTerm(): number {
    return this.terms[this.terms.length - 1]!;
  }

  /** The term at `index` in [baseIndex, lastIndex], else undefined. */
  termAt(index: number): number | undefined {
    if (index < this.base || index > this.last) return undefined;
    // Binary search for the last run starting at or before index.
    let low = 0;
    let high = this.starts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >>> 1;
      if (this.starts[middle]! <= index) low = middle;
      else high = middle - 1;
    }
    return this.terms[low]!;
  }

  /** Appends the entry (index, term): index <= lastIndex + 1 first drops index and everything after it. */
  append(index: number, term: number): void {
    assert(index > this.base && index <= this.last + 1, () => `append of index ${index} to a log of (${this.base}, ${this.last}]`);
    if (index <= this.last) this.truncateAfter(index - 1);
    assert(term >= this.lastTerm, () => `term ${term} at index ${index} is below the previous term ${this.lastTerm}`);
    if (term !== this.lastTerm) {
      this.starts.push(index);
      this.terms.push(term);
    }
    this.last = index;
  }

  /** Keeps indexes <= index (>= baseIndex). */
  truncateAfter(index: number): void {
    assert(index >= this.base && index <= this.last, () => `truncateAfter ${index} outside [${this.base}, ${this.last}]`);
    while (this.starts.length > 1 && this.starts[this.starts.length - 1]! > index) {
      this.starts.pop();
      this.terms.pop();
    }
    this.last = index;
  }

  /** Forgets indexes below `index` (in [baseIndex, lastIndex]), which becomes the new base. */
  compact(index: number): void {
    const term = this.termAt(index);
    assert(term !== undefined, () => `compact at ${index} outside [${this.base}, ${this.last}]`);
    let drop = 0;
    while (drop + 1 < this.starts.length && this.starts[drop + 1]! <= index) drop++;
    this.starts = this.starts.slice(drop);
    this.terms = this.terms.slice(drop);
    this.starts[0] = index;
    this.base = index;
    assert(this.terms[0] === term, "compaction changed the base term");
  }
}
