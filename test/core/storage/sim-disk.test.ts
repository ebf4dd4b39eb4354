import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { DiskError } from "../../../src/core/env/environment.ts";
import { SimDisk } from "../../../src/core/sim/sim-disk.ts";
import type { DiskFaults } from "../../../src/core/sim/sim-disk.ts";
import { ToyScheduler, seededRandom } from "./harness.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array | undefined) => (data === undefined ? undefined : new TextDecoder().decode(data));

function makeDisk(seed: number, faults: Partial<DiskFaults> = {}): { disk: SimDisk; scheduler: ToyScheduler } {
  const scheduler = new ToyScheduler();
  return { disk: new SimDisk({ random: seededRandom(seed), schedule: scheduler.schedule, faults }), scheduler };
}

function syncNow(disk: SimDisk, scheduler: ToyScheduler, name?: string): void {
  let done = false;
  const callback = (error: DiskError | undefined) => {
    assert.equal(error, undefined);
    done = true;
  };
  if (name === undefined) disk.syncDirectory(callback);
  else disk.sync(name, callback);
  assert.ok(!done, "sync must not call back re-entrantly");
  scheduler.runUntilIdle();
  assert.ok(done);
}

const LOSE_ALL = { crashLoseWriteProbability: 1, crashTearWriteProbability: 0, crashLoseDirectoryOperationProbability: 1 };
const KEEP_ALL = { crashLoseWriteProbability: 0, crashTearWriteProbability: 0, crashLoseDirectoryOperationProbability: 0 };

