// The strategies (spread, bin-pack, round-robin), the per-VM spread across failure domains and
// pinning, the soft scores (soft anti-affinity, "prefer" locality), the tie rule, migration
// targets, and a batch that accounts for its own decisions.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { NodeId, VmId } from "../../../src/core/cluster/types.ts";
import { schedule } from "../../../src/core/scheduler/schedule.ts";
import { DEFAULT_SCHEDULER_OPTIONS, type SchedulePlan, type SchedulerOptions } from "../../../src/core/scheduler/scheduler-types.ts";
import { FixtureView, nodeRecord, vmRecord, type NodeShape, type VmShape } from "../../support/cluster-view-fixture.ts";

const BIG = { vcpus: 16, memoryMib: 16_384, diskGib: 160 };
const SMALL_VM = { vcpus: 1, memoryMib: 1_024, diskGib: 10 };

function plan(nodes: readonly NodeShape[], vms: readonly VmShape[], pending: readonly VmId[], options: Partial<SchedulerOptions> = {}): SchedulePlan {
  const view = new FixtureView({ nodes: nodes.map(nodeRecord), vms: vms.map(vmRecord) });
  return schedule(view, pending, { ...DEFAULT_SCHEDULER_OPTIONS, candidatesMax: 0, ...options });
}

function nodesOf(result: SchedulePlan): NodeId[] {
  return result.decisions.map((d) => (d.kind === "placed" ? d.nodeId : -1));
}

const pendingVms = (first: number, count: number, shape: Omit<VmShape, "id"> = {}): VmShape[] => Array.from({ length: count }, (_, i) => ({ ...shape, id: first + i, resources: shape.resources ?? SMALL_VM }));
const ids = (vms: readonly VmShape[]): VmId[] => vms.map((v) => v.id);

describe("spread: most free after placing", () => {
  test("the emptier node wins; a batch alternates as it fills", () => {
    const loaded = { id: 1, nodeId: 1, resources: { vcpus: 4, memoryMib: 4_096, diskGib: 40 } };
    const pending = pendingVms(10, 4);
    const result = plan([{ id: 1, capacity: BIG }, { id: 2, capacity: BIG }], [loaded, ...pending], ids(pending), { strategy: "spread" });
    // node 2 (empty) until it is as loaded as node 1, then the tie goes to the lowest id.
    assert.deepEqual(nodesOf(result), [2, 2, 2, 2]);
    const more = pendingVms(20, 6);
    const second = plan([{ id: 1, capacity: BIG }, { id: 2, capacity: BIG }], [loaded, ...more], ids(more), { strategy: "spread" });
    assert.deepEqual(nodesOf(second), [2, 2, 2, 2, 1, 2]);
  });

  test("the score is the mean free per-mille of the three resources after placing", () => {
    const result = plan([{ id: 1, capacity: { vcpus: 10, memoryMib: 10_000, diskGib: 100 } }], pendingVms(1, 1, { resources: { vcpus: 1, memoryMib: 5_000, diskGib: 0 } }), [1], { strategy: "spread" });
    assert.ok(result.decisions[0]!.kind === "placed");
    assert.equal(result.decisions[0]!.score, Math.floor((900 + 500 + 1000) / 3));
  });
});

describe("bin-pack: least free that fits", () => {
  test("the fuller node wins while the VM fits there", () => {
    const loaded = { id: 1, nodeId: 2, resources: { vcpus: 14, memoryMib: 14_336, diskGib: 140 } };
    const pending = pendingVms(10, 4, { resources: { vcpus: 1, memoryMib: 1_024, diskGib: 10 } });
    const result = plan([{ id: 1, capacity: BIG }, { id: 2, capacity: BIG }, { id: 3, capacity: BIG }], [loaded, ...pending], ids(pending), { strategy: "bin-pack" });
    // node 2 takes two more, then is full; node 1 (the tie between 1 and 3 goes to the lowest id) gets the rest.
    assert.deepEqual(nodesOf(result), [2, 2, 1, 1]);
  });
});

