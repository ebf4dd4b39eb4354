// Deadlines for many waiting requests on ONE timer. A request that completes in time costs
// no timer event: it leaves the map, and the armed timer, when it fires for a deadline no
// longer waiting, only re-arms for the earliest one left. Used by the replica driver
// (commands, reads, leader transfers) and the request path (forwards).
//
// Order: entries are added with non-decreasing deadlines (asserted), so the map's insertion
// order is deadline order and ties expire in insertion order; the sweep stops at the first
// live deadline. Deadlines are in microseconds of the node's monotonic clock.
//
// The timer is armed only while entries wait, for the earliest deadline (no sooner than
// minDelayMs, so a path may batch its expiries), and re-armed only after it fires: a removal
// never cancels it (the earliest deadline can only move later), so it wakes at most once per
// timeout while requests keep completing.

import { assert } from "../assert.ts";
import type { Environment, TimerHandle } from "../env/environment.ts";

export interface DeadlineSweepOptions<Entry> {
  /** The timer waits at least this long (0: exactly until the earliest deadline). */
  readonly minDelayMs: number;
  /** Entries waiting at once; adding more is a programmer error (callers bound their requests first). */
  readonly entriesMax: number;
  /** Called once per entry whose deadline passed, in deadline order, after the entry left the sweep. */
  readonly expired: (entry: Entry) => void;
}

export class DeadlineSweep<Entry> {
  /** Entry to its deadline (monotonic us), in insertion order = deadline order. */
  private readonly deadlines = new Map<Entry, number>();
  private lastDeadlineUs = Number.MIN_SAFE_INTEGER;
  private timer: TimerHandle | undefined;
  /** The monotonic time the armed timer waits for: when it fires, that much time has passed (the timer's promise), whatever the clock's rounding. */
  private armedForUs = 0;
  private stopped = false;

  constructor(
    private readonly env: Environment,
    private readonly options: DeadlineSweepOptions<Entry>,
  ) {
    assert(options.minDelayMs >= 0 && Number.isFinite(options.minDelayMs), "a sweep's minimum delay must be finite and >= 0");
    assert(Number.isSafeInteger(options.entriesMax) && options.entriesMax > 0, "a sweep's entry bound must be a positive integer");
  }

  get size(): number {
    return this.deadlines.size;
  }

  /** The timer is armed (tests: a quiet sweep holds no timer). */
  get armed(): boolean {
    return this.timer !== undefined;
  }

  /** Starts waiting on `entry` until `deadlineUs` (monotonic us, not before the last added deadline). */
  add(entry: Entry, deadlineUs: number): void {
    assert(!this.stopped, "an entry added to a stopped sweep");
    assert(Number.isSafeInteger(deadlineUs) && deadlineUs >= this.lastDeadlineUs, () => `deadline ${deadlineUs} us before the last one added (${this.lastDeadlineUs} us)`);
    assert(!this.deadlines.has(entry) && this.deadlines.size < this.options.entriesMax, "an entry added twice, or more entries than the sweep's bound");
    this.lastDeadlineUs = deadlineUs;
    this.deadlines.set(entry, deadlineUs);
    this.arm();
  }

  /** The entry completed (or was answered otherwise): no expiry for it. No timer is touched. */
  remove(entry: Entry): void {
    this.deadlines.delete(entry);
  }

  /** Stops for good: the timer is cancelled and no entry expires (the owner answers them itself). */
  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.env.timers.cancel(this.timer);
    this.timer = undefined;
    this.deadlines.clear();
  }

  private arm(): void {
    if (this.timer !== undefined || this.deadlines.size === 0 || this.stopped) return;
    const earliestUs = this.deadlines.values().next().value as number;
    const nowUs = this.env.monotonic.nowUs();
    const delayUs = Math.max(Math.ceil(this.options.minDelayMs * 1000), earliestUs - nowUs, 0);
    this.armedForUs = nowUs + delayUs;
    this.timer = this.env.timers.after(delayUs / 1000, this.onTimer);
  }

  /** The timer's callback: one function for the sweep's life. */
  private readonly onTimer = (): void => {
    this.timer = undefined;
    if (this.stopped) return;
    const nowUs = Math.max(this.env.monotonic.nowUs(), this.armedForUs);
    for (const [entry, deadlineUs] of this.deadlines) {
      if (deadlineUs > nowUs) break; // deadlines follow insertion order
      this.deadlines.delete(entry);
      this.options.expired(entry);
      if (this.stopped) return; // an expiry's callback stopped the owner
    }
    this.arm();
  };
}
