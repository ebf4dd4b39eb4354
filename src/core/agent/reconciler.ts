// The node agent's brain: a pure, deterministic state machine (like the Raft core). One door,
// step(clock, input), takes what happened (a tick, a fresh local read of the node's slice of the
// replicated state, a backend report, the outcome of a proposal) and returns the effects to carry
// out (backend calls, commands to propose). The driver (node-agent.ts) and the tests carry them
// out; nothing here reads a clock, arms a timer or draws randomness.
//
// The lease (docs/FENCING.md). Phases:
//   adopting   a new incarnation lists its backend first: it adopts the instances it finds and
//              the guard's armed deadline (its predecessor's lease, which it honours) and starts
//              or stops nothing until it knows them;
//   joining    it registers (no record, or a record that says down), or takes the epoch of the
//              record it finds (a process restart) and renews it with a heartbeat; until a
//              command applied under the epoch confirms it, it acts on nothing but fencing;
//   member     it renews every renewIntervalUs; a renewal whose outcome is applied-ok moves the
//              deadline to agentLeaseDeadlineUs(s), s read before the submit; the guard is armed
//              with it. From fenceAtUs on it kills every VM and starts none until renewed;
//   down       it learned it was declared down (a stale-epoch answer, a record with a newer epoch
//              or state down): it kills every VM, arms the guard at "now", waits until the
//              backend's list shows every VM dead, deletes the old instances and joins again
//              (registering: a new epoch).
//
// The VMs. Each tick, for every VM it knows (assigned here by the slice, or held by the backend),
// ascending id:
//   wanted = assigned here, desired running, phase scheduled/starting/running, token of this
//            node's current (confirmed) epoch;
//   wanted: create if the backend lacks it; start the record's token when the lease leaves
//            startBoundUs before fencing and the restart backoff allows; probe its health while
//            it runs; kill it when it boots longer than startBoundUs or fails failuresMax probes;
//   not wanted: stop (grace stopGraceMs; killed when still stopping after stopBoundUs), and
//            delete it once stopped when it is no longer assigned here (or is being deleted).
// Restarts follow the VM's policy with restart-backoff.ts. A VM the agent fenced or stopped
// itself is started again without backoff when wanted (its exit was not the VM's failure).
// Observed states go back in vm-observed commands: changed phases only, at most
// CLUSTER_LIMITS.reportsPerCommandMax per command, one command in flight, resent after
// reportResendUs while the slice still shows the old phase.
//
// Bounds: VMs tracked (vmsMax), proposals in flight (one lease command, one report), one
// pending backend operation per VM (expired after opTimeoutUs: the agent lists again).

import { assert, unreachable } from "../assert.ts";
import { CLUSTER_LIMITS, type ClusterCommand, type FencingToken, type NodeRecord, type NodeRegistration, type ObservedPhase, type VmId, type VmRecord, type VmReport } from "../cluster/types.ts";
import { agentLeaseDeadlineUs, validateLeaseTiming, type LeaseTiming } from "./lease-timing.ts";
import { defaultRestartBackoff, restartDelayUs, validateRestartBackoff, type RestartBackoff } from "./restart-backoff.ts";
import type { SubmitOutcome } from "./submit-outcome.ts";
import type { BackendReport, HealthProbe, InstanceStatus, VmInstanceSpec } from "./vm-backend.ts";

/** Harness-only bugs (docs/PLANTED-BUGS.md); never set in production. */
export type AgentPlantedBug = "lease-on-wall-clock" | "no-self-fence" | "stop-not-honoured";

export interface ReconcilerOptions {
  readonly registration: NodeRegistration;
  readonly timing: LeaseTiming;
  readonly backoff: RestartBackoff;
  /** Grace of a graceful stop; below stopBoundUs, so a kill after it still fits. */
  readonly stopGraceMs: number;
  readonly reportResendUs: number;
  /** After a report that was not applied: how long before it is sent again (below reportResendUs). */
  readonly reportRetryUs: number;
  /** Probe interval of health checks that name none (kind "process", "console"). */
  readonly probeIntervalUs: number;
  readonly registerRetryUs: number;
  /** A backend operation with no report after this is forgotten and the backend listed again. */
  readonly opTimeoutUs: number;
  readonly vmsMax: number;
  readonly plantedBugs: readonly AgentPlantedBug[];
}

export function defaultReconcilerOptions(registration: NodeRegistration, timing: LeaseTiming): ReconcilerOptions {
  return {
    registration,
    timing,
    backoff: defaultRestartBackoff,
    stopGraceMs: Math.floor(timing.stopBoundUs / 2_000),
    reportResendUs: 1_000_000,
    reportRetryUs: 100_000,
    probeIntervalUs: 1_000_000,
    registerRetryUs: 500_000,
    opTimeoutUs: Math.max(timing.startBoundUs, timing.stopBoundUs) * 2,
    vmsMax: 4_096,
    plantedBugs: [],
  };
}

/** Both clock readings at one instant; the lease is measured on the monotonic one (the wall one only under a planted bug). */
export interface AgentClock {
  readonly monotonicUs: number;
  readonly wallUs: number;
}

/** The node's share of a local applied read (may be stale: fencing makes that safe). */
export interface NodeSlice {
  readonly appliedIndex: number;
  readonly node: NodeRecord | undefined;
  /** The VMs assigned to this node, ascending id. */
  readonly vms: readonly VmRecord[];
}

export type AgentInput =
  | { readonly kind: "tick" }
  | { readonly kind: "state"; readonly slice: NodeSlice }
  | { readonly kind: "report"; readonly report: BackendReport }
  | { readonly kind: "outcome"; readonly proposal: number; readonly outcome: SubmitOutcome };

