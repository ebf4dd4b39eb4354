// Failpoints driven in simulation (src/core/sim/failpoint-driver.ts over the catalogue in
// src/core/env/failpoints.ts): off by default (counted, never fired, no randomness drawn),
// per-point probabilities from the options over the profile, the same firings for the same
// seed, and coverage in the result. Each catalogued point is reached and fired by a whole run
// that keeps every safety property.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { noFailpoints } from "../../../src/core/env/environment.ts";
import { FAILPOINT_NAMES, FAILPOINTS } from "../../../src/core/env/failpoints.ts";
import { drawFailpointProbabilities, FAILPOINT_FIRING_PPM, FailpointDriver } from "../../../src/core/sim/failpoint-driver.ts";
import { FailpointCrash } from "../../../src/core/failpoints/failpoint-crash.ts";
import { FAULT_PROFILES } from "../../../src/core/sim/fault-profile.ts";
import { Prng } from "../../../src/core/sim/prng.ts";
import { seedFromNumber } from "../../../src/core/sim/seed.ts";
import { runSimulation } from "../../../src/core/sim/simulation.ts";

const stream = (seed: number) => Prng.stream(seedFromNumber(seed), "failpoints");

describe("failpoint driver", () => {
  test("off by default: every evaluation is counted, none fires, no randomness is drawn", () => {
    const random = stream(1);
    const driver = new FailpointDriver(random);
    const point = driver.failpointFor(1);
    for (let i = 0; i < 100; i++) assert.equal(point("net.send"), undefined);
    assert.deepEqual(
      driver.coverage().map((c) => [c.name, c.evaluated, c.fired]),
      FAILPOINT_NAMES.map((name) => [name, name === "net.send" ? 100 : 0, 0]),
    );
    assert.equal(random.intBelow(1_000_000), stream(1).intBelow(1_000_000), "the stream is untouched");
  });

  test("a point fires at its probability with its simulated action; the same seed fires the same evaluations", () => {
    const firings = (seed: number) => {
      const driver = new FailpointDriver(stream(seed), { "net.send": 0.25, "raft.snapshot-early": 1, "storage.fsync.after": 1 });
      const point = driver.failpointFor(2);
      const fired: number[] = [];
      for (let i = 0; i < 4_000; i++) if (point("net.send") !== undefined) fired.push(i);
      for (let i = 0; i < 10; i++) assert.deepEqual(point("raft.snapshot-early"), { kind: "return", arg: undefined });
      assert.deepEqual(point("storage.fsync.after"), { kind: "delay", ms: 50 });
      return { fired, coverage: driver.coverage(), injected: driver.wasInjected(2) };
    };
    const a = firings(7);
    assert.ok(a.fired.length > 850 && a.fired.length < 1_150, `fired ${a.fired.length} of 4000 at 0.25`);
    assert.deepEqual(firings(7).fired, a.fired);
    assert.notDeepEqual(firings(8).fired, a.fired);
    const certain = a.coverage.find((c) => c.name === "raft.snapshot-early")!;
    assert.deepEqual([certain.evaluated, certain.fired, certain.probability], [10, 10, 1]);
    assert.equal(a.injected, false, "firings within the fault model are no injected faults");
  });

  test("a crash point throws FailpointCrash; a firing beyond the fault model is an injected fault of its host", () => {
    let nowUs = 5;
    const driver = new FailpointDriver(stream(1), { "raft.persist": 1, "storage.fsync": 1 }, () => nowUs);
    assert.throws(() => driver.failpointFor(1)("raft.persist"), (error: unknown) => error instanceof FailpointCrash && error.point === "raft.persist");
    assert.equal(driver.wasInjected(1), false, "a crash is within the fault model (a process kill)");
    assert.deepEqual(driver.failpointFor(3)("storage.fsync"), { kind: "return", arg: "EIO" });
    nowUs = 9;
    driver.failpointFor(3)("storage.fsync");
    assert.equal(driver.wasInjected(3), true);
    assert.equal(driver.wasInjected(1), false);
    assert.deepEqual(driver.injectedFaults(), [
      { hostId: 3, name: "storage.fsync", simulatedTimeUs: 5 },
      { hostId: 3, name: "storage.fsync", simulatedTimeUs: 9 },
    ]);
  });

  test("quiet from the heal point: no point fires after it, and nothing is drawn", () => {
    let nowUs = 0;
    const random = stream(4);
    const driver = new FailpointDriver(random, { "net.send": 1 }, () => nowUs, 100);
    assert.notEqual(driver.failpointFor(1)("net.send"), undefined);
    nowUs = 100;
    assert.equal(driver.failpointFor(1)("net.send"), undefined);
    assert.deepEqual(driver.coverage().find((c) => c.name === "net.send"), { name: "net.send", probability: 1, evaluated: 2, fired: 1 });
  });

  test("an unknown name is a programmer error, in the options and at a point", () => {
    assert.throws(() => new FailpointDriver(stream(1), { "no/such-point": 0.5 } as never), /no failpoint/);
    assert.throws(() => new FailpointDriver(stream(1)).failpointFor(1)("no/such-point" as never), /uncatalogued/);
    assert.throws(() => new FailpointDriver(stream(1), { "raft.snapshot-early": 1.5 }), /outside/);
  });

  test("production answers noFailpoints: never fires", () => {
    for (const name of FAILPOINT_NAMES) assert.equal(noFailpoints(name), undefined);
  });

  test("the swarm's draw: BUGGIFY's probabilities, reproducible per stream, some runs without any", () => {
    const draws = Array.from({ length: 200 }, (_, i) => drawFailpointProbabilities(stream(i), false));
    assert.deepEqual(drawFailpointProbabilities(stream(3), false), draws[3]);
    const withAny = draws.filter((d) => Object.keys(d).length > 0);
    assert.ok(withAny.length > 70 && withAny.length < 130, `${withAny.length} of 200 runs with failpoints at 50%`);
    // Without crash points (a "riding" seed, docs/FAILPOINTS.md) the points whose simulated firing is a crash are drawn but never enabled.
    const drawable = FAILPOINT_NAMES.filter((name) => FAILPOINTS[name].simulated.kind !== "crash");
    assert.ok(drawable.length > 0 && drawable.length < FAILPOINT_NAMES.length);
    for (const draw of draws) for (const name of Object.keys(draw)) assert.ok((drawable as readonly string[]).includes(name), `the swarm enabled ${name}, a crash point`);
    const enabled = withAny.reduce((sum, d) => sum + Object.keys(d).length, 0) / (withAny.length * drawable.length);
    assert.ok(enabled > 0.18 && enabled < 0.36, `enabled fraction ${enabled} at 25% in a run with failpoints`);
    // With crash points (a "strict" seed) the same stream draws the same points, and the crash points besides.
    const withCrashes = Array.from({ length: 200 }, (_, i) => drawFailpointProbabilities(stream(i), true));
    for (let i = 0; i < draws.length; i++) {
      for (const [name, p] of Object.entries(draws[i]!)) assert.equal(withCrashes[i]![name as keyof (typeof draws)[number]], p, `stream ${i}: ${name} drawn alike`);
    }
    assert.ok(withCrashes.some((d) => Object.keys(d).some((name) => FAILPOINTS[name as keyof typeof FAILPOINTS].simulated.kind === "crash")), "crash points enabled in some runs");
    for (const draw of draws) for (const p of Object.values(draw)) assert.ok(p! >= FAILPOINT_FIRING_PPM[0] / 1e6 && p! <= FAILPOINT_FIRING_PPM[1] / 1e6);
    assert.ok(draws.some((d) => Object.keys(d).length === 0), "some seeds enable none");
  });
});

