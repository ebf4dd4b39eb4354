// The orchestrator's properties (properties.ts, PROPERTIES), checked as the run goes:
//   from the simulated VM hosts' true state (sim-vm-backend.ts reports every instance that starts
//   or stops, at the true simulated instant): VM At Most Once, Node Capacity Held, Anti-Affinity
//   Held, Fresh Fencing Token;
//   from every replica after every cluster command it applies: Cluster State Consistent (the
//   state's own audit, recomputed from scratch), Generations Increase, Cluster State Agreement,
//   Fenced Before Down (against the hosts' true state);
//   from every plan the controller computes, against the state it was computed on (a copy, judged
//   by the state machine's own placement rule, never by the scheduler under test): Plan
//   Admissible, Unplaceable Only When Full;
//   at the end of a run whose faults healed: VM Liveness.
// The run stops at the first violation (the monitor reports it through `fail`).

import { assert } from "../assert.ts";
import { ClusterState } from "../cluster/cluster-state.ts";
import { addResources, allocatable, fitsWithin, NO_RESOURCES } from "../cluster/resources.ts";
import type { ClusterView, FencingToken, NodeId, VmId, VmSpec } from "../cluster/types.ts";
import { planToCommands } from "../scheduler/plan-commands.ts";
import { schedule } from "../scheduler/schedule.ts";
import type { SchedulePlan, SchedulerOptions } from "../scheduler/scheduler-types.ts";
import { hashBytes } from "./hash.ts";
import type { PropertyName } from "./properties.ts";

/** Applied indexes whose state hash is kept for the agreement check (oldest forgotten first). */
const AGREEMENT_INDEXES_MAX = 20_000;

interface RunningInstance {
  readonly nodeId: NodeId;
  readonly token: FencingToken;
  readonly spec: VmSpec;
}

export interface ReplicaState {
  readonly nodeId: NodeId;
  readonly state: ClusterView;
}

export interface OrchestratorMonitorStats {
  instancesStarted: number;
  instancesStopped: number;
  auditsRun: number;
  agreementChecks: number;
  plansChecked: number;
}

export class OrchestratorMonitor {
  readonly stats: OrchestratorMonitorStats = { instancesStarted: 0, instancesStopped: 0, auditsRun: 0, agreementChecks: 0, plansChecked: 0 };
  /** VM id -> the instances running now (true state). */
  private readonly running = new Map<VmId, RunningInstance[]>();
  /** Applied index -> the hash of the cluster state there, and who first reported it. */
  private readonly stateHashAt = new Map<number, { readonly hash: number; readonly nodeId: NodeId }>();
  /** Per replica incarnation: record key ("v<id>" / "n<id>") -> the highest generation it applied. */
  private readonly generations = new Map<NodeId, Map<string, number>>();

  constructor(
    private readonly fail: (property: PropertyName, message: string, nodeId: NodeId | undefined) => void,
    /** The cluster state of every running replica. */
    private readonly replicas: () => readonly ReplicaState[],
  ) {}

  /** A VM instance started (running) or stopped on a host, at this true instant. */
  instance(nodeId: NodeId, vmId: VmId, token: FencingToken, running: boolean): void {
    assert(token.nodeId === nodeId || !running, () => `vm ${vmId} started on node ${nodeId} with a token for node ${token.nodeId}`);
    const instances = this.running.get(vmId) ?? [];
    if (!running) {
      this.stats.instancesStopped += 1;
      const kept = instances.filter((instance) => !(instance.nodeId === nodeId && instance.token.placement === token.placement));
      if (kept.length === 0) this.running.delete(vmId);
      else this.running.set(vmId, kept);
      return;
    }
    this.stats.instancesStarted += 1;
    const freshest = this.freshestHolding(vmId);
    if (freshest === undefined) {
      this.fail("Fresh Fencing Token", `vm ${vmId} started on node ${nodeId} (placement ${token.placement}) but no running replica knows the VM`, nodeId);
      return;
    }
    this.checkFresh(nodeId, vmId, token);
    const spec = freshest.vm(vmId)!.spec;
    instances.push({ nodeId, token, spec });
    this.running.set(vmId, instances);
    if (instances.length > 1) {
      const where = instances.map((instance) => `node ${instance.nodeId} (epoch ${instance.token.epoch}, placement ${instance.token.placement})`).join(" and ");
      this.fail("VM At Most Once", `vm ${vmId} runs twice: on ${where}`, nodeId);
      return;
    }
    this.checkNode(nodeId, freshest);
  }

