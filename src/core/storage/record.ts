// The framing every Blixard file uses: a 16-byte header, then the payload.
//
//   offset  size  field
//   0       4     payloadLength (u32 LE)
//   4       1     type (RecordType, never 0)
//   5       3     reserved, zero
//   8       4     payloadCrc  = CRC32C(type byte, payload)
//   12      4     headerCrc   = CRC32C(bytes 0..11 of the header), seeded with the record's file offset
//   16      n     payload
//
// The header has its own checksum so that a flipped bit in the length is caught as
// corruption instead of making the record look cut short (which recovery would take
// for a torn write and truncate). Seeding it with the record's offset in its file binds
// the record to its place (as TigerBeetle's headers name their own location): a valid
// record that a misdirected write put elsewhere fails its check instead of being replayed.
// docs/STORAGE.md states the torn-versus-corrupt rules that readRecordAt implements.

import { assert } from "../assert.ts";
import { crc32c } from "./crc32c.ts";
import { readU32, writeU32 } from "./formats.ts";

export const RECORD_HEADER_BYTES = 16;
/** Crash atomicity unit assumed for torn-write detection (a disk sector). */
export const SECTOR_BYTES = 512;
/** No record may be larger than this (the length field is 32 bits). */
export const RECORD_PAYLOAD_MAX_BYTES = 0xffff_ffff - RECORD_HEADER_BYTES;

export const RecordType = {
  segmentHeader: 1,
  entry: 2,
  commit: 3,
  hardState: 4,
  identity: 5,
  snapshot: 6,
} as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];
const RECORD_TYPE_MAX = 6;

/**
 * Fills in the header at buffer[offset, offset + 16) for a payload already written at
 * buffer[offset + 16, offset + 16 + payloadLength).
 */
export function sealRecord(
  buffer: Uint8Array,
  offset: number,
  type: RecordType,
  payloadLength: number,
  /** Where buffer[0] will sit in its file: the record's file offset is fileOffset + offset. */
  fileOffset: number,
): void {
  assert(payloadLength >= 0 && payloadLength <= RECORD_PAYLOAD_MAX_BYTES, "record payload too large");
  const payloadStart = offset + RECORD_HEADER_BYTES;
  assert(payloadStart + payloadLength <= buffer.length, "record does not fit its buffer");
  writeU32(buffer, offset, payloadLength);
  writeU32(buffer, offset + 4, type); // type byte and three zero bytes
  writeU32(buffer, offset + 8, crc32c(buffer, payloadStart, payloadStart + payloadLength, crc32cOfTypeByte(type)));
  writeU32(buffer, offset + 12, crc32c(buffer, offset, offset + 12, offsetSeed(fileOffset + offset)));
}

/** CRC32C of the one type byte, per type: the payload checksum continues from it. */
const TYPE_BYTE_CRC: readonly number[] = Array.from({ length: RECORD_TYPE_MAX + 1 }, (_, type) => crc32c(Uint8Array.of(type)));

function crc32cOfTypeByte(type: number): number {
  return TYPE_BYTE_CRC[type]!;
}

/** The header checksum's seed: the record's file offset folded to 32 bits. */
function offsetSeed(fileOffset: number): number {
  return (fileOffset % 0x1_0000_0000 ^ Math.floor(fileOffset / 0x1_0000_0000)) >>> 0;
}

/** A whole file holding exactly one record. */
export function encodeSingleRecord(type: RecordType, payload: Uint8Array): Uint8Array {
  const buffer = new Uint8Array(RECORD_HEADER_BYTES + payload.length);
  buffer.set(payload, RECORD_HEADER_BYTES);
  sealRecord(buffer, 0, type, payload.length, 0);
  return buffer;
}

export type RecordRead =
  | { readonly kind: "record"; readonly type: RecordType; readonly payloadStart: number; readonly end: number }
  /** Could be the trace of a crash in mid-write: acceptable only at the tail of the last segment. */
  | { readonly kind: "torn"; readonly reason: string }
  /** Cannot come from a crash: a checksum or a structural check failed. */
  | { readonly kind: "corrupt"; readonly reason: string };

/** Reads the record at file offset `offset` of the whole file `bytes`, classifying any defect as torn or corrupt. */
export function readRecordAt(bytes: Uint8Array, offset: number): RecordRead {
  const size = bytes.length;
  assert(offset >= 0 && offset < size, "readRecordAt offset out of range");
  if (size - offset < RECORD_HEADER_BYTES) return { kind: "torn", reason: `incomplete record header (${size - offset} bytes)` };
  if (isZero(bytes, offset, offset + RECORD_HEADER_BYTES)) return { kind: "torn", reason: "zero-filled record header (unwritten space)" };
  if (readU32(bytes, offset + 12) !== crc32c(bytes, offset, offset + 12, offsetSeed(offset))) {
    if (hasZeroSector(bytes, offset, offset + RECORD_HEADER_BYTES)) return { kind: "torn", reason: "record header with a zero-filled sector" };
    return { kind: "corrupt", reason: "record header checksum mismatch" };
  }
  const payloadLength = readU32(bytes, offset);
  const type = bytes[offset + 4]!;
  if (type === 0 || type > RECORD_TYPE_MAX || bytes[offset + 5] !== 0 || bytes[offset + 6] !== 0 || bytes[offset + 7] !== 0) {
    return { kind: "corrupt", reason: `invalid record type ${type}` };
  }
  const payloadStart = offset + RECORD_HEADER_BYTES;
  const end = payloadStart + payloadLength;
  if (end > size) return { kind: "torn", reason: `record of ${payloadLength} bytes cut short at ${size - payloadStart}` };
  const payloadCrc = crc32c(bytes, payloadStart, end, crc32cOfTypeByte(type));
  if (readU32(bytes, offset + 8) !== payloadCrc) {
    if (hasZeroSector(bytes, offset, end)) return { kind: "torn", reason: "record payload with a zero-filled sector" };
    return { kind: "corrupt", reason: "record payload checksum mismatch" };
  }
  return { kind: "record", type: type as RecordType, payloadStart, end };
}

function isZero(bytes: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (bytes[i] !== 0) return false;
  return true;
}

/**
 * True when a sector touched by bytes[start, end) reads as zeros from max(start, sector
 * start) to the sector's end (or the file's end): what a write whose sector never reached
 * the platter leaves behind in an append-only file. A flipped bit cannot zero a sector.
 */
function hasZeroSector(bytes: Uint8Array, start: number, end: number): boolean {
  for (let sectorStart = start - (start % SECTOR_BYTES); sectorStart < end; sectorStart += SECTOR_BYTES) {
    const from = Math.max(start, sectorStart);
    const to = Math.min(sectorStart + SECTOR_BYTES, bytes.length);
    if (to > from && isZero(bytes, from, to)) return true;
  }
  return false;
}