/** The points a key-value run reaches (the agent's and the VM backend's need the orchestrator). */
const KV_POINTS = FAILPOINT_NAMES.filter((name) => !name.startsWith("agent.") && !name.startsWith("vm."));
const ORCHESTRATOR_POINTS = FAILPOINT_NAMES.filter((name) => name.startsWith("agent.") || name.startsWith("vm."));

describe("failpoints in whole runs", () => {
  test("default off: points are reached (coverage counts them) but never fire", () => {
    const result = runSimulation({ seed: seedFromNumber(3), nodeCount: 3, durationMs: 5_000, profile: FAULT_PROFILES.standard!, replica: { snapshotEveryEntries: 20 } });
    assert.equal(result.failure, undefined);
    assert.deepEqual(result.failpoints.map((c) => c.name), FAILPOINT_NAMES);
    for (const point of result.failpoints) {
      if (KV_POINTS.includes(point.name)) assert.ok(point.evaluated > 0, `${point.name} never reached`);
      assert.equal(point.fired, 0);
    }
    assert.deepEqual(result.injectedFaults, []);
  });

  // One run per point: a point's firing (a crash, an injected EIO) is judged on its own.
  const RARELY_REACHED = new Set<string>(["storage.rename", "storage.snapshot-write", "raft.apply"]);
  for (const name of KV_POINTS) {
    test(`${name} fires in a run that keeps every property, and the run replays exactly`, () => {
      const options = {
        seed: seedFromNumber(6),
        nodeCount: 3,
        durationMs: 10_000,
        profile: FAULT_PROFILES.elections!,
        replica: { snapshotEveryEntries: 20 },
        failpoints: { [name]: RARELY_REACHED.has(name) ? 0.3 : 0.02 },
      };
      const result = runSimulation(options);
      assert.equal(result.failure, undefined, `${result.failure?.property}: ${result.failure?.message}`);
      const point = result.failpoints.find((c) => c.name === name)!;
      assert.ok(point.fired > 0 && point.fired < point.evaluated, `${name}: ${point.fired} of ${point.evaluated}`);
      assert.ok(result.operations.ok > 0, "the cluster still serves clients");
      const beyond = FAILPOINTS[name].beyondFaultModel;
      assert.equal(result.injectedFaults.length > 0, beyond, beyond ? "an injected disk error is reported as a fault" : "a firing within the fault model is no injected fault");
      const again = runSimulation(options);
      assert.equal(again.traceHash, result.traceHash);
      assert.deepEqual(again.failpoints, result.failpoints);
      // Once is enough to show a firing changes the run (each run costs the fast suite time).
      if (name === KV_POINTS[0]) assert.notEqual(runSimulation({ ...options, failpoints: {} }).traceHash, result.traceHash, "firing changes the run");
    });
  }

  test("the agent's and the VM backend's points fire in an orchestrator run that keeps every property", () => {
    const failpoints = { "agent.backend": 0.03, "agent.backend.after": 0.03, "vm.start": 0.2, "vm.stop": 0.5 };
    const result = runSimulation({ seed: seedFromNumber(15), nodeCount: 3, durationMs: 60_000, profile: FAULT_PROFILES.standard!, orchestrator: {}, failpoints });
    assert.equal(result.failure, undefined, `${result.failure?.property}: ${result.failure?.message}`);
    for (const point of result.failpoints) if (ORCHESTRATOR_POINTS.includes(point.name)) assert.ok(point.fired > 0, `${point.name}: ${point.fired} of ${point.evaluated}`);
  });

  test("a profile's probabilities apply; the run's options override them", () => {
    const profile = { ...FAULT_PROFILES.standard!, failpoints: { "net.send": 0.5 } };
    const fromProfile = runSimulation({ seed: seedFromNumber(2), nodeCount: 3, durationMs: 3_000, profile });
    const overridden = runSimulation({ seed: seedFromNumber(2), nodeCount: 3, durationMs: 3_000, profile, failpoints: { "net.send": 0 } });
    const refused = (r: typeof fromProfile) => r.failpoints.find((c) => c.name === "net.send")!;
    assert.equal(refused(fromProfile).probability, 0.5);
    assert.ok(refused(fromProfile).fired > 0);
    assert.equal(refused(overridden).fired, 0);
  });
});
