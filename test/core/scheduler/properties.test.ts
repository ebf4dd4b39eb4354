// Property tests of schedule() on random clusters and VMs, against the brute-force oracle
// (oracle.ts), replaying each plan in the scheduler's processing order:
//   - Within Capacity: no node is given more than its allocatable under its overcommit policy;
//   - Hard Constraints: every placement passes every filter (state, pinned, locality, features,
//     labels, tenant vms per node, hard anti-affinity) in the state it was decided in;
//   - Lower Priority Only: every eviction is of a preemptible VM of strictly lower priority, on the
//     chosen node, evicted once;
//   - Fewest Evictions: a preemption evicts exactly as few VMs as the brute force needs, with its
//     tie rules (lowest total priority, then lowest node id);
//   - Really Unplaceable: an unplaceable VM passes no node's filters (and no preemption helps),
//     and its explanation's counts are the exact first-failure counts;
//   - Fewest In Domain: a VM with spread constraints goes where the fewest of its group (or
//     tenant) share the domain, among all feasible nodes, whatever candidatesMax;
//   - Deterministic: the same input gives the same plan, also with the view iterating backwards.
// Each planted bug (SchedulerPlantedBug) must make one of them fail.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import type { NodeId } from "../../../src/core/cluster/types.ts";
import { schedule } from "../../../src/core/scheduler/schedule.ts";
import {
  DEFAULT_SCHEDULER_OPTIONS,
  type ScheduleDecision,
  type SchedulePlan,
  type SchedulerOptions,
  type SchedulerPlantedBug,
} from "../../../src/core/scheduler/scheduler-types.ts";
import { FixtureView } from "../../support/cluster-view-fixture.ts";
import { OracleState, oracleAllocatable, processingOrder } from "./oracle.ts";
import { scenarioArbitrary, type Scenario } from "./scenario.ts";

const SEED = 20261201;
const RUNS = 300;

function optionsOf(scenario: Scenario, plantedBugs: readonly SchedulerPlantedBug[], preemption = true): SchedulerOptions {
  return { ...DEFAULT_SCHEDULER_OPTIONS, strategy: scenario.strategy, candidatesMax: scenario.candidatesMax, preemption, plantedBugs };
}

function decisionOf(plan: SchedulePlan, vmId: number): ScheduleDecision {
  const decision = plan.decisions.find((d) => d.vmId === vmId && d.kind !== "unplaceable") ?? plan.decisions.find((d) => d.vmId === vmId);
  assert.ok(decision !== undefined, `a decision for vm ${vmId}`);
  return decision;
}

type Property = "capacity" | "constraints" | "priority" | "fewest" | "unplaceable" | "spread";

