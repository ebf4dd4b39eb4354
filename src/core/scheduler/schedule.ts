// schedule(view, vmIds, options): where each pending VM should go, with reasons. Pure: the same
// view contents, VM list and options give the same plan (the nodes are sorted by id here, the
// VMs on a node by id, so not even the view's iteration order matters). The batch accounts for
// its own decisions: free resources, group and tenant counts grow as it places.
//
// Per VM (priority descending, then input order):
//   1. the static filters of its constraint set, cached (static-feasibility.ts);
//   2. its migration target, when it has one that passes every filter;
//   3. otherwise the candidate scan of the strategy: nodes that pass every filter, scored
//      (score.ts), at most candidatesMax of them, from a cursor (docs/SCHEDULER.md, "Candidates");
//   4. if no node passes: the fewest evictions of strictly lower-priority preemptible VMs
//      (fewest-evictions.ts), the VM itself waiting for them to stop;
//   5. otherwise unplaceable, with every node counted under the first filter it failed.
// A VM is declared unplaceable only after every node was examined: feasibility is exact; only
// the choice among feasible nodes is bounded.

import { assert } from "../assert.ts";
import type { ClusterView, EvictionEntry, NodeId, PlacementEntry, Resources, VmId, VmRecord, VmSpec } from "../cluster/types.ts";
import { explain, exclusionsOf } from "./explanation.ts";
import { compareCandidates, fewestEvictions, type EvictionCandidate } from "./fewest-evictions.ts";
import { NodeTable, type DomainKind } from "./node-table.ts";
import { Occupancy, groupKeyOf, type NodeCounts } from "./occupancy.ts";
import {
  DEFAULT_SCHEDULER_OPTIONS,
  FILTER_INDEX,
  FILTER_NAMES,
  SCHEDULER_LIMITS,
  type ScheduleDecision,
  type SchedulePlan,
  type SchedulerOptions,
  type SchedulerPlantedBug,
} from "./scheduler-types.ts";
import { PREFER_BONUS_PER_MATCH, SPREAD_PENALTY_PER_VM, freePermille, resourceScore } from "./score.ts";
import { StaticFeasibility, staticConstraintsOf, staticKeyOf } from "./static-feasibility.ts";

const TENANT_FILTER = FILTER_INDEX.get("tenant vms per node")!;
const ANTI_AFFINITY_FILTER = FILTER_INDEX.get("anti-affinity")!;
const VCPUS_FILTER = FILTER_INDEX.get("insufficient vcpus")!;
const MEMORY_FILTER = FILTER_INDEX.get("insufficient memory")!;
const DISK_FILTER = FILTER_INDEX.get("insufficient disk")!;

/** Over the first k eviction candidates of a node (index k): sums of resources and priorities, and the largest single amounts. */
interface EvictionPrefix {
  readonly vcpus: Float64Array;
  readonly memoryMib: Float64Array;
  readonly diskGib: Float64Array;
  readonly priority: Float64Array;
  readonly vcpusMax: Float64Array;
  readonly memoryMibMax: Float64Array;
  readonly diskGibMax: Float64Array;
}

/** What one VM's filters and scores need to know, gathered once per VM. */
interface VmContext {
  readonly vm: VmRecord;
  readonly vcpus: number;
  readonly memoryMib: number;
  readonly diskGib: number;
  readonly feasibility: StaticFeasibility;
  /** Quota.vmsPerNodeMax of its tenant, -1 when the view has no such tenant. */
  readonly tenantPerNodeMax: number;
  readonly tenantCounts: NodeCounts | undefined;
  /** Hard anti-affinity: at most this many of its group per node; -1 for none. */
  readonly hardPerNodeMax: number;
  /** Soft anti-affinity: the cost of each group member on the node; 0 for none. */
  readonly softWeight: number;
  readonly groupCounts: NodeCounts | undefined;
  readonly spreads: readonly { readonly domains: Int32Array; readonly counts: NodeCounts }[];
}

