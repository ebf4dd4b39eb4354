// The Wing-Gong/Lowe linearizability search over one partition, as in Porcupine's
// checker.go: a doubly linked list of call and return entries in real-time order; the
// search walks it, "lifts" an operation (removes its call and return) when it linearizes
// it, and "unlifts" it when it backtracks. A configuration (set of linearized operations,
// model state) enters the cache once; a step into a cached configuration is skipped, so
// no configuration is explored twice. States are interned to ids (states.ts), and each
// distinct (state, operation) transition goes through the model once.
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
import { ILLEGAL, StateTable, TransitionMemo, UNKNOWN } from "./states.ts";

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

/** Pending reads checked after each change of state (the first ones by call position). */
const FORWARD_READS_CHECKED = 8;
/** Paths up to this depth are copied whenever they are the longest (see noteDeadEnd). */
const LONGEST_EAGER_DEPTH_MAX = 4096;
/** How many of the longest partial linearizations to keep for the report. */
const LONGEST_KEPT_MAX = 4;
/** Packs an operation index beside a position in one double when sorting returns. */
const INDEX_SPAN = 1 << 25;
/** Operations in one partition: bounded so bitsets and stacks stay small typed arrays. */
export const PARTITION_OPERATIONS_MAX = 1 << 24;
// (INDEX_SPAN exceeds PARTITION_OPERATIONS_MAX, so an index always fits below it.)

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
  /** The linearized set's window (cache.ts): words below are all ones, from high on zeros. */
  private lowWord = 0;
  private highWord = 0;
  private requiredDone = 0;
  private readonly callStack: Int32Array;
  private readonly stateStack: Int32Array;
  private depth = 0;
  private stateId: number;
  private entry: number;
  private readonly cache: ConfigurationCache;
  private readonly stateTable: StateTable<State>;
  private readonly memo: TransitionMemo;
  private readonly inputs: Input[];
  private readonly outputs: Output[];
  private readonly required: Uint8Array;
  /** 1 for operations that never change the state (Model.isReadOnly). */
  private readonly readOnly: Uint8Array;
  private readonly stateSizeBytes: number;
  /**
   * Operations for which Model.resets holds, by call position, per partition label (a
   * whole-map search still knows that a put on one key cannot affect a read of another);
   * empty without mayLaterAccept.
   */
  private readonly resettingByGroup: Int32Array[];
  private readonly groupOf: Int32Array;
  /** Required read-only operations by call position, per group; empty without mayLaterAccept. */
  private readonly readsByGroup: Int32Array[];
  /**
   * Per group, an index into readsByGroup / resettingByGroup below which every operation
   * is linearized (so scans skip the done prefix: without this, a long history costs
   * O(n) per step); and each operation's index in those lists, or -1.
   */
  private readonly readHint: Int32Array;
  private readonly resetHint: Int32Array;
  private readonly readSlot: Int32Array;
  private readonly resetSlot: Int32Array;
  private readonly returnPositions: Float64Array;
  private readonly callPositions: Float64Array;
  private outcome: SearchStatus = "running";
  steps = 0;
  maxDepth = 0;
  private readonly longest: number[][] = [];
  private lastLongestCopyStep = 0;

  constructor(model: Model<State, Input, Output>, operations: readonly SearchOperation<Input, Output>[], stateSizeBytes = 64) {
    const n = operations.length;
    assert(n <= PARTITION_OPERATIONS_MAX, () => `partition has ${n} operations, more than ${PARTITION_OPERATIONS_MAX}`);
    this.model = model;
    this.operations = operations;
    this.inputs = operations.map((op) => op.input);
    this.outputs = operations.map((op) => op.output);
    this.required = Uint8Array.from(operations, (op) => (op.required ? 1 : 0));
    this.readOnly = Uint8Array.from(operations, (op) => (model.isReadOnly?.(op.input, op.output) === true ? 1 : 0));
    this.stateSizeBytes = stateSizeBytes;
    this.returnPositions = Float64Array.from(operations, (op) => op.returnPosition);
    this.callPositions = Float64Array.from(operations, (op) => op.callPosition);
    const groups = new Map<string, number>();
    this.groupOf = new Int32Array(n);
    const resetting: number[][] = [];
    const reads: number[][] = [];
    if (model.mayLaterAccept !== undefined) {
      operations.forEach((op, i) => {
        const label = model.partition?.(op.input) ?? "";
        let group = groups.get(label);
        if (group === undefined) {
          group = groups.size;
          groups.set(label, group);
          resetting.push([]);
          reads.push([]);
        }
        this.groupOf[i] = group;
        if (model.resets?.(op.input, op.output) !== false) resetting[group].push(i);
        if (op.required && this.readOnly[i] === 1) reads[group].push(i);
      });
    }
    this.readsByGroup = reads.map((list) => Int32Array.from(list.sort((a, b) => operations[a].callPosition - operations[b].callPosition || a - b)));
    this.resettingByGroup = resetting.map((list) => Int32Array.from(list.sort((a, b) => operations[a].callPosition - operations[b].callPosition || a - b)));
    this.readHint = new Int32Array(this.readsByGroup.length);
    this.resetHint = new Int32Array(this.resettingByGroup.length);
    this.readSlot = new Int32Array(n).fill(-1);
    this.resetSlot = new Int32Array(n).fill(-1);
    this.readsByGroup.forEach((list) => list.forEach((op, k) => (this.readSlot[op] = k)));
    this.resettingByGroup.forEach((list) => list.forEach((op, k) => (this.resetSlot[op] = k)));
    this.operationCount = n;
    this.requiredCount = operations.reduce((sum, op) => sum + (op.required ? 1 : 0), 0);

    // Entries in real-time order; a call sorts before a return at the same position, and
    // open returns (Infinity) by operation index, so the order is total and deterministic.
    // Calls are already in order (operations are numbered by call position); returns are
    // sorted as numbers (position, then index, packed in one double), then merged.
    const returnKeys = new Float64Array(n);
    let finiteMax = 0;
    for (let i = 0; i < n; i += 1) {
      const op = operations[i];
      assert(op.returnPosition > op.callPosition, "an operation returns after its call");
      assert(op.required === (op.returnPosition !== Infinity), "exactly the optional operations stay open");
      assert(i === 0 || operations[i - 1].callPosition < op.callPosition, "operations are numbered in call order");
      // Open returns go after every finite position, calls included.
      if (op.callPosition > finiteMax) finiteMax = op.callPosition;
      if (op.returnPosition !== Infinity && op.returnPosition > finiteMax) finiteMax = op.returnPosition;
    }
    assert(n < INDEX_SPAN && finiteMax < Number.MAX_SAFE_INTEGER / INDEX_SPAN - 2, "positions and indices fit in one double");
    for (let i = 0; i < n; i += 1) {
      const position = operations[i].returnPosition === Infinity ? finiteMax + 1 : operations[i].returnPosition;
      returnKeys[i] = position * INDEX_SPAN + i;
    }
    returnKeys.sort();
    const entryOperation = new Int32Array(2 * n);
    const entryIsReturn = new Uint8Array(2 * n);
    let nextCall = 0;
    let nextReturn = 0;
    for (let k = 0; k < 2 * n; k += 1) {
      const returnOp = nextReturn < n ? returnKeys[nextReturn] % INDEX_SPAN : -1;
      const returnPosition = nextReturn < n ? Math.floor(returnKeys[nextReturn] / INDEX_SPAN) : Infinity;
      // A call sorts before a return at the same position.
      if (nextCall < n && operations[nextCall].callPosition <= returnPosition) {
        entryOperation[k] = nextCall;
        nextCall += 1;
      } else {
        entryOperation[k] = returnOp;
        entryIsReturn[k] = 1;
        nextReturn += 1;
      }
    }
    const nodes = 2 * n + 2;
    this.next = new Int32Array(nodes);
    this.prev = new Int32Array(nodes);
    this.operationOf = new Int32Array(nodes).fill(-1);
    this.matchOf = new Int32Array(nodes).fill(-1);
    this.tail = nodes - 1;
    const callNode = new Int32Array(n);
    for (let k = 0; k < 2 * n; k += 1) {
      const node = k + 1;
      const operation = entryOperation[k];
      this.operationOf[node] = operation;
      if (entryIsReturn[k] === 0) callNode[operation] = node;
      else this.matchOf[callNode[operation]] = node;
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
    this.stateStack = new Int32Array(n);
    this.stateTable = new StateTable<State>(model as Model<State, unknown, unknown>);
    this.memo = new TransitionMemo();
    this.stateId = this.stateTable.intern(model.init());
    this.entry = this.next[0];
    this.cache = new ConfigurationCache();
    if (this.requiredCount === 0) this.outcome = "ok";
  }

  get status(): SearchStatus {
    return this.outcome;
  }

  get cacheEntries(): number {
    return this.cache.size;
  }

  /** Estimated bytes held by the cache, the memo and the interned states. */
  get sizeBytes(): number {
    return this.cache.sizeBytes + this.memo.sizeBytes + this.stateTable.size * (this.stateSizeBytes + 16);
  }

  get distinctStates(): number {
    return this.stateTable.size;
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
    const inputs = this.inputs;
    const outputs = this.outputs;
    const required = this.required;
    const readOnly = this.readOnly;
    const mayLaterAccept = this.model.mayLaterAccept !== undefined;
    const next = this.next;
    const matchOf = this.matchOf;
    const operationOf = this.operationOf;
    const linearized = this.linearized;
    const bitKeys = this.bitKeys;
    const cache = this.cache;
    const memo = this.memo;
    const stateTable = this.stateTable;
    const callStack = this.callStack;
    const stateStack = this.stateStack;
    const tail = this.tail;
    let entry = this.entry;
    let stateId = this.stateId;
    let depth = this.depth;
    let linearizedHash = this.linearizedHash;
    let lowWord = this.lowWord;
    let highWord = this.highWord;
    const wordCount = linearized.length;
    let requiredDone = this.requiredDone;
    const requiredCount = this.requiredCount;
    let steps = 0;
    while (steps < stepLimit) {
      steps += 1;
      assert(entry > 0 && entry !== tail, "the walk ends at a return entry before the tail");
      const opIndex = operationOf[entry];
      let deadEnd = matchOf[entry] < 0; // a return entry of an operation not yet linearized
      if (!deadEnd) {
        // A call entry: try to linearize the operation now.
        let nextId: number;
        if (readOnly[opIndex] === 1) {
          // A read-only step is cheap and lands on the same state: no memo, no interning.
          nextId = model.step(stateTable.states[stateId], inputs[opIndex], outputs[opIndex]) === undefined ? ILLEGAL : stateId;
          // A required read that can never be accepted from here dooms the configuration.
          if (nextId === ILLEGAL && required[opIndex] === 1 && mayLaterAccept && this.doomed(stateId, opIndex, linearized)) deadEnd = true;
        } else if ((nextId = memo.get(stateId, opIndex)) === UNKNOWN) {
          const nextState = model.step(stateTable.states[stateId], inputs[opIndex], outputs[opIndex]);
          // Rejections are not remembered: they are usually cheap to recompute (a read
          // that does not match), and there are many of them.
          if (nextState === undefined) nextId = ILLEGAL;
          else {
            nextId = stateTable.intern(nextState);
            memo.set(stateId, opIndex, nextId);
          }
        }
        if (!deadEnd && nextId !== ILLEGAL) {
          const word = opIndex >>> 5;
          const bit = 1 << (opIndex & 31);
          linearized[word] |= bit;
          // Forward check: after a change of state, the first pending reads of this
          // group must still be satisfiable, or the new configuration is dead.
          if (mayLaterAccept && readOnly[opIndex] === 0 && nextId !== stateId && this.nextReadDoomed(nextId, opIndex, linearized)) {
            linearized[word] &= ~bit;
            this.noteUnlinearized(opIndex);
            entry = next[entry];
            continue;
          }
          const setHash = linearizedHash ^ bitKeys[opIndex];
          const hash = mix32(setHash ^ Math.imul(nextId + 1, 0x27d4eb2f));
          let newLow = lowWord;
          while (newLow < wordCount && linearized[newLow] === 0xffffffff) newLow += 1;
          const newHigh = Math.max(word >= highWord ? word + 1 : highWord, newLow);
          if (cache.addIfAbsent(hash, linearized, newLow, newHigh, nextId)) {
            callStack[depth] = entry;
            stateStack[depth] = stateId;
            depth += 1;
            linearizedHash = setHash;
            lowWord = newLow;
            highWord = newHigh;
            stateId = nextId;
            this.lift(entry);
            if (required[opIndex] === 1) {
              requiredDone += 1;
              if (requiredDone === requiredCount) {
                this.outcome = "ok";
                break;
              }
            }
            entry = next[0];
            continue;
          }
          linearized[word] &= ~bit;
          if (mayLaterAccept) this.noteUnlinearized(opIndex);
          // A cached configuration has been explored and failed (a success ends the
          // search, and the configurations on the current path are smaller). If this
          // operation is read-only, the current configuration fails too (see below).
          deadEnd = readOnly[opIndex] === 1;
        }
        if (!deadEnd) {
          entry = next[entry];
          continue;
        }
      }
      {
        // Dead end: backtrack.
        if (depth > this.maxDepth) this.maxDepth = depth;
        this.depth = depth;
        this.noteDeadEnd(this.steps + steps);
        // Undo the last operation. If it is read-only, undo the one before as well, and so
        // on: a read-only operation that can be linearized now can be moved to the front
        // of any way on (it does not change any state, it observes this state now, and
        // everything that must precede it is already linearized), so if no way on exists
        // with it linearized here, none exists without it either.
        let unchanged = true;
        while (unchanged && depth > 0) {
          depth -= 1;
          entry = callStack[depth];
          stateId = stateStack[depth];
          const undone = operationOf[entry];
          unchanged = readOnly[undone] === 1;
          const word = undone >>> 5;
          linearized[word] &= ~(1 << (undone & 31));
          if (word < lowWord) lowWord = word;
          while (highWord > lowWord && linearized[highWord - 1] === 0) highWord -= 1;
          linearizedHash ^= bitKeys[undone];
          if (required[undone] === 1) requiredDone -= 1;
          this.unlift(entry);
          if (mayLaterAccept) this.noteUnlinearized(undone);
        }
        if (unchanged) {
          this.depth = depth;
          this.outcome = "illegal";
          break;
        }
        entry = next[entry];
      }
    }
    if (depth > this.maxDepth) this.maxDepth = depth;
    this.entry = entry;
    this.stateId = stateId;
    this.depth = depth;
    this.linearizedHash = linearizedHash;
    this.lowWord = lowWord;
    this.highWord = highWord;
    this.requiredDone = requiredDone;
    this.steps += steps;
    return this.outcome;
  }

  /**
   * Whether the required read-only operation `read`, rejected in state `stateId`, can
   * never be accepted: no resetting operation can still be linearized before it (each
   * such operation would have to be invoked before the read returns), and the model
   * says no other operations can bring the state to one that accepts it.
   */
  private doomed(stateId: number, read: number, linearized: Uint32Array): boolean {
    const group = this.groupOf[read];
    const resetting = this.resettingByGroup[group];
    const deadline = this.returnPositions[read];
    let k = this.resetHint[group];
    while (k < resetting.length && (linearized[resetting[k] >>> 5] & (1 << (resetting[k] & 31))) !== 0) k += 1;
    this.resetHint[group] = k;
    for (; k < resetting.length; k += 1) {
      const op = resetting[k];
      if ((linearized[op >>> 5] & (1 << (op & 31))) !== 0) continue;
      if (this.callPositions[op] < deadline) return false;
      break;
    }
    return !this.model.mayLaterAccept!(this.stateTable.states[stateId], this.inputs[read], this.outputs[read]);
  }

  /**
   * Whether, in state `stateId` just reached by `changed`, one of the first
   * FORWARD_READS_CHECKED required reads of the same group not yet linearized (by call
   * position) can no longer be accepted: the model rejects it there, says no non-resetting
   * operations can make it accepted, and no resetting operation can still come before it.
   * Every required read must be linearized eventually, so such a read dooms the
   * configuration, whichever read it is; the first ones by call position are the likeliest.
   */
  private nextReadDoomed(stateId: number, changed: number, linearized: Uint32Array): boolean {
    const group = this.groupOf[changed];
    const reads = this.readsByGroup[group];
    let k = this.readHint[group];
    while (k < reads.length && (linearized[reads[k] >>> 5] & (1 << (reads[k] & 31))) !== 0) k += 1;
    this.readHint[group] = k;
    let checked = 0;
    for (; k < reads.length && checked < FORWARD_READS_CHECKED; k += 1) {
      const read = reads[k];
      if ((linearized[read >>> 5] & (1 << (read & 31))) !== 0) continue;
      checked += 1;
      if (this.model.step(this.stateTable.states[stateId], this.inputs[read], this.outputs[read]) !== undefined) continue;
      if (this.doomed(stateId, read, linearized)) return true;
    }
    return false;
  }

  /** Keeps the scan hints below an operation the search has just taken back. */
  private noteUnlinearized(op: number): void {
    const group = this.groupOf[op];
    const readSlot = this.readSlot[op];
    if (readSlot >= 0 && readSlot < this.readHint[group]) this.readHint[group] = readSlot;
    const resetSlot = this.resetSlot[op];
    if (resetSlot >= 0 && resetSlot < this.resetHint[group]) this.resetHint[group] = resetSlot;
  }

  /**
   * Records the current path when it is among the longest seen at a dead end. Copying a
   * deep path costs its depth, so beyond LONGEST_EAGER_DEPTH_MAX a copy is made only once
   * as many steps as its depth have passed since the last one (amortized O(1) per step;
   * the longest kept may then be a little shorter than the longest seen).
   */
  private noteDeadEnd(stepsSoFar: number): void {
    const depth = this.depth;
    const best = this.longest.length === 0 ? -1 : this.longest[0].length;
    if (depth < best || (depth === best && this.longest.length >= LONGEST_KEPT_MAX)) return;
    if (depth > LONGEST_EAGER_DEPTH_MAX && stepsSoFar - this.lastLongestCopyStep < depth) return;
    this.lastLongestCopyStep = stepsSoFar;
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
}