/** Replays the plan against the oracle; throws (naming the property) at the first violation. */
function checkPlan(view: FixtureView, vmIds: readonly number[], plan: SchedulePlan, checked: ReadonlySet<Property>): void {
  assert.equal(plan.decisions.length, vmIds.length, "one decision per input");
  plan.decisions.forEach((d, i) => assert.equal(d.vmId, vmIds[i], "decisions in input order"));
  const state = new OracleState(view);
  const nodeById = new Map(state.nodes.map((n) => [n.id, n]));
  for (const vm of processingOrder(view, vmIds)) {
    const decision = decisionOf(plan, vm.id);
    const spec = vm.spec;
    const need: [number, number, number] = [spec.resources.vcpus, spec.resources.memoryMib, spec.resources.diskGib];
    switch (decision.kind) {
      case "placed": {
        const node = nodeById.get(decision.nodeId);
        assert.ok(node !== undefined, "placed on a node of the view");
        const failure = state.failure(node, spec);
        if (checked.has("constraints") && failure !== undefined && !failure.startsWith("insufficient")) throw new Error(`constraints: vm ${vm.id} placed on node ${node.id}, which fails ${failure}`);
        if (checked.has("capacity") && failure !== undefined && failure.startsWith("insufficient")) throw new Error(`capacity: vm ${vm.id} placed on node ${node.id}: ${failure}`);
        if (checked.has("spread") && spec.constraints.some((c) => c.kind === "spread")) {
          const fewest = Math.min(...state.nodes.filter((n) => state.failure(n, spec) === undefined).map((n) => state.spreadSharing(n, spec)));
          const sharing = state.spreadSharing(node, spec);
          if (sharing > fewest) throw new Error(`spread: vm ${vm.id} placed where ${sharing} of its group share the domain; a feasible node has ${fewest}`);
        }
        state.add(spec, node.id, need);
        break;
      }
      case "preempting": {
        const node = nodeById.get(decision.nodeId)!;
        assert.equal(decision.explanation, `preempting ${decision.evictions.length} ${decision.evictions.length === 1 ? "VM" : "VMs"} on node ${node.id}`);
        assert.ok(!state.fitsSomewhere(spec) || !checked.has("unplaceable"), `vm ${vm.id} preempts although it fits somewhere`);
        const eligible = new Map(state.evictable(node.id, spec.priority).map((v) => [v.id, v]));
        if (checked.has("priority")) {
          for (const e of decision.evictions) {
            const victim = view.vm(e.vmId)!;
            if (!eligible.has(e.vmId)) throw new Error(`priority: vm ${e.vmId} (priority ${victim.spec.priority}, preemptible ${victim.spec.preemptible}) evicted for vm ${vm.id} (priority ${spec.priority}) on node ${node.id}`);
            assert.equal(e.forVmId, vm.id);
            assert.equal(e.expectedGeneration, victim.generation);
          }
        }
        const freed = [0, 0, 0];
        for (const e of decision.evictions) {
          const r = view.vm(e.vmId)!.spec.resources;
          freed[0] += r.vcpus;
          freed[1] += r.memoryMib;
          freed[2] += r.diskGib;
        }
        const free = state.free(node);
        assert.ok(need.every((x, r) => free[r]! + freed[r]! >= x), "the evictions make room");
        assert.equal(state.placementFailure(node, spec), undefined, "a preemption node passes every filter but capacity");
        if (checked.has("fewest")) {
          const best = state.bestEviction(spec);
          assert.ok(best !== undefined, "the oracle finds a preemption too");
          const prioritySum = decision.evictions.reduce((sum, e) => sum + view.vm(e.vmId)!.spec.priority, 0);
          if (decision.evictions.length !== best.vmIds.length) throw new Error(`fewest: vm ${vm.id} evicts ${decision.evictions.length} VMs on node ${node.id}; ${best.vmIds.length} on node ${best.nodeId} suffice`);
          assert.deepEqual([prioritySum, decision.nodeId], [best.prioritySum, best.nodeId], "ties: lowest total priority, then lowest node id");
        }
        for (const e of decision.evictions) state.evicted.add(e.vmId);
        state.add(spec, node.id, [Math.max(0, need[0] - freed[0]!), Math.max(0, need[1] - freed[1]!), Math.max(0, need[2] - freed[2]!)]);
        break;
      }
      case "unplaceable": {
        if (!checked.has("unplaceable")) break;
        if (state.fitsSomewhere(spec)) throw new Error(`unplaceable: vm ${vm.id} declared unplaceable (${decision.explanation}) but a node passes every filter`);
        const counts = state.exclusionCounts(spec);
        assert.deepEqual(new Map(decision.exclusions.map((e) => [e.filter, e.nodes])), counts, `exact counts in "${decision.explanation}"`);
        const best = state.bestEviction(spec);
        assert.equal(best, undefined, "no preemption would have helped");
        break;
      }
    }
  }
  if (checked.has("capacity")) {
    for (const node of state.nodes) {
      const a = oracleAllocatable(node);
      const placed = [0, 0, 0];
      for (const p of plan.placements.filter((x) => x.nodeId === node.id)) {
        const r = view.vm(p.vmId)!.spec.resources;
        placed[0] += r.vcpus;
        placed[1] += r.memoryMib;
        placed[2] += r.diskGib;
      }
      const u = node.allocated;
      const over = (placed[0]! > 0 && u.vcpus + placed[0]! > a.vcpus) || (placed[1]! > 0 && u.memoryMib + placed[1]! > a.memoryMib) || (placed[2]! > 0 && u.diskGib + placed[2]! > a.diskGib);
      if (over) throw new Error(`capacity: node ${node.id} given more than its allocatable`);
    }
  }
  for (const p of plan.placements) assert.equal(p.expectedGeneration, view.vm(p.vmId)!.generation);
}

