// Each filter, by the explanation it gives when it is the only reason a VM fits nowhere, and the
// explanation's counts and order when several exclude nodes.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { allocatable as allocatableOf } from "../../../src/core/cluster/resources.ts";
import { schedule } from "../../../src/core/scheduler/schedule.ts";
import { DEFAULT_SCHEDULER_OPTIONS, type ScheduleDecision } from "../../../src/core/scheduler/scheduler-types.ts";
import { FixtureView, nodeRecord, quota, vmRecord, type NodeShape, type VmShape } from "../../support/cluster-view-fixture.ts";

const PENDING = 100;

function decide(nodes: readonly NodeShape[], pending: Omit<VmShape, "id">, assigned: readonly VmShape[] = [], tenants: { name: string; vmsPerNodeMax: number }[] = []): ScheduleDecision {
  const view = new FixtureView({
    nodes: nodes.map(nodeRecord),
    vms: [...assigned.map(vmRecord), vmRecord({ ...pending, id: PENDING })],
    tenants: tenants.map((t) => ({ name: t.name, quota: quota(t.vmsPerNodeMax) })),
  });
  const plan = schedule(view, [PENDING], { ...DEFAULT_SCHEDULER_OPTIONS, preemption: false });
  assert.equal(plan.decisions.length, 1);
  return plan.decisions[0]!;
}

function explanationOf(decision: ScheduleDecision): string {
  assert.equal(decision.kind, "unplaceable", JSON.stringify(decision));
  return decision.kind === "unplaceable" ? decision.explanation : "";
}

describe("each filter names itself", () => {
  const cases: readonly { name: string; nodes: NodeShape[]; vm: Omit<VmShape, "id">; assigned?: VmShape[]; tenants?: { name: string; vmsPerNodeMax: number }[]; expected: string }[] = [
    { name: "down", nodes: [{ id: 1, state: "down" }], vm: {}, expected: "1 node: 1 down" },
    { name: "cordoned", nodes: [{ id: 1, state: "cordoned" }], vm: {}, expected: "1 node: 1 cordoned" },
    { name: "draining", nodes: [{ id: 1, state: "draining" }], vm: {}, expected: "1 node: 1 draining" },
    { name: "pinned", nodes: [{ id: 1 }, { id: 2 }], vm: { constraints: [{ kind: "pinned", nodeId: 3 }] }, expected: "2 nodes: 2 pinned elsewhere" },
    {
      name: "datacenter require and exclude",
      nodes: [{ id: 1, topology: { datacenter: "east" } }, { id: 2, topology: { datacenter: "west" } }],
      vm: { constraints: [{ kind: "datacenter", mode: "require", value: "west" }, { kind: "datacenter", mode: "exclude", value: "west" }] },
      expected: "2 nodes: 2 datacenter",
    },
    { name: "zone", nodes: [{ id: 1, topology: { zone: "a" } }], vm: { constraints: [{ kind: "zone", mode: "require", value: "b" }] }, expected: "1 node: 1 zone" },
    { name: "zone exclude", nodes: [{ id: 1, topology: { zone: "a" } }], vm: { constraints: [{ kind: "zone", mode: "exclude", value: "a" }] }, expected: "1 node: 1 zone" },
    { name: "feature", nodes: [{ id: 1, features: ["kvm"] }], vm: { constraints: [{ kind: "feature", feature: "gpu" }] }, expected: "1 node: 1 missing feature" },
    { name: "label", nodes: [{ id: 1, labels: [{ key: "tier", value: "hdd" }] }], vm: { constraints: [{ kind: "label", key: "tier", value: "ssd" }] }, expected: "1 node: 1 missing label" },
    {
      name: "tenant vms per node",
      nodes: [{ id: 1 }],
      vm: { tenant: "acme" },
      assigned: [{ id: 1, nodeId: 1, tenant: "acme" }],
      tenants: [{ name: "acme", vmsPerNodeMax: 1 }],
      expected: "1 node: 1 tenant vms per node",
    },
    { name: "hard anti-affinity", nodes: [{ id: 1 }], vm: { group: "db" }, assigned: [{ id: 1, nodeId: 1, group: "db" }], expected: "1 node: 1 anti-affinity" },
    { name: "vcpus", nodes: [{ id: 1, capacity: { vcpus: 2, memoryMib: 4096, diskGib: 100 } }], vm: { resources: { vcpus: 3, memoryMib: 1, diskGib: 1 } }, expected: "1 node: 1 insufficient vcpus" },
    { name: "memory", nodes: [{ id: 1, capacity: { vcpus: 2, memoryMib: 4096, diskGib: 100 } }], vm: { resources: { vcpus: 1, memoryMib: 4097, diskGib: 1 } }, expected: "1 node: 1 insufficient memory" },
    { name: "disk", nodes: [{ id: 1, capacity: { vcpus: 2, memoryMib: 4096, diskGib: 100 } }], vm: { resources: { vcpus: 1, memoryMib: 1, diskGib: 101 } }, expected: "1 node: 1 insufficient disk" },
    { name: "no nodes at all", nodes: [], vm: {}, expected: "no nodes" },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.equal(explanationOf(decide(c.nodes, c.vm, c.assigned, c.tenants)), c.expected);
    });
  }

  test("anti-affinity is per tenant: another tenant's group of the same name does not count", () => {
    const decision = decide([{ id: 1 }], { group: "db", tenant: "a" }, [{ id: 1, nodeId: 1, group: "db", tenant: "b" }]);
    assert.equal(decision.kind, "placed");
  });

  test("hard anti-affinity allows maxPerNode of the group per node", () => {
    const assigned = [{ id: 1, nodeId: 1, group: "db", maxPerNode: 2 }];
    assert.equal(decide([{ id: 1 }], { group: "db", maxPerNode: 2 }, assigned).kind, "placed");
    assert.equal(explanationOf(decide([{ id: 1 }], { group: "db", maxPerNode: 2 }, [...assigned, { id: 2, nodeId: 1, group: "db" }])), "1 node: 1 anti-affinity");
  });
});

