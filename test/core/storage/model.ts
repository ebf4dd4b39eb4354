// A reference model of what a store may recover after a crash, and a driver that issues
// Raft-shaped batches (elections, appends, conflicting suffixes, commits, compactions,
// received snapshots) against a RaftStorage on a SimDisk.
//
// The durability rule checked (docs/STORAGE.md): let L_a be the log after the last persist
// whose done was called with mustSync, and L_j (j >= a) the log after any persist issued
// since. A recovered log R must equal a prefix of one L_j (never an entry that was not
// written), reach at least as far as L_a and every later L_j agree (never lose an
// acknowledged entry that no later write replaced), and keep the acknowledged snapshot,
// term, vote and commit.

import assert from "node:assert/strict";
import type { Entry, HardState, RecoveredState, Snapshot } from "../../../src/core/raft/types.ts";
import { RaftStorage, StorageError } from "../../../src/core/storage/raft-storage.ts";
import type { PersistBatch, StorageOptions } from "../../../src/core/storage/raft-storage.ts";
import type { World } from "./harness.ts";
import { BOOTSTRAP, IDENTITY } from "./harness.ts";

/** A whole log from index 1 (compacted entries included): log[i - 1] is the entry at i. */
type Log = readonly Entry[];

function sameEntry(a: Entry, b: Entry): boolean {
  if (a.index !== b.index || a.term !== b.term || a.type !== b.type || a.data.length !== b.data.length) return false;
  for (let i = 0; i < a.data.length; i++) if (a.data[i] !== b.data[i]) return false;
  return true;
}

function commonPrefix(a: Log, b: Log): number {
  let n = 0;
  while (n < a.length && n < b.length && sameEntry(a[n]!, b[n]!)) n++;
  return n;
}

export class DurabilityModel {
  /** Logs after each issued persist, oldest first; states[acked] is the last acknowledged with mustSync. */
  private states: Log[] = [[]];
  private acked = 0;
  ackedSnapshotIndex = 0;
  ackedTerm = 0;
  ackedVote = 0;
  ackedCommit = 0;

  get current(): Log {
    return this.states[this.states.length - 1]!;
  }

  /** A persist was issued that turns the log into `log`; returns its state number. */
  issued(log: Log): number {
    this.states.push(log);
    return this.states.length - 1;
  }

  acknowledged(state: number, mustSync: boolean, hardState: HardState | undefined, termOrVoteChanged: boolean, snapshotIndex: number): void {
    if (mustSync && state > this.acked) this.acked = state;
    this.ackedSnapshotIndex = Math.max(this.ackedSnapshotIndex, snapshotIndex);
    if (hardState !== undefined && termOrVoteChanged) {
      this.ackedTerm = hardState.term;
      this.ackedVote = hardState.vote;
    }
    if (hardState !== undefined && mustSync) this.ackedCommit = Math.max(this.ackedCommit, hardState.commit);
  }

  /** Checks a recovered state; returns the whole log it corresponds to (restarting the history from it). */
  check(recovered: RecoveredState): Log {
    const snapshotIndex = recovered.snapshot?.metadata.index ?? 0;
    const snapshotTerm = recovered.snapshot?.metadata.term ?? 0;
    recovered.entries.forEach((e, i) => assert.equal(e.index, snapshotIndex + 1 + i, "recovered entries are not contiguous after the snapshot"));
    const lastIndex = snapshotIndex + recovered.entries.length;
    assert.ok(snapshotIndex >= this.ackedSnapshotIndex, `recovered snapshot ${snapshotIndex} is older than the acknowledged ${this.ackedSnapshotIndex}`);
    const { term, vote, commit } = recovered.hardState;
    assert.ok(term >= this.ackedTerm, `recovered term ${term} below the acknowledged ${this.ackedTerm}`);
    if (term === this.ackedTerm) assert.equal(vote, this.ackedVote, `recovered vote differs in acknowledged term ${term}`);
    assert.ok(commit >= this.ackedCommit, `recovered commit ${commit} below the acknowledged ${this.ackedCommit}`);
    assert.ok(commit <= lastIndex && commit >= snapshotIndex, `recovered commit ${commit} outside [${snapshotIndex}, ${lastIndex}]`);
    if (recovered.entries.length > 0) assert.ok(term >= recovered.entries[recovered.entries.length - 1]!.term, "recovered term below the log's last term");

    // Entries of the acknowledged log that a later persist (acknowledged or not) replaced may be
    // lost: the core was discarding them (uncommitted, in conflict with the leader's log).
    const ackedLog = this.states[this.acked]!;
    let mustReach = ackedLog.length;
    for (let j = this.acked + 1; j < this.states.length; j++) mustReach = Math.min(mustReach, commonPrefix(ackedLog, this.states[j]!));
    const reasons: string[] = [];
    for (let j = this.states.length - 1; j >= this.acked; j--) {
      const log = this.states[j]!;
      if (lastIndex > log.length) {
        reasons.push(`L${j}: recovered last index ${lastIndex} beyond ${log.length}`);
        continue;
      }
      if (snapshotIndex > 0 && log[snapshotIndex - 1]!.term !== snapshotTerm) {
        reasons.push(`L${j}: snapshot term differs`);
        continue;
      }
      if (!recovered.entries.every((e) => sameEntry(e, log[e.index - 1]!))) {
        reasons.push(`L${j}: entries differ`);
        continue;
      }
      if (lastIndex < mustReach) {
        reasons.push(`L${j}: lost acknowledged entries (recovered up to ${lastIndex}, acknowledged up to ${mustReach})`);
        continue;
      }
      const whole = log.slice(0, lastIndex);
      this.states = [whole];
      this.acked = 0;
      this.ackedSnapshotIndex = snapshotIndex;
      this.ackedTerm = term;
      this.ackedVote = vote;
      this.ackedCommit = commit;
      return whole;
    }
    assert.fail(`recovered state matches no written log: ${reasons.join("; ")}`);
  }
}

