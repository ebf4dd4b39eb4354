// Cross-check with the linearizability checker (src/core/check): histories of clean runs are
// linearizable under the kv model, and the history of a run stopped by "No Stale Read"
// (a planted bug) is not. This keeps the history format and the two checks in agreement.

import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { checkKvEvents } from "../../../src/core/check/index.ts";
import { runSimulation } from "../../../src/core/sim/simulation.ts";
import { FAULT_PROFILES } from "../../../src/core/sim/fault-profile.ts";
import { seedFromNumber } from "../../../src/core/sim/seed.ts";
import { PLANTED_BUG_CONFIGS } from "./planted-bug-configs.ts";

describe("histories and the linearizability checker", () => {
  for (const [profile, seed] of [
    ["standard", 1],
    ["heavy", 2],
    ["deposed-leader", 3],
  ] as const) {
    test(`a clean ${profile} run is linearizable`, () => {
      const result = runSimulation({ seed: seedFromNumber(seed), nodeCount: 5, durationMs: 15_000, profile: FAULT_PROFILES[profile]! });
      assert.equal(result.failure, undefined);
      assert.ok(result.history.length > 100);
      const check = checkKvEvents(result.history, { stepLimit: 5_000_000 });
      assert.equal(check.verdict, "ok");
    });
  }

  test("a run stopped by No Stale Read has a history that is not linearizable", () => {
    const config = PLANTED_BUG_CONFIGS.find((c) => c.bug === "read-index-without-quorum")!;
    let checked = 0;
    for (const seed of config.seeds) {
      const result = runSimulation({ ...config.options(seed), plantedBugs: new Set([config.bug]) });
      if (result.failure?.property !== "No Stale Read") continue;
      const check = checkKvEvents(result.history, { stepLimit: 5_000_000 });
      assert.equal(check.verdict, "illegal", `seed ${seed}`);
      checked++;
      break;
    }
    assert.equal(checked, 1);
  });
});
