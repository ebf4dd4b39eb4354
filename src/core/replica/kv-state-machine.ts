// A small replicated key-value map: the workload of the simulator, the tests and the
// benchmarks until the orchestrator's own state machine arrives. Keys and values are
// strings; an absent key reads as "" (so compare-and-set from "" creates a key).
//
// Command encoding (little endian): op u8 | key length u16 | key utf-8 |
//   put: value length u32 | value utf-8
//   cas: expected length u32 | expected utf-8 | new length u32 | new utf-8

import { assert } from "../assert.ts";
import type { StateMachine } from "./state-machine.ts";

export const KV_KEY_BYTES_MAX = 1024;
export const KV_VALUE_BYTES_MAX = 64 * 1024;
/** Bounds the whole map so a snapshot stays a bounded message. */
export const KV_KEYS_MAX = 100_000;

export type KvCommand =
  | { readonly op: "put"; readonly key: string; readonly value: string }
  | { readonly op: "cas"; readonly key: string; readonly expected: string; readonly value: string };

export type KvResult =
  | { readonly op: "put" }
  | { readonly op: "cas"; readonly swapped: boolean; readonly current: string }
  /** The command could not be applied because the map is full; it had no effect. */
  | { readonly op: "rejected"; readonly reason: "too-many-keys" };

export interface KvQuery {
  readonly key: string;
}

const OP_PUT = 1;
const OP_CAS = 2;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * The UTF-8 length of `text`, or -1 when it holds a non-ASCII character (the caller then
 * asks TextEncoder). Keys and values are mostly short ASCII: a charCode loop beats an encoder call.
 */
function asciiLength(text: string): number {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) >= 0x80) return -1;
  return text.length;
}

/**
 * The UTF-8 length of `text`, or -1 when it is not well-formed UTF-16: a lone surrogate (a JSON
 * "\ud800" escape makes one) has no UTF-8 form, and TextEncoder would write it as U+FFFD, so two
 * different keys would be stored as one.
 */
function utf8Length(text: string): number {
  const ascii = asciiLength(text);
  if (ascii >= 0) return ascii;
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      if (next < 0xdc00 || next > 0xdfff) return -1;
      bytes += 4;
      i++;
    } else if (unit >= 0xdc00 && unit <= 0xdfff) return -1;
    else bytes += 3;
  }
  return bytes;
}

/** Why `text` cannot be a key or value's `field` of at most `maxBytes` UTF-8 bytes, or undefined. */
function validateText(field: string, text: string, maxBytes: number): string | undefined {
  const bytes = utf8Length(text);
  if (bytes < 0) return `${field}: not valid UTF-8 (holds a lone surrogate); refused rather than rewritten`;
  if (bytes > maxBytes) return `${field}: ${bytes} bytes exceeds the limit of ${maxBytes}`;
  return undefined;
}

/**
 * Why `key` cannot name an entry, or undefined. The one key rule for every path: reads
 * (get, serializable get) and writes, Connect and the client channel alike.
 */
export function validateKvKey(key: string): string | undefined {
  if (key === "") return "key: must not be empty";
  return validateText("key", key, KV_KEY_BYTES_MAX);
}

/** Why a command is invalid, or undefined when it is valid. Callers turn this into InvalidArgument. */
export function validateKvCommand(command: KvCommand): string | undefined {
  const keyProblem = validateKvKey(command.key);
  if (keyProblem !== undefined) return keyProblem;
  if (command.op === "cas") {
    const expectedProblem = validateText("expected", command.expected, KV_VALUE_BYTES_MAX);
    if (expectedProblem !== undefined) return expectedProblem;
  }
  return validateText("value", command.value, KV_VALUE_BYTES_MAX);
}

/** The UTF-8 bytes of `text` when it is not plain ASCII, else undefined (written by writeText's fast path). */
function nonAsciiBytes(text: string): Uint8Array | undefined {
  return asciiLength(text) >= 0 ? undefined : encoder.encode(text);
}

