// The gap docs/STORAGE.md used to list: a misdirected write that leaves its own range of the
// last segment zero-filled looked like a torn tail, so an acknowledged batch at the end of the
// log was dropped silently. With the segment's durable sync point, a torn-looking gap before
// the point is "corrupt" (the node refuses to start), never truncated.
// Before the sync point existed this test failed: most seeds recovered with the last
// acknowledged batch missing.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { StorageError } from "../../../src/core/storage/raft-storage.ts";
import { entries, hardState, makeWorld, openOk, openStore, persistNow } from "./harness.ts";

/** Bytes of a segment before its first record that a misdirected write may not touch (header and sync point slots). */
const SEGMENT_METADATA_BYTES = 104;

describe("misdirected writes", () => {
  test("a misdirected append at the end of the log is refused as corrupt, never read as a torn tail", () => {
    let refused = 0;
    let misdirected = 0;
    for (let seed = 1; seed <= 60; seed++) {
      let consent = false;
      const world = makeWorld(seed, {
        misdirectedWriteProbability: 0.1,
        // Only appends of entries are misdirected: the metadata at the segment's start is the storage layer's own trust anchor.
        mayCorrupt: (name, offset) => consent && name.startsWith("wal-") && offset >= SEGMENT_METADATA_BYTES,
      });
      const storage = openOk(world);
      persistNow(world, storage, { hardState: hardState(1, 1, 0) });
      let last = 0;
      for (let i = 1; i <= 4; i++) persistNow(world, storage, { entries: entries(++last, last, 1) });
      consent = true;
      const before = world.disk.stats().misdirectedWrites;
      while (world.disk.stats().misdirectedWrites === before && last < 200) persistNow(world, storage, { entries: entries(++last, last, 1) });
      consent = false;
      if (world.disk.stats().misdirectedWrites === before) continue;
      misdirected++;
      // Every batch up to `last` was acknowledged (persist with mustSync called back): the crash may not lose any.
      world.disk.crash();
      world.scheduler.clear();
      const result = openStore(world);
      if (result instanceof StorageError) {
        assert.equal(result.code, "corrupt", result.message);
        refused++;
        continue;
      }
      const indexes = result.recovered.entries.map((e) => e.index);
      assert.equal(indexes.at(-1), last, `seed ${seed}: recovered up to ${indexes.at(-1)}, acknowledged up to ${last}`);
      assert.deepEqual(result.recovered.entries.map((e) => new TextDecoder().decode(e.data)), entries(1, last, 1).map((e) => new TextDecoder().decode(e.data)));
    }
    assert.ok(misdirected >= 20, `expected misdirected appends, got ${misdirected}`);
    assert.ok(refused >= 10, `expected refusals, got ${refused}`);
  });

  test("syncPoints off: one write and one fdatasync per appending persist, as before; the store reopens either way", () => {
    const world = makeWorld(9);
    const storage = openOk(world, { syncPoints: false });
    persistNow(world, storage, { hardState: hardState(1, 1, 0) });
    const before = world.disk.stats();
    persistNow(world, storage, { entries: entries(1, 3, 1) });
    assert.equal(world.disk.stats().writes - before.writes, 1);
    assert.equal(world.disk.stats().syncs - before.syncs, 1);
    world.disk.crash();
    world.scheduler.clear();
    const reopened = openOk(world);
    assert.equal(reopened.recovered.entries.length, 3);
    persistNow(world, reopened, { entries: entries(4, 4, 1) });
    world.disk.crash();
    world.scheduler.clear();
    assert.equal(openOk(world, { syncPoints: false }).recovered.entries.length, 4);
  });

  test("the zero-filled range an append left is named: the file, its offset, and the sync point it falls before", () => {
    const world = makeWorld(5, { misdirectedWriteProbability: 0.1, mayCorrupt: (_name, offset) => offset >= SEGMENT_METADATA_BYTES });
    const storage = openOk(world);
    persistNow(world, storage, { hardState: hardState(1, 1, 0) });
    let last = 0;
    while (world.disk.stats().misdirectedWrites === 0 && last < 500) persistNow(world, storage, { entries: entries(++last, last, 1) });
    assert.ok(world.disk.stats().misdirectedWrites > 0);
    const result = openStore(world);
    assert.ok(result instanceof StorageError, "refused");
    assert.equal(result.code, "corrupt");
    assert.equal(result.file, "wal-0000000000000001.log");
    assert.ok(!result.message.includes("\n"));
  });
});
