// The request path's planted bug (src/core/replica/request-path.ts): a forward lost after it
// may have left, reported as certainly not applied. Simulated clients go through the
// production request path, so the false "not applied" reaches them, they act on it, and the
// history shows it: the linearizability checker (or, first, the No Stale Read check) must
// reject the run. The seeds tried must pass, and be linearizable, with the bug off.
// Seeds and rates: test/core/sim/scan-forward-bug.ts, docs/PLANTED-BUGS.md.

import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { checkKvEvents } from "../../../src/core/check/index.ts";
import { runSimulation } from "../../../src/core/sim/simulation.ts";
import { forwardBugOptions } from "./request-path-bug-config.ts";

const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
const STEP_LIMIT = 5_000_000;

describe("request path planted bugs", () => {
  test("forward-error-as-not-applied -> not linearizable (or No Stale Read)", () => {
    const tried: number[] = [];
    let caught: string | undefined;
    for (const seed of SEEDS) {
      tried.push(seed);
      const result = runSimulation({ ...forwardBugOptions(seed), requestPathPlantedBugs: new Set(["forward-error-as-not-applied"]) });
      if (result.failure !== undefined) {
        assert.equal(result.failure.property, "No Stale Read", `seed ${seed}: ${result.failure.property}: ${result.failure.message}`);
        caught = `seed ${seed}: No Stale Read`;
        break;
      }
      const check = checkKvEvents(result.history, { stepLimit: STEP_LIMIT });
      assert.notEqual(check.verdict, "unknown", `seed ${seed}: the checker ran out of budget`);
      if (check.verdict === "illegal") {
        caught = `seed ${seed}: not linearizable`;
        break;
      }
    }
    assert.ok(caught !== undefined, `no seed of ${SEEDS[0]}..${SEEDS.at(-1)} caught forward-error-as-not-applied`);
    for (const seed of tried) {
      const result = runSimulation(forwardBugOptions(seed));
      assert.equal(result.failure, undefined, `bug off, seed ${seed}: ${result.failure?.property}: ${result.failure?.message}`);
      assert.ok(result.history.length > 100, `seed ${seed}: too few operations to mean anything`);
      assert.equal(checkKvEvents(result.history, { stepLimit: STEP_LIMIT }).verdict, "ok", `bug off, seed ${seed}: not linearizable`);
    }
  });

  test("with the bug off, forwarding runs in simulation and loses forwards (the bug's precondition is reached)", () => {
    const result = runSimulation(forwardBugOptions(2));
    assert.equal(result.failure, undefined);
    assert.ok(result.requestPath.forwarded > 100, `only ${result.requestPath.forwarded} forwards`);
    assert.ok(result.requestPath.forwardsTimedOut > 0, "no forward was lost after it left");
    assert.ok(result.operations.info > 0, "no operation had an unknown outcome");
  });
});
