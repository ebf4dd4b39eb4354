// The orchestrator in the simulated world (docs/SIMULATION.md, "The orchestrator"): agents,
// controller and simulated VM hosts on every node, users creating, stopping, updating, moving and
// deleting VMs, under the standard faults (partitions, crashes, pauses, clock jumps). Clean runs
// must keep every orchestrator property, including VM Liveness after the heal; one seed
// reproduces a run exactly; and each planted orchestrator bug is caught by the right property
// within its seeds, which pass with the bug off (docs/PLANTED-BUGS.md).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { expectPlantedBugCaught } from "../../support/planted-bug-scan.ts";
import { faultProfile } from "../../../src/core/sim/fault-profile.ts";
import { seedFromNumber } from "../../../src/core/sim/seed.ts";
import { runSimulation, type SimulationOptions, type SimulationResult } from "../../../src/core/sim/simulation.ts";
import type { OrchestratorPlantedBugs, SimOrchestratorOptions } from "../../../src/core/sim/sim-orchestrator.ts";
import { DEFAULT_SCHEDULER_OPTIONS } from "../../../src/core/scheduler/scheduler-types.ts";
import { defaultOrchestratorWorkloadOptions, type OrchestratorWorkloadOptions } from "../../../src/core/sim/orchestrator-workload.ts";

/** 60 s heals at 48 s: VM Liveness is judged 12 s after the faults stop (its bound is 10 s). */
function options(seed: number, plantedBugs: OrchestratorPlantedBugs = {}, profile = "standard", orchestrator: Partial<SimOrchestratorOptions> = {}): SimulationOptions {
  return { seed: seedFromNumber(seed), nodeCount: 3, durationMs: 60_000, profile: faultProfile(profile)!, orchestrator: { ...orchestrator, plantedBugs } };
}

function summary(result: SimulationResult): NonNullable<SimulationResult["orchestrator"]> {
  assert.ok(result.orchestrator !== undefined, "an orchestrator run reports its summary");
  return result.orchestrator;
}

interface OrchestratorBugConfig {
  readonly bug: string;
  readonly plant: OrchestratorPlantedBugs;
  readonly property: string | readonly string[];
  readonly seeds: readonly number[];
  readonly durationMs?: number;
  readonly profile?: string;
  /** Settings of the run with the bug on and off alike. */
  readonly orchestrator?: Partial<SimOrchestratorOptions>;
  /** Settings of the run with the bug on only (a scheduler bug lives in the scheduler's options). */
  readonly bugOrchestrator?: Partial<SimOrchestratorOptions>;
}

/** Four users changing six VMs (three names per tenant) by generation, with little pause between operations. */
const RACING_USERS: OrchestratorWorkloadOptions = {
  ...defaultOrchestratorWorkloadOptions,
  clientCount: 4,
  namesPerTenant: 3,
  thinkTimeMs: [20, 200],
  mix: { create: 2, stop: 3, start: 3, update: 3, migrate: 1, delete: 1, place: 1 },
};