  /** A replica applied a cluster command at `index`. */
  applied(nodeId: NodeId, index: number, state: ClusterState): void {
    assert(state.appliedIndex === index, "the monitor sees the state right after the command");
    this.stats.auditsRun += 1;
    const problems = state.audit();
    if (problems.length > 0) {
      this.fail("Cluster State Consistent", `node ${nodeId} at index ${index}: ${problems.slice(0, 3).join("; ")}`, nodeId);
      return;
    }
    if (!this.checkGenerations(nodeId, index, state)) return;
    if (!this.checkFencedBeforeDown(nodeId, index, state)) return;
    const hash = hashBytes(state.snapshot());
    const seen = this.stateHashAt.get(index);
    if (seen === undefined) {
      this.stateHashAt.set(index, { hash, nodeId });
      if (this.stateHashAt.size > AGREEMENT_INDEXES_MAX) this.stateHashAt.delete(this.stateHashAt.keys().next().value!);
    } else {
      this.stats.agreementChecks += 1;
      if (seen.hash !== hash) this.fail("Cluster State Agreement", `at applied index ${index} node ${nodeId}'s cluster state differs from node ${seen.nodeId}'s`, nodeId);
    }
  }

  /**
   * A plan the controller computed on `view` (its replica's state, unchanged since). Plan
   * Admissible: the plan's commands, applied at once to a copy of that state, take every entry
   * (a correct scheduler counts its own batch and every rule the state machine rechecks).
   * Unplaceable Only When Full: after those placements, no node a preemption in the plan does not
   * hold back admits a VM the plan declared unplaceable (placements only shrink what a node
   * admits, so a node admitting it now admitted it when it was decided).
   */
  planned(view: ClusterView, plan: SchedulePlan): void {
    assert(view instanceof ClusterState, "plans are computed on a replica's cluster state");
    assert(plan.appliedIndex === view.appliedIndex, "the plan is of this view");
    this.stats.plansChecked += 1;
    const copy = new ClusterState();
    copy.restore(view.snapshot());
    const split = planToCommands(plan, "controller");
    assert(split.kind === "ok", "a controller plan splits into commands");
    let index = view.appliedIndex;
    for (const body of split.commands) {
      index += 1;
      const result = copy.apply(index, { stampUs: 0, requestId: "", body });
      const skipped = result.status === "ok" && result.detail.kind === "placements" ? result.detail.skipped : [];
      if (result.status !== "ok" || skipped.length > 0) {
        const why = result.status === "ok" ? `vm ${skipped.join(", vm ")} refused${refusalOf(copy, plan, skipped[0]!)}` : `${result.code}: ${result.message}`;
        this.fail("Plan Admissible", `a plan computed at index ${plan.appliedIndex} is not accepted whole by the state it was computed on: ${why} (${describePlan(plan)})`, undefined);
        return;
      }
    }
    const heldBack = new Set<NodeId>();
    for (const decision of plan.decisions) if (decision.kind === "preempting") heldBack.add(decision.nodeId);
    for (const decision of plan.decisions) {
      if (decision.kind !== "unplaceable") continue;
      const vm = copy.vm(decision.vmId);
      if (vm === undefined || vm.phase !== "pending" || vm.desired !== "running" || vm.nodeId !== 0) continue; // not schedulable at all, or placed by the plan
      for (const node of copy.nodes()) {
        if (heldBack.has(node.id) || copy.placementRefusalOf(vm.id, node.id) !== undefined) continue;
        this.fail("Unplaceable Only When Full", `vm ${vm.id} declared unplaceable at index ${plan.appliedIndex} ("${decision.explanation}"), but node ${node.id} admits it beside the plan's placements`, undefined);
        return;
      }
    }
  }

  /** A replica restarted: what it applies next may start from an older snapshot (its generations are judged afresh). */
  restarted(nodeId: NodeId): void {
    this.generations.delete(nodeId);
  }

  /** Every host of `nodeId` lost its VMs (a host crash): they are no longer running. */
  hostCrashed(nodeId: NodeId): void {
    for (const [vmId, instances] of [...this.running]) {
      const kept = instances.filter((instance) => instance.nodeId !== nodeId);
      if (kept.length === 0) this.running.delete(vmId);
      else this.running.set(vmId, kept);
    }
  }