export function schedule(view: ClusterView, vmIds: readonly VmId[], options: SchedulerOptions = DEFAULT_SCHEDULER_OPTIONS): SchedulePlan {
  assert(vmIds.length <= SCHEDULER_LIMITS.vmsPerBatchMax, () => `a batch holds at most ${SCHEDULER_LIMITS.vmsPerBatchMax} VMs (got ${vmIds.length})`);
  assert(Number.isSafeInteger(options.candidatesMax) && options.candidatesMax >= 0 && options.candidatesMax <= SCHEDULER_LIMITS.candidatesMax, "candidatesMax in range");
  assert(
    Number.isSafeInteger(options.preemptionSearchStepsMax) && options.preemptionSearchStepsMax > 0 && options.preemptionSearchStepsMax <= SCHEDULER_LIMITS.preemptionSearchStepsMax,
    "preemptionSearchStepsMax in range",
  );
  const run = new ScheduleRun(view, options);
  const decisions: (ScheduleDecision | undefined)[] = new Array<ScheduleDecision | undefined>(vmIds.length);
  const seen = new Set<VmId>();
  const work: { readonly position: number; readonly vm: VmRecord }[] = [];
  for (let position = 0; position < vmIds.length; position++) {
    const vmId = vmIds[position]!;
    const vm = view.vm(vmId);
    if (seen.has(vmId)) decisions[position] = notSchedulable(vmId, `vm ${vmId} appears more than once in the batch`);
    else if (vm === undefined) decisions[position] = notSchedulable(vmId, `vm ${vmId} does not exist`);
    else if (vm.nodeId !== 0 || vm.desired !== "running" || vm.phase !== "pending")
      decisions[position] = notSchedulable(vmId, `vm ${vmId} is not pending (phase ${vm.phase}, desired ${vm.desired}, node ${vm.nodeId})`);
    else work.push({ position, vm });
    seen.add(vmId);
  }
  work.sort((a, b) => b.vm.spec.priority - a.vm.spec.priority || a.position - b.position);
  for (const { position, vm } of work) decisions[position] = run.decide(vm);
  const complete = decisions.map((decision, position) => {
    assert(decision !== undefined, () => `a decision for input ${position}`);
    return decision;
  });
  assert(complete.length === vmIds.length, "one decision per input VM");
  const plan: SchedulePlan = { appliedIndex: view.appliedIndex, decisions: complete, placements: run.placements, evictions: run.evictions, roundRobinLastNodeId: run.roundRobinLastNodeId };
  options.observePlan?.(view, plan);
  assert(view.appliedIndex === plan.appliedIndex, "a plan's observer leaves the view as it was");
  return plan;
}

/** ceil(deficit / largest): at least this many evictions cover the deficit of one resource (0 when there is none). */
function evictionsAtLeast(deficit: number, largest: number): number {
  if (deficit <= 0) return 0;
  if (largest <= 0) return Number.MAX_SAFE_INTEGER;
  return Math.ceil(deficit / largest);
}

function notSchedulable(vmId: VmId, explanation: string): ScheduleDecision {
  return { kind: "unplaceable", vmId, explanation, exclusions: [] };
}

/** The state of one schedule() call. */
class ScheduleRun {
  readonly placements: PlacementEntry[] = [];
  readonly evictions: EvictionEntry[] = [];
  roundRobinLastNodeId: NodeId;
  private readonly view: ClusterView;
  private readonly options: SchedulerOptions;
  private readonly bugs: ReadonlySet<SchedulerPlantedBug>;
  private readonly table: NodeTable;
  private readonly occupancy: Occupancy;
  private readonly feasibilityByKey = new Map<string, StaticFeasibility>();
  private readonly tenantPerNodeMax = new Map<string, number>();
  private readonly evicted = new Set<VmId>();
  private readonly preemptibleOnNode = new Map<
    number,
    { readonly candidates: readonly EvictionCandidate[]; readonly prefix: EvictionPrefix }
  >();
  private readonly limit: number;
  /** The lowest priority of any assigned preemptible VM: a bound that ends the preemption search early. */
  private readonly preemptiblePriorityMin: number;

