// When the replica ticks its Raft core: one timer for the core's next deadline instead of one
// every tick interval. An idle follower sleeps until its election timeout; a leader wakes for
// its next heartbeat. The ticks stay on the grid the old per-interval timer kept (tick k of an
// interval ends tickMs * k after it started), so the core sees the same tick counts:
//
// - the timer is armed for `ticksUntilDue()` ticks from a tick boundary and, when it fires, hands
//   the core every tick of the interval it has not been given yet (tickBy);
// - before any input reaches the core (beforeInput), the ticks whose time has passed are handed
//   over first, so the input meets the counters it would have met (the CheckQuorum lease, a
//   reset of the election timer) — never the deadline tick itself, which is the timer's;
// - after inputs (afterInput), a deadline that moved earlier (a new leader's first heartbeat)
//   re-arms the timer; one that moved later lets the timer fire early, hand over quiet ticks and
//   re-arm (cheaper than cancelling on every heartbeat received).
//
// Elapsed ticks inside an interval are read from the node's monotonic clock, the one timers
// measure (never the wall clock, which jumps). The reading is clamped to the ticks before the
// deadline: a timer that runs late (a paused process) still delivers the deadline's tick itself,
// and a node that resumes from a pause catches up at most one interval, as a late timer would.

import { assert } from "../assert.ts";
import type { Environment, TimerHandle } from "../env/environment.ts";
import type { RaftCore } from "../raft/types.ts";

export class TickSchedule {
  private timer: TimerHandle | undefined;
  /** The node's monotonic clock (us) at the tick boundary the armed interval starts from. */
  private intervalStartUs = 0;
  /** Ticks after intervalStartUs at which the timer fires: the core's deadline when armed. */
  private dueTicks = 0;
  /** Ticks of this interval already handed to the core (by beforeInput); always < dueTicks. */
  private givenTicks = 0;

  private readonly tickUs: number;

  constructor(
    private readonly env: Environment,
    private readonly core: RaftCore,
    private readonly tickMs: number,
    /** Called after the timer handed ticks to the core (the replica drives the Ready loop). */
    private readonly ticked: () => void,
  ) {
    assert(Number.isFinite(tickMs) && tickMs > 0, "tickMs must be positive");
    this.tickUs = tickMs * 1000;
  }

  get armed(): boolean {
    return this.timer !== undefined;
  }

  start(): void {
    assert(this.timer === undefined, "tick schedule started twice");
    this.armFromBoundary();
  }

  stop(): void {
    if (this.timer !== undefined) this.env.timers.cancel(this.timer);
    this.timer = undefined;
  }

  /** Before the core takes an input: hand it the ticks that have passed in this interval. */
  beforeInput(): void {
    if (this.timer === undefined) return;
    const elapsedUs = this.env.monotonic.nowUs() - this.intervalStartUs;
    assert(elapsedUs >= 0, "the monotonic clock went backwards");
    const passed = Math.min(this.dueTicks - 1, Math.floor(elapsedUs / this.tickUs));
    if (passed <= this.givenTicks) return;
    this.core.tickBy(passed - this.givenTicks);
    this.givenTicks = passed;
  }

  /** After the core took inputs: re-arm if its next deadline is now earlier than the timer. */
  afterInput(): void {
    if (this.timer === undefined) return;
    const dueTicks = this.givenTicks + this.core.ticksUntilDue();
    if (dueTicks >= this.dueTicks) return;
    this.env.timers.cancel(this.timer);
    this.dueTicks = dueTicks;
    const remainingMs = (this.intervalStartUs + dueTicks * this.tickUs - this.env.monotonic.nowUs()) / 1000;
    const delayMs = Math.min((dueTicks - this.givenTicks) * this.tickMs, Math.max(0, remainingMs));
    this.timer = this.env.timers.after(delayMs, this.onTimer);
  }

  private armFromBoundary(): void {
    this.intervalStartUs = this.env.monotonic.nowUs();
    this.givenTicks = 0;
    this.dueTicks = this.core.ticksUntilDue();
    assert(Number.isSafeInteger(this.dueTicks) && this.dueTicks >= 1, "ticksUntilDue must be a positive integer");
    this.timer = this.env.timers.after(this.dueTicks * this.tickMs, this.onTimer);
  }

  /** The timer's callback: one function for the schedule's life, not a closure per interval. */
  private readonly onTimer = (): void => {
    if (this.timer === undefined) return; // stopped
    assert(this.givenTicks < this.dueTicks, "the deadline tick was handed over before its timer fired");
    this.core.tickBy(this.dueTicks - this.givenTicks);
    this.armFromBoundary();
    this.ticked();
  };
}
