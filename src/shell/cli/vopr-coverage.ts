// The VOPR's coverage report (docs/SIMULATION.md, "Coverage"): which coverage points
// (src/core/env/coverage-points.ts) a batch's runs reached, in how many seeds and how often in
// all, and which no run reached: a point never reached is a gap in the tests, not a success.
// Seeds are added in seed order, so the report is the same for the same batch whatever the
// threads' timing. `--coverage FILE` writes it as JSON (VoprCoverageFile); `blixard vopr merge`
// adds shards' files together.

import { assert } from "../../core/assert.ts";
import { COVERAGE_POINT_NAMES, COVERAGE_POINTS } from "../../core/env/coverage-points.ts";

export interface PointCoverage {
  readonly name: string;
  readonly description: string;
  /** Seeds whose run reached the point at least once. */
  readonly seeds: number;
  /** Times it was reached, over every seed. */
  readonly reached: number;
}

export class CoverageTally {
  private seedsAdded = 0;
  private readonly seeds = new Map<string, number>();
  private readonly reached = new Map<string, number>();

  /** `points`: the catalogue reported against (the tests add a planted point no code reaches). */
  constructor(private readonly points: readonly string[] = COVERAGE_POINT_NAMES) {
    assert(new Set(points).size === points.length, "a point is listed once");
    for (const name of points) {
      this.seeds.set(name, 0);
      this.reached.set(name, 0);
    }
  }

  get seedCount(): number {
    return this.seedsAdded;
  }

  /** One seed's coverage (a VoprSeedReport's: point name to times reached, only points reached). */
  add(coverage: Readonly<Record<string, number>>): void {
    this.seedsAdded += 1;
    for (const [name, times] of Object.entries(coverage)) {
      assert(Number.isSafeInteger(times) && times > 0, () => `point ${name}: reached ${times} times`);
      const seeds = this.seeds.get(name);
      assert(seeds !== undefined, () => `a run reached ${name}, which is not in the catalogue`);
      this.seeds.set(name, seeds + 1);
      this.reached.set(name, this.reached.get(name)! + times);
    }
  }

  /** Adds another tally's counts (a shard's report): the same catalogue only. */
  addTally(points: readonly PointCoverage[], seedCount: number): void {
    assert(points.length === this.points.length && points.every((point, i) => point.name === this.points[i]), "merged coverage has the same catalogue");
    this.seedsAdded += seedCount;
    for (const point of points) {
      this.seeds.set(point.name, this.seeds.get(point.name)! + point.seeds);
      this.reached.set(point.name, this.reached.get(point.name)! + point.reached);
    }
  }

  /** Per point, in catalogue (name) order. */
  summary(): PointCoverage[] {
    return this.points.map((name) => ({ name, description: describe(name), seeds: this.seeds.get(name)!, reached: this.reached.get(name)! }));
  }

  reachedCount(): number {
    return this.points.filter((name) => this.seeds.get(name)! > 0).length;
  }

  neverReached(): string[] {
    return this.points.filter((name) => this.seeds.get(name)! === 0);
  }

  /** "coverage 19/25 points" for the progress line. */
  progress(): string {
    return `coverage ${this.reachedCount()}/${this.points.length} points`;
  }

  /** The report's coverage block: one line per point, then the points never reached. */
  lines(): string[] {
    const never = this.neverReached();
    const out = [`coverage  ${this.reachedCount()} of ${this.points.length} points reached in ${plural(this.seedsAdded, "seed")}${never.length === 0 ? "" : `, ${never.length} never (NEVER below)`}`];
    const width = Math.max(...this.points.map((name) => name.length));
    for (const point of this.summary()) {
      out.push(point.seeds === 0 ? `  NEVER    ${point.name}` : `  reached  ${point.name.padEnd(width)}  ${plural(point.seeds, "seed")}, ${plural(point.reached, "time")}`);
    }
    assert(out.length === this.points.length + 1, "one line per point and a heading");
    return out;
  }
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

function describe(name: string): string {
  return Object.hasOwn(COVERAGE_POINTS, name) ? COVERAGE_POINTS[name as keyof typeof COVERAGE_POINTS] : "(not in the catalogue)";
}
