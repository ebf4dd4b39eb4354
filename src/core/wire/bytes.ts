// Byte-level reading and writing for the peer wire format: unsigned LEB128 varints
// that cover every safe integer (so terms, indexes and node ids need no BigInt),
// length-prefixed byte strings, and a reader that reports malformed input as a
// DecodeFailure instead of reading past the end.
import { assert } from "../assert.ts";

/** A safe integer needs at most 8 varint bytes (8 * 7 = 56 >= 53 bits). */
const MAX_VARINT_BYTES = 8;

/**
 * V8 keeps typed arrays of at most this many bytes on the JS heap; a subarray() of one first moves
 * its bytes to a separate backing store (several times the cost of copying them), so small results
 * are copied out with slice() instead.
 */
const ON_HEAP_BYTES_MAX = 64;
/** Texts up to this many UTF-16 units are written with a charCode loop when they are ASCII (cheaper than an encoder call). */
const SHORT_TEXT_UNITS_MAX = 64;

const ENCODER = new TextEncoder();
const DECODER = new TextDecoder("utf-8", { fatal: true });

/** Bytes the canonical varint of `value` takes. */
function uvarintSizeBytes(value: number): number {
  let size = 1;
  let rest = value;
  while (rest >= 0x80) {
    rest = Math.floor(rest / 0x80);
    size++;
  }
  return size;
}

/** Thrown by ByteReader on malformed input; callers turn it into an error value at their boundary. */
export class DecodeFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DecodeFailure";
  }
}

export class ByteWriter {
  private buffer: Uint8Array;
  private length = 0;

  constructor(initialCapacityBytes = 256) {
    assert(initialCapacityBytes > 0, "initial capacity must be positive");
    this.buffer = new Uint8Array(initialCapacityBytes);
  }

  get sizeBytes(): number {
    return this.length;
  }

  private reserve(extraBytes: number): void {
    const needed = this.length + extraBytes;
    if (needed <= this.buffer.length) return;
    let capacity = this.buffer.length * 2;
    while (capacity < needed) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.buffer.subarray(0, this.length));
    this.buffer = grown;
  }

  u8(value: number): void {
    // `if` before assert: no message closure per byte written.
    if (!(Number.isInteger(value) && value >= 0 && value <= 0xff)) assert(false, `u8 out of range: ${value}`);
    this.reserve(1);
    this.buffer[this.length++] = value;
  }

  u32(value: number): void {
    if (!(Number.isInteger(value) && value >= 0 && value <= 0xffff_ffff)) assert(false, `u32 out of range: ${value}`);
    this.reserve(4);
    // Big-endian, byte by byte: a DataView per call costs more than the four stores.
    const buffer = this.buffer;
    const at = this.length;
    buffer[at] = value >>> 24;
    buffer[at + 1] = (value >>> 16) & 0xff;
    buffer[at + 2] = (value >>> 8) & 0xff;
    buffer[at + 3] = value & 0xff;
    this.length = at + 4;
  }

  uvarint(value: number): void {
    if (!(Number.isSafeInteger(value) && value >= 0)) assert(false, `varint needs a non-negative safe integer, got ${value}`);
    if (value < 0x80) {
      // One byte (most fields: ids, small indexes, lengths): no division loop.
      this.reserve(1);
      this.buffer[this.length++] = value;
      return;
    }
    this.reserve(MAX_VARINT_BYTES);
    let rest = value;
    while (rest >= 0x80) {
      this.buffer[this.length++] = (rest % 0x80) | 0x80;
      rest = Math.floor(rest / 0x80);
    }
    this.buffer[this.length++] = rest;
  }

  bytes(data: Uint8Array): void {
    this.uvarint(data.length);
    this.reserve(data.length);
    this.buffer.set(data, this.length);
    this.length += data.length;
  }

  /** The UTF-8 bytes of `text` with a varint length, as bytes(new TextEncoder().encode(text)) writes them, without the intermediate array. */
  string(text: string): void {
    const units = text.length;
    if (units <= SHORT_TEXT_UNITS_MAX && this.asciiString(text)) return;
    // At most 3 UTF-8 bytes per UTF-16 unit (a lone surrogate becomes U+FFFD, 3 bytes): encodeInto writes it all.
    const prefixGuess = uvarintSizeBytes(units);
    this.reserve(MAX_VARINT_BYTES + 3 * units);
    const start = this.length;
    const result = ENCODER.encodeInto(text, this.buffer.subarray(start + prefixGuess));
    assert(result.read === units, "encodeInto stopped before the end of the text");
    const written = result.written;
    const prefix = uvarintSizeBytes(written);
    // The prefix is longer than guessed when the text is not ASCII: move the bytes up to make room.
    if (prefix !== prefixGuess) this.buffer.copyWithin(start + prefix, start + prefixGuess, start + prefixGuess + written);
    this.uvarint(written);
    assert(this.length === start + prefix, "string length prefix size mismatch");
    this.length += written;
  }

  /** Writes `text` (short) as ASCII and returns true, or writes nothing and returns false when it is not ASCII. */
  private asciiString(text: string): boolean {
    const units = text.length;
    for (let i = 0; i < units; i++) if (text.charCodeAt(i) >= 0x80) return false;
    this.uvarint(units);
    this.reserve(units);
    const buffer = this.buffer;
    const at = this.length;
    for (let i = 0; i < units; i++) buffer[at + i] = text.charCodeAt(i);
    this.length = at + units;
    return true;
  }

  /** The written bytes (possibly a view of the writer's buffer: the writer must not be used afterwards). */
  finish(): Uint8Array {
    const buffer = this.buffer;
    if (this.length === buffer.length) return buffer;
    return this.length <= ON_HEAP_BYTES_MAX ? buffer.slice(0, this.length) : buffer.subarray(0, this.length);
  }
}

