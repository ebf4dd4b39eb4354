// The watch hub on its own: woken by the apply notification (not by polling), empty at its
// deadline with where to continue, a compacted revision named, and the bound on waiting watches.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { KvChangeRing } from "../../../src/core/replica/kv-change-ring.ts";
import { KvWatchHub, WATCHES_WAITING_MAX, type KvWatchSource } from "../../../src/shell/api/kv-watch.ts";

class FakeSource implements KvWatchSource {
  readonly changes = new KvChangeRing(100, 1 << 20);
  applied = 0;
  private listeners: Array<() => void> = [];
  onChange(listener: () => void): () => void {
    this.listeners.push(listener);
    return () => (this.listeners = this.listeners.filter((other) => other !== listener));
  }
  appliedIndex(): number {
    return this.applied;
  }
  /** Applies a put at the next index and notifies, as NodeStateMachine.apply does. */
  put(key: string, value: string): number {
    this.applied += 1;
    this.changes.record({ type: "put", key, value, revision: this.applied });
    for (const listener of this.listeners) listener();
    return this.applied;
  }
  /** An entry that is not a key-value change (a cluster command, a no-op): applied, no notification. */
  skip(): void {
    this.applied += 1;
  }
}

const never = new AbortController().signal;
const everything = (): boolean => true;

describe("kv watch hub", () => {
  test("a waiting watch answers when a matching change applies, long before its deadline; other keys do not end it", async () => {
    const source = new FakeSource();
    const hub = new KvWatchHub(source);
    source.put("a", "1");
    const startedMs = Date.now();
    const waiting = hub.watch({ matches: (k) => k === "b", fromRevision: 0, eventsMax: 10, waitMs: 30_000, signal: never });
    assert.equal(hub.watchesWaiting, 1);
    source.put("a", "2"); // another key: the watch reads, finds nothing, waits on
    source.skip();
    setImmediate(() => source.put("b", "3"));
    const answer = await waiting;
    assert.ok(Date.now() - startedMs < 5_000);
    assert.ok(answer.status === "ok");
    assert.deepEqual(
      answer.changes.map((c) => [c.key, c.value, c.revision]),
      [["b", "3", 4]],
    );
    assert.equal(answer.nextRevision, 5);
    assert.equal(hub.watchesWaiting, 0);
  });

  test("empty at the deadline, continuing after the applied index; a compacted revision names the oldest", async () => {
    const source = new FakeSource();
    const hub = new KvWatchHub(source);
    source.put("a", "1");
    source.skip();
    const quiet = await hub.watch({ matches: everything, fromRevision: 2, eventsMax: 10, waitMs: 30, signal: never });
    assert.deepEqual(quiet, { status: "ok", changes: [], nextRevision: 3, currentRevision: 2 });
    source.changes.reset();
    const compacted = await hub.watch({ matches: everything, fromRevision: 1, eventsMax: 10, waitMs: 30, signal: never });
    assert.deepEqual(compacted, { status: "compacted", oldestRevision: 3, currentRevision: 2 });
  });

  test("at most WATCHES_WAITING_MAX wait at once; an aborted watch stops waiting at once", async () => {
    const source = new FakeSource();
    const hub = new KvWatchHub(source);
    source.put("a", "1");
    const controllers = Array.from({ length: WATCHES_WAITING_MAX }, () => new AbortController());
    const waiting = controllers.map((controller) => hub.watch({ matches: everything, fromRevision: 0, eventsMax: 10, waitMs: 60_000, signal: controller.signal }));
    assert.equal(hub.watchesWaiting, WATCHES_WAITING_MAX);
    assert.deepEqual(await hub.watch({ matches: everything, fromRevision: 0, eventsMax: 10, waitMs: 1_000, signal: never }), { status: "too-many-watches", limit: WATCHES_WAITING_MAX });
    // A watch that can answer at once is not refused: it never waits.
    const atOnce = await hub.watch({ matches: everything, fromRevision: 1, eventsMax: 10, waitMs: 1_000, signal: never });
    assert.ok(atOnce.status === "ok" && atOnce.changes.length === 1);
    const startedMs = Date.now();
    for (const controller of controllers) controller.abort();
    const answers = await Promise.all(waiting);
    assert.ok(Date.now() - startedMs < 5_000);
    assert.ok(answers.every((answer) => answer.status === "ok" && answer.changes.length === 0));
    assert.equal(hub.watchesWaiting, 0);
  });
});
