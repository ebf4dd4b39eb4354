// The linearizability check runs inside every runSimulation (linearizability-check.ts): histories
// of clean runs are linearizable under the kv model, the history of a run stopped by "No Stale
// Read" (a planted bug) is not, an exhausted step budget is "unknown" (never a pass), and the
// run's verdict agrees with the checker called directly on the same history.

import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { checkKvEvents } from "../../../src/core/check/index.ts";
import { runSimulation } from "../../../src/core/sim/simulation.ts";
import { FAULT_PROFILES } from "../../../src/core/sim/fault-profile.ts";
import { seedFromNumber } from "../../../src/core/sim/seed.ts";
import { PLANTED_BUG_CONFIGS } from "./planted-bug-configs.ts";

describe("every run checks its history for linearizability", () => {
  for (const [profile, seed] of [
    ["standard", 1],
    ["heavy", 3], // seed 2's schedule leaves fewer than 100 history events since heavy's links run at 100 Mbit/s to 1 Gbit/s
    ["deposed-leader", 3],
  ] as const) {
    test(`a clean ${profile} run is linearizable, and says so in its result`, () => {
      const result = runSimulation({ seed: seedFromNumber(seed), nodeCount: 5, durationMs: 15_000, profile: FAULT_PROFILES[profile]! });
      assert.equal(result.failure, undefined);
      assert.ok(result.history.length > 50, `${result.history.length} history events`);
      assert.equal(result.linearizability.verdict, "ok");
      assert.ok(result.linearizability.operations > 20 && result.linearizability.keys > 0 && result.linearizability.steps > 0);
      assert.equal(checkKvEvents(result.history, { stepLimit: result.linearizability.stepLimit }).verdict, "ok");
    });
  }

  test("a run stopped by No Stale Read has a history that is not linearizable", () => {
    const config = PLANTED_BUG_CONFIGS.find((c) => c.bug === "read-index-without-quorum")!;
    let checked = 0;
    for (const seed of config.seeds) {
      const result = runSimulation({ ...config.options(seed), plantedBugs: new Set([config.bug]) });
      if (result.failure?.property !== "No Stale Read") continue;
      // The first failure stays the one reported; the history check agrees.
      assert.equal(result.linearizability.verdict, "illegal", `seed ${seed}`);
      assert.equal(checkKvEvents(result.history, { stepLimit: 5_000_000 }).verdict, "illegal", `seed ${seed}`);
      checked++;
      break;
    }
    assert.equal(checked, 1);
  });

  test("an exhausted step budget is unknown, not a pass, and not a failure", () => {
    const result = runSimulation({ seed: seedFromNumber(1), nodeCount: 5, durationMs: 15_000, profile: FAULT_PROFILES.standard!, linearizabilityStepLimit: 1 });
    assert.equal(result.linearizability.verdict, "unknown");
    assert.ok(result.linearizability.reason !== undefined && result.linearizability.reason.length > 0);
    assert.equal(result.failure, undefined);
  });
});
