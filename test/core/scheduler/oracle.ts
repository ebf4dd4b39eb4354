// A brute-force oracle for the scheduler's property tests, written independently of
// src/core/scheduler (no import from it but the filter names): every filter evaluated on every
// node, every subset of a node's VMs tried for preemption. It replays a plan in the scheduler's
// processing order (priority descending, then input order), holding the state each decision was
// made against, so it can say whether each decision was allowed and whether "unplaceable" and
// "fewest evictions" were true at that moment.

import type { ClusterView, NodeRecord, Resources, VmId, VmRecord, VmSpec } from "../../../src/core/cluster/types.ts";
import type { FilterName } from "../../../src/core/scheduler/scheduler-types.ts";

export function oracleAllocatable(node: NodeRecord): Resources {
  const o = node.overcommit;
  return {
    vcpus: Math.floor((node.capacity.vcpus * o.cpuPermille) / 1000) - o.reserve.vcpus,
    memoryMib: Math.floor((node.capacity.memoryMib * o.memoryPermille) / 1000) - o.reserve.memoryMib,
    diskGib: Math.floor((node.capacity.diskGib * o.diskPermille) / 1000) - o.reserve.diskGib,
  };
}

/** The scheduler's processing order of the input positions that name a pending VM (first occurrence only). */
export function processingOrder(view: ClusterView, vmIds: readonly VmId[]): VmRecord[] {
  const seen = new Set<VmId>();
  const work: { position: number; vm: VmRecord }[] = [];
  vmIds.forEach((id, position) => {
    const vm = view.vm(id);
    if (!seen.has(id) && vm !== undefined && vm.nodeId === 0 && vm.desired === "running" && vm.phase === "pending") work.push({ position, vm });
    seen.add(id);
  });
  work.sort((a, b) => b.vm.spec.priority - a.vm.spec.priority || a.position - b.position);
  return work.map((w) => w.vm);
}

export interface OracleEviction {
  readonly nodeId: number;
  readonly vmIds: readonly VmId[];
  readonly prioritySum: number;
}

export class OracleState {
  readonly nodes: readonly NodeRecord[];
  /** allocated + what the replayed batch added, per node id. */
  readonly used = new Map<number, [number, number, number]>();
  /** Specs of the VMs counted on each node (view's assigned VMs, then the batch's). */
  readonly onNode = new Map<number, VmSpec[]>();
  readonly evicted = new Set<VmId>();
  private readonly view: ClusterView;

  constructor(view: ClusterView) {
    this.view = view;
    this.nodes = [...view.nodes()].sort((a, b) => a.id - b.id);
    for (const node of this.nodes) {
      this.used.set(node.id, [node.allocated.vcpus, node.allocated.memoryMib, node.allocated.diskGib]);
      this.onNode.set(node.id, []);
    }
    for (const vm of view.vms()) if (vm.nodeId !== 0) this.onNode.get(vm.nodeId)?.push(vm.spec);
  }

  staticFailure(node: NodeRecord, spec: VmSpec): FilterName | undefined {
    if (node.state !== "ready") return node.state;
    const c = spec.constraints;
    if (c.some((x) => x.kind === "pinned" && x.nodeId !== node.id)) return "pinned elsewhere";
    if (c.some((x) => x.kind === "datacenter" && ((x.mode === "require" && x.value !== node.topology.datacenter) || (x.mode === "exclude" && x.value === node.topology.datacenter))))
      return "datacenter";
    if (c.some((x) => x.kind === "zone" && ((x.mode === "require" && x.value !== node.topology.zone) || (x.mode === "exclude" && x.value === node.topology.zone)))) return "zone";
    if (c.some((x) => x.kind === "feature" && !node.features.includes(x.feature))) return "missing feature";
    if (c.some((x) => x.kind === "label" && !node.labels.some((l) => l.key === x.key && l.value === x.value))) return "missing label";
    return undefined;
  }

  /** Every filter but capacity. */
  placementFailure(node: NodeRecord, spec: VmSpec): FilterName | undefined {
    const first = this.staticFailure(node, spec);
    if (first !== undefined) return first;
    const here = this.onNode.get(node.id)!;
    const tenant = this.view.tenant(spec.tenant);
    if (tenant !== undefined && here.filter((s) => s.tenant === spec.tenant).length >= tenant.quota.vmsPerNodeMax) return "tenant vms per node";
    const group = spec.antiAffinity;
    if (group.group !== "" && group.mode === "hard" && here.filter((s) => s.tenant === spec.tenant && s.antiAffinity.group === group.group).length >= group.maxPerNode)
      return "anti-affinity";
    return undefined;
  }

