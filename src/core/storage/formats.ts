// Payload layouts of the records in src/core/storage/record.ts (all integers little endian;
// a "u64" is a non-negative safe integer stored as two u32 halves, low half first).
// docs/STORAGE.md has the same tables. Decoders throw FormatError, which the caller
// turns into a StorageError "corrupt" naming the file and offset.

import { assert } from "../assert.ts";
import type { ConfState, Entry, EntryType, HardState, NodeId, Snapshot, SnapshotMetadata } from "../raft/types.ts";

export class FormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FormatError";
  }
}

const TWO_POW_32 = 0x1_0000_0000;
const SEGMENT_MAGIC = 0x57584c42; // "BLXW"
const IDENTITY_MAGIC = 0x49584c42; // "BLXI"
const FORMAT_VERSION = 1;
export const CLUSTER_ID_MAX_BYTES = 256;
/** Voters plus learners in one ConfState: far above any real cluster, low enough to bound a decode. */
export const CONF_STATE_MEMBERS_MAX = 1024;

export const ENTRY_PAYLOAD_FIXED_BYTES = 17;
export const SEGMENT_HEADER_PAYLOAD_BYTES = 24;
export const COMMIT_PAYLOAD_BYTES = 8;
export const HARD_STATE_PAYLOAD_BYTES = 24;

/** Writes a u32 little endian at bytes[offset] (no DataView: creating one per record costs more than the writes). */
export function writeU32(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value;
  bytes[offset + 1] = value >>> 8;
  bytes[offset + 2] = value >>> 16;
  bytes[offset + 3] = value >>> 24;
}

export function readU32(bytes: Uint8Array, offset: number): number {
  return (bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 24)) >>> 0;
}

/** Writes a u64 (a non-negative safe integer) little endian at bytes[offset], as putU64 does through a view. */
export function writeU64(bytes: Uint8Array, offset: number, value: number): void {
  if (!(value >= 0 && value <= Number.MAX_SAFE_INTEGER && Math.floor(value) === value)) {
    assert(false, `u64 field value ${value} is not a non-negative safe integer`);
  }
  const low = value % TWO_POW_32;
  writeU32(bytes, offset, low);
  writeU32(bytes, offset + 4, (value - low) / TWO_POW_32);
}

/** Reads a u64 written by writeU64; throws FormatError beyond 2^53. */
export function readU64(bytes: Uint8Array, offset: number): number {
  const high = readU32(bytes, offset + 4);
  if (high >= 0x20_0000) throw new FormatError(`integer at offset ${offset} exceeds 2^53`);
  return high * TWO_POW_32 + readU32(bytes, offset);
}

export function putU64(view: DataView, offset: number, value: number): void {
  assert(Number.isSafeInteger(value) && value >= 0, () => `u64 field value ${value} is not a non-negative safe integer`);
  view.setUint32(offset, value % TWO_POW_32, true);
  view.setUint32(offset + 4, Math.floor(value / TWO_POW_32), true);
}

export function getU64(view: DataView, offset: number): number {
  const high = view.getUint32(offset + 4, true);
  if (high >= 0x20_0000) throw new FormatError(`integer at payload offset ${offset} exceeds 2^53`);
  return high * TWO_POW_32 + view.getUint32(offset, true);
}

function viewOf(bytes: Uint8Array, start: number, end: number): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset + start, end - start);
}

function entryTypeCode(type: EntryType): number {
  switch (type) {
    case "normal":
      return 1;
    case "conf-change":
      return 2;
  }
}

// ---- entry: term u64 | index u64 | type u8 (1 normal, 2 conf-change) | data

/** Writes an entry payload at buffer[offset...]; returns its length. */
export function writeEntryPayload(buffer: Uint8Array, offset: number, entry: Entry): number {
  writeU64(buffer, offset, entry.term);
  writeU64(buffer, offset + 8, entry.index);
  buffer[offset + 16] = entryTypeCode(entry.type);
  const data = entry.data;
  const dataStart = offset + ENTRY_PAYLOAD_FIXED_BYTES;
  // Commands are short: a byte loop beats set()'s call overhead below a few dozen bytes.
  if (data.length <= 64) for (let i = 0; i < data.length; i++) buffer[dataStart + i] = data[i]!;
  else buffer.set(data, dataStart);
  return ENTRY_PAYLOAD_FIXED_BYTES + data.length;
}

