// Durable Raft state through the Disk interface: a segmented write-ahead log of entries
// (and commit marks), an atomically replaced hard state file, snapshot files and an
// identity file. docs/STORAGE.md describes the formats and the recovery rules; this file
// is the write path, which keeps the guarantees recovery relies on:
//   1. a new term or vote is durable before any entry written in the same batch, so a
//      recovered log never holds a term above the recovered current term;
//   2. the tail segment is synced before the next segment is created, so only the last
//      segment can end torn;
//   3. segments are named by their first index and names only grow: an entry that
//      replaces entries of earlier segments first removes the later segments, durably;
//      a segment is created only to extend the log past the tail's last live entry, so no
//      segment masks entries of an earlier one and a removal never brings entries back;
//   4. a snapshot file is durable before anything it replaces is removed, and a received
//      snapshot's removal of the old log is durable before the new log is written;
//   5. a sync point never covers bytes whose fsync has not completed (docs/STORAGE.md, "The
//      sync point window"): by default it rides on the next append's fsync, or is flushed on
//      its own when the log goes idle;
//   6. a write, truncate or rename that finds the disk full (ENOSPC) is undone (a partial
//      append truncated back, a half-written temporary file or new segment removed) and
//      reported as "no-space" without failing the store: every step of a persist is either
//      done, and recorded as done, or not started, so the same batch may be persisted again
//      (docs/STORAGE.md, "A full disk"). A flush that fails, even with ENOSPC, still fails it.
// One persist or saveSnapshot at a time (asserted): the driver waits for `done`.

import { AssertionFailure, assert } from "../assert.ts";
import { DiskError, noFailpoints, type Failpoint } from "../env/environment.ts";
import { injectedDiskError } from "../failpoints/failpoint-disk.ts";
import type { Disk } from "../env/environment.ts";
import type { CoverageHook } from "../env/coverage-points.ts";
import type { ConfState, Entry, HardState, NodeId, RecoveredState, Snapshot } from "../raft/types.ts";
import { HARD_STATE_FILE, IDENTITY_FILE, TEMPORARY_SUFFIX, parseSegmentFileName, parseSnapshotFileName, segmentFileName, snapshotFileName } from "./file-names.ts";
import {
  CLUSTER_ID_MAX_BYTES,
  COMMIT_PAYLOAD_BYTES,
  ENTRY_PAYLOAD_FIXED_BYTES,
  SEGMENT_HEADER_PAYLOAD_BYTES,
  encodeHardStatePayload,
  encodeIdentityPayload,
  snapshotPayloadBytes,
  writeCommitPayload,
  writeEntryPayload,
  writeSegmentHeaderPayload,
  writeSnapshotPayload,
} from "./formats.ts";
import { RECORD_HEADER_BYTES, RecordType, encodeSingleRecord, sealRecord } from "./record.ts";
import { recover, recoveredConfState } from "./recovery.ts";
import type { SegmentState, StoragePlantedBug } from "./recovery.ts";
import { StorageError } from "./storage-error.ts";
import { SEGMENT_DATA_START, SEGMENT_HEADER_RECORD_BYTES, encodeSyncPoint, syncPointSlotOffset } from "./sync-point.ts";
import type { SyncPoint } from "./sync-point.ts";
import { TermRuns } from "./term-runs.ts";

export { StorageError } from "./storage-error.ts";
export type { StoragePlantedBug } from "./recovery.ts";
export type { StorageErrorCode } from "./storage-error.ts";

export interface StorageIdentity {
  readonly nodeId: NodeId;
  readonly clusterId: string;
}

export interface StorageOptions {
  /** A segment that reaches this size is closed and the next batch starts a new one. Default 64 MiB. */
  readonly segmentSizeBytes?: number;
  /** Upper bound on one entry's data (asserted; the core's proposal limits keep entries far below it). Default 64 MiB. */
  readonly entryDataMaxBytes?: number;
  /** Upper bound on the entries of one persist (asserted). Default 65,536. */
  readonly batchEntriesMax?: number;
  /** Upper bound on a snapshot's data (asserted). Default 1 GiB. */
  readonly snapshotDataMaxBytes?: number;
  /**
   * When a persist needs no disk wait (no sync, no snapshot, no new segment), `done` runs
   * before persist returns unless `defer` is given: then `done` runs through defer
   * (e.g. `(callback) => env.timers.after(0, callback)`).
   */
  readonly defer?: (callback: () => void) => void;
  /**
   * How the durable sync point follows the log (docs/STORAGE.md, "The sync point window"):
   *   "riding" (default): one fdatasync per appending persist; the sync point covering a batch
   *     is written with the next append and made durable by its fsync, or by
   *     flushSyncPointWhenIdle when the log goes idle. The newest acknowledged batch is
   *     covered by its record checksums only until then.
   *   "strict": write and sync the sync point after each synced append, before calling back:
   *     a second small write and fdatasync per appending persist, no window.
   *   "off": no sync points; a misdirected or lost write of an acknowledged batch at the end
   *     of the log reads as a torn tail and is dropped silently.
   * Recovery reads stores written in any mode.
   */
  readonly syncPoints?: SyncPointMode;
  /** Test harness only (docs/PLANTED-BUGS.md): storage bugs to switch on. Never set in production. */
  readonly plantedBugs?: ReadonlySet<StoragePlantedBug>;
  /** Marks rare paths of opening as reached (src/core/env/coverage-points.ts: Environment.reached). Default: nothing. */
  readonly reached?: CoverageHook;
  /** The Environment's failpoints: storage.snapshot-write (docs/FAILPOINTS.md). Default: none. */
  readonly failpoint?: Failpoint;
}

export type SyncPointMode = "riding" | "strict" | "off";

export interface PersistBatch {
  readonly snapshot: Snapshot | undefined;
  readonly entries: readonly Entry[];
  readonly hardState: HardState | undefined;
}

export interface StorageStats {
  walBytes: number;
  segments: number;
  snapshotIndex: number;
  /** The last index in the log (the snapshot's index when the log after it is empty). */
  lastIndex: number;
  /** Commit marks left out because the disk was full (a persist of a commit alone). */
  commitMarksSkipped: number;
}

