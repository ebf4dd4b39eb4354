// The set of configurations (linearized operations, model state id) the search has seen.
// Bitsets live in one growable Uint32Array arena, state ids in an Int32Array, and a
// chained hash table maps a 32-bit hash of (bitset, state) to entries: no objects are
// allocated per entry, so a large cache costs the garbage collector nothing.
import { assert } from "../assert.ts";

const CAPACITY_MIN = 1 << 10;

export class ConfigurationCache {
  readonly wordsPerSet: number;
  private bits: Uint32Array;
  private stateIds: Int32Array;
  private hashes: Int32Array;
  private chain: Int32Array;
  private table: Int32Array;
  private count = 0;

  constructor(wordsPerSet: number) {
    assert(wordsPerSet > 0, "a bitset has at least one word");
    this.wordsPerSet = wordsPerSet;
    this.bits = new Uint32Array(CAPACITY_MIN * wordsPerSet);
    this.stateIds = new Int32Array(CAPACITY_MIN);
    this.hashes = new Int32Array(CAPACITY_MIN);
    this.chain = new Int32Array(CAPACITY_MIN);
    this.table = new Int32Array(CAPACITY_MIN).fill(-1);
  }

  get size(): number {
    return this.count;
  }

  get sizeBytes(): number {
    return this.bits.byteLength + this.stateIds.byteLength * 4;
  }

  /** Adds (set, stateId) unless present; returns true when it was added. */
  addIfAbsent(hash: number, set: Uint32Array, stateId: number): boolean {
    const words = this.wordsPerSet;
    const bits = this.bits;
    let entry = this.table[hash & (this.table.length - 1)];
    while (entry >= 0) {
      if (this.hashes[entry] === hash && this.stateIds[entry] === stateId) {
        const base = entry * words;
        let w = 0;
        while (w < words && bits[base + w] === set[w]) w += 1;
        if (w === words) return false;
      }
      entry = this.chain[entry];
    }
    if (this.count === this.hashes.length) this.grow();
    const index = this.count;
    this.count += 1;
    const base = index * words;
    const arena = this.bits;
    for (let w = 0; w < words; w += 1) arena[base + w] = set[w];
    this.hashes[index] = hash;
    this.stateIds[index] = stateId;
    const slot = hash & (this.table.length - 1);
    this.chain[index] = this.table[slot];
    this.table[slot] = index;
    return true;
  }

  private grow(): void {
    const capacity = this.hashes.length * 2;
    const bits = new Uint32Array(capacity * this.wordsPerSet);
    bits.set(this.bits);
    this.bits = bits;
    const stateIds = new Int32Array(capacity);
    stateIds.set(this.stateIds);
    this.stateIds = stateIds;
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
