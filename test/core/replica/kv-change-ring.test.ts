// The change ring behind watches: revision order, bounds, compaction, restore, and reads that
// never skip or repeat a change however they are cut into pages.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { KvChangeRing, type KvChange } from "../../../src/core/replica/kv-change-ring.ts";
import { KvStateMachine, encodeKvCommand } from "../../../src/core/replica/kv-state-machine.ts";

const all = (): boolean => true;

/** Reads everything from `from` in pages of at most `pageMax` changes, following nextRevision. */
function readAll(ring: KvChangeRing, from: number, applied: number, pageMax: number, matches: (key: string) => boolean = all): KvChange[] {
  const found: KvChange[] = [];
  let next = from;
  for (let pages = 0; pages < 10_000; pages++) {
    const read = ring.read(next, applied, matches, { changesMax: pageMax, bytesMax: 1 << 20 });
    assert.equal(read.status, "ok");
    if (read.status !== "ok") break;
    found.push(...read.changes);
    assert.ok(read.nextRevision > next || read.changes.length === 0, "a read moves on");
    if (read.changes.length === 0) return found;
    next = read.nextRevision;
  }
  return assert.fail("paging never ended");
}

describe("kv change ring", () => {
  test("property: paged reads from any revision return exactly the matching changes from it, in order, none skipped or repeated (groups stay whole)", () => {
    const change = fc.record({ type: fc.constantFrom("put" as const, "delete" as const), key: fc.constantFrom("a", "b", "c"), value: fc.constant("v"), group: fc.integer({ min: 1, max: 3 }) });
    fc.assert(
      fc.property(fc.array(change, { maxLength: 60 }), fc.integer({ min: 1, max: 4 }), fc.nat({ max: 80 }), fc.constantFrom("a", "b", undefined), (changes, pageMax, from, only) => {
        const ring = new KvChangeRing(1_000, 1 << 20);
        const recorded: KvChange[] = [];
        let revision = 0;
        for (const c of changes) {
          revision += 1;
          for (let i = 0; i < c.group; i++) {
            const one = { type: c.type, key: c.key, value: c.value, revision };
            ring.record(one);
            recorded.push(one);
          }
        }
        const matches = only === undefined ? all : (k: string) => k === only;
        const start = Math.max(1, from);
        const got = readAll(ring, start, revision, pageMax, matches);
        assert.deepEqual(
          got,
          recorded.filter((c) => c.revision >= start && matches(c.key)),
        );
      }),
      { numRuns: 300 },
    );
  });

  test("beyond its count bound the ring drops the oldest and refuses a read from before them as compacted", () => {
    const ring = new KvChangeRing(3, 1 << 20);
    for (let r = 1; r <= 5; r++) ring.record({ type: "put", key: "k", value: "v", revision: r * 10 });
    assert.equal(ring.size, 3);
    assert.equal(ring.compactedThrough, 20);
    assert.deepEqual(ring.read(20, 50, all, { changesMax: 10, bytesMax: 1000 }), { status: "compacted", oldestRevision: 21 });
    const read = ring.read(21, 50, all, { changesMax: 10, bytesMax: 1000 });
    assert.equal(read.status, "ok");
    assert.deepEqual(read.status === "ok" ? read.changes.map((c) => c.revision) : [], [30, 40, 50]);
  });

  test("the byte bound drops old changes too", () => {
    const ring = new KvChangeRing(1_000, 200);
    for (let r = 1; r <= 10; r++) ring.record({ type: "put", key: "k", value: "v".repeat(20), revision: r });
    assert.ok(ring.size < 10 && ring.size >= 1);
    assert.equal(ring.compactedThrough, 10 - ring.size);
  });

  test("an empty answer continues after the applied index; a read from the future waits there", () => {
    const ring = new KvChangeRing(10, 1 << 20);
    ring.record({ type: "put", key: "k", value: "v", revision: 4 });
    assert.deepEqual(ring.read(5, 9, all, { changesMax: 10, bytesMax: 1000 }), { status: "ok", changes: [], nextRevision: 10 });
    assert.deepEqual(ring.read(20, 9, all, { changesMax: 10, bytesMax: 1000 }), { status: "ok", changes: [], nextRevision: 20 });
  });

  test("after a restore the history starts after the applied index, then just before the next change", () => {
    const kv = new KvStateMachine();
    kv.apply(1, encodeKvCommand({ op: "put", key: "k", value: "v" }));
    const restored = new KvStateMachine();
    restored.restore(kv.snapshot());
    assert.deepEqual(restored.changes.read(1, 7, all, { changesMax: 10, bytesMax: 1000 }), { status: "compacted", oldestRevision: 8 });
    restored.apply(9, encodeKvCommand({ op: "delete", key: "k" }));
    assert.equal(restored.changes.compactedThrough, 8);
    assert.equal(restored.changes.read(8, 9, all, { changesMax: 10, bytesMax: 1000 }).status, "compacted");
    const read = restored.changes.read(9, 9, all, { changesMax: 10, bytesMax: 1000 });
    assert.deepEqual(read, { status: "ok", changes: [{ type: "delete", key: "k", value: "", revision: 9 }], nextRevision: 10 });
  });

  test("recording out of revision order is a programmer error", () => {
    const ring = new KvChangeRing(10, 1000);
    ring.record({ type: "put", key: "k", value: "v", revision: 5 });
    assert.throws(() => ring.record({ type: "put", key: "k", value: "v", revision: 4 }));
  });
});
