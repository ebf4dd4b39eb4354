// A full disk during a persist (docs/STORAGE.md, "A full disk"): the write that does not fit
// is undone, the persist reports "no-space", the store stays open and consistent, and the same
// batch persisted again once there is room gives the log it would have given the first time.
// Every byte at which a batch can be cut short is tried, with a crash or a retry after it.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { DiskError } from "../../../src/core/env/environment.ts";
import type { Entry, HardState, Snapshot } from "../../../src/core/raft/types.ts";
import { RaftStorage, StorageError, parseSegmentFileName } from "../../../src/core/storage/raft-storage.ts";
import type { PersistBatch } from "../../../src/core/storage/raft-storage.ts";
import { BOOTSTRAP, entries, hardState, makeWorld, openOk, persistNow, plain } from "./harness.ts";
import type { World } from "./harness.ts";

const SMALL_SEGMENTS = { segmentSizeBytes: 4096 };

function sized(from: number, to: number, term: number, bytes: number): Entry[] {
  return entries(from, to, term).map((e) => ({ ...e, data: new Uint8Array(bytes).fill(e.index & 0xff) }));
}

function batchOf(batch: Partial<PersistBatch>): PersistBatch {
  return { snapshot: batch.snapshot, entries: batch.entries ?? [], hardState: batch.hardState };
}

/** Persists and runs the disk until the callback; returns its error. */
function persistResult(world: World, storage: RaftStorage, batch: PersistBatch, mustSync = true): StorageError | undefined {
  let result: { error: StorageError | undefined } | undefined;
  storage.persist(batch, mustSync, (error) => (result = { error }));
  world.scheduler.runUntilIdle();
  assert.ok(result !== undefined, "persist did not call back");
  return result.error;
}

/** Byte sizes of every file in the view. */
function sizes(world: World): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of world.disk.list()) out[name] = world.disk.size(name)!;
  return out;
}

/** A store with a term, five acknowledged entries and an unsynced commit of 4: the "before" state of each case. */
function prepared(seed: number, options = {}): { world: World; storage: RaftStorage } {
  const world = makeWorld(seed);
  const storage = openOk(world, options);
  persistNow(world, storage, { hardState: hardState(1, 1, 0) });
  persistNow(world, storage, { entries: sized(1, 5, 1, 200), hardState: hardState(1, 1, 3) });
  persistNow(world, storage, { hardState: hardState(1, 1, 4) }, false);
  return { world, storage };
}

const ACKNOWLEDGED = plain(sized(1, 5, 1, 200));

interface Case {
  readonly name: string;
  readonly options?: { segmentSizeBytes: number };
  readonly batch: PersistBatch;
  /** The log after the batch, when it went through. */
  readonly after: ReturnType<typeof plain>;
  readonly hardStateAfter: HardState;
}

const CASES: readonly Case[] = [
  { name: "an append to the tail", batch: batchOf({ entries: sized(6, 9, 1, 300), hardState: hardState(1, 1, 6) }), after: plain([...sized(1, 5, 1, 200), ...sized(6, 9, 1, 300)]), hardStateAfter: hardState(1, 1, 6) },
  {
    name: "a new term and vote with a replacing suffix",
    batch: batchOf({ entries: sized(5, 7, 2, 300), hardState: hardState(2, 2, 4) }),
    after: plain([...sized(1, 4, 1, 200), ...sized(5, 7, 2, 300)]),
    hardStateAfter: hardState(2, 2, 4),
  },
  {
    name: "an append that rolls to a new segment",
    options: SMALL_SEGMENTS,
    batch: batchOf({ entries: sized(6, 8, 1, 2000), hardState: hardState(1, 1, 5) }),
    after: plain([...sized(1, 5, 1, 200), ...sized(6, 8, 1, 2000)]),
    hardStateAfter: hardState(1, 1, 5),
  },
];

/** Every capacity from "nothing more fits" to "the batch just fits", in steps of `stepBytes`. */
function capacitiesFor(testCase: Case, seed: number, stepBytes: number): number[] {
  const { world, storage } = prepared(seed, testCase.options);
  const used = world.disk.usedBytes();
  assert.equal(persistResult(world, storage, testCase.batch), undefined);
  // What the batch needs at most: its bytes plus a temporary hard state file.
  const needed = world.disk.usedBytes() - used + 200;
  const out: number[] = [];
  for (let extra = 0; extra <= needed; extra += stepBytes) out.push(used + extra);
  return out;
}

