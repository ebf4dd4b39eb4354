// kv watch as a blocking query (Consul and Nomad's style): one unary call asks for the changes
// from a revision on; the node answers from its own applied state (the change ring beside the
// state machine, src/core/replica/kv-change-ring.ts) as soon as there are some, or with none at
// the wait deadline, and always says where to continue. A client loops with next_revision, so
// a failover to another node only changes who answers: revisions are log indexes, the same on
// every node. A revision older than the node's ring is refused as compacted (etcd's
// ErrCompacted) rather than answered with a gap.
//
// Waiting: on the state machine's apply notification (NodeStateMachine.onKvChange), never by
// polling. The notification runs inside apply, so it only wakes the waiters; they read after it.
// Bounds: the wait (WATCH_WAIT_MS_MAX), the events and bytes of one answer, and the watches
// waiting at once on a node (WATCHES_WAITING_MAX; more are refused resource_exhausted).

import { assert } from "../../core/assert.ts";
import type { KvChange, KvChangeRead, KvChangeRing } from "../../core/replica/kv-change-ring.ts";

export const WATCH_WAIT_MS_MAX = 60_000;
export const WATCH_EVENTS_MAX = 1_000;
/** An answer stops once its events hold about this much text (kvChangeWeight), whole revision groups kept. */
export const WATCH_ANSWER_WEIGHT_MAX = 512 * 1024;
/** Watches waiting at once on one node. */
export const WATCHES_WAITING_MAX = 256;

/** What a watch reads on a node: the change ring, its apply notification, the applied index. */
export interface KvWatchSource {
  readonly changes: KvChangeRing;
  onChange(listener: () => void): () => void;
  appliedIndex(): number;
}

export interface KvWatchQuery {
  readonly matches: (key: string) => boolean;
  /** 0: from now (the applied index + 1). */
  readonly fromRevision: number;
  readonly eventsMax: number;
  readonly waitMs: number;
  readonly signal: AbortSignal;
}

export type KvWatchAnswer =
  | { readonly status: "ok"; readonly changes: readonly KvChange[]; readonly nextRevision: number; readonly currentRevision: number }
  | { readonly status: "compacted"; readonly oldestRevision: number; readonly currentRevision: number }
  | { readonly status: "too-many-watches"; readonly limit: number };

export class KvWatchHub {
  private readonly wakers = new Set<() => void>();
  private waiting = 0;

  constructor(private readonly source: KvWatchSource) {
    source.onChange(() => {
      for (const wake of [...this.wakers]) wake();
    });
  }

  get watchesWaiting(): number {
    return this.waiting;
  }

  async watch(query: KvWatchQuery): Promise<KvWatchAnswer> {
    assert(query.eventsMax >= 1 && query.eventsMax <= WATCH_EVENTS_MAX, "a watch asks for 1..WATCH_EVENTS_MAX events");
    assert(query.waitMs >= 0 && query.waitMs <= WATCH_WAIT_MS_MAX, "a watch waits within its bound");
    let from = query.fromRevision === 0 ? this.source.appliedIndex() + 1 : query.fromRevision;
    const deadlineMs = Date.now() + query.waitMs;
    const first = this.read(from, query);
    if (first.status !== "ok" || first.changes.length > 0 || query.waitMs === 0) return first;
    if (this.waiting >= WATCHES_WAITING_MAX) return { status: "too-many-watches", limit: WATCHES_WAITING_MAX };
    this.waiting += 1;
    try {
      from = first.nextRevision;
      // Each pass waits for an apply (or the deadline), then reads from where the last read ended.
      for (;;) {
        const remainingMs = deadlineMs - Date.now();
        if (remainingMs <= 0 || query.signal.aborted) return this.read(from, query);
        await this.nextChange(remainingMs, query.signal);
        const answer = this.read(from, query);
        if (answer.status !== "ok" || answer.changes.length > 0) return answer;
        from = answer.nextRevision;
      }
    } finally {
      this.waiting -= 1;
      assert(this.waiting >= 0, "watch count never goes negative");
    }
  }

  private read(from: number, query: KvWatchQuery): KvWatchAnswer {
    const applied = this.source.appliedIndex();
    const read: KvChangeRead = this.source.changes.read(from, applied, query.matches, { changesMax: query.eventsMax, bytesMax: WATCH_ANSWER_WEIGHT_MAX });
    const currentRevision = Math.max(applied, this.source.changes.newestRevision);
    if (read.status === "compacted") return { status: "compacted", oldestRevision: read.oldestRevision, currentRevision };
    return { status: "ok", changes: read.changes, nextRevision: read.nextRevision, currentRevision };
  }

  /** Resolves at the next key-value apply, after `timeoutMs`, or when the signal aborts. */
  private nextChange(timeoutMs: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wakers.delete(done);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.wakers.add(done);
      signal.addEventListener("abort", done, { once: true });
    });
  }
}
