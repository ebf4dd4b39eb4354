// npm run bench:vopr-coverage — coverage-guided swarm against blind drawing in the same budget: for
// several disjoint seed ranges, the same seeds run blind and --guided (safety mode, no shrinking),
// and the report counts the coverage points (src/core/env/coverage-points.ts) each reached, and how
// many seeds reached the points that were rare. Prints figures; asserts nothing (docs/SIMULATION.md,
// "Coverage", records them with the load average they came from).
//
// BLIXARD_BENCH_SEEDS (default 32) seeds per range, BLIXARD_BENCH_RANGES (default 3) ranges starting
// at 1, 100001, 200001, ..., BLIXARD_BENCH_JOBS (default 2) threads.

import { loadavg } from "node:os";
import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseVoprArguments, runVoprCommand } from "../src/shell/cli/vopr-command.ts";
import type { PointCoverage } from "../src/shell/cli/vopr-coverage.ts";

const seeds = Number(process.env.BLIXARD_BENCH_SEEDS ?? 32);
const ranges = Number(process.env.BLIXARD_BENCH_RANGES ?? 3);
const jobs = process.env.BLIXARD_BENCH_JOBS ?? "2";
const dir = mkdtempSync(join(tmpdir(), "vopr-coverage-bench-"));

interface Outcome {
  readonly reached: number;
  readonly total: number;
  readonly never: readonly string[];
  readonly points: readonly PointCoverage[];
  readonly wallS: number;
}

async function batch(first: number, guided: boolean): Promise<Outcome> {
  const file = join(dir, `${first}-${guided ? "guided" : "blind"}.json`);
  const parsed = parseVoprArguments({ seeds: String(seeds), first: String(first), mode: "safety", jobs, shrinkAttempts: "0", runsDir: dir, coverage: file, guided });
  const startedMs = performance.now();
  await runVoprCommand(parsed, () => {});
  const report = JSON.parse(readFileSync(file, "utf8")) as { points: PointCoverage[]; neverReached: string[]; pointsReached: number };
  return { reached: report.pointsReached, total: report.points.length, never: report.neverReached, points: report.points, wallS: (performance.now() - startedMs) / 1000 };
}

console.log(`vopr coverage: ${ranges} ranges of ${seeds} seeds, blind then guided, ${jobs} threads; load average at start ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
let blindSum = 0;
let guidedSum = 0;
try {
  for (let range = 0; range < ranges; range++) {
    const first = 1 + range * 100_000;
    const blind = await batch(first, false);
    const guided = await batch(first, true);
    blindSum += blind.reached;
    guidedSum += guided.reached;
    // The points fewer than a quarter of the blind seeds reached: how often each mode reached them.
    const rare = blind.points.filter((point) => point.seeds * 4 < seeds).map((point) => point.name);
    const seedsOn = (outcome: Outcome): number => outcome.points.filter((point) => rare.includes(point.name)).reduce((sum, point) => sum + point.seeds, 0);
    console.log(
      `seeds ${first}..${first + seeds - 1}: blind ${blind.reached}/${blind.total} points (${blind.wallS.toFixed(1)} s), guided ${guided.reached}/${guided.total} (${guided.wallS.toFixed(1)} s); ` +
        `${rare.length} points rare blind, reached by ${seedsOn(blind)} blind seeds in all and ${seedsOn(guided)} guided`,
    );
    console.log(`  never blind: ${blind.never.join(", ") || "none"}`);
    console.log(`  never guided: ${guided.never.join(", ") || "none"}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(`mean points reached: blind ${(blindSum / ranges).toFixed(1)}, guided ${(guidedSum / ranges).toFixed(1)}; load average at end ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