export type BackendCall =
  | { readonly op: "create"; readonly instance: VmInstanceSpec }
  | { readonly op: "start"; readonly vmId: VmId; readonly token: FencingToken }
  | { readonly op: "stop"; readonly vmId: VmId; readonly graceMs: number }
  | { readonly op: "kill"; readonly vmId: VmId }
  | { readonly op: "delete"; readonly vmId: VmId }
  | { readonly op: "list" }
  | { readonly op: "arm-fence"; readonly deadlineUs: number }
  | { readonly op: "probe"; readonly vmId: VmId; readonly probe: HealthProbe };

export type AgentEffect =
  | { readonly kind: "backend"; readonly call: BackendCall }
  /** Propose `body`; feed the outcome back as { kind: "outcome", proposal }. */
  | { readonly kind: "propose"; readonly proposal: number; readonly body: ClusterCommand };

export type LeasePhase = "adopting" | "joining" | "member" | "down";

type KillReason = "unwanted" | "fence" | "down" | "unhealthy" | "boot-timeout" | "old-placement";

interface LocalVm {
  readonly vmId: VmId;
  instance: InstanceStatus | undefined;
  /** An operation issued and not yet answered, and when (monotonic). */
  pending: { readonly op: BackendCall["op"]; readonly sinceUs: number } | undefined;
  /** The placement the restart and health state below is about. */
  placement: number;
  failures: number;
  restartAtUs: number;
  gaveUp: boolean;
  startedAtUs: number;
  stopSinceUs: number;
  runningSinceUs: number;
  killReason: KillReason | undefined;
  unhealthy: boolean;
  probeFailures: number;
  nextProbeUs: number;
  probeInFlight: boolean;
  consoleSeen: boolean;
  lastSent: { readonly placement: number; readonly phase: ObservedPhase; readonly atUs: number } | undefined;
}

type ProposalPurpose = "register" | "heartbeat" | "report";

interface InFlight {
  readonly purpose: ProposalPurpose;
  /** Lease-clock reading taken before the submit (heartbeat, register). */
  readonly submittedLeaseUs: number;
  readonly epoch: number;
  /** report: the VMs and phases it carries. */
  readonly reports: readonly VmReport[];
}

export interface ReconcilerStats {
  registrations: number;
  heartbeats: number;
  renewals: number;
  starts: number;
  restarts: number;
  fences: number;
  downs: number;
  reportsSent: number;
}

const NEVER_US = Number.MAX_SAFE_INTEGER;

export class Reconciler {
  /** Why the last registration was refused ("" when none was): the driver logs it. */
  registerRefusal = "";
  readonly stats: ReconcilerStats = { registrations: 0, heartbeats: 0, renewals: 0, starts: 0, restarts: 0, fences: 0, downs: 0, reportsSent: 0 };
  private phaseNow: LeasePhase = "adopting";
  private listRequested = false;
  private listAskedAtUs = 0;
  /** This node's epoch (0: unknown), and whether a command applied under it confirmed it in this incarnation. */
  private epochNow = 0;
  private epochConfirmed = false;
  /** The applied index from which the slice may be trusted about this epoch (its registration or confirmation). */
  private epochSinceIndex = 0;
  /** The lease's end on the lease clock (agentLeaseDeadlineUs of the newest applied renewal), undefined when none. */
  private deadlineUs: number | undefined = undefined;
  private armedGuardUs: number | undefined = undefined;
  private lastHeartbeatLeaseUs = -NEVER_US;
  private joinNotBeforeUs = 0;
  /** After a down, join only by registering (the slice may still show the old epoch as live). */
  private mustRegister = false;
  private slice: NodeSlice = { appliedIndex: 0, node: undefined, vms: [] };
  private readonly vms = new Map<VmId, LocalVm>();
  private sortedCache: LocalVm[] | undefined = undefined;
  private wasFencing = false;
  /** Why the agent last learned it was down (status, tests). */
  lastDownReason = "";
  private readonly inFlight = new Map<number, InFlight>();
  private nextProposal = 1;
  private lastMonotonicUs = -NEVER_US;
  private effects: AgentEffect[] = [];
  private clock: AgentClock = { monotonicUs: 0, wallUs: 0 };

  constructor(private readonly options: ReconcilerOptions) {
    validateLeaseTiming(options.timing);
    validateRestartBackoff(options.backoff);
    assert(options.stopGraceMs * 1000 < options.timing.stopBoundUs, "a graceful stop's grace must leave room for a kill within the stop bound");
    assert(options.vmsMax > 0 && options.reportResendUs > 0 && options.reportRetryUs > 0 && options.reportRetryUs <= options.reportResendUs && options.probeIntervalUs > 0 && options.registerRetryUs > 0 && options.opTimeoutUs > 0, "agent bounds and intervals must be positive");
  }

  get phase(): LeasePhase {
    return this.phaseNow;
  }

  get epoch(): number {
    return this.epochNow;
  }

  /** The lease's deadline on the monotonic clock, or undefined without a lease. */
  leaseDeadlineMonotonicUs(clock: AgentClock): number | undefined {
    return this.deadlineUs === undefined ? undefined : clock.monotonicUs + (this.deadlineUs - this.leaseNowUs(clock));
  }

