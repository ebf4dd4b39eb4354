// Random clusters and VMs for the scheduler's property tests: up to 8 nodes (ids 1..12, with
// states, overcommit, reserves, labels, features, topology), up to 14 VMs already assigned
// (priorities, preemptible or not, some stopping), 1-10 pending VMs with constraints and groups,
// a per-node tenant quota, a strategy, a candidate bound, and an input order.

import fc from "fast-check";
import type { PlacementConstraint, VmRecord } from "../../../src/core/cluster/types.ts";
import type { SchedulingStrategy } from "../../../src/core/scheduler/scheduler-types.ts";
import { nodeRecord, quota, vmRecord, type FixtureContents } from "../../support/cluster-view-fixture.ts";

export interface Scenario {
  readonly contents: FixtureContents;
  readonly vmIds: readonly number[];
  readonly strategy: SchedulingStrategy;
  readonly candidatesMax: number;
}

const constraintArbitrary: fc.Arbitrary<PlacementConstraint> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant("label" as const), key: fc.constantFrom("a", "b"), value: fc.constantFrom("1", "2") }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant("feature" as const), feature: fc.constantFrom("gpu", "ssd") }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant("datacenter" as const), mode: fc.constantFrom("require" as const, "prefer" as const, "exclude" as const), value: fc.constantFrom("d1", "d2") }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant("zone" as const), mode: fc.constantFrom("require" as const, "prefer" as const, "exclude" as const), value: fc.constantFrom("z1", "z2", "z3") }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant("spread" as const), domain: fc.constantFrom("datacenter" as const, "zone" as const, "rack" as const) }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant("pinned" as const), nodeId: fc.integer({ min: 1, max: 12 }) }), weight: 1 },
);

/** Half the VMs have no constraint; the others one or two, pinning rarer than the rest. */
const constraintsArbitrary = fc.oneof(fc.constant([] as PlacementConstraint[]), fc.array(constraintArbitrary, { minLength: 1, maxLength: 2 }));

const groupArbitrary = fc.constantFrom("", "", "g1", "g2");
const resourcesArbitrary = fc.record({ vcpus: fc.integer({ min: 0, max: 4 }), memoryMib: fc.integer({ min: 0, max: 4 }), diskGib: fc.integer({ min: 0, max: 3 }) });

/** A random cluster: up to 8 nodes (ids 1..12), up to 14 assigned VMs, up to 10 pending ones. */
export const scenarioArbitrary: fc.Arbitrary<Scenario> = fc
  .record({
    nodeIds: fc.uniqueArray(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 6 }),
    nodeShapes: fc.array(
      fc.record({
        capacity: fc.record({ vcpus: fc.integer({ min: 1, max: 12 }), memoryMib: fc.integer({ min: 1, max: 12 }), diskGib: fc.integer({ min: 2, max: 12 }) }),
        cpuPermille: fc.constantFrom(500, 1000, 1500, 2000),
        memoryPermille: fc.constantFrom(750, 1000, 1250),
        reserve: fc.integer({ min: 0, max: 2 }),
        state: fc.oneof({ arbitrary: fc.constant("ready" as const), weight: 12 }, { arbitrary: fc.constantFrom("cordoned" as const, "draining" as const, "down" as const), weight: 2 }),
        labels: fc.subarray([
          { key: "a", value: "1" },
          { key: "b", value: "1" },
        ]),
        altLabel: fc.boolean(),
        features: fc.subarray(["gpu", "ssd"]),
        datacenter: fc.constantFrom("d1", "d2"),
        zone: fc.constantFrom("z1", "z2", "z3"),
        rack: fc.constantFrom("r1", "r2", "r3", "r4"),
      }),
      { minLength: 8, maxLength: 8 },
    ),
    assigned: fc.array(
      fc.record({
        node: fc.integer({ min: 0, max: 7 }),
        resources: resourcesArbitrary,
        priority: fc.integer({ min: 0, max: 4 }),
        preemptible: fc.constantFrom(true, true, false),
        tenant: fc.constantFrom("t1", "t2"),
        group: groupArbitrary,
        phase: fc.constantFrom("running" as const, "running" as const, "running" as const, "starting" as const, "stopping" as const),
      }),
      { maxLength: 10 },
    ),
    pending: fc.array(
      fc.record({
        resources: resourcesArbitrary,
        priority: fc.integer({ min: 0, max: 6 }),
        preemptible: fc.boolean(),
        tenant: fc.constantFrom("t1", "t2"),
        group: groupArbitrary,
        mode: fc.constantFrom("hard" as const, "soft" as const),
        weight: fc.integer({ min: 1, max: 1000 }),
        constraints: constraintsArbitrary,
      }),
      { minLength: 1, maxLength: 10 },
    ),
    t1PerNodeMax: fc.option(fc.integer({ min: 1, max: 4 })),
    strategy: fc.constantFrom("spread" as const, "bin-pack" as const, "round-robin" as const),
    candidatesMax: fc.constantFrom(0, 1, 2, 32),
    extraIds: fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 1 }),
    shuffle: fc.array(fc.nat(), { minLength: 40, maxLength: 40 }),
  })
  .map((r) => {
    const nodeIds = [...r.nodeIds].sort((a, b) => a - b);
    const nodes = nodeIds.map((id, i) => {
      const s = r.nodeShapes[i]!;
      return nodeRecord({
        id,
        capacity: s.capacity,
        overcommit: { cpuPermille: s.cpuPermille, memoryPermille: s.memoryPermille, diskPermille: 1000, reserve: { vcpus: s.reserve, memoryMib: s.reserve, diskGib: 0 } },
        state: s.state,
        labels: s.altLabel ? s.labels.map((l) => (l.key === "a" ? { key: "a", value: "2" } : l)) : s.labels,
        features: s.features,
        topology: { datacenter: s.datacenter, zone: s.zone, rack: s.rack },
      });
    });
    let id = 1;
    const vms: VmRecord[] = [];
    const maxPerNode = (group: string): number => (group === "g2" ? 2 : 1);
    if (nodes.length > 0) {
      for (const a of r.assigned) {
        vms.push(
          vmRecord({
            id: id++,
            nodeId: nodes[a.node % nodes.length]!.id,
            resources: a.resources,
            priority: a.priority,
            preemptible: a.preemptible,
            tenant: a.tenant,
            group: a.group,
            maxPerNode: maxPerNode(a.group),
            phase: a.phase,
            generation: 3,
          }),
        );
      }
    }
    const pendingIds: number[] = [];
    for (const p of r.pending) {
      pendingIds.push(id);
      vms.push(
        vmRecord({
          id: id++,
          resources: p.resources,
          priority: p.priority,
          preemptible: p.preemptible,
          tenant: p.tenant,
          group: p.group,
          antiAffinityMode: p.mode,
          weight: p.weight,
          maxPerNode: maxPerNode(p.group),
          constraints: p.constraints,
        }),
      );
    }
    // The input order is a permutation of the pending VMs, plus perhaps a repeat or a non-pending id.
    const order = pendingIds.map((vmId, i) => ({ vmId, key: r.shuffle[i]! })).sort((a, b) => a.key - b.key || a.vmId - b.vmId);
    const vmIds = [...order.map((o) => o.vmId), ...r.extraIds];
    const tenants = r.t1PerNodeMax === null ? [] : [{ name: "t1", quota: quota(r.t1PerNodeMax) }];
    return { contents: { nodes, vms, tenants, appliedIndex: 77 }, vmIds, strategy: r.strategy, candidatesMax: r.candidatesMax };
  });

