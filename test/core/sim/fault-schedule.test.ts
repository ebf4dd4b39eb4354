// The explicit fault schedule (src/core/sim/fault-schedule.ts): a run replaying its own recorded
// schedule gives the drawn run's trace hash, and a subset of it replays to a run with fewer faults.

import { test } from "node:test";
import assert from "node:assert/strict";
import { FAULT_PROFILES } from "../../../src/core/sim/fault-profile.ts";
import { faultEventCount, restrictFaultSchedule } from "../../../src/core/sim/fault-schedule.ts";
import { seedFromNumber } from "../../../src/core/sim/seed.ts";
import { runSimulation, type SimulationOptions } from "../../../src/core/sim/simulation.ts";
import { drawSwarmRun, swarmSimulationOptions } from "../../../src/core/sim/swarm.ts";

function standard(seed: number): SimulationOptions {
  return { seed: seedFromNumber(seed), nodeCount: 5, durationMs: 8_000, profile: FAULT_PROFILES.standard! };
}

test("a run replaying its recorded schedule has the drawn run's trace hash", () => {
  for (const options of [standard(1), standard(2), swarmSimulationOptions(seedFromNumber(3), drawSwarmRun(seedFromNumber(3), "kv"))]) {
    const drawn = runSimulation(options);
    assert.ok(faultEventCount(drawn.faultSchedule) > 0, "the run drew faults");
    const replayed = runSimulation({ ...options, faultSchedule: drawn.faultSchedule });
    assert.equal(replayed.traceHash, drawn.traceHash);
    assert.deepEqual(replayed.faultSchedule, drawn.faultSchedule);
    assert.deepEqual(replayed.faults, drawn.faults);
  }
});

test("a subset of the schedule replays with only its faults", () => {
  const options = standard(1);
  const drawn = runSimulation(options);
  assert.ok(drawn.faults.partition > 0, "the drawn run partitioned");
  const withoutPartitions = drawn.faultSchedule.filter((event) => event.kind !== "partition");
  assert.ok(faultEventCount(withoutPartitions) > 0, "the run drew other faults too");
  const replayed = runSimulation({ ...options, faultSchedule: withoutPartitions });
  assert.equal(replayed.faults.partition, 0);
  assert.ok(faultEventCount(replayed.faultSchedule) > 0 && faultEventCount(replayed.faultSchedule) <= faultEventCount(withoutPartitions));
  assert.notEqual(replayed.traceHash, drawn.traceHash);
  const empty = runSimulation({ ...options, faultSchedule: [] });
  assert.equal(faultEventCount(empty.faultSchedule), 0);
});

test("restricting a schedule to fewer nodes drops their events and links", () => {
  const drawn = runSimulation(standard(2));
  const restricted = restrictFaultSchedule(drawn.faultSchedule, 3);
  for (const event of restricted) {
    if (event.kind === "none") continue;
    assert.ok(event.node <= 3);
    if (event.kind === "partition") for (const [from, to] of event.blocked) assert.ok(from <= 3 && to <= 3);
  }
  const replayed = runSimulation({ ...standard(2), nodeCount: 3, faultSchedule: restricted });
  assert.ok(replayed.events > 0);
});
