// The request path's planted bug (src/core/replica/request-path.ts): a forward lost after it
// may have left, reported as certainly not applied. Simulated clients go through the
// production request path, so the false "not applied" reaches them, they act on it, and the
// history shows it: the run's linearizability check (or, first, No Stale Read) must reject
// it. The seed that caught it must pass, linearizability included, with the bug off.
// Seeds and rates: test/core/sim/scan-forward-bug.ts, docs/PLANTED-BUGS.md.

import { expectPlantedBugCaught } from "../../support/planted-bug-scan.ts";
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { runSimulation } from "../../../src/core/sim/simulation.ts";
import { forwardBugOptions } from "./request-path-bug-config.ts";
import { PLANTED_BUG_CONFIGS } from "./planted-bug-configs.ts";

const SEEDS = Array.from({ length: 20 }, (_, i) => i + 1);
const CATCHING_PROPERTIES = ["Linearizability", "No Stale Read"];

describe("request path planted bugs", () => {
  test("forward-error-as-not-applied -> Linearizability (or No Stale Read)", () => {
    expectPlantedBugCaught({
      bug: "forward-error-as-not-applied",
      seeds: SEEDS,
      property: CATCHING_PROPERTIES,
      run: (seed, bugOn) => runSimulation({ ...forwardBugOptions(seed), ...(bugOn ? { requestPathPlantedBugs: new Set(["forward-error-as-not-applied"] as const) } : {}) }),
      checkBugOff: (result, seed) => {
        assert.equal(result.linearizability.verdict, "ok", `bug off, seed ${seed}`);
        assert.ok(result.history.length > 100, `seed ${seed}: too few operations to mean anything`);
      },
    });
  });

  test("get-without-read-index -> No Stale Read (or Linearizability)", () => {
    // A get reaches the leader (a follower forwards it), so the node that answers from its applied state is a
    // deposed leader that does not know it yet: read-index-without-quorum's configuration (CheckQuorum off).
    const deposed = PLANTED_BUG_CONFIGS.find((config) => config.bug === "read-index-without-quorum")!;
    expectPlantedBugCaught({
      bug: "get-without-read-index",
      seeds: SEEDS,
      property: CATCHING_PROPERTIES,
      run: (seed, bugOn) => runSimulation({ ...deposed.options(seed), ...(bugOn ? { requestPathPlantedBugs: new Set(["get-without-read-index"] as const) } : {}) }),
      checkBugOff: (result, seed) => assert.equal(result.linearizability.verdict, "ok", `bug off, seed ${seed}`),
    });
  });

  test("with the bug off, forwarding runs in simulation and loses forwards (the bug's precondition is reached)", () => {
    const result = runSimulation(forwardBugOptions(2));
    assert.equal(result.failure, undefined);
    assert.ok(result.requestPath.forwarded > 100, `only ${result.requestPath.forwarded} forwards`);
    assert.ok(result.requestPath.forwardsTimedOut > 0, "no forward was lost after it left");
    assert.ok(result.operations.info > 0, "no operation had an unknown outcome");
  });
});
