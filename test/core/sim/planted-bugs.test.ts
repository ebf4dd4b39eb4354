// Each planted Raft bug (src/core/raft/types.ts), switched on by this harness only, must be
// reported by the simulator as a violation of the right property within its fixed list of
// seeds; the seeds it needed must pass with the bug off. docs/PLANTED-BUGS.md has the table.
//
// The seeds are tried in order and the search stops at the first that catches the bug, so a
// change elsewhere that moves the schedules (any change to the core, the driver, storage or
// the simulator does) costs a few more runs, not a red test, unless the bug's catch rate
// really drops (then re-run test/core/sim/scan-planted-bugs.ts and revisit the configuration).

import { expectPlantedBugCaught } from "../../support/planted-bug-scan.ts";
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { runSimulation } from "../../../src/core/sim/simulation.ts";
import { HARNESS_PLANTED_BUG_CONFIGS, PLANTED_BUG_CONFIGS } from "./planted-bug-configs.ts";

describe("planted bugs are caught by the right property", () => {
  for (const config of PLANTED_BUG_CONFIGS) {
    test(`${config.bug} -> ${config.property}`, () => {
      expectPlantedBugCaught({
        bug: config.bug,
        seeds: config.seeds,
        property: config.property,
        run: (seed, bugOn) => runSimulation({ ...config.options(seed), ...(bugOn ? { plantedBugs: new Set([config.bug]) } : {}) }),
        checkFailure: (failure, seed) => {
          assert.equal(failure.seed, String(seed));
          assert.match(failure.reproduce, new RegExp(`--seed ${seed} `));
        },
      });
    });
  }

  for (const config of HARNESS_PLANTED_BUG_CONFIGS) {
    test(`${config.bug} (harness) -> ${config.property}`, () => {
      expectPlantedBugCaught({
        bug: config.bug,
        seeds: config.seeds,
        property: config.property,
        run: (seed, bugOn) => runSimulation({ ...config.options(seed), ...(bugOn ? config.plant : {}) }),
        checkFailure: (failure) => assert.match(failure.reproduce, new RegExp(`with planted bug ${config.bug}`)),
        checkBugOff: (result, seed) => assert.equal(result.linearizability.verdict, "ok", `bug off, seed ${seed}: linearizability ${result.linearizability.verdict}`),
      });
    });
  }

  test("every planted bug has a configuration", () => {
    const bugs = new Set(PLANTED_BUG_CONFIGS.map((c) => c.bug));
    for (const bug of [
      "vote-without-log-check",
      "commit-previous-term-by-counting",
      "vote-before-persist",
      "append-without-truncating-conflicts",
      "leader-ignores-higher-term",
      "read-index-without-quorum",
      "double-vote-in-term",
      "ack-before-durable-on-enospc",
      "read-before-applied",
      "commit-counts-learners",
    ] as const) {
      assert.ok(bugs.has(bug), bug);
    }
  });
});
