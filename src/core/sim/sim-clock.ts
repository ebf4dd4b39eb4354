// A node's local clock and timers in simulation. The node never sees true time: its
// clock reads offset + (1 + drift) * true time + accumulated jumps, in milliseconds.
// Timers measure elapsed local time at the drifted rate, like a monotonic OS timer,
// so a jump moves what nowMs() reads but not when armed timers fire.

import { assert } from "../assert.ts";
import type { Clock, TimerHandle, Timers } from "../env/environment.ts";
import type { EventQueue, EventTarget } from "./event-queue.ts";

/** Real clocks drift by tens of ppm; we allow far more to provoke lease and timeout bugs. */
export const CLOCK_DRIFT_PPM_MAX = 200_000;

export class SimClock implements Clock {
  private jumpUs = 0;

  constructor(
    private readonly queue: EventQueue,
    readonly offsetUs: number,
    readonly driftPpm: number,
  ) {
    assert(Number.isSafeInteger(offsetUs), "clock offset must be an integer of microseconds");
    assert(Math.abs(driftPpm) <= CLOCK_DRIFT_PPM_MAX, () => `clock drift ${driftPpm} ppm exceeds ${CLOCK_DRIFT_PPM_MAX}`);
  }

  nowMs(): number {
    const localUs = this.offsetUs + this.queue.timeUs + Math.floor((this.queue.timeUs * this.driftPpm) / 1_000_000) + this.jumpUs;
    return localUs / 1000;
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