interface ResolvedOptions {
  readonly segmentSizeBytes: number;
  readonly entryDataMaxBytes: number;
  readonly batchEntriesMax: number;
  readonly snapshotDataMaxBytes: number;
  readonly defer: ((callback: () => void) => void) | undefined;
  readonly plantedBugs: ReadonlySet<StoragePlantedBug> | undefined;
  readonly syncPoints: SyncPointMode;
  readonly failpoint: Failpoint;
}

type Next = (error?: StorageError) => void;
type Step = (next: Next) => void;

const MIB = 1024 * 1024;
const SEGMENT_SIZE_MIN_BYTES = 4096;

function resolveOptions(options: StorageOptions): ResolvedOptions {
  const resolved: ResolvedOptions = {
    segmentSizeBytes: options.segmentSizeBytes ?? 64 * MIB,
    entryDataMaxBytes: options.entryDataMaxBytes ?? 64 * MIB,
    batchEntriesMax: options.batchEntriesMax ?? 65_536,
    snapshotDataMaxBytes: options.snapshotDataMaxBytes ?? 1024 * MIB,
    defer: options.defer,
    plantedBugs: options.plantedBugs,
    syncPoints: options.syncPoints ?? "riding",
    failpoint: options.failpoint ?? noFailpoints,
  };
  assert(resolved.syncPoints === "riding" || resolved.syncPoints === "strict" || resolved.syncPoints === "off", "syncPoints must be riding, strict or off");
  assert(Number.isSafeInteger(resolved.segmentSizeBytes) && resolved.segmentSizeBytes >= SEGMENT_SIZE_MIN_BYTES, `segmentSizeBytes must be >= ${SEGMENT_SIZE_MIN_BYTES}`);
  assert(resolved.entryDataMaxBytes > 0 && resolved.entryDataMaxBytes <= 1024 * MIB, "entryDataMaxBytes must be in (0, 1 GiB]");
  assert(resolved.batchEntriesMax > 0, "batchEntriesMax must be positive");
  assert(resolved.snapshotDataMaxBytes > 0 && resolved.snapshotDataMaxBytes <= 4000 * MIB, "snapshotDataMaxBytes must be in (0, 4000 MiB]");
  return resolved;
}

/** Runs steps in order; stops at the first error. A thrown DiskError becomes a StorageError "io". */
function runSteps(steps: readonly Step[], done: Next): void {
  let i = 0;
  const next: Next = (error) => {
    if (error !== undefined) return done(error);
    if (i === steps.length) return done(undefined);
    const step = steps[i++]!;
    try {
      step(next);
    } catch (thrown) {
      if (thrown instanceof DiskError) return done(StorageError.ofWrite("operation", "data directory", thrown));
      throw thrown;
    }
  };
  next();
}

export class RaftStorage {
  readonly recovered: RecoveredState;
  /** What opening repaired (for the node's log): torn tails cut to a size, files removed. Empty for a new store. */
  recoveryRepairs: { readonly truncations: ReadonlyArray<{ readonly name: string; readonly sizeBytes: number }>; readonly removals: readonly string[] } = { truncations: [], removals: [] };
  private readonly disk: Disk;
  private readonly options: ResolvedOptions;
  /** The live segments in order; the last one is the tail that appends go to. */
  private segments: SegmentState[];
  private terms: TermRuns;
  private snapshotIndex: number;
  /** Indexes of the snapshot files present (ascending); all but the newest are being removed. */
  private snapshotFiles: number[];
  /** The hard state most recently handed to persist (what the core believes). */
  private hardState: HardState;
  /** The term, vote and commit in the hard state file. */
  private storedTerm: number;
  private storedVote: NodeId;
  private storedCommit: number;
  /** The highest commit in a written WAL record, and in a synced one. */
  private commitWritten: number;
  private commitSynced: number;
  private tailDirty = false;
  private directoryDirty = false;
  private busy = false;
  private failed: StorageError | undefined;
  /** An idle sync point flush is in flight (flushSyncPoint); a persist or saveSnapshot waits for it. */
  private flushing = false;
  /** The persist or saveSnapshot that arrived during a flush, started when the flush completes (at most one: busy guards it). */
  private waitingForFlush: (() => void) | undefined;
  /** A synced append happened since the previous flushSyncPointWhenIdle: the log is not idle. */
  private appendedSinceIdleCheck = false;
  /**
   * The received snapshot that a persist installed before it stopped with "no-space" (0: none):
   * the retry of that batch carries it again, and it is already durable, so it is not installed twice.
   */
  private snapshotInstalledByUnfinishedPersist = 0;
  /** Commit marks left out because the disk was full (the commit index is volatile in Raft). */
  private commitMarksSkipped = 0;

  private constructor(disk: Disk, options: ResolvedOptions, recovered: RecoveredState, segments: SegmentState[], terms: TermRuns, stored: HardState) {
    this.disk = disk;
    this.options = options;
    this.recovered = recovered;
    this.segments = segments;
    this.terms = terms;
    this.snapshotIndex = recovered.snapshot?.metadata.index ?? 0;
    this.snapshotFiles = recovered.snapshot === undefined ? [] : [this.snapshotIndex];
    this.hardState = recovered.hardState;
    this.storedTerm = stored.term;
    this.storedVote = stored.vote;
    this.storedCommit = stored.commit;
    this.commitWritten = recovered.hardState.commit;
    this.commitSynced = recovered.hardState.commit;
    assert(terms.baseIndex === this.snapshotIndex, "recovered terms do not start at the snapshot");
    assert(recovered.entries.length === terms.lastIndex - terms.baseIndex, "recovered terms and entries disagree");
  }

