// The history model: what a recorded history means, independent of its file format.
//
// A history is a sequence of events in real-time order: the order of the events in the
// file (their `time` fields, when present, are kept for display only; Jepsen's own
// files are not always sorted by time, and file order is what Knossos uses).
//
// Each client operation is an invocation followed, on the same process, by at most one
// completion. Its status is:
// - ok:   it took effect exactly once, at some instant between invocation and completion,
//         and returned the completion's value;
// - fail: it definitely did not take effect (dropped before checking);
// - compare-failed: a cas that completed and reported that the compare failed; it did not
//         change the state but observed a state different from its expected value,
//         at some instant between invocation and completion;
// - info: unknown outcome (a timeout, a crash, or no completion at all). It may have taken
//         effect, once, at any instant after its invocation, or never; it stays open to the
//         end of the history, and its result is unknown.
// A process runs one operation at a time: a second invocation while one is open, or a
// completion without an open invocation, is malformed input. After an info completion the
// process may invoke again (Jepsen usually gives it a new process id): the earlier
// operation stays open for the checker, but no longer blocks the process.
// Events whose process is not a client (Jepsen's `:nemesis`) are skipped.
//
// What `:fail` means differs between sources; `FailSemantics` selects it:
// - "no-effect" (Knossos, Jepsen EDN): every fail is "did not take effect";
// - "compare-failed" (Jepsen's etcd log, Porcupine, Blixard's JSON lines): a fail of a `cas`
//   is "compare failed" (status compare-failed); a fail whose value or error is
//   `:timed-out` is "unknown" (info); any other fail is "did not take effect".
//
// The history carries operations, not transactions; an Elle-style transactional checker
// would read the same `Operation`s (a `txn` value holds its micro-operations).
import { BadInputError } from "./errors.ts";
import type { Value } from "./value.ts";
import { isKeyword } from "./value.ts";

export type EventType = "invoke" | "ok" | "fail" | "info";
export const EVENT_TYPES: readonly EventType[] = ["invoke", "ok", "fail", "info"];

/** One event as read from any format. */
export interface OpEvent {
  readonly process: number | string;
  readonly type: EventType;
  /** The operation's name, without a leading colon: "read", "cas", "get", ... */
  readonly f: string;
  /** The key for keyed operations (Porcupine's and Blixard's key-value histories). */
  readonly key?: string;
  readonly value: Value;
  /** Time in the source's unit (Blixard: simulated microseconds); for display only. */
  readonly time?: number;
  /** The `:error` field of a Jepsen completion, when present. */
  readonly error?: Value;
  /** 1-based place in the source file, for error messages and the report. */
  readonly line?: number;
  readonly column?: number;
}

export type FailSemantics = "no-effect" | "compare-failed";
export type OperationStatus = "ok" | "fail" | "compare-failed" | "info";

export interface Operation {
  /** Index in `History.operations`, which is in invocation order. */
  readonly id: number;
  readonly process: number | string;
  readonly f: string;
  readonly key: string | undefined;
  readonly status: OperationStatus;
  /** The invocation's value (a read's is usually nil). */
  readonly invokeValue: Value;
  /** The completion's value; null for an operation that never completed. */
  readonly completeValue: Value;
  /** Index of the invocation event among the history's client events. */
  readonly invokeIndex: number;
  /** Index of the completion event; Infinity for info operations (they stay open). */
  readonly completeIndex: number;
  /** Index of the completion event as recorded, even for info; -1 when there is none. */
  readonly completeEventIndex: number;
  readonly invokeTime: number | undefined;
  readonly completeTime: number | undefined;
  readonly invokeLine: number | undefined;
  readonly completeLine: number | undefined;
}

export interface History {
  readonly file: string;
  readonly operations: readonly Operation[];
  /** Number of client events (invocations and completions) in the history. */
  readonly eventCount: number;
  /** Events skipped because their process is not a client (nemesis). */
  readonly skippedEventCount: number;
}

export interface BuildHistoryOptions {
  readonly file?: string;
  readonly failSemantics?: FailSemantics;
}

/** Limit on history size: larger inputs are rejected as bad input rather than exhausting memory. */
export const HISTORY_EVENTS_MAX = 10_000_000;