  /** When the driver should call step with a tick next (monotonic), at the latest: the next heartbeat, fence or restart. */
  nextWakeUs(clock: AgentClock): number {
    let wakeUs = NEVER_US;
    const toMonotonic = (leaseUs: number): number => clock.monotonicUs + (leaseUs - this.leaseNowUs(clock));
    // Only deadlines still ahead: one already due was acted on by the step that just ran (or waits on an answer in flight).
    if (this.phaseNow === "member" && !this.hasInFlight("heartbeat")) {
      const heartbeatUs = toMonotonic(this.lastHeartbeatLeaseUs + this.options.timing.renewIntervalUs);
      if (heartbeatUs > clock.monotonicUs) wakeUs = Math.min(wakeUs, heartbeatUs);
    }
    if (this.phaseNow === "joining" && this.joinNotBeforeUs > clock.monotonicUs) wakeUs = Math.min(wakeUs, this.joinNotBeforeUs);
    if (this.deadlineUs !== undefined) {
      const fenceLeaseUs = this.deadlineUs - this.options.timing.stopBoundUs;
      if (fenceLeaseUs > this.leaseNowUs(clock)) wakeUs = Math.min(wakeUs, toMonotonic(fenceLeaseUs));
    }
    for (const vm of this.vms.values()) {
      if (vm.restartAtUs > clock.monotonicUs) wakeUs = Math.min(wakeUs, vm.restartAtUs);
      if (vm.nextProbeUs > clock.monotonicUs && vm.nextProbeUs !== NEVER_US) wakeUs = Math.min(wakeUs, vm.nextProbeUs);
    }
    return Math.max(wakeUs, clock.monotonicUs);
  }

  /** What the agent holds about one VM (tests, status). */
  local(vmId: VmId): Readonly<LocalVm> | undefined {
    return this.vms.get(vmId);
  }

  step(clock: AgentClock, input: AgentInput): readonly AgentEffect[] {
    assert(Number.isSafeInteger(clock.monotonicUs) && Number.isSafeInteger(clock.wallUs), "clock readings are integers of microseconds");
    assert(clock.monotonicUs >= this.lastMonotonicUs, "the monotonic clock went back");
    this.lastMonotonicUs = clock.monotonicUs;
    this.clock = clock;
    this.effects = [];
    switch (input.kind) {
      case "tick":
        break;
      case "state":
        this.onSlice(input.slice);
        break;
      case "report":
        this.onReport(input.report);
        break;
      case "outcome":
        this.onOutcome(input.proposal, input.outcome);
        break;
      default:
        unreachable(input, "agent input");
    }
    this.reconcile();
    const effects = this.effects;
    this.effects = [];
    // Postcondition: bounded output (two backend calls per VM, the lease commands, a report).
    assert(effects.length <= 2 * this.options.vmsMax + 8, () => `agent step produced ${effects.length} effects`);
    return effects;
  }

  // ----- inputs

  private onSlice(slice: NodeSlice): void {
    assert(slice.appliedIndex >= 0, "an applied index is non-negative");
    if (slice.appliedIndex < this.slice.appliedIndex) return; // an older read than one already seen
    for (let i = 1; i < slice.vms.length; i++) assert(slice.vms[i - 1]!.id < slice.vms[i]!.id, "the slice's VMs are in ascending id order");
    this.slice = slice;
    const node = slice.node;
    if (this.phaseNow !== "member" || this.epochNow === 0 || node === undefined) return;
    // Declared down after we knew our epoch live, or a newer epoch than ours exists: our placements are void.
    const newerEpoch = node.lease.epoch > this.epochNow;
    const downNow = node.state === "down" && node.lease.epoch === this.epochNow && slice.appliedIndex >= this.epochSinceIndex && this.epochConfirmed;
    if (newerEpoch || downNow) this.enterDown(newerEpoch ? `the record shows epoch ${node.lease.epoch}` : "the record says down");
  }

  private onReport(report: BackendReport): void {
    switch (report.kind) {
      case "listed":
        return this.onListed(report.instances, report.fenceDeadlineUs);
      case "created": {
        const vm = this.vms.get(report.vmId);
        if (vm === undefined) return;
        vm.pending = undefined;
        if (vm.instance === undefined) vm.instance = { vmId: report.vmId, state: "created", token: undefined, exit: "none" };
        return;
      }
      case "create-failed": {
        const vm = this.vms.get(report.vmId);
        if (vm === undefined) return;
        vm.pending = undefined;
        this.countFailure(vm);
        return;
      }
      case "instance":
        return this.onInstance(report.status);
      case "start-refused": {
        const vm = this.vms.get(report.vmId);
        if (vm !== undefined) {
          vm.pending = undefined;
          vm.restartAtUs = this.clock.monotonicUs + this.options.backoff.baseUs;
        }
        // The backend saw a newer epoch of this node than ours: we were declared down and re-registered elsewhere in time.
        if (report.refusal === "stale-epoch" && report.token.epoch === this.epochNow && this.phaseNow === "member") this.enterDown(`backend refused a start: ${report.detail}`);
        if (report.refusal === "not-startable" || report.refusal === "unknown-vm") this.requestList();
        return;
      }
      case "deleted": {
        const vm = this.vms.get(report.vmId);
        if (vm === undefined) return;
        vm.pending = undefined;
        vm.instance = undefined;
        return;
      }
      case "probed":
        return this.onProbe(report.vmId, report.probe, report.ok, report.status);
      case "console":
        return;
      default:
        unreachable(report, "backend report");
    }
  }

