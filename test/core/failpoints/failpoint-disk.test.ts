// The storage failpoints as a Disk over a Disk (src/core/failpoints/failpoint-disk.ts): off, every
// operation reaches the disk unchanged; return(ARG) becomes the DiskError the disk would have
// given (before the write lands, or after it did), never re-entrantly for a sync; delay(MS)
// postpones the sync's start or its completion by MS on the given timers; and RaftStorage, over
// it, takes its own error paths (an undone write, a failed persist, a failed snapshot).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { DiskError, type Failpoint, type FailpointVerdict, type Timers } from "../../../src/core/env/environment.ts";
import type { FailpointName } from "../../../src/core/env/failpoints.ts";
import { FailpointDisk } from "../../../src/core/failpoints/failpoint-disk.ts";
import { SimDisk } from "../../../src/core/sim/sim-disk.ts";
import { RaftStorage } from "../../../src/core/storage/raft-storage.ts";
import { StorageError } from "../../../src/core/storage/storage-error.ts";
import { BOOTSTRAP, IDENTITY, seededRandom, ToyScheduler } from "../storage/harness.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

/** A hook that answers `verdicts[name]` and counts every evaluation. */
function hookOf(verdicts: Partial<Record<FailpointName, FailpointVerdict>>): { hook: Failpoint; evaluated: Map<string, number> } {
  const evaluated = new Map<string, number>();
  return {
    evaluated,
    hook: (name) => {
      evaluated.set(name, (evaluated.get(name) ?? 0) + 1);
      return verdicts[name];
    },
  };
}

function setup(verdicts: Partial<Record<FailpointName, FailpointVerdict>>) {
  const scheduler = new ToyScheduler();
  const inner = new SimDisk({ random: seededRandom(1), schedule: scheduler.schedule, faults: { fsyncLatencyMs: [1, 1], writeLatencyMs: [0, 0] } });
  const timers: Timers = {
    after: (delayMs, callback) => {
      scheduler.schedule(delayMs, callback);
      return 0;
    },
    cancel: () => {},
  };
  const { hook, evaluated } = hookOf(verdicts);
  return { scheduler, inner, disk: new FailpointDisk(inner, hook, timers), evaluated };
}

const EIO: FailpointVerdict = { kind: "return", arg: "EIO" };

