// The simulator's VM backend: one SimVmHost per simulated host holds that host's VM instances
// and its fence guard. They are the host's, not the node process's: a process kill leaves them
// running (the next incarnation adopts them with list()), a pause of the process does not stop
// the guard, and a host crash (hostCrashed()) takes everything.
//
// Each incarnation gets its own VmBackend from backendFor(env): its reports travel on that
// incarnation's timers (env.timers.after(0)), so they never run inside the call, wait while the
// process is paused, and die with the process (a report to a dead incarnation is lost; the next
// one lists). VM events (boot done, crash, a graceful stop finishing) and the guard run on the
// world's event queue in true time, whatever the process does: World.pause() holds the node
// process's events only, so it models a pause of the node process (a GC, a SIGSTOP), not of the
// VMs or the guard. These events are not folded into the trace hash; the observer sees each
// state change synchronously (a checker that wants them in the hash can fold them in there).
//
// Faults (all off by default): a started VM crashes with crashPermille within crashWithinUs of
// booting; it hangs with hangPermille (process alive, but TCP/HTTP/console probes fail and it
// ignores a graceful stop). Boot and stop delays are drawn uniformly within their bounds, from the
// host's own "vms-N" stream (not the process's, so VM draws never reshuffle Raft's).
//
// The observer sees every instance's TRUE state change the moment it happens: running = true from
// the accepted start (a booting VM already runs code) until it is dead. The lead's checker holds
// "at most one running instance of each VM at any instant" and "no start with a stale token" on it.
//
// Token memory (the newest placement per VM, the newest epoch per node) survives a host crash: the
// real backend keeps it on disk and syncs it before it accepts a start.

import { assert } from "../assert.ts";
import type { FencingToken, NodeId, VmId } from "../cluster/types.ts";
import type { Environment, Random } from "../env/environment.ts";
import type { BackendReport, BackendReportHandler, HealthProbe, InstanceExit, InstanceState, InstanceStatus, StartRefusal, VmBackend, VmInstanceSpec } from "../agent/vm-backend.ts";
import type { EventQueue } from "./event-queue.ts";
import type { SimClock } from "./sim-clock.ts";

/** Harness-only bugs (docs/PLANTED-BUGS.md); never set in production. */
export type SimVmBackendPlantedBug = "backend-accepts-stale-token";

export interface SimVmHostOptions {
  readonly bootDelayUs: readonly [number, number];
  /** How long a graceful stop takes (killed at the grace period when longer). */
  readonly stopDelayUs: readonly [number, number];
  /** Chance per started VM, per mille, that it crashes within crashWithinUs of booting. */
  readonly crashPermille: number;
  readonly crashWithinUs: number;
  /** Chance per started VM, per mille, that it hangs once booted. */
  readonly hangPermille: number;
  /** Instances held at once (creates beyond it fail). */
  readonly instancesMax: number;
  readonly consoleBytesMax: number;
  readonly plantedBugs: readonly SimVmBackendPlantedBug[];
}

export const defaultSimVmHostOptions: SimVmHostOptions = {
  bootDelayUs: [50_000, 500_000],
  stopDelayUs: [10_000, 200_000],
  crashPermille: 0,
  crashWithinUs: 5_000_000,
  hangPermille: 0,
  instancesMax: 1_024,
  consoleBytesMax: 4_096,
  plantedBugs: [],
};

/** The checker's view: instance (nodeId, vmId) under `token` starts (true) or stops (false) running, now in true time. */
export type InstanceObserver = (nodeId: NodeId, vmId: VmId, token: FencingToken, running: boolean) => void;

/** The console line a booted VM prints (health checks of kind "console" can match it). */
export const SIM_CONSOLE_READY_LINE = "blixard-sim login:";

interface SimInstance {
  readonly vmId: VmId;
  readonly spec: VmInstanceSpec;
  state: InstanceState;
  exit: InstanceExit;
  token: FencingToken | undefined;
  hung: boolean;
  console: string;
  /** Bumped on every state change: a queued VM event for an older run is void. */
  run: number;
}

