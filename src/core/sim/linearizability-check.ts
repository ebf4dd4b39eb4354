// The end-of-run checks of a simulation: is the whole client history linearizable under the
// key-value model, and the orchestrator users' history under the VM registry model
// (src/core/check: Wing-Gong/Lowe search per key, P-compositionality)? They run in every
// runSimulation, so every test and fuzzer built on it gets them.
//
// The budget is a count of search steps, never wall time, so the verdict is as reproducible as
// the run. Three answers, never a guess: "ok" (a linearization was found for every key),
// "illegal" (some key has none: the run fails with property Linearizability), "unknown" (the
// budget ran out: reported as unknown, never as a pass).

import { BadInputError, buildHistory, checkHistory, kvModel, type CheckResult, type FailSemantics, type History as CheckedHistory, type OpEvent, type SomeModel } from "../check/index.ts";
import { vmRegistryModel } from "../check/models/vm-registry.ts";
import { DEFAULT_FAIL_SEMANTICS } from "../check/formats/detect.ts";
import { assert } from "../assert.ts";

/**
 * Search steps per run, over all keys, in runSimulation (so in every test and fuzzer run). A clean
 * 60 s standard run needs a few thousand; a million (under a second) leaves two orders of
 * magnitude before answering unknown, and bounds what a hostile history (hundreds of concurrent
 * operations of unknown outcome on one key) can add to a run.
 */
export const LINEARIZABILITY_STEP_LIMIT = 1_000_000;

/** The CLI's budget: one run, a person waiting for it, so twenty times the search. */
export const LINEARIZABILITY_STEP_LIMIT_CLI = 20_000_000;

export type LinearizabilityVerdict = "ok" | "illegal" | "unknown";

export interface LinearizabilitySummary {
  readonly verdict: LinearizabilityVerdict;
  /** illegal: the key with no linearization. */
  readonly illegalKey: string | undefined;
  /** unknown: which budget ran out, or why the history could not be read. */
  readonly reason: string | undefined;
  readonly operations: number;
  readonly keys: number;
  readonly steps: number;
  readonly stepLimit: number;
  /** The history could not be read as one (a simulator or protocol bug: the run reports "Client Protocol"). */
  readonly malformed: boolean;
}

/** The summary, plus what the HTML report needs (the built history, the model, the full result). */
export interface LinearizabilityCheck {
  readonly summary: LinearizabilitySummary;
  /** Undefined when the history could not be read as a history (then the summary says why). */
  readonly detail: { readonly history: CheckedHistory; readonly model: SomeModel; readonly result: CheckResult } | undefined;
}

/** Which model judges a history, and how its `fail` completions read. */
export interface CheckedModel {
  readonly model: SomeModel;
  readonly failSemantics: FailSemantics;
}

/** The key-value workload's history: the kv model; a failed cas is a failed compare (JSON lines' rule). */
export function kvChecked(): CheckedModel {
  return { model: kvModel(), failSemantics: DEFAULT_FAIL_SEMANTICS.jsonl };
}

/** The orchestrator users' history (registry-history.ts): the VM registry model; a fail is "certainly not applied". */
export function vmRegistryChecked(): CheckedModel {
  return { model: vmRegistryModel(), failSemantics: "no-effect" };
}

export function checkLinearizability(events: readonly OpEvent[], stepLimit: number = LINEARIZABILITY_STEP_LIMIT, checked: CheckedModel = kvChecked()): LinearizabilityCheck {
  assert(Number.isSafeInteger(stepLimit) && stepLimit > 0, "the step budget must be a positive integer");
  let history: CheckedHistory;
  try {
    history = buildHistory(events, { file: "<simulation>", failSemantics: checked.failSemantics });
  } catch (error) {
    // The workload records well-formed histories by construction (history.ts asserts it), so this
    // is a simulator bug; it is reported, never a pass.
    if (!(error instanceof BadInputError)) throw error;
    return {
      summary: { verdict: "unknown", illegalKey: undefined, reason: `the history is not well formed: ${error.message}`, operations: 0, keys: 0, steps: 0, stepLimit, malformed: true },
      detail: undefined,
    };
  }
  const model = checked.model;
  const result = checkHistory(history, model, { stepLimit });
  assert(result.verdict !== "illegal" || result.illegalPartition !== undefined, "an illegal verdict names its key");
  return {
    summary: {
      verdict: result.verdict,
      illegalKey: result.illegalPartition,
      reason: result.verdict === "unknown" ? (result.reason ?? `step budget of ${stepLimit} exhausted`) : undefined,
      operations: result.operationCount,
      keys: result.partitions.length,
      steps: result.steps,
      stepLimit,
      malformed: false,
    },
    detail: { history, model, result },
  };
}