const encoder = new TextEncoder();

/** Issues Raft-shaped batches; keeps the term, vote, commit and log a core would have. */
export class RaftLikeDriver {
  storage: RaftStorage;
  readonly model = new DurabilityModel();
  term = 0;
  vote = 0;
  commit = 0;
  snapshotIndex = 0;
  private log: Entry[] = [];
  /** Bumped by every data item so that a rewritten index carries different bytes. */
  private serial = 0;
  busy = false;

  constructor(
    readonly world: World,
    readonly options: StorageOptions,
    storage: RaftStorage,
    /** Fixed entry size in bytes; default: varying sizes below 300 bytes. */
    private readonly entryBytes?: number,
  ) {
    this.storage = storage;
  }

  get lastIndex(): number {
    return this.log.length;
  }

  private makeEntries(from: number, count: number, term: number): Entry[] {
    const out: Entry[] = [];
    for (let i = 0; i < count; i++) {
      const size = this.entryBytes ?? (this.serial * 37) % 300;
      // Never zero bytes: a zero-filled sector inside a damaged record reads as torn (docs/STORAGE.md).
      const data = new Uint8Array(size).fill(0x41 + (this.serial % 26));
      data.set(encoder.encode(`#${this.serial++}`).subarray(0, size));
      out.push({ index: from + i, term, type: i % 7 === 3 ? "conf-change" : "normal", data });
    }
    return out;
  }

  private persist(batch: PersistBatch, mustSync: boolean, newLog: Entry[], onDone?: () => void): void {
    assert.ok(!this.busy);
    const termOrVoteChanged = batch.hardState !== undefined && (batch.hardState.term !== this.term || batch.hardState.vote !== this.vote);
    if (batch.hardState !== undefined) {
      this.term = batch.hardState.term;
      this.vote = batch.hardState.vote;
      this.commit = batch.hardState.commit;
    }
    if (batch.snapshot !== undefined) this.snapshotIndex = batch.snapshot.metadata.index;
    this.log = newLog;
    const state = this.model.issued(newLog);
    this.busy = true;
    this.storage.persist(batch, mustSync, (error) => {
      assert.equal(error, undefined);
      this.busy = false;
      this.model.acknowledged(state, mustSync, batch.hardState, termOrVoteChanged, batch.snapshot?.metadata.index ?? 0);
      onDone?.();
    });
  }

