// checkHistory: splits a history into independent partitions (P-compositionality), runs
// the Wing-Gong/Lowe search on each, smallest first and interleaved in slices of steps so
// one hard partition cannot starve the rest, stops at the first illegal partition, and
// answers unknown when the time, step or memory budget runs out.
import { assert } from "../assert.ts";
import { BadInputError } from "./errors.ts";
import type { History, Operation } from "./history.ts";
import type { Model } from "./model.ts";
import { ModelInputError } from "./model.ts";
import type { SearchOperation } from "./search.ts";
import { PartitionSearch } from "./search.ts";

export type Verdict = "ok" | "illegal" | "unknown";

/**
 * What a time or heap budget needs from the process. The checker is core code (it runs
 * inside every simulation), so it never reads a clock or the heap itself: the shell hands
 * these in (src/shell/os/check-resources.ts). Without them only the deterministic budgets apply.
 */
export interface CheckResources {
  nowMs(): number;
  heapUsedBytes(): number;
  readonly heapLimitBytes: number;
}

export interface CheckOptions {
  /** Wall-clock budget; unknown after it. Needs `resources`. Default: no limit. */
  readonly timeoutMs?: number;
  /** The process's clock and heap, for the time budget and the heap guard. Default: neither is checked. */
  readonly resources?: CheckResources;
  /** Budget of search steps over all partitions (deterministic, unlike time). Default: no limit. */
  readonly stepLimit?: number;
  /**
   * Budget for the search's own tables (caches, memo, interned states, estimated); unknown
   * when exceeded. Default 1 GiB. Independently, the check answers unknown when the
   * JavaScript heap passes 3/4 of its limit, so it never dies for lack of memory.
   */
  readonly memoryBudgetBytes?: number;
  /** False checks the history as one partition, ignoring the model's partition function. */
  readonly partition?: boolean;
  /** Steps a partition runs before the next one gets its turn. Default 1,000. */
  readonly sliceSteps?: number;
  /** Estimated bytes per model state held in the cache. Default 64. */
  readonly stateSizeBytes?: number;
}

export type StuckReason = "not-allowed" | "dead-end";

/** An operation that could be next after a longest partial linearization, and why it is not. */
export interface StuckOperation {
  readonly operationId: number;
  /** not-allowed: the model rejects it in that state; dead-end: allowed, but no way on from there. */
  readonly reason: StuckReason;
}

export type PartitionStatus = "ok" | "illegal" | "unknown" | "not-checked";

export interface PartitionResult {
  readonly label: string;
  /** History operation ids checked in this partition (dropped ones excluded). */
  readonly operationIds: readonly number[];
  readonly status: PartitionStatus;
  /** ok: a witness linearization (history operation ids, in order). */
  readonly linearization?: readonly number[];
  /** illegal or unknown: the longest partial linearizations found (history operation ids). */
  readonly longest?: readonly (readonly number[])[];
  /** illegal: the operations that could come next after longest[0], and why they cannot. */
  readonly stuck?: readonly StuckOperation[];
  readonly steps: number;
  readonly cacheEntries: number;
  readonly maxDepth: number;
}

export interface CheckResult {
  readonly verdict: Verdict;
  readonly model: string;
  /** In the order they were scheduled (smallest first). */
  readonly partitions: readonly PartitionResult[];
  /** For illegal: the first partition found illegal. */
  readonly illegalPartition?: string;
  /** For unknown: which budget ran out. */
  readonly reason?: string;
  /** Operations searched, and operations dropped (failed, or reads with unknown results). */
  readonly operationCount: number;
  readonly droppedCount: number;
  readonly steps: number;
  readonly elapsedMs: number;
}

const DEFAULT_MEMORY_BUDGET_BYTES = 1 << 30;
const DEFAULT_SLICE_STEPS = 1_000;
/** The share of V8's heap limit the check may fill before it gives up with unknown. */
const HEAP_SHARE_MAX = 0.75;
/** Steps between two checks of the budgets (a slice that used all its steps also checks). */
const BUDGET_CHECK_STEPS = 1_000;

interface PreparedPartition<Input, Output> {
  readonly label: string;
  readonly operations: SearchOperation<Input, Output>[];
}

