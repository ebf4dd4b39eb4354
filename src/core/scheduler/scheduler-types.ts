// The scheduler's vocabulary: its options, the filters that exclude a node (by name, in the order
// they are evaluated), the decisions it returns and the plan that holds them. The placement and
// eviction entries themselves are the cluster's (src/core/cluster/types.ts). docs/SCHEDULER.md
// describes every rule named here.

import type { ClusterView, EvictionEntry, NodeId, PlacementEntry, VmId, VmRecord } from "../cluster/types.ts";

/** Per cluster. spread: most free after placing; bin-pack: least free that fits; round-robin: the next node after the previous placement. */
export type SchedulingStrategy = "spread" | "bin-pack" | "round-robin";

/**
 * Bugs planted for the tests only (docs/PLANTED-BUGS.md): each makes one property test fire.
 * Nothing outside test/ sets them.
 */
export type SchedulerPlantedBug =
  /** Capacity checked against the node's raw capacity, not its allocatable under the overcommit policy. */
  | "capacity-ignores-overcommit"
  /** The batch forgets its own earlier placements (usage does not grow as it places). */
  | "capacity-ignores-batch"
  /** Hard anti-affinity is not checked. */
  | "hard-anti-affinity-ignored"
  /** Required labels are not checked. */
  | "required-labels-ignored"
  /** Preemption may evict VMs of equal priority. */
  | "preempt-equal-priority"
  /** Preemption evicts every eligible VM on the chosen node, not the fewest. */
  | "preempt-every-candidate"
  /** A VM is declared unplaceable after examining only the first half of the nodes. */
  | "give-up-after-half"
  /** The spread constraint is honoured only among the first candidatesMax candidates. */
  | "spread-within-candidates";

export interface SchedulerOptions {
  readonly strategy: SchedulingStrategy;
  /**
   * How many nodes that pass every filter the scoring examines per VM (Nomad's limit iterator);
   * 0: every one (the exact best, at a cost linear in the nodes). Feasibility is exact either way.
   */
  readonly candidatesMax: number;
  /** round-robin: the rotation starts after this node id (the controller passes the plan's roundRobinLastNodeId back). */
  readonly roundRobinAfterNodeId: NodeId;
  /** May a VM that fits nowhere evict lower-priority preemptible VMs? */
  readonly preemption: boolean;
  /** Bound on the search for the fewest evictions on one node; past it the best found so far is taken (docs/SCHEDULER.md). */
  readonly preemptionSearchStepsMax: number;
  /** The node a VM being migrated should go to, 0 for none: preferred when it passes every filter. */
  readonly migrationTargetOf: (vm: VmRecord) => NodeId;
  readonly plantedBugs: readonly SchedulerPlantedBug[];
  /**
   * Sees every plan with the view it was computed on, before schedule() returns (the view is
   * unchanged then): the simulator's plan checks (Plan Admissible, Unplaceable Only When Full).
   * Production passes none; it must not change the view.
   */
  readonly observePlan?: (view: ClusterView, plan: SchedulePlan) => void;
}

export const DEFAULT_SCHEDULER_OPTIONS: SchedulerOptions = {
  strategy: "spread",
  candidatesMax: 32,
  roundRobinAfterNodeId: 0,
  preemption: true,
  preemptionSearchStepsMax: 20_000,
  migrationTargetOf: () => 0,
  plantedBugs: [],
};

/** Limits of one schedule() call. */
export const SCHEDULER_LIMITS = {
  /** VMs in one batch. */
  vmsPerBatchMax: 200_000,
  /** candidatesMax above this is refused (0 still means every node). */
  candidatesMax: 10_000,
  preemptionSearchStepsMax: 10_000_000,
} as const;

/**
 * The filters, in evaluation order: a node excluded for a VM is counted under the first filter it
 * fails. Static filters first (they depend on the node and the VM's spec only), then the ones that
 * depend on what the node holds.
 */
export const FILTER_NAMES = [
  "down",
  "cordoned",
  "draining",
  "pinned elsewhere",
  "datacenter",
  "zone",
  "missing feature",
  "missing label",
  "tenant vms per node",
  "anti-affinity",
  "insufficient vcpus",
  "insufficient memory",
  "insufficient disk",
] as const;

export type FilterName = (typeof FILTER_NAMES)[number];

export const FILTER_INDEX: ReadonlyMap<FilterName, number> = new Map(FILTER_NAMES.map((name, index) => [name, index]));

/** How many nodes one filter excluded. */
export interface FilterExclusion {
  readonly filter: FilterName;
  readonly nodes: number;
}

export type ScheduleDecision =
  | { readonly kind: "placed"; readonly vmId: VmId; readonly nodeId: NodeId; readonly score: number }
  /** The VM fits nowhere; once these evictees have stopped it fits on nodeId. It is not placed in this plan. */
  | { readonly kind: "preempting"; readonly vmId: VmId; readonly nodeId: NodeId; readonly evictions: readonly EvictionEntry[]; readonly explanation: string }
  /** No node passes every filter (and preemption could not help). exclusions: every node counted once, under the first filter it failed. */
  | { readonly kind: "unplaceable"; readonly vmId: VmId; readonly explanation: string; readonly exclusions: readonly FilterExclusion[] };

export interface SchedulePlan {
  /** The view's applied index when the plan was computed: a user's plan commits with it as checkIndex. */
  readonly appliedIndex: number;
  /** One per input VM, in input order. */
  readonly decisions: readonly ScheduleDecision[];
  /** In the order they were decided (priority descending, then input order). */
  readonly placements: readonly PlacementEntry[];
  /** Grouped by the VM they make room for, in the order decided. */
  readonly evictions: readonly EvictionEntry[];
  /** round-robin: the node of the last placement (the next plan's roundRobinAfterNodeId). */
  readonly roundRobinLastNodeId: NodeId;
}
