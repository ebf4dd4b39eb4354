// The simulator's one queue of future events, a binary min-heap ordered by
// (time, insertion sequence). The tie rule: events due at the same microsecond run in
// the order they were scheduled (FIFO), which depends only on the run's own history,
// so a seed replays exactly. Virtual time jumps straight to the next event.
// Struct-of-arrays layout: no object per event beyond the caller's callback, and none at all
// for an EventTarget event (a long-lived target, a number and a payload: no closure per event).

import { assert } from "../assert.ts";

export type EventAction = () => void;

/** A long-lived receiver of events that carry (code, payload) instead of a closure each. */
export interface EventTarget {
  fire(code: number, payload: unknown): void;
}

export class EventQueue {
  private readonly times: number[] = [];
  private readonly sequences: number[] = [];
  private readonly actions: Array<EventAction | EventTarget> = [];
  /** For EventTarget events: their code and payload (0 and undefined for closures). */
  private readonly codes: number[] = [];
  private readonly payloads: unknown[] = [];
  private nextSequence = 0;
  private nowUs = 0;
  private executed = 0;

  /** @param capacity the most events pending at once; exceeding it is a simulator bug (something is unbounded). */
  constructor(readonly capacity: number) {
    assert(Number.isSafeInteger(capacity) && capacity > 0, "event queue capacity must be a positive integer");
  }

  /** True simulated time in microseconds: the time of the event being run (or last run). */
  get timeUs(): number {
    return this.nowUs;
  }

  get size(): number {
    return this.times.length;
  }

  get eventsExecuted(): number {
    return this.executed;
  }

  /** Schedules `action` at absolute time `timeUs` (>= now, integer microseconds). */
  at(timeUs: number, action: EventAction): void {
    this.push(timeUs, action, 0, undefined);
  }

  /** Schedules target.fire(code, payload) at absolute time `timeUs`; same order rules as at(). */
  atTarget(timeUs: number, target: EventTarget, code: number, payload: unknown): void {
    this.push(timeUs, target, code, payload);
  }

  private push(timeUs: number, action: EventAction | EventTarget, code: number, payload: unknown): void {
    // Conditions first, messages only on failure: no closure per event on the simulator's hottest path.
    if (!(Number.isSafeInteger(timeUs) && timeUs >= this.nowUs)) assert(false, `event at ${timeUs}us is in the past (now ${this.nowUs}us) or not an integer`);
    if (this.times.length >= this.capacity) assert(false, `event queue exceeds its capacity of ${this.capacity}`);
    const sequence = this.nextSequence++;
    let i = this.times.length;
    this.times.push(timeUs);
    this.sequences.push(sequence);
    this.actions.push(action);
    this.codes.push(code);
    this.payloads.push(payload);
    // Sift up.
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(timeUs, sequence, this.times[parent]!, this.sequences[parent]!)) break;
      this.times[i] = this.times[parent]!;
      this.sequences[i] = this.sequences[parent]!;
      this.actions[i] = this.actions[parent]!;
      this.codes[i] = this.codes[parent]!;
      this.payloads[i] = this.payloads[parent];
      i = parent;
    }
    this.times[i] = timeUs;
    this.sequences[i] = sequence;
    this.actions[i] = action;
    this.codes[i] = code;
    this.payloads[i] = payload;
  }

  /** Schedules `action` `delayUs` (>= 0) from now. */
  after(delayUs: number, action: EventAction): void {
    this.at(this.nowUs + delayUs, action);
  }

  /** The time of the next event, or undefined when none is pending. */
  peekTimeUs(): number | undefined {
    return this.times.length === 0 ? undefined : this.times[0];
  }

  /** Advances time to the next event and runs it; false when the queue is empty. */
  runNext(): boolean {
    const count = this.times.length;
    if (count === 0) return false;
    const timeUs = this.times[0]!;
    const action = this.actions[0]!;
    const code = this.codes[0]!;
    const payload = this.payloads[0];
    assert(timeUs >= this.nowUs, "time went backwards");
    const lastTime = this.times.pop()!;
    const lastSequence = this.sequences.pop()!;
    const lastAction = this.actions.pop()!;
    const lastCode = this.codes.pop()!;
    const lastPayload = this.payloads.pop();
    if (count > 1) this.siftDown(lastTime, lastSequence, lastAction, lastCode, lastPayload);
    this.nowUs = timeUs;
    this.executed++;
    if (typeof action === "function") action();
    else action.fire(code, payload);
    return true;
  }

  private siftDown(timeUs: number, sequence: number, action: EventAction | EventTarget, code: number, payload: unknown): void {
    const n = this.times.length;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      let child = left;
      if (right < n && this.less(this.times[right]!, this.sequences[right]!, this.times[left]!, this.sequences[left]!)) child = right;
      if (!this.less(this.times[child]!, this.sequences[child]!, timeUs, sequence)) break;
      this.times[i] = this.times[child]!;
      this.sequences[i] = this.sequences[child]!;
      this.actions[i] = this.actions[child]!;
      this.codes[i] = this.codes[child]!;
      this.payloads[i] = this.payloads[child];
      i = child;
    }
    this.times[i] = timeUs;
    this.sequences[i] = sequence;
    this.actions[i] = action;
    this.codes[i] = code;
    this.payloads[i] = payload;
  }

  private less(timeA: number, sequenceA: number, timeB: number, sequenceB: number): boolean {
    return timeA < timeB || (timeA === timeB && sequenceA < sequenceB);
  }
}
