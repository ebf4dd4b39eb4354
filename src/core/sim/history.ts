// The workload's history of client operations, in the JSON-lines format the
// linearizability checker (src/core/check) reads: one object per line,
//   {"process":3,"type":"invoke","f":"cas","key":"k2","value":["a","b"],"time":1234567}
// type invoke|ok|fail|info; f get|put|cas|delete; time = true simulated time in microseconds.
// get: invoke value null, ok value the string read. put: the string written. delete: null
// (the key reads as "" afterwards, as one never written).
// cas: [expected, new]; ok = swapped, fail = compare failed (no effect). info = unknown outcome.
// A process has at most one operation outstanding; after an info it never invokes again
// (the client continues under a fresh process number), as in Jepsen.

import { assert } from "../assert.ts";

export type HistoryType = "invoke" | "ok" | "fail" | "info";
export type HistoryFunction = "get" | "put" | "cas" | "delete";
export type HistoryValue = string | null | readonly [string, string];

export interface HistoryEvent {
  readonly process: number;
  readonly type: HistoryType;
  readonly f: HistoryFunction;
  readonly key: string;
  readonly value: HistoryValue;
  readonly time: number;
}

export class History {
  readonly events: HistoryEvent[] = [];
  private readonly outstanding = new Map<number, HistoryEvent>();
  private readonly retired = new Set<number>();

  /** @param capacity the most events kept; invoke() refuses once fewer than `reserve` slots remain, so pending operations can always complete. */
  constructor(
    readonly capacity: number,
    private readonly reserve: number,
  ) {
    assert(capacity > reserve && reserve >= 0, "history capacity must exceed its reserve");
  }

  /** Whether a new operation may start (the history is not full). */
  get acceptsInvocations(): boolean {
    return this.events.length + this.reserve < this.capacity;
  }

  get pending(): number {
    return this.outstanding.size;
  }

  invoke(process: number, f: HistoryFunction, key: string, value: HistoryValue, time: number): HistoryEvent {
    assert(this.acceptsInvocations, "history is full");
    assert(!this.outstanding.has(process), () => `process ${process} already has an operation outstanding`);
    assert(!this.retired.has(process), () => `process ${process} invoked after an info`);
    assert(f === "get" || f === "delete" ? value === null : value !== null, "invoke value does not match f");
    const event: HistoryEvent = { process, type: "invoke", f, key, value, time };
    this.outstanding.set(process, event);
    this.push(event);
    return event;
  }

  complete(process: number, type: Exclude<HistoryType, "invoke">, value: HistoryValue, time: number): HistoryEvent {
    const invocation = this.outstanding.get(process);
    assert(invocation !== undefined, () => `process ${process} completes without an invocation`);
    assert(time >= invocation.time, "completion before invocation");
    this.outstanding.delete(process);
    if (type === "info") this.retired.add(process);
    const event: HistoryEvent = { process, type, f: invocation.f, key: invocation.key, value, time };
    this.push(event);
    return event;
  }

  private push(event: HistoryEvent): void {
    assert(this.events.length < this.capacity, () => `history exceeds its capacity of ${this.capacity}`);
    this.events.push(event);
  }
}

/** One event as a JSON line (without the newline), keys in the documented order. */
export function historyEventToJson(event: HistoryEvent): string {
  return JSON.stringify({ process: event.process, type: event.type, f: event.f, key: event.key, value: event.value, time: event.time });
}

export function historyToJsonLines(events: readonly HistoryEvent[]): string {
  let out = "";
  for (const event of events) out += historyEventToJson(event) + "\n";
  return out;
}