const PPM = 1_000_000;
/** Deadlines further than this (about 12 days) are never reached in a simulated run. */
const GUARD_HORIZON_US = 1_099_511_627_776; // 2^40

export class SimVmHost {
  private readonly instances = new Map<VmId, SimInstance>();
  private readonly newestPlacementByVm = new Map<VmId, number>();
  private readonly newestEpochByNode = new Map<NodeId, number>();
  /** Starts are refused and every VM is killed at or after this reading of the host's monotonic clock. 0: never armed. */
  private fenceDeadlineUs = 0;
  /** Bumped on every arm and on host crash: a queued guard event of an older arm is void. */
  private fenceArm = 0;
  /** Bumped on host crash: every queued event from before it is void. */
  private hostLife = 0;
  private current: SimVmBackend | undefined;
  readonly stats = { starts: 0, startsRefused: 0, crashes: 0, fenceKills: 0 };

  constructor(
    readonly nodeId: NodeId,
    private readonly queue: EventQueue,
    private readonly clock: SimClock,
    private readonly random: Random,
    private readonly onInstance: InstanceObserver,
    private readonly options: SimVmHostOptions = defaultSimVmHostOptions,
  ) {
    assert(options.bootDelayUs[0] >= 0 && options.bootDelayUs[0] <= options.bootDelayUs[1], "boot delay bounds out of order");
    assert(options.stopDelayUs[0] >= 0 && options.stopDelayUs[0] <= options.stopDelayUs[1], "stop delay bounds out of order");
    assert(options.crashPermille >= 0 && options.crashPermille <= 1000 && options.hangPermille >= 0 && options.hangPermille <= 1000, "fault rates are per mille");
    assert(options.instancesMax > 0 && options.crashWithinUs > 0, "instance bound and crash window must be positive");
  }

  /** The backend for a new incarnation of the node process (the previous one is dead: its reports go nowhere). */
  backendFor(env: Environment): VmBackend {
    assert(env.nodeId === this.nodeId, () => `host ${this.nodeId} gave a backend to node ${env.nodeId}`);
    const backend = new SimVmBackend(this, env, this.options.instancesMax * 8 + 64);
    this.current = backend;
    return backend;
  }

  /** The host lost power: every VM dies at once, the guard with them; queued VM events are void. */
  hostCrashed(): void {
    for (const instance of this.sortedInstances()) {
      if (isAlive(instance.state)) this.onInstance(this.nodeId, instance.vmId, instance.token!, false);
    }
    this.instances.clear();
    this.fenceDeadlineUs = 0;
    this.fenceArm += 1;
    this.hostLife += 1;
    this.current = undefined;
  }

  /** For tests and the checker: what runs here now. */
  status(vmId: VmId): InstanceStatus | undefined {
    const instance = this.instances.get(vmId);
    return instance === undefined ? undefined : statusOf(instance);
  }

  get armedFenceDeadlineUs(): number {
    return this.fenceDeadlineUs;
  }

  runningCount(): number {
    let count = 0;
    for (const instance of this.instances.values()) if (isAlive(instance.state)) count++;
    return count;
  }

  // ----- operations, called by the current incarnation's backend

  create(from: SimVmBackend, instance: VmInstanceSpec): void {
    const existing = this.instances.get(instance.vmId);
    if (existing !== undefined) return from.report({ kind: "created", vmId: instance.vmId }); // idempotent
    if (this.instances.size >= this.options.instancesMax) {
      return from.report({ kind: "create-failed", vmId: instance.vmId, detail: `host holds ${this.options.instancesMax} instances already` });
    }
    this.instances.set(instance.vmId, { vmId: instance.vmId, spec: instance, state: "created", exit: "none", token: undefined, hung: false, console: "", run: 0 });
    from.report({ kind: "created", vmId: instance.vmId });
  }

