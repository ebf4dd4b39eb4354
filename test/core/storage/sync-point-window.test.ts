// The "riding" sync point (docs/STORAGE.md, "The sync point window"): one fdatasync per
// appending persist, the sync point covering the previous batch written in the same fsync,
// flushed on its own when the log is idle; never a sync point past data whose fsync has not
// completed, so an honest disk always reopens.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { StorageError } from "../../../src/core/storage/raft-storage.ts";
import type { RaftStorage, StorageOptions } from "../../../src/core/storage/raft-storage.ts";
import { readSyncPoint } from "../../../src/core/storage/sync-point.ts";
import type { SyncPoint } from "../../../src/core/storage/sync-point.ts";
import { entries, hardState, makeWorld, openOk, openStore, persistNow, plain } from "./harness.ts";
import type { World } from "./harness.ts";

const SEGMENT = "wal-0000000000000001.log";
const LOSE_EVERYTHING_UNSYNCED = { crashLoseWriteProbability: 1, crashTearWriteProbability: 0, crashLoseDirectoryOperationProbability: 1 };

function syncPointOf(world: World, name = SEGMENT): SyncPoint | undefined {
  const read = readSyncPoint(world.disk.read(name)!);
  assert.ok(read === undefined || !("corrupt" in read), "sync point slots read as corrupt");
  return read;
}

/** A store with a term and `batches` one-entry appends, each acknowledged; returns it and the segment size after each batch. */
function appended(world: World, batches: number, options: StorageOptions = {}): { storage: RaftStorage; ends: number[] } {
  const storage = openOk(world, options);
  persistNow(world, storage, { hardState: hardState(1, 1, 0) });
  const ends: number[] = [];
  for (let i = 1; i <= batches; i++) {
    persistNow(world, storage, { entries: entries(i, i, 1) });
    ends.push(world.disk.size(SEGMENT)!);
  }
  return { storage, ends };
}

function crash(world: World): void {
  world.disk.crash();
  world.scheduler.clear();
}

function flush(world: World, storage: RaftStorage, whenIdle: boolean): void {
  let called = false;
  const done = (error: StorageError | undefined): void => {
    assert.equal(error, undefined);
    called = true;
  };
  if (whenIdle) storage.flushSyncPointWhenIdle(done);
  else storage.flushSyncPoint(done);
  world.scheduler.runUntilIdle();
  assert.ok(called, "flush did not call back");
}

