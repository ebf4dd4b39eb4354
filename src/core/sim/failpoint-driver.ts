// Drives the core's failpoints (src/core/env/failpoints.ts) in one simulation run: each named
// point fires with its own probability, drawn from the run's "failpoints" PRNG stream, so one
// seed replays the same firings and no other stream shifts when a probability changes.
// Probabilities come from the run's options or its fault profile; a point without one never
// fires (the default: off). Every evaluation is counted, fired or not, and the run's result
// reports both per point: coverage for a fuzzer that aims at the points no run reaches.
//
// Decisions are integer draws (parts per million), the same on every engine.

import { assert } from "../assert.ts";
import type { Failpoint, Random } from "../env/environment.ts";
import { FAILPOINT_NAMES, isFailpointName, type FailpointName } from "../env/failpoints.ts";

/** Per-point probability of firing at one evaluation, in [0, 1]. */
export type FailpointProbabilities = Readonly<Partial<Record<FailpointName, number>>>;

export interface FailpointCoverage {
  readonly name: FailpointName;
  readonly probability: number;
  readonly evaluated: number;
  readonly fired: number;
}

const PARTS_PER_MILLION = 1_000_000;

interface PointState {
  readonly partsPerMillion: number;
  evaluated: number;
  fired: number;
}

export class FailpointDriver {
  private readonly points = new Map<string, PointState>();

  constructor(
    private readonly random: Random,
    private readonly probabilities: FailpointProbabilities = {},
  ) {
    for (const name of Object.keys(probabilities)) assert(isFailpointName(name), () => `no failpoint ${JSON.stringify(name)} (src/core/env/failpoints.ts)`);
    // Every catalogued point is counted from the start, in sorted order, so coverage lists the points never evaluated too.
    for (const name of FAILPOINT_NAMES) {
      const probability = probabilities[name] ?? 0;
      assert(probability >= 0 && probability <= 1, () => `failpoint ${name}: probability ${probability} outside [0, 1]`);
      this.points.set(name, { partsPerMillion: Math.round(probability * PARTS_PER_MILLION), evaluated: 0, fired: 0 });
    }
  }

  /** The Environment's failpoint for every node of the run (one function, not a closure per node). */
  readonly failpoint: Failpoint = (name: string): boolean => {
    const point = this.points.get(name);
    if (point === undefined) assert(false, `core code evaluated an uncatalogued failpoint ${JSON.stringify(name)} (src/core/env/failpoints.ts)`);
    point.evaluated++;
    // An off point draws nothing: evaluating it costs no randomness, so the on points' firings do not depend on how often the off ones are reached.
    if (point.partsPerMillion === 0) return false;
    if (point.partsPerMillion < PARTS_PER_MILLION && this.random.intBelow(PARTS_PER_MILLION) >= point.partsPerMillion) return false;
    point.fired++;
    return true;
  };

  /** Per point, in name order: its probability, how often core code reached it, how often it fired. */
  coverage(): FailpointCoverage[] {
    const out: FailpointCoverage[] = [];
    for (const name of FAILPOINT_NAMES) {
      const point = this.points.get(name)!;
      assert(point.fired <= point.evaluated, "a failpoint fired more often than it was evaluated");
      out.push({ name, probability: this.probabilities[name] ?? 0, evaluated: point.evaluated, fired: point.fired });
    }
    return out;
  }
}