describe("SimDisk", () => {
  test("the volatile view: write, read, size, truncate, rename, remove, list sorted", () => {
    const { disk } = makeDisk(1);
    disk.write("b", 0, bytes("hello"));
    disk.write("b", 5, bytes(" world"));
    disk.write("a", 0, bytes("x"));
    assert.deepEqual(disk.list(), ["a", "b"]);
    assert.equal(text(disk.read("b")), "hello world");
    assert.equal(disk.size("b"), 11);
    disk.truncate("b", 5);
    assert.equal(text(disk.read("b")), "hello");
    disk.rename("b", "c");
    assert.deepEqual(disk.list(), ["a", "c"]);
    disk.remove("a");
    assert.equal(disk.read("a"), undefined);
    assert.equal(disk.size("a"), undefined);
    assert.throws(() => disk.remove("a"), (error: unknown) => error instanceof DiskError && error.code === "ENOENT");
    // A read is a copy: changing it does not change the file.
    const copy = disk.read("c")!;
    copy[0] = 0;
    assert.equal(text(disk.read("c")), "hello");
  });

  test("a crash loses what was not synced: file data needs sync, names need syncDirectory", () => {
    const { disk, scheduler } = makeDisk(2, LOSE_ALL);
    disk.write("data", 0, bytes("durable"));
    syncNow(disk, scheduler, "data");
    disk.crash();
    assert.deepEqual(disk.list(), [], "the file's creation was never made durable");

    disk.write("data", 0, bytes("durable"));
    syncNow(disk, scheduler, "data");
    syncNow(disk, scheduler);
    disk.write("data", 7, bytes(" and volatile"));
    disk.write("other", 0, bytes("volatile"));
    disk.crash();
    assert.deepEqual(disk.list(), ["data"]);
    assert.equal(text(disk.read("data")), "durable");
  });

  test("sync covers the writes issued before it, not those issued while it is in flight", () => {
    const { disk, scheduler } = makeDisk(3, LOSE_ALL);
    disk.write("f", 0, bytes("one"));
    syncNow(disk, scheduler);
    let done = false;
    disk.sync("f", () => (done = true));
    disk.write("f", 3, bytes("two"));
    scheduler.runUntilIdle();
    assert.ok(done);
    disk.crash();
    assert.equal(text(disk.read("f")), "one");
  });

  test("a crash drops every pending callback", () => {
    const { disk, scheduler } = makeDisk(4);
    disk.write("f", 0, bytes("x"));
    let called = 0;
    disk.sync("f", () => called++);
    disk.syncDirectory(() => called++);
    disk.crash();
    scheduler.runUntilIdle();
    assert.equal(called, 0);
  });

  test("un-synced removals and renames may be lost; synced ones are durable", () => {
    const { disk, scheduler } = makeDisk(5, LOSE_ALL);
    disk.write("old", 0, bytes("old"));
    disk.write("tmp", 0, bytes("new"));
    syncNow(disk, scheduler, "old");
    syncNow(disk, scheduler, "tmp");
    syncNow(disk, scheduler);
    disk.rename("tmp", "old");
    disk.crash();
    assert.deepEqual(disk.list(), ["old", "tmp"]);
    assert.equal(text(disk.read("old")), "old");
    disk.rename("tmp", "old");
    syncNow(disk, scheduler);
    disk.crash();
    assert.deepEqual(disk.list(), ["old"]);
    assert.equal(text(disk.read("old")), "new");
  });

  test("with everything kept, a crash changes nothing", () => {
    const { disk } = makeDisk(6, KEEP_ALL);
    disk.write("f", 0, bytes("abc"));
    disk.write("f", 3, bytes("def"));
    disk.rename("f", "g");
    disk.crash();
    assert.deepEqual(disk.list(), ["g"]);
    assert.equal(text(disk.read("g")), "abcdef");
  });

  test("a torn last write keeps a strict prefix of it; a lost earlier write leaves zeros under a kept later one", () => {
    let torn = 0;
    for (let seed = 0; seed < 50; seed++) {
      const { disk, scheduler } = makeDisk(seed, { crashLoseWriteProbability: 0, crashTearWriteProbability: 1, crashLoseDirectoryOperationProbability: 0 });
      disk.write("f", 0, bytes("base"));
      syncNow(disk, scheduler, "f");
      disk.write("f", 4, bytes("0123456789"));
      disk.crash();
      const content = text(disk.read("f"))!;
      assert.ok(content.startsWith("base") && content.length < 14 && "base0123456789".startsWith(content), content);
      torn += disk.stats().tornWrites;
    }
    assert.equal(torn, 50);

    const { disk, scheduler } = makeDisk(7, { crashLoseWriteProbability: 0.5, crashTearWriteProbability: 0, crashLoseDirectoryOperationProbability: 0 });
    let sawHole = false;
    for (let round = 0; round < 40 && !sawHole; round++) {
      disk.write("h" + round, 0, bytes("AAAA"));
      syncNow(disk, scheduler, "h" + round);
      syncNow(disk, scheduler);
      disk.write("h" + round, 4, bytes("BBBB"));
      disk.write("h" + round, 8, bytes("CCCC"));
      disk.crash();
      const content = disk.read("h" + round)!;
      if (content.length === 12 && content[4] === 0) {
        assert.equal(text(content.subarray(8)), "CCCC");
        sawHole = true;
      }
    }
    assert.ok(sawHole, "a lost write under a kept later one should occur");
  });

  test("same seed, same behaviour", () => {
    const run = (seed: number) => {
      const { disk, scheduler } = makeDisk(seed);
      const trace: string[] = [];
      for (let i = 0; i < 30; i++) {
        disk.write(`f${i % 3}`, disk.size(`f${i % 3}`) ?? 0, bytes(`record-${i};`));
        if (i % 4 === 0) disk.sync(`f${i % 3}`, () => trace.push(`synced ${i} at ${scheduler.nowMs.toFixed(6)}`));
        if (i % 7 === 0) disk.syncDirectory(() => trace.push(`dir ${i} at ${scheduler.nowMs.toFixed(6)}`));
        if (i % 10 === 9) {
          scheduler.step();
          disk.crash();
          scheduler.clear();
          trace.push(disk.list().map((name) => `${name}=${text(disk.read(name))}`).join(","));
        }
      }
      return JSON.stringify([trace, disk.stats()]);
    };
    assert.equal(run(42), run(42));
    assert.notEqual(run(42), run(43));
  });

  test("sync latency is drawn from writeLatencyMs + fsyncLatencyMs", () => {
    const { disk, scheduler } = makeDisk(8, { writeLatencyMs: [2, 2], fsyncLatencyMs: [5, 5] });
    disk.write("f", 0, bytes("x"));
    let at = -1;
    disk.sync("f", () => (at = scheduler.nowMs));
    scheduler.runUntilIdle();
    assert.equal(at, 7);
    disk.sync("f", () => (at = scheduler.nowMs));
    scheduler.runUntilIdle();
    assert.equal(at, 12, "nothing to write: only the flush");
  });

  test("corruption needs both the rate and mayCorrupt's consent", () => {
    const data = new Uint8Array(256).fill(0x55);
    const corrupted = (faults: Partial<DiskFaults>) => {
      const { disk } = makeDisk(9, faults);
      for (let i = 0; i < 200; i++) disk.write(`f${i}`, 0, data);
      let differing = 0;
      for (let i = 0; i < 200; i++) if (!disk.read(`f${i}`)!.every((b) => b === 0x55)) differing++;
      return { differing, stats: disk.stats() };
    };
    const never = corrupted({ readCorruptionProbability: 0.1, writeCorruptionProbability: 0.1, misdirectedWriteProbability: 0.1 });
    assert.equal(never.differing, 0, "the default mayCorrupt says never");
    const allowed = corrupted({ readCorruptionProbability: 0.1, writeCorruptionProbability: 0.1, mayCorrupt: () => true });
    assert.ok(allowed.differing > 10, `expected corruption, got ${allowed.differing}`);
    assert.ok(allowed.stats.readCorruptions > 0 && allowed.stats.writeCorruptions > 0);
    assert.throws(() => makeDisk(1, { readCorruptionProbability: 0.2 }), /outside/);
  });

  test("a misdirected write leaves its own range unwritten and lands elsewhere in the file", () => {
    const { disk } = makeDisk(10, { misdirectedWriteProbability: 0.1, mayCorrupt: () => true });
    let seen = false;
    for (let i = 0; i < 400 && !seen; i++) {
      const name = `f${i}`;
      disk.write(name, 0, new Uint8Array(64).fill(1));
      disk.write(name, 64, new Uint8Array(64).fill(2));
      const content = disk.read(name)!;
      if (disk.stats().misdirectedWrites > 0) {
        assert.equal(content.length, 128);
        assert.ok(!content.subarray(64).every((b) => b === 2) || !content.subarray(0, 64).every((b) => b === 1));
        seen = true;
      }
    }
    assert.ok(seen);
  });
});

