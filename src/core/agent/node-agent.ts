// The node agent's driver: deterministic core code on the Environment's timers (the shape of
// src/core/replica/membership-agent.ts). It feeds the reconciler (reconciler.ts) and carries out
// its effects:
//   - wakes at the reconciler's next deadline (a heartbeat every renewIntervalUs, fencing at
//     fenceAtUs, a restart's backoff, a health probe) and at least every reconcileIntervalUs,
//     each time with a fresh local read of the node's slice (readState(); may be stale);
//   - passes every backend report and proposal outcome in as it arrives;
//   - proposes through the injected submit(envelope, done), stamping each command with the wall
//     clock (for people only) and a request id unique to this incarnation (a random tag drawn
//     from env.random at construction, and a counter), so a retried command is never confused
//     with another incarnation's;
//   - calls the backend's operations.
// stop() cancels its timer and ignores whatever arrives later: a process crash needs nothing more
// (the VMs and the guard live on in the backend; the next incarnation adopts them).

import { assert, unreachable } from "../assert.ts";
import { CLUSTER_LIMITS, type ClusterView, type NodeId, type VmRecord } from "../cluster/types.ts";
import type { Environment, TimerHandle } from "../env/environment.ts";
import { Reconciler, type AgentClock, type AgentEffect, type AgentInput, type NodeSlice, type ReconcilerOptions } from "./reconciler.ts";
import type { SubmitCommand } from "./submit-outcome.ts";
import type { VmBackend } from "./vm-backend.ts";

export interface NodeAgentOptions {
  readonly reconciler: ReconcilerOptions;
  /** The longest the agent sleeps between reconciliation passes. */
  readonly reconcileIntervalUs: number;
}

export const defaultReconcileIntervalUs = 250_000;

/** Bytes of the random per-incarnation tag in request ids: two draws of 30 bits. */
const REQUEST_TAG_DRAW_BOUND = 1 << 30;

export class NodeAgent {
  readonly reconciler: Reconciler;
  private readonly requestTag: string;
  private requestCounter = 0;
  private loggedRefusal = "";
  private timer: TimerHandle | undefined;
  private timerAtUs = 0;
  private started = false;
  private stopped = false;

  constructor(
    private readonly env: Environment,
    private readonly backend: VmBackend,
    private readonly submit: SubmitCommand,
    private readonly readState: () => ClusterView,
    private readonly options: NodeAgentOptions,
  ) {
    assert(options.reconciler.registration.id === env.nodeId, "an agent registers its own node");
    assert(Number.isSafeInteger(options.reconcileIntervalUs) && options.reconcileIntervalUs > 0, "reconcile interval must be a positive integer");
    this.reconciler = new Reconciler(options.reconciler);
    this.requestTag = `${env.random.intBelow(REQUEST_TAG_DRAW_BOUND).toString(36)}${env.random.intBelow(REQUEST_TAG_DRAW_BOUND).toString(36)}`;
  }

  get nodeId(): NodeId {
    return this.env.nodeId;
  }

  start(): void {
    assert(!this.started && !this.stopped, "node agent started twice");
    this.started = true;
    this.backend.subscribe((report) => {
      // docs/FAILPOINTS.md, agent.backend.after: the report is lost before the agent reads it.
      if (this.env.failpoint("agent.backend.after") !== undefined) return;
      this.input({ kind: "report", report });
    });
    this.input({ kind: "state", slice: this.readSlice() });
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.env.timers.cancel(this.timer);
    this.timer = undefined;
  }

  /**
   * The cluster state changed: look at it within this turn of the event loop instead of at the next
   * scheduled pass (a new assignment starts at once). Safe inside apply: it only moves the timer.
   */
  wake(): void {
    if (!this.started || this.stopped) return;
    const nowUs = this.env.monotonic.nowUs();
    if (this.timer !== undefined && this.timerAtUs <= nowUs) return;
    if (this.timer !== undefined) this.env.timers.cancel(this.timer);
    this.timerAtUs = nowUs;
    this.timer = this.env.timers.after(0, this.onTimer);
    assert(this.timer !== undefined && this.timerAtUs === nowUs, "a woken agent runs next");
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    if (this.stopped) return;
    this.input({ kind: "state", slice: this.readSlice() });
  };