/** Writes `text` (its UTF-8 form `encoded`, or ASCII when undefined) at bytes[offset]; returns the new offset. */
function writeText(bytes: Uint8Array, offset: number, text: string, encoded: Uint8Array | undefined): number {
  if (encoded !== undefined) {
    bytes.set(encoded, offset);
    return offset + encoded.length;
  }
  for (let i = 0; i < text.length; i++) bytes[offset + i] = text.charCodeAt(i);
  return offset + text.length;
}

function writeU32(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value;
  bytes[offset + 1] = value >>> 8;
  bytes[offset + 2] = value >>> 16;
  bytes[offset + 3] = value >>> 24;
}

function readU32(bytes: Uint8Array, offset: number): number {
  return (bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 24)) >>> 0;
}

export function encodeKvCommand(command: KvCommand): Uint8Array {
  const invalid = validateKvCommand(command);
  assert(invalid === undefined, () => `invalid kv command: ${invalid}`);
  const key = nonAsciiBytes(command.key);
  const keyLength = key?.length ?? command.key.length;
  const expectedText = command.op === "cas" ? command.expected : "";
  const expected = nonAsciiBytes(expectedText);
  const expectedLength = expected?.length ?? expectedText.length;
  const value = nonAsciiBytes(command.value);
  const valueLength = value?.length ?? command.value.length;
  const size = 1 + 2 + keyLength + (command.op === "cas" ? 4 + expectedLength : 0) + 4 + valueLength;
  const bytes = new Uint8Array(size);
  bytes[0] = command.op === "put" ? OP_PUT : OP_CAS;
  bytes[1] = keyLength;
  bytes[2] = keyLength >>> 8;
  let offset = writeText(bytes, 3, command.key, key);
  if (command.op === "cas") {
    writeU32(bytes, offset, expectedLength);
    offset = writeText(bytes, offset + 4, expectedText, expected);
  }
  writeU32(bytes, offset, valueLength);
  offset = writeText(bytes, offset + 4, command.value, value);
  assert(offset === size, "kv command size mismatch");
  return bytes;
}

/** Texts up to this many bytes that are plain ASCII are decoded with a charCode loop instead of TextDecoder. */
const ASCII_DECODE_MAX_BYTES = 64;

/** bytes[start, end) as text: ASCII fast path for short texts, else the strict UTF-8 decoder. */
function readText(bytes: Uint8Array, start: number, end: number): string {
  if (end - start <= ASCII_DECODE_MAX_BYTES) {
    let text = "";
    let i = start;
    for (; i < end; i++) {
      const byte = bytes[i]!;
      if (byte >= 0x80) break;
      text += String.fromCharCode(byte);
    }
    if (i === end) return text;
  }
  return decoder.decode(bytes.subarray(start, end));
}

/** Decodes a command from a committed entry. The log is checksummed and commands were validated before proposal, so a malformed one is a programmer error. */
export function decodeKvCommand(bytes: Uint8Array): KvCommand {
  const size = bytes.length;
  assert(size >= 3, "kv command too short");
  const op = bytes[0];
  const keyLength = bytes[1]! | (bytes[2]! << 8);
  let offset = 3;
  assert(offset + keyLength <= size, "kv command truncated");
  const key = readText(bytes, offset, offset + keyLength);
  offset += keyLength;
  let expected = "";
  if (op === OP_CAS) {
    assert(offset + 4 <= size, "kv command truncated");
    const length = readU32(bytes, offset);
    offset += 4;
    assert(offset + length <= size, "kv command truncated");
    expected = readText(bytes, offset, offset + length);
    offset += length;
  } else {
    assert(op === OP_PUT, () => `unknown kv op ${op}`);
  }
  assert(offset + 4 <= size, "kv command truncated");
  const valueLength = readU32(bytes, offset);
  offset += 4;
  assert(offset + valueLength <= size, "kv command truncated");
  const value = readText(bytes, offset, offset + valueLength);
  offset += valueLength;
  assert(offset === size, "kv command has trailing bytes");
  return op === OP_PUT ? { op: "put", key, value } : { op: "cas", key, expected, value };
}