  /**
   * Opens (recovering) or creates the store. A new store writes the identity with
   * `bootstrap` and syncs it; an existing one keeps the bootstrap it was created with.
   * Calls back once with the store or a StorageError.
   */
  static open(disk: Disk, identity: StorageIdentity, bootstrap: ConfState, options: StorageOptions, done: (result: RaftStorage | StorageError) => void): void {
    assert(Number.isSafeInteger(identity.nodeId) && identity.nodeId > 0, "node id must be a positive safe integer");
    assert(identity.clusterId.length > 0 && new TextEncoder().encode(identity.clusterId).length <= CLUSTER_ID_MAX_BYTES, "cluster id must be 1 to 256 bytes");
    const resolved = resolveOptions(options);
    const recovery = recover(disk, identity, { plantedBugs: resolved.plantedBugs });
    if (recovery instanceof StorageError && recovery.code === "corrupt") options.reached?.("storage/corrupt-store-detected");
    if (recovery instanceof StorageError) return done(recovery);
    if (recovery.truncations.length > 0) options.reached?.("storage/torn-tail-repaired");
    const stored = recovery.identity;
    const recovered: RecoveredState = {
      hardState: { term: recovery.storedHardState.term, vote: recovery.storedHardState.vote, commit: recovery.commit },
      snapshot: recovery.snapshot,
      entries: recovery.entries,
      confState: recoveredConfState(recovery, bootstrap),
    };
    const storage = new RaftStorage(disk, resolved, recovered, recovery.segments, recovery.terms, recovery.storedHardState);
    storage.recoveryRepairs = { truncations: recovery.truncations, removals: recovery.removals };

    const steps: Step[] = [];
    if (stored === undefined) {
      const payload = encodeIdentityPayload({ nodeId: identity.nodeId, clusterId: identity.clusterId, bootstrap });
      steps.push((next) => storage.writeFileAtomically(IDENTITY_FILE, encodeSingleRecord(RecordType.identity, payload), next));
    }
    // Repairs: a torn tail is cut off and the cut made durable before anything is appended after it.
    for (const { name, sizeBytes } of recovery.truncations) {
      steps.push((next) => {
        disk.truncate(name, sizeBytes);
        disk.sync(name, (error) => next(error === undefined ? undefined : StorageError.io("sync", name, error)));
      });
    }
    // What recovery read may never have reached the device: after a process kill the kernel
    // still holds the dead incarnation's unsynced writes, and a later host crash could lose
    // them. Recovery treats what it read as durable (it may vote and acknowledge on it, and a
    // sync point may cover it), so it makes every file durable first (sorted names: list() order),
    // and only then counts each segment's bytes as synced.
    const trustUnsynced = resolved.plantedBugs?.has("open-trusting-unsynced-reads") === true;
    if (!trustUnsynced) steps.push((next) => {
      const names = disk.list().filter((name) => !recovery.removals.includes(name));
      let index = 0;
      const syncNext = (error: DiskError | undefined): void => {
        if (error !== undefined) return next(StorageError.io("sync", names[index - 1]!, error));
        if (index === names.length) return next(undefined);
        disk.sync(names[index++]!, syncNext);
      };
      syncNext(undefined);
    });
    steps.push((next) => {
      for (const segment of storage.segments) segment.dataSyncedEnd = segment.sizeBytes;
      next();
    });
    steps.push((next) => {
      for (const name of recovery.removals) if (disk.size(name) !== undefined) disk.remove(name);
      // Always: makes earlier incarnations' un-synced removals durable too, and keeps `done` asynchronous.
      disk.syncDirectory((error) => next(error === undefined ? undefined : StorageError.io("sync", "data directory", error)));
    });
    runSteps(steps, (error) => done(error ?? storage));
  }

  /**
   * Step 1 of the Ready contract (src/core/raft/types.ts): persist snapshot (if any), then
   * entries, then hardState; if mustSync, make it all durable before calling done. A new
   * term or vote is made durable first (see the top of this file). A received snapshot
   * replaces the whole log.
   */
  persist(batch: PersistBatch, mustSync: boolean, done: (error: StorageError | undefined) => void): void {
    assert(!this.busy, "persist called while a persist or saveSnapshot is in flight");
    // The private method, not this.persist again: a harness may have wrapped the public one.
    if (this.flushing) return this.waitForFlush(() => this.startPersist(batch, mustSync, done));
    this.startPersist(batch, mustSync, done);
  }

  private startPersist(given: PersistBatch, mustSync: boolean, done: (error: StorageError | undefined) => void): void {
    if (this.failed !== undefined) return this.complete(done, this.failed, true);
    // The retry of a batch whose received snapshot was installed before the disk filled: the rest of it.
    const installed = given.snapshot !== undefined && given.snapshot.metadata.index === this.snapshotInstalledByUnfinishedPersist;
    const batch: PersistBatch = installed ? { snapshot: undefined, entries: given.entries, hardState: given.hardState } : given;
    this.snapshotInstalledByUnfinishedPersist = 0;
    this.checkBatch(batch);
    const hardStateBefore = this.hardState;
    this.busy = true;
    if (mustSync && batch.entries.length > 0) this.appendedSinceIdleCheck = true;
    const hardState = batch.hardState;
    const termOrVoteChanged = hardState !== undefined && (hardState.term !== this.storedTerm || hardState.vote !== this.storedVote);
    if (!termOrVoteChanged && batch.snapshot === undefined && this.appendsWithoutWaiting(batch.entries)) {
      this.persistFast(batch.entries, hardState, mustSync, done, hardStateBefore);
      return;
    }
    let synchronous = true;
    const steps: Step[] = [];
    if (termOrVoteChanged) steps.push((next) => this.writeHardState(hardState.term, hardState.vote, next));
    const snapshot = batch.snapshot;
    if (snapshot !== undefined) steps.push((next) => this.installSnapshot(snapshot, next));
    const commit = hardState?.commit ?? this.hardState.commit;
    steps.push((next) => this.append(batch.entries, commit, next));
    if (mustSync) steps.push((next) => this.syncLog(next));
    if (hardState !== undefined) this.hardState = hardState;

    runSteps(steps, (error) => {
      this.busy = false;
      if (error === undefined) this.snapshotInstalledByUnfinishedPersist = 0;
      else this.persistFailed(error, hardStateBefore);
      this.complete(done, error, synchronous);
    });
    synchronous = false;
  }