describe("FailpointDisk", () => {
  test("off: every operation reaches the disk, each point evaluated where it is", () => {
    const { disk, inner, scheduler, evaluated } = setup({});
    disk.write("a", 0, bytes("x"));
    disk.rename("a", "b");
    let synced = "pending" as DiskError | undefined | "pending";
    disk.sync("b", (error) => (synced = error));
    scheduler.runUntilIdle();
    assert.equal(synced, undefined);
    assert.deepEqual(inner.list(), ["b"]);
    assert.deepEqual(Object.fromEntries(evaluated), { "storage.write": 1, "storage.write.after": 1, "storage.rename": 1, "storage.fsync": 1, "storage.fsync.after": 1 });
  });

  test("storage.write: the DiskError before any byte lands; ENOSPC when asked", () => {
    const { disk, inner } = setup({ "storage.write": EIO });
    assert.throws(() => disk.write("a", 0, bytes("x")), (e: unknown) => e instanceof DiskError && e.code === "EIO" && /injected by failpoint storage\.write/.test(e.message));
    assert.equal(inner.size("a"), undefined);
    const full = setup({ "storage.write": { kind: "return", arg: "ENOSPC" } });
    assert.throws(() => full.disk.write("a", 0, bytes("x")), (e: unknown) => e instanceof DiskError && e.code === "ENOSPC");
  });

  test("storage.write.after: the bytes landed, and the write still reports EIO", () => {
    const { disk, inner } = setup({ "storage.write.after": EIO });
    assert.throws(() => disk.write("a", 0, bytes("xyz")), /storage\.write\.after/);
    assert.equal(inner.size("a"), 3);
  });

  test("storage.rename: the rename fails and the old name stays", () => {
    const { disk, inner } = setup({ "storage.rename": EIO });
    disk.write("a", 0, bytes("x"));
    assert.throws(() => disk.rename("a", "b"), /storage\.rename/);
    assert.deepEqual(inner.list(), ["a"]);
  });

  test("storage.fsync: EIO, never re-entrantly; delay postpones the sync by its milliseconds", () => {
    const failing = setup({ "storage.fsync": EIO });
    let result = "pending" as DiskError | undefined | "pending";
    failing.disk.syncDirectory((error) => (result = error));
    assert.equal(result, "pending", "called back re-entrantly");
    failing.scheduler.runUntilIdle();
    const after: unknown = result;
    assert.ok(after instanceof DiskError && after.code === "EIO");

    const slow = setup({ "storage.fsync": { kind: "delay", ms: 40 } });
    let doneAtMs = -1;
    slow.disk.write("a", 0, bytes("x"));
    slow.disk.sync("a", (error) => {
      assert.equal(error, undefined);
      doneAtMs = slow.scheduler.nowMs;
    });
    slow.scheduler.runUntilIdle();
    assert.ok(doneAtMs >= 41, `done at ${doneAtMs} ms: 40 ms of delay and 1 of fsync`);
  });

  test("storage.fsync.after: durable, and reported failed; or reported late", () => {
    const { disk, scheduler } = setup({ "storage.fsync.after": EIO });
    let result = "pending" as DiskError | undefined | "pending";
    disk.write("a", 0, bytes("x"));
    disk.sync("a", (error) => (result = error));
    scheduler.runUntilIdle();
    assert.ok(result instanceof DiskError && /storage\.fsync\.after/.test(result.message));
    const late = setup({ "storage.fsync.after": { kind: "delay", ms: 25 } });
    let doneAtMs = -1;
    late.disk.syncDirectory(() => (doneAtMs = late.scheduler.nowMs));
    late.scheduler.runUntilIdle();
    assert.ok(doneAtMs >= 26, `done at ${doneAtMs}`);
  });

  test("RaftStorage over it: an injected fsync error fails the open as an I/O error; storage.snapshot-write fails a snapshot", () => {
    const { disk, scheduler } = setup({ "storage.fsync": EIO });
    let opened: RaftStorage | StorageError | undefined;
    RaftStorage.open(disk, IDENTITY, BOOTSTRAP, {}, (result) => (opened = result));
    scheduler.runUntilIdle();
    assert.ok(opened instanceof StorageError && opened.code === "io" && /injected by failpoint storage\.fsync/.test(opened.message), String(opened));

    const snapshots = setup({ "storage.snapshot-write": EIO });
    const { hook } = hookOf({ "storage.snapshot-write": EIO });
    let store: RaftStorage | StorageError | undefined;
    RaftStorage.open(snapshots.disk, IDENTITY, BOOTSTRAP, { failpoint: hook }, (result) => (store = result));
    snapshots.scheduler.runUntilIdle();
    assert.ok(store instanceof RaftStorage);
    let persisted = "pending" as StorageError | undefined | "pending";
    store.persist({ snapshot: undefined, entries: [{ index: 1, term: 1, type: "normal", data: new Uint8Array() }], hardState: { term: 1, vote: 0, commit: 1 } }, true, (error) => (persisted = error));
    snapshots.scheduler.runUntilIdle();
    assert.equal(persisted, undefined);
    let saved = "pending" as StorageError | undefined | "pending";
    store.saveSnapshot({ metadata: { index: 1, term: 1, confState: BOOTSTRAP }, data: new Uint8Array() }, (error) => (saved = error));
    snapshots.scheduler.runUntilIdle();
    assert.ok(saved instanceof StorageError && /storage\.snapshot-write/.test(saved.message), String(saved));
  });
});
