// Reading a store back after a restart (docs/STORAGE.md, "Recovery"). Pure with respect
// to the disk: it only reads, and returns what it found plus the repairs that opening
// must carry out (truncating a torn tail, removing leftovers) before anything is appended.
//
// The write path guarantees (src/core/storage/raft-storage.ts):
//   - every segment but the last was synced before the next one was created, so only the
//     last segment may end in the trace of a crash (a torn tail);
//   - each segment starts with a header (firstIndex, prevTerm) that chains it to the entry
//     before it; segments that do not chain on start a separate chain, and only the chain
//     holding the snapshot's (index, term) is the live log: the others are leftovers of
//     removals that were not durable yet;
//   - a snapshot file is durable before anything it makes obsolete is removed.

import { DiskError } from "../env/environment.ts";
import type { Disk } from "../env/environment.ts";
import type { ConfState, Entry, HardState, Snapshot } from "../raft/types.ts";
import {
  HARD_STATE_FILE,
  IDENTITY_FILE,
  TEMPORARY_SUFFIX,
  parseSegmentFileName,
  parseSnapshotFileName,
} from "./file-names.ts";
import {
  FormatError,
  decodeHardStatePayload,
  decodeIdentityPayload,
  decodeSnapshotPayload,
  readCommitPayload,
  readEntryPayload,
  readSegmentHeaderPayload,
} from "./formats.ts";
import type { IdentityRecord } from "./formats.ts";
import { RECORD_HEADER_BYTES, RecordType, readRecordAt } from "./record.ts";
import type { RecordRead, RecordType as RecordTypeValue } from "./record.ts";
import { StorageError } from "./storage-error.ts";
import { SEGMENT_DATA_START, SEGMENT_HEADER_RECORD_BYTES, readSyncPoint } from "./sync-point.ts";
import { TermRuns } from "./term-runs.ts";

/** One segment of the live log, as the write path tracks it. */
export interface SegmentState {
  readonly name: string;
  readonly firstIndex: number;
  sizeBytes: number;
  /** The highest live index this segment holds (firstIndex - 1 while it holds none). */
  lastIndex: number;
  /** The durable sync point: bytes [0, syncedEnd) were synced and acknowledged (src/core/storage/sync-point.ts). */
  syncedEnd: number;
  /** The sequence number of that sync point (0: none written yet). */
  syncSeq: number;
  /**
   * Bytes [0, dataSyncedEnd) are known durable: an fsync issued after they were written has
   * completed. A sync point never covers more (docs/STORAGE.md, "The sync point window").
   * Recovery knows no more than the sync point; opening syncs the tail and raises it.
   */
  dataSyncedEnd: number;
}

/**
 * Bugs planted in storage for the test harness only (docs/PLANTED-BUGS.md); production never sets any.
 *   recover-skipping-checksums: log replay takes a WAL record whose checks fail at its word (its length and type).
 *   torn-tail-as-corrupt: a torn record at the end of the last segment (the trace of a crash) is reported as corruption.
 *   open-trusting-unsynced-reads: RaftStorage.open skips making what it recovered durable, so after a
 *     process kill it acts on writes a host crash can still lose.
 *   sync-point-covers-unsynced-batch: the sync point that rides on an append's fsync covers that append's own
 *     batch (whose fsync has not completed) instead of the data already durable before it.
 */
export type StoragePlantedBug = "recover-skipping-checksums" | "torn-tail-as-corrupt" | "open-trusting-unsynced-reads" | "sync-point-covers-unsynced-batch";

export interface RecoveryOptions {
  readonly plantedBugs?: ReadonlySet<StoragePlantedBug>;
}