  private input(input: AgentInput): void {
    if (this.stopped) return;
    const clock = this.readClock();
    const fencesBefore = this.reconciler.stats.fences;
    const downsBefore = this.reconciler.stats.downs;
    const effects = this.reconciler.step(clock, input);
    if (this.reconciler.stats.fences > fencesBefore) this.env.reached("agent/lease-expired-self-fence");
    if (this.reconciler.stats.downs > downsBefore) this.env.reached("agent/learned-declared-down");
    if (this.reconciler.registerRefusal !== this.loggedRefusal) {
      this.loggedRefusal = this.reconciler.registerRefusal;
      this.env.log.error({ nodeId: this.env.nodeId, refusal: this.loggedRefusal }, "the cluster refuses this node's registration; it runs no VMs until that changes");
    }
    for (const effect of effects) this.carryOut(effect);
    this.schedule(clock);
  }

  private carryOut(effect: AgentEffect): void {
    switch (effect.kind) {
      case "propose": {
        const proposal = effect.proposal;
        const envelope = { stampUs: this.readClock().wallUs, requestId: this.nextRequestId(), body: effect.body };
        this.submit(envelope, (outcome) => {
          if (this.stopped) return;
          // A fresh read with the outcome: the applied state after our command, as far as this replica knows.
          this.input({ kind: "outcome", proposal, outcome });
          this.input({ kind: "state", slice: this.readSlice() });
        });
        return;
      }
      case "backend": {
        const call = effect.call;
        // docs/FAILPOINTS.md, agent.backend: the call is lost; the reconciler sees no report and tries again.
        if (this.env.failpoint("agent.backend") !== undefined) return;
        switch (call.op) {
          case "create":
            return this.backend.create(call.instance);
          case "start":
            return this.backend.start(call.vmId, call.token);
          case "stop":
            return this.backend.stop(call.vmId, call.graceMs);
          case "kill":
            return this.backend.kill(call.vmId);
          case "delete":
            return this.backend.delete(call.vmId);
          case "list":
            return this.backend.list();
          case "arm-fence":
            return this.backend.armFence(call.deadlineUs);
          case "probe":
            return this.backend.probe(call.vmId, call.probe);
          default:
            return unreachable(call, "backend call");
        }
      }
      default:
        return unreachable(effect, "agent effect");
    }
  }

  /** One timer, at the reconciler's next wake-up or the reconcile interval, whichever is sooner. */
  private schedule(clock: AgentClock): void {
    if (this.stopped) return;
    const wakeUs = Math.min(this.reconciler.nextWakeUs(clock), clock.monotonicUs + this.options.reconcileIntervalUs);
    if (this.timer !== undefined && this.timerAtUs <= wakeUs) return;
    if (this.timer !== undefined) this.env.timers.cancel(this.timer);
    this.timerAtUs = wakeUs;
    this.timer = this.env.timers.after((wakeUs - clock.monotonicUs) / 1000, this.onTimer);
  }

  private readClock(): AgentClock {
    return { monotonicUs: this.env.monotonic.nowUs(), wallUs: Math.floor(this.env.wall.nowMs() * 1000) };
  }

  private readSlice(): NodeSlice {
    const view = this.readState();
    const nodeId = this.env.nodeId;
    const vms: VmRecord[] = [];
    const vmsMax = this.options.reconciler.vmsMax;
    for (const vm of view.vmsOnNode(nodeId)) {
      if (vms.length >= vmsMax) {
        this.env.log.warn({ nodeId, vmsMax }, "more VMs assigned to this node than the agent tracks; the rest wait");
        break;
      }
      vms.push(vm);
    }
    return { appliedIndex: view.appliedIndex, node: view.node(nodeId), vms };
  }

  private nextRequestId(): string {
    this.requestCounter += 1;
    const requestId = `agent-${this.env.nodeId}-${this.requestTag}-${this.requestCounter}`;
    assert(requestId.length <= CLUSTER_LIMITS.requestIdBytesMax, "a request id fits CLUSTER_LIMITS.requestIdBytesMax");
    return requestId;
  }
}