const ALL: ReadonlySet<Property> = new Set(["capacity", "constraints", "priority", "fewest", "unplaceable", "spread"]);

function planProperty(plantedBugs: readonly SchedulerPlantedBug[], checked: ReadonlySet<Property>, singleVm: boolean) {
  return fc.property(scenarioArbitrary, (scenario) => {
    const view = new FixtureView(scenario.contents);
    const vmIds = singleVm ? scenario.vmIds.slice(0, 1) : scenario.vmIds;
    const plan = schedule(view, vmIds, optionsOf(scenario, plantedBugs));
    checkPlan(view, vmIds, plan, checked);
  });
}

describe("scheduler properties against the brute-force oracle", () => {
  test("batches: within capacity, hard constraints, lower priority only, fewest evictions, really unplaceable, fewest in domain", () => {
    fc.assert(planProperty([], ALL, false), { seed: SEED, numRuns: RUNS });
  });

  test("single VMs on random clusters (preemption and explanations dominate)", () => {
    fc.assert(planProperty([], ALL, true), { seed: SEED + 1, numRuns: RUNS });
  });

  test("same input, same plan; the view's iteration order does not matter", () => {
    fc.assert(
      fc.property(scenarioArbitrary, (scenario) => {
        const options = optionsOf(scenario, []);
        const first = schedule(new FixtureView(scenario.contents), scenario.vmIds, options);
        const again = schedule(new FixtureView(scenario.contents), scenario.vmIds, options);
        const reversed = schedule(new FixtureView({ ...scenario.contents, iteration: "reversed" }), scenario.vmIds, options);
        assert.deepEqual(again, first);
        assert.deepEqual(reversed, first);
      }),
      { seed: SEED + 2, numRuns: RUNS },
    );
  });

  test("round-robin: roundRobinLastNodeId is the node of the last placement", () => {
    fc.assert(
      fc.property(scenarioArbitrary, (scenario) => {
        const plan = schedule(new FixtureView(scenario.contents), scenario.vmIds, { ...optionsOf(scenario, []), strategy: "round-robin" });
        const last = plan.placements[plan.placements.length - 1];
        assert.equal(plan.roundRobinLastNodeId, last === undefined ? 0 : (last.nodeId as NodeId));
      }),
      { seed: SEED + 3, numRuns: 100 },
    );
  });
});

describe("each planted bug makes a property fail", () => {
  const cases: readonly { bug: SchedulerPlantedBug; property: Property; singleVm: boolean }[] = [
    { bug: "capacity-ignores-overcommit", property: "capacity", singleVm: false },
    { bug: "capacity-ignores-batch", property: "capacity", singleVm: false },
    { bug: "hard-anti-affinity-ignored", property: "constraints", singleVm: false },
    { bug: "required-labels-ignored", property: "constraints", singleVm: false },
    { bug: "preempt-equal-priority", property: "priority", singleVm: true },
    { bug: "preempt-every-candidate", property: "fewest", singleVm: true },
    { bug: "give-up-after-half", property: "unplaceable", singleVm: true },
    { bug: "spread-within-candidates", property: "spread", singleVm: false },
  ];
  for (const { bug, property, singleVm } of cases) {
    test(`${bug} is caught by "${property}"`, () => {
      const result = fc.check(planProperty([bug], new Set([property]), singleVm), { seed: SEED + 10, numRuns: 2_000 });
      assert.ok(result.failed, `${bug} went unnoticed in ${result.numRuns} runs`);
      const error = result.errorInstance;
      assert.ok(error instanceof Error && error.message.startsWith(`${property}:`), `the failure names "${property}": ${String(error)}`);
      // And the same property holds with the bug off (the first test runs every property; this pins the pairing).
      fc.assert(planProperty([], new Set([property]), singleVm), { seed: SEED + 10, numRuns: 200 });
    });
  }
});