describe("round-robin: the next node after the last placement, in id order, wrapping", () => {
  test("rotation from roundRobinAfterNodeId, skipping nodes that do not fit, and the plan says where it ended", () => {
    const nodes = [{ id: 3 }, { id: 5 }, { id: 8, capacity: { vcpus: 1, memoryMib: 1_024, diskGib: 10 } }, { id: 9 }];
    const pending = pendingVms(1, 6);
    const result = plan(nodes, pending, ids(pending), { strategy: "round-robin", roundRobinAfterNodeId: 5 });
    assert.deepEqual(nodesOf(result), [8, 9, 3, 5, 9, 3]);
    assert.equal(result.roundRobinLastNodeId, 3);
    const next = plan(nodes, pending, ids(pending).slice(0, 1), { strategy: "round-robin", roundRobinAfterNodeId: result.roundRobinLastNodeId });
    assert.deepEqual(nodesOf(next), [5]);
  });

  test("from the start (roundRobinAfterNodeId 0) it begins at the lowest id", () => {
    const pending = pendingVms(1, 4);
    assert.deepEqual(nodesOf(plan([{ id: 1 }, { id: 2 }, { id: 3 }], pending, ids(pending), { strategy: "round-robin" })), [1, 2, 3, 1]);
  });
});

describe("spread across failure domains (per VM constraint)", () => {
  const nodes: NodeShape[] = [
    { id: 1, capacity: BIG, topology: { zone: "a", rack: "a1" } },
    { id: 2, capacity: BIG, topology: { zone: "a", rack: "a2" } },
    { id: 3, capacity: BIG, topology: { zone: "b", rack: "b1" } },
    { id: 4, capacity: BIG, topology: { zone: "c", rack: "c1" } },
  ];

  test("the zone with the fewest of the group wins, whatever the strategy", () => {
    const assigned = [{ id: 1, nodeId: 1, group: "web", antiAffinityMode: "soft" as const }];
    const pending = pendingVms(10, 3, { group: "web", antiAffinityMode: "soft", constraints: [{ kind: "spread", domain: "zone" }] });
    for (const strategy of ["spread", "bin-pack", "round-robin"] as const) {
      const result = plan(nodes, [...assigned, ...pending], ids(pending), { strategy });
      const zones = nodesOf(result).map((n) => (n <= 2 ? "a" : n === 3 ? "b" : "c"));
      assert.deepEqual([...zones].sort(), ["a", "b", "c"], `${strategy}: one each in a (after b and c), b and c: ${nodesOf(result).join(",")}`);
      assert.equal(zones[2], "a", `${strategy}: zone a, which held one already, comes last`);
    }
  });

  test("without a group, the tenant's VMs are spread", () => {
    const pending = pendingVms(10, 3, { tenant: "solo", constraints: [{ kind: "spread", domain: "zone" }] });
    const zones = nodesOf(plan(nodes, pending, ids(pending), { strategy: "bin-pack" })).map((n) => (n <= 2 ? "a" : n === 3 ? "b" : "c"));
    assert.deepEqual([...zones].sort(), ["a", "b", "c"]);
  });
});

describe("pinned", () => {
  test("a pinned VM goes to its node or nowhere", () => {
    const pending = [{ id: 1, resources: SMALL_VM, constraints: [{ kind: "pinned" as const, nodeId: 3 }] }];
    assert.deepEqual(nodesOf(plan([{ id: 1 }, { id: 2 }, { id: 3 }], pending, [1])), [3]);
    const cordoned = plan([{ id: 1 }, { id: 3, state: "cordoned" }], pending, [1]);
    assert.equal(cordoned.decisions[0]!.kind === "unplaceable" && cordoned.decisions[0]!.explanation, "2 nodes: 1 cordoned, 1 pinned elsewhere");
  });
});

