// The VOPR's per-seed draws (src/core/sim/swarm.ts): a function of the seed alone, every draw
// within the swarm's ranges and the fault model's (validateFaultProfile), every fault family
// switched off in some seeds and on in others, and a drawn run that actually runs.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { CLOCK_DRIFT_BOUND_PPM } from "../../../src/core/env/environment.ts";
import { validateFaultProfile } from "../../../src/core/sim/fault-profile.ts";
import { seedFromBigInt, seedFromNumber } from "../../../src/core/sim/seed.ts";
import { runSimulation } from "../../../src/core/sim/simulation.ts";
import {
  drawSwarmRun,
  SWARM_CORRUPTION_MAX,
  SWARM_DUPLICATION_MAX,
  SWARM_FAULTY_MS,
  SWARM_LOSS_MAX,
  SWARM_NODE_COUNT_MAX,
  SWARM_NODE_COUNT_MIN,
  SWARM_WORKLOADS,
  swarmSimulationOptions,
  SWARM_FOCUSES,
} from "../../../src/core/sim/swarm.ts";

const anySeed = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map(seedFromBigInt);
const anyWorkload = fc.constantFrom(undefined, ...SWARM_WORKLOADS);

describe("swarm draws", () => {
  test("the same seed draws the same run; the workload flag fixes only the workload and the tail", () => {
    fc.assert(
      fc.property(anySeed, anyWorkload, (seed, workload) => {
        const first = drawSwarmRun(seed, workload);
        assert.deepEqual(drawSwarmRun(seed, workload), first);
        const drawn = drawSwarmRun(seed, undefined);
        assert.equal(first.nodeCount, drawn.nodeCount);
        assert.equal(first.faultyMs, drawn.faultyMs);
        assert.deepEqual(first.families, drawn.families);
        if (workload !== undefined) assert.equal(first.workload, workload);
      }),
      { numRuns: 300 },
    );
  });

  test("every draw is within the swarm's ranges and the fault model's", () => {
    fc.assert(
      fc.property(anySeed, anyWorkload, (seed, workload) => {
        const run = drawSwarmRun(seed, workload);
        const p = run.profile;
        validateFaultProfile(p);
        assert.ok(Number.isSafeInteger(run.nodeCount) && run.nodeCount >= SWARM_NODE_COUNT_MIN && run.nodeCount <= SWARM_NODE_COUNT_MAX);
        assert.ok(run.faultyMs >= SWARM_FAULTY_MS[0] && run.faultyMs <= SWARM_FAULTY_MS[1]);
        assert.ok(run.durationMs > run.faultyMs);
        assert.ok(p.healAtFraction > 0 && p.healAtFraction < 1, "every run heals before its end");
        assert.ok(p.lossProbability >= 0 && p.lossProbability <= SWARM_LOSS_MAX);
        assert.ok(p.duplicateProbability >= 0 && p.duplicateProbability <= SWARM_DUPLICATION_MAX);
        for (const c of [p.diskReadCorruptionProbability, p.diskWriteCorruptionProbability, p.diskMisdirectedWriteProbability]) assert.ok(c >= 0 && c <= SWARM_CORRUPTION_MAX);
        assert.ok(p.clockDriftMaxPpm >= 0 && p.clockDriftMaxPpm <= CLOCK_DRIFT_BOUND_PPM, "drift within the published bound");
        const raft = run.replica.raft!;
        assert.ok(raft.heartbeatTicks >= 1 && raft.heartbeatTicks < raft.electionTicks);
        assert.equal(run.replica.tickMs, p.tickMs);
        const options = swarmSimulationOptions(seed, run);
        assert.equal(options.orchestrator === undefined, run.workload === "kv");
      }),
      { numRuns: 500 },
    );
  });

  test("each fault family is off in some seeds and on in others", () => {
    const on = new Map<string, number>();
    const seeds = 200;
    let lossFree = 0;
    let lossHigh = 0;
    const sizes = new Set<number>();
    for (let i = 0; i < seeds; i++) {
      const run = drawSwarmRun(seedFromNumber(i), undefined);
      for (const family of run.families) on.set(family, (on.get(family) ?? 0) + 1);
      if (run.profile.lossProbability === 0) lossFree += 1;
      if (run.profile.lossProbability > 0.2) lossHigh += 1;
      sizes.add(run.nodeCount);
    }
    for (const family of ["loss", "duplication", "reorder", "partition", "crash", "clock-offset", "clock-drift", "clock-jump", "clog", "loss-burst", "pause", "disk-full", "corruption", "membership", "failpoints"]) {
      const count = on.get(family) ?? 0;
      assert.ok(count > 0 && count < seeds, `${family} on in ${count} of ${seeds} seeds`);
    }
    assert.ok(lossFree > 0 && lossHigh > 0, "loss ranges from none to above 20%");
    assert.deepEqual([...sizes].sort(), [1, 2, 3, 4, 5, 6, 7]);
  });

  test("each focus is drawn in some seeds, on 3-5 nodes, with its profile's tick; the others keep their draw", () => {
    const seen = new Map<string, number>();
    for (let i = 0; i < 200; i++) {
      const run = drawSwarmRun(seedFromNumber(i), undefined);
      const focus = run.families.find((family) => family.startsWith("focus:"));
      seen.set(focus ?? "none", (seen.get(focus ?? "none") ?? 0) + 1);
      if (focus === undefined) continue;
      assert.ok(run.nodeCount >= 3 && run.nodeCount <= 5, `${focus} on ${run.nodeCount} nodes`);
      assert.equal(run.replica.tickMs, run.profile.tickMs);
      if (focus === "focus:lease-reads") assert.equal(run.replica.readMode, "lease");
      if (focus === "focus:deposed-reads") assert.equal(run.replica.raft!.checkQuorum, false);
      if (focus === "focus:figure-8") assert.equal(run.replica.raft!.maxMessageBytes, 1);
      if (focus === "focus:bit-flips") assert.equal(run.profile.diskMisdirectedWriteProbability, 0);
    }
    for (const focus of SWARM_FOCUSES) assert.ok((seen.get(focus === "none" ? "none" : `focus:${focus}`) ?? 0) > 0, `${focus} drawn in ${seen.get(focus) ?? 0} of 200 seeds`);
  });

  test("a drawn run runs clean and reproduces its trace hash", () => {
    const seed = seedFromNumber(3);
    const options = swarmSimulationOptions(seed, drawSwarmRun(seed, "kv"));
    const first = runSimulation(options);
    assert.equal(first.failure, undefined);
    assert.equal(runSimulation(options).traceHash, first.traceHash);
  });
});
