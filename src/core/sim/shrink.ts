// Shrinking a failing run (docs/SIMULATION.md, "Shrinking"): from any failing run's options, a
// smaller run that still fails with the same property. The run is first pinned to its recorded fault
// schedule (fault-schedule.ts), then cut down in passes, each candidate kept only if it still fails
// with that property: a shorter simulated time, fewer nodes (their faults dropped with them), no
// operator, fewer clients, failpoints switched off one by one, and the schedule's faults removed by
// delta debugging (ddmin: halves, quarters, ..., then one by one). Deterministic: the candidates and
// their order depend only on the options and the results, and the only thing outside them is the
// caller's `keepGoing` (a wall-time budget, from the shell), which can only end the search early.
// Every attempt counts against `attemptsMax`.

import { assert } from "../assert.ts";
import { faultEventCount, restrictFaultSchedule, type FaultEvent } from "./fault-schedule.ts";
import { runSimulation, type SimulationOptions, type SimulationResult } from "./simulation.ts";
import { defaultWorkloadOptions } from "./workload.ts";

export const SHRINK_ATTEMPTS_MAX = 10_000;
/** Passes over every dimension: each pass that shrinks nothing ends the search, so this is a bound, rarely reached. */
const SHRINK_PASSES_MAX = 8;

export interface RunSize {
  readonly nodes: number;
  readonly clients: number;
  /** Client operations invoked (key-value and operator). */
  readonly operations: number;
  /** Faults the nemesis inflicted (fault-schedule.ts events other than "none"), plus failpoints switched on. */
  readonly faults: number;
  readonly simulatedUs: number;
}

export interface ShrinkBudget {
  readonly attemptsMax: number;
  /** Asked before each attempt; false ends the search with the smallest run so far (the shell's wall-time budget). */
  readonly keepGoing?: () => boolean;
}

export interface ShrinkOutcome {
  readonly property: string;
  /** The shrunk run's options: replaying them (with their faultSchedule) fails with `property`. */
  readonly options: SimulationOptions;
  readonly result: SimulationResult;
  readonly originalSize: RunSize;
  readonly shrunkSize: RunSize;
  readonly attempts: number;
  /** Why the search ended: nothing smaller failed, or a budget ran out. */
  readonly stopped: "minimal" | "attempts" | "time";
}

export function runSize(options: SimulationOptions, result: SimulationResult): RunSize {
  const clients = options.workload?.clientCount ?? defaultWorkloadOptions.clientCount;
  const failpoints = Object.values(options.failpoints ?? {}).filter((probability) => probability > 0).length;
  return {
    nodes: options.nodeCount,
    clients: clients + (result.admin === undefined ? 0 : 1),
    operations: result.operations.invoked + (result.admin === undefined ? 0 : result.admin.sent),
    faults: faultEventCount(result.faultSchedule) + failpoints,
    simulatedUs: result.simulatedUs,
  };
}

/**
 * Test harness only (docs/PLANTED-BUGS.md): the shrinker's planted bug and a stand-in for
 * runSimulation, so a test can make a smaller candidate fail with another property.
 *   any-failure-counts: a candidate is kept whatever property it fails with (the shrunk run then
 *   reproduces some other bug; the postcondition "fails with the original property" must fire).
 */
export interface ShrinkHarness {
  readonly plantedBug?: "any-failure-counts";
  readonly run?: (options: SimulationOptions) => SimulationResult;
}

/** Strictly smaller: no dimension larger, and at least one smaller. */
export function smallerRun(a: RunSize, b: RunSize): boolean {
  const keys = ["nodes", "clients", "operations", "faults", "simulatedUs"] as const;
  return keys.every((key) => a[key] <= b[key]) && keys.some((key) => a[key] < b[key]);
}

/**
 * Shrinks a failing run. `options` must fail (its property is the one kept); a run with a
 * faultSchedule is taken as given, one without is pinned to the schedule it draws.
 */
