// Whole-cluster runs with every bug off: random seeds, profiles and cluster sizes
// (fast-check, with a fixed seed of its own so the suite is repeatable) must keep every
// safety property; faults are really injected; the cluster recovers after healing.

import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { runSimulation } from "../../../src/core/sim/simulation.ts";
import { FAULT_PROFILES, type FaultKind } from "../../../src/core/sim/fault-profile.ts";
import { seedFromBigInt, seedFromNumber } from "../../../src/core/sim/seed.ts";
import { KvStateMachine } from "../../../src/core/replica/kv-state-machine.ts";
import { AssertionFailure } from "../../../src/core/assert.ts";

describe("simulation", () => {
  test("random seeds, profiles and sizes keep every safety property", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        fc.constantFrom("standard", "heavy", "elections", "deposed-leader"),
        fc.constantFrom(1, 3, 4, 5),
        (seed, profile, nodeCount) => {
          const result = runSimulation({ seed: seedFromBigInt(seed), nodeCount, durationMs: 4_000, profile: FAULT_PROFILES[profile]! });
          assert.equal(result.failure, undefined, `${result.failure?.property}: ${result.failure?.message} (${result.failure?.reproduce})`);
          assert.ok(result.events > 0);
        },
      ),
      { seed: 20261126, numRuns: 12 },
    );
  });

  test("a standard run injects every kind of fault, elects leaders, serves clients and recovers after healing", () => {
    // Seed 14: a schedule with every fault kind, and both crash kinds, since crash kinds are drawn too.
    const result = runSimulation({ seed: seedFromNumber(14), nodeCount: 5, durationMs: 60_000, profile: FAULT_PROFILES.standard! });
    assert.equal(result.failure, undefined, result.failure?.message);
    // Every kind the profile enables (disk-full has its own profile, test/core/sim/disk-full.test.ts).
    for (const [kind, count] of Object.entries(result.faults)) assert.ok(count > 0 || FAULT_PROFILES.standard!.weights[kind as FaultKind] === 0, `no ${kind} injected`);
    assert.ok(result.crashes > 0 && result.disk.crashes > 0);
    assert.ok(result.network.lost > 0 && result.network.duplicated > 0 && result.network.droppedByPartition > 0);
    assert.ok(result.leaders.length >= 2, "leadership changed at least once");
    assert.ok(result.operations.ok > 100 && result.readsChecked > 50);
    assert.ok(result.recovered, "no operation succeeded after healing");
    assert.equal(result.simulatedUs, 60_000_000);
  });

  test("a healthy cluster elects one leader and loses nothing", () => {
    const result = runSimulation({ seed: seedFromNumber(3), nodeCount: 3, durationMs: 10_000, profile: FAULT_PROFILES.none! });
    assert.equal(result.failure, undefined);
    assert.equal(result.leaders.length, 1);
    assert.equal(result.operations.info, 0);
    assert.equal(result.network.lost + result.network.droppedByPartition, 0);
    assert.ok(result.committedIndex > 100);
  });

  test("the history is well formed: every completion follows its invocation, one operation per process", () => {
    const { history } = runSimulation({ seed: seedFromNumber(4), nodeCount: 5, durationMs: 10_000, profile: FAULT_PROFILES.heavy! });
    const open = new Map<number, string>();
    let lastTime = 0;
    for (const event of history) {
      assert.ok(event.time >= lastTime, "history time goes forward");
      lastTime = event.time;
      if (event.type === "invoke") {
        assert.ok(!open.has(event.process), `process ${event.process} invoked twice`);
        open.set(event.process, event.f);
      } else {
        assert.equal(open.get(event.process), event.f);
        open.delete(event.process);
      }
    }
    assert.equal(open.size, 0, "every operation was closed at the end of the run");
  });

  test("an assertion failure inside node code is reported with its seed, time and reproduce command", () => {
    const original = KvStateMachine.prototype.apply;
    KvStateMachine.prototype.apply = function (index, command) {
      if (index >= 50) throw new AssertionFailure(`planted by the test at index ${index}`);
      return original.call(this, index, command);
    };
    try {
      const result = runSimulation({ seed: seedFromNumber(8), nodeCount: 3, durationMs: 10_000, profile: FAULT_PROFILES.none! });
      assert.equal(result.failure?.property, "No Assertion Failure");
      assert.match(result.failure!.message, /planted by the test at index 50/);
      assert.equal(result.failure!.seed, "8");
      assert.ok(result.failure!.simulatedTimeUs > 0 && result.failure!.simulatedTimeUs < 10_000_000);
      assert.equal(result.failure!.reproduce, "npx blixard sim --seed 8 --nodes 3 --time 10000ms --faults none");
    } finally {
      KvStateMachine.prototype.apply = original;
    }
  });
});