  start(from: SimVmBackend, vmId: VmId, token: FencingToken): void {
    const instance = this.instances.get(vmId);
    const refuse = (refusal: StartRefusal, detail: string): void => {
      this.stats.startsRefused += 1;
      from.report({ kind: "start-refused", vmId, token, refusal, detail });
    };
    if (instance === undefined) return refuse("unknown-vm", `no instance of vm ${vmId}`);
    if (instance.state !== "created" && instance.state !== "stopped") return refuse("not-startable", `vm ${vmId} is ${instance.state}`);
    if (token.nodeId !== this.nodeId) return refuse("stale-epoch", `token for node ${token.nodeId} on host ${this.nodeId}`);
    const newestPlacement = this.newestPlacementByVm.get(vmId) ?? 0;
    const newestEpoch = this.newestEpochByNode.get(token.nodeId) ?? 0;
    if (!this.options.plantedBugs.includes("backend-accepts-stale-token")) {
      if (token.placement < newestPlacement) return refuse("stale-placement", `placement ${token.placement} < newest seen ${newestPlacement}`);
      if (token.epoch < newestEpoch) return refuse("stale-epoch", `epoch ${token.epoch} < newest seen ${newestEpoch}`);
    }
    const nowUs = this.clock.nowUs();
    if (nowUs >= this.fenceDeadlineUs) return refuse("fence-expired", `fence deadline ${this.fenceDeadlineUs} us passed (now ${nowUs} us)`);
    if (token.placement > newestPlacement) this.newestPlacementByVm.set(vmId, token.placement);
    if (token.epoch > newestEpoch) this.newestEpochByNode.set(token.nodeId, token.epoch);
    this.stats.starts += 1;
    instance.token = token;
    instance.hung = this.random.intBelow(1000) < this.options.hangPermille;
    instance.console = "";
    this.setState(instance, "booting", "none");
    this.appendConsole(instance, "booting\n");
    const run = instance.run;
    const bootUs = this.draw(this.options.bootDelayUs);
    const crashes = this.random.intBelow(1000) < this.options.crashPermille;
    const crashAfterUs = crashes ? this.random.intBelow(this.options.crashWithinUs) + 1 : 0;
    this.onQueue(bootUs, () => {
      if (instance.run !== run) return;
      this.setState(instance, "running", "none");
      if (!instance.hung) this.appendConsole(instance, `${SIM_CONSOLE_READY_LINE}\n`);
      const runningRun = instance.run;
      if (crashes) {
        this.onQueue(crashAfterUs, () => {
          if (instance.run !== runningRun) return;
          this.stats.crashes += 1;
          this.setState(instance, "stopped", "crashed");
        });
      }
    });
  }

  stop(from: SimVmBackend, vmId: VmId, graceMs: number): void {
    assert(Number.isSafeInteger(graceMs) && graceMs >= 0, "a grace period is a non-negative integer of milliseconds");
    const instance = this.instances.get(vmId);
    if (instance === undefined) return;
    if (instance.state === "created" || instance.state === "stopped") return from.reportStatus(statusOf(instance)); // already down: say so
    if (instance.state !== "stopping") this.setState(instance, "stopping", "none");
    const run = instance.run;
    const graceUs = graceMs * 1000;
    const stopUs = this.draw(this.options.stopDelayUs);
    if (!instance.hung && stopUs <= graceUs) {
      this.onQueue(stopUs, () => {
        if (instance.run === run) this.setState(instance, "stopped", "stopped");
      });
    } else {
      this.onQueue(graceUs, () => {
        if (instance.run === run) this.setState(instance, "stopped", "killed");
      });
    }
  }

  kill(from: SimVmBackend, vmId: VmId): void {
    const instance = this.instances.get(vmId);
    if (instance === undefined) return;
    if (!isAlive(instance.state)) return from.reportStatus(statusOf(instance));
    this.setState(instance, "stopped", "killed");
  }

  delete(from: SimVmBackend, vmId: VmId): void {
    const instance = this.instances.get(vmId);
    if (instance === undefined) return from.report({ kind: "deleted", vmId });
    if (isAlive(instance.state)) this.setState(instance, "stopped", "killed");
    instance.run += 1;
    this.instances.delete(vmId);
    from.report({ kind: "deleted", vmId });
  }

  list(from: SimVmBackend): void {
    from.report({ kind: "listed", instances: this.sortedInstances().map(statusOf), fenceDeadlineUs: this.fenceDeadlineUs });
  }