/** Prepares a history's operations for a model; throws BadInputError for operations the model cannot read. */
export function preparePartitions<State, Input, Output>(
  history: History,
  model: Model<State, Input, Output>,
  partition = true,
): { partitions: PreparedPartition<Input, Output>[]; droppedCount: number } {
  const byLabel = new Map<string, SearchOperation<Input, Output>[]>();
  let droppedCount = 0;
  for (const op of history.operations) {
    if (op.status === "fail") {
      droppedCount += 1;
      continue;
    }
    const prepared = prepareOne(history, model, op);
    if (prepared === "drop") {
      droppedCount += 1;
      continue;
    }
    const label = partition && model.partition !== undefined ? model.partition(prepared.input) : "all";
    let list = byLabel.get(label);
    if (list === undefined) {
      list = [];
      byLabel.set(label, list);
    }
    list.push({
      historyId: op.id,
      input: prepared.input,
      output: prepared.output,
      callPosition: op.invokeIndex,
      returnPosition: op.completeIndex,
      required: op.status !== "info",
    });
  }
  // Smallest first; ties by label so the schedule does not depend on Map order.
  const partitions = [...byLabel.entries()]
    .map(([label, operations]) => ({ label, operations }))
    .sort((a, b) => a.operations.length - b.operations.length || (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
  return { partitions, droppedCount };
}

function prepareOne<State, Input, Output>(history: History, model: Model<State, Input, Output>, op: Operation) {
  try {
    return model.prepare(op);
  } catch (error) {
    if (error instanceof ModelInputError) {
      throw new BadInputError(history.file, op.invokeLine ?? 0, 0, `${error.message} (model ${model.name}, process ${op.process})`);
    }
    throw error;
  }
}

/** Checks a history for linearizability against a model. Throws BadInputError for operations the model cannot read. */
export function checkHistory<State, Input, Output>(history: History, model: Model<State, Input, Output>, options: CheckOptions = {}): CheckResult {
  const resources = options.resources;
  assert(options.timeoutMs === undefined || resources !== undefined, "a time budget needs the process's clock (CheckOptions.resources)");
  const started = resources === undefined ? 0 : resources.nowMs();
  const deadline = options.timeoutMs === undefined ? Infinity : started + options.timeoutMs;
  const stepLimit = options.stepLimit ?? Infinity;
  const memoryBudget = options.memoryBudgetBytes ?? DEFAULT_MEMORY_BUDGET_BYTES;
  const sliceSteps = options.sliceSteps ?? DEFAULT_SLICE_STEPS;
  const heapLimitBytes = resources === undefined ? Infinity : resources.heapLimitBytes * HEAP_SHARE_MAX;
  assert(sliceSteps > 0, "a slice has at least one step");
  const { partitions, droppedCount } = preparePartitions(history, model, options.partition ?? true);

  // Searches are created on their first turn and dropped when they finish, so a history
  // of many small partitions never holds the tables of all of them at once.
  const searches: Array<PartitionSearch<State, Input, Output> | undefined> = partitions.map(() => undefined);
  const results: Array<PartitionResult | undefined> = partitions.map(() => undefined);
  let totalSteps = 0;
  let trackedBytes = 0;
  let illegalPartition: string | undefined;
  let reason: string | undefined;
  const searchOf = (i: number): PartitionSearch<State, Input, Output> => {
    let search = searches[i];
    if (search === undefined) {
      search = new PartitionSearch(model, partitions[i].operations, options.stateSizeBytes ?? 64);
      searches[i] = search;
      trackedBytes += search.sizeBytes;
    }
    return search;
  };

  const finish = (i: number): void => {
    const p = partitions[i];
    if (searches[i] === undefined && results[i] === undefined && illegalPartition === undefined && reason !== undefined) {
      // Never started before a budget ran out: nothing explored.
      results[i] = { label: p.label, operationIds: p.operations.map((op) => op.historyId), status: "unknown", longest: [], steps: 0, cacheEntries: 0, maxDepth: 0 };
      return;
    }
    const search = searchOf(i);
    const toIds = (seq: readonly number[]): number[] => seq.map((k) => p.operations[k].historyId);
    const base = { label: p.label, operationIds: p.operations.map((op) => op.historyId), steps: search.steps, cacheEntries: search.cacheEntries, maxDepth: search.maxDepth };
    switch (search.status) {
      case "ok":
        results[i] = { ...base, status: "ok", linearization: toIds(search.currentLinearization()) };
        break;
      case "illegal":
        results[i] = { ...base, status: "illegal", longest: search.longestPartial.map(toIds), stuck: stuckAfter(model, p.operations, search.longestPartial[0] ?? []) };
        break;
      case "running":
        results[i] = { ...base, status: "unknown", longest: search.longestPartial.map(toIds) };
        break;
    }
    trackedBytes -= search.sizeBytes;
    searches[i] = undefined;
  };

  // Round-robin: each round gives every active partition one slice; the active list is
  // rebuilt per round (removing from its middle would cost O(partitions) each time).
  let active: number[] = partitions.map((_, i) => i);
  let checksDue = 0;
  while (active.length > 0 && illegalPartition === undefined && reason === undefined) {
    const stillActive: number[] = [];
    for (let k = 0; k < active.length; k += 1) {
      const i = active[k];
      if (illegalPartition !== undefined || reason !== undefined) {
        stillActive.push(i);
        continue;
      }
      const search = searchOf(i);
      const stepsBefore = search.steps;
      const bytesBefore = search.sizeBytes;
      const slice = Math.min(sliceSteps, stepLimit - totalSteps);
      const status = slice > 0 ? search.run(slice) : search.status;
      const stepsRun = search.steps - stepsBefore;
      totalSteps += stepsRun;
      trackedBytes += search.sizeBytes - bytesBefore;
      if (status === "running") stillActive.push(i);
      else {
        finish(i);
        if (status === "illegal") illegalPartition = partitions[i].label;
      }
      // Budgets are checked once per BUDGET_CHECK_STEPS steps (or after a long slice),
      // so a history of many tiny partitions does not pay for a check after each one.
      checksDue += stepsRun + 1;
      if (checksDue < BUDGET_CHECK_STEPS && stepsRun < sliceSteps) continue;
      checksDue = 0;
      if (totalSteps >= stepLimit) reason = `step budget of ${stepLimit} steps used up`;
      else if (resources !== undefined && resources.nowMs() > deadline) reason = `time budget of ${options.timeoutMs} ms used up`;
      else if (trackedBytes > memoryBudget) reason = `memory budget of ${memoryBudget} bytes used up (search tables ${trackedBytes} bytes)`;
      else if (resources !== undefined) {
        const heapUsed = resources.heapUsedBytes();
        if (heapUsed > heapLimitBytes) reason = `memory budget used up (JavaScript heap at ${heapUsed} bytes, over ${HEAP_SHARE_MAX} of its limit)`;
      }
    }
    active = stillActive;
    if (active.length > 0 && illegalPartition === undefined && reason === undefined && totalSteps >= stepLimit) reason = `step budget of ${stepLimit} steps used up`;
  }
  for (const i of active) {
    if (illegalPartition === undefined) finish(i);
    else {
      const p = partitions[i];
      const s = searches[i];
      results[i] = { label: p.label, operationIds: p.operations.map((op) => op.historyId), status: "not-checked", steps: s?.steps ?? 0, cacheEntries: s?.cacheEntries ?? 0, maxDepth: s?.maxDepth ?? 0 };
    }
  }
  const verdict: Verdict = illegalPartition !== undefined ? "illegal" : reason !== undefined ? "unknown" : "ok";
  const finalResults = results.map((r) => {
    assert(r !== undefined, "every partition has a result");
    return r;
  });
  return {
    verdict,
    model: model.name,
    partitions: finalResults,
    ...(illegalPartition !== undefined ? { illegalPartition } : {}),
    ...(reason !== undefined ? { reason } : {}),
    operationCount: partitions.reduce((sum, p) => sum + p.operations.length, 0),
    droppedCount,
    steps: totalSteps,
    elapsedMs: resources === undefined ? 0 : resources.nowMs() - started,
  };
}

/** The operations that could be next after `prefix` (indices into ops), and why each cannot. */
function stuckAfter<State, Input, Output>(model: Model<State, Input, Output>, ops: readonly SearchOperation<Input, Output>[], prefix: readonly number[]): StuckOperation[] {
  let state = model.init();
  const done = new Set<number>();
  for (const k of prefix) {
    const nextState = model.step(state, ops[k].input, ops[k].output);
    assert(nextState !== undefined, "a partial linearization replays");
    state = nextState;
    done.add(k);
  }
  let earliestReturn = Infinity;
  ops.forEach((op, k) => {
    if (!done.has(k) && op.returnPosition < earliestReturn) earliestReturn = op.returnPosition;
  });
  const stuck: StuckOperation[] = [];
  ops.forEach((op, k) => {
    if (done.has(k) || op.callPosition >= earliestReturn) return;
    const allowed = model.step(state, op.input, op.output) !== undefined;
    stuck.push({ operationId: op.historyId, reason: allowed ? "dead-end" : "not-allowed" });
  });
  return stuck;
}

/** Replays a (partial) linearization: the state before and after each operation, described. */
export function describeLinearization<State, Input, Output>(
  history: History,
  model: Model<State, Input, Output>,
  operationIds: readonly number[],
): Array<{ operationId: number; operation: string; before: string; after: string }> {
  let state = model.init();
  const out: Array<{ operationId: number; operation: string; before: string; after: string }> = [];
  for (const id of operationIds) {
    const prepared = prepareOne(history, model, history.operations[id]);
    assert(prepared !== "drop", "a linearized operation was not dropped");
    const nextState = model.step(state, prepared.input, prepared.output);
    assert(nextState !== undefined, "a linearization replays");
    out.push({ operationId: id, operation: model.describeOperation(prepared.input, prepared.output), before: model.describeState(state), after: model.describeState(nextState) });
    state = nextState;
  }
  return out;
}