  /**
   * A persist stopped with `error`. "no-space" leaves the store open: every step before the
   * failing one is durable or recorded as written, the failing one was undone, and the batch is
   * not the store's state yet (the core's hard state goes back to the one before it), so the
   * caller may persist the same batch again. Anything else fails the store for good.
   */
  private persistFailed(error: StorageError, hardStateBefore: HardState): void {
    if (error.code !== "no-space") {
      this.failed = error;
      return;
    }
    this.hardState = hardStateBefore;
    assert(this.commitSynced <= this.commitWritten, "a synced commit above the written one after a full disk");
  }

  /**
   * The common case without closures or steps: the batch goes to the tail segment with no
   * removal, roll or hard state write before it; then, if mustSync, one sync.
   */
  private persistFast(entries: readonly Entry[], hardState: HardState | undefined, mustSync: boolean, done: (error: StorageError | undefined) => void, hardStateBefore: HardState): void {
    const commit = hardState?.commit ?? this.hardState.commit;
    if (hardState !== undefined) this.hardState = hardState;
    const recordCommit = commit > this.commitWritten && commit > this.snapshotIndex;
    let error: StorageError | undefined;
    if (entries.length > 0 || recordCommit) {
      try {
        this.writeBatch(entries, recordCommit ? commit : undefined, undefined);
      } catch (thrown) {
        if (!(thrown instanceof DiskError)) throw thrown;
        error = StorageError.ofWrite("write", this.segments[this.segments.length - 1]!.name, thrown);
        if (error.code === "no-space" && entries.length === 0 && !mustSync) {
          // A commit mark alone that does not fit is left out: Raft's commit index is volatile,
          // recovery may return an older one, and the next batch that fits records it.
          this.commitMarksSkipped += 1;
          error = undefined;
        }
      }
    }
    if (error !== undefined || !mustSync) {
      this.busy = false;
      if (error !== undefined) this.persistFailed(error, hardStateBefore);
      return this.complete(done, error, true);
    }
    let synchronous = true;
    this.syncLog((syncError) => {
      this.busy = false;
      if (syncError !== undefined) this.persistFailed(syncError, hardStateBefore);
      this.complete(done, syncError, synchronous);
    });
    synchronous = false;
  }

  /** True when `entries` can be written to the tail segment at once: no segment to remove or create first. */
  private appendsWithoutWaiting(entries: readonly Entry[]): boolean {
    const tail = this.segments[this.segments.length - 1];
    if (entries.length === 0) return true;
    if (tail === undefined) return false;
    const first = entries[0]!.index;
    return first >= tail.firstIndex && !this.rollsBefore(first, tail);
  }

  /**
   * Whether a batch starting at `first` goes to a new segment rather than to `tail`: only when
   * the tail is full and the batch extends its live log. A batch that replaces entries the tail
   * holds is appended to the tail even when it is full, so the entries it replaces are masked by
   * a later record of the same file, never by another file: removing later segments (guarantee
   * 3) then always cuts the log, and can never bring back entries an earlier replacement masked.
   */
  private rollsBefore(first: number, tail: SegmentState): boolean {
    return tail.sizeBytes >= this.options.segmentSizeBytes && first > tail.lastIndex && first > tail.firstIndex;
  }

  /** The application compacted at snapshot.metadata.index: write it atomically, then drop obsolete segments and snapshots. */
  saveSnapshot(snapshot: Snapshot, done: (error: StorageError | undefined) => void): void {
    assert(!this.busy, "saveSnapshot called while a persist or saveSnapshot is in flight");
    if (this.flushing) return this.waitForFlush(() => this.startSaveSnapshot(snapshot, done));
    this.startSaveSnapshot(snapshot, done);
  }

  private startSaveSnapshot(snapshot: Snapshot, done: (error: StorageError | undefined) => void): void {
    if (this.failed !== undefined) return this.complete(done, this.failed, true);
    const { index, term } = snapshot.metadata;
    assert(index > this.snapshotIndex, () => `snapshot at ${index} does not advance the snapshot at ${this.snapshotIndex}`);
    assert(index <= this.terms.lastIndex && this.terms.termAt(index) === term, () => `snapshot (${index}, ${term}) is not an entry of the log`);
    assert(index <= this.hardState.commit, () => `snapshot at ${index} is beyond the commit index ${this.hardState.commit}`);
    assert(snapshot.data.length <= this.options.snapshotDataMaxBytes, "snapshot data exceeds snapshotDataMaxBytes");
    this.busy = true;
    let synchronous = true;
    const bytes = encodeSnapshotRecord(snapshot);
    runSteps(
      [
        (next) => this.writeSnapshotFile(index, bytes, next),
        (next) => {
          // Removals need not be durable: recovery takes the newest snapshot and skips covered segments.
          this.snapshotIndex = index;
          this.terms.compact(index);
          this.removeOlderSnapshots(index);
          const tail = this.segments[this.segments.length - 1];
          const kept: SegmentState[] = [];
          for (const segment of this.segments) {
            if (segment !== tail && segment.lastIndex <= index) this.disk.remove(segment.name);
            else kept.push(segment);
          }
          this.segments = kept;
          next();
        },
      ],
      (error) => {
        this.busy = false;
        // A full disk refused the snapshot file (removed again): nothing changed, compaction waits.
        if (error !== undefined && error.code !== "no-space") this.failed = error;
        this.complete(done, error, synchronous);
      },
    );
    synchronous = false;
  }

  /**
   * The idle half of the "riding" sync point (docs/STORAGE.md, "The sync point window"): the
   * driver calls this on every tick while it has nothing to persist. When no synced append
   * happened since the previous call (the log was idle for a whole tick) and the tail's sync
   * point lags its durable data, it writes and syncs the sync point on its own. Otherwise,
   * and in the other modes, it calls back at once.
   */
  flushSyncPointWhenIdle(done: (error: StorageError | undefined) => void): void {
    const idle = !this.appendedSinceIdleCheck;
    this.appendedSinceIdleCheck = false;
    if (!idle) return done(undefined);
    this.flushSyncPoint(done);
  }

