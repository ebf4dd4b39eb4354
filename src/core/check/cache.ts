// The set of configurations (linearized operations, model state id) the search has seen.
//
// A linearized set is stored as its window: every operation below word `low` is
// linearized (all ones), none at or above word `high` is (all zeros), and only the words
// in [low, high) are kept. Operations are numbered in call order and the search
// linearizes roughly in that order, so the window stays a few words wide even when a
// partition has hundreds of thousands of operations: a step costs O(window), not O(n).
//
// Windows live in one growable Uint32Array arena; per entry an offset, the low word,
// the width, the state id and the hash sit in typed arrays, and a chained hash table
// maps the 32-bit hash of (set, state) to entries. No objects are allocated per entry,
// so a large cache costs the garbage collector nothing.
import { assert } from "../assert.ts";

const CAPACITY_MIN = 1 << 6;
const ARENA_WORDS_MIN = 1 << 8;

export class ConfigurationCache {
  private arena: Uint32Array;
  private arenaUsed = 0;
  private offsets: Int32Array;
  private lows: Int32Array;
  private widths: Int32Array;
  private stateIds: Int32Array;
  private hashes: Int32Array;
  private chain: Int32Array;
  private table: Int32Array;
  private count = 0;

  constructor() {
    this.arena = new Uint32Array(ARENA_WORDS_MIN);
    this.offsets = new Int32Array(CAPACITY_MIN);
    this.lows = new Int32Array(CAPACITY_MIN);
    this.widths = new Int32Array(CAPACITY_MIN);
    this.stateIds = new Int32Array(CAPACITY_MIN);
    this.hashes = new Int32Array(CAPACITY_MIN);
    this.chain = new Int32Array(CAPACITY_MIN);
    this.table = new Int32Array(CAPACITY_MIN).fill(-1);
  }

  get size(): number {
    return this.count;
  }

  get sizeBytes(): number {
    return this.arena.byteLength + this.hashes.byteLength * 8;
  }

  /**
   * Adds (set, stateId) unless present; returns true when it was added. The set is given
   * by its words and its window [low, high): words below low are all ones, from high on
   * all zeros.
   */
  addIfAbsent(hash: number, set: Uint32Array, low: number, high: number, stateId: number): boolean {
    const width = high - low;
    assert(width >= 0, "a window is not negative");
    const arena = this.arena;
    let entry = this.table[hash & (this.table.length - 1)];
    while (entry >= 0) {
      if (this.hashes[entry] === hash && this.stateIds[entry] === stateId && this.lows[entry] === low && this.widths[entry] === width) {
        const base = this.offsets[entry];
        let w = 0;
        while (w < width && arena[base + w] === set[low + w]) w += 1;
        if (w === width) return false;
      }
      entry = this.chain[entry];
    }
    if (this.count === this.hashes.length) this.growEntries();
    if (this.arenaUsed + width > this.arena.length) this.growArena(width);
    const index = this.count;
    this.count += 1;
    const base = this.arenaUsed;
    const target = this.arena;
    for (let w = 0; w < width; w += 1) target[base + w] = set[low + w];
    this.arenaUsed += width;
    this.offsets[index] = base;
    this.lows[index] = low;
    this.widths[index] = width;
    this.hashes[index] = hash;
    this.stateIds[index] = stateId;
    const slot = hash & (this.table.length - 1);
    this.chain[index] = this.table[slot];
    this.table[slot] = index;
    return true;
  }

  private growArena(needed: number): void {
    let capacity = this.arena.length * 2;
    while (capacity < this.arenaUsed + needed) capacity *= 2;
    const arena = new Uint32Array(capacity);
    arena.set(this.arena.subarray(0, this.arenaUsed));
    this.arena = arena;
  }

  private growEntries(): void {
    const capacity = this.hashes.length * 2;
    const widen = (old: Int32Array): Int32Array => {
      const grown = new Int32Array(capacity);
      grown.set(old);
      return grown;
    };
    this.offsets = widen(this.offsets);
    this.lows = widen(this.lows);
    this.widths = widen(this.widths);
    this.stateIds = widen(this.stateIds);
    this.hashes = widen(this.hashes);
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
