// The run's trace: every event folded into one running hash (two or three numbers per event,
// cheap enough for all of them), and optionally one line per event (--trace). Two runs with
// the same seed and options must produce the same hash; the golden hashes pin it.

import type { EndpointId } from "../env/environment.ts";
import type { EventQueue } from "./event-queue.ts";
import { RunningHash } from "./hash.ts";

/** Trace event kinds (stable numbers: they feed the trace hash). */
export const TRACE = {
  deliver: 1,
  clientRequest: 2,
  clientReply: 3,
  timer: 4,
  disk: 5,
  crash: 6,
  restart: 7,
  fault: 8,
  history: 9,
  started: 10,
  refused: 11,
} as const;
const TRACE_NAMES = ["", "deliver", "client-request", "client-reply", "timer", "disk", "crash", "restart", "fault", "history", "started", "refused"];

export class SimTrace {
  private readonly hash = new RunningHash();

  constructor(
    private readonly queue: EventQueue,
    /** Receives one line per event when set (--trace). */
    private readonly lines: ((line: string) => void) | undefined,
  ) {}

  /** Folds one event into the trace hash (two or three numbers: cheap enough for every event). */
  event(kind: number, a: number, b: number, c: number): void {
    const hash = this.hash;
    hash.add(this.queue.timeUs * 64 + kind);
    hash.add(a * 0x100000 + b);
    if (c !== 0) hash.add(c);
    if (this.lines !== undefined) this.lines(`${this.queue.timeUs} ${TRACE_NAMES[kind]} ${a} ${b} ${c}`);
  }

  /** Two numbers per message: who, to whom, its type and size, and a word from its middle (cheap, and it moves when the contents do). */
  raftBytes(from: EndpointId, to: EndpointId, bytes: Uint8Array): void {
    const hash = this.hash;
    hash.add(bytes[1]! * 0x10000 + from * 0x100 + to);
    const middle = bytes.length >> 1;
    hash.add(bytes.length * 0x100 + bytes[middle]!);
  }

  hex(): string {
    return this.hash.hex();
  }
}
