// Random command sequences for property tests: each step is a few small numbers, turned into a
// command against the current state (real VM ids, current epochs and generations), so most
// commands do something and some are refused on purpose (a wrong epoch, a stale generation).

import fc from "fast-check";
import type { ClusterState } from "../../../src/core/cluster/cluster-state.ts";
import type { ClusterCommand, CommandEnvelope, ObservedPhase, VmRecord } from "../../../src/core/cluster/types.ts";
import { bigQuota, registration, spec } from "./fixtures.ts";

export interface Step {
  readonly op: number;
  readonly a: number;
  readonly b: number;
  readonly c: number;
  readonly d: number;
  readonly requestId: number;
}

/** How often each operation comes up: VM creation, placement and agent reports most, removals least. */
const OPERATION_WEIGHTS = [2, 2, 1, 1, 1, 1, 1, 1, 1, 4, 3, 1, 2, 1, 2, 4, 3, 2, 6, 5, 1, 1];

const OPERATION_TABLE: readonly number[] = OPERATION_WEIGHTS.flatMap((weight, op) => Array.from({ length: weight }, () => op));

export const stepArb: fc.Arbitrary<Step> = fc.record(
  { op: fc.nat(OPERATION_TABLE.length - 1).map((i) => OPERATION_TABLE[i]!), a: fc.nat(1000), b: fc.nat(1000), c: fc.nat(1000), d: fc.nat(1000), requestId: fc.nat(7) },
  { noNullPrototype: true },
);

const POOLS = [
  { name: "p0", cidr: "10.0.0.0/29", gateway: "10.0.0.1", reserved: ["10.0.0.6"] },
  { name: "p1", cidr: "10.0.1.0/30", gateway: "10.0.1.1", reserved: [] },
  { name: "p2", cidr: "10.0.0.0/24", gateway: "10.0.0.254", reserved: [] },
];
/** Mostly the happy path, so VMs get to run; now and then a stop, exit or crash. */
const PHASES: ObservedPhase[] = ["starting", "starting", "running", "running", "running", "running", "stopped", "exited", "crashed", "unhealthy", "unknown"];

function pick<T>(items: readonly T[], n: number): T | undefined {
  return items.length === 0 ? undefined : items[n % items.length];
}

/** A generation that is right most of the time, 0 (no check) sometimes, wrong sometimes. */
function generation(vm: VmRecord, n: number): number {
  return n % 5 === 0 ? 0 : n % 7 === 0 ? vm.generation + 1 : vm.generation;
}