export function shrinkRun(options: SimulationOptions, budget: ShrinkBudget, harness: ShrinkHarness = {}): ShrinkOutcome {
  assert(Number.isSafeInteger(budget.attemptsMax) && budget.attemptsMax >= 1 && budget.attemptsMax <= SHRINK_ATTEMPTS_MAX, "shrink attempts out of range");
  const run = harness.run ?? runSimulation;
  const { trace: _trace, reproduceCommand: _reproduce, ...base } = options;
  const first = run(base);
  assert(first.failure !== undefined, "only a failing run shrinks");
  const property = first.failure.property;
  const originalSize = runSize(base, first);
  let best: SimulationOptions = { ...base, faultSchedule: first.faultSchedule };
  let bestResult = first;
  let attempts = 1;
  let stopped: ShrinkOutcome["stopped"] = "minimal";

  /** Runs a candidate; keeps it when it fails with the property and is no larger. */
  const tryCandidate = (candidate: SimulationOptions): boolean => {
    if (stopped !== "minimal") return false;
    if (attempts >= budget.attemptsMax) {
      stopped = "attempts";
      return false;
    }
    if (budget.keepGoing !== undefined && !budget.keepGoing()) {
      stopped = "time";
      return false;
    }
    attempts++;
    const result = run(candidate);
    if (result.failure === undefined) return false;
    if (result.failure.property !== property && harness.plantedBug !== "any-failure-counts") return false;
    if (!smallerRun(runSize(candidate, result), runSize(best, bestResult))) return false;
    // The run replays from what it actually did: skipped events become "none", later dropped.
    best = { ...candidate, faultSchedule: result.faultSchedule };
    bestResult = result;
    return true;
  };

  for (let pass = 0; pass < SHRINK_PASSES_MAX && stopped === "minimal"; pass++) {
    const before = runSize(best, bestResult);
    shrinkDuration(() => best, () => bestResult, tryCandidate);
    shrinkCount(best.nodeCount, (nodeCount) => tryCandidate({ ...best, nodeCount, faultSchedule: restrictFaultSchedule(best.faultSchedule ?? [], nodeCount) }));
    if (best.admin !== undefined || best.profile.operator) tryCandidate({ ...best, admin: undefined, profile: { ...best.profile, operator: false } });
    const clients = best.workload?.clientCount ?? defaultWorkloadOptions.clientCount;
    shrinkCount(clients, (clientCount) => tryCandidate({ ...best, workload: { ...best.workload, clientCount } }));
    for (const name of Object.keys(best.failpoints ?? {}).sort()) {
      const failpoints = best.failpoints ?? {};
      if ((failpoints as Record<string, number>)[name] === 0) continue;
      tryCandidate({ ...best, failpoints: { ...failpoints, [name]: 0 } });
    }
    shrinkSchedule(() => best.faultSchedule ?? [], (faultSchedule) => tryCandidate({ ...best, faultSchedule }));
    if (!smallerRun(runSize(best, bestResult), before)) break;
  }
  const shrunkSize = runSize(best, bestResult);
  assert(bestResult.failure?.property === property, "the shrunk run fails with the original property");
  assert(!smallerRun(originalSize, shrunkSize), "shrinking never grows a run");
  return { property, options: best, result: bestResult, originalSize, shrunkSize, attempts, stopped };
}

/** Tries counts from 1 up to `current - 1` and keeps the first that fails: the smallest such count. */
function shrinkCount(current: number, attempt: (count: number) => boolean): void {
  for (let count = 1; count < current; count++) if (attempt(count)) return;
}

/**
 * Shorter runs: cut just after the failure (a safety failure stops the run there), then halves of the
 * duration. The nemesis's heal point stays where it was in simulated time (or at the new end).
 */
function shrinkDuration(best: () => SimulationOptions, result: () => SimulationResult, attempt: (candidate: SimulationOptions) => boolean): void {
  const withDuration = (durationMs: number): SimulationOptions => {
    const run = best();
    const healAtUs = Math.floor(run.durationMs * 1000 * run.profile.healAtFraction);
    return { ...run, durationMs, profile: { ...run.profile, healAtFraction: Math.min(1, healAtUs / (durationMs * 1000)) } };
  };
  const failedAtMs = Math.floor((result().failure?.simulatedTimeUs ?? 0) / 1000) + 1;
  if (failedAtMs < best().durationMs && attempt(withDuration(failedAtMs))) return;
  // Halves while they fail: at most log2 of the duration attempts.
  while (best().durationMs >= 2 && attempt(withDuration(Math.floor(best().durationMs / 2))));
}

/**
 * Delta debugging over the schedule's faults (Zeller's ddmin, complements only): try without each
 * of n chunks; on success keep the smaller schedule and coarsen, else refine, down to single events.
 * The "none" steps go first, in one attempt: they only keep a replay's queue order exact.
 */
function shrinkSchedule(current: () => readonly FaultEvent[], attempt: (schedule: FaultEvent[]) => boolean): void {
  if (current().some((event) => event.kind === "none")) attempt(current().filter((event) => event.kind !== "none"));
  let chunks = 2;
  for (let rounds = 0; rounds < 64; rounds++) {
    const events = current();
    if (events.length === 0) return;
    const size = Math.ceil(events.length / Math.min(chunks, events.length));
    let removed = false;
    for (let start = 0; start < events.length; start += size) {
      if (attempt([...events.slice(0, start), ...events.slice(start + size)])) {
        removed = true;
        break;
      }
    }
    if (removed) chunks = Math.max(chunks - 1, 2);
    else if (size === 1) return;
    else chunks = Math.min(chunks * 2, events.length);
  }
}