const ORCHESTRATOR_BUGS: readonly OrchestratorBugConfig[] = [
  // A node declared down while its VMs still run: seen at the declaration (Fenced Before Down), before a second instance starts elsewhere.
  { bug: "no-fencing-wait", plant: { controller: new Set(["no-fencing-wait"]) }, property: ["Fenced Before Down", "VM At Most Once"], seeds: [1, 2, 3, 4, 5, 6] },
  { bug: "no-self-fence", plant: { agent: new Set(["no-self-fence"]) }, property: ["Fenced Before Down", "VM At Most Once"], seeds: [1, 2, 3, 4, 5, 6, 7, 8] },
  // Wall clocks offset by up to 10 s and jumping, nodes paused or cut off past their lease: the lease on the wall clock outlives the true one.
  {
    bug: "lease-on-wall-clock",
    plant: { agent: new Set(["lease-on-wall-clock"]) },
    property: ["Fenced Before Down", "VM At Most Once", "Fresh Fencing Token"],
    seeds: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    profile: "fencing",
  },
  // An operator drains nodes; the controller never moves their VMs: only the end's Drain Completes sees it.
  {
    bug: "drain-never-migrates",
    plant: { controller: new Set(["drain-never-migrates"]) },
    property: "Drain Completes",
    seeds: [1, 2, 3, 4, 5, 6, 7, 8],
    orchestrator: { workload: { ...defaultOrchestratorWorkloadOptions, mix: { ...defaultOrchestratorWorkloadOptions.mix, drain: 2 } } },
  },
  // Users stop VMs; the agent keeps them running: only the end's converse of VM Liveness sees it.
  { bug: "stop-not-honoured", plant: { agent: new Set(["stop-not-honoured"]) }, property: ["No Orphan VMs", "VM Liveness"], seeds: [1, 2, 3, 4, 5, 6, 7, 8] },
  // The scheduler's contract, checked on every plan the controller makes (the state machine's recheck hides both from every other property).
  {
    bug: "capacity-ignores-batch",
    plant: {},
    property: "Plan Admissible",
    seeds: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
    durationMs: 30_000,
    orchestrator: { workload: { ...defaultOrchestratorWorkloadOptions, clientCount: 6, thinkTimeMs: [10, 100] } },
    bugOrchestrator: { scheduler: { ...DEFAULT_SCHEDULER_OPTIONS, plantedBugs: ["capacity-ignores-batch"] } },
  },
  {
    bug: "give-up-after-half",
    plant: {},
    property: "Unplaceable Only When Full",
    seeds: [1, 2, 3, 4, 5, 6, 7, 8],
    durationMs: 30_000,
    bugOrchestrator: { scheduler: { ...DEFAULT_SCHEDULER_OPTIONS, plantedBugs: ["give-up-after-half"] } },
  },
  // A stale plan (here: a scheduler that forgets its own batch's placements, the bug both runs share)
  // is stopped only by the state machine's recheck at apply; without it a node is promised beyond its capacity.
  {
    bug: "capacity-check-stale",
    plant: { cluster: new Set(["capacity-check-stale"]) },
    property: "Cluster State Consistent",
    seeds: [1, 2, 3, 4, 5, 6],
    durationMs: 30_000,
    // Six users with little pause: placements race often enough for a stale plan to reach apply.
    // The plan checks would see the companion's plans first: off in both runs, this tests the recheck behind them.
    orchestrator: {
      scheduler: { ...DEFAULT_SCHEDULER_OPTIONS, plantedBugs: ["capacity-ignores-batch"] },
      workload: { ...defaultOrchestratorWorkloadOptions, clientCount: 6, thinkTimeMs: [10, 100] },
      planChecks: false,
    },
  },
  { bug: "quota-not-released-on-delete", plant: { cluster: new Set(["quota-not-released-on-delete"]) }, property: "Cluster State Consistent", seeds: [1, 2, 3], durationMs: 30_000 },
  { bug: "ip-allocated-without-check", plant: { cluster: new Set(["ip-allocated-without-check"]) }, property: "Cluster State Consistent", seeds: [1, 2, 3], durationMs: 30_000 },
  // Every replica agrees and every invariant holds: only the users' history shows a change made
  // against a generation already gone. Busy users on few names, so they race for the same VMs.
  {
    bug: "generation-not-compared",
    plant: { cluster: new Set(["generation-not-compared"]) },
    property: "VM Registry Linearizability",
    seeds: [1, 2, 3, 4, 5, 6],
    durationMs: 30_000,
    orchestrator: { workload: RACING_USERS },
  },
];