export interface Recovery {
  /** Undefined when the directory holds no store yet. */
  readonly identity: IdentityRecord | undefined;
  /** As stored in the hard state file (zero when absent). */
  readonly storedHardState: HardState;
  /** The recovered commit: the highest of the hard state's, the log's commit records and the snapshot index. */
  readonly commit: number;
  readonly snapshot: Snapshot | undefined;
  readonly entries: Entry[];
  readonly segments: SegmentState[];
  readonly terms: TermRuns;
  /** Repairs, in order: truncate these files (then sync them), remove these files (then sync the directory). */
  readonly truncations: ReadonlyArray<{ readonly name: string; readonly sizeBytes: number }>;
  readonly removals: readonly string[];
}

const ZERO_HARD_STATE: HardState = { term: 0, vote: 0, commit: 0 };

/** Who must own the directory: a store of another node or cluster is refused before anything else is read. */
export interface ExpectedIdentity {
  readonly nodeId: number;
  readonly clusterId: string;
}

/** Reads the whole store; a StorageError for an identity mismatch, corruption or a failing disk. */
export function recover(disk: Disk, expected: ExpectedIdentity, options: RecoveryOptions = {}): Recovery | StorageError {
  const skipChecksums = options.plantedBugs?.has("recover-skipping-checksums") === true;
  try {
    readRecord = skipChecksums ? readRecordSkippingChecksums : readRecordAt;
    tornTailIsCorrupt = options.plantedBugs?.has("torn-tail-as-corrupt") === true;
    return recoverOrThrow(disk, expected);
  } catch (error) {
    if (error instanceof StorageError) return error;
    if (error instanceof DiskError) return StorageError.io("read", "data directory", error);
    throw error;
  } finally {
    readRecord = readRecordAt;
    tornTailIsCorrupt = false;
  }
}

/** Planted bug "torn-tail-as-corrupt" (only during one recover call): a clean torn tail refuses the store. */
let tornTailIsCorrupt = false;

/** The reader of WAL records: readRecordAt, unless a planted bug replaces it (only during one recover call). */
let readRecord: (bytes: Uint8Array, offset: number) => RecordRead = readRecordAt;

/** Planted bug "recover-skipping-checksums": a record whose checks fail is taken at its word (length and type). */
function readRecordSkippingChecksums(bytes: Uint8Array, offset: number): RecordRead {
  const read = readRecordAt(bytes, offset);
  if (read.kind === "record" || bytes.length - offset < RECORD_HEADER_BYTES) return read;
  const length = (bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 24)) >>> 0;
  const type = bytes[offset + 4]!;
  const end = offset + RECORD_HEADER_BYTES + length;
  if (type === 0 || type > RecordType.snapshot || end > bytes.length) return read;
  return { kind: "record", type: type as RecordTypeValue, payloadStart: offset + RECORD_HEADER_BYTES, end };
}

/** Reads a file that must hold exactly one valid record of `type`. */
function readSingleRecord<T>(disk: Disk, name: string, type: RecordTypeValue, decode: (bytes: Uint8Array, start: number, end: number) => T): T | undefined {
  const bytes = disk.read(name);
  if (bytes === undefined) return undefined;
  if (bytes.length === 0) throw StorageError.corrupt(name, 0, "empty file");
  const read = readRecordAt(bytes, 0);
  if (read.kind !== "record") throw StorageError.corrupt(name, 0, read.reason);
  if (read.type !== type) throw StorageError.corrupt(name, 0, `record of type ${read.type}, expected ${type}`);
  if (read.end !== bytes.length) throw StorageError.corrupt(name, read.end, "trailing bytes after the record");
  try {
    return decode(bytes, read.payloadStart, read.end);
  } catch (error) {
    if (error instanceof FormatError) throw StorageError.corrupt(name, 0, error.message);
    throw error;
  }
}

export function readIdentity(disk: Disk): IdentityRecord | undefined {
  return readSingleRecord(disk, IDENTITY_FILE, RecordType.identity, decodeIdentityPayload);
}

/** A chain of segments that follow one another (each header matches the log before it). */
interface Chain {
  baseIndex: number;
  baseTerm: number;
  entries: Entry[];
  commit: number;
  segments: SegmentState[];
}

