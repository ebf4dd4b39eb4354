// Priority and preemption: who may be evicted, how few, on which node, and what the plan says.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { VmId } from "../../../src/core/cluster/types.ts";
import { compareCandidates, fewestEvictions, type EvictionCandidate } from "../../../src/core/scheduler/fewest-evictions.ts";
import { schedule } from "../../../src/core/scheduler/schedule.ts";
import { DEFAULT_SCHEDULER_OPTIONS, type SchedulePlan, type SchedulerOptions } from "../../../src/core/scheduler/scheduler-types.ts";
import { FixtureView, nodeRecord, vmRecord, type NodeShape, type VmShape } from "../../support/cluster-view-fixture.ts";

const NODE = { vcpus: 8, memoryMib: 8_192, diskGib: 80 };
const cpus = (vcpus: number) => ({ vcpus, memoryMib: 0, diskGib: 0 });

function plan(nodes: readonly NodeShape[], vms: readonly VmShape[], pending: readonly VmId[], options: Partial<SchedulerOptions> = {}): SchedulePlan {
  return schedule(new FixtureView({ nodes: nodes.map(nodeRecord), vms: vms.map(vmRecord) }), pending, { ...DEFAULT_SCHEDULER_OPTIONS, ...options });
}

const victim = (id: number, nodeId: number, vcpus: number, priority: number, extra: Partial<VmShape> = {}): VmShape => ({ id, nodeId, resources: cpus(vcpus), priority, preemptible: true, ...extra });

describe("preemption", () => {
  test("evicts the fewest: one big VM rather than two small ones; the VM waits, it is not placed", () => {
    const vms = [victim(1, 1, 2, 1), victim(2, 1, 2, 1), victim(3, 1, 4, 5), { id: 10, resources: cpus(4), priority: 100 }];
    const result = plan([{ id: 1, capacity: NODE }], vms, [10]);
    assert.deepEqual(result.decisions, [
      { kind: "preempting", vmId: 10, nodeId: 1, evictions: [{ vmId: 3, expectedGeneration: 1, forVmId: 10 }], explanation: "preempting 1 VM on node 1" },
    ]);
    assert.deepEqual(result.placements, []);
    assert.deepEqual(result.evictions, [{ vmId: 3, expectedGeneration: 1, forVmId: 10 }]);
  });

  test("among equally few, the lowest total priority; the explanation counts them", () => {
    const vms = [victim(1, 1, 2, 7), victim(2, 1, 2, 3), victim(3, 1, 2, 4), victim(4, 1, 2, 9), { id: 10, resources: cpus(4), priority: 100 }];
    const result = plan([{ id: 1, capacity: NODE }], vms, [10]);
    const decision = result.decisions[0]!;
    assert.ok(decision.kind === "preempting");
    assert.deepEqual(
      decision.evictions.map((e) => e.vmId),
      [2, 3],
    );
    assert.equal(decision.explanation, "preempting 2 VMs on node 7".replace("7", "1"));
  });

  test("never equal or higher priority, never a VM that is not preemptible", () => {
    const vms = [victim(1, 1, 4, 50), victim(2, 1, 2, 60), { id: 3, nodeId: 1, resources: cpus(2), priority: 1, preemptible: false }, { id: 10, resources: cpus(4), priority: 50 }];
    const result = plan([{ id: 1, capacity: NODE }], vms, [10]);
    assert.equal(result.decisions[0]!.kind, "unplaceable");
    assert.equal(result.decisions[0]!.kind === "unplaceable" && result.decisions[0]!.explanation, "1 node: 1 insufficient vcpus");
    assert.deepEqual(result.evictions, []);
  });

  test("among nodes: fewest evictions, then lowest total evicted priority, then lowest node id", () => {
    const nodes = [1, 2, 3, 4].map((id) => ({ id, capacity: NODE }));
    const vms = [
      victim(1, 1, 2, 1), victim(2, 1, 2, 1), victim(3, 1, 2, 1), victim(4, 1, 2, 1), // node 1: needs 2 evictions
      victim(5, 2, 4, 9), victim(6, 2, 4, 9), // node 2: 1 eviction of priority 9
      victim(7, 3, 4, 8), victim(8, 3, 4, 9), // node 3: 1 eviction of priority 8
      victim(9, 4, 4, 8), victim(11, 4, 4, 8), // node 4: 1 eviction of priority 8 too: node 3 wins the tie
      { id: 10, resources: cpus(4), priority: 100 },
    ];
    const decision = plan(nodes, vms, [10]).decisions[0]!;
    assert.ok(decision.kind === "preempting");
    assert.equal(decision.nodeId, 3);
    assert.deepEqual(
      decision.evictions.map((e) => e.vmId),
      [7],
    );
  });

  test("a VM is evicted once per plan, and the room it frees is held for the VM it was evicted for", () => {
    const vms = [victim(1, 1, 4, 1), victim(2, 1, 4, 2), { id: 10, resources: cpus(4), priority: 100 }, { id: 11, resources: cpus(4), priority: 90 }, { id: 12, resources: cpus(4), priority: 80 }];
    const result = plan([{ id: 1, capacity: NODE }], vms, [10, 11, 12]);
    assert.deepEqual(
      result.decisions.map((d) => (d.kind === "preempting" ? d.evictions.map((e) => e.vmId) : d.kind)),
      [[1], [2], "unplaceable"],
    );
  });

  test("VMs already stopping are not evicted again; preemption off means unplaceable", () => {
    const vms = [victim(1, 1, 8, 1, { phase: "stopping" }), { id: 10, resources: cpus(4), priority: 100 }];
    assert.equal(plan([{ id: 1, capacity: NODE }], vms, [10]).decisions[0]!.kind, "unplaceable");
    const running = [victim(1, 1, 8, 1), { id: 10, resources: cpus(4), priority: 100 }];
    assert.equal(plan([{ id: 1, capacity: NODE }], running, [10], { preemption: false }).decisions[0]!.kind, "unplaceable");
    assert.equal(plan([{ id: 1, capacity: NODE }], running, [10]).decisions[0]!.kind, "preempting");
  });

  test("only capacity is freed: a node excluded by another filter is no candidate", () => {
    const vms = [victim(1, 1, 8, 1, { group: "db" }), { id: 10, resources: cpus(4), priority: 100, group: "db" }];
    const decision = plan([{ id: 1, capacity: NODE }], vms, [10]).decisions[0]!;
    assert.equal(decision.kind === "unplaceable" && decision.explanation, "1 node: 1 anti-affinity");
  });
});