  /**
   * VM Liveness, at the end of a run whose faults healed long enough ago: every VM the state (of
   * the most advanced replica) wants running, that the scheduler could place or has placed, runs
   * exactly once on its current placement. VMs no node could hold are excused (they stay pending).
   */
  checkLiveness(scheduler: SchedulerOptions, boundMs: number): void {
    const state = this.mostAdvanced();
    if (state === undefined) return;
    for (const vm of state.vms()) {
      if (vm.desired !== "running" || vm.phase === "failed" || vm.phase === "deleting") continue;
      const instances = this.running.get(vm.id) ?? [];
      const onPlacement = vm.nodeId !== 0 && instances.some((instance) => instance.nodeId === vm.nodeId && instance.token.placement === vm.token.placement);
      if (onPlacement && instances.length === 1) continue;
      // Excused: no node admits it by the state machine's own rule, and the scheduler finds no
      // preemption either (never the scheduler's word alone: it is code under test).
      if (vm.nodeId === 0 && (vm.phase !== "pending" || !this.someNodeAdmits(state, vm.id))) {
        const plan = schedule(state, [vm.id], scheduler);
        const decision = plan.decisions[0];
        if (decision !== undefined && decision.kind === "unplaceable") continue;
      }
      this.fail("VM Liveness", `vm ${vm.id} (${vm.spec.tenant}/${vm.spec.name}) is desired running but is ${vm.phase} on node ${vm.nodeId} with ${instances.length} instance(s) running, ${boundMs} ms after the faults stopped`, vm.nodeId === 0 ? undefined : vm.nodeId);
      return;
    }
    if (!this.checkDrainCompletes(state, boundMs)) return;
    this.checkNoOrphans(state, boundMs);
  }

  /**
   * Drain Completes: a node still draining at the end was drained before the faults stopped (no
   * drain starts after), so the controller has had the bound to move every VM off it, one at a
   * time; a VM it moved waits pending elsewhere, never on the draining node.
   */
  private checkDrainCompletes(state: ClusterView, boundMs: number): boolean {
    for (const node of state.nodes()) {
      if (node.state !== "draining") continue;
      for (const vm of state.vmsOnNode(node.id)) {
        if (vm.desired !== "running" || vm.phase === "failed" || vm.phase === "deleting") continue;
        assert(vm.nodeId === node.id, "a node's VMs are placed on it");
        this.fail("Drain Completes", `node ${node.id} is draining, yet vm ${vm.id} (${vm.spec.tenant}/${vm.spec.name}) is still ${vm.phase} on it, ${boundMs} ms after the faults stopped`, node.id);
        return false;
      }
    }
    return true;
  }

  /**
   * No Orphan VMs, the converse of VM Liveness at the same instant: every instance still running
   * is wanted by the state, its VM desired running, assigned to that node at that placement (a VM
   * stopped, deleted, moved or placed again has had the bound to stop there).
   */
  private checkNoOrphans(state: ClusterView, boundMs: number): void {
    for (const [vmId, instances] of this.running) {
      const vm = state.vm(vmId);
      for (const instance of instances) {
        const wanted =
          vm !== undefined &&
          vm.desired === "running" &&
          vm.nodeId === instance.nodeId &&
          vm.token.placement === instance.token.placement &&
          (vm.phase === "scheduled" || vm.phase === "starting" || vm.phase === "running");
        if (wanted) continue;
        const what = vm === undefined ? "no longer exists" : `is desired ${vm.desired}, ${vm.phase} on node ${vm.nodeId} at placement ${vm.token.placement}`;
        this.fail("No Orphan VMs", `vm ${vmId} still runs on node ${instance.nodeId} (placement ${instance.token.placement}) ${boundMs} ms after the faults stopped, but it ${what}`, instance.nodeId);
        return;
      }
    }
  }

  private someNodeAdmits(state: ClusterView, vmId: VmId): boolean {
    assert(state instanceof ClusterState, "liveness is judged on a replica's cluster state");
    for (const node of state.nodes()) if (state.placementRefusalOf(vmId, node.id) === undefined) return true;
    return false;
  }

  /**
   * Fenced Before Down: once a replica has a node down at epoch e, no VM instance of that node
   * still runs under epoch e (the controller waited the lease bound Lc; by then the agent fenced
   * them and its guard killed them, docs/FENCING.md), so placing them elsewhere is safe.
   */
  private checkFencedBeforeDown(nodeId: NodeId, index: number, state: ClusterView): boolean {
    for (const [vmId, instances] of this.running) {
      for (const instance of instances) {
        const node = state.node(instance.nodeId);
        if (node === undefined || node.state !== "down" || node.lease.epoch !== instance.token.epoch) continue;
        this.fail("Fenced Before Down", `node ${nodeId} at index ${index} has node ${instance.nodeId} down at epoch ${node.lease.epoch}, but vm ${vmId} still runs there under that epoch (placement ${instance.token.placement})`, instance.nodeId);
        return false;
      }
    }
    return true;
  }

  /** The number of VM instances running now (true state). */
  get runningInstances(): number {
    let count = 0;
    for (const instances of this.running.values()) count += instances.length;
    return count;
  }