function chainTermAt(chain: Chain, index: number): number | undefined {
  if (index === chain.baseIndex) return chain.baseTerm;
  if (index < chain.baseIndex || index > chain.baseIndex + chain.entries.length) return undefined;
  return chain.entries[index - chain.baseIndex - 1]!.term;
}

function chainLastIndex(chain: Chain): number {
  return chain.baseIndex + chain.entries.length;
}

function recoverOrThrow(disk: Disk, expected: ExpectedIdentity): Recovery {
  const names = disk.list();
  const removals: string[] = names.filter((name) => name.endsWith(TEMPORARY_SUFFIX));
  const truncations: Array<{ name: string; sizeBytes: number }> = [];
  const segmentNames: Array<{ name: string; firstIndex: number }> = [];
  const snapshotNames: Array<{ name: string; index: number }> = [];
  for (const name of names) {
    const firstIndex = parseSegmentFileName(name);
    if (firstIndex !== undefined) segmentNames.push({ name, firstIndex });
    const index = parseSnapshotFileName(name);
    if (index !== undefined) snapshotNames.push({ name, index });
  }

  const identity = readIdentity(disk);
  if (identity === undefined) {
    const data = names.find((name) => name === HARD_STATE_FILE || parseSegmentFileName(name) !== undefined || parseSnapshotFileName(name) !== undefined);
    if (data !== undefined) throw StorageError.corrupt(IDENTITY_FILE, 0, `missing while the directory holds Raft data (${data})`);
    return {
      identity: undefined,
      storedHardState: ZERO_HARD_STATE,
      commit: 0,
      snapshot: undefined,
      entries: [],
      segments: [],
      terms: new TermRuns(0, 0),
      truncations,
      removals,
    };
  }

  if (identity.nodeId !== expected.nodeId || identity.clusterId !== expected.clusterId) {
    throw new StorageError(
      "identity-mismatch",
      `data directory belongs to node ${identity.nodeId} of cluster "${identity.clusterId}", not to node ${expected.nodeId} of cluster "${expected.clusterId}"`,
      IDENTITY_FILE,
    );
  }

  const storedHardState = readSingleRecord(disk, HARD_STATE_FILE, RecordType.hardState, decodeHardStatePayload) ?? ZERO_HARD_STATE;

  // The newest snapshot rules; older ones are leftovers of a compaction whose removals were not durable.
  let snapshot: Snapshot | undefined;
  if (snapshotNames.length > 0) {
    const newest = snapshotNames[snapshotNames.length - 1]!;
    snapshot = readSingleRecord(disk, newest.name, RecordType.snapshot, decodeSnapshotPayload)!;
    if (snapshot.metadata.index !== newest.index) {
      throw StorageError.corrupt(newest.name, 0, `holds the snapshot at index ${snapshot.metadata.index}`);
    }
    for (const older of snapshotNames.slice(0, -1)) removals.push(older.name);
  }
  const snapshotIndex = snapshot?.metadata.index ?? 0;
  const snapshotTerm = snapshot?.metadata.term ?? 0;

  // Replay the segments into chains.
  const orphans: SegmentState[] = [];
  const chains: Chain[] = [];
  let chain: Chain | undefined;
  for (let i = 0; i < segmentNames.length; i++) {
    const { name, firstIndex } = segmentNames[i]!;
    const isLast = i === segmentNames.length - 1;
    const bytes = disk.read(name) ?? new Uint8Array(0);
    const segment: SegmentState = { name, firstIndex, sizeBytes: bytes.length, lastIndex: firstIndex - 1, syncedEnd: SEGMENT_DATA_START, syncSeq: 0, dataSyncedEnd: SEGMENT_DATA_START };

    // The sync point says how far this segment was durably acknowledged: a defect before it is corrupt even
    // where it looks torn (a misdirected or lost write, a zero-filled sector), a defect after it is a torn tail.
    const syncPoint = readSyncPoint(bytes);
    if (syncPoint !== undefined && "corrupt" in syncPoint) throw StorageError.corrupt(name, SEGMENT_HEADER_RECORD_BYTES, syncPoint.corrupt);
    const headerRead = bytes.length === 0 ? ({ kind: "torn", reason: "empty segment" } as const) : readRecord(bytes, 0);
    const headerMissing = headerRead.kind !== "record" || bytes.length < SEGMENT_DATA_START;
    if (headerMissing && syncPoint === undefined && isLast && headerRead.kind !== "corrupt") {
      // Created by a roll whose first write never became durable: nothing in it was acknowledged.
      removals.push(name);
      continue;
    }
    if (headerRead.kind !== "record") {
      const why = syncPoint === undefined ? headerRead.reason : `${headerRead.reason}, under a sync point at ${syncPoint.end}: acknowledged data lost`;
      throw StorageError.corrupt(name, 0, why);
    }
    if (bytes.length < SEGMENT_DATA_START) throw StorageError.corrupt(name, 0, `segment of ${bytes.length} bytes ends inside its sync point slots`);
    if (headerRead.type !== RecordType.segmentHeader || headerRead.end !== SEGMENT_HEADER_RECORD_BYTES) {
      throw StorageError.corrupt(name, 0, "segment does not start with a segment header");
    }
    const header = decode(name, 0, () => readSegmentHeaderPayload(bytes, headerRead.payloadStart, headerRead.end));
    if (header.firstIndex !== firstIndex) throw StorageError.corrupt(name, 0, `segment header says first index ${header.firstIndex}`);
    if (syncPoint !== undefined) {
      if (syncPoint.end > bytes.length) throw StorageError.corrupt(name, bytes.length, `segment ends before its sync point at ${syncPoint.end}: acknowledged data lost`);
      segment.syncedEnd = syncPoint.end;
      segment.syncSeq = syncPoint.seq;
      segment.dataSyncedEnd = syncPoint.end;
    }

    // Chain this segment to the log before it, or start a new chain.
    const chainsOn = chain !== undefined && firstIndex <= chainLastIndex(chain) + 1 && chainTermAt(chain, firstIndex - 1) === header.prevTerm;
    if (chain !== undefined && chainsOn) {
      if (firstIndex <= chain.commit) throw StorageError.corrupt(name, 0, `segment starting at ${firstIndex} replaces committed entries (commit ${chain.commit})`);
      if (firstIndex <= chainLastIndex(chain)) {
        chain.entries.length = firstIndex - 1 - chain.baseIndex;
        for (const earlier of chain.segments) earlier.lastIndex = Math.min(earlier.lastIndex, firstIndex - 1);
      }
    } else {
      chain = { baseIndex: firstIndex - 1, baseTerm: header.prevTerm, entries: [], commit: 0, segments: [] };
      chains.push(chain);
    }
    const live: Chain = chain;
    live.segments.push(segment);

    let offset = SEGMENT_DATA_START;
    while (offset < bytes.length) {
      const read = readRecord(bytes, offset);
      // A torn record after the sync point is the trace of a crash; before it, acknowledged data was lost.
      if (read.kind === "torn" && isLast && offset >= segment.syncedEnd && !tornTailIsCorrupt) {
        truncations.push({ name, sizeBytes: offset });
        segment.sizeBytes = offset;
        break;
      }
      if (read.kind !== "record") {
        const why = read.kind === "torn" && offset < segment.syncedEnd ? `${read.reason} before the sync point at ${segment.syncedEnd}: acknowledged data lost` : read.reason;
        throw StorageError.corrupt(name, offset, why);
      }
      const at = offset;
      if (read.type === RecordType.entry) {
        const entry = decode(name, at, () => readEntryPayload(bytes, read.payloadStart, read.end));
        const last = chainLastIndex(live);
        if (entry.index < firstIndex || entry.index > last + 1) {
          throw StorageError.corrupt(name, at, `entry ${entry.index} does not follow the log (segment starts at ${firstIndex}, log ends at ${last})`);
        }
        if (entry.index <= live.commit) throw StorageError.corrupt(name, at, `entry ${entry.index} replaces a committed entry (commit ${live.commit})`);
        const previousTerm = chainTermAt(live, entry.index - 1)!;
        if (entry.term < previousTerm) throw StorageError.corrupt(name, at, `entry ${entry.index} has term ${entry.term} below the previous term ${previousTerm}`);
        if (entry.index <= last) {
          live.entries.length = entry.index - 1 - live.baseIndex;
          for (const earlier of live.segments) earlier.lastIndex = Math.min(earlier.lastIndex, entry.index - 1);
        }
        live.entries.push(entry);
        segment.lastIndex = entry.index;
      } else if (read.type === RecordType.commit) {
        const commit = decode(name, at, () => readCommitPayload(bytes, read.payloadStart, read.end));
        if (commit > chainLastIndex(live)) throw StorageError.corrupt(name, at, `commit ${commit} beyond the log's last index ${chainLastIndex(live)}`);
        live.commit = Math.max(live.commit, commit);
      } else {
        throw StorageError.corrupt(name, at, `unexpected record type ${read.type} in a segment`);
      }
      offset = read.end;
    }
  }

  // The live log is the chain that holds the snapshot's (index, term), or (0, 0) without a snapshot: Log
  // Matching allows one. Other chains are leftovers of removals that were not durable: segments a
  // compaction made obsolete, segments after a replaced suffix, or the whole log a received snapshot
  // replaced (then no chain holds the snapshot and the log after it is empty).
  let entries: Entry[] = [];
  const segments: SegmentState[] = [];
  let commit = Math.max(storedHardState.commit, snapshotIndex);
  const live = chains.find((candidate) => chainTermAt(candidate, snapshotIndex) === snapshotTerm);
  if (live === undefined && snapshot === undefined && chains.length > 0) {
    throw StorageError.corrupt(chains[0]!.segments[0]!.name, 0, `the log starts after index ${chains[0]!.baseIndex} but there is no snapshot`);
  }
  for (const candidate of chains) {
    if (candidate !== live) {
      orphans.push(...candidate.segments);
      continue;
    }
    entries = candidate.entries.slice(snapshotIndex - candidate.baseIndex);
    commit = Math.max(commit, candidate.commit);
    // Segments wholly covered by the snapshot are leftovers of a compaction; the last one stays as the tail.
    for (let i = 0; i < candidate.segments.length; i++) {
      const segment = candidate.segments[i]!;
      if (segment.lastIndex <= snapshotIndex && i < candidate.segments.length - 1) orphans.push(segment);
      else segments.push(segment);
    }
  }
  for (const orphan of orphans) {
    removals.push(orphan.name);
    const truncated = truncations.findIndex((t) => t.name === orphan.name);
    if (truncated >= 0) truncations.splice(truncated, 1);
  }

  const terms = new TermRuns(snapshotIndex, snapshotTerm);
  for (const entry of entries) terms.append(entry.index, entry.term);
  const lastIndex = terms.lastIndex;
  if (commit > lastIndex) throw StorageError.corrupt(HARD_STATE_FILE, 0, `commit ${commit} is beyond the last durable index ${lastIndex}`);
  if (storedHardState.term < terms.lastTerm) {
    throw StorageError.corrupt(HARD_STATE_FILE, 0, `term ${storedHardState.term} is below the log's last term ${terms.lastTerm}`);
  }
  return { identity, storedHardState, commit, snapshot, entries, segments, terms, truncations, removals };
}

function decode<T>(file: string, offset: number, run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof FormatError) throw StorageError.corrupt(file, offset, error.message);
    throw error;
  }
}

/** The membership a recovered store starts from (RecoveredState.confState). */
export function recoveredConfState(recovery: Recovery, bootstrap: ConfState): ConfState {
  return recovery.snapshot?.metadata.confState ?? recovery.identity?.bootstrap ?? bootstrap;
}
