// Byte-level reading and writing for the peer wire format: unsigned LEB128 varints
// that cover every safe integer (so terms, indexes and node ids need no BigInt),
// length-prefixed byte strings, and a reader that reports malformed input as a
// DecodeFailure instead of reading past the end.
import { assert } from "../assert.ts";

/** A safe integer needs at most 8 varint bytes (8 * 7 = 56 >= 53 bits). */
const MAX_VARINT_BYTES = 8;

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
    assert(Number.isInteger(value) && value >= 0 && value <= 0xff, () => `u8 out of range: ${value}`);
    this.reserve(1);
    this.buffer[this.length++] = value;
  }

  u32(value: number): void {
    assert(Number.isInteger(value) && value >= 0 && value <= 0xffff_ffff, () => `u32 out of range: ${value}`);
    this.reserve(4);
    new DataView(this.buffer.buffer, this.buffer.byteOffset).setUint32(this.length, value, false);
    this.length += 4;
  }

  uvarint(value: number): void {
    assert(Number.isSafeInteger(value) && value >= 0, () => `varint needs a non-negative safe integer, got ${value}`);
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

  string(text: string): void {
    this.bytes(new TextEncoder().encode(text));
  }

  /** The written bytes (a view: the writer must not be used afterwards). */
  finish(): Uint8Array {
    return this.buffer.subarray(0, this.length);
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
    let value = 0;
    let multiplier = 1;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      const byte = this.u8(what);
      value += (byte & 0x7f) * multiplier;
      if ((byte & 0x80) === 0) {
        if (!Number.isSafeInteger(value)) throw new DecodeFailure(`${what}: varint ${value} exceeds the safe integer range`);
        if (i > 0 && byte === 0) throw new DecodeFailure(`${what}: non-canonical varint`);
        return value;
      }
      multiplier *= 0x80;
    }
    throw new DecodeFailure(`${what}: varint longer than ${MAX_VARINT_BYTES} bytes`);
  }

  bytes(what: string, maxBytes: number): Uint8Array {
    const length = this.uvarint(`${what} length`);
    if (length > maxBytes) throw new DecodeFailure(`${what}: length ${length} exceeds limit ${maxBytes}`);
    this.need(length, what);
    // Copy: the frame buffer is reused by the transport, and receivers keep entries.
    const out = new Uint8Array(this.data.subarray(this.offset, this.offset + length));
    this.offset += length;
    return out;
  }

  string(what: string, maxBytes: number): string {
    const raw = this.bytes(what, maxBytes);
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(raw);
    } catch {
      throw new DecodeFailure(`${what}: invalid UTF-8`);
    }
  }

  expectEnd(what: string): void {
    if (this.remainingBytes !== 0) throw new DecodeFailure(`${what}: ${this.remainingBytes} trailing bytes`);
  }
}
