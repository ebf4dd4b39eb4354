import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { runSimulation, type SimulationOptions } from "../../../src/core/sim/simulation.ts";
import { FAULT_PROFILES } from "../../../src/core/sim/fault-profile.ts";
import { isSeed, parseSeed, seedFromNumber, type Seed } from "../../../src/core/sim/seed.ts";

function options(seed: Seed, profile = "standard"): SimulationOptions {
  return { seed, nodeCount: 5, durationMs: 5_000, profile: FAULT_PROFILES[profile]! };
}

describe("determinism", () => {
  test("the same seed twice gives the same trace hash and the same history", () => {
    const a = runSimulation(options(seedFromNumber(7)));
    const b = runSimulation(options(seedFromNumber(7)));
    assert.equal(a.failure, undefined);
    assert.ok(a.events > 1000, `only ${a.events} events`);
    assert.ok(a.operations.ok > 0, "the workload made progress");
    assert.equal(a.traceHash, b.traceHash);
    assert.equal(a.events, b.events);
    assert.deepEqual(a.history, b.history);
  });

  test("different seeds give different trace hashes", () => {
    const hashes = new Set([1, 2, 3, 4].map((n) => runSimulation(options(seedFromNumber(n))).traceHash));
    assert.equal(hashes.size, 4);
  });

  test("a commit hash works as a seed, repeatably, and differs from numeric seeds", () => {
    const seed = parseSeed("d1e5f0c0ffee0123456789abcdef0123456789ab");
    assert.ok(isSeed(seed));
    const a = runSimulation(options(seed));
    const b = runSimulation(options(seed));
    assert.equal(a.failure, undefined);
    assert.equal(a.traceHash, b.traceHash);
    assert.notEqual(a.traceHash, runSimulation(options(seedFromNumber(1))).traceHash);
  });

  test("the event trace itself is identical across runs, and tracing does not change the run", () => {
    const first: string[] = [];
    const second: string[] = [];
    const a = runSimulation({ ...options(seedFromNumber(5)), trace: (line) => first.push(line) });
    const b = runSimulation({ ...options(seedFromNumber(5)), trace: (line) => second.push(line) });
    const untraced = runSimulation(options(seedFromNumber(5)));
    assert.ok(first.length > 1000);
    assert.deepEqual(first, second);
    assert.equal(a.traceHash, b.traceHash);
    assert.equal(a.traceHash, untraced.traceHash);
  });
});
