// Coverage points (src/core/env/coverage-points.ts): every catalogued point has a call site in core
// code, a simulation counts the points its nodes reach and lists every point (reached or not), and
// reaching a point is only counted, never an event.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { COVERAGE_POINT_NAMES, COVERAGE_POINTS } from "../../../src/core/env/coverage-points.ts";
import { CoverageCounter } from "../../../src/core/sim/coverage-counter.ts";
import { FAULT_PROFILES } from "../../../src/core/sim/fault-profile.ts";
import { seedFromNumber } from "../../../src/core/sim/seed.ts";
import { runSimulation } from "../../../src/core/sim/simulation.ts";

const SRC = resolve(import.meta.dirname, "../../../src");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : name.endsWith(".ts") ? [path] : [];
  });
}

describe("coverage points", () => {
  test("every catalogued point is reached somewhere in core code, and only catalogued points are", () => {
    const code = sourceFiles(join(SRC, "core"))
      .filter((path) => !path.endsWith("coverage-points.ts"))
      .map((path) => readFileSync(path, "utf8"))
      .join("\n");
    for (const name of COVERAGE_POINT_NAMES) assert.ok(code.includes(`reached("${name}")`) || code.includes(`reached?.("${name}")`), `no call site reaches ${name}`);
    const called = [...code.matchAll(/reached\??\.?\("([^"]+)"\)/g)].map((match) => match[1]!);
    for (const name of called) assert.ok(Object.hasOwn(COVERAGE_POINTS, name), `a call site reaches ${name}, which is not catalogued`);
    assert.ok(COVERAGE_POINT_NAMES.length >= 20, "at least 20 points");
  });

  test("the counter counts each point reached and lists the points never reached at zero", () => {
    const counter = new CoverageCounter();
    counter.reached("raft/snapshot-sent");
    counter.reached("raft/snapshot-sent");
    counter.reached("storage/torn-tail-repaired");
    const coverage = counter.coverage();
    assert.deepEqual(coverage.map((point) => point.name), COVERAGE_POINT_NAMES);
    assert.equal(coverage.find((point) => point.name === "raft/snapshot-sent")!.reached, 2);
    assert.equal(coverage.find((point) => point.name === "storage/torn-tail-repaired")!.reached, 1);
    assert.equal(coverage.filter((point) => point.reached === 0).length, COVERAGE_POINT_NAMES.length - 2);
    assert.throws(() => counter.reached("raft/no-such-point" as never), /uncatalogued coverage point/);
  });

  test("a simulation counts what its nodes reach: a healthy cluster serving reads answers ReadIndex", () => {
    const options = { seed: seedFromNumber(3), nodeCount: 3, durationMs: 5_000, profile: FAULT_PROFILES.none! };
    const result = runSimulation(options);
    assert.equal(result.failure, undefined);
    assert.deepEqual(result.coverage.map((point) => point.name), COVERAGE_POINT_NAMES);
    assert.ok(result.operations.ok > 0, "the clients were served");
    assert.ok(result.coverage.find((point) => point.name === "raft/read-index-answered")!.reached > 0, "reads went through ReadIndex");
    // No crash, no fault: nothing was torn, nothing was corrupt, nobody ran out of space.
    for (const name of ["storage/torn-tail-repaired", "storage/corrupt-store-detected", "replica/persist-refused-no-space"] as const) {
      assert.equal(result.coverage.find((point) => point.name === name)!.reached, 0, name);
    }
    // Counting is an observation: the same run again has the same trace and the same counts.
    const again = runSimulation(options);
    assert.equal(again.traceHash, result.traceHash);
    assert.deepEqual(again.coverage, result.coverage);
  });
});