/** The entry's data is a view into `bytes` (no copy): `bytes` must not be modified afterwards. */
export function readEntryPayload(bytes: Uint8Array, start: number, end: number): Entry {
  if (end - start < ENTRY_PAYLOAD_FIXED_BYTES) throw new FormatError("entry record too short");
  const term = readU64(bytes, start);
  const index = readU64(bytes, start + 8);
  const code = bytes[start + 16]!;
  const type: EntryType | undefined = code === 1 ? "normal" : code === 2 ? "conf-change" : undefined;
  if (type === undefined) throw new FormatError(`invalid entry type ${code}`);
  if (index < 1 || term < 1) throw new FormatError(`entry with index ${index} and term ${term}`);
  return { term, index, type, data: bytes.subarray(start + ENTRY_PAYLOAD_FIXED_BYTES, end) };
}

// ---- segment header: magic u32 "BLXW" | version u32 | firstIndex u64 | prevTerm u64

export interface SegmentHeader {
  /** The index of the first entry this segment holds (also in its file name). */
  readonly firstIndex: number;
  /** The term of the entry at firstIndex - 1 (0 when firstIndex is 1): how the segment chains to what precedes it. */
  readonly prevTerm: number;
}

export function writeSegmentHeaderPayload(buffer: Uint8Array, offset: number, header: SegmentHeader): number {
  assert(header.firstIndex >= 1, "segment first index must be >= 1");
  writeU32(buffer, offset, SEGMENT_MAGIC);
  writeU32(buffer, offset + 4, FORMAT_VERSION);
  writeU64(buffer, offset + 8, header.firstIndex);
  writeU64(buffer, offset + 16, header.prevTerm);
  return SEGMENT_HEADER_PAYLOAD_BYTES;
}

export function readSegmentHeaderPayload(bytes: Uint8Array, start: number, end: number): SegmentHeader {
  if (end - start !== SEGMENT_HEADER_PAYLOAD_BYTES) throw new FormatError("segment header of the wrong size");
  const view = viewOf(bytes, start, end);
  if (view.getUint32(0, true) !== SEGMENT_MAGIC) throw new FormatError("not a Blixard WAL segment (bad magic)");
  const version = view.getUint32(4, true);
  if (version !== FORMAT_VERSION) throw new FormatError(`unsupported WAL format version ${version}`);
  const firstIndex = getU64(view, 8);
  if (firstIndex < 1) throw new FormatError("segment first index 0");
  return { firstIndex, prevTerm: getU64(view, 16) };
}

// ---- commit: commit u64

export function writeCommitPayload(buffer: Uint8Array, offset: number, commit: number): number {
  writeU64(buffer, offset, commit);
  return COMMIT_PAYLOAD_BYTES;
}

export function readCommitPayload(bytes: Uint8Array, start: number, end: number): number {
  if (end - start !== COMMIT_PAYLOAD_BYTES) throw new FormatError("commit record of the wrong size");
  return readU64(bytes, start);
}

// ---- hard state: term u64 | vote u64 | commit u64

export function encodeHardStatePayload(hardState: HardState): Uint8Array {
  const payload = new Uint8Array(HARD_STATE_PAYLOAD_BYTES);
  const view = viewOf(payload, 0, payload.length);
  putU64(view, 0, hardState.term);
  putU64(view, 8, hardState.vote);
  putU64(view, 16, hardState.commit);
  return payload;
}

export function decodeHardStatePayload(bytes: Uint8Array, start: number, end: number): HardState {
  if (end - start !== HARD_STATE_PAYLOAD_BYTES) throw new FormatError("hard state record of the wrong size");
  const view = viewOf(bytes, start, end);
  return { term: getU64(view, 0), vote: getU64(view, 8), commit: getU64(view, 16) };
}

// ---- conf state: voters count u32 | voters u64... | learners count u32 | learners u64...

function confStateBytes(confState: ConfState): number {
  return 8 + 8 * (confState.voters.length + confState.learners.length);
}

function writeConfState(view: DataView, offset: number, confState: ConfState): number {
  assert(confState.voters.length + confState.learners.length <= CONF_STATE_MEMBERS_MAX, "too many members in a ConfState");
  let at = offset;
  for (const list of [confState.voters, confState.learners]) {
    view.setUint32(at, list.length, true);
    at += 4;
    for (const id of list) {
      putU64(view, at, id);
      at += 8;
    }
  }
  return at - offset;
}