describe("RaftStorage on a full disk", () => {
  for (const testCase of CASES) {
    test(`${testCase.name}: cut short at every byte, the store is as before; the retry gives the log`, () => {
      let refused = 0;
      for (const capacity of capacitiesFor(testCase, 1, 1)) {
        const { world, storage } = prepared(1, testCase.options);
        const before = sizes(world);
        world.disk.setCapacityBytes(capacity);
        const error = persistResult(world, storage, testCase.batch);
        if (error !== undefined) {
          refused += 1;
          assert.equal(error.code, "no-space", error.message);
          assert.match(error.message, /no space left/);
          // Undone: no file grew and no temporary file or new segment stayed (a hard state already renamed in is done, not partial).
          for (const [name, size] of Object.entries(sizes(world))) {
            if (name === "hardstate") continue;
            assert.ok(before[name] !== undefined && size <= before[name]!, `${name} grew to ${size} (was ${before[name]}) after a refused persist`);
          }
          assert.ok(!world.disk.list().some((name) => name.endsWith(".tmp")), "a temporary file stayed behind");
          world.disk.setCapacityBytes(Number.POSITIVE_INFINITY);
          assert.equal(persistResult(world, storage, testCase.batch), undefined, "the retry failed");
        }
        for (const store of [openOk(world, testCase.options), (world.disk.crash(), world.scheduler.clear(), openOk(world, testCase.options))]) {
          assert.deepEqual(plain(store.recovered.entries), testCase.after, `capacity ${capacity}`);
          assert.equal(store.recovered.hardState.term, testCase.hardStateAfter.term);
          assert.equal(store.recovered.hardState.vote, testCase.hardStateAfter.vote);
        }
      }
      assert.ok(refused > 100, `only ${refused} capacities refused the batch`);
    });

    test(`${testCase.name}: a crash after the refused persist recovers the acknowledged log (and maybe a prefix of the batch)`, () => {
      for (let seed = 1; seed <= 6; seed++) {
        for (const capacity of capacitiesFor(testCase, seed, 7)) {
          const { world, storage } = prepared(seed, testCase.options);
          world.disk.setCapacityBytes(capacity);
          const error = persistResult(world, storage, testCase.batch);
          if (error === undefined) continue;
          world.disk.crash();
          world.scheduler.clear();
          world.disk.setCapacityBytes(Number.POSITIVE_INFINITY);
          const store = openOk(world, testCase.options);
          const recovered = plain(store.recovered.entries);
          const first = testCase.batch.entries[0]!.index;
          // Every acknowledged entry the batch does not replace is there; after them only entries of the batch.
          assert.deepEqual(recovered.slice(0, first - 1), ACKNOWLEDGED.slice(0, first - 1), `seed ${seed} capacity ${capacity}`);
          const rest = recovered.slice(first - 1);
          const batchEntries = plain(testCase.batch.entries);
          const oldEntries = ACKNOWLEDGED.slice(first - 1);
          const isPrefixOf = (log: typeof rest) => rest.every((entry, i) => JSON.stringify(entry) === JSON.stringify(log[i]));
          assert.ok(isPrefixOf(batchEntries) || isPrefixOf(oldEntries), `seed ${seed} capacity ${capacity}: recovered ${JSON.stringify(rest.map((e) => e.slice(0, 2)))}`);
          // The store works on: the batch persists now.
          assert.equal(persistResult(world, store, testCase.batch), undefined);
        }
      }
    });
  }

  test("a commit mark alone that does not fit is left out, and the persist succeeds; the next batch that fits records it", () => {
    const { world, storage } = prepared(2);
    world.disk.setCapacityBytes(world.disk.usedBytes());
    assert.equal(persistResult(world, storage, batchOf({ hardState: hardState(1, 1, 5) }), false), undefined);
    assert.equal(storage.stats().commitMarksSkipped, 1);
    assert.equal(openOk(world).recovered.hardState.commit, 4, "the mark was left out: recovery returns the older commit");
    world.disk.setCapacityBytes(Number.POSITIVE_INFINITY);
    persistNow(world, storage, { entries: sized(6, 6, 1, 10), hardState: hardState(1, 1, 5) });
    assert.equal(openOk(world).recovered.hardState.commit, 5);
  });

  test("a received snapshot installed before the disk filled is not installed twice by the retry", () => {
    const { world, storage } = prepared(5);
    const snapshot: Snapshot = { metadata: { index: 20, term: 2, confState: BOOTSTRAP }, data: new Uint8Array(64).fill(7) };
    const batch = batchOf({ snapshot, entries: sized(21, 23, 2, 2000), hardState: hardState(2, 3, 20) });
    // Room for the hard state and the snapshot file (and the log they free), not for the entries after it.
    world.disk.setCapacityBytes(world.disk.usedBytes() + 400);
    const error = persistResult(world, storage, batch);
    assert.equal(error?.code, "no-space");
    world.disk.setCapacityBytes(Number.POSITIVE_INFINITY);
    assert.equal(persistResult(world, storage, batch), undefined);
    const reopened = openOk(world);
    assert.equal(reopened.recovered.snapshot?.metadata.index, 20);
    assert.deepEqual(plain(reopened.recovered.entries), plain(sized(21, 23, 2, 2000)));
    assert.equal(world.disk.list().filter((name) => parseSegmentFileName(name) !== undefined).length, 1);
  });

  test("reopening a store on a full disk writes nothing new: it opens after a crash, and appends once there is room", () => {
    for (let seed = 1; seed <= 8; seed++) {
      const { world, storage } = prepared(seed);
      // An unsynced append, so the crash leaves a torn tail for open to cut.
      storage.persist(batchOf({ entries: sized(6, 8, 1, 500) }), true, () => {});
      world.disk.crash();
      world.scheduler.clear();
      world.disk.setCapacityBytes(world.disk.usedBytes());
      const reopened = openOk(world);
      assert.deepEqual(plain(reopened.recovered.entries).slice(0, 5), ACKNOWLEDGED, `seed ${seed}`);
      const next = reopened.stats().lastIndex + 1;
      world.disk.setCapacityBytes(world.disk.usedBytes()); // cutting the torn tail freed some
      assert.equal(persistResult(world, reopened, batchOf({ entries: sized(next, next, 1, 500) }))?.code, "no-space");
      world.disk.setCapacityBytes(Number.POSITIVE_INFINITY);
      assert.equal(persistResult(world, reopened, batchOf({ entries: sized(next, next, 1, 500) })), undefined);
    }
  });

  test("a full disk at a flush is still fatal: after a failed fsync the page cache cannot be trusted", () => {
    const { world, storage } = prepared(6);
    const originalSync = world.disk.sync.bind(world.disk);
    world.disk.sync = (name, done) => originalSync(name, () => done(new DiskError("ENOSPC", "injected at fsync")));
    const error = persistResult(world, storage, batchOf({ entries: sized(6, 6, 1, 10) }));
    assert.equal(error?.code, "io");
    assert.equal(persistResult(world, storage, batchOf({ entries: [] }), false), error, "the store stays failed");
  });

  test("a snapshot that does not fit changes nothing; compaction succeeds later", () => {
    const { world, storage } = prepared(7);
    persistNow(world, storage, { hardState: hardState(1, 1, 5) });
    world.disk.setCapacityBytes(world.disk.usedBytes() + 10);
    const snapshot: Snapshot = { metadata: { index: 4, term: 1, confState: BOOTSTRAP }, data: new Uint8Array(100) };
    const results: Array<StorageError | undefined> = [];
    storage.saveSnapshot(snapshot, (error) => results.push(error));
    world.scheduler.runUntilIdle();
    assert.equal(results[0]?.code, "no-space");
    assert.ok(!world.disk.list().some((name) => name.endsWith(".tmp")));
    world.disk.setCapacityBytes(Number.POSITIVE_INFINITY);
    storage.saveSnapshot(snapshot, (error) => results.push(error));
    world.scheduler.runUntilIdle();
    assert.equal(results.length, 2);
    assert.equal(results[1], undefined);
    assert.equal(openOk(world).recovered.snapshot?.metadata.index, 4);
  });
});
