// Coverage-guided swarm (docs/SIMULATION.md, "Coverage"): steers later seeds' draws toward the
// coverage points (src/core/env/coverage-points.ts) that earlier runs reached rarely or never.
//
// It keeps, per on/off dimension of the draw (swarm-steer.ts) and per value, how many runs drew
// that value and, per point, how many of those runs reached it. A point's weight is inverse to how
// many runs reached it at all (never reached: no evidence, weight 0), so a value whose runs reached
// rare points scores high, and the score of a point falls as it becomes common. For each seed, half
// the dimensions (chosen by the seed's own "steer" PRNG stream) are steered: to the value tried
// fewer than GUIDE_EXPLORE_RUNS times when there is one (exploration), else to the value with the
// higher mean weight of points reached per run (exploitation), else left to the blind draw.
//
// Deterministic: the steer of a seed depends only on the runs recorded before it, in the order they
// were recorded (the VOPR records them in seed order, by rounds), and on the seed. Integer math only:
// weights are integers and scores are compared as cross products in BigInt.

import { assert } from "../assert.ts";
import { COVERAGE_POINT_NAMES, type CoveragePointName } from "../env/coverage-points.ts";
import { Prng } from "./prng.ts";
import type { Seed } from "./seed.ts";
import { SWARM_DIMENSIONS, type SwarmDimension, type SwarmDimensions, type SwarmSteer } from "./swarm-steer.ts";

/** A value of a dimension tried fewer times than this is tried next when its dimension is steered. */
export const GUIDE_EXPLORE_RUNS = 2;
/** The weight of a point reached by one run; a point reached by n runs weighs floor(this / n). */
const WEIGHT_RARE = 1_000_000;
/** Runs recorded at most (a batch's seeds are bounded far below). */
export const GUIDE_RUNS_MAX = 10_000_000;

export class CoverageGuide {
  private runs = 0;
  /** Per point: runs that reached it. */
  private readonly reachedRuns = new Map<CoveragePointName, number>();
  /** Per dimension, [false, true]: runs that had that value. */
  private readonly tried = new Map<SwarmDimension, [number, number]>();
  /** Per dimension, [false, true], per point: runs with that value that reached the point. */
  private readonly hits = new Map<SwarmDimension, [Map<CoveragePointName, number>, Map<CoveragePointName, number>]>();

  constructor(private readonly points: readonly CoveragePointName[] = COVERAGE_POINT_NAMES) {
    for (const point of points) this.reachedRuns.set(point, 0);
    for (const dimension of SWARM_DIMENSIONS) {
      this.tried.set(dimension, [0, 0]);
      this.hits.set(dimension, [new Map(points.map((p) => [p, 0])), new Map(points.map((p) => [p, 0]))]);
    }
  }

  get runsRecorded(): number {
    return this.runs;
  }

  /** One finished run: the values its draw had, and the points it reached (at least once). */
  record(dimensions: SwarmDimensions, reached: ReadonlySet<CoveragePointName>): void {
    assert(this.runs < GUIDE_RUNS_MAX, "the guide records a bounded number of runs");
    this.runs += 1;
    for (const point of reached) {
      const before = this.reachedRuns.get(point);
      assert(before !== undefined, () => `a run reached ${point}, which the guide does not know`);
      this.reachedRuns.set(point, before + 1);
    }
    for (const dimension of SWARM_DIMENSIONS) {
      const value = dimensions[dimension] ? 1 : 0;
      this.tried.get(dimension)![value] += 1;
      const hits = this.hits.get(dimension)![value];
      for (const point of reached) hits.set(point, hits.get(point)! + 1);
    }
  }

  /** The steer for `seed`'s draw, from the runs recorded so far (no runs: no steer, the blind draw). */
  steerFor(seed: Seed): SwarmSteer {
    const steer: Partial<Record<SwarmDimension, boolean>> = {};
    if (this.runs === 0) return steer;
    const prng = Prng.stream(seed, "steer");
    for (const dimension of SWARM_DIMENSIONS) {
      if (prng.intBelow(2) === 0) continue;
      const [triedOff, triedOn] = this.tried.get(dimension)!;
      if (triedOff < GUIDE_EXPLORE_RUNS || triedOn < GUIDE_EXPLORE_RUNS) {
        steer[dimension] = triedOn <= triedOff;
        continue;
      }
      const [hitsOff, hitsOn] = this.hits.get(dimension)!;
      // Mean weight per run: scoreOn / triedOn against scoreOff / triedOff, compared as cross products.
      const on = BigInt(this.score(hitsOn)) * BigInt(triedOff);
      const off = BigInt(this.score(hitsOff)) * BigInt(triedOn);
      if (on !== off) steer[dimension] = on > off;
    }
    assert(Object.keys(steer).length <= SWARM_DIMENSIONS.length, "at most one value per dimension");
    return steer;
  }

  /** Sum over points of (runs with the value that reached it) times the point's weight. */
  private score(hits: ReadonlyMap<CoveragePointName, number>): number {
    let total = 0;
    for (const point of this.points) {
      const reachedRuns = this.reachedRuns.get(point)!;
      if (reachedRuns === 0) continue;
      total += hits.get(point)! * Math.floor(WEIGHT_RARE / reachedRuns);
    }
    assert(Number.isSafeInteger(total), "a guide score is a safe integer");
    return total;
  }
}