  consoleTail(from: SimVmBackend, vmId: VmId, bytesMax: number): void {
    assert(Number.isSafeInteger(bytesMax) && bytesMax > 0, "console tail size must be positive");
    const instance = this.instances.get(vmId);
    const text = instance === undefined ? "" : instance.console.slice(Math.max(0, instance.console.length - bytesMax));
    from.report({ kind: "console", vmId, text });
  }

  probe(from: SimVmBackend, vmId: VmId, probe: HealthProbe): void {
    const instance = this.instances.get(vmId);
    const alive = instance !== undefined && isAlive(instance.state);
    const up = instance !== undefined && instance.state === "running" && !instance.hung;
    switch (probe.kind) {
      case "process":
        return from.report({ kind: "probed", vmId, probe: probe.kind, ok: alive, status: 0, detail: alive ? "process alive" : "no process" });
      case "tcp":
        return from.report({ kind: "probed", vmId, probe: probe.kind, ok: up, status: 0, detail: up ? `port ${probe.port} accepts` : `port ${probe.port} refused or timed out` });
      case "http":
        return from.report({ kind: "probed", vmId, probe: probe.kind, ok: up, status: up ? 200 : 0, detail: up ? `GET ${probe.path}: 200` : `GET ${probe.path}: no answer` });
      case "console": {
        const matched = instance !== undefined && alive && instance.console.includes(probe.pattern);
        return from.report({ kind: "probed", vmId, probe: probe.kind, ok: matched, status: 0, detail: matched ? "pattern seen" : "pattern not seen" });
      }
    }
  }

  armFence(deadlineUs: number): void {
    assert(Number.isSafeInteger(deadlineUs) && deadlineUs >= 0, "a fence deadline is a non-negative integer of microseconds");
    this.fenceDeadlineUs = deadlineUs;
    this.fenceArm += 1;
    const arm = this.fenceArm;
    const nowUs = this.clock.nowUs();
    if (nowUs >= deadlineUs) return this.fenceKillAll();
    // Beyond the horizon (a disarmed guard: the planted bug no-self-fence): no event, whose time would lose precision.
    if (deadlineUs - nowUs > GUARD_HORIZON_US) return;
    const atTrueUs = this.trueTimeReaching(deadlineUs);
    const life = this.hostLife;
    this.queue.at(atTrueUs, () => {
      if (this.hostLife !== life || this.fenceArm !== arm) return;
      assert(this.clock.nowUs() >= deadlineUs, "the guard fired before its deadline");
      this.fenceKillAll();
    });
  }

  // ----- internals

  private fenceKillAll(): void {
    for (const instance of this.sortedInstances()) {
      if (!isAlive(instance.state)) continue;
      this.stats.fenceKills += 1;
      this.setState(instance, "stopped", "fenced");
    }
  }

  private setState(instance: SimInstance, state: InstanceState, exit: InstanceExit): void {
    const wasAlive = isAlive(instance.state);
    instance.state = state;
    instance.exit = exit;
    instance.run += 1;
    const alive = isAlive(state);
    assert(instance.token !== undefined || !alive, "a running instance has a token");
    if (wasAlive !== alive) this.onInstance(this.nodeId, instance.vmId, instance.token!, alive);
    this.current?.reportStatus(statusOf(instance));
  }

  private appendConsole(instance: SimInstance, text: string): void {
    instance.console += text;
    const excess = instance.console.length - this.options.consoleBytesMax;
    if (excess > 0) instance.console = instance.console.slice(excess);
  }

  private onQueue(delayUs: number, action: () => void): void {
    const life = this.hostLife;
    this.queue.at(this.queue.timeUs + delayUs, () => {
      if (this.hostLife === life) action();
    });
  }

  private draw(bounds: readonly [number, number]): number {
    return bounds[0] + this.random.intBelow(bounds[1] - bounds[0] + 1);
  }

  private sortedInstances(): SimInstance[] {
    return [...this.instances.values()].sort((a, b) => a.vmId - b.vmId);
  }