/**
 * Bugs planted in the state machine for the test harness only (docs/PLANTED-BUGS.md); production never sets any.
 *   cas-without-compare: a cas swaps whatever the current value is (every replica agrees, so only
 *     the history's linearizability shows it).
 */
export type KvPlantedBug = "cas-without-compare";

export class KvStateMachine implements StateMachine<KvResult, KvQuery, string> {
  private readonly entries = new Map<string, string>();
  private readonly casWithoutCompare: boolean;

  constructor(plantedBugs: ReadonlySet<KvPlantedBug> = new Set()) {
    this.casWithoutCompare = plantedBugs.has("cas-without-compare");
  }

  get size(): number {
    return this.entries.size;
  }

  apply(_index: number, commandBytes: Uint8Array): KvResult {
    const command = decodeKvCommand(commandBytes);
    const current = this.entries.get(command.key) ?? "";
    const creates = !this.entries.has(command.key);
    if (command.op === "cas" && current !== command.expected && !this.casWithoutCompare) {
      return { op: "cas", swapped: false, current };
    }
    if (creates && this.entries.size >= KV_KEYS_MAX) return { op: "rejected", reason: "too-many-keys" };
    this.entries.set(command.key, command.value);
    assert(this.entries.size <= KV_KEYS_MAX, "kv map exceeds its key limit");
    return command.op === "put" ? { op: "put" } : { op: "cas", swapped: true, current: command.value };
  }

  query(query: KvQuery): string {
    return this.entries.get(query.key) ?? "";
  }

  /**
   * The entries whose key starts with `prefix` and whose value is not "" (absent), in ascending
   * key order, at most `limit` of them: the token list reads the book this way.
   */
  entriesWithPrefix(prefix: string, limit: number): Array<readonly [string, string]> {
    assert(prefix !== "" && limit > 0, "a prefix scan names a prefix and a positive limit");
    const found: Array<readonly [string, string]> = [];
    for (const [key, value] of this.entries) if (value !== "" && key.startsWith(prefix)) found.push([key, value]);
    found.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return found.slice(0, limit);
  }

  /** Keys in ascending code-unit order, so equal maps give equal bytes. */
  snapshot(): Uint8Array {
    const keys = [...this.entries.keys()].sort();
    const encoded = keys.map((key) => [encoder.encode(key), encoder.encode(this.entries.get(key)!)] as const);
    let size = 4;
    for (const [key, value] of encoded) size += 8 + key.length + value.length;
    const bytes = new Uint8Array(size);
    const view = new DataView(bytes.buffer);
    view.setUint32(0, keys.length, true);
    let offset = 4;
    for (const [key, value] of encoded) {
      view.setUint32(offset, key.length, true);
      bytes.set(key, offset + 4);
      offset += 4 + key.length;
      view.setUint32(offset, value.length, true);
      bytes.set(value, offset + 4);
      offset += 4 + value.length;
    }
    assert(offset === size, "kv snapshot size mismatch");
    return bytes;
  }

  restore(snapshot: Uint8Array): void {
    assert(snapshot.length >= 4, "kv snapshot too short");
    const view = new DataView(snapshot.buffer, snapshot.byteOffset, snapshot.byteLength);
    const count = view.getUint32(0, true);
    assert(count <= KV_KEYS_MAX, "kv snapshot exceeds the key limit");
    let offset = 4;
    const take = (): string => {
      assert(offset + 4 <= snapshot.length, "kv snapshot truncated");
      const length = view.getUint32(offset, true);
      assert(offset + 4 + length <= snapshot.length, "kv snapshot truncated");
      const text = decoder.decode(snapshot.subarray(offset + 4, offset + 4 + length));
      offset += 4 + length;
      return text;
    };
    this.entries.clear();
    let previous: string | undefined;
    for (let i = 0; i < count; i++) {
      const key = take();
      assert(previous === undefined || previous < key, "kv snapshot keys out of order");
      this.entries.set(key, take());
      previous = key;
    }
    assert(offset === snapshot.length, "kv snapshot has trailing bytes");
  }
}