  /**
   * Makes the tail's sync point cover everything already durable ("riding" mode), now: one
   * slot write and one fdatasync, or nothing when the sync point is caught up, a persist or
   * saveSnapshot is in flight (its own fsync may carry it), or a flush already is. A persist
   * or saveSnapshot called meanwhile starts when the flush completes. Calls back with the
   * StorageError "io" that fails the store, or undefined.
   */
  flushSyncPoint(done: (error: StorageError | undefined) => void): void {
    if (this.failed !== undefined) return done(this.failed);
    const tail = this.segments[this.segments.length - 1];
    if (this.options.syncPoints !== "riding" || this.busy || this.flushing || tail === undefined || tail.dataSyncedEnd <= tail.syncedEnd) return done(undefined);
    assert(this.waitingForFlush === undefined, "a persist waits for a flush that is not in flight");
    this.flushing = true;
    let point: SyncPoint | undefined;
    try {
      point = this.writeRidingSyncPoint(tail);
    } catch (thrown) {
      if (!(thrown instanceof DiskError)) throw thrown;
      const error = StorageError.ofWrite("write", tail.name, thrown);
      // A full disk: the slot keeps its old sync point (a slot write is undone like any other); a later flush retries.
      if (error.code !== "no-space") this.failed = error;
      this.flushing = false;
      return done(error);
    }
    assert(point !== undefined, "a lagging sync point wrote no slot");
    const sizeAtSync = tail.sizeBytes;
    this.disk.sync(tail.name, (error) => {
      this.flushing = false;
      if (error !== undefined) this.failed = StorageError.io("sync", tail.name, error);
      else this.tailSynced(tail, sizeAtSync, point);
      done(this.failed);
      const waiting = this.waitingForFlush;
      this.waitingForFlush = undefined;
      if (waiting !== undefined) {
        this.busy = false;
        waiting();
      }
    });
  }

  /** Parks a persist or saveSnapshot until the flush in flight completes; busy until then, so the one-at-a-time rule holds. */
  private waitForFlush(start: () => void): void {
    assert(this.waitingForFlush === undefined, "two operations wait for one flush");
    this.busy = true;
    this.waitingForFlush = start;
  }

  /** Bytes on disk, segment count: for status and benchmarks. */
  stats(): StorageStats {
    let walBytes = 0;
    for (const segment of this.segments) walBytes += segment.sizeBytes;
    return { walBytes, segments: this.segments.length, snapshotIndex: this.snapshotIndex, lastIndex: this.terms.lastIndex, commitMarksSkipped: this.commitMarksSkipped };
  }

  private complete(done: (error: StorageError | undefined) => void, error: StorageError | undefined, synchronous: boolean): void {
    const defer = this.options.defer;
    if (synchronous && defer !== undefined) defer(() => done(error));
    else done(error);
  }

  /** Pair assertions: the batch must extend the log as Raft extends it. */
  private checkBatch(batch: PersistBatch): void {
    const { entries, snapshot, hardState } = batch;
    assert(entries.length <= this.options.batchEntriesMax, () => `persist of ${entries.length} entries exceeds batchEntriesMax`);
    let baseIndex = this.snapshotIndex;
    let lastIndex = this.terms.lastIndex;
    if (snapshot !== undefined) {
      const { index } = snapshot.metadata;
      assert(index > this.snapshotIndex, () => `received snapshot at ${index} does not advance the snapshot at ${this.snapshotIndex}`);
      assert(index >= this.hardState.commit, () => `received snapshot at ${index} is below the commit index ${this.hardState.commit}`);
      assert(snapshot.data.length <= this.options.snapshotDataMaxBytes, "snapshot data exceeds snapshotDataMaxBytes");
      baseIndex = index;
      lastIndex = index;
    }
    const newTerm = hardState?.term ?? this.hardState.term;
    if (hardState !== undefined) {
      assert(hardState.term >= this.hardState.term, () => `term ${hardState.term} is below the current term ${this.hardState.term}`);
      assert(
        hardState.term > this.hardState.term || this.hardState.vote === 0 || hardState.vote === this.hardState.vote,
        () => `vote changed from ${this.hardState.vote} to ${hardState.vote} within term ${hardState.term}`,
      );
      assert(hardState.commit >= this.hardState.commit, () => `commit went back from ${this.hardState.commit} to ${hardState.commit}`);
    }
    if (entries.length > 0) {
      const first = entries[0]!.index;
      assert(first > baseIndex && first <= lastIndex + 1, () => `entries from ${first} do not extend the log (${baseIndex}, ${lastIndex}]`);
      assert(first > this.hardState.commit || snapshot !== undefined, () => `entries from ${first} would replace committed entries (commit ${this.hardState.commit})`);
      let previousTerm = snapshot !== undefined ? snapshot.metadata.term : this.terms.termAt(first - 1)!;
      const entryDataMaxBytes = this.options.entryDataMaxBytes;
      for (let i = 0; i < entries.length; i++) {
        const entry = entries[i]!;
        // Conditions first, messages only on failure: no closure per entry on this hot path.
        if (entry.index !== first + i) assert(false, `entries not contiguous at ${entry.index}`);
        if (!(entry.term >= previousTerm && entry.term >= 1)) assert(false, `entry ${entry.index} has term ${entry.term} after term ${previousTerm}`);
        if (entry.data.length > entryDataMaxBytes) assert(false, `entry ${entry.index} data exceeds entryDataMaxBytes`);
        previousTerm = entry.term;
      }
      assert(previousTerm <= newTerm, () => `entry term ${previousTerm} is above the current term ${newTerm}`);
      lastIndex = entries[entries.length - 1]!.index;
    }
    const commit = hardState?.commit ?? this.hardState.commit;
    assert(commit <= lastIndex, () => `commit ${commit} is beyond the last index ${lastIndex}`);
  }