  private onListed(instances: readonly InstanceStatus[], fenceDeadlineUs: number): void {
    for (let i = 1; i < instances.length; i++) assert(instances[i - 1]!.vmId < instances[i]!.vmId, "a backend lists in ascending vmId order");
    assert(Number.isSafeInteger(fenceDeadlineUs) && fenceDeadlineUs >= 0, "a fence deadline is a non-negative integer");
    this.listRequested = false;
    const held = new Set<VmId>();
    for (const status of instances) {
      held.add(status.vmId);
      const vm = this.vmFor(status.vmId);
      if (vm === undefined) continue;
      vm.pending = undefined;
      this.applyInstance(vm, status);
    }
    for (const vm of this.vms.values()) {
      if (!held.has(vm.vmId)) {
        vm.instance = undefined;
        vm.pending = undefined;
      }
    }
    if (this.phaseNow === "adopting") {
      // The predecessor's lease, as its guard holds it: honoured (fenced at it) until a renewal of ours replaces it.
      if (fenceDeadlineUs > 0) {
        this.deadlineUs = this.leaseNowUs(this.clock) + (fenceDeadlineUs - this.clock.monotonicUs);
        this.armedGuardUs = fenceDeadlineUs;
      }
      this.phaseNow = "joining";
      return;
    }
    if (this.phaseNow === "down") this.continueDown();
  }

  private onInstance(status: InstanceStatus): void {
    const vm = this.vmFor(status.vmId);
    if (vm === undefined) return;
    vm.pending = undefined;
    this.applyInstance(vm, status);
  }

  /** The backend's word about one instance; a run that ended is judged for the restart policy. */
  private applyInstance(vm: LocalVm, status: InstanceStatus): void {
    assert(status.vmId === vm.vmId, "a status for another VM");
    assert(status.state === "created" || status.token !== undefined, () => `vm ${vm.vmId} is ${status.state} without a token`);
    const wasAlive = vm.instance !== undefined && isAlive(vm.instance);
    vm.instance = status;
    const nowUs = this.clock.monotonicUs;
    if (status.state === "booting" && !wasAlive) vm.startedAtUs = nowUs;
    if (status.state === "stopping") vm.stopSinceUs = Math.min(vm.stopSinceUs, nowUs);
    if (status.state !== "stopping") vm.stopSinceUs = NEVER_US;
    if (status.state === "running" && vm.runningSinceUs === NEVER_US) {
      vm.runningSinceUs = nowUs;
      vm.nextProbeUs = nowUs + this.probeIntervalOf(vm);
    }
    if (!wasAlive || isAlive(status)) return;
    // A run ended.
    const ranUs = vm.runningSinceUs === NEVER_US ? 0 : nowUs - vm.runningSinceUs;
    vm.runningSinceUs = NEVER_US;
    vm.nextProbeUs = NEVER_US;
    vm.probeInFlight = false;
    if (ranUs >= this.options.backoff.stableRunUs) vm.failures = 0;
    const reason = vm.killReason;
    vm.killReason = undefined;
    const failed = status.exit === "crashed" || status.exit === "exited" || reason === "unhealthy" || reason === "boot-timeout";
    if (failed) this.countFailure(vm);
    else vm.restartAtUs = nowUs; // stopped or fenced by us: no backoff
  }

  private countFailure(vm: LocalVm): void {
    vm.failures += 1;
    if (vm.failures > this.options.backoff.restartsMax) {
      vm.gaveUp = true;
      return;
    }
    vm.restartAtUs = this.clock.monotonicUs + restartDelayUs(vm.failures, this.options.backoff);
  }

  private onProbe(vmId: VmId, kind: HealthProbe["kind"], ok: boolean, status: number): void {
    const vm = this.vms.get(vmId);
    if (vm === undefined || vm.instance === undefined || vm.instance.state !== "running") return;
    vm.probeInFlight = false;
    const record = this.recordOf(vmId);
    if (record === undefined) return;
    const check = record.spec.healthCheck;
    if (check.kind !== kind) return; // the spec changed since the probe left
    if (check.kind === "console") {
      if (ok) vm.consoleSeen = true;
      return;
    }
    const healthy = ok && (check.kind !== "http" || status === check.expectStatus);
    vm.probeFailures = healthy ? 0 : vm.probeFailures + 1;
    const failuresMax = check.kind === "process" ? 1 : check.failuresMax;
    if (vm.probeFailures >= failuresMax) this.markUnhealthy(vm);
  }

  private markUnhealthy(vm: LocalVm): void {
    vm.unhealthy = true;
    this.kill(vm, "unhealthy");
  }

  private onOutcome(proposal: number, outcome: SubmitOutcome): void {
    const flight = this.inFlight.get(proposal);
    assert(flight !== undefined, () => `an outcome for proposal ${proposal}, which is not in flight`);
    this.inFlight.delete(proposal);
    const result = outcome.status === "ok" ? outcome.result : undefined;
    switch (flight.purpose) {
      case "register": {
        this.joinNotBeforeUs = this.clock.monotonicUs + (result?.status === "ok" ? 0 : this.options.registerRetryUs);
        // Refused before the log as invalid (node-process.ts writes "reason: detail"): it will be refused again, so say why.
        if (outcome.status === "not-applied" && outcome.detail.startsWith("invalid:")) this.registerRefusal = outcome.detail;
        if (outcome.status !== "ok" || result === undefined || this.phaseNow !== "joining") return;
        if (result.status === "rejected") {
          // already-exists: the node is registered and not down (our read was stale); join by its record once the read catches up.
          if (result.code === "already-exists") this.mustRegister = false;
          // Anything else will be refused again (an invalid registration): say why, for the operator.
          else this.registerRefusal = `${result.code}: ${result.message}`;
          return;
        }
        if (result.detail.kind !== "node") return;
        this.becomeMember(result.detail.node.lease.epoch, outcome.index);
        // A registration renews like a heartbeat, but only one that renewed at its own index: the same
        // registration sent again after its first attempt applied unseen (an unknown outcome) is
        // answered with the record as it is, renewed back then. Dating the lease from this later
        // submit would outlive what the controller counts from (Fenced Before Down, docs/FENCING.md).
        if (result.detail.node.lease.renewedIndex !== outcome.index) return;
        this.lastHeartbeatLeaseUs = flight.submittedLeaseUs;
        this.renew(flight.submittedLeaseUs);
        return;
      }
      case "heartbeat": {
        if (outcome.status !== "ok" || result === undefined || flight.epoch !== this.epochNow || this.phaseNow !== "member") return;
        if (result.status === "ok") {
          this.epochConfirmed = true;
          this.epochSinceIndex = Math.max(this.epochSinceIndex, outcome.index);
          this.renew(flight.submittedLeaseUs);
          return;
        }
        if (result.code === "stale-epoch" || result.code === "not-found") this.enterDown(`heartbeat refused: ${result.code} ${result.message}`);
        return;
      }
      case "report": {
        if (outcome.status === "ok" && result?.status === "rejected" && result.code === "stale-epoch" && flight.epoch === this.epochNow && this.phaseNow === "member") {
          this.enterDown(`report refused: ${result.message}`);
        }
        if (outcome.status !== "ok") {
          for (const report of flight.reports) {
            const vm = this.vms.get(report.vmId);
            // Resend after reportRetryUs, not at once: a refusal known at once (no leader yet) must not make a loop.
            if (vm?.lastSent !== undefined) vm.lastSent = { ...vm.lastSent, atUs: this.clock.monotonicUs - this.options.reportResendUs + this.options.reportRetryUs };
          }
        }
        return;
      }
      default:
        unreachable(flight.purpose, "proposal purpose");
    }
  }

