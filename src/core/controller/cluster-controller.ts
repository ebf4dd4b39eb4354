// The cluster controller: the part of the orchestrator that acts for the cluster rather than for
// one node. It runs in every node process, as deterministic core code on the Environment's
// timers; only the Raft leader's instance proposes. Each round it:
//   1. notes, on this process's monotonic clock, when it first saw each node's latest lease
//      renewal applied (every replica does this, leader or not, so a new leader already knows);
//   2. declares down every node whose renewal it has not seen renewed for the controller's lease
//      bound Lc (src/core/agent/lease-timing.ts, docs/FENCING.md): by then, in true time, that
//      node's VMs are dead whatever its clock did, so the state machine may place them elsewhere
//      at once;
//   3. schedules pending VMs (src/core/scheduler/) and proposes the placements in batches;
//   4. moves a draining node's VMs off one at a time (cold migration through the state machine).
// Every proposal is bounded: one placement batch and one migration per draining node in flight,
// one declaration per node. A proposal whose outcome is unknown is simply looked at again next
// round: each one names the state it expects (epoch and renewal index, generations), so a
// duplicate is refused by the state machine, never applied twice.

import { assert } from "../assert.ts";
import type { Environment, TimerHandle } from "../env/environment.ts";
import { controllerDeclareDownAfterUs, type LeaseTiming } from "../agent/lease-timing.ts";
import { planToCommands } from "../scheduler/plan-commands.ts";
import { schedule } from "../scheduler/schedule.ts";
import type { SchedulerOptions } from "../scheduler/scheduler-types.ts";
import type { SubmitCommand } from "../agent/submit-outcome.ts";
import { CLUSTER_LIMITS, type ClusterCommand, type ClusterView, type CommandEnvelope, type NodeId, type VmId } from "../cluster/types.ts";

/** Planted bugs of the controller (test harness only, docs/PLANTED-BUGS.md). */
export type ControllerPlantedBug =
  /** Declares a node down as soon as one renewal is late (renewIntervalUs after it), without waiting out the lease bound: its VMs may still run. */
  | "no-fencing-wait"
  /** Never moves a VM off a draining node: the drain an operator asked for never finishes. */
  | "drain-never-migrates";

export interface ControllerOptions {
  readonly timing: LeaseTiming;
  /** How often the controller looks at the state. */
  readonly roundIntervalMs: number;
  readonly scheduler: SchedulerOptions;
  /** Pending VMs one scheduling round considers (the oldest first). */
  readonly scheduleBatchMax: number;
  readonly plantedBugs?: ReadonlySet<ControllerPlantedBug>;
}

/** The controller's way to the cluster: the request path (through the local replica, or forwarded). */
export interface ControllerPorts {
  readonly readState: () => ClusterView;
  readonly isLeader: () => boolean;
  readonly submit: SubmitCommand;
}


export interface ControllerStats {
  rounds: number;
  declaredDown: number;
  placementBatches: number;
  placementsProposed: number;
  migrationsProposed: number;
  proposalsFailed: number;
}

/** When this process first saw a node's lease at (epoch, renewedIndex). */
interface RenewalSeen {
  readonly epoch: number;
  readonly renewedIndex: number;
  readonly seenAtUs: number;
}

export class ClusterController {
  readonly stats: ControllerStats = { rounds: 0, declaredDown: 0, placementBatches: 0, placementsProposed: 0, migrationsProposed: 0, proposalsFailed: 0 };
  private readonly renewals = new Map<NodeId, RenewalSeen>();
  private readonly declaring = new Set<NodeId>();
  private readonly migrating = new Set<NodeId>();
  private placing = false;
  /**
   * VMs waiting for the evictions made for them (forVmId -> evictees): not scheduled again until
   * every evictee has stopped, or a second plan would evict still more VMs for the same one.
   */
  private readonly awaitingEvictions = new Map<VmId, readonly VmId[]>();
  /** round-robin: where the last plan's rotation ended. */
  private roundRobinLast: NodeId = 0;
  private timer: TimerHandle | undefined;
  /** When the armed round runs (monotonic µs). */
  private timerAtUs = 0;
  private lastRoundAtUs = Number.MIN_SAFE_INTEGER;
  private stopped = false;
  private readonly declareDownAfterUs: number;
  private readonly noFencingWait: boolean;
  private readonly drainNeverMigrates: boolean;

