// The one shape of every planted-bug test: try the seeds in order with the bug on until a run
// fails; that first failure must be the expected property (and may be checked further); then
// the seed that caught it must pass with the bug off, so the failure is the bug's and not the
// seed's. (The seeds before it passed with the bug on; running them again with it off proves
// nothing more, and doubled the cost of the slowest scans.)
import assert from "node:assert/strict";
import type { SimulationFailure, SimulationResult } from "../../src/core/sim/simulation.ts";

export interface PlantedBugScan {
  /** The bug's name, for messages. */
  readonly bug: string;
  readonly seeds: readonly number[];
  /** The property the first failure must break (or one of several, where two checks see the same bug). */
  readonly property: string | readonly string[];
  /** One run of a seed, with the bug on or off. */
  readonly run: (seed: number, bugOn: boolean) => SimulationResult;
  /** Further checks of the failure that caught the bug. */
  readonly checkFailure?: (failure: SimulationFailure, seed: number) => void;
  /** Further checks of each bug-off run. */
  readonly checkBugOff?: (result: SimulationResult, seed: number) => void;
}

/** Runs the scan; returns the failure that caught the bug. */
export function expectPlantedBugCaught(scan: PlantedBugScan): SimulationFailure {
  assert.ok(scan.seeds.length > 0, "a scan needs seeds");
  let caught: SimulationFailure | undefined;
  let caughtBy = -1;
  for (const seed of scan.seeds) {
    const failure = scan.run(seed, true).failure;
    if (failure === undefined) continue;
    const expected: readonly string[] = typeof scan.property === "string" ? [scan.property] : scan.property;
    assert.ok(expected.includes(failure.property), `seed ${seed}: ${failure.property} (expected ${expected.join(" or ")}): ${failure.message}`);
    scan.checkFailure?.(failure, seed);
    caught = failure;
    caughtBy = seed;
    break;
  }
  assert.ok(caught !== undefined, `no seed of ${scan.seeds[0]}..${scan.seeds.at(-1)} caught ${scan.bug}`);
  const result = scan.run(caughtBy, false);
  assert.equal(result.failure, undefined, `bug off, seed ${caughtBy}: ${result.failure?.property}: ${result.failure?.message}`);
  scan.checkBugOff?.(result, caughtBy);
  return caught;
}