  private becomeMember(epoch: number, sinceIndex: number): void {
    assert(Number.isSafeInteger(epoch) && epoch >= 1, "an epoch is a positive integer");
    this.phaseNow = "member";
    this.epochNow = epoch;
    this.epochConfirmed = true;
    this.epochSinceIndex = sinceIndex;
    this.mustRegister = false;
  }

  /** An applied renewal submitted at `submittedLeaseUs`: the lease never shrinks (renewals may answer out of order). */
  private renew(submittedLeaseUs: number): void {
    this.stats.renewals += 1;
    const deadlineUs = agentLeaseDeadlineUs(submittedLeaseUs, this.options.timing);
    const previousUs = this.deadlineUs;
    if (this.deadlineUs === undefined || deadlineUs > this.deadlineUs) this.deadlineUs = deadlineUs;
    assert(previousUs === undefined || this.deadlineUs >= previousUs, "a renewal never shortens the lease");
    assert(this.phaseNow === "member" && this.epochConfirmed, "only a confirmed member holds a lease");
  }

  private enterDown(why: string): void {
    assert(this.phaseNow === "member", "only a member is declared down");
    this.stats.downs += 1;
    this.phaseNow = "down";
    this.deadlineUs = undefined;
    this.epochConfirmed = false;
    this.mustRegister = true;
    this.lastDownReason = why;
    // The guard kills everything now and refuses starts until the next lease; the agent kills too.
    this.armGuard(this.clock.monotonicUs);
    for (const vm of this.sortedVms()) if (vm.instance !== undefined && isAlive(vm.instance)) this.kill(vm, "down");
  }

  /** Down: once every instance is known dead, list to confirm; once the list shows none alive, delete them and join again. */
  private continueDown(): void {
    const alive = this.sortedVms().filter((vm) => vm.instance !== undefined && isAlive(vm.instance));
    if (alive.length > 0) {
      for (const vm of alive) if (vm.pending === undefined) this.kill(vm, "down");
      return;
    }
    for (const vm of this.sortedVms()) {
      if (vm.instance !== undefined && vm.pending === undefined) this.call(vm, { op: "delete", vmId: vm.vmId });
      resetPlacementState(vm, 0);
    }
    this.phaseNow = "joining";
    this.epochNow = 0;
    this.joinNotBeforeUs = this.clock.monotonicUs;
  }

  // ----- the reconciliation pass

  private reconcile(): void {
    const nowUs = this.clock.monotonicUs;
    this.expirePending(nowUs);
    switch (this.phaseNow) {
      case "adopting":
        // Asked again when the answer is overdue (a backend that lost the request, an incarnation that missed it).
        if (!this.listRequested || nowUs - this.listAskedAtUs > this.options.opTimeoutUs) this.requestList();
        return;
      case "joining":
        // Adopted VMs are left alone while joining (their guard holds them), except for fencing.
        this.fenceIfDue();
        this.join();
        if ((this.phaseNow as LeasePhase) !== "member") return;
        break;
      case "member":
        this.heartbeatIfDue();
        break;
      case "down":
        if (this.sortedVms().every((vm) => vm.instance === undefined || !isAlive(vm.instance)) && !this.listRequested) this.requestList();
        else if (this.listRequested && nowUs - this.listAskedAtUs > this.options.opTimeoutUs) this.requestList();
        return;
      default:
        unreachable(this.phaseNow, "lease phase");
    }
    this.armGuardFromLease();
    this.reconcileVms(nowUs);
    if (this.phaseNow === "member") this.sendReports(nowUs);
  }

  private join(): void {
    const nowUs = this.clock.monotonicUs;
    if (nowUs < this.joinNotBeforeUs || this.hasInFlight("register")) return;
    const node = this.slice.node;
    if (!this.mustRegister && node !== undefined && node.state !== "down") {
      // A restarted process: the record is live at this epoch; a heartbeat will confirm it (or answer stale-epoch).
      this.phaseNow = "member";
      this.epochNow = node.lease.epoch;
      this.epochConfirmed = false;
      this.epochSinceIndex = this.slice.appliedIndex;
      this.heartbeatIfDue();
      return;
    }
    this.stats.registrations += 1;
    this.propose("register", { kind: "node-register", node: this.options.registration }, this.epochNow);
  }

