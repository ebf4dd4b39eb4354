// The Wing-Gong/Lowe linearizability search over one partition, as in Porcupine's
// checker.go: a doubly linked list of call and return entries in real-time order; the
// search walks it, "lifts" an operation (removes its call and return) when it linearizes
// it, and "unlifts" it when it backtracks. A configuration (set of linearized operations,
// model state) enters the cache once; a step into a cached configuration is skipped, so
// no configuration is explored twice.
//
// Operations with unknown outcome (info) are optional: their return entry sits at the
// end, and the search succeeds once every required operation is linearized (an optional
// operation left over did not take effect, or took effect after everything else).
//
// The search is resumable: run(stepLimit) does at most stepLimit steps and reports
// "running" when it has more to do, so the checker can interleave partitions.
import { assert } from "../assert.ts";
import { ConfigurationCache } from "./cache.ts";
import type { Model } from "./model.ts";
import { mix32 } from "./model.ts";

export interface SearchOperation<Input, Output> {
  /** The operation's id in the history (for results). */
  readonly historyId: number;
  readonly input: Input;
  readonly output: Output;
  /** Real-time position of the invocation. */
  readonly callPosition: number;
  /** Real-time position of the completion; Infinity when the outcome is unknown. */
  readonly returnPosition: number;
  /** False for operations whose outcome is unknown (they may be left out). */
  readonly required: boolean;
}

export type SearchStatus = "running" | "ok" | "illegal";

/** How many of the longest partial linearizations to keep for the report. */
const LONGEST_KEPT_MAX = 4;
/** Operations in one partition: bounded so bitsets and stacks stay small typed arrays. */
export const PARTITION_OPERATIONS_MAX = 1 << 24;

export class PartitionSearch<State, Input, Output> {
  readonly operations: readonly SearchOperation<Input, Output>[];
  private readonly model: Model<State, Input, Output>;
  private readonly operationCount: number;
  private readonly requiredCount: number;
  // Linked list: node 0 is the head sentinel, 1..2n the entries, 2n+1 the tail sentinel.
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  private readonly operationOf: Int32Array;
  /** For a call node, its return node; -1 for return nodes and sentinels. */
  private readonly matchOf: Int32Array;
  private readonly tail: number;
  /** A random 32-bit value per operation: the bitset hash is the XOR over set bits. */
  private readonly bitKeys: Int32Array;
  private readonly linearized: Uint32Array;
  private linearizedHash = 0;
  private requiredDone = 0;
  private readonly callStack: Int32Array;
  private readonly stateStack: State[] = [];
  private depth = 0;
  private state: State;
  private entry: number;
  private readonly cache: ConfigurationCache<State>;
  private outcome: SearchStatus = "running";
  steps = 0;
  maxDepth = 0;
  private readonly longest: number[][] = [];

  constructor(model: Model<State, Input, Output>, operations: readonly SearchOperation<Input, Output>[], stateSizeBytes = 64) {
    const n = operations.length;
    assert(n <= PARTITION_OPERATIONS_MAX, () => `partition has ${n} operations, more than ${PARTITION_OPERATIONS_MAX}`);
    this.model = model;
    this.operations = operations;
    this.operationCount = n;
    this.requiredCount = operations.reduce((sum, op) => sum + (op.required ? 1 : 0), 0);

    // Entries in real-time order; a call sorts before a return at the same position, and
    // open returns (Infinity) by operation index, so the order is total and deterministic.
    const entries: Array<{ position: number; isReturn: number; operation: number }> = [];
    for (let i = 0; i < n; i += 1) {
      const op = operations[i];
      assert(op.returnPosition > op.callPosition, "an operation returns after its call");
      assert(op.required === (op.returnPosition !== Infinity), "exactly the optional operations stay open");
      entries.push({ position: op.callPosition, isReturn: 0, operation: i });
      entries.push({ position: op.returnPosition, isReturn: 1, operation: i });
    }
    entries.sort((a, b) => a.position - b.position || a.isReturn - b.isReturn || a.operation - b.operation || 0);
    const nodes = 2 * n + 2;
    this.next = new Int32Array(nodes);
    this.prev = new Int32Array(nodes);
    this.operationOf = new Int32Array(nodes).fill(-1);
    this.matchOf = new Int32Array(nodes).fill(-1);
    this.tail = nodes - 1;
    const callNode = new Int32Array(n);
    for (let k = 0; k < entries.length; k += 1) {
      const node = k + 1;
      const e = entries[k];
      this.operationOf[node] = e.operation;
      if (e.isReturn === 0) callNode[e.operation] = node;
      else this.matchOf[callNode[e.operation]] = node;
    }
    for (let node = 0; node < nodes; node += 1) {
      this.next[node] = node + 1 < nodes ? node + 1 : -1;
      this.prev[node] = node - 1;
    }

    // Deterministic pseudo-random keys (splitmix32 from a fixed seed): no Math.random.
    this.bitKeys = new Int32Array(n);
    let seed = 0x2545f491;
    for (let i = 0; i < n; i += 1) {
      seed = (seed + 0x9e3779b9) | 0;
      this.bitKeys[i] = mix32(seed);
    }
    const words = Math.max(1, Math.ceil(n / 32));
    this.linearized = new Uint32Array(words);
    this.callStack = new Int32Array(n);
    this.state = model.init();
    this.entry = this.next[0];
    this.cache = new ConfigurationCache<State>(words, (a, b) => model.equal(a, b), stateSizeBytes);
    if (this.requiredCount === 0) this.outcome = "ok";
  }

