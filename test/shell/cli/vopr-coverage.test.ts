// The VOPR's coverage report: points reached are counted per seed and in all, a point no run
// reaches is reported NEVER (planted: a catalogue with a point no code reaches), --coverage writes
// the same as JSON, and a guided batch is the same whatever the thread count, each steered seed
// reproducing alone from the --steer its line prints.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { COVERAGE_POINT_NAMES } from "../../../src/core/env/coverage-points.ts";
import { CoverageTally } from "../../../src/shell/cli/vopr-coverage.ts";
import { runVoprJob } from "../../../src/shell/cli/vopr-worker.ts";
import { runCli } from "../../support/run-cli.ts";

const PLANTED_UNREACHABLE = "planted/no-code-reaches-this";

describe("VOPR coverage report", { timeout: 120_000 }, () => {
  test("points reached are counted per seed and in all; a point no run reaches is NEVER", () => {
    const reports = [3, 4].map((seed) => runVoprJob({ seed: String(seed), mode: "safety", workload: "kv", plant: undefined }));
    const tally = new CoverageTally([...COVERAGE_POINT_NAMES, PLANTED_UNREACHABLE].sort());
    for (const report of reports) tally.add(report.coverage);
    const summary = tally.summary();
    for (const point of summary) {
      const seeds = reports.filter((report) => (report.coverage[point.name] ?? 0) > 0).length;
      const times = reports.reduce((sum, report) => sum + (report.coverage[point.name] ?? 0), 0);
      assert.equal(point.seeds, seeds, point.name);
      assert.equal(point.reached, times, point.name);
    }
    assert.ok(tally.reachedCount() > 0, "a run reaches some point");
    assert.ok(tally.neverReached().includes(PLANTED_UNREACHABLE), "the planted point is never reached");
    const lines = tally.lines();
    assert.ok(lines.includes(`  NEVER    ${PLANTED_UNREACHABLE}`), lines.join("\n"));
    assert.match(lines[0]!, new RegExp(`^coverage {2}${tally.reachedCount()} of ${COVERAGE_POINT_NAMES.length + 1} points reached in 2 seeds, \\d+ never`));
    assert.throws(() => tally.add({ "raft/not-a-point": 1 }), /not in the catalogue/);
  });

  test("--coverage writes the report as JSON, and a guided batch is the same on 1 and 2 threads", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vopr-coverage-"));
    try {
      const batch = (jobs: string, file: string) => runCli(["vopr", "--seeds", "9", "--guided", "--mode", "safety", "--workload", "kv", "--jobs", jobs, "--shrink-attempts", "0", "--coverage", join(dir, file)]);
      const [one, two] = [await batch("1", "one.json"), await batch("2", "two.json")];
      assert.equal(one.code, 0, one.stdout + one.stderr);
      assert.equal(two.code, 0, two.stdout + two.stderr);
      const stable = (stdout: string): string => stdout.split("\n").filter((line) => !line.startsWith("progress  ") && !line.startsWith("throughput  ") && !line.startsWith("coverage report written")).join("\n");
      assert.equal(stable(two.stdout), stable(one.stdout));
      const json = JSON.parse(readFileSync(join(dir, "one.json"), "utf8")) as { seedsRun: number; pointsReached: number; points: Array<{ name: string; seeds: number }>; neverReached: string[] };
      assert.deepEqual(JSON.parse(readFileSync(join(dir, "two.json"), "utf8")), json);
      assert.equal(json.seedsRun, 9);
      assert.deepEqual(json.points.map((point) => point.name), COVERAGE_POINT_NAMES);
      assert.deepEqual(json.neverReached, json.points.filter((point) => point.seeds === 0).map((point) => point.name));
      assert.match(one.stdout, new RegExp(`^coverage {2}${json.pointsReached} of ${COVERAGE_POINT_NAMES.length} points reached in 9 seeds`, "m"));
      // Seeds 1..8 are the first round (blind); 9 is steered by it, and reproduces alone.
      const lines = one.stdout.split("\n").filter((line) => line.startsWith("seed "));
      assert.equal(lines.length, 9);
      assert.ok(lines.slice(0, 8).every((line) => !line.includes("  steer ")), "the first round is blind");
      const steered = lines.slice(8).find((line) => line.includes("  steer "));
      assert.ok(steered !== undefined, lines.join("\n"));
      const [, seed, steer] = /^seed (\d+) .*  steer (\S+)$/.exec(steered)!;
      const alone = await runCli(["vopr", "--seed", seed!, "--steer", steer!, "--mode", "safety", "--workload", "kv", "--jobs", "1", "--shrink-attempts", "0"]);
      assert.equal(alone.code, 0, alone.stdout + alone.stderr);
      assert.ok(alone.stdout.split("\n").includes(steered), `${steered}\n${alone.stdout}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
