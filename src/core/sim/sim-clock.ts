// A node's clocks and timers in simulation. The node never sees true time:
//   monotonic  nowUs() = (1 + drift) * true time, in integer microseconds: never jumps, and its
//              rate stays within the published bound (CLOCK_DRIFT_BOUND_PPM), as Environment promises;
//   wall       nowMs() = (start + offset + (1 + drift) * true time + accumulated jumps) / 1000: offset
//              between nodes, and stepped either way by the nemesis's clock jumps.
// Timers measure elapsed monotonic time at the drifted rate, like a monotonic OS timer,
// so a jump moves what nowMs() reads but not when armed timers fire.

import { assert } from "../assert.ts";
import { CLOCK_DRIFT_BOUND_PPM, type MonotonicClock, type TimerHandle, type Timers, type WallClock } from "../env/environment.ts";
import type { EventQueue, EventTarget } from "./event-queue.ts";

/**
 * Where every simulated wall clock starts (2026-01-01T00:00:00Z, in µs), before its offset: a real
 * wall clock reads about 1.77e15 µs, and code that stamps commands with it (the controller, the
 * agents) refuses negative stamps. Started at 0, a clock stepped back by the nemesis read before
 * 1970, and that node's agent and controller had every command refused as invalid.
 */
export const SIM_WALL_CLOCK_START_US = 1_767_225_600_000_000;

/** Real clocks drift by tens of ppm; we allow far more to provoke lease and timeout bugs, but never beyond the published bound. */
export const CLOCK_DRIFT_PPM_MAX = CLOCK_DRIFT_BOUND_PPM;

/**
 * A node's drift for a run: uniform in [-maxPpm, maxPpm], or, with `atBound`, exactly -maxPpm or
 * +maxPpm (the same one draw, its sign kept), so that slow and fast clocks meet at the widest gap
 * the bound allows: where a lease that ignores the bound outlives its promises by the most.
 */
export function drawClockDriftPpm(random: { intBetween(min: number, max: number): number }, maxPpm: number, atBound: boolean): number {
  assert(Number.isSafeInteger(maxPpm) && maxPpm >= 0 && maxPpm <= CLOCK_DRIFT_PPM_MAX, () => `clock drift bound ${maxPpm} ppm outside [0, ${CLOCK_DRIFT_PPM_MAX}]`);
  const driftPpm = random.intBetween(-maxPpm, maxPpm);
  if (!atBound) return driftPpm;
  return driftPpm < 0 ? -maxPpm : maxPpm;
}

export class SimClock implements MonotonicClock, WallClock {
  private jumpUs = 0;

  constructor(
    private readonly queue: EventQueue,
    readonly offsetUs: number,
    readonly driftPpm: number,
  ) {
    assert(Number.isSafeInteger(offsetUs), "clock offset must be an integer of microseconds");
    assert(Math.abs(driftPpm) <= CLOCK_DRIFT_PPM_MAX, () => `clock drift ${driftPpm} ppm exceeds ${CLOCK_DRIFT_PPM_MAX}`);
  }

  /** Monotonic: the drifted elapsed true time (no offset, no jumps). */
  nowUs(): number {
    const trueUs = this.queue.timeUs;
    return trueUs + Math.floor((trueUs * this.driftPpm) / 1_000_000);
  }

  /** Wall clock: offset and jumps on top of the drifted time. */
  nowMs(): number {
    const wallUs = SIM_WALL_CLOCK_START_US + this.offsetUs + this.nowUs() + this.jumpUs;
    assert(wallUs > 0, () => `simulated wall clock at ${wallUs} µs: before 1970`);
    return wallUs / 1000;
  }

  /** Moves the local clock by `deltaUs` (either sign): an NTP step, a VM pause, an operator. */
  jump(deltaUs: number): void {
    assert(Number.isSafeInteger(deltaUs), "clock jump must be an integer of microseconds");
    this.jumpUs += deltaUs;
  }

  get totalJumpUs(): number {
    return this.jumpUs;
  }

  /** True microseconds that elapse while this clock measures `localMs`, rounded up (never early). */
  trueDelayUs(localMs: number): number {
    if (!(localMs >= 0 && Number.isFinite(localMs))) assert(false, `timer delay ${localMs} ms must be finite and >= 0`);
    return Math.ceil((localMs * 1000 * 1_000_000) / (1_000_000 + this.driftPpm));
  }
}

/**
 * One node incarnation's timers. `dispatch` runs a due callback on behalf of the node
 * (the cluster uses it to check properties and hash the trace after the node's step).
 * After shutdown() (the node crashed) nothing armed by this incarnation fires.
 */
export class SimTimers implements Timers, EventTarget {
  private readonly live = new Set<TimerHandle>();
  private nextHandle = 1;
  private alive = true;

  constructor(
    private readonly queue: EventQueue,
    private readonly clock: SimClock,
    private readonly dispatch: (callback: () => void) => void,
    /** Bound on timers armed at once by one node: a leak shows up as a crash, not as a slow run. */
    private readonly maxLive: number,
  ) {}

  after(delayMs: number, callback: () => void): TimerHandle {
    const handle = this.nextHandle++;
    if (!this.alive) return handle;
    if (this.live.size >= this.maxLive) assert(false, `a node has more than ${this.maxLive} timers armed`);
    this.live.add(handle);
    // A queue event (handle, callback) on this long-lived target: no closure per timer.
    this.queue.atTarget(this.queue.timeUs + this.clock.trueDelayUs(delayMs), this, handle, callback);
    return handle;
  }

  /** The event queue's callback for timer `handle` (EventTarget): runs it unless cancelled or shut down. */
  fire(handle: number, callback: unknown): void {
    if (!this.live.delete(handle) || !this.alive) return;
    this.dispatch(callback as () => void);
  }

  cancel(handle: TimerHandle): void {
    this.live.delete(handle);
  }

  shutdown(): void {
    this.alive = false;
    this.live.clear();
  }

  get armed(): number {
    return this.live.size;
  }
}