  private checkFresh(nodeId: NodeId, vmId: VmId, token: FencingToken): void {
    for (const replica of this.replicas()) {
      const vm = replica.state.vm(vmId);
      if (vm !== undefined && vm.token.placement > token.placement) {
        this.fail("Fresh Fencing Token", `vm ${vmId} started on node ${nodeId} with placement ${token.placement}, but node ${replica.nodeId} has applied placement ${vm.token.placement} (on node ${vm.token.nodeId})`, nodeId);
        return;
      }
      const node = replica.state.node(nodeId);
      if (node !== undefined && (node.lease.epoch > token.epoch || (node.lease.epoch === token.epoch && node.state === "down"))) {
        this.fail("Fresh Fencing Token", `vm ${vmId} started on node ${nodeId} under epoch ${token.epoch}, but node ${replica.nodeId} has node ${nodeId} at epoch ${node.lease.epoch} (${node.state})`, nodeId);
        return;
      }
    }
  }

  /** Node Capacity Held and Anti-Affinity Held over the instances running on one node. */
  private checkNode(nodeId: NodeId, state: ClusterView): void {
    const node = state.node(nodeId);
    if (node === undefined) return; // removed since: its registration no longer says what it holds
    let used = NO_RESOURCES;
    const groups = new Map<string, number>();
    for (const instances of this.running.values()) {
      for (const instance of instances) {
        if (instance.nodeId !== nodeId) continue;
        used = addResources(used, instance.spec.resources);
        const affinity = instance.spec.antiAffinity;
        if (affinity.group === "" || affinity.mode !== "hard") continue;
        const key = `${instance.spec.tenant}/${affinity.group}`;
        const count = (groups.get(key) ?? 0) + 1;
        groups.set(key, count);
        if (count > affinity.maxPerNode) {
          this.fail("Anti-Affinity Held", `node ${nodeId} runs ${count} VMs of hard anti-affinity group ${key} (at most ${affinity.maxPerNode})`, nodeId);
          return;
        }
      }
    }
    const limit = allocatable(node);
    if (!fitsWithin(used, limit)) {
      this.fail("Node Capacity Held", `node ${nodeId} runs VMs needing ${describe(used)}, beyond its allocatable ${describe(limit)}`, nodeId);
    }
  }

  private checkGenerations(nodeId: NodeId, index: number, state: ClusterView): boolean {
    let seen = this.generations.get(nodeId);
    if (seen === undefined) {
      seen = new Map();
      this.generations.set(nodeId, seen);
    }
    const check = (key: string, generation: number): boolean => {
      const previous = seen.get(key) ?? 0;
      if (generation < previous) {
        this.fail("Generations Increase", `node ${nodeId} at index ${index}: ${key} went from generation ${previous} back to ${generation}`, nodeId);
        return false;
      }
      seen.set(key, generation);
      return true;
    };
    for (const vm of state.vms()) if (!check(`vm ${vm.id}`, vm.generation)) return false;
    for (const node of state.nodes()) if (!check(`node ${node.id}`, node.generation)) return false;
    return true;
  }

  private freshestHolding(vmId: VmId): ClusterView | undefined {
    let best: ClusterView | undefined;
    for (const replica of this.replicas()) {
      if (replica.state.vm(vmId) === undefined) continue;
      if (best === undefined || replica.state.appliedIndex > best.appliedIndex) best = replica.state;
    }
    return best;
  }

  private mostAdvanced(): ClusterView | undefined {
    let best: ClusterView | undefined;
    for (const replica of this.replicas()) if (best === undefined || replica.state.appliedIndex > best.appliedIndex) best = replica.state;
    return best;
  }
}

/** Why the state (after the plan's other entries) refuses the plan's placement of vmId, when it is a placement of a pending VM. */
function refusalOf(state: ClusterState, plan: SchedulePlan, vmId: VmId): string {
  const placement = plan.placements.find((p) => p.vmId === vmId);
  const vm = state.vm(vmId);
  if (placement === undefined || vm === undefined || vm.phase !== "pending" || state.node(placement.nodeId) === undefined) return "";
  const refusal = state.placementRefusalOf(vmId, placement.nodeId);
  return refusal === undefined ? "" : ` (${refusal})`;
}

function describePlan(plan: SchedulePlan): string {
  const placements = plan.placements.slice(0, 6).map((p) => `vm ${p.vmId} -> node ${p.nodeId}`);
  const more = plan.placements.length > 6 ? `, ${plan.placements.length - 6} more` : "";
  return `${plan.placements.length} placements: ${placements.join(", ")}${more}; ${plan.evictions.length} evictions`;
}

function describe(resources: { readonly vcpus: number; readonly memoryMib: number; readonly diskGib: number }): string {
  return `${resources.vcpus} vCPUs, ${resources.memoryMib} MiB, ${resources.diskGib} GiB`;
}