describe("the explanation counts every node once, largest count first, ties in filter order", () => {
  test('"5 nodes: 3 insufficient memory, 1 cordoned, 1 anti-affinity"', () => {
    const small = { vcpus: 8, memoryMib: 1_024, diskGib: 100 };
    const nodes: NodeShape[] = [{ id: 1, capacity: small }, { id: 2, state: "cordoned" }, { id: 3, capacity: small }, { id: 4 }, { id: 5, capacity: small }];
    const decision = decide(nodes, { group: "web", resources: { vcpus: 1, memoryMib: 2_048, diskGib: 1 } }, [{ id: 1, nodeId: 4, group: "web" }]);
    assert.equal(explanationOf(decision), "5 nodes: 3 insufficient memory, 1 cordoned, 1 anti-affinity");
    assert.ok(decision.kind === "unplaceable");
    assert.deepEqual(decision.exclusions, [
      { filter: "insufficient memory", nodes: 3 },
      { filter: "cordoned", nodes: 1 },
      { filter: "anti-affinity", nodes: 1 },
    ]);
  });

  test("a node failing several filters is counted under the first (state before capacity)", () => {
    const decision = decide([{ id: 1, state: "down", capacity: { vcpus: 1, memoryMib: 1, diskGib: 1 } }], { resources: { vcpus: 4, memoryMib: 4, diskGib: 4 } });
    assert.equal(explanationOf(decision), "1 node: 1 down");
  });
});

describe("capacity under the overcommit policy", () => {
  const overcommit = { cpuPermille: 1_500, memoryPermille: 1_000, diskPermille: 900, reserve: { vcpus: 1, memoryMib: 512, diskGib: 10 } };
  const capacity = { vcpus: 7, memoryMib: 4_096, diskGib: 101 };

  test("allocatable = floor(capacity * permille / 1000) - reserve, per resource", () => {
    assert.deepEqual(allocatableOf({ capacity, overcommit }), { vcpus: 9, memoryMib: 3_584, diskGib: 80 });
    assert.deepEqual(allocatableOf({ capacity: { vcpus: 999_999_999_999, memoryMib: 0, diskGib: 0 }, overcommit: { ...overcommit, reserve: { vcpus: 0, memoryMib: 0, diskGib: 0 } } }), {
      vcpus: 1_499_999_999_998,
      memoryMib: 0,
      diskGib: 0,
    });
  });

  test("a VM of exactly the allocatable minus what is allocated fits; one unit more does not", () => {
    const nodes = [{ id: 1, capacity, overcommit }];
    const assigned = [{ id: 1, nodeId: 1, resources: { vcpus: 4, memoryMib: 1_000, diskGib: 30 } }];
    assert.equal(decide(nodes, { resources: { vcpus: 5, memoryMib: 2_584, diskGib: 50 } }, assigned).kind, "placed");
    assert.equal(explanationOf(decide(nodes, { resources: { vcpus: 6, memoryMib: 2_584, diskGib: 50 } }, assigned)), "1 node: 1 insufficient vcpus");
    assert.equal(explanationOf(decide(nodes, { resources: { vcpus: 5, memoryMib: 2_585, diskGib: 50 } }, assigned)), "1 node: 1 insufficient memory");
    assert.equal(explanationOf(decide(nodes, { resources: { vcpus: 5, memoryMib: 2_584, diskGib: 51 } }, assigned)), "1 node: 1 insufficient disk");
  });

  test("a reserve larger than the node leaves nothing", () => {
    const decision = decide([{ id: 1, capacity: { vcpus: 1, memoryMib: 100, diskGib: 10 }, overcommit: { ...overcommit, reserve: { vcpus: 2, memoryMib: 0, diskGib: 0 } } }], {
      resources: { vcpus: 1, memoryMib: 1, diskGib: 1 },
    });
    assert.equal(explanationOf(decision), "1 node: 1 insufficient vcpus");
  });
});

describe("inputs that are not pending VMs", () => {
  const view = new FixtureView({ nodes: [nodeRecord({ id: 1 })], vms: [vmRecord({ id: 1 }), vmRecord({ id: 2, nodeId: 1 })] });

  test("unknown, already assigned and repeated VMs are reported, not placed", () => {
    const plan = schedule(view, [9, 2, 1, 1], DEFAULT_SCHEDULER_OPTIONS);
    assert.deepEqual(
      plan.decisions.map((d) => (d.kind === "unplaceable" ? d.explanation : d.kind)),
      ["vm 9 does not exist", "vm 2 is not pending (phase running, desired running, node 1)", "placed", "vm 1 appears more than once in the batch"],
    );
    assert.equal(plan.placements.length, 1);
  });
});