describe("fewestEvictions", () => {
  const candidate = (vmId: number, priority: number, vcpus: number, memoryMib: number): EvictionCandidate => ({ vmId, generation: 1, priority, vcpus, memoryMib, diskGib: 0 });

  test("covers several resources at once with the fewest", () => {
    // Need 4 vcpus and 4 GiB: {1: cpu-heavy, 2: memory-heavy} or {3: both}.
    const candidates = [candidate(1, 0, 4, 0), candidate(2, 0, 0, 4), candidate(3, 1, 4, 4)];
    const choice = fewestEvictions(candidates, { vcpus: 4, memoryMib: 4, diskGib: 0 }, 10, 1_000);
    assert.deepEqual(
      choice?.chosen.map((c) => c.vmId),
      [3],
    );
    assert.equal(choice?.exact, true);
    assert.equal(fewestEvictions(candidates, { vcpus: 9, memoryMib: 0, diskGib: 0 }, 10, 1_000), undefined);
    assert.equal(fewestEvictions(candidates, { vcpus: 8, memoryMib: 8, diskGib: 0 }, 1, 1_000), undefined, "countMax bounds the search");
  });

  test("past its step budget it still frees the deficit, marked inexact", () => {
    const candidates = Array.from({ length: 30 }, (_, i) => candidate(i + 1, i % 3, 1, 1)).sort(compareCandidates);
    const choice = fewestEvictions(candidates, { vcpus: 12, memoryMib: 12, diskGib: 0 }, 30, 5);
    assert.ok(choice !== undefined);
    assert.equal(choice.exact, false);
    assert.ok(choice.chosen.length >= 12);
  });
});
