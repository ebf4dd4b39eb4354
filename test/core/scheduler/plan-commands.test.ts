// A plan as placements-commit commands: the controller's split into bounded batches (one VM's
// evictions never split), and a user's checked plan carrying the applied index it was made at.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { ClusterCommand } from "../../../src/core/cluster/types.ts";
import { planToCommands } from "../../../src/core/scheduler/plan-commands.ts";
import { schedule } from "../../../src/core/scheduler/schedule.ts";
import { DEFAULT_SCHEDULER_OPTIONS, type SchedulePlan } from "../../../src/core/scheduler/scheduler-types.ts";
import { FixtureView, nodeRecord, vmRecord } from "../../support/cluster-view-fixture.ts";

function planOf(placements: number, evictionGroups: readonly number[]): SchedulePlan {
  let vmId = 1;
  const placementEntries = Array.from({ length: placements }, () => ({ vmId: vmId++, expectedGeneration: 1, nodeId: 1 }));
  const evictions = evictionGroups.flatMap((size) => {
    const forVmId = vmId++;
    return Array.from({ length: size }, () => ({ vmId: vmId++, expectedGeneration: 2, forVmId }));
  });
  return { appliedIndex: 42, decisions: [], placements: placementEntries, evictions, roundRobinLastNodeId: 0 };
}

function entriesOf(command: ClusterCommand): number {
  assert.equal(command.kind, "placements-commit");
  return command.kind === "placements-commit" ? command.placements.length + command.evictions.length : 0;
}

describe("planToCommands", () => {
  test("controller: batches of at most the limit, checkIndex 0, every entry once, one VM's evictions together", () => {
    const plan = planOf(7, [3, 2]);
    const result = planToCommands(plan, "controller", 4);
    assert.ok(result.kind === "ok");
    assert.deepEqual(result.commands.map(entriesOf), [4, 3, 3, 2]);
    for (const command of result.commands) assert.ok(command.kind === "placements-commit" && command.checkIndex === 0);
    const all = result.commands.flatMap((c) => (c.kind === "placements-commit" ? [...c.placements.map((p) => p.vmId), ...c.evictions.map((e) => e.vmId)] : []));
    assert.deepEqual(all, [...plan.placements.map((p) => p.vmId), ...plan.evictions.map((e) => e.vmId)]);
    const third = result.commands[2]!;
    assert.ok(third.kind === "placements-commit" && third.evictions.every((e) => e.forVmId === plan.evictions[0]!.forVmId));
  });

  test("controller: the default limit is CLUSTER_LIMITS.placementsPerCommandMax (4,096)", () => {
    const result = planToCommands(planOf(10_000, []), "controller");
    assert.ok(result.kind === "ok");
    assert.deepEqual(result.commands.map(entriesOf), [4_096, 4_096, 1_808]);
  });

  test("checked: one command with checkIndex = the plan's applied index, or refused when too large", () => {
    const result = planToCommands(planOf(3, [1]), "checked");
    assert.ok(result.kind === "ok" && result.commands.length === 1);
    const command = result.commands[0]!;
    assert.ok(command.kind === "placements-commit" && command.checkIndex === 42);
    const tooLarge = planToCommands(planOf(5, []), "checked", 4);
    assert.deepEqual(tooLarge, { kind: "too-large", message: "a checked plan must fit one command: 5 entries, at most 4 (plan fewer VMs at once)" });
    assert.deepEqual(planToCommands(planOf(0, []), "checked"), { kind: "ok", commands: [] });
  });

  test("a dry run is schedule() alone: the view does not change, and the plan carries the view's applied index", () => {
    const view = new FixtureView({ nodes: [nodeRecord({ id: 1 })], vms: [vmRecord({ id: 1 })], appliedIndex: 1_234 });
    const plan = schedule(view, [1], DEFAULT_SCHEDULER_OPTIONS);
    assert.equal(plan.appliedIndex, 1_234);
    assert.equal(view.vm(1)!.nodeId, 0);
    assert.equal(view.node(1)!.allocated.vcpus, 0);
    const commands = planToCommands(plan, "checked");
    assert.ok(commands.kind === "ok");
    assert.deepEqual(commands.commands, [{ kind: "placements-commit", checkIndex: 1_234, placements: [{ vmId: 1, expectedGeneration: 1, nodeId: 1 }], evictions: [] }]);
  });
});