  private heartbeatIfDue(): void {
    const leaseNowUs = this.leaseNowUs(this.clock);
    if (this.hasInFlight("heartbeat")) return;
    if (leaseNowUs < this.lastHeartbeatLeaseUs + this.options.timing.renewIntervalUs) return;
    this.lastHeartbeatLeaseUs = leaseNowUs;
    this.stats.heartbeats += 1;
    this.propose("heartbeat", { kind: "node-heartbeat", nodeId: this.options.registration.id, epoch: this.epochNow }, this.epochNow);
  }

  /** The guard holds the lease's deadline on the host's monotonic clock (re-armed when that changes). */
  private armGuardFromLease(): void {
    if (this.deadlineUs === undefined) return;
    const deadlineMonotonicUs = this.options.plantedBugs.includes("no-self-fence") ? NEVER_US : this.leaseDeadlineMonotonicUs(this.clock)!;
    if (deadlineMonotonicUs !== this.armedGuardUs) this.armGuard(deadlineMonotonicUs);
  }

  private armGuard(deadlineMonotonicUs: number): void {
    this.armedGuardUs = deadlineMonotonicUs;
    this.effects.push({ kind: "backend", call: { op: "arm-fence", deadlineUs: deadlineMonotonicUs } });
  }

  private reconcileVms(nowUs: number): void {
    const nodeId = this.options.registration.id;
    for (const record of this.slice.vms) {
      if (record.nodeId === nodeId) this.vmFor(record.id);
    }
    const fencing = this.fenceIfDue();
    const mayStart = this.phaseNow === "member" && this.epochConfirmed && this.leaseAllowsStart();
    for (const vm of this.sortedVms()) {
      const record = this.recordOf(vm.vmId);
      const wanted = this.isWanted(record);
      if (record !== undefined && record.token.placement !== vm.placement && wanted) resetPlacementState(vm, record.token.placement);
      // Until a command applied under the epoch confirms it (a restarted process joining by its record), act on nothing but fencing:
      // a lagging read might not show VMs that are in fact assigned here.
      if (fencing || vm.pending !== undefined || !this.epochConfirmed) continue;
      if (wanted) this.reconcileWanted(vm, record!, mayStart, nowUs);
      else this.reconcileUnwanted(vm, record, nowUs);
    }
    // Forget VMs that are neither assigned here nor held by the backend (bounded table).
    for (const vm of this.sortedVms()) {
      if (vm.instance === undefined && vm.pending === undefined && this.recordOf(vm.vmId) === undefined) {
        this.vms.delete(vm.vmId);
        this.sortedCache = undefined;
      }
    }
  }

  private reconcileWanted(vm: LocalVm, record: VmRecord, mayStart: boolean, nowUs: number): void {
    const instance = vm.instance;
    if (instance === undefined) {
      this.call(vm, { op: "create", instance: { vmId: record.id, spec: record.spec, addresses: record.addresses } });
      return;
    }
    const instancePlacement = instance.token?.placement ?? 0;
    if (instance.token !== undefined && instancePlacement < record.token.placement) {
      // An instance of an older placement: gone before the new one is created (it may carry an older spec).
      if (isAlive(instance)) this.kill(vm, "old-placement");
      else this.call(vm, { op: "delete", vmId: vm.vmId });
      return;
    }
    switch (instance.state) {
      case "created":
      case "stopped": {
        if (vm.gaveUp || !mayStart || nowUs < vm.restartAtUs) return;
        if (!this.policyRestarts(record, instance)) return;
        if (instance.state === "stopped" && instance.token !== undefined) this.stats.restarts += 1;
        this.stats.starts += 1;
        vm.startedAtUs = nowUs;
        vm.unhealthy = false;
        vm.probeFailures = 0;
        vm.consoleSeen = false;
        this.call(vm, { op: "start", vmId: vm.vmId, token: record.token });
        return;
      }
      case "booting":
        if (nowUs - vm.startedAtUs > this.options.timing.startBoundUs) this.kill(vm, "boot-timeout");
        return;
      case "running":
        return this.checkHealth(vm, record, nowUs);
      case "stopping":
        if (nowUs - vm.stopSinceUs > this.options.timing.stopBoundUs) this.kill(vm, "unwanted");
        return;
      default:
        unreachable(instance.state, "instance state");
    }
  }

  /** From fenceAtUs on (lease deadline - stopBoundUs): kill every VM still alive; true while fencing. */
  private fenceIfDue(): boolean {
    const fencing = this.isFencing();
    if (fencing && !this.wasFencing) this.stats.fences += 1;
    this.wasFencing = fencing;
    if (!fencing) return false;
    for (const vm of this.sortedVms()) {
      if (vm.instance !== undefined && isAlive(vm.instance) && vm.pending?.op !== "kill") this.kill(vm, "fence");
    }
    return true;
  }

  /** Whether a stopped instance is started again: a first start, one we stopped, or a failure the policy restarts. */
  private policyRestarts(record: VmRecord, instance: InstanceStatus): boolean {
    if (instance.state === "created" || instance.token === undefined) return true;
    const vm = this.vms.get(record.id)!;
    const failedRun = instance.exit === "crashed" || instance.exit === "exited" || vm.unhealthy;
    if (!failedRun) return true;
    switch (record.spec.restartPolicy) {
      case "always":
        return true;
      case "on-failure":
        return instance.exit !== "exited" || vm.unhealthy;
      case "never":
        return false;
      default:
        return unreachable(record.spec.restartPolicy, "restart policy");
    }
  }