  constructor(view: ClusterView, options: SchedulerOptions) {
    this.view = view;
    this.options = options;
    this.bugs = new Set(options.plantedBugs);
    this.table = new NodeTable(view, this.bugs.has("capacity-ignores-overcommit"));
    this.occupancy = new Occupancy(view, this.table);
    this.roundRobinLastNodeId = options.roundRobinAfterNodeId;
    let preemptiblePriorityMin = Number.MAX_SAFE_INTEGER;
    for (const vm of view.vms()) if (vm.nodeId !== 0 && vm.spec.preemptible) preemptiblePriorityMin = Math.min(preemptiblePriorityMin, vm.spec.priority);
    this.preemptiblePriorityMin = preemptiblePriorityMin;
    this.limit = options.candidatesMax === 0 ? Number.MAX_SAFE_INTEGER : options.candidatesMax;
  }

  decide(vm: VmRecord): ScheduleDecision {
    const context = this.contextOf(vm);
    let chosen = this.migrationTarget(context);
    if (chosen < 0) chosen = this.options.strategy === "round-robin" ? this.scanRotation(context) : this.scanScored(context);
    if (chosen >= 0) return this.place(context, chosen);
    if (this.options.preemption) {
      const preempting = this.preempt(context);
      if (preempting !== undefined) return preempting;
    }
    return this.unplaceable(context);
  }

  private contextOf(vm: VmRecord): VmContext {
    const spec = vm.spec;
    const ignoreLabels = this.bugs.has("required-labels-ignored");
    const key = staticKeyOf(spec.constraints, ignoreLabels);
    let feasibility = this.feasibilityByKey.get(key);
    if (feasibility === undefined) {
      feasibility = new StaticFeasibility(this.table, staticConstraintsOf(spec.constraints, ignoreLabels));
      this.feasibilityByKey.set(key, feasibility);
    }
    let tenantPerNodeMax = this.tenantPerNodeMax.get(spec.tenant);
    if (tenantPerNodeMax === undefined) {
      tenantPerNodeMax = this.view.tenant(spec.tenant)?.quota.vmsPerNodeMax ?? -1;
      this.tenantPerNodeMax.set(spec.tenant, tenantPerNodeMax);
    }
    const groupKey = groupKeyOf(spec);
    const hard = groupKey !== "" && spec.antiAffinity.mode === "hard" && !this.bugs.has("hard-anti-affinity-ignored");
    const soft = groupKey !== "" && spec.antiAffinity.mode === "soft";
    const spreads: { domains: Int32Array; counts: NodeCounts }[] = [];
    for (const constraint of spec.constraints) {
      if (constraint.kind !== "spread") continue;
      const kind: DomainKind = constraint.domain;
      spreads.push({ domains: this.table.domainIds[kind], counts: this.occupancy.spreadCounts(kind, spec) });
    }
    return {
      vm,
      vcpus: spec.resources.vcpus,
      memoryMib: spec.resources.memoryMib,
      diskGib: spec.resources.diskGib,
      feasibility,
      tenantPerNodeMax,
      tenantCounts: this.occupancy.tenantOnNodes(spec.tenant),
      hardPerNodeMax: hard ? spec.antiAffinity.maxPerNode : -1,
      softWeight: soft ? spec.antiAffinity.weight : 0,
      groupCounts: groupKey === "" ? undefined : this.occupancy.groupOnNodes(groupKey),
      spreads,
    };
  }

  /** The first filter that depends on what node i holds and that it fails, or -1. */
  private dynamicFailure(context: VmContext, i: number): number {
    if (context.tenantPerNodeMax >= 0 && (context.tenantCounts?.get(i) ?? 0) >= context.tenantPerNodeMax) return TENANT_FILTER;
    if (context.hardPerNodeMax >= 0 && (context.groupCounts?.get(i) ?? 0) >= context.hardPerNodeMax) return ANTI_AFFINITY_FILTER;
    const table = this.table;
    if (table.freeVcpus[i]! < context.vcpus) return VCPUS_FILTER;
    if (table.freeMemoryMib[i]! < context.memoryMib) return MEMORY_FILTER;
    if (table.freeDiskGib[i]! < context.diskGib) return DISK_FILTER;
    return -1;
  }