function readConfState(view: DataView, offset: number): { confState: ConfState; bytes: number } {
  let at = offset;
  const lists: NodeId[][] = [];
  for (let list = 0; list < 2; list++) {
    if (at + 4 > view.byteLength) throw new FormatError("conf state cut short");
    const count = view.getUint32(at, true);
    at += 4;
    if (count > CONF_STATE_MEMBERS_MAX || at + 8 * count > view.byteLength) throw new FormatError(`conf state with ${count} members`);
    const ids: NodeId[] = [];
    for (let i = 0; i < count; i++) {
      ids.push(getU64(view, at));
      at += 8;
    }
    lists.push(ids);
  }
  return { confState: { voters: lists[0]!, learners: lists[1]! }, bytes: at - offset };
}

// ---- identity: magic u32 "BLXI" | version u32 | nodeId u64 | clusterId length u16 | clusterId UTF-8 | bootstrap conf state

export interface IdentityRecord {
  readonly nodeId: NodeId;
  readonly clusterId: string;
  readonly bootstrap: ConfState;
}

export function encodeIdentityPayload(identity: IdentityRecord): Uint8Array {
  const clusterId = new TextEncoder().encode(identity.clusterId);
  assert(clusterId.length <= CLUSTER_ID_MAX_BYTES, "cluster id too long");
  const payload = new Uint8Array(18 + clusterId.length + confStateBytes(identity.bootstrap));
  const view = viewOf(payload, 0, payload.length);
  view.setUint32(0, IDENTITY_MAGIC, true);
  view.setUint32(4, FORMAT_VERSION, true);
  putU64(view, 8, identity.nodeId);
  view.setUint16(16, clusterId.length, true);
  payload.set(clusterId, 18);
  const written = writeConfState(view, 18 + clusterId.length, identity.bootstrap);
  assert(18 + clusterId.length + written === payload.length, "identity payload size mismatch");
  return payload;
}

export function decodeIdentityPayload(bytes: Uint8Array, start: number, end: number): IdentityRecord {
  if (end - start < 18) throw new FormatError("identity record too short");
  const view = viewOf(bytes, start, end);
  if (view.getUint32(0, true) !== IDENTITY_MAGIC) throw new FormatError("not a Blixard identity file (bad magic)");
  const version = view.getUint32(4, true);
  if (version !== FORMAT_VERSION) throw new FormatError(`unsupported identity format version ${version}`);
  const nodeId = getU64(view, 8);
  const clusterIdLength = view.getUint16(16, true);
  if (18 + clusterIdLength > end - start) throw new FormatError("identity cluster id cut short");
  const clusterId = new TextDecoder().decode(bytes.subarray(start + 18, start + 18 + clusterIdLength));
  const { confState, bytes: used } = readConfState(view, 18 + clusterIdLength);
  if (18 + clusterIdLength + used !== end - start) throw new FormatError("identity record has trailing bytes");
  return { nodeId, clusterId, bootstrap: confState };
}

// ---- snapshot: index u64 | term u64 | conf state | data (the rest)

export function snapshotPayloadBytes(snapshot: Snapshot): number {
  return 16 + confStateBytes(snapshot.metadata.confState) + snapshot.data.length;
}

/** Writes the snapshot payload at buffer[offset...] (the data is copied once, here); returns its length. */
export function writeSnapshotPayload(buffer: Uint8Array, offset: number, snapshot: Snapshot): number {
  const { metadata } = snapshot;
  const metadataBytes = 16 + confStateBytes(metadata.confState);
  const view = viewOf(buffer, offset, offset + metadataBytes);
  putU64(view, 0, metadata.index);
  putU64(view, 8, metadata.term);
  writeConfState(view, 16, metadata.confState);
  buffer.set(snapshot.data, offset + metadataBytes);
  return metadataBytes + snapshot.data.length;
}

export function encodeSnapshotPayload(snapshot: Snapshot): Uint8Array {
  const payload = new Uint8Array(snapshotPayloadBytes(snapshot));
  writeSnapshotPayload(payload, 0, snapshot);
  return payload;
}

/** The snapshot's data is a view into `bytes` (no copy). */
export function decodeSnapshotPayload(bytes: Uint8Array, start: number, end: number): Snapshot {
  if (end - start < 24) throw new FormatError("snapshot record too short");
  const view = viewOf(bytes, start, end);
  const index = getU64(view, 0);
  const term = getU64(view, 8);
  if (index < 1 || term < 1) throw new FormatError(`snapshot at index ${index} term ${term}`);
  const { confState, bytes: used } = readConfState(view, 16);
  const metadata: SnapshotMetadata = { index, term, confState };
  return { metadata, data: bytes.subarray(start + 16 + used, end) };
}