  /** A snapshot file, atomically; the storage.snapshot-write failpoint may fail it first (docs/FAILPOINTS.md). */
  private writeSnapshotFile(index: number, bytes: Uint8Array, next: Next): void {
    const name = snapshotFileName(index);
    const verdict = this.options.failpoint("storage.snapshot-write");
    if (verdict !== undefined) {
      assert(verdict.kind === "return", "storage.snapshot-write answers only return");
      return next(StorageError.ofWrite("write", name, injectedDiskError("storage.snapshot-write", verdict, `write ${name}`)));
    }
    this.writeFileAtomically(name, bytes, next);
  }

  /** temp file, sync, rename, sync directory: the file holds either the old or the new content. */
  private writeFileAtomically(name: string, bytes: Uint8Array, next: Next): void {
    const temporary = name + TEMPORARY_SUFFIX;
    if (this.disk.size(temporary) !== undefined) this.disk.remove(temporary);
    this.writeOrUndo(temporary, 0, bytes, true);
    this.disk.sync(temporary, (error) => {
      if (error !== undefined) return next(StorageError.io("sync", temporary, error));
      try {
        this.disk.rename(temporary, name);
      } catch (thrown) {
        if (thrown instanceof DiskError) return next(StorageError.ofWrite("rename", temporary, thrown));
        throw thrown;
      }
      const directoryWasDirty = this.directoryDirty;
      this.disk.syncDirectory((directoryError) => {
        if (directoryError !== undefined) return next(StorageError.io("sync", "data directory", directoryError));
        if (directoryWasDirty) this.directoryDirty = false;
        next();
      });
    });
  }

  private writeHardState(term: number, vote: NodeId, next: Next): void {
    // The commit written here is one known durable; the log's commit records carry newer ones.
    const commit = this.commitSynced;
    const payload = encodeHardStatePayload({ term, vote, commit });
    this.writeFileAtomically(HARD_STATE_FILE, encodeSingleRecord(RecordType.hardState, payload), (error) => {
      if (error === undefined) {
        this.storedTerm = term;
        this.storedVote = vote;
        this.storedCommit = commit;
      }
      next(error);
    });
  }

  /** A snapshot from the leader: durable first, then the old log removed durably, then the log restarts after it. */
  private installSnapshot(snapshot: Snapshot, next: Next): void {
    const { index, term } = snapshot.metadata;
    const bytes = encodeSnapshotRecord(snapshot);
    this.writeSnapshotFile(index, bytes, (error) => {
      if (error !== undefined) return next(error);
      try {
        for (const segment of this.segments) this.disk.remove(segment.name);
        this.removeOlderSnapshots(index);
      } catch (thrown) {
        if (thrown instanceof DiskError) return next(StorageError.ofWrite("remove", "segment", thrown));
        throw thrown;
      }
      this.disk.syncDirectory((directoryError) => {
        if (directoryError !== undefined) return next(StorageError.io("sync", "data directory", directoryError));
        this.segments = [];
        this.terms = new TermRuns(index, term);
        this.snapshotIndex = index;
        this.tailDirty = false;
        this.directoryDirty = false;
        this.commitWritten = Math.max(this.commitWritten, index);
        this.commitSynced = Math.max(this.commitSynced, index);
        this.snapshotInstalledByUnfinishedPersist = index;
        next();
      });
    });
  }

  private removeOlderSnapshots(index: number): void {
    for (const older of this.snapshotFiles) {
      if (older < index && this.disk.size(snapshotFileName(older)) !== undefined) this.disk.remove(snapshotFileName(older));
    }
    this.snapshotFiles = [index];
  }

  /** Appends entries and, when commit advanced, a commit record: one write to the tail segment. */
  private append(entries: readonly Entry[], commit: number, next: Next): void {
    const recordCommit = commit > this.commitWritten && commit > this.snapshotIndex;
    if (entries.length === 0 && !recordCommit) return next();
    const steps: Step[] = [];
    let newSegment: SegmentState | undefined;
    if (entries.length > 0) {
      const first = entries[0]!.index;
      const tail = this.segments[this.segments.length - 1];
      if (tail !== undefined && first < tail.firstIndex) steps.push((step) => this.removeSegmentsFrom(first, step));
      steps.push((step) => {
        const current = this.segments[this.segments.length - 1];
        if (current !== undefined && !this.rollsBefore(first, current)) return step();
        newSegment = { name: segmentFileName(first), firstIndex: first, sizeBytes: 0, lastIndex: first - 1, syncedEnd: SEGMENT_DATA_START, syncSeq: 0, dataSyncedEnd: SEGMENT_DATA_START };
        if (current === undefined) return step();
        // The closed segment takes its last sync point with it: once it is not the tail, nothing rides on its fsyncs.
        const point = this.options.syncPoints === "riding" ? this.writeRidingSyncPoint(current) : undefined;
        if (!this.tailDirty) return step();
        this.syncTail(step, point);
      });
    }
    steps.push((step) => {
      // Decided again here: removing segments lowers commitWritten (removeSegmentsFrom).
      const recordCommitNow = commit > this.commitWritten && commit > this.snapshotIndex;
      this.writeBatch(entries, recordCommitNow ? commit : undefined, newSegment);
      step();
    });
    runSteps(steps, next);
  }

