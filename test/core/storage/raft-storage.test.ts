import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { DiskError } from "../../../src/core/env/environment.ts";
import type { Entry, Snapshot } from "../../../src/core/raft/types.ts";
import { RaftStorage, StorageError, parseSegmentFileName } from "../../../src/core/storage/raft-storage.ts";
import { RECORD_HEADER_BYTES } from "../../../src/core/storage/record.ts";
import { ENTRY_PAYLOAD_FIXED_BYTES } from "../../../src/core/storage/formats.ts";
import { SEGMENT_DATA_START } from "../../../src/core/storage/sync-point.ts";
import { BOOTSTRAP, entries, hardState, makeWorld, openOk, openStore, persistNow, plain, saveSnapshotNow } from "./harness.ts";
import type { World } from "./harness.ts";

const SMALL_SEGMENTS = { segmentSizeBytes: 4096 };
const NO_CRASH_LOSS = { crashLoseWriteProbability: 0, crashTearWriteProbability: 0, crashLoseDirectoryOperationProbability: 0 };

function bigEntries(from: number, to: number, term: number, bytes = 1500): Entry[] {
  return entries(from, to, term).map((e) => ({ ...e, data: new Uint8Array(bytes).fill(e.index & 0xff) }));
}

function segmentNames(world: World): string[] {
  return world.disk.list().filter((name) => parseSegmentFileName(name) !== undefined);
}

function crashAndOpen(world: World, options = {}): RaftStorage {
  world.disk.crash();
  world.scheduler.clear();
  return openOk(world, options);
}

function expectCorrupt(world: World, file: string, offset: number): StorageError {
  const result = openStore(world);
  assert.ok(result instanceof StorageError, "open should refuse a corrupt store");
  assert.equal(result.code, "corrupt");
  assert.equal(result.file, file);
  assert.equal(result.offset, offset);
  assert.match(result.message, new RegExp(`${file} at offset ${offset}`));
  assert.ok(!result.message.includes("\n"), "one-line message");
  return result;
}

/** Offset of the k-th (0-based) entry record in the first segment when every entry is `dataBytes` long. */
function entryRecordOffset(k: number, dataBytes: number): number {
  return SEGMENT_DATA_START + k * (RECORD_HEADER_BYTES + ENTRY_PAYLOAD_FIXED_BYTES + dataBytes);
}