describe("soft scores", () => {
  test("soft anti-affinity lowers the score by its weight per conflicting VM and never forbids", () => {
    const member = { id: 1, nodeId: 1, group: "cache", antiAffinityMode: "soft" as const };
    const pending = [{ id: 2, resources: SMALL_VM, group: "cache", antiAffinityMode: "soft" as const, weight: 100 }];
    // Alone on the only node: placed all the same.
    assert.deepEqual(nodesOf(plan([{ id: 1, capacity: BIG }], [member, ...pending], [2])), [1]);
    // With a choice, bin-pack prefers the fuller node 1 (resource score 1000 - 875 = 125 against 1000 - 937 = 63);
    // the conflict (weight 100) outweighs that difference of 62.
    const result = plan([{ id: 1, capacity: BIG }, { id: 2, capacity: BIG }], [member, ...pending], [2], { strategy: "bin-pack" });
    assert.deepEqual(nodesOf(result), [2]);
    const withoutConflict = plan([{ id: 1, capacity: BIG }, { id: 2, capacity: BIG }], [member, { ...pending[0]!, group: "other" }], [2], { strategy: "bin-pack" });
    assert.deepEqual(nodesOf(withoutConflict), [1]);
    // A weight below the difference of 62 does not outweigh it.
    const light = plan([{ id: 1, capacity: BIG }, { id: 2, capacity: BIG }], [member, { ...pending[0]!, weight: 61 }], [2], { strategy: "bin-pack" });
    assert.deepEqual(nodesOf(light), [1]);
  });

  test('"prefer" locality raises the score; it never forbids', () => {
    const nodes: NodeShape[] = [{ id: 1, topology: { zone: "a" } }, { id: 2, topology: { zone: "b" }, state: "ready" }];
    const pending = [{ id: 1, resources: SMALL_VM, constraints: [{ kind: "zone" as const, mode: "prefer" as const, value: "b" }] }];
    assert.deepEqual(nodesOf(plan(nodes, pending, [1])), [2]);
    assert.deepEqual(nodesOf(plan([{ id: 1, topology: { zone: "a" } }, { id: 2, topology: { zone: "b" }, state: "cordoned" }], pending, [1])), [1]);
  });
});

describe("ties go to the lowest node id", () => {
  test("identical nodes, any strategy but round-robin", () => {
    for (const strategy of ["spread", "bin-pack"] as const) {
      for (const candidatesMax of [0, 1, 32]) {
        assert.deepEqual(nodesOf(plan([{ id: 9 }, { id: 4 }, { id: 7 }], [{ id: 1, resources: SMALL_VM }], [1], { strategy, candidatesMax })), [4], `${strategy} ${candidatesMax}`);
      }
    }
  });
});

describe("migration targets", () => {
  test("a feasible target is taken over the strategy's choice; an infeasible one is ignored", () => {
    const nodes = [{ id: 1 }, { id: 2 }, { id: 3, state: "cordoned" as const }];
    const pending = [{ id: 1, resources: SMALL_VM }];
    assert.deepEqual(nodesOf(plan(nodes, pending, [1], { migrationTargetOf: () => 2 })), [2]);
    assert.deepEqual(nodesOf(plan(nodes, pending, [1], { migrationTargetOf: () => 3 })), [1]);
    assert.deepEqual(nodesOf(plan(nodes, pending, [1], { migrationTargetOf: () => 42 })), [1]);
  });
});

describe("a batch accounts for its own decisions", () => {
  test("usage grows as it places: the third VM does not fit where two did", () => {
    const half = { vcpus: 8, memoryMib: 8_192, diskGib: 80 };
    const pending = pendingVms(1, 3, { resources: half });
    const result = plan([{ id: 1, capacity: BIG }], pending, ids(pending));
    assert.deepEqual(nodesOf(result), [1, 1, -1]);
    assert.equal(result.decisions[2]!.kind === "unplaceable" && result.decisions[2]!.explanation, "1 node: 1 insufficient vcpus");
  });

  test("hard anti-affinity counts the batch's own placements", () => {
    const pending = pendingVms(1, 3, { group: "db" });
    assert.deepEqual(nodesOf(plan([{ id: 1 }, { id: 2 }], pending, ids(pending))), [1, 2, -1]);
  });

  test("higher priority is decided first; decisions come back in input order", () => {
    const half = { vcpus: 16, memoryMib: 1_024, diskGib: 10 };
    const vms = [
      { id: 1, resources: half, priority: 10 },
      { id: 2, resources: half, priority: 500 },
    ];
    const result = plan([{ id: 1, capacity: BIG }], vms, [1, 2], { preemption: false });
    assert.deepEqual(
      result.decisions.map((d) => [d.vmId, d.kind]),
      [
        [1, "unplaceable"],
        [2, "placed"],
      ],
    );
    assert.deepEqual(result.placements, [{ vmId: 2, expectedGeneration: 1, nodeId: 1 }]);
  });
});