  constructor(
    private readonly env: Environment,
    private readonly ports: ControllerPorts,
    private readonly options: ControllerOptions,
  ) {
    assert(options.roundIntervalMs > 0 && options.scheduleBatchMax > 0, "controller intervals and batches are positive");
    this.declareDownAfterUs = controllerDeclareDownAfterUs(options.timing);
    assert(this.declareDownAfterUs > options.timing.leaseDurationUs, "the controller waits longer than any lease");
    this.noFencingWait = options.plantedBugs?.has("no-fencing-wait") ?? false;
    this.drainNeverMigrates = options.plantedBugs?.has("drain-never-migrates") ?? false;
  }

  start(): void {
    assert(this.timer === undefined && !this.stopped, "a controller starts once");
    this.armRound(this.options.roundIntervalMs * 1000, this.env.monotonic.nowUs());
  }

  /**
   * The cluster state changed: while leading, run the next round soon (a new VM is placed at once,
   * not at the next round), but never sooner than a tenth of the round interval after the last
   * one, so a burst of changes costs one round. Safe inside apply: it only moves the timer.
   */
  wake(): void {
    if (this.stopped || this.timer === undefined || !this.ports.isLeader()) return;
    const nowUs = this.env.monotonic.nowUs();
    const atUs = Math.max(nowUs, this.lastRoundAtUs + this.options.roundIntervalMs * 100);
    if (this.timerAtUs <= atUs) return;
    this.env.timers.cancel(this.timer);
    this.armRound(atUs - nowUs, nowUs);
    assert(this.timer !== undefined && this.timerAtUs === atUs, "a woken controller has its round armed");
  }

  private armRound(inUs: number, nowUs: number): void {
    assert(inUs >= 0, "a round is armed in the future");
    this.timerAtUs = nowUs + inUs;
    this.timer = this.env.timers.after(inUs / 1000, this.round);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.env.timers.cancel(this.timer);
    this.timer = undefined;
  }

  private readonly round = (): void => {
    this.timer = undefined;
    if (this.stopped) return;
    this.stats.rounds += 1;
    const view = this.ports.readState();
    const nowUs = this.env.monotonic.nowUs();
    this.noteRenewals(view, nowUs);
    if (this.ports.isLeader()) {
      this.declareExpired(view, nowUs);
      this.schedulePending(view);
      this.drain(view);
    }
    this.lastRoundAtUs = nowUs;
    this.armRound(this.options.roundIntervalMs * 1000, nowUs);
  };

  /** Step 1: the first time this process sees each (epoch, renewedIndex); forgets removed nodes. */
  private noteRenewals(view: ClusterView, nowUs: number): void {
    const present = new Set<NodeId>();
    for (const node of view.nodes()) {
      present.add(node.id);
      const seen = this.renewals.get(node.id);
      if (seen === undefined || seen.epoch !== node.lease.epoch || seen.renewedIndex !== node.lease.renewedIndex) {
        assert(seen === undefined || node.lease.epoch > seen.epoch || node.lease.renewedIndex >= seen.renewedIndex, "a lease never goes back");
        this.renewals.set(node.id, { epoch: node.lease.epoch, renewedIndex: node.lease.renewedIndex, seenAtUs: nowUs });
      }
    }
    for (const id of [...this.renewals.keys()]) if (!present.has(id)) this.renewals.delete(id);
    assert(this.renewals.size === present.size, "one renewal record per node");
  }

  /** Step 2. */
  private declareExpired(view: ClusterView, nowUs: number): void {
    const waitUs = this.noFencingWait ? this.options.timing.renewIntervalUs * 2 : this.declareDownAfterUs;
    for (const node of view.nodes()) {
      if (node.state === "down" || this.declaring.has(node.id)) continue;
      const seen = this.renewals.get(node.id);
      assert(seen !== undefined, "every node's renewal was noted this round");
      if (nowUs - seen.seenAtUs < waitUs) continue;
      this.declaring.add(node.id);
      this.stats.declaredDown += 1;
      this.env.reached("controller/node-declared-down");
      if ([...view.vmsOnNode(node.id)].length > 0) this.env.reached("controller/vm-evacuated");
      this.propose({ kind: "node-declare-down", nodeId: node.id, epoch: seen.epoch, renewedIndex: seen.renewedIndex }, () => this.declaring.delete(node.id));
    }
  }