describe("RaftStorage", () => {
  test("a new store recovers the zero state with the bootstrap membership and writes its identity", () => {
    const world = makeWorld();
    const storage = openOk(world);
    assert.deepEqual(storage.recovered, { hardState: { term: 0, vote: 0, commit: 0 }, snapshot: undefined, entries: [], confState: BOOTSTRAP });
    assert.deepEqual(world.disk.list(), ["identity"]);
    // The identity is durable: it survives a crash right after open.
    const again = crashAndOpen(world);
    assert.deepEqual(again.recovered.confState, BOOTSTRAP);
  });

  test("round trip: hard state, entries and commit survive reopen and a crash after sync", () => {
    const world = makeWorld(3);
    const storage = openOk(world);
    persistNow(world, storage, { hardState: hardState(1, 1, 0) });
    persistNow(world, storage, { entries: entries(1, 5, 1), hardState: hardState(1, 1, 2) });
    persistNow(world, storage, { entries: [{ index: 6, term: 1, type: "conf-change", data: new Uint8Array([1, 2, 3]) }], hardState: hardState(1, 1, 6) });
    const reopened = openOk(world);
    const crashed = crashAndOpen(world);
    for (const store of [reopened, crashed]) {
      assert.deepEqual(store.recovered.hardState, { term: 1, vote: 1, commit: 6 });
      assert.deepEqual(plain(store.recovered.entries), [...plain(entries(1, 5, 1)), [6, 1, "conf-change", "\u0001\u0002\u0003"]]);
      assert.equal(store.recovered.snapshot, undefined);
    }
    assert.deepEqual(crashed.stats().lastIndex, 6);
  });

  test("reopening keeps the bootstrap membership the store was created with", () => {
    const world = makeWorld();
    openOk(world);
    let result: RaftStorage | StorageError | undefined;
    RaftStorage.open(world.disk, { nodeId: 1, clusterId: "test-cluster" }, { voters: [1], learners: [] }, {}, (r) => (result = r));
    world.scheduler.runUntilIdle();
    assert.ok(result instanceof RaftStorage);
    assert.deepEqual(result.recovered.confState, BOOTSTRAP);
  });

  test("a directory of another node or cluster is refused with identity-mismatch, before its log is read", () => {
    const world = makeWorld();
    const storage = openOk(world);
    persistNow(world, storage, { entries: entries(1, 3, 1), hardState: hardState(1, 1, 0) });
    world.disk.flipBit("wal-0000000000000001.log", 50);
    for (const other of [{ nodeId: 2, clusterId: "test-cluster" }, { nodeId: 1, clusterId: "another" }]) {
      const result = openStore(world, {}, other);
      assert.ok(result instanceof StorageError);
      assert.equal(result.code, "identity-mismatch");
      assert.equal(
        result.message,
        `data directory belongs to node 1 of cluster "test-cluster", not to node ${other.nodeId} of cluster "${other.clusterId}"`,
      );
    }
  });

  test("an entry at an index already stored replaces it and everything after it, within and across segments", () => {
    const world = makeWorld(5, NO_CRASH_LOSS);
    const storage = openOk(world, SMALL_SEGMENTS);
    persistNow(world, storage, { hardState: hardState(1, 1, 0) });
    for (let i = 1; i <= 12; i += 2) persistNow(world, storage, { entries: bigEntries(i, i + 1, 1) });
    assert.ok(segmentNames(world).length >= 3, "the entries span several segments");
    // Within the tail segment.
    persistNow(world, storage, { entries: bigEntries(12, 12, 2), hardState: hardState(2, 0, 0) });
    // Across segments: back to index 3.
    persistNow(world, storage, { entries: bigEntries(3, 4, 3), hardState: hardState(3, 0, 0) });
    const expected = [...plain(bigEntries(1, 2, 1)), ...plain(bigEntries(3, 4, 3))];
    const names = segmentNames(world);
    assert.deepEqual(names, [...names].sort(), "segment names stay in log order");
    for (const store of [openOk(world, SMALL_SEGMENTS), crashAndOpen(world, SMALL_SEGMENTS)]) {
      assert.deepEqual(plain(store.recovered.entries), expected);
      assert.equal(store.recovered.hardState.term, 3);
    }
  });

  test("segments roll at the size limit and every batch is one write", () => {
    const world = makeWorld();
    const storage = openOk(world, SMALL_SEGMENTS);
    persistNow(world, storage, { hardState: hardState(1, 1, 0) });
    const before = world.disk.stats();
    persistNow(world, storage, { entries: bigEntries(1, 3, 1) });
    assert.equal(world.disk.stats().writes - before.writes, 1, "one write for the whole batch (a new segment: no earlier batch for a sync point to cover)");
    assert.equal(world.disk.stats().syncs - before.syncs, 1, "one fdatasync: the batch's");
    assert.equal(world.disk.stats().directorySyncs - before.directorySyncs, 1);
    persistNow(world, storage, { entries: bigEntries(4, 4, 1) });
    assert.equal(storage.stats().segments, 2);
    assert.deepEqual(segmentNames(world), ["wal-0000000000000001.log", "wal-0000000000000004.log"]);
    assert.equal(storage.stats().walBytes, segmentNames(world).reduce((sum, name) => sum + world.disk.size(name)!, 0));
  });

  test("saveSnapshot writes the snapshot atomically and drops obsolete segments and older snapshots", () => {
    const world = makeWorld(9, NO_CRASH_LOSS);
    const storage = openOk(world, SMALL_SEGMENTS);
    persistNow(world, storage, { hardState: hardState(1, 1, 0) });
    for (let i = 1; i <= 20; i += 2) persistNow(world, storage, { entries: bigEntries(i, i + 1, 1), hardState: hardState(1, 1, i + 1) });
    const segmentsBefore = storage.stats().segments;
    const first: Snapshot = { metadata: { index: 5, term: 1, confState: BOOTSTRAP }, data: new TextEncoder().encode("state@5") };
    saveSnapshotNow(world, storage, first);
    const second: Snapshot = { metadata: { index: 14, term: 1, confState: { voters: [1, 2], learners: [3] } }, data: new TextEncoder().encode("state@14") };
    saveSnapshotNow(world, storage, second);
    assert.ok(storage.stats().segments < segmentsBefore, "obsolete segments removed");
    assert.equal(storage.stats().snapshotIndex, 14);
    assert.deepEqual(world.disk.list().filter((n) => n.startsWith("snapshot-")), ["snapshot-000000000000000e.snap"]);
    for (const name of segmentNames(world)) assert.ok(parseSegmentFileName(name)! > 10, `segment ${name} holds only entries <= 14 and should be gone`);
    for (const store of [openOk(world, SMALL_SEGMENTS), crashAndOpen(world, SMALL_SEGMENTS)]) {
      const { snapshot } = store.recovered;
      assert.deepEqual(snapshot?.metadata, second.metadata);
      assert.equal(new TextDecoder().decode(snapshot!.data), "state@14");
      assert.deepEqual(store.recovered.confState, second.metadata.confState);
      assert.deepEqual(plain(store.recovered.entries), plain(bigEntries(15, 20, 1)));
      assert.equal(store.recovered.hardState.commit, 20);
    }
  });

  test("a received snapshot replaces the whole log", () => {
    const world = makeWorld(11, NO_CRASH_LOSS);
    const storage = openOk(world, SMALL_SEGMENTS);
    persistNow(world, storage, { hardState: hardState(1, 1, 0) });
    for (let i = 1; i <= 10; i += 2) persistNow(world, storage, { entries: bigEntries(i, i + 1, 1), hardState: hardState(1, 1, Math.min(i, 3)) });
    const snapshot: Snapshot = { metadata: { index: 8, term: 2, confState: BOOTSTRAP }, data: new TextEncoder().encode("leader@8") };
    persistNow(world, storage, { snapshot, entries: entries(9, 10, 3), hardState: hardState(3, 0, 8) });
    assert.deepEqual(segmentNames(world), ["wal-0000000000000009.log"]);
    for (const store of [openOk(world, SMALL_SEGMENTS), crashAndOpen(world, SMALL_SEGMENTS)]) {
      assert.equal(store.recovered.snapshot?.metadata.index, 8);
      assert.deepEqual(plain(store.recovered.entries), plain(entries(9, 10, 3)));
      assert.deepEqual(store.recovered.hardState, { term: 3, vote: 0, commit: 8 });
    }
  });

  test("a torn tail is truncated, and appends after it survive the next restart", () => {
    const world = makeWorld(13, { crashLoseWriteProbability: 0, crashTearWriteProbability: 1, crashLoseDirectoryOperationProbability: 0 });
    const storage = openOk(world);
    persistNow(world, storage, { hardState: hardState(1, 1, 0) });
    persistNow(world, storage, { entries: bigEntries(1, 3, 1, 200) });
    persistNow(world, storage, { entries: bigEntries(4, 8, 1, 200) }, false); // written, not synced
    const sizeBefore = world.disk.size("wal-0000000000000001.log")!;
    world.disk.crash();
    world.scheduler.clear();
    assert.equal(world.disk.stats().tornWrites, 1);
    const recovered = openOk(world);
    const count = recovered.recovered.entries.length;
    assert.ok(count >= 3 && count < 8, `a prefix of the torn batch at most (${count} entries)`);
    assert.deepEqual(plain(recovered.recovered.entries), plain(bigEntries(1, count, 1, 200)));
    assert.ok(world.disk.size("wal-0000000000000001.log")! < sizeBefore, "the torn bytes were cut off");
    persistNow(world, recovered, { entries: bigEntries(count + 1, count + 2, 1, 200) });
    const after = crashAndOpen(world);
    assert.deepEqual(plain(after.recovered.entries), plain(bigEntries(1, count + 2, 1, 200)));
  });

  test("a flipped bit in the middle of a segment is corrupt, naming the file and the record's offset", () => {
    for (const [what, delta] of [["payload", RECORD_HEADER_BYTES + ENTRY_PAYLOAD_FIXED_BYTES + 10], ["length field", 1], ["payload checksum", 9]] as const) {
      const world = makeWorld(17);
      const storage = openOk(world);
      persistNow(world, storage, { hardState: hardState(1, 1, 0) });
      for (let i = 1; i <= 6; i++) persistNow(world, storage, { entries: bigEntries(i, i, 1, 100) });
      const offset = entryRecordOffset(2, 100);
      world.disk.flipBit("wal-0000000000000001.log", offset + delta, 3);
      const error = expectCorrupt(world, "wal-0000000000000001.log", offset);
      assert.match(error.message, /checksum mismatch/, what);
    }
  });

  test("a flipped bit in the last record of a synced segment is corrupt too, not a torn tail", () => {
    const world = makeWorld(19);
    const storage = openOk(world);
    persistNow(world, storage, { hardState: hardState(1, 1, 0) });
    for (let i = 1; i <= 3; i++) persistNow(world, storage, { entries: bigEntries(i, i, 1, 100) });
    world.disk.flipBit("wal-0000000000000001.log", entryRecordOffset(2, 100) + RECORD_HEADER_BYTES + 30);
    expectCorrupt(world, "wal-0000000000000001.log", entryRecordOffset(2, 100));
  });

  test("corrupt hard state, snapshot and identity files are refused", () => {
    const world = makeWorld(23);
    const storage = openOk(world);
    persistNow(world, storage, { hardState: hardState(1, 1, 0) });
    persistNow(world, storage, { entries: entries(1, 4, 1), hardState: hardState(1, 1, 4) });
    saveSnapshotNow(world, storage, { metadata: { index: 3, term: 1, confState: BOOTSTRAP }, data: new Uint8Array(64) });
    for (const name of ["hardstate", "snapshot-0000000000000003.snap", "identity"]) {
      world.disk.flipBit(name, RECORD_HEADER_BYTES + 2);
      const error = expectCorrupt(world, name, 0);
      assert.match(error.message, /checksum mismatch/);
      world.disk.flipBit(name, RECORD_HEADER_BYTES + 2); // repair for the next file
    }
    assert.ok(openOk(world) instanceof RaftStorage);
  });

  test("Raft data without an identity file is corrupt, not a new store", () => {
    const world = makeWorld();
    const storage = openOk(world);
    persistNow(world, storage, { hardState: hardState(1, 1, 0) });
    world.disk.remove("identity");
    const error = expectCorrupt(world, "identity", 0);
    assert.match(error.message, /missing/);
  });

  test("done runs before persist returns when nothing waits for the disk, unless options.defer is given", () => {
    const world = makeWorld();
    const storage = openOk(world);
    persistNow(world, storage, { hardState: hardState(1, 1, 0) });
    persistNow(world, storage, { entries: entries(1, 3, 1) });
    let called = false;
    storage.persist({ snapshot: undefined, entries: [], hardState: hardState(1, 1, 2) }, false, () => (called = true));
    assert.ok(called);

    const deferred: Array<() => void> = [];
    const other = makeWorld();
    const store = openOk(other, { defer: (callback) => deferred.push(callback) });
    called = false;
    store.persist({ snapshot: undefined, entries: [], hardState: undefined }, false, () => (called = true));
    assert.ok(!called);
    assert.equal(deferred.length, 1);
    deferred[0]!();
    assert.ok(called);
  });

  test("a commit is durable with the next synced batch even when it arrived in an unsynced one", () => {
    const world = makeWorld(29);
    const storage = openOk(world);
    persistNow(world, storage, { hardState: hardState(1, 1, 0) });
    persistNow(world, storage, { entries: entries(1, 5, 1) });
    persistNow(world, storage, { hardState: hardState(1, 1, 4) }, false);
    persistNow(world, storage, { entries: entries(6, 6, 1) });
    assert.equal(crashAndOpen(world).recovered.hardState.commit, 4);
  });

  test("an unsynced commit record in a full segment is synced before the next segment is created", () => {
    for (let seed = 1; seed <= 20; seed++) {
      const world = makeWorld(seed, { crashLoseWriteProbability: 0, crashTearWriteProbability: 1, crashLoseDirectoryOperationProbability: 0 });
      const storage = openOk(world, SMALL_SEGMENTS);
      persistNow(world, storage, { hardState: hardState(1, 1, 0) });
      persistNow(world, storage, { entries: bigEntries(1, 3, 1) });
      persistNow(world, storage, { hardState: hardState(1, 1, 2) }, false);
      persistNow(world, storage, { entries: bigEntries(4, 4, 1) });
      assert.equal(storage.stats().segments, 2);
      const recovered = crashAndOpen(world, SMALL_SEGMENTS);
      assert.equal(recovered.recovered.entries.length, 4);
      assert.equal(recovered.recovered.hardState.commit, 2);
    }
  });

  test("a disk error fails the persist with an io StorageError, and every later call with the same error", () => {
    const world = makeWorld();
    const storage = openOk(world);
    const failing = world.disk;
    const originalSync = failing.sync.bind(failing);
    failing.sync = (name, done) => originalSync(name, () => done(new DiskError("EIO", "injected failure")));
    let first: StorageError | undefined;
    storage.persist({ snapshot: undefined, entries: entries(1, 1, 1), hardState: hardState(1, 1, 0) }, true, (error) => (first = error));
    world.scheduler.runUntilIdle();
    assert.ok(first instanceof StorageError);
    assert.equal(first.code, "io");
    assert.match(first.message, /EIO/);
    let second: StorageError | undefined;
    storage.persist({ snapshot: undefined, entries: [], hardState: undefined }, false, (error) => (second = error));
    assert.equal(second, first);
  });

  test("pair assertions: a batch that does not extend the log is a programmer error", () => {
    const world = makeWorld();
    const storage = openOk(world);
    persistNow(world, storage, { hardState: hardState(2, 1, 0) });
    persistNow(world, storage, { entries: entries(1, 3, 2) });
    const noop = () => {};
    assert.throws(() => storage.persist({ snapshot: undefined, entries: entries(5, 5, 2), hardState: undefined }, true, noop), /do not extend/);
    assert.throws(() => storage.persist({ snapshot: undefined, entries: entries(4, 4, 1), hardState: undefined }, true, noop), /term 1 after term 2/);
    assert.throws(() => storage.persist({ snapshot: undefined, entries: entries(4, 4, 3), hardState: undefined }, true, noop), /above the current term/);
    assert.throws(() => storage.persist({ snapshot: undefined, entries: [], hardState: hardState(2, 3, 0) }, true, noop), /vote changed/);
    assert.throws(() => storage.persist({ snapshot: undefined, entries: [], hardState: hardState(1, 1, 0) }, true, noop), /below the current term/);
    assert.throws(() => storage.persist({ snapshot: undefined, entries: [], hardState: hardState(2, 1, 9) }, true, noop), /beyond the last index/);
    storage.persist({ snapshot: undefined, entries: entries(4, 4, 2), hardState: undefined }, true, noop);
    assert.throws(() => storage.persist({ snapshot: undefined, entries: [], hardState: undefined }, true, noop), /in flight/);
  });
});