  private reconcileUnwanted(vm: LocalVm, record: VmRecord | undefined, nowUs: number): void {
    const instance = vm.instance;
    if (instance === undefined) return;
    const assignedHere = record !== undefined && record.nodeId === this.options.registration.id && record.phase !== "deleting";
    switch (instance.state) {
      case "booting":
      case "running":
        vm.stopSinceUs = nowUs;
        this.call(vm, { op: "stop", vmId: vm.vmId, graceMs: this.options.stopGraceMs });
        return;
      case "stopping":
        if (nowUs - vm.stopSinceUs > this.options.timing.stopBoundUs) this.kill(vm, "unwanted");
        return;
      case "created":
      case "stopped":
        if (!assignedHere) this.call(vm, { op: "delete", vmId: vm.vmId });
        return;
      default:
        unreachable(instance.state, "instance state");
    }
  }

  private checkHealth(vm: LocalVm, record: VmRecord, nowUs: number): void {
    const check = record.spec.healthCheck;
    if (check.kind === "none" || vm.unhealthy || nowUs < vm.nextProbeUs) return;
    if (check.kind === "console") {
      if (vm.consoleSeen) return;
      if (nowUs - vm.runningSinceUs > check.withinMs * 1000) return this.markUnhealthy(vm);
    } else if (vm.probeInFlight) {
      // No answer within an interval: a failed probe.
      vm.probeFailures += 1;
      const failuresMax = check.kind === "process" ? 1 : check.failuresMax;
      if (vm.probeFailures >= failuresMax) return this.markUnhealthy(vm);
    }
    vm.nextProbeUs = nowUs + this.probeIntervalOf(vm);
    vm.probeInFlight = true;
    this.effects.push({ kind: "backend", call: { op: "probe", vmId: vm.vmId, probe: probeOf(check) } });
  }

  private probeIntervalOf(vm: LocalVm): number {
    const check = this.recordOf(vm.vmId)?.spec.healthCheck;
    if (check === undefined) return this.options.probeIntervalUs;
    return check.kind === "tcp" || check.kind === "http" ? Math.max(1, check.intervalMs * 1000) : this.options.probeIntervalUs;
  }

  private sendReports(nowUs: number): void {
    if (!this.epochConfirmed || this.hasInFlight("report")) return;
    const reports: VmReport[] = [];
    for (const record of this.slice.vms) {
      if (reports.length >= CLUSTER_LIMITS.reportsPerCommandMax) break;
      if (record.nodeId !== this.options.registration.id || record.token.epoch !== this.epochNow) continue;
      const vm = this.vms.get(record.id);
      // The state waits for this node to say the VM stopped (it is stopping: moved, evicted, desired
      // stopped; or deleting). When nothing of it runs here, say so for its current placement, even
      // if the state already holds a stop of an earlier run: that old report does not end the wait,
      // and no other report would ever come.
      // An instance created but never started (the start was still to come when the stop arrived) runs nothing either.
      if ((record.phase === "stopping" || record.phase === "deleting") && (vm === undefined || (vm.pending === undefined && (vm.instance === undefined || vm.instance.state === "stopped" || vm.instance.state === "created")))) {
        const sent = vm?.lastSent;
        if (sent !== undefined && sent.placement === record.token.placement && sent.phase === "stopped" && nowUs - sent.atUs < this.options.reportResendUs) continue;
        if (vm !== undefined) vm.lastSent = { placement: record.token.placement, phase: "stopped", atUs: nowUs };
        const detail = vm?.instance === undefined ? "not running here" : vm.instance.state === "created" ? "never started" : vm.instance.exit;
        reports.push({ vmId: record.id, placement: record.token.placement, phase: "stopped", detail });
        continue;
      }
      if (vm === undefined || vm.instance === undefined || vm.instance.token === undefined) continue;
      if (vm.instance.token.placement !== record.token.placement) continue;
      const observed = this.observedOf(vm);
      if (observed === undefined) continue;
      if (observed.phase === record.observed.phase) continue;
      const sent = vm.lastSent;
      if (sent !== undefined && sent.placement === record.token.placement && sent.phase === observed.phase && nowUs - sent.atUs < this.options.reportResendUs) continue;
      vm.lastSent = { placement: record.token.placement, phase: observed.phase, atUs: nowUs };
      reports.push({ vmId: record.id, placement: record.token.placement, phase: observed.phase, detail: observed.detail });
    }
    if (reports.length === 0) return;
    assert(reports.length <= CLUSTER_LIMITS.reportsPerCommandMax, "a report batch within the command's limit");
    this.stats.reportsSent += reports.length;
    this.propose("report", { kind: "vm-observed", nodeId: this.options.registration.id, epoch: this.epochNow, reports }, this.epochNow, reports);
  }

  private observedOf(vm: LocalVm): { phase: ObservedPhase; detail: string } | undefined {
    const instance = vm.instance!;
    if (vm.unhealthy) return { phase: "unhealthy", detail: "failed its health check" };
    switch (instance.state) {
      case "created":
        return undefined;
      case "booting":
        return { phase: "starting", detail: "" };
      case "running":
        return { phase: "running", detail: "" };
      case "stopping":
        return undefined;
      case "stopped": {
        const limit = vm.gaveUp ? `; restart limit ${this.options.backoff.restartsMax} reached` : "";
        if (instance.exit === "crashed") return { phase: "crashed", detail: `crashed${limit}` };
        if (instance.exit === "exited") return { phase: "exited", detail: `exited${limit}` };
        return { phase: "stopped", detail: instance.exit };
      }
      default:
        return unreachable(instance.state, "instance state");
    }
  }

  // ----- helpers