describe("the orchestrator in simulation", () => {
  test("clean runs under the standard faults keep every orchestrator property, VM Liveness included", () => {
    for (const seed of [1, 2, 3]) {
      const result = runSimulation(options(seed));
      assert.equal(result.failure, undefined, `seed ${seed}: ${result.failure?.property}: ${result.failure?.message}`);
      const run = summary(result);
      assert.ok(run.livenessChecked, `seed ${seed}: VM Liveness was judged`);
      assert.ok(run.instancesStarted > 0 && (run.vmsByPhase.running ?? 0) > 0, `seed ${seed}: VMs ran: ${JSON.stringify(run)}`);
      assert.ok(run.auditsRun > 0 && run.agreementChecks > 0, `seed ${seed}: the state was audited and compared`);
      assert.ok(run.workload.applied > 0, `seed ${seed}: users changed the cluster`);
      assert.equal(result.linearizability.verdict, "ok", `seed ${seed}: the key-value history beside it is linearizable`);
      assert.equal(run.registry.verdict, "ok", `seed ${seed}: the users' history is linearizable under the VM registry model`);
      assert.ok(run.registry.operations > 0, `seed ${seed}: the users' operations were recorded and checked`);
    }
  });

  test("fencing faults (nodes paused or cut off past their lease, clocks at the drift bound, wall clocks offset and jumping) keep every property", () => {
    for (const seed of [1, 2, 3]) {
      const result = runSimulation(options(seed, {}, "fencing"));
      assert.equal(result.failure, undefined, `seed ${seed}: ${result.failure?.property}: ${result.failure?.message}`);
      const run = summary(result);
      assert.ok(run.livenessChecked && run.instancesStarted > 0, `seed ${seed}: ${JSON.stringify(run)}`);
      assert.ok(result.faults.pause + result.faults.partition > 0, `seed ${seed}: the faults ran`);
    }
  });

  test("heavy faults (a node refuses to start as corrupt, wall clocks stepped back past the run's start) keep VM Liveness", () => {
    // A heavy run once left every VM pending: the simulated wall clocks started at 0, a step back made two
    // nodes' clocks read before 1970, and their agents' and controller's stamped commands were refused.
    // On 3 nodes, with one refusing to start, some seeds' users never get their VMs created: VM Liveness
    // is then judged on nothing, so the test asks for seeds where VMs ran, not for one seed's luck.
    let judgedWithVms = 0;
    for (const seed of [1, 2, 3, 4]) {
      const result = runSimulation(options(seed, {}, "heavy"));
      assert.equal(result.failure, undefined, `seed ${seed}: ${result.failure?.property}: ${result.failure?.message}`);
      const run = summary(result);
      assert.ok(run.livenessChecked, `seed ${seed}: ${JSON.stringify(run)}`);
      assert.ok(result.faults["clock-jump"] > 0, `seed ${seed}: the clocks were stepped`);
      if (run.instancesStarted > 0) judgedWithVms++;
    }
    assert.ok(judgedWithVms >= 2, `VM Liveness was judged on runs where VMs ran in only ${judgedWithVms} of 4 seeds`);
  });

  test("one seed reproduces an orchestrator run exactly", () => {
    const first = runSimulation({ ...options(4), durationMs: 30_000 });
    const second = runSimulation({ ...options(4), durationMs: 30_000 });
    assert.equal(first.traceHash, second.traceHash);
    assert.deepEqual(first.orchestrator, second.orchestrator);
    assert.ok(summary(first).instancesStarted > 0);
  });

  for (const config of ORCHESTRATOR_BUGS) {
    test(`planted bug ${config.bug} -> ${typeof config.property === "string" ? config.property : config.property.join(" or ")}`, () => {
      expectPlantedBugCaught({
        bug: config.bug,
        seeds: config.seeds,
        property: config.property,
        run: (seed, bugOn) =>
          runSimulation({ ...options(seed, bugOn ? config.plant : {}, config.profile, { ...config.orchestrator, ...(bugOn ? config.bugOrchestrator : {}) }), durationMs: config.durationMs ?? 60_000 }),
        checkFailure: (failure, seed) => {
          assert.match(failure.reproduce, new RegExp(`--seed ${seed} .*--workload orchestrator`));
          assert.match(failure.reproduce, new RegExp(`with planted bug ${config.bug}`));
        },
      });
    });
  }
});
