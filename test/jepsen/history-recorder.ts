// The run's history as Jepsen records it: every client invocation and completion, and every
// nemesis action (`:process :nemesis`, `:info` events with :start-... / :stop-... functions), in
// the order they happened, with microseconds since the run started. Bounded: once the clients and
// the nemesis have recorded HISTORY_EVENTS_LIMIT - FINAL_READS_RESERVE events the history is
// `full` (the clients stop, the nemesis stops cycling and the run says how many cycles it ran);
// the final reads then have the reserve, and anything past HISTORY_EVENTS_LIMIT is dropped and
// counted, which makes the run inconclusive.
import { performance } from "node:perf_hooks";
import type { EventType, OpEvent } from "../../src/core/check/history.ts";
import type { Value } from "../../src/core/check/value.ts";

export const HISTORY_EVENTS_LIMIT = 4_000_000;
export const FINAL_READS_RESERVE = 200_000;
export const NEMESIS = "nemesis";

/** The outcome class of a completion: ok, fail (certainly not applied) or info (unknown). */
export type Outcome = Exclude<EventType, "invoke">;

export class HistoryRecorder {
  readonly events: OpEvent[] = [];
  private readonly startMs = performance.now();
  full = false;
  /** Events not recorded because even the final reads' reserve was used up. */
  dropped = 0;
  private limit: number;

  /** `hardLimit` events at most; the final reads keep a quarter of it, or FINAL_READS_RESERVE if less. */
  constructor(private readonly hardLimit = HISTORY_EVENTS_LIMIT) {
    if (!Number.isSafeInteger(hardLimit) || hardLimit < 4 || hardLimit > HISTORY_EVENTS_LIMIT) throw new Error(`history limit ${hardLimit} outside 4..${HISTORY_EVENTS_LIMIT}`);
    this.limit = hardLimit - Math.min(FINAL_READS_RESERVE, Math.floor(hardLimit / 4));
  }

  nowUs(): number {
    return Math.round((performance.now() - this.startMs) * 1000);
  }

  /** From now on only the final reads record: they may use the reserve. */
  beginFinalReads(): void {
    this.limit = this.hardLimit;
  }

  private push(event: OpEvent): void {
    if (this.events.length >= this.limit) {
      this.full = true;
      if (this.limit === this.hardLimit) this.dropped += 1;
      return;
    }
    this.events.push(event);
    if (this.events.length >= this.limit) this.full = true;
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