describe("SimDisk crash kinds", () => {
  test("a process kill keeps every write, synced or not, and draws no randomness", () => {
    const { disk, scheduler } = makeDisk(11, LOSE_ALL);
    disk.write("wal", 0, bytes("synced"));
    syncNow(disk, scheduler, "wal");
    syncNow(disk, scheduler);
    disk.write("wal", 6, bytes("+unsynced"));
    disk.write("fresh", 0, bytes("never synced"));
    disk.rename("fresh", "renamed");
    disk.processKill();
    assert.deepEqual(disk.list(), ["renamed", "wal"]);
    assert.equal(text(disk.read("wal")), "synced+unsynced");
    assert.equal(text(disk.read("renamed")), "never synced");
    assert.equal(disk.stats().processKills, 1);
    assert.equal(disk.stats().crashes, 0);
    assert.equal(disk.stats().lostWrites, 0);
  });

  test("what survived a process kill unsynced is still lost to a later host crash", () => {
    const { disk, scheduler } = makeDisk(12, LOSE_ALL);
    disk.write("wal", 0, bytes("synced"));
    syncNow(disk, scheduler, "wal");
    syncNow(disk, scheduler);
    disk.write("wal", 6, bytes("+unsynced"));
    disk.processKill();
    assert.ok(disk.unsyncedOperations() >= 1);
    disk.crash();
    assert.equal(text(disk.read("wal")), "synced");
    assert.equal(disk.unsyncedOperations(), 0);
  });

  test("a process kill drops every pending callback, as a host crash does", () => {
    const { disk, scheduler } = makeDisk(13, KEEP_ALL);
    disk.write("wal", 0, bytes("x"));
    let called = 0;
    disk.sync("wal", () => called++);
    disk.syncDirectory(() => called++);
    disk.processKill();
    scheduler.runUntilIdle();
    assert.equal(called, 0);
    // The sync that was in flight did not make its write durable: a host crash may still lose it.
    assert.ok(disk.unsyncedOperations() >= 1);
    // After the kill the disk works as before for the next incarnation.
    disk.sync("wal", () => called++);
    scheduler.runUntilIdle();
    assert.equal(called, 1);
  });

  test("a host crash with the same unsynced writes loses them (the contrast)", () => {
    const { disk } = makeDisk(14, LOSE_ALL);
    disk.write("wal", 0, bytes("never synced"));
    disk.crash();
    assert.deepEqual(disk.list(), []);
    assert.equal(disk.stats().crashes, 1);
    assert.equal(disk.stats().processKills, 0);
  });
});
