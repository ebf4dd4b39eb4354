// The lease-read planted bugs (src/core/replica/replica.ts), switched on by this harness only,
// must be reported by the simulator as "Lease Held" within their fixed lists of seeds of the
// lease profile; the seed that caught it must pass with the bug off, linearizability included. Same
// shape as test/core/sim/planted-bugs.test.ts; docs/PLANTED-BUGS.md has the rows.
import { expectPlantedBugCaught } from "../../support/planted-bug-scan.ts";
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { PROPERTIES } from "../../../src/core/sim/properties.ts";
import { runSimulation } from "../../../src/core/sim/simulation.ts";
import { LEASE_PLANTED_BUG_CONFIGS, leaseRunOptions } from "./lease-bug-configs.ts";

describe("lease planted bugs are caught by Lease Held", () => {
  for (const config of LEASE_PLANTED_BUG_CONFIGS) {
    test(`${config.bug} -> ${config.property}`, () => {
      expectPlantedBugCaught({
        bug: config.bug,
        seeds: config.seeds,
        property: config.property,
        run: (seed, bugOn) => runSimulation({ ...config.options(seed), ...(bugOn ? { plantedBugs: new Set([config.bug]) } : {}) }),
        checkFailure: (failure) => assert.match(failure.message, /answered a read of term \d+ from its lease while only \d of 5 voters kept the promise/),
        checkBugOff: (result, seed) => assert.notEqual(result.linearizability.verdict, "illegal", `bug off, seed ${seed}`),
      });
    });
  }

  test("the property is stated, and a lease run without bugs passes", () => {
    assert.match(PROPERTIES["Lease Held"], /^a leader answers a read from its lease only while a quorum of voters/);
    const result = runSimulation(leaseRunOptions(1, 5_000));
    assert.equal(result.failure, undefined);
    assert.ok(result.operations.ok > 100, `only ${result.operations.ok} operations succeeded`);
  });
});
