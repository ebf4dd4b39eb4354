// Regression for the crash-recovery property's seed -1252741198: entries that a new leader's
// suffix replaced must never come back after a crash. The failing sequence: a segment is full;
// a term-2 leader replaces its entries from 10 on; a term-3 leader then replaces them from 9
// on, and the host crashes before that last batch is durable. Recovery once returned the
// term-1 entries 10..23 again (after a recovery that had returned only 10), because the roll
// had put the term-2 entry in a new segment that only masked the full segment's stale tail,
// and the term-3 replacement removed that masking segment, durably, before its own write.
// Also: the commit records such a removal takes with it (the second describe block).

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { makeWorld, openOk, openStore } from "./harness.ts";
import type { World } from "./harness.ts";
import { StorageError } from "../../../src/core/storage/raft-storage.ts";
import type { PersistBatch, RaftStorage, StorageOptions } from "../../../src/core/storage/raft-storage.ts";
import type { DiskFaults } from "../../../src/core/sim/sim-disk.ts";
import type { Entry } from "../../../src/core/raft/types.ts";

const OPTIONS: StorageOptions = { segmentSizeBytes: 4096 };
const ENTRY_DATA_BYTES = 200;
/** Every un-synced write and directory operation is lost: the crash keeps exactly what fsyncs made durable. */
const LOSE_EVERYTHING_UNSYNCED: Partial<DiskFaults> = { crashLoseWriteProbability: 1, crashTearWriteProbability: 0, crashLoseDirectoryOperationProbability: 1 };
const HOSTILE: Partial<DiskFaults> = { crashLoseWriteProbability: 0.5, crashTearWriteProbability: 0.5, crashLoseDirectoryOperationProbability: 0.5 };

function bigEntries(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let index = from; index <= to; index++) {
    const data = new Uint8Array(ENTRY_DATA_BYTES).fill(0x41 + ((index + term) % 26));
    data.set(new TextEncoder().encode(`e${index}t${term}`));
    out.push({ index, term, type: "normal", data });
  }
  return out;
}

/** Indexes and terms, comparable. */
function shape(list: readonly Entry[]): string[] {
  return list.map((e) => `${e.index}/${e.term}`);
}

/** The log after each of the three persists (index 1 first). */
const LOG_TERM_1 = shape(bigEntries(1, 23, 1));
const LOG_TERM_2 = [...LOG_TERM_1.slice(0, 9), "10/2"];
const LOG_TERM_3 = [...LOG_TERM_1.slice(0, 8), "9/3"];

const BATCH_TERM_1: PersistBatch = { snapshot: undefined, entries: bigEntries(1, 23, 1), hardState: { term: 1, vote: 1, commit: 8 } };
const BATCH_TERM_2: PersistBatch = { snapshot: undefined, entries: bigEntries(10, 10, 2), hardState: { term: 2, vote: 0, commit: 8 } };
const BATCH_TERM_3: PersistBatch = { snapshot: undefined, entries: bigEntries(9, 9, 3), hardState: { term: 3, vote: 0, commit: 8 } };

function persistSynced(world: World, storage: RaftStorage, batch: PersistBatch): void {
  let finished = false;
  storage.persist(batch, true, (error) => {
    assert.equal(error, undefined);
    finished = true;
  });
  world.scheduler.runUntilIdle();
  assert.ok(finished, "persist did not call back");
}

/**
 * The three persists, the first two acknowledged; the third is crashed after `crashAfterEvents`
 * disk events (or completes). Returns the recovered log and whether the crash came before the
 * third persist was acknowledged.
 */
/** Starts `batch`, crashes the host after `crashAfterEvents` disk events (or once it completes), and reopens. */
function persistThenCrash(world: World, storage: RaftStorage, batch: PersistBatch, crashAfterEvents: number): { reopened: RaftStorage; acknowledged: boolean; events: number } {
  let acknowledged = false;
  storage.persist(batch, true, (error) => {
    assert.equal(error, undefined);
    acknowledged = true;
  });
  let events = 0;
  while (events < crashAfterEvents && world.scheduler.step()) events++;
  world.disk.crash();
  world.scheduler.clear();
  const reopened = openStore(world, OPTIONS);
  if (reopened instanceof StorageError) assert.fail(`open after crash failed: ${reopened.message}`);
  return { reopened, acknowledged, events };
}