  failure(node: NodeRecord, spec: VmSpec): FilterName | undefined {
    const first = this.placementFailure(node, spec);
    if (first !== undefined) return first;
    const free = this.free(node);
    if (free[0] < spec.resources.vcpus) return "insufficient vcpus";
    if (free[1] < spec.resources.memoryMib) return "insufficient memory";
    if (free[2] < spec.resources.diskGib) return "insufficient disk";
    return undefined;
  }

  free(node: NodeRecord): [number, number, number] {
    const a = oracleAllocatable(node);
    const u = this.used.get(node.id)!;
    return [a.vcpus - u[0], a.memoryMib - u[1], a.diskGib - u[2]];
  }

  /** Exact counts of the first failing filter over all nodes. */
  exclusionCounts(spec: VmSpec): Map<FilterName, number> {
    const counts = new Map<FilterName, number>();
    for (const node of this.nodes) {
      const failure = this.failure(node, spec);
      if (failure !== undefined) counts.set(failure, (counts.get(failure) ?? 0) + 1);
    }
    return counts;
  }

  fitsSomewhere(spec: VmSpec): boolean {
    return this.nodes.some((node) => this.failure(node, spec) === undefined);
  }

  /** Eviction candidates of a node for a VM of this priority: preemptible, strictly lower, not stopping, not evicted before. */
  evictable(nodeId: number, priority: number): VmRecord[] {
    return [...this.view.vmsOnNode(nodeId)].filter(
      (v) => v.spec.preemptible && v.spec.priority < priority && v.phase !== "stopping" && v.phase !== "deleting" && !this.evicted.has(v.id),
    );
  }

  /** The best preemption by brute force: fewest evictions, then lowest total priority, then lowest node id. */
  bestEviction(spec: VmSpec): OracleEviction | undefined {
    let best: OracleEviction | undefined;
    for (const node of this.nodes) {
      if (this.placementFailure(node, spec) !== undefined) continue;
      const free = this.free(node);
      const need = [spec.resources.vcpus - free[0], spec.resources.memoryMib - free[1], spec.resources.diskGib - free[2]];
      if (need.every((x) => x <= 0)) continue;
      const candidates = this.evictable(node.id, spec.priority);
      for (let mask = 1; mask < 1 << candidates.length; mask++) {
        const chosen = candidates.filter((_, i) => (mask >> i) & 1);
        const freed = [0, 1, 2].map((r) => chosen.reduce((sum, v) => sum + [v.spec.resources.vcpus, v.spec.resources.memoryMib, v.spec.resources.diskGib][r]!, 0));
        if (!need.every((x, r) => freed[r]! >= x)) continue;
        const prioritySum = chosen.reduce((sum, v) => sum + v.spec.priority, 0);
        if (best === undefined || chosen.length < best.vmIds.length || (chosen.length === best.vmIds.length && (prioritySum < best.prioritySum || (prioritySum === best.prioritySum && node.id < best.nodeId)))) {
          best = { nodeId: node.id, vmIds: chosen.map((v) => v.id), prioritySum };
        }
      }
    }
    return best;
  }

  /** VMs of the spec's group (or, without one, its tenant) in node's domain, summed over its spread constraints. */
  spreadSharing(node: NodeRecord, spec: VmSpec): number {
    let sharing = 0;
    for (const c of spec.constraints) {
      if (c.kind !== "spread") continue;
      for (const other of this.nodes) {
        if (other.topology[c.domain] !== node.topology[c.domain]) continue;
        sharing += this.onNode
          .get(other.id)!
          .filter((s) => s.tenant === spec.tenant && (spec.antiAffinity.group === "" || s.antiAffinity.group === spec.antiAffinity.group)).length;
      }
    }
    return sharing;
  }

  add(spec: VmSpec, nodeId: number, resources: readonly [number, number, number]): void {
    const u = this.used.get(nodeId)!;
    this.used.set(nodeId, [u[0] + resources[0], u[1] + resources[1], u[2] + resources[2]]);
    this.onNode.get(nodeId)!.push(spec);
  }
}