  /** One write to the tail (or to `newSegment`, which becomes the tail): entries, then the commit record if any. */
  private writeBatch(entries: readonly Entry[], commit: number | undefined, newSegment: SegmentState | undefined): void {
    const prevTerm = newSegment === undefined ? undefined : this.terms.termAt(newSegment.firstIndex - 1)!;
    const tail = newSegment ?? this.segments[this.segments.length - 1];
    assert(tail !== undefined, "commit record with no segment to hold it");
    let bytes: Uint8Array;
    if (newSegment === undefined) bytes = encodeBatch(tail.sizeBytes, undefined, 0, entries, commit);
    else {
      // A new segment's first write: its header, the two sync point slots as zeros, then the batch.
      const header = encodeBatch(0, prevTerm, newSegment.firstIndex, [], undefined);
      const batch = encodeBatch(SEGMENT_DATA_START, undefined, 0, entries, commit);
      assert(header.length === SEGMENT_HEADER_RECORD_BYTES, "segment header record size");
      bytes = new Uint8Array(SEGMENT_DATA_START + batch.length);
      bytes.set(header, 0);
      bytes.set(batch, SEGMENT_DATA_START);
    }
    // Nothing is recorded before the write succeeded: a full disk leaves the store as it was (guarantee 6).
    this.writeOrUndo(tail.name, tail.sizeBytes, bytes, newSegment !== undefined);
    if (newSegment !== undefined) {
      for (const segment of this.segments) segment.lastIndex = Math.min(segment.lastIndex, newSegment.firstIndex - 1);
      this.segments.push(newSegment);
      this.directoryDirty = true;
    }
    tail.sizeBytes += bytes.length;
    this.tailDirty = true;
    for (const entry of entries) this.terms.append(entry.index, entry.term);
    if (entries.length > 0) tail.lastIndex = entries[entries.length - 1]!.index;
    if (commit !== undefined) this.commitWritten = commit;
  }

  /**
   * One write of `bytes` at `offset` of `name` (a new file when `creates`). When the disk
   * refuses it (full, or failing), what the write may have left is undone before the error goes
   * on (guarantee 6): a file it was creating is removed, an existing one truncated back to
   * `offset`, so the bytes after the store's recorded end are gone from the view. Undone or not,
   * a crash may still bring them back (the truncate is not synced): recovery then reads the
   * complete records of a prefix of the batch, which the core wrote, and cuts the rest as a torn
   * tail; nothing was acknowledged on them.
   */
  private writeOrUndo(name: string, offset: number, bytes: Uint8Array, creates: boolean): void {
    assert(!creates || offset === 0, "a new file is written from its start");
    try {
      this.disk.write(name, offset, bytes);
    } catch (thrown) {
      if (!(thrown instanceof DiskError)) throw thrown;
      const sizeAfter = this.disk.size(name);
      if (sizeAfter !== undefined && creates) this.disk.remove(name);
      else if (sizeAfter !== undefined && sizeAfter > offset) this.disk.truncate(name, offset);
      assert(creates ? this.disk.size(name) === undefined : (this.disk.size(name) ?? 0) <= offset, "a refused write was not undone");
      throw thrown;
    }
  }

  /**
   * Removes the segments holding only entries >= index, durably (guarantee 3). The commit
   * records in them go too, and they may be the newest: the acknowledged commit (commitSynced)
   * is first made durable in the hard state file unless it is there (or at the snapshot)
   * already, and afterwards only commitSynced counts as written, so the batch that follows
   * records any newer commit again.
   */
  private removeSegmentsFrom(index: number, next: Next): void {
    if (this.commitSynced > Math.max(this.storedCommit, this.snapshotIndex)) {
      return this.writeHardState(this.storedTerm, this.storedVote, (error) => (error === undefined ? this.removeSegmentsFrom(index, next) : next(error)));
    }
    assert(this.commitSynced <= this.commitWritten, "a synced commit above the written one");
    const kept: SegmentState[] = [];
    for (const segment of this.segments) {
      if (segment.firstIndex >= index) this.disk.remove(segment.name);
      else kept.push(segment);
    }
    this.segments = kept;
    this.tailDirty = false; // the remaining segments were all synced before their successors were created
    this.commitWritten = this.commitSynced;
    this.disk.syncDirectory((error) => {
      if (error !== undefined) return next(StorageError.io("sync", "data directory", error));
      next();
    });
  }

  private syncTail(next: Next, point: SyncPoint | undefined): void {
    const tail = this.segments[this.segments.length - 1]!;
    const sizeAtSync = tail.sizeBytes;
    this.disk.sync(tail.name, (error) => {
      if (error !== undefined) return next(StorageError.io("sync", tail.name, error));
      this.tailSynced(tail, sizeAtSync, point);
      next();
    });
  }

  /**
   * An fsync of `tail` issued at size `sizeAtSync` completed: those bytes are durable, and so
   * is the sync point written before it (if any). The tail is clean unless it grew meanwhile.
   */
  private tailSynced(tail: SegmentState, sizeAtSync: number, point: SyncPoint | undefined): void {
    assert(sizeAtSync <= tail.sizeBytes, "the tail shrank under an fsync");
    tail.dataSyncedEnd = Math.max(tail.dataSyncedEnd, sizeAtSync);
    if (tail === this.segments[this.segments.length - 1] && sizeAtSync === tail.sizeBytes) this.tailDirty = false;
    if (point !== undefined) {
      assert(point.seq === tail.syncSeq + 1 && point.end <= tail.dataSyncedEnd, "a sync point beyond the durable data became durable");
      tail.syncSeq = point.seq;
      tail.syncedEnd = point.end;
    }
  }

  /**
   * "riding" mode: writes the tail's next sync point, covering what is already durable
   * (dataSyncedEnd), into the slot of its sequence number, to be made durable by the fsync
   * that follows. Nothing if the sync point is caught up. The slot it overwrites holds the
   * sync point before the previous one, and the previous one is durable (its fsync completed
   * before anything else was written), so a crash tearing this write leaves a valid slot.
   */
  private writeRidingSyncPoint(tail: SegmentState): SyncPoint | undefined {
    // Planted bug: cover the batch just written, whose fsync has not completed.
    const coversUnsynced = this.options.plantedBugs?.has("sync-point-covers-unsynced-batch") === true;
    const end = coversUnsynced ? tail.sizeBytes : tail.dataSyncedEnd;
    if (end <= tail.syncedEnd) return undefined;
    assert(coversUnsynced || (end <= tail.sizeBytes && tail.syncedEnd <= end), "a sync point must cover durable data only");
    const point = { seq: tail.syncSeq + 1, end };
    this.disk.write(tail.name, syncPointSlotOffset(point.seq), encodeSyncPoint(point));
    this.tailDirty = true;
    return point;
  }

