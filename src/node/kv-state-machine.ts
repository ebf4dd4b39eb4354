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

/** Why a command is invalid, or undefined when it is valid. Callers turn this into InvalidArgument. */
export function validateKvCommand(command: KvCommand): string | undefined {
  const keyBytes = encoder.encode(command.key).length;
  if (keyBytes === 0) return "key: must not be empty";
  if (keyBytes > KV_KEY_BYTES_MAX) return `key: ${keyBytes} bytes exceeds the limit of ${KV_KEY_BYTES_MAX}`;
  const values = command.op === "put" ? [["value", command.value]] : [["expected", command.expected], ["value", command.value]];
  for (const [field, text] of values) {
    const bytes = encoder.encode(text).length;
    if (bytes > KV_VALUE_BYTES_MAX) return `${field}: ${bytes} bytes exceeds the limit of ${KV_VALUE_BYTES_MAX}`;
  }
  return undefined;
}

export function encodeKvCommand(command: KvCommand): Uint8Array {
  assert(validateKvCommand(command) === undefined, () => `invalid kv command: ${validateKvCommand(command)}`);
  const key = encoder.encode(command.key);
  const parts = command.op === "put" ? [encoder.encode(command.value)] : [encoder.encode(command.expected), encoder.encode(command.value)];
  let size = 1 + 2 + key.length;
  for (const part of parts) size += 4 + part.length;
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  bytes[0] = command.op === "put" ? OP_PUT : OP_CAS;
  view.setUint16(1, key.length, true);
  bytes.set(key, 3);
  let offset = 3 + key.length;
  for (const part of parts) {
    view.setUint32(offset, part.length, true);
    bytes.set(part, offset + 4);
    offset += 4 + part.length;
  }
  assert(offset === size, "kv command size mismatch");
  return bytes;
}

/** Decodes a command from a committed entry. The log is checksummed and commands were validated before proposal, so a malformed one is a programmer error. */
export function decodeKvCommand(bytes: Uint8Array): KvCommand {
  assert(bytes.length >= 3, "kv command too short");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const op = bytes[0];
  const keyLength = view.getUint16(1, true);
  let offset = 3;
  const take = (length: number): string => {
    assert(offset + length <= bytes.length, "kv command truncated");
    const text = decoder.decode(bytes.subarray(offset, offset + length));
    offset += length;
    return text;
  };
  const takeLengthPrefixed = (): string => {
    assert(offset + 4 <= bytes.length, "kv command truncated");
    const length = view.getUint32(offset, true);
    offset += 4;
    return take(length);
  };
  const key = take(keyLength);
  let command: KvCommand;
  if (op === OP_PUT) {
    command = { op: "put", key, value: takeLengthPrefixed() };
  } else {
    assert(op === OP_CAS, () => `unknown kv op ${op}`);
    const expected = takeLengthPrefixed();
    command = { op: "cas", key, expected, value: takeLengthPrefixed() };
  }
  assert(offset === bytes.length, "kv command has trailing bytes");
  return command;
}

export class KvStateMachine implements StateMachine<KvResult, KvQuery, string> {
  private readonly entries = new Map<string, string>();

  get size(): number {
    return this.entries.size;
  }

  apply(_index: number, commandBytes: Uint8Array): KvResult {
    const command = decodeKvCommand(commandBytes);
    const current = this.entries.get(command.key) ?? "";
    const creates = !this.entries.has(command.key);
    if (command.op === "cas" && current !== command.expected) {
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
