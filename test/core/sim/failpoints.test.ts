// Failpoints driven in simulation (src/core/sim/failpoint-driver.ts over the catalogue in
// src/core/env/failpoints.ts): off by default (counted, never fired, no randomness drawn),
// per-point probabilities from the options over the profile, the same firings for the same
// seed, and coverage in the result. Each catalogued point is reached and fired by a whole run
// that keeps every safety property.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { noFailpoints } from "../../../src/core/env/environment.ts";
import { FAILPOINT_NAMES } from "../../../src/core/env/failpoints.ts";
import { FailpointDriver } from "../../../src/core/sim/failpoint-driver.ts";
import { FAULT_PROFILES } from "../../../src/core/sim/fault-profile.ts";
import { Prng } from "../../../src/core/sim/prng.ts";
import { seedFromNumber } from "../../../src/core/sim/seed.ts";
import { runSimulation } from "../../../src/core/sim/simulation.ts";

const stream = (seed: number) => Prng.stream(seedFromNumber(seed), "failpoints");

describe("failpoint driver", () => {
  test("off by default: every evaluation is counted, none fires, no randomness is drawn", () => {
    const random = stream(1);
    const driver = new FailpointDriver(random);
    for (let i = 0; i < 100; i++) assert.equal(driver.failpoint("raft-channel/send-refused"), false);
    assert.deepEqual(
      driver.coverage().map((c) => [c.name, c.evaluated, c.fired]),
      FAILPOINT_NAMES.map((name) => [name, name === "raft-channel/send-refused" ? 100 : 0, 0]),
    );
    assert.equal(random.intBelow(1_000_000), stream(1).intBelow(1_000_000), "the stream is untouched");
  });

  test("a point fires at its probability; certain points always fire; the same seed fires the same evaluations", () => {
    const firings = (seed: number) => {
      const driver = new FailpointDriver(stream(seed), { "raft-channel/send-refused": 0.25, "replica/snapshot-early": 1 });
      const fired: number[] = [];
      for (let i = 0; i < 4_000; i++) if (driver.failpoint("raft-channel/send-refused")) fired.push(i);
      for (let i = 0; i < 10; i++) assert.equal(driver.failpoint("replica/snapshot-early"), true);
      return { fired, coverage: driver.coverage() };
    };
    const a = firings(7);
    assert.ok(a.fired.length > 850 && a.fired.length < 1_150, `fired ${a.fired.length} of 4000 at 0.25`);
    assert.deepEqual(firings(7).fired, a.fired);
    assert.notDeepEqual(firings(8).fired, a.fired);
    const certain = a.coverage.find((c) => c.name === "replica/snapshot-early")!;
    assert.deepEqual([certain.evaluated, certain.fired, certain.probability], [10, 10, 1]);
  });

  test("an unknown name is a programmer error, in the options and at a point", () => {
    assert.throws(() => new FailpointDriver(stream(1), { "no/such-point": 0.5 } as never), /no failpoint/);
    assert.throws(() => new FailpointDriver(stream(1)).failpoint("no/such-point"), /uncatalogued/);
    assert.throws(() => new FailpointDriver(stream(1), { "replica/snapshot-early": 1.5 }), /outside/);
  });

  test("production answers noFailpoints: never fires", () => {
    for (const name of FAILPOINT_NAMES) assert.equal(noFailpoints(name), false);
  });
});

describe("failpoints in whole runs", () => {
  test("default off: points are reached (coverage counts them) but never fire", () => {
    const result = runSimulation({ seed: seedFromNumber(3), nodeCount: 3, durationMs: 5_000, profile: FAULT_PROFILES.standard! });
    assert.equal(result.failure, undefined);
    assert.deepEqual(result.failpoints.map((c) => c.name), FAILPOINT_NAMES);
    for (const point of result.failpoints) {
      assert.ok(point.evaluated > 0, `${point.name} never reached`);
      assert.equal(point.fired, 0);
    }
  });

  test("every catalogued point fires in a run that keeps every property, and the run replays exactly", () => {
    const options = {
      seed: seedFromNumber(6),
      nodeCount: 3,
      durationMs: 10_000,
      profile: FAULT_PROFILES.elections!,
      failpoints: { "raft-channel/send-refused": 0.05, "replica/snapshot-early": 0.02 },
    };
    const result = runSimulation(options);
    assert.equal(result.failure, undefined, `${result.failure?.property}: ${result.failure?.message}`);
    for (const point of result.failpoints) assert.ok(point.fired > 0 && point.fired < point.evaluated, `${point.name}: ${point.fired} of ${point.evaluated}`);
    assert.ok(result.operations.ok > 0, "the cluster still serves clients");
    const again = runSimulation(options);
    assert.equal(again.traceHash, result.traceHash);
    assert.deepEqual(again.failpoints, result.failpoints);
    const off = runSimulation({ ...options, failpoints: {} });
    assert.notEqual(off.traceHash, result.traceHash, "firing changes the run");
  });

  test("a profile's probabilities apply; the run's options override them", () => {
    const profile = { ...FAULT_PROFILES.standard!, failpoints: { "raft-channel/send-refused": 0.5 } };
    const fromProfile = runSimulation({ seed: seedFromNumber(2), nodeCount: 3, durationMs: 3_000, profile });
    const overridden = runSimulation({ seed: seedFromNumber(2), nodeCount: 3, durationMs: 3_000, profile, failpoints: { "raft-channel/send-refused": 0 } });
    const refused = (r: typeof fromProfile) => r.failpoints.find((c) => c.name === "raft-channel/send-refused")!;
    assert.equal(refused(fromProfile).probability, 0.5);
    assert.ok(refused(fromProfile).fired > 0);
    assert.equal(refused(overridden).fired, 0);
  });
});