  /**
   * One random Raft-like step, chosen by `choice` (any non-negative integer; choice % 8: 0 elect,
   * 1-2 append, 3 replace a suffix, 4 commit, 5 compact, 6-7 receive a snapshot) and sized by `size`.
   */
  step(choice: number, size: number): void {
    const n = 1 + (size % 8);
    switch (choice % 8) {
      case 0: {
        // An election: a new term, voting for some node.
        this.persist({ snapshot: undefined, entries: [], hardState: { term: this.term + 1, vote: 1 + (size % 3), commit: this.commit } }, true, this.log);
        return;
      }
      case 1:
      case 2: {
        // The leader of this term appends (a term is needed first).
        if (this.term === 0) return this.step(0, size);
        const added = this.makeEntries(this.lastIndex + 1, n, this.term);
        const log = [...this.log, ...added];
        const commit = Math.min(log.length, this.commit + (size % 3));
        this.persist({ snapshot: undefined, entries: added, hardState: commit !== this.commit ? { term: this.term, vote: this.vote, commit } : undefined }, true, log);
        return;
      }
      case 3: {
        // A new leader replaces the uncommitted suffix.
        if (this.lastIndex <= this.commit) return this.step(1, size);
        const from = this.commit + 1 + (size % (this.lastIndex - this.commit));
        const term = this.term + 1;
        const added = this.makeEntries(from, n, term);
        const log = [...this.log.slice(0, from - 1), ...added];
        this.persist({ snapshot: undefined, entries: added, hardState: { term, vote: 0, commit: this.commit } }, true, log);
        return;
      }
      case 4: {
        // Commit advances (not synced, as a Ready with only a commit change).
        if (this.lastIndex <= this.commit) return this.step(1, size);
        const commit = this.commit + 1 + (size % (this.lastIndex - this.commit));
        this.persist({ snapshot: undefined, entries: [], hardState: { term: this.term, vote: this.vote, commit } }, false, this.log);
        return;
      }
      case 5: {
        // The application compacts.
        if (this.commit <= this.snapshotIndex) return this.step(4, size);
        const index = this.snapshotIndex + 1 + (size % (this.commit - this.snapshotIndex));
        const snapshot: Snapshot = { metadata: { index, term: this.log[index - 1]!.term, confState: BOOTSTRAP }, data: encoder.encode(`state@${index}`) };
        this.busy = true;
        this.storage.saveSnapshot(snapshot, (error) => {
          assert.equal(error, undefined);
          this.busy = false;
          this.snapshotIndex = Math.max(this.snapshotIndex, index);
          this.model.ackedSnapshotIndex = Math.max(this.model.ackedSnapshotIndex, index);
        });
        return;
      }
      case 6:
      case 7: {
        // A snapshot from a leader of a later term with a few entries after it: beyond this log (6),
        // or inside its uncommitted suffix, which the leader's log contradicts (7).
        const term = this.term + 1;
        const inside = choice % 8 === 7 && this.lastIndex > this.commit;
        const index = inside ? this.commit + 1 + (size % (this.lastIndex - this.commit)) : Math.max(this.commit, this.lastIndex) + 1 + (size % 5);
        const leaderLog = [...this.log.slice(0, this.commit), ...this.makeEntries(this.commit + 1, index - this.commit, term)];
        const snapshot: Snapshot = { metadata: { index, term, confState: BOOTSTRAP }, data: encoder.encode(`leader-state@${index}`) };
        const after = this.makeEntries(index + 1, size % 3, term);
        this.persist({ snapshot, entries: after, hardState: { term, vote: 0, commit: index } }, true, [...leaderLog, ...after]);
        return;
      }
    }
  }

  /**
   * The log goes idle (docs/STORAGE.md, "The sync point window"): the driver's idle check on
   * two ticks in a row, the second of which flushes the sync point if it lags. Acknowledges nothing.
   */
  idle(): void {
    assert.ok(!this.busy);
    const storage = this.storage;
    storage.flushSyncPointWhenIdle((error) => assert.equal(error, undefined));
    this.busy = true;
    storage.flushSyncPointWhenIdle((error) => {
      assert.equal(error, undefined);
      if (this.storage === storage) this.busy = false;
    });
  }

  /** Crash the disk, reopen, check the recovered state against the model and continue from it. */
  crashAndRecover(): void {
    const error = this.tryCrashAndRecover();
    if (error !== undefined) assert.fail(`open after crash failed: ${error.message}`);
  }

  /** As crashAndRecover, but a store that open refuses is returned instead of failing the test. */
  tryCrashAndRecover(): StorageError | undefined {
    this.world.disk.crash();
    this.world.scheduler.clear();
    this.busy = false;
    let result: RaftStorage | StorageError | undefined;
    RaftStorage.open(this.world.disk, IDENTITY, BOOTSTRAP, this.options, (r) => (result = r));
    this.world.scheduler.runUntilIdle();
    if (result === undefined) assert.fail("open did not call back");
    if (result instanceof StorageError) return result;
    this.storage = result;
    const recovered = result.recovered;
    this.log = [...this.model.check(recovered)];
    this.term = recovered.hardState.term;
    this.vote = recovered.hardState.vote;
    this.commit = recovered.hardState.commit;
    this.snapshotIndex = recovered.snapshot?.metadata.index ?? 0;
    return undefined;
  }
}