export class ByteReader {
  private offset = 0;

  constructor(private readonly data: Uint8Array) {}

  get remainingBytes(): number {
    return this.data.length - this.offset;
  }

  private need(bytes: number, what: string): void {
    if (this.remainingBytes < bytes) {
      throw new DecodeFailure(`truncated ${what}: need ${bytes} bytes, ${this.remainingBytes} left`);
    }
  }

  u8(what: string): number {
    this.need(1, what);
    return this.data[this.offset++]!;
  }

  bool(what: string): boolean {
    const value = this.u8(what);
    if (value > 1) throw new DecodeFailure(`${what}: boolean byte ${value} is neither 0 nor 1`);
    return value === 1;
  }

  uvarint(what: string): number {
    return this.uvarintOf(what, "");
  }

  /** A varint named `what` + `suffix` in errors (joined only then: no string built per field read). */
  private uvarintOf(what: string, suffix: string): number {
    let value = 0;
    let multiplier = 1;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      if (this.offset >= this.data.length) throw new DecodeFailure(`truncated ${what}${suffix}: need 1 bytes, 0 left`);
      const byte = this.data[this.offset++]!;
      value += (byte & 0x7f) * multiplier;
      if ((byte & 0x80) === 0) {
        if (!Number.isSafeInteger(value)) throw new DecodeFailure(`${what}${suffix}: varint ${value} exceeds the safe integer range`);
        if (i > 0 && byte === 0) throw new DecodeFailure(`${what}${suffix}: non-canonical varint`);
        return value;
      }
      multiplier *= 0x80;
    }
    throw new DecodeFailure(`${what}${suffix}: varint longer than ${MAX_VARINT_BYTES} bytes`);
  }

  bytes(what: string, maxBytes: number): Uint8Array {
    const length = this.uvarintOf(what, " length");
    if (length > maxBytes) throw new DecodeFailure(`${what}: length ${length} exceeds limit ${maxBytes}`);
    this.need(length, what);
    // Copy: the frame buffer is reused by the transport, and receivers keep entries. A short one
    // byte by byte: a subarray() of a small array costs more than the copy (ON_HEAP_BYTES_MAX).
    // (Not slice(): on a Node Buffer it returns a view and a Buffer.)
    const start = this.offset;
    this.offset += length;
    if (length > ON_HEAP_BYTES_MAX) return new Uint8Array(this.data.subarray(start, start + length));
    const out = new Uint8Array(length);
    const data = this.data;
    for (let i = 0; i < length; i++) out[i] = data[start + i]!;
    return out;
  }

  string(what: string, maxBytes: number): string {
    const length = this.uvarintOf(what, " length");
    if (length > maxBytes) throw new DecodeFailure(`${what}: length ${length} exceeds limit ${maxBytes}`);
    this.need(length, what);
    const start = this.offset;
    this.offset += length;
    const data = this.data;
    if (length <= SHORT_TEXT_UNITS_MAX) {
      // ASCII bytes are valid UTF-8 and decode to their own char codes.
      let ascii = true;
      for (let i = start; i < start + length; i++) {
        if (data[i]! >= 0x80) {
          ascii = false;
          break;
        }
      }
      if (ascii) {
        let text = "";
        for (let i = start; i < start + length; i++) text += String.fromCharCode(data[i]!);
        return text;
      }
    }
    try {
      // No copy: the decoder reads the bytes in place (the copy bytes() makes is for receivers that keep them).
      return DECODER.decode(data.subarray(start, start + length));
    } catch {
      throw new DecodeFailure(`${what}: invalid UTF-8`);
    }
  }

  expectEnd(what: string): void {
    if (this.remainingBytes !== 0) throw new DecodeFailure(`${what}: ${this.remainingBytes} trailing bytes`);
  }
}