  /** Makes everything appended durable: the tail's data and, when a segment was created, the directory. */
  private syncLog(next: Next): void {
    const tail = this.segments[this.segments.length - 1];
    const syncFile = this.tailDirty && tail !== undefined;
    const syncDirectory = this.directoryDirty;
    const commit = this.commitWritten;
    if (!syncFile && !syncDirectory) {
      this.commitSynced = commit;
      return this.writeSyncPoint(next);
    }
    // "riding": the sync point covering what earlier fsyncs made durable goes in this fsync (guarantee 5).
    let point: SyncPoint | undefined;
    try {
      if (syncFile && this.options.syncPoints === "riding") point = this.writeRidingSyncPoint(tail);
    } catch (thrown) {
      if (thrown instanceof DiskError) return next(StorageError.ofWrite("write", tail!.name, thrown));
      throw thrown;
    }
    const progress: SyncLogProgress = { pending: (syncFile ? 1 : 0) + (syncDirectory ? 1 : 0), failure: undefined, tail, sizeAtSync: tail?.sizeBytes ?? 0, point, syncedFile: syncFile, syncedDirectory: syncDirectory, commit };
    if (syncFile) {
      const name = tail.name;
      this.disk.sync(name, (error) => this.syncLogStepDone(progress, error === undefined ? undefined : StorageError.io("sync", name, error), next));
    }
    if (syncDirectory) {
      this.disk.syncDirectory((error) => this.syncLogStepDone(progress, error === undefined ? undefined : StorageError.io("sync", "data directory", error), next));
    }
  }

  private syncLogStepDone(progress: SyncLogProgress, error: StorageError | undefined, next: Next): void {
    progress.failure ??= error;
    if (--progress.pending > 0) return;
    if (progress.failure !== undefined) return next(progress.failure);
    if (progress.syncedFile) this.tailSynced(progress.tail!, progress.sizeAtSync, progress.point);
    if (progress.syncedDirectory) this.directoryDirty = false;
    this.commitSynced = progress.commit;
    this.writeSyncPoint(next);
  }

  /**
   * After the tail's data is durable and before anything is acknowledged: record how far
   * it reaches in the tail's next sync point slot and sync that too (src/core/storage/sync-point.ts).
   * Recovery then reads any gap before that point as lost data ("corrupt"), never as a torn
   * tail. This second write and sync is the price of telling the two apart.
   */
  private writeSyncPoint(next: Next): void {
    const tail = this.segments[this.segments.length - 1];
    if (this.options.syncPoints !== "strict" || tail === undefined || tail.sizeBytes <= tail.syncedEnd) return next();
    const point = { seq: tail.syncSeq + 1, end: tail.sizeBytes };
    try {
      this.disk.write(tail.name, syncPointSlotOffset(point.seq), encodeSyncPoint(point));
    } catch (thrown) {
      if (thrown instanceof DiskError) return next(StorageError.ofWrite("write", tail.name, thrown));
      throw thrown;
    }
    this.disk.sync(tail.name, (error) => {
      if (error !== undefined) return next(StorageError.io("sync", tail.name, error));
      tail.syncSeq = point.seq;
      tail.syncedEnd = point.end;
      tail.dataSyncedEnd = Math.max(tail.dataSyncedEnd, point.end);
      next();
    });
  }
}

/** One syncLog's fsync of the tail and of the directory, run in parallel; the last to finish goes on. */
interface SyncLogProgress {
  pending: number;
  failure: StorageError | undefined;
  readonly tail: SegmentState | undefined;
  readonly sizeAtSync: number;
  readonly point: SyncPoint | undefined;
  readonly syncedFile: boolean;
  readonly syncedDirectory: boolean;
  readonly commit: number;
}

/** The snapshot file's bytes, with the (possibly large) data copied once. */
function encodeSnapshotRecord(snapshot: Snapshot): Uint8Array {
  const payloadLength = snapshotPayloadBytes(snapshot);
  const buffer = new Uint8Array(RECORD_HEADER_BYTES + payloadLength);
  const written = writeSnapshotPayload(buffer, RECORD_HEADER_BYTES, snapshot);
  assert(written === payloadLength, "snapshot payload size mismatch");
  sealRecord(buffer, 0, RecordType.snapshot, payloadLength, 0);
  return buffer;
}

/** One buffer for one write: an optional segment header, the entry records, an optional commit record. */
function encodeBatch(fileOffset: number, prevTerm: number | undefined, firstIndex: number, entries: readonly Entry[], commit: number | undefined): Uint8Array {
  let size = 0;
  if (prevTerm !== undefined) size += RECORD_HEADER_BYTES + SEGMENT_HEADER_PAYLOAD_BYTES;
  for (let i = 0; i < entries.length; i++) size += RECORD_HEADER_BYTES + ENTRY_PAYLOAD_FIXED_BYTES + entries[i]!.data.length;
  if (commit !== undefined) size += RECORD_HEADER_BYTES + COMMIT_PAYLOAD_BYTES;
  const buffer = new Uint8Array(size);
  let offset = 0;
  if (prevTerm !== undefined) {
    const length = writeSegmentHeaderPayload(buffer, offset + RECORD_HEADER_BYTES, { firstIndex, prevTerm });
    sealRecord(buffer, offset, RecordType.segmentHeader, length, fileOffset);
    offset += RECORD_HEADER_BYTES + length;
  }
  for (let i = 0; i < entries.length; i++) {
    const length = writeEntryPayload(buffer, offset + RECORD_HEADER_BYTES, entries[i]!);
    sealRecord(buffer, offset, RecordType.entry, length, fileOffset);
    offset += RECORD_HEADER_BYTES + length;
  }
  if (commit !== undefined) {
    const length = writeCommitPayload(buffer, offset + RECORD_HEADER_BYTES, commit);
    sealRecord(buffer, offset, RecordType.commit, length, fileOffset);
    offset += RECORD_HEADER_BYTES + length;
  }
  if (offset !== size) throw new AssertionFailure(`batch encoding wrote ${offset} of ${size} bytes`);
  return buffer;
}

// Exported for tests and tools that inspect a data directory.
export { parseSegmentFileName, parseSnapshotFileName };