  /** Step 3: the oldest pending VMs, one batch in flight at a time. */
  private schedulePending(view: ClusterView): void {
    if (this.placing) return;
    for (const [forVmId, evictees] of [...this.awaitingEvictions]) {
      const stillStopping = evictees.some((id) => view.vm(id)?.phase === "stopping");
      if (!stillStopping || view.vm(forVmId)?.phase !== "pending") this.awaitingEvictions.delete(forVmId);
    }
    // Bounded: every key is a VM that still exists and is pending (others were just dropped).
    assert(this.awaitingEvictions.size <= CLUSTER_LIMITS.vmsMax, "evictions awaited for more VMs than exist");
    const pending: VmId[] = [];
    for (const vm of view.vms()) {
      if (vm.phase !== "pending" || vm.desired !== "running" || vm.nodeId !== 0) continue;
      if (this.awaitingEvictions.has(vm.id)) continue;
      pending.push(vm.id);
      if (pending.length === this.options.scheduleBatchMax) break;
    }
    if (pending.length === 0) return;
    const plan = schedule(view, pending, { ...this.options.scheduler, roundRobinAfterNodeId: this.roundRobinLast });
    this.roundRobinLast = plan.roundRobinLastNodeId;
    const split = planToCommands(plan, "controller");
    assert(split.kind === "ok", "the controller's plan is split into commands of any size");
    const commands = split.commands;
    if (commands.length === 0) return;
    this.placing = true;
    this.stats.placementBatches += 1;
    let outstanding = commands.length;
    for (const command of commands) {
      if (command.kind === "placements-commit") {
        this.stats.placementsProposed += command.placements.length;
        const byVm = new Map<VmId, VmId[]>();
        for (const eviction of command.evictions) byVm.set(eviction.forVmId, [...(byVm.get(eviction.forVmId) ?? []), eviction.vmId]);
        for (const [forVmId, evictees] of byVm) this.awaitingEvictions.set(forVmId, evictees);
        if (command.evictions.length > 0) this.env.reached("controller/placement-evicts");
      }
      this.propose(command, () => {
        outstanding -= 1;
        assert(outstanding >= 0, "more outcomes than placement commands");
        if (outstanding === 0) this.placing = false;
      });
    }
  }

  /** Step 4: one VM at a time off each draining node (lowest running id first), once none of its VMs is stopping. */
  private drain(view: ClusterView): void {
    if (this.drainNeverMigrates) return;
    for (const node of view.nodes()) {
      if (node.state !== "draining" || this.migrating.has(node.id)) continue;
      let candidate: VmId = 0;
      let candidateGeneration = 0;
      let moving = false;
      for (const vm of view.vmsOnNode(node.id)) {
        if (vm.phase === "stopping" || vm.phase === "deleting") moving = true;
        // Only a running VM migrates (the state machine refuses others); one still starting is moved once it runs.
        else if (candidate === 0 && vm.desired === "running" && vm.phase === "running") {
          candidate = vm.id;
          candidateGeneration = vm.generation;
        }
      }
      if (moving || candidate === 0) continue;
      this.migrating.add(node.id);
      this.stats.migrationsProposed += 1;
      this.env.reached("controller/vm-migrated-off-draining-node");
      this.propose({ kind: "vm-migrate", vmId: candidate, expectedGeneration: candidateGeneration, targetNodeId: 0 }, () => this.migrating.delete(node.id));
    }
  }

  private propose(body: ClusterCommand, settled: () => void): void {
    const envelope: CommandEnvelope = { stampUs: Math.floor(this.env.wall.nowMs()) * 1000, requestId: "", body };
    this.ports.submit(envelope, (outcome) => {
      if (outcome.status !== "ok") this.stats.proposalsFailed += 1;
      if (outcome.status !== "ok") this.env.reached("controller/proposal-retried");
      settled();
    });
  }
}