  private passes(context: VmContext, i: number): boolean {
    const table = this.table;
    return (
      table.freeVcpus[i]! >= context.vcpus &&
      table.freeMemoryMib[i]! >= context.memoryMib &&
      table.freeDiskGib[i]! >= context.diskGib &&
      (context.tenantPerNodeMax < 0 || (context.tenantCounts?.get(i) ?? 0) < context.tenantPerNodeMax) &&
      (context.hardPerNodeMax < 0 || (context.groupCounts?.get(i) ?? 0) < context.hardPerNodeMax)
    );
  }

  /** Everything in the score but the strategy's resource part. */
  private placementScore(context: VmContext, i: number): number {
    let score = context.feasibility.preferMatches[i]! * PREFER_BONUS_PER_MATCH;
    if (context.softWeight > 0) score -= context.softWeight * (context.groupCounts?.get(i) ?? 0);
    for (const spread of context.spreads) score -= SPREAD_PENALTY_PER_VM * (spread.counts.get(spread.domains[i]!) ?? 0);
    return score;
  }

  /** VMs of the group (or tenant) in node i's domains, summed over the VM's spread constraints. */
  private spreadPenalty(context: VmContext, i: number): number {
    let sharing = 0;
    for (const spread of context.spreads) sharing += spread.counts.get(spread.domains[i]!) ?? 0;
    return sharing;
  }

  private score(context: VmContext, i: number): number {
    const table = this.table;
    const resources = resourceScore(
      this.options.strategy,
      freePermille(table.freeVcpus[i]! - context.vcpus, table.allocatableVcpus[i]!),
      freePermille(table.freeMemoryMib[i]! - context.memoryMib, table.allocatableMemoryMib[i]!),
      freePermille(table.freeDiskGib[i]! - context.diskGib, table.allocatableDiskGib[i]!),
    );
    return resources + this.placementScore(context, i);
  }

  private migrationTarget(context: VmContext): number {
    const target = this.options.migrationTargetOf(context.vm);
    if (target === 0) return -1;
    const i = this.table.indexOf(target);
    if (i < 0 || context.feasibility.failures[i] !== -1 || !this.passes(context, i)) return -1;
    return i;
  }

  /**
   * spread and bin-pack: tiers by preferred matches (descending); in each tier, from its cursor,
   * wrapping, the nodes that pass every filter are scored until candidatesMax were. The best
   * score wins, ties the lowest node id. A VM with spread constraints scans on past
   * candidatesMax while its best candidate shares a domain with its group: the domain
   * component is exact. Cursors then move: spread past the last node examined
   * (the next VM looks at the next nodes), bin-pack to the first node that passed (it keeps
   * filling the same nodes).
   */
  private scanScored(context: VmContext): number {
    const feasibility = context.feasibility;
    const { ordered, tierStarts, cursors } = feasibility;
    const halfOnly = this.bugs.has("give-up-after-half");
    const spread = this.options.strategy === "spread";
    let best = -1;
    let bestScore = -Infinity;
    let bestSpreadPenalty = 0;
    const spreadWithinCandidates = this.bugs.has("spread-within-candidates");
    let examined = 0;
    let done = false;
    for (let tier = 0; tier + 1 < tierStarts.length && !done; tier++) {
      const start = tierStarts[tier]!;
      const length = tierStarts[tier + 1]! - start;
      const cursor = cursors[tier]!;
      const steps = halfOnly ? Math.floor(length / 2) : length;
      let firstPassing = -1;
      let lastExamined = -1;
      for (let step = 0; step < steps; step++) {
        let position = cursor + step;
        if (position >= length) position -= length;
        const i = ordered[start + position]!;
        if (!this.passes(context, i)) continue;
        const score = this.score(context, i);
        if (firstPassing < 0) firstPassing = position;
        lastExamined = position;
        if (score > bestScore || (score === bestScore && i < best)) {
          best = i;
          bestScore = score;
          bestSpreadPenalty = this.spreadPenalty(context, i);
        }
        examined += 1;
        if (examined >= this.limit && (bestSpreadPenalty === 0 || spreadWithinCandidates)) {
          done = true;
          break;
        }
      }
      if (spread && lastExamined >= 0) cursors[tier] = lastExamined + 1 >= length ? 0 : lastExamined + 1;
      if (!spread && firstPassing >= 0) cursors[tier] = firstPassing;
    }
    assert(best === -1 || examined > 0, "a choice was examined");
    return best;
  }