  private isWanted(record: VmRecord | undefined): boolean {
    if (record === undefined || this.phaseNow !== "member" || this.epochNow === 0) return false;
    const nodeId = this.options.registration.id;
    // Planted: a VM the user stopped (desired stopped, waiting for this node to stop it) is kept running.
    const stopIgnored = record.desired === "stopped" && record.phase === "stopping" && this.options.plantedBugs.includes("stop-not-honoured");
    return (
      record.nodeId === nodeId &&
      (record.desired === "running" || stopIgnored) &&
      (record.phase === "scheduled" || record.phase === "starting" || record.phase === "running" || stopIgnored) &&
      record.token.nodeId === nodeId &&
      record.token.epoch === this.epochNow
    );
  }

  private isFencing(): boolean {
    if (this.options.plantedBugs.includes("no-self-fence")) return false;
    if (this.deadlineUs === undefined) return false;
    return this.leaseNowUs(this.clock) >= this.deadlineUs - this.options.timing.stopBoundUs;
  }

  private leaseAllowsStart(): boolean {
    if (this.deadlineUs === undefined) return false;
    return this.leaseNowUs(this.clock) + this.options.timing.startBoundUs <= this.deadlineUs - this.options.timing.stopBoundUs;
  }

  private leaseNowUs(clock: AgentClock): number {
    return this.options.plantedBugs.includes("lease-on-wall-clock") ? clock.wallUs : clock.monotonicUs;
  }

  private recordOf(vmId: VmId): VmRecord | undefined {
    // The slice is small (one node's VMs) and sorted: a binary search keeps a tick near-linear.
    const vms = this.slice.vms;
    let low = 0;
    let high = vms.length - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const record = vms[middle]!;
      if (record.id === vmId) return record.nodeId === this.options.registration.id ? record : undefined;
      if (record.id < vmId) low = middle + 1;
      else high = middle - 1;
    }
    return undefined;
  }

  private vmFor(vmId: VmId): LocalVm | undefined {
    const known = this.vms.get(vmId);
    if (known !== undefined) return known;
    if (this.vms.size >= this.options.vmsMax) return undefined; // beyond the bound: ignored (the slice is capped the same way)
    const vm: LocalVm = {
      vmId,
      instance: undefined,
      pending: undefined,
      placement: 0,
      failures: 0,
      restartAtUs: 0,
      gaveUp: false,
      startedAtUs: 0,
      stopSinceUs: NEVER_US,
      runningSinceUs: NEVER_US,
      killReason: undefined,
      unhealthy: false,
      probeFailures: 0,
      nextProbeUs: NEVER_US,
      probeInFlight: false,
      consoleSeen: false,
      lastSent: undefined,
    };
    this.vms.set(vmId, vm);
    this.sortedCache = undefined;
    return vm;
  }

  /** Ascending id; cached until the table changes (a step per report must not sort every time). */
  private sortedVms(): readonly LocalVm[] {
    if (this.sortedCache === undefined) this.sortedCache = [...this.vms.values()].sort((a, b) => a.vmId - b.vmId);
    return this.sortedCache;
  }

  private kill(vm: LocalVm, reason: KillReason): void {
    vm.killReason = reason;
    this.call(vm, { op: "kill", vmId: vm.vmId });
  }

  private call(vm: LocalVm, call: BackendCall): void {
    // One operation per VM at a time; only a kill may overtake one (fencing, health, a down).
    assert(vm.pending === undefined || call.op === "kill", () => `vm ${vm.vmId}: ${call.op} while ${vm.pending?.op} is pending`);
    assert(call.op !== "list" && call.op !== "arm-fence", "node-wide calls are not a VM's");
    vm.pending = { op: call.op, sinceUs: this.clock.monotonicUs };
    this.effects.push({ kind: "backend", call });
  }

  private requestList(): void {
    this.listRequested = true;
    this.listAskedAtUs = this.clock.monotonicUs;
    this.effects.push({ kind: "backend", call: { op: "list" } });
  }

  private expirePending(nowUs: number): void {
    let expired = false;
    for (const vm of this.vms.values()) {
      if (vm.pending !== undefined && nowUs - vm.pending.sinceUs > this.options.opTimeoutUs) {
        vm.pending = undefined;
        expired = true;
      }
    }
    if (expired && !this.listRequested) this.requestList();
  }

  private hasInFlight(purpose: ProposalPurpose): boolean {
    for (const flight of this.inFlight.values()) if (flight.purpose === purpose) return true;
    return false;
  }

  private propose(purpose: ProposalPurpose, body: ClusterCommand, epoch: number, reports: readonly VmReport[] = []): void {
    assert(!this.hasInFlight(purpose), () => `a second ${purpose} in flight`);
    const proposal = this.nextProposal++;
    // The lease clock is read here, before the driver submits: s precedes the submit in true time.
    this.inFlight.set(proposal, { purpose, submittedLeaseUs: this.leaseNowUs(this.clock), epoch, reports });
    this.effects.push({ kind: "propose", proposal, body });
  }
}

function isAlive(status: InstanceStatus): boolean {
  return status.state === "booting" || status.state === "running" || status.state === "stopping";
}

function resetPlacementState(vm: LocalVm, placement: number): void {
  vm.placement = placement;
  vm.failures = 0;
  vm.restartAtUs = 0;
  vm.gaveUp = false;
  vm.unhealthy = false;
  vm.probeFailures = 0;
  vm.lastSent = undefined;
}

function probeOf(check: Exclude<VmRecord["spec"]["healthCheck"], { kind: "none" }>): HealthProbe {
  switch (check.kind) {
    case "process":
      return { kind: "process" };
    case "tcp":
      return { kind: "tcp", port: check.port, timeoutMs: check.timeoutMs };
    case "http":
      return { kind: "http", port: check.port, path: check.path, timeoutMs: check.timeoutMs };
    case "console":
      return { kind: "console", pattern: check.pattern };
    default:
      return unreachable(check, "health check");
  }
}