function runAndCrash(diskSeed: number, faults: Partial<DiskFaults>, crashAfterEvents: number): { log: string[]; acknowledged: boolean; events: number } {
  const world = makeWorld(diskSeed, faults);
  const storage = openOk(world, OPTIONS);
  persistSynced(world, storage, BATCH_TERM_1);
  persistSynced(world, storage, BATCH_TERM_2);
  const { reopened, acknowledged, events } = persistThenCrash(world, storage, BATCH_TERM_3, crashAfterEvents);
  assert.equal(reopened.recovered.snapshot, undefined);
  return { log: shape(reopened.recovered.entries), acknowledged, events };
}

/** What any crash during the third persist may leave: the acknowledged term-2 log, or a prefix of the term-3 one that keeps 1..8. */
function assertAllowed(log: string[], acknowledged: boolean, what: string): void {
  const isPrefixOf = (whole: string[]): boolean => log.length <= whole.length && log.every((e, i) => e === whole[i]);
  const allowed = acknowledged ? log.length === LOG_TERM_3.length && isPrefixOf(LOG_TERM_3) : (isPrefixOf(LOG_TERM_2) && log.length === LOG_TERM_2.length) || (isPrefixOf(LOG_TERM_3) && log.length >= 8);
  assert.ok(allowed, `${what}: recovered ${log.length === 0 ? "nothing" : `${log[0]}..${log[log.length - 1]!} (${log.length} entries)`}, ${acknowledged ? "after" : "before"} the term-3 batch was acknowledged`);
  assert.ok(!log.some((e) => e.endsWith("/1") && Number(e.split("/")[0]) >= 10), `${what}: a replaced term-1 entry came back`);
}

describe("a suffix replaced twice inside a full segment, then a crash", () => {
  test("the exact sequence: a crash after any disk event of the second replacement never resurrects the replaced entries", () => {
    const { events: total, acknowledged } = runAndCrash(1, LOSE_EVERYTHING_UNSYNCED, Number.MAX_SAFE_INTEGER);
    assert.ok(acknowledged && total >= 3, `the second replacement should take several disk events, took ${total}`);
    for (let k = 0; k <= total; k++) {
      const { log, acknowledged: acked } = runAndCrash(1, LOSE_EVERYTHING_UNSYNCED, k);
      assertAllowed(log, acked, `crash after event ${k} of ${total}, every un-synced operation lost`);
    }
  });

  test("the same with random crash faults: every event, 40 disk seeds", () => {
    const { events: total } = runAndCrash(1, HOSTILE, Number.MAX_SAFE_INTEGER);
    for (let seed = 1; seed <= 40; seed++) {
      for (let k = 0; k <= total; k++) {
        const { log, acknowledged } = runAndCrash(seed * 7919 + k, HOSTILE, k);
        assertAllowed(log, acknowledged, `disk seed ${seed * 7919 + k}, crash after event ${k}`);
      }
    }
  });

  test("a replacement that starts inside a full tail segment is appended to it: no segment masks the stale tail of an earlier one", () => {
    const world = makeWorld(1);
    const storage = openOk(world, OPTIONS);
    persistSynced(world, storage, BATCH_TERM_1);
    assert.ok(storage.stats().walBytes >= 4096, "the first segment should be full");
    persistSynced(world, storage, BATCH_TERM_2);
    persistSynced(world, storage, BATCH_TERM_3);
    assert.deepEqual(world.disk.list().filter((name) => name.startsWith("wal-")), ["wal-0000000000000001.log"]);
    // A plain append after the full segment's last live entry rolls, named right after it.
    persistSynced(world, storage, { snapshot: undefined, entries: bigEntries(10, 10, 3), hardState: undefined });
    assert.deepEqual(world.disk.list().filter((name) => name.startsWith("wal-")), ["wal-0000000000000001.log", "wal-000000000000000a.log"]);
    const reopened = openOk(world, OPTIONS);
    assert.deepEqual(shape(reopened.recovered.entries), [...LOG_TERM_3, "10/3"]);
  });
});

/**
 * Commit records live in the segments too: the ones a replacement removes may hold the newest. Segments
 * wal-1 (1..23, full) and wal-18 (24..30, term 1); commit 20 is recorded in wal-18; then a leader
 * of term 2 replaces 21.. (21 < 24, so wal-18 is removed). The commit must survive.
 */