  /**
   * round-robin: the nodes that pass the static filters in ascending id order, starting after
   * the node of the previous placement (roundRobinLastNodeId), wrapping; the first candidatesMax
   * that pass every filter are scored without a resource part, and the best wins, ties going to
   * the earliest in rotation. Without preferences, spread or soft anti-affinity that is simply
   * the next node that fits.
   */
  private scanRotation(context: VmContext): number {
    const rotation = context.feasibility.byIndex;
    const length = rotation.length;
    if (length === 0) return -1;
    const table = this.table;
    // First position whose node id is above the last placement's (binary search; rotation is in id order).
    let low = 0;
    let high = length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (table.ids[rotation[middle]!]! <= this.roundRobinLastNodeId) low = middle + 1;
      else high = middle;
    }
    const startPosition = low === length ? 0 : low;
    const steps = this.bugs.has("give-up-after-half") ? Math.floor(length / 2) : length;
    let best = -1;
    let bestScore = -Infinity;
    let bestSpreadPenalty = 0;
    const spreadWithinCandidates = this.bugs.has("spread-within-candidates");
    let examined = 0;
    for (let step = 0; step < steps && (examined < this.limit || (bestSpreadPenalty > 0 && !spreadWithinCandidates)); step++) {
      let position = startPosition + step;
      if (position >= length) position -= length;
      const i = rotation[position]!;
      if (!this.passes(context, i)) continue;
      const score = this.placementScore(context, i);
      if (score > bestScore) {
        best = i;
        bestScore = score;
        bestSpreadPenalty = this.spreadPenalty(context, i);
      }
      examined += 1;
    }
    return best;
  }

  private place(context: VmContext, i: number): ScheduleDecision {
    const table = this.table;
    assert(context.feasibility.failures[i] === -1 && this.passes(context, i), "the chosen node passes every filter");
    const score = this.score(context, i);
    if (!this.bugs.has("capacity-ignores-batch")) {
      table.freeVcpus[i] = table.freeVcpus[i]! - context.vcpus;
      table.freeMemoryMib[i] = table.freeMemoryMib[i]! - context.memoryMib;
      table.freeDiskGib[i] = table.freeDiskGib[i]! - context.diskGib;
    }
    this.occupancy.add(context.vm.spec, i);
    const nodeId = table.idAt(i);
    this.placements.push({ vmId: context.vm.id, expectedGeneration: context.vm.generation, nodeId });
    this.roundRobinLastNodeId = nodeId;
    return { kind: "placed", vmId: context.vm.id, nodeId, score };
  }

  /**
   * Only capacity can be freed by evicting: a node is a candidate when it passes every other
   * filter. Eligible evictees: VMs on the node that are preemptible, of strictly lower priority,
   * not already stopping or being deleted, and not evicted earlier in this plan. Among nodes:
   * fewest evictions, then lowest total evicted priority, then lowest node id.
   */
  private preempt(context: VmContext): ScheduleDecision | undefined {
    const table = this.table;
    const spec = context.vm.spec;
    const rotation = context.feasibility.byIndex;
    let bestNode = -1;
    let bestChoice: readonly EvictionCandidate[] = [];
    let bestCount = Number.MAX_SAFE_INTEGER;
    let bestPriority = Number.MAX_SAFE_INTEGER;
    for (let position = 0; position < rotation.length; position++) {
      // One eviction of the lowest priority any preemptible VM has cannot be beaten (a tie goes to the lower node id, already found).
      if (bestCount === 1 && bestPriority <= this.preemptiblePriorityMin) break;
      const i = rotation[position]!;
      const failure = this.dynamicFailure(context, i);
      if (failure < VCPUS_FILTER) continue; // passes (the scan would have found it: only with a planted bug) or fails a filter eviction cannot fix
      const deficit = {
        vcpus: context.vcpus - table.freeVcpus[i]!,
        memoryMib: context.memoryMib - table.freeMemoryMib[i]!,
        diskGib: context.diskGib - table.freeDiskGib[i]!,
      };
      const candidates = this.evictionCandidates(i, spec, deficit, bestCount, bestPriority);
      if (candidates.length === 0) continue;
      let chosen: readonly EvictionCandidate[];
      let prioritySum: number;
      if (this.bugs.has("preempt-every-candidate")) {
        chosen = candidates;
        prioritySum = candidates.reduce((sum, c) => sum + c.priority, 0);
        const freed = candidates.reduce((sum, c) => [sum[0]! + c.vcpus, sum[1]! + c.memoryMib, sum[2]! + c.diskGib], [0, 0, 0]);
        if (freed[0]! < deficit.vcpus || freed[1]! < deficit.memoryMib || freed[2]! < deficit.diskGib) continue;
      } else {
        const choice = fewestEvictions(candidates, deficit, bestCount, this.options.preemptionSearchStepsMax);
        if (choice === undefined) continue;
        chosen = choice.chosen;
        prioritySum = choice.prioritySum;
      }
      if (chosen.length < bestCount || (chosen.length === bestCount && prioritySum < bestPriority)) {
        bestNode = i;
        bestChoice = chosen;
        bestCount = chosen.length;
        bestPriority = prioritySum;
      }
    }
    if (bestNode < 0) return undefined;
    assert(bestChoice.length > 0, "a preemption evicts at least one VM");
    const evictions: EvictionEntry[] = bestChoice.map((c) => ({ vmId: c.vmId, expectedGeneration: c.generation, forVmId: context.vm.id }));
    const freed = { vcpus: 0, memoryMib: 0, diskGib: 0 };
    for (const c of bestChoice) {
      assert(!this.evicted.has(c.vmId), "a VM is evicted once per plan");
      this.evicted.add(c.vmId);
      freed.vcpus += c.vcpus;
      freed.memoryMib += c.memoryMib;
      freed.diskGib += c.diskGib;
    }
    // The evictees stay allocated until they stop; what the VM will take beyond what they free is
    // held back from the rest of this batch, and it counts as on the node for groups and quotas.
    table.freeVcpus[bestNode] = table.freeVcpus[bestNode]! - Math.max(0, context.vcpus - freed.vcpus);
    table.freeMemoryMib[bestNode] = table.freeMemoryMib[bestNode]! - Math.max(0, context.memoryMib - freed.memoryMib);
    table.freeDiskGib[bestNode] = table.freeDiskGib[bestNode]! - Math.max(0, context.diskGib - freed.diskGib);
    this.occupancy.add(spec, bestNode);
    this.evictions.push(...evictions);
    this.preemptibleOnNode.delete(bestNode); // rebuilt without the evictees, so its bounds stay tight
    const nodeId = table.idAt(bestNode);
    const count = evictions.length;
    return { kind: "preempting", vmId: context.vm.id, nodeId, evictions, explanation: `preempting ${count} ${count === 1 ? "VM" : "VMs"} on node ${nodeId}` };
  }

  /**
   * The VMs of node i that a VM of this priority may evict, in search order, or none when even
   * all of them together (evicted or not) could not cover the deficit: the per-node list is
   * built once per call with prefix sums, so a node that cannot help costs a binary search.
   */
  private evictionCandidates(i: number, spec: VmSpec, deficit: Resources, bestCount: number, bestPriority: number): EvictionCandidate[] {
    let onNode = this.preemptibleOnNode.get(i);
    if (onNode === undefined) {
      const candidates: EvictionCandidate[] = [];
      for (const other of this.view.vmsOnNode(this.table.idAt(i))) {
        if (!other.spec.preemptible || other.phase === "stopping" || other.phase === "deleting" || this.evicted.has(other.id)) continue;
        const resources = other.spec.resources;
        candidates.push({ vmId: other.id, generation: other.generation, priority: other.spec.priority, vcpus: resources.vcpus, memoryMib: resources.memoryMib, diskGib: resources.diskGib });
      }
      candidates.sort(compareCandidates);
      const size = candidates.length + 1;
      const prefix: EvictionPrefix = {
        vcpus: new Float64Array(size),
        memoryMib: new Float64Array(size),
        diskGib: new Float64Array(size),
        priority: new Float64Array(size),
        vcpusMax: new Float64Array(size),
        memoryMibMax: new Float64Array(size),
        diskGibMax: new Float64Array(size),
      };
      candidates.forEach((c, k) => {
        prefix.vcpus[k + 1] = prefix.vcpus[k]! + c.vcpus;
        prefix.memoryMib[k + 1] = prefix.memoryMib[k]! + c.memoryMib;
        prefix.diskGib[k + 1] = prefix.diskGib[k]! + c.diskGib;
        prefix.priority[k + 1] = prefix.priority[k]! + c.priority;
        prefix.vcpusMax[k + 1] = Math.max(prefix.vcpusMax[k]!, c.vcpus);
        prefix.memoryMibMax[k + 1] = Math.max(prefix.memoryMibMax[k]!, c.memoryMib);
        prefix.diskGibMax[k + 1] = Math.max(prefix.diskGibMax[k]!, c.diskGib);
      });
      onNode = { candidates, prefix };
      this.preemptibleOnNode.set(i, onNode);
    }
    const { candidates, prefix } = onNode;
    // How many have a strictly lower priority (binary search: candidates are by priority ascending).
    const equalToo = this.bugs.has("preempt-equal-priority");
    let low = 0;
    let high = candidates.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      const priority = candidates[middle]!.priority;
      if (equalToo ? priority <= spec.priority : priority < spec.priority) low = middle + 1;
      else high = middle;
    }
    if (prefix.vcpus[low]! < deficit.vcpus || prefix.memoryMib[low]! < deficit.memoryMib || prefix.diskGib[low]! < deficit.diskGib) return [];
    // Bounds against the best node so far (nodes come in ascending id order, so a tie loses):
    // fewer evictions than countBound are impossible here; a set of size k costs at least the k lowest priorities.
    const countBound = Math.max(1, evictionsAtLeast(deficit.vcpus, prefix.vcpusMax[low]!), evictionsAtLeast(deficit.memoryMib, prefix.memoryMibMax[low]!), evictionsAtLeast(deficit.diskGib, prefix.diskGibMax[low]!));
    if (countBound > bestCount) return [];
    if (countBound === bestCount && bestCount <= low && prefix.priority[bestCount]! >= bestPriority) return [];
    const eligible: EvictionCandidate[] = [];
    for (let k = 0; k < low; k++) if (!this.evicted.has(candidates[k]!.vmId)) eligible.push(candidates[k]!);
    assert(eligible.every((c) => (equalToo ? c.priority <= spec.priority : c.priority < spec.priority)), "only lower priorities are eligible");
    return eligible;
  }

  /** Every node, counted under the first filter it fails (exact: all nodes are examined). */
  private unplaceable(context: VmContext): ScheduleDecision {
    const counts = FILTER_NAMES.map(() => 0);
    let passing = 0;
    for (let i = 0; i < this.table.count; i++) {
      let failure = context.feasibility.failures[i]!;
      if (failure < 0) failure = this.dynamicFailure(context, i);
      if (failure < 0) passing += 1;
      else counts[failure] = counts[failure]! + 1;
    }
    assert(passing === 0 || this.bugs.has("give-up-after-half"), () => `vm ${context.vm.id} declared unplaceable while ${passing} nodes pass every filter`);
    const exclusions = exclusionsOf(counts);
    return { kind: "unplaceable", vmId: context.vm.id, explanation: explain(exclusions), exclusions };
  }
}