  get status(): SearchStatus {
    return this.outcome;
  }

  get cacheEntries(): number {
    return this.cache.size;
  }

  get cacheSizeBytes(): number {
    return this.cache.sizeBytes;
  }

  /** Up to LONGEST_KEPT_MAX longest partial linearizations seen at dead ends (operation indices). */
  get longestPartial(): readonly (readonly number[])[] {
    return this.longest;
  }

  /** The current linearization (operation indices, in order); the witness once status is ok. */
  currentLinearization(): number[] {
    const out: number[] = [];
    for (let d = 0; d < this.depth; d += 1) out.push(this.operationOf[this.callStack[d]]);
    return out;
  }

  /** Runs at most stepLimit steps; returns the status afterwards. */
  run(stepLimit: number): SearchStatus {
    if (this.outcome !== "running") return this.outcome;
    const model = this.model;
    const ops = this.operations;
    const next = this.next;
    const matchOf = this.matchOf;
    const operationOf = this.operationOf;
    const linearized = this.linearized;
    const bitKeys = this.bitKeys;
    const cache = this.cache;
    let entry = this.entry;
    let state = this.state;
    let steps = 0;
    while (steps < stepLimit) {
      steps += 1;
      assert(entry > 0 && entry !== this.tail, "the walk ends at a return entry before the tail");
      const opIndex = operationOf[entry];
      const op = ops[opIndex];
      if (matchOf[entry] >= 0) {
        // A call entry: try to linearize the operation now.
        const nextState = model.step(state, op.input, op.output);
        if (nextState !== undefined) {
          const word = opIndex >>> 5;
          const bit = 1 << (opIndex & 31);
          linearized[word] |= bit;
          const setHash = this.linearizedHash ^ bitKeys[opIndex];
          const hash = mix32(setHash ^ Math.imul(model.hash(nextState), 0x27d4eb2f));
          if (cache.addIfAbsent(hash, linearized, nextState)) {
            this.callStack[this.depth] = entry;
            this.stateStack[this.depth] = state;
            this.depth += 1;
            if (this.depth > this.maxDepth) this.maxDepth = this.depth;
            this.linearizedHash = setHash;
            state = nextState;
            this.lift(entry);
            if (op.required) {
              this.requiredDone += 1;
              if (this.requiredDone === this.requiredCount) {
                this.outcome = "ok";
                break;
              }
            }
            entry = next[0];
          } else {
            linearized[word] &= ~bit;
            entry = next[entry];
          }
        } else {
          entry = next[entry];
        }
      } else {
        // A return entry of an operation not yet linearized: dead end, backtrack.
        this.noteDeadEnd();
        if (this.depth === 0) {
          this.outcome = "illegal";
          break;
        }
        this.depth -= 1;
        entry = this.callStack[this.depth];
        state = this.stateStack[this.depth];
        this.stateStack[this.depth] = undefined as unknown as State; // release for the collector
        const undone = operationOf[entry];
        linearized[undone >>> 5] &= ~(1 << (undone & 31));
        this.linearizedHash ^= bitKeys[undone];
        if (ops[undone].required) this.requiredDone -= 1;
        this.unlift(entry);
        entry = next[entry];
      }
    }
    this.entry = entry;
    this.state = state;
    this.steps += steps;
    return this.outcome;
  }

  private noteDeadEnd(): void {
    const depth = this.depth;
    const best = this.longest.length === 0 ? -1 : this.longest[0].length;
    if (depth < best || (depth === best && this.longest.length >= LONGEST_KEPT_MAX)) return;
    if (depth > best) this.longest.length = 0;
    this.longest.push(this.currentLinearization());
  }

  private lift(call: number): void {
    const next = this.next;
    const prev = this.prev;
    next[prev[call]] = next[call];
    prev[next[call]] = prev[call];
    const ret = this.matchOf[call];
    next[prev[ret]] = next[ret];
    prev[next[ret]] = prev[ret];
  }

  private unlift(call: number): void {
    const next = this.next;
    const prev = this.prev;
    const ret = this.matchOf[call];
    next[prev[ret]] = ret;
    prev[next[ret]] = ret;
    next[prev[call]] = call;
    prev[next[call]] = call;
  }

  /** Real-time positions: the earliest return among operations not in `done`. */
  earliestPendingReturn(done: ReadonlySet<number>): number {
    let earliest = Infinity;
    for (let i = 0; i < this.operationCount; i += 1) {
      if (!done.has(i) && this.operations[i].returnPosition < earliest) earliest = this.operations[i].returnPosition;
    }
    return earliest;
  }
}
