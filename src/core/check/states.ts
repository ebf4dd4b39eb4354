// Model states interned to integer ids (one id per distinct state, by the model's hash
// and equality), and a memo of transitions (state id, operation) -> state id. The search
// runs on ids: each distinct (state, operation) pair is stepped through the model once,
// and caches compare integers instead of states.
import { assert } from "../assert.ts";
import type { Model } from "./model.ts";

const CAPACITY_MIN = 1 << 6;
/** Memo value for a transition the model rejects. */
export const ILLEGAL = -1;
/** Memo lookup result for a transition not yet computed. */
export const UNKNOWN = -2;

export class StateTable<State> {
  private readonly model: Model<State, unknown, unknown>;
  readonly states: State[] = [];
  private hashes: Int32Array;
  private chain: Int32Array;
  private table: Int32Array;

  constructor(model: Model<State, unknown, unknown>) {
    this.model = model;
    this.hashes = new Int32Array(CAPACITY_MIN);
    this.chain = new Int32Array(CAPACITY_MIN);
    this.table = new Int32Array(CAPACITY_MIN).fill(-1);
  }

  get size(): number {
    return this.states.length;
  }

  /** The id of `state`, adding it when new. */
  intern(state: State): number {
    const hash = this.model.hash(state) | 0;
    let entry = this.table[hash & (this.table.length - 1)];
    while (entry >= 0) {
      if (this.hashes[entry] === hash && this.model.equal(this.states[entry], state)) return entry;
      entry = this.chain[entry];
    }
    const id = this.states.length;
    if (id === this.hashes.length) this.grow();
    this.states.push(state);
    this.hashes[id] = hash;
    const slot = hash & (this.table.length - 1);
    this.chain[id] = this.table[slot];
    this.table[slot] = id;
    return id;
  }

  private grow(): void {
    const capacity = this.hashes.length * 2;
    const hashes = new Int32Array(capacity);
    hashes.set(this.hashes);
    this.hashes = hashes;
    this.chain = new Int32Array(capacity);
    this.table = new Int32Array(capacity).fill(-1);
    const mask = capacity - 1;
    for (let i = 0; i < this.states.length; i += 1) {
      const slot = this.hashes[i] & mask;
      this.chain[i] = this.table[slot];
      this.table[slot] = i;
    }
  }
}

/** Open addressing over typed arrays: (state id, operation index) -> result state id or ILLEGAL. */
export class TransitionMemo {
  private stateKeys: Int32Array;
  private operationKeys: Int32Array;
  private results: Int32Array;
  private count = 0;

  constructor() {
    this.stateKeys = new Int32Array(CAPACITY_MIN).fill(-1);
    this.operationKeys = new Int32Array(CAPACITY_MIN);
    this.results = new Int32Array(CAPACITY_MIN);
  }

  get size(): number {
    return this.count;
  }

  get sizeBytes(): number {
    return this.stateKeys.byteLength * 3;
  }

  get(stateId: number, operation: number): number {
    const mask = this.stateKeys.length - 1;
    let slot = slotOf(stateId, operation) & mask;
    for (;;) {
      const key = this.stateKeys[slot];
      if (key === -1) return UNKNOWN;
      if (key === stateId && this.operationKeys[slot] === operation) return this.results[slot];
      slot = (slot + 1) & mask;
    }
  }

  set(stateId: number, operation: number, result: number): void {
    assert(stateId >= 0 && result >= ILLEGAL, "memo keys and results are ids");
    if ((this.count + 1) * 2 > this.stateKeys.length) this.grow();
    this.insert(stateId, operation, result);
    this.count += 1;
  }

  private insert(stateId: number, operation: number, result: number): void {
    const mask = this.stateKeys.length - 1;
    let slot = slotOf(stateId, operation) & mask;
    while (this.stateKeys[slot] !== -1) slot = (slot + 1) & mask;
    this.stateKeys[slot] = stateId;
    this.operationKeys[slot] = operation;
    this.results[slot] = result;
  }

  private grow(): void {
    const stateKeys = this.stateKeys;
    const operationKeys = this.operationKeys;
    const results = this.results;
    const capacity = stateKeys.length * 2;
    this.stateKeys = new Int32Array(capacity).fill(-1);
    this.operationKeys = new Int32Array(capacity);
    this.results = new Int32Array(capacity);
    for (let i = 0; i < stateKeys.length; i += 1) {
      if (stateKeys[i] !== -1) this.insert(stateKeys[i], operationKeys[i], results[i]);
    }
  }
}

function slotOf(stateId: number, operation: number): number {
  let h = Math.imul(stateId, 0x9e3779b1) ^ Math.imul(operation, 0x85ebca6b);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return h;
}