  /**
   * The first true time (>= now) at which the host's monotonic clock reads at least `deadlineUs`.
   * The reading at true time t is t + floor(t * drift / 1e6) (SimClock.nowUs; the guard's event
   * asserts it when it fires), so an estimate is corrected by a few exact steps.
   */
  private trueTimeReaching(deadlineUs: number): number {
    const drift = this.clock.driftPpm;
    const readingAt = (trueUs: number): number => trueUs + Math.floor((trueUs * drift) / PPM);
    const nowTrueUs = this.queue.timeUs;
    // From now, so that the products stay far below 2^53 (the deadline is within the horizon).
    let t = nowTrueUs + Math.floor(((deadlineUs - readingAt(nowTrueUs)) * PPM) / (PPM + drift));
    for (let steps = 0; readingAt(t) < deadlineUs; steps++) {
      assert(steps < 16, "guard time estimate off by more than 16 us");
      t += 1;
    }
    for (let steps = 0; t > nowTrueUs && readingAt(t - 1) >= deadlineUs; steps++) {
      assert(steps < 16, "guard time estimate off by more than 16 us");
      t -= 1;
    }
    return t;
  }
}

/** One incarnation's handle on its host's VMs: calls go to the host, reports come back on this incarnation's timers. */
class SimVmBackend implements VmBackend {
  private handler: BackendReportHandler | undefined;
  private queued: BackendReport[] = [];

  constructor(
    private readonly host: SimVmHost,
    private readonly env: Environment,
    private readonly queuedMax: number,
  ) {}

  subscribe(handler: BackendReportHandler): void {
    assert(this.handler === undefined, "a backend has one subscriber");
    this.handler = handler;
  }

  create(instance: VmInstanceSpec): void {
    this.host.create(this, instance);
  }
  start(vmId: VmId, token: FencingToken): void {
    // docs/FAILPOINTS.md, vm.start: the start fails before the VM launches (the shell backend's point, here too).
    const failed = this.env.failpoint("vm.start");
    if (failed !== undefined) return this.report({ kind: "start-refused", vmId, token, refusal: "not-startable", detail: `injected by failpoint vm.start (${failed.kind})` });
    this.host.start(this, vmId, token);
  }
  stop(vmId: VmId, graceMs: number): void {
    // docs/FAILPOINTS.md, vm.stop: the stop request is lost; the VM keeps running.
    if (this.env.failpoint("vm.stop") !== undefined) return;
    this.host.stop(this, vmId, graceMs);
  }
  kill(vmId: VmId): void {
    this.host.kill(this, vmId);
  }
  delete(vmId: VmId): void {
    this.host.delete(this, vmId);
  }
  list(): void {
    this.host.list(this);
  }
  consoleTail(vmId: VmId, bytesMax: number): void {
    this.host.consoleTail(this, vmId, bytesMax);
  }
  armFence(deadlineUs: number): void {
    this.host.armFence(deadlineUs);
  }
  probe(vmId: VmId, probe: HealthProbe): void {
    this.host.probe(this, vmId, probe);
  }

  /**
   * Queues a report; one timer delivers the queue in order (one event per burst, not per report:
   * a fence of a thousand VMs is a thousand reports). Bounded: a process that stops taking its
   * reports (paused) holds at most a few per instance before they would be a leak.
   */
  report(report: BackendReport): void {
    if (this.handler === undefined) return;
    assert(this.queued.length < this.queuedMax, () => `more than ${this.queuedMax} backend reports queued for one incarnation`);
    this.queued.push(report);
    if (this.queued.length === 1) this.env.timers.after(0, this.flush);
  }

  private readonly flush = (): void => {
    const reports = this.queued;
    this.queued = [];
    for (const report of reports) this.handler!(report);
  };

  reportStatus(status: InstanceStatus): void {
    this.report({ kind: "instance", status });
  }
}

function isAlive(state: InstanceState): boolean {
  return state === "booting" || state === "running" || state === "stopping";
}

function statusOf(instance: SimInstance): InstanceStatus {
  return { vmId: instance.vmId, state: instance.state, token: instance.token, exit: instance.exit };
}