describe("the riding sync point", () => {
  test("one fdatasync per appending persist; the sync point written with batch k covers batch k - 1", () => {
    const world = makeWorld(3);
    const { storage, ends } = appended(world, 2);
    assert.deepEqual(syncPointOf(world), { seq: 1, end: ends[0] }, "batch 2's fsync carried batch 1's sync point");
    const before = world.disk.stats();
    persistNow(world, storage, { entries: entries(3, 3, 1) });
    assert.equal(world.disk.stats().syncs - before.syncs, 1, "one fdatasync");
    assert.equal(world.disk.stats().writes - before.writes, 2, "the batch and the 32-byte slot");
    assert.deepEqual(syncPointOf(world), { seq: 2, end: ends[1] });
  });

  test("crash after a batch's fsync, before the next: every acknowledged entry comes back, the store is not corrupt", () => {
    for (let seed = 1; seed <= 40; seed++) {
      const world = makeWorld(seed, LOSE_EVERYTHING_UNSYNCED);
      const { ends } = appended(world, 1 + (seed % 5));
      crash(world);
      const reopened = openOk(world);
      assert.deepEqual(plain(reopened.recovered.entries), plain(entries(1, ends.length, 1)));
      // The newest batch lies beyond the durable sync point: the window.
      const point = syncPointOf(world);
      assert.equal(point?.end, ends.length >= 2 ? ends[ends.length - 2] : undefined);
    }
  });

  test("crash during the next append, at any disk event and any crash outcome: acknowledged entries come back, never corrupt", () => {
    let crashes = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const world = makeWorld(seed, { crashLoseWriteProbability: 0.5, crashTearWriteProbability: 0.5, crashLoseDirectoryOperationProbability: 0.5 });
      const { storage } = appended(world, 3);
      let acknowledged = 3;
      storage.persist({ snapshot: undefined, entries: entries(4, 5, 1), hardState: undefined }, true, (error) => {
        assert.equal(error, undefined);
        acknowledged = 5;
      });
      for (let k = 0; k < seed % 3 && world.scheduler.step(); k++);
      crash(world);
      crashes++;
      const result = openStore(world);
      if (result instanceof StorageError) assert.fail(`seed ${seed}: an honest disk read as corrupt: ${result.message}`);
      const recovered = result.recovered.entries.length;
      assert.ok(recovered >= acknowledged && recovered <= 5, `seed ${seed}: recovered ${recovered}, acknowledged ${acknowledged}`);
      assert.deepEqual(plain(result.recovered.entries), plain(entries(1, recovered, 1)));
    }
    assert.equal(crashes, 40);
  });

  test("idle flush: not after an append since the last check; then one write and one fdatasync that catch the sync point up; then nothing", () => {
    const world = makeWorld(4);
    const { storage, ends } = appended(world, 3);
    let before = world.disk.stats();
    flush(world, storage, true);
    assert.equal(world.disk.stats().syncs, before.syncs, "an append since the last check: not idle");
    flush(world, storage, true);
    assert.equal(world.disk.stats().syncs - before.syncs, 1);
    assert.equal(world.disk.stats().writes - before.writes, 1);
    assert.deepEqual(syncPointOf(world), { seq: 3, end: ends[2] }, "the sync point covers the newest batch");
    before = world.disk.stats();
    flush(world, storage, true);
    flush(world, storage, false);
    assert.deepEqual(world.disk.stats(), before, "caught up: no I/O");
    crash(world);
    assert.deepEqual(syncPointOf(world), { seq: 3, end: ends[2] }, "durable");
  });

  test("a persist called during an idle flush starts when the flush completes; both complete in order", () => {
    const world = makeWorld(5);
    const { storage } = appended(world, 2);
    const order: string[] = [];
    storage.flushSyncPoint((error) => {
      assert.equal(error, undefined);
      order.push("flush");
    });
    storage.persist({ snapshot: undefined, entries: entries(3, 3, 1), hardState: undefined }, true, (error) => {
      assert.equal(error, undefined);
      order.push("persist");
    });
    assert.throws(() => storage.persist({ snapshot: undefined, entries: [], hardState: undefined }, false, () => {}), /in flight/, "still one persist at a time");
    world.scheduler.runUntilIdle();
    assert.deepEqual(order, ["flush", "persist"]);
    crash(world);
    assert.deepEqual(plain(openOk(world).recovered.entries), plain(entries(1, 3, 1)));
  });

  test("reopen syncs the tail, and the first append after it carries a sync point over the recovered log", () => {
    const world = makeWorld(6);
    const { ends } = appended(world, 3);
    const before = world.disk.stats();
    const files = world.disk.list().length;
    const reopened = openOk(world);
    // Open makes every recovered file durable (after a process kill the kernel may still hold unsynced writes).
    assert.equal(world.disk.stats().syncs - before.syncs, files, "one fsync per recovered file at open");
    persistNow(world, reopened, { entries: entries(4, 4, 1) });
    assert.deepEqual(syncPointOf(world), { seq: 3, end: ends[2] }, "covers everything recovered");
  });

  test("a closed segment takes its sync point with it: the roll writes and syncs the last one", () => {
    const world = makeWorld(7);
    const storage = openOk(world, { segmentSizeBytes: 4096 });
    persistNow(world, storage, { hardState: hardState(1, 1, 0) });
    const big = (from: number, to: number) => entries(from, to, 1).map((e) => ({ ...e, data: new Uint8Array(1500).fill(e.index) }));
    persistNow(world, storage, { entries: big(1, 2) });
    persistNow(world, storage, { entries: big(3, 3) });
    const closedSize = world.disk.size(SEGMENT)!;
    persistNow(world, storage, { entries: big(4, 4) });
    assert.ok(world.disk.size("wal-0000000000000004.log")! > 0, "rolled");
    crash(world);
    assert.equal(syncPointOf(world)?.end, closedSize, "the closed segment's sync point covers all of it");
  });

  test("strict: two writes and two fdatasyncs per appending persist, the sync point covers the batch before the callback; flushes do nothing", () => {
    const world = makeWorld(8);
    const { storage, ends } = appended(world, 2, { syncPoints: "strict" });
    assert.deepEqual(syncPointOf(world), { seq: 2, end: ends[1] });
    const before = world.disk.stats();
    persistNow(world, storage, { entries: entries(3, 3, 1) });
    assert.equal(world.disk.stats().syncs - before.syncs, 2);
    assert.equal(world.disk.stats().writes - before.writes, 2);
    const afterPersist = world.disk.stats();
    flush(world, storage, false);
    assert.deepEqual(world.disk.stats(), afterPersist);
  });

  test("planted bug sync-point-covers-unsynced-batch: a crash inside the batch's fsync can leave an honest disk refused as corrupt", () => {
    let refused = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const world = makeWorld(seed, { crashLoseWriteProbability: 0.5, crashTearWriteProbability: 0.5, crashLoseDirectoryOperationProbability: 0.5 });
      const { storage } = appended(world, 2, { plantedBugs: new Set(["sync-point-covers-unsynced-batch"]) });
      storage.persist({ snapshot: undefined, entries: entries(3, 3, 1), hardState: undefined }, true, () => assert.fail("the crash comes first"));
      crash(world); // the batch and its slot were written, the fsync had not completed
      const result = openStore(world);
      if (!(result instanceof StorageError)) continue;
      assert.equal(result.code, "corrupt");
      assert.match(result.message, /sync point at \d+: acknowledged data lost/);
      refused++;
    }
    assert.ok(refused >= 1, `refused ${refused} of 40`);
  });
});