/** Pairs invocations with completions and validates the history. Throws BadInputError. */
export function buildHistory(events: readonly OpEvent[], options: BuildHistoryOptions = {}): History {
  const file = options.file ?? "<history>";
  const failSemantics = options.failSemantics ?? "no-effect";
  if (events.length > HISTORY_EVENTS_MAX) throw new BadInputError(file, 0, 0, `history has ${events.length} events, more than the limit ${HISTORY_EVENTS_MAX}`);

  interface Pending {
    readonly event: OpEvent;
    readonly index: number;
    readonly slot: number;
  }
  // Operations are created in invocation order; completions fill their slot later.
  const drafts: Array<{ invoke: OpEvent; invokeIndex: number; complete: OpEvent | undefined; completeIndex: number }> = [];
  const open = new Map<number | string, Pending>();
  let index = 0;
  let skipped = 0;
  for (const event of events) {
    if (!isClientProcess(event.process)) {
      skipped += 1;
      continue;
    }
    const processKey = event.process;
    const pending = open.get(processKey);
    if (event.type === "invoke") {
      if (pending !== undefined) {
        throw new BadInputError(file, event.line ?? 0, event.column ?? 0, `process ${event.process} invokes ${event.f} while its ${pending.event.f} invoked at ${placeOf(pending.event, pending.index)} is still open`);
      }
      open.set(processKey, { event, index, slot: drafts.length });
      drafts.push({ invoke: event, invokeIndex: index, complete: undefined, completeIndex: -1 });
    } else {
      if (pending === undefined) {
        throw new BadInputError(file, event.line ?? 0, event.column ?? 0, `completion (${event.type} ${event.f}) of process ${event.process} without an open invocation`);
      }
      if (pending.event.f !== event.f) {
        throw new BadInputError(file, event.line ?? 0, event.column ?? 0, `completion of ${event.f} by process ${event.process} does not match its open invocation of ${pending.event.f} at ${placeOf(pending.event, pending.index)}`);
      }
      if (pending.event.key !== event.key && event.key !== undefined) {
        throw new BadInputError(file, event.line ?? 0, event.column ?? 0, `completion for key ${JSON.stringify(event.key)} by process ${event.process} does not match its invocation's key ${JSON.stringify(pending.event.key)}`);
      }
      open.delete(processKey);
      const draft = drafts[pending.slot];
      draft.complete = event;
      draft.completeIndex = index;
    }
    index += 1;
  }

  const operations: Operation[] = drafts.map((draft, id) => {
    const complete = draft.complete;
    const status = complete === undefined ? "info" : statusOf(complete, draft.invoke, failSemantics);
    return {
      id,
      process: draft.invoke.process,
      f: draft.invoke.f,
      key: draft.invoke.key,
      status,
      invokeValue: draft.invoke.value,
      completeValue: complete === undefined ? null : complete.value,
      invokeIndex: draft.invokeIndex,
      completeIndex: status === "info" ? Infinity : draft.completeIndex,
      completeEventIndex: draft.completeIndex,
      invokeTime: draft.invoke.time,
      completeTime: complete?.time,
      invokeLine: draft.invoke.line,
      completeLine: complete?.line,
    };
  });
  return { file, operations, eventCount: index, skippedEventCount: skipped };
}

function statusOf(complete: OpEvent, invoke: OpEvent, failSemantics: FailSemantics): OperationStatus {
  switch (complete.type) {
    case "ok":
      return "ok";
    case "info":
      return "info";
    case "fail":
      if (failSemantics === "no-effect") return "fail";
      if (isKeyword(complete.value, "timed-out") || isKeyword(complete.error, "timed-out")) return "info";
      return invoke.f === "cas" ? "compare-failed" : "fail";
    case "invoke":
      break;
  }
  throw new Error("unreachable: an invocation is not a completion");
}

function isClientProcess(process: number | string): boolean {
  return typeof process === "number" ? Number.isInteger(process) : process !== "nemesis" && process.length > 0;
}

function placeOf(event: OpEvent, index: number): string {
  return event.line !== undefined ? `line ${event.line}` : `event ${index + 1}`;
}
