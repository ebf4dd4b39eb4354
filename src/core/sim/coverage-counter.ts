// Counts the core's coverage points (src/core/env/coverage-points.ts) in one simulation run: every
// node's Environment.reached is this one counter. Counting draws no randomness and writes no trace
// line, so a run's trace hash is the same as when nobody counts (the golden hashes prove it).

import { assert } from "../assert.ts";
import { COVERAGE_POINT_NAMES, isCoveragePointName, type CoverageHook, type CoveragePointName } from "../env/coverage-points.ts";

/** How often one run reached one point (0: never). */
export interface CoverageCount {
  readonly name: CoveragePointName;
  readonly reached: number;
}

export class CoverageCounter {
  private readonly counts = new Map<CoveragePointName, number>();

  constructor() {
    // Every catalogued point is counted from the start, so coverage lists the points never reached too.
    for (const name of COVERAGE_POINT_NAMES) this.counts.set(name, 0);
  }

  /** The Environment's `reached` for every node of the run (one function, not a closure per node). */
  readonly reached: CoverageHook = (name: CoveragePointName): void => {
    const count = this.counts.get(name);
    if (count === undefined) assert(false, `core code reached an uncatalogued coverage point ${JSON.stringify(name)} (src/core/env/coverage-points.ts)`);
    this.counts.set(name, count + 1);
  };

  /** Per point, in name order: how often the run reached it. */
  coverage(): CoverageCount[] {
    const out: CoverageCount[] = [];
    for (const name of COVERAGE_POINT_NAMES) {
      const reached = this.counts.get(name)!;
      assert(Number.isSafeInteger(reached) && reached >= 0, "a coverage count is a non-negative integer");
      assert(isCoveragePointName(name), "only catalogued points are counted");
      out.push({ name, reached });
    }
    return out;
  }
}