export function commandFor(state: ClusterState, step: Step): ClusterCommand {
  const { a, b, c, d } = step;
  const nodeId = (a % 4) + 1;
  const node = state.node(nodeId);
  const vms = [...state.vms()];
  const vm = pick(vms, a) ?? pick(vms, 0);
  const vmId = vm?.id ?? 1 + (a % 50);
  switch (step.op) {
    case 0:
      return { kind: "node-register", node: registration(nodeId, { capacity: { vcpus: [4, 8, 16][b % 3]!, memoryMib: 16_384, diskGib: 100 }, features: b % 2 === 0 ? ["kvm"] : ["gpu", "kvm"] }) };
    case 1:
      return { kind: "node-heartbeat", nodeId, epoch: (node?.lease.epoch ?? 1) + (b % 6 === 0 ? 1 : 0) };
    case 2:
      return { kind: "node-set-state", nodeId, state: (["ready", "ready", "cordoned", "draining"] as const)[b % 4]! };
    case 3:
      return { kind: "node-declare-down", nodeId, epoch: node?.lease.epoch ?? 1, renewedIndex: Math.max(0, (node?.lease.renewedIndex ?? 0) - (b % 4 === 0 ? 1 : 0)) };
    case 4:
      return { kind: "node-remove", nodeId };
    case 5:
      return { kind: "tenant-set", name: `t${a % 2}`, quota: b % 3 === 0 ? { vmsMax: 3, vcpusMax: 6, memoryMibMax: 8_192, diskGibMax: 60, vmsPerNodeMax: 2 } : bigQuota };
    case 6:
      return { kind: "tenant-remove", name: `t${a % 2}` };
    case 7:
      return { kind: "ip-pool-create", pool: POOLS[a % 3]! };
    case 8:
      return { kind: "ip-pool-remove", name: POOLS[a % 3]!.name };
    case 9:
    case 10: {
      const pools = [[], ["p0"], ["p1"], ["p0", "p1"]][d % 4]!;
      const group = ([
        { group: "", mode: "hard", weight: 0, maxPerNode: 0 },
        { group: "g", mode: "hard", weight: 0, maxPerNode: 1 },
        { group: "s", mode: "soft", weight: 5, maxPerNode: 0 },
      ] as const)[c % 3]!;
      return {
        kind: "vm-create",
        spec: spec(`n${b % 8}`, {
          tenant: `t${a % 2}`,
          resources: { vcpus: 1 + (c % 4), memoryMib: 512 * (1 + (d % 3)), diskGib: 5 },
          interfaces: pools.map((ipPool) => ({ mode: "user" as const, ipPool, portForwards: [] })),
          antiAffinity: group,
          priority: (c % 3) * 100,
          preemptible: d % 2 === 0,
          restartPolicy: (["always", "on-failure", "never"] as const)[b % 3]!,
          constraints: d % 5 === 0 ? [{ kind: "feature", feature: "gpu" }] : [],
        }),
        desired: c % 6 === 0 ? "stopped" : "running",
      };
    }
    case 11:
      return {
        kind: "vm-update",
        vmId,
        expectedGeneration: vm === undefined ? 1 : generation(vm, b),
        spec: vm === undefined ? spec("x") : { ...vm.spec, resources: { ...vm.spec.resources, vcpus: 1 + (c % 4) }, kernelCmdline: `k${d % 3}` },
      };
    case 12:
      return { kind: "vm-set-desired", vmId, expectedGeneration: vm === undefined ? 1 : generation(vm, b), desired: c % 2 === 0 ? "running" : "stopped" };
    case 13:
      return { kind: "vm-delete", vmId, expectedGeneration: vm === undefined ? 1 : generation(vm, b) };
    case 14:
      return { kind: "vm-migrate", vmId, expectedGeneration: vm === undefined ? 1 : generation(vm, b), targetNodeId: c % 5 };
    case 15:
    case 16: {
      const pending = vms.filter((v) => v.phase === "pending");
      const chosen = [...new Set([pick(pending, a), pick(pending, b), pick(pending, c)].filter((v) => v !== undefined))];
      const ready = [...state.nodes()].filter((n) => n.state === "ready").map((n) => n.id);
      const placements = chosen.map((v, i) => ({ vmId: v.id, expectedGeneration: v.generation + (d % 9 === 0 ? 1 : 0), nodeId: pick(ready, d + i) ?? ((d + i) % 4) + 1 }));
      const checkIndex = d % 3 === 0 ? 0 : d % 3 === 1 ? state.appliedIndex : Math.max(0, state.appliedIndex - 3);
      return { kind: "placements-commit", checkIndex, placements, evictions: [] };
    }
    case 17: {
      const assigned = vms.filter((v) => v.nodeId !== 0);
      const evictee = pick(assigned, a);
      const forVm = pick(vms, b);
      if (evictee === undefined || forVm === undefined || evictee.id === forVm.id) return { kind: "placements-commit", checkIndex: 0, placements: [], evictions: [] };
      return { kind: "placements-commit", checkIndex: 0, placements: [], evictions: [{ vmId: evictee.id, expectedGeneration: evictee.generation, forVmId: forVm.id }] };
    }
    case 18:
    case 19: {
      const assigned = vms.filter((v) => v.nodeId !== 0);
      const target = pick(assigned, a);
      const reportNode = target?.nodeId ?? nodeId;
      const epoch = state.node(reportNode)?.lease.epoch ?? 1;
      const reports = target === undefined ? [] : [{ vmId: target.id, placement: Math.max(1, target.token.placement - (c % 8 === 0 ? 1 : 0)), phase: PHASES[b % PHASES.length]!, detail: "" }];
      return { kind: "vm-observed", nodeId: reportNode, epoch, reports };
    }
    case 20:
      return { kind: "vm-fail", vmId, expectedGeneration: vm === undefined ? 1 : generation(vm, b), reason: "gave up" };
    default:
      return { kind: "node-heartbeat", nodeId, epoch: node?.lease.epoch ?? 1 };
  }
}

export function envelopeFor(state: ClusterState, step: Step): CommandEnvelope {
  return { stampUs: state.appliedIndex * 1000, requestId: step.requestId < 3 ? `req-${step.requestId}` : "", body: commandFor(state, step) };
}

/** Steps every run starts with: two tenants (t1 with a small quota), three nodes, two pools. */
export const PREAMBLE: readonly Step[] = [
  { op: 5, a: 0, b: 1, c: 0, d: 0, requestId: 7 },
  { op: 5, a: 1, b: 0, c: 0, d: 0, requestId: 7 },
  { op: 0, a: 0, b: 1, c: 0, d: 0, requestId: 7 },
  { op: 0, a: 1, b: 0, c: 0, d: 0, requestId: 7 },
  { op: 0, a: 2, b: 2, c: 0, d: 0, requestId: 7 },
  { op: 7, a: 0, b: 0, c: 0, d: 0, requestId: 7 },
  { op: 7, a: 1, b: 0, c: 0, d: 0, requestId: 7 },
];