describe("a replacement that removes the segment holding the newest commit record", () => {
  const FILL: PersistBatch = { snapshot: undefined, entries: bigEntries(1, 23, 1), hardState: { term: 1, vote: 1, commit: 8 } };
  const ROLL: PersistBatch = { snapshot: undefined, entries: bigEntries(24, 30, 1), hardState: undefined };
  const REPLACE_FROM_21: PersistBatch = { snapshot: undefined, entries: bigEntries(21, 21, 2), hardState: { term: 2, vote: 0, commit: 20 } };

  /** Runs `setup` then `replacement`, crashed after `crashAfterEvents` events; returns the recovered commit. */
  function recoveredCommit(setup: (world: World, storage: RaftStorage) => RaftStorage, replacement: PersistBatch, crashAfterEvents: number): { commit: number; acknowledged: boolean; events: number } {
    const world = makeWorld(1, LOSE_EVERYTHING_UNSYNCED);
    const storage = openOk(world, OPTIONS);
    persistSynced(world, storage, FILL);
    persistSynced(world, storage, ROLL);
    assert.ok(world.disk.list().includes("wal-0000000000000018.log"), "the setup should roll into a second segment");
    const { reopened, acknowledged, events } = persistThenCrash(world, setup(world, storage), replacement, crashAfterEvents);
    if (acknowledged) assert.deepEqual(shape(reopened.recovered.entries).slice(20), ["21/2"], "the replaced entries came back");
    return { commit: reopened.recovered.hardState.commit, acknowledged, events };
  }

  test("an un-synced commit record, then a replacement in a new term that carries the commit: acknowledged, the commit is durable", () => {
    const commitUnsynced = (world: World, storage: RaftStorage): RaftStorage => {
      storage.persist({ snapshot: undefined, entries: [], hardState: { term: 1, vote: 1, commit: 20 } }, false, (error) => assert.equal(error, undefined));
      world.scheduler.runUntilIdle();
      return storage;
    };
    const { events: total } = recoveredCommit(commitUnsynced, REPLACE_FROM_21, Number.MAX_SAFE_INTEGER);
    for (let k = 0; k <= total; k++) {
      const { commit, acknowledged } = recoveredCommit(commitUnsynced, REPLACE_FROM_21, k);
      assert.ok(commit >= (acknowledged ? 20 : 8), `crash after event ${k} of ${total}: recovered commit ${commit}, ${acknowledged ? "after" : "before"} the replacement (commit 20) was acknowledged`);
    }
  });

  test("an acknowledged commit record, then a replacement in the same term: no crash point loses the commit", () => {
    // Term 2 is known (an election) before commit 20 is acknowledged, so the replacement writes no hard state of its own.
    const electThenCommit = (world: World, storage: RaftStorage): RaftStorage => {
      persistSynced(world, storage, { snapshot: undefined, entries: [], hardState: { term: 2, vote: 2, commit: 8 } });
      persistSynced(world, storage, { snapshot: undefined, entries: [], hardState: { term: 2, vote: 2, commit: 20 } });
      return storage;
    };
    // The same after a restart: commit 20 is then recovered from wal-18's commit record, while the hard state file says 8.
    const electCommitRestart = (world: World, storage: RaftStorage): RaftStorage => {
      electThenCommit(world, storage);
      world.disk.crash();
      world.scheduler.clear();
      const reopened = openOk(world, OPTIONS);
      assert.equal(reopened.recovered.hardState.commit, 20);
      return reopened;
    };
    const sameTerm: PersistBatch = { snapshot: undefined, entries: bigEntries(21, 21, 2), hardState: undefined };
    for (const [setup, what] of [[electThenCommit, "running"], [electCommitRestart, "after a restart"]] as const) {
      const { events: total } = recoveredCommit(setup, sameTerm, Number.MAX_SAFE_INTEGER);
      for (let k = 0; k <= total; k++) {
        const { commit } = recoveredCommit(setup, sameTerm, k);
        assert.ok(commit >= 20, `${what}, crash after event ${k} of ${total}: recovered commit ${commit}, below the acknowledged 20`);
      }
    }
  });
});
