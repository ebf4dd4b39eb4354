// The set of configurations (linearized operations, model state) the search has seen.
// Bitsets live in one growable Uint32Array arena; a chained hash table maps a 32-bit
// hash of (bitset, state) to entries. No per-entry objects are allocated besides the
// model state itself, and the memory estimate drives the checker's memory budget.
import { assert } from "../assert.ts";

const TABLE_SIZE_MIN = 1 << 10;

export class ConfigurationCache<State> {
  readonly wordsPerSet: number;
  private bits: Uint32Array;
  private hashes: Int32Array;
  private chain: Int32Array;
  private table: Int32Array;
  private readonly states: State[] = [];
  private count = 0;
  private readonly equal: (a: State, b: State) => boolean;
  private readonly stateSizeBytes: number;

  constructor(wordsPerSet: number, equal: (a: State, b: State) => boolean, stateSizeBytes: number) {
    assert(wordsPerSet > 0, "a bitset has at least one word");
    this.wordsPerSet = wordsPerSet;
    this.equal = equal;
    this.stateSizeBytes = stateSizeBytes;
    this.bits = new Uint32Array(TABLE_SIZE_MIN * wordsPerSet);
    this.hashes = new Int32Array(TABLE_SIZE_MIN);
    this.chain = new Int32Array(TABLE_SIZE_MIN);
    this.table = new Int32Array(TABLE_SIZE_MIN).fill(-1);
  }

  get size(): number {
    return this.count;
  }

  /** Estimated bytes held: arena, table, and states (at the model's estimated size). */
  get sizeBytes(): number {
    return this.bits.byteLength + this.hashes.byteLength * 3 + this.count * (this.stateSizeBytes + 8);
  }

  /** Adds (set, state) unless present; returns true when it was added. */
  addIfAbsent(hash: number, set: Uint32Array, state: State): boolean {
    const words = this.wordsPerSet;
    const mask = this.table.length - 1;
    let entry = this.table[hash & mask];
    while (entry >= 0) {
      if (this.hashes[entry] === hash && this.sameSet(entry, set) && this.equal(this.states[entry], state)) return false;
      entry = this.chain[entry];
    }
    if (this.count === this.hashes.length) this.grow();
    const index = this.count;
    this.count += 1;
    this.bits.set(set.subarray(0, words), index * words);
    this.hashes[index] = hash;
    this.states.push(state);
    const slot = hash & (this.table.length - 1);
    this.chain[index] = this.table[slot];
    this.table[slot] = index;
    return true;
  }

  private sameSet(entry: number, set: Uint32Array): boolean {
    const words = this.wordsPerSet;
    const base = entry * words;
    const bits = this.bits;
    for (let w = 0; w < words; w += 1) {
      if (bits[base + w] !== set[w]) return false;
    }
    return true;
  }

  private grow(): void {
    const capacity = this.hashes.length * 2;
    const bits = new Uint32Array(capacity * this.wordsPerSet);
    bits.set(this.bits);
    this.bits = bits;
    const hashes = new Int32Array(capacity);
    hashes.set(this.hashes);
    this.hashes = hashes;
    this.chain = new Int32Array(capacity);
    this.table = new Int32Array(capacity).fill(-1);
    const mask = capacity - 1;
    for (let i = 0; i < this.count; i += 1) {
      const slot = this.hashes[i] & mask;
      this.chain[i] = this.table[slot];
      this.table[slot] = i;
    }
  }
}
