// The run's history as Jepsen records it: every client invocation and completion, and every
// nemesis action (`:process :nemesis`, `:info` events with :start-... / :stop-... functions), in
// the order they happened, with microseconds since the run started. Bounded: a run that would
// record more than HISTORY_EVENTS_LIMIT events stops recording and says so.
import { performance } from "node:perf_hooks";
import type { EventType, OpEvent } from "../../src/core/check/history.ts";
import type { Value } from "../../src/core/check/value.ts";

export const HISTORY_EVENTS_LIMIT = 2_000_000;
export const NEMESIS = "nemesis";

/** The outcome class of a completion: ok, fail (certainly not applied) or info (unknown). */
export type Outcome = Exclude<EventType, "invoke">;

export class HistoryRecorder {
  readonly events: OpEvent[] = [];
  private readonly startMs = performance.now();
  full = false;

  nowUs(): number {
    return Math.round((performance.now() - this.startMs) * 1000);
  }

  private push(event: OpEvent): void {
    if (this.events.length >= HISTORY_EVENTS_LIMIT) {
      this.full = true;
      return;
    }
    this.events.push(event);
  }

  invoke(process: number, f: string, key: string | undefined, value: Value): void {
    this.push({ process, type: "invoke", f, ...(key === undefined ? {} : { key }), value, time: this.nowUs() });
  }

  complete(process: number, type: Outcome, f: string, key: string | undefined, value: Value, error?: string): void {
    this.push({ process, type, f, ...(key === undefined ? {} : { key }), value, time: this.nowUs(), ...(error === undefined ? {} : { error }) });
  }

  /** A nemesis action: an :info invocation and its :info completion (Jepsen logs both). */
  nemesis(f: string, value: Value): void {
    this.push({ process: NEMESIS, type: "info", f, value, time: this.nowUs() });
  }
}
