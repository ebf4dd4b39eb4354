// The durable sync point of a WAL segment: how far the segment's bytes were made durable
// *and acknowledged* (docs/STORAGE.md, "Sync points"). It lets recovery tell a torn tail
// (bytes beyond the sync point: never acknowledged, safe to cut) from lost acknowledged
// data (a torn-looking record before the sync point: a misdirected or lost write, or a
// zero-filled sector; the store is corrupt).
//
// Layout of a segment:
//   offset 0    the segment header record (40 bytes)
//   offset 40   sync point slot 0 (32 bytes)
//   offset 72   sync point slot 1 (32 bytes)
//   offset 104  entry and commit records
// The slots are written as zeros with the segment header. The write path writes the next
// sync point into the slot of its sequence number (seq % 2): in "riding" mode (the default)
// just before an append's fsync, covering only what earlier fsyncs made durable, or on its
// own when the log is idle; in "strict" mode after the append's fsync, then syncs again
// before acknowledging (docs/STORAGE.md, "The sync point window"). Two slots, used in turn,
// and one is written only after the other became durable, so a crash that tears the slot
// being written leaves the other one intact.
//
// A slot (all integers little endian):
//   0   4  magic u32 "BLXS"
//   4   4  reserved, zero
//   8   8  seq u64 (1, 2, 3, ...; 0 is never written)
//   16  8  end u64 (segment size in bytes covered by the sync point, >= 104)
//   24  4  reserved, zero
//   28  4  CRC32C of bytes 0..27, seeded with the slot's file offset (binds the slot to its place)

import { assert } from "../assert.ts";
import { crc32c } from "./crc32c.ts";
import { writeU32 } from "./formats.ts";

export const SEGMENT_HEADER_RECORD_BYTES = 40;
export const SYNC_POINT_SLOT_BYTES = 32;
export const SYNC_POINT_SLOT_OFFSETS: readonly [number, number] = [SEGMENT_HEADER_RECORD_BYTES, SEGMENT_HEADER_RECORD_BYTES + SYNC_POINT_SLOT_BYTES];
/** Where a segment's entry and commit records begin. */
export const SEGMENT_DATA_START = SEGMENT_HEADER_RECORD_BYTES + 2 * SYNC_POINT_SLOT_BYTES;

const SYNC_POINT_MAGIC = 0x53584c42; // "BLXS"
const TWO_POW_32 = 0x1_0000_0000;

export interface SyncPoint {
  readonly seq: number;
  readonly end: number;
}

/** The slot a sync point with this sequence number goes to. */
export function syncPointSlotOffset(seq: number): number {
  return SYNC_POINT_SLOT_OFFSETS[seq % 2]!;
}

export function encodeSyncPoint(point: SyncPoint): Uint8Array {
  assert(Number.isSafeInteger(point.seq) && point.seq >= 1, "sync point seq must be a positive safe integer");
  assert(Number.isSafeInteger(point.end) && point.end >= SEGMENT_DATA_START, "sync point end must be at or after the data start");
  // No DataView: asking a 32-byte array for its buffer moves it off the JS heap, which costs more than the writes.
  const bytes = new Uint8Array(SYNC_POINT_SLOT_BYTES);
  writeU32(bytes, 0, SYNC_POINT_MAGIC);
  writeU32(bytes, 8, point.seq % TWO_POW_32);
  writeU32(bytes, 12, Math.floor(point.seq / TWO_POW_32));
  writeU32(bytes, 16, point.end % TWO_POW_32);
  writeU32(bytes, 20, Math.floor(point.end / TWO_POW_32));
  writeU32(bytes, 28, crc32c(bytes, 0, 28, syncPointSlotOffset(point.seq)));
  return bytes;
}

export type SlotRead =
  /** Never written (the segment's first write leaves zeros), or that write was lost. */
  | { readonly kind: "empty" }
  | { readonly kind: "valid"; readonly point: SyncPoint }
  /** Torn by a crash while being written, or damaged: recovery can tell which only with the other slot. */
  | { readonly kind: "bad"; readonly reason: string };

/** Reads the slot at `slotOffset` of a segment's bytes (a slot cut short by the file's end reads as bad, or empty if zero). */
export function readSyncPointSlot(bytes: Uint8Array, slotOffset: number): SlotRead {
  const end = Math.min(bytes.length, slotOffset + SYNC_POINT_SLOT_BYTES);
  let zero = true;
  for (let i = slotOffset; i < end; i++) if (bytes[i] !== 0) zero = false;
  if (zero) return { kind: "empty" };
  if (end - slotOffset < SYNC_POINT_SLOT_BYTES) return { kind: "bad", reason: "sync point slot cut short" };
  const view = new DataView(bytes.buffer, bytes.byteOffset + slotOffset, SYNC_POINT_SLOT_BYTES);
  const expectedSeed = slotOffset;
  if (view.getUint32(28, true) !== crc32c(bytes, slotOffset, slotOffset + 28, expectedSeed)) return { kind: "bad", reason: "sync point checksum mismatch" };
  if (view.getUint32(0, true) !== SYNC_POINT_MAGIC) return { kind: "bad", reason: "sync point bad magic" };
  const seqHigh = view.getUint32(12, true);
  const endHigh = view.getUint32(20, true);
  if (seqHigh >= 0x20_0000 || endHigh >= 0x20_0000) return { kind: "bad", reason: "sync point integer beyond 2^53" };
  const seq = seqHigh * TWO_POW_32 + view.getUint32(8, true);
  const pointEnd = endHigh * TWO_POW_32 + view.getUint32(16, true);
  if (seq === 0 || syncPointSlotOffset(seq) !== slotOffset || pointEnd < SEGMENT_DATA_START) return { kind: "bad", reason: `sync point seq ${seq} end ${pointEnd} invalid in this slot` };
  return { kind: "valid", point: { seq, end: pointEnd } };
}

/**
 * The segment's durable sync point from its two slots (slot 1 holds the odd sequence
 * numbers, written first; slot 0 the even ones). A crash tears at most the slot being
 * written, and only after the other one was written and synced; so the valid slot with the
 * higher seq is the sync point, a bad slot beside a valid one (or beside an empty slot 0,
 * the first write torn) is a torn write, and any other combination is "corrupt".
 */
export function readSyncPoint(bytes: Uint8Array): SyncPoint | undefined | { readonly corrupt: string } {
  const [even, odd] = SYNC_POINT_SLOT_OFFSETS.map((offset) => readSyncPointSlot(bytes, offset)) as [SlotRead, SlotRead];
  if (even.kind === "valid" && odd.kind === "valid") return even.point.seq > odd.point.seq ? even.point : odd.point;
  if (even.kind === "valid") return odd.kind === "bad" ? even.point : { corrupt: "sync point slot 1 is empty while slot 0 is written" };
  if (odd.kind === "valid") return odd.point;
  if (even.kind === "empty") return undefined;
  return { corrupt: `sync point slot 0 is damaged (${even.kind === "bad" ? even.reason : "empty"}) and slot 1 holds no sync point` };
}
