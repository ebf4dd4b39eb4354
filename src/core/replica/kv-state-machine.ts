// A small replicated key-value map: the workload of the simulator, the tests and the
// benchmarks until the orchestrator's own state machine arrives. Keys and values are
// strings. An empty value is a stored value; an absent key is absent (get says found or not).
// A compare-and-set compares values and an absent key compares equal to "", so a cas from ""
// creates a key (and also matches a key that holds "": documented in docs/OPERATIONS.md).
//
// Revisions, as etcd keeps them: the revision of a write is the log index of its entry (unique
// and monotone). Each key keeps its create revision (the write that created it since it was last
// absent), its mod revision (the last write) and its version (writes since creation, 1 after the
// creating one). They are replicated state and travel in the snapshot.
//
// Command encoding (little endian): op u8 | key length u16 | key utf-8 |
//   put: value length u32 | value utf-8
//   cas: expected length u32 | expected utf-8 | new length u32 | new utf-8
//   delete: nothing more
//   delete-prefix (the key is the prefix): keys max u32
//   create (a put only when the key is absent): value length u32 | value utf-8
//   append (to the key's list): value length u32 | value utf-8
//   txn: op u8 | the txn as JSON utf-8 (kv-txn.ts; no key field)
//
// Lists (for list-append histories): a key holds either a value or a list, a typed kind of
// entry. An append creates a list at an absent key and extends a list key; a value write
// (put, cas, create) to a list key and an append to a value key are refused with no effect
// ("wrong-kind"); a delete removes either. A get of a list key is found with value "" and
// the list beside it. A list holds at most KV_LIST_ENTRIES_MAX elements and
// KV_LIST_BYTES_MAX bytes of elements; an append past either is refused ("list-full").
//
// Recent changes are kept beside the map in a bounded ring (kv-change-ring.ts) for watches.

import { assert } from "../assert.ts";
import { KvChangeRing, type KvChange } from "./kv-change-ring.ts";
import type { StateMachine } from "./state-machine.ts";
import { compareHolds, decodeKvTxnBody, encodeKvTxnBody, validateKvTxnShape, type KvTxn, type KvTxnOp, type KvTxnOpResult } from "./kv-txn.ts";

export const KV_KEY_BYTES_MAX = 1024;
export const KV_VALUE_BYTES_MAX = 64 * 1024;
/** Bounds the whole map so a snapshot stays a bounded message. */
export const KV_KEYS_MAX = 100_000;
/** A delete-prefix command removes at most this many keys (the first ones in key order); its result says whether more remain. */
export const KV_DELETE_PREFIX_KEYS_MAX = 256;
/** Recent changes kept for watches: at most this many, and at most this much text (kvChangeWeight). */
export const KV_CHANGES_KEPT_MAX = 10_000;
export const KV_CHANGES_KEPT_WEIGHT_MAX = 32 * 1024 * 1024;
/** A list holds at most this many elements ... */
export const KV_LIST_ENTRIES_MAX = 1024;
/** ... and at most this many UTF-8 bytes of elements (a value's limit: a whole list fits wherever a value does). */
export const KV_LIST_BYTES_MAX = KV_VALUE_BYTES_MAX;

export type KvCommand =
  | { readonly op: "put"; readonly key: string; readonly value: string }
  /** A put only when the key is absent (create-only); its result is a cas's (swapped, or the value found). */
  | { readonly op: "create"; readonly key: string; readonly value: string }
  | { readonly op: "cas"; readonly key: string; readonly expected: string; readonly value: string }
  | { readonly op: "delete"; readonly key: string }
  /** Deletes the first keysMax keys (key order) that start with `key`; keysMax travels in the command so replay never depends on a constant. */
  | { readonly op: "delete-prefix"; readonly key: string; readonly keysMax: number }
  /** Appends value to the key's list (creating it at an absent key). */
  | { readonly op: "append"; readonly key: string; readonly value: string }
  /** A transaction (kv-txn.ts); key is "" and unused. */
  | { readonly op: "txn"; readonly key: ""; readonly txn: KvTxn };

export type KvRejectReason = "too-many-keys" | "wrong-kind" | "list-full";

export type KvResult =
  | { readonly op: "put" }
  | { readonly op: "cas"; readonly swapped: boolean; readonly current: string }
  /** deleted: how many keys were removed (0 or 1 for a single key); more: keys with the prefix remain beyond keysMax. */
  | { readonly op: "delete"; readonly deleted: number; readonly more: boolean }
  | { readonly op: "append"; readonly length: number }
  /** succeeded: every compare held (the success branch ran); results: one per operation of the branch that ran. */
  | { readonly op: "txn"; readonly succeeded: boolean; readonly results: readonly KvTxnOpResult[] }
  /** The command could not be applied (the map or a list is full, or a key holds the other kind); it had no effect. detail names the key. */
  | { readonly op: "rejected"; readonly reason: KvRejectReason; readonly detail: string };

export interface KvQuery {
  readonly key: string;
}

/** A stored key: its value and its revisions. */
export interface KvEntry {
  readonly value: string;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
  /** The UTF-8 bytes of value, measured once at apply: a snapshot sizes its image without rescanning every text. */
  readonly valueBytes: number;
  /** Present when the key holds a list (value is then ""). */
  readonly list?: readonly string[];
  /** The UTF-8 bytes of the list's elements (present with list). */
  readonly listBytes?: number;
}

/** One key of a list page. With keysOnly the value is "" and valueBytes still says its size. */
export interface KvListEntry extends KvEntry {
  readonly key: string;
}

export interface KvListQuery {
  /** "" lists every key. */
  readonly prefix: string;
  /** Only keys after this one ("" from the start). */
  readonly startAfter: string;
  readonly limit: number;
  readonly keysOnly: boolean;
  /** Stop before the page's keys and values exceed this many UTF-8 bytes (at least one entry is returned). */
  readonly bytesMax: number;
  /** Keys the page leaves out (the token book's records). */
  readonly hidden?: (key: string) => boolean;
}

export interface KvListPage {
  readonly entries: readonly KvListEntry[];
  /** More keys match after the last entry: continue with startAfter = its key. */
  readonly more: boolean;
}

const OP_PUT = 1;
const OP_CAS = 2;
const OP_DELETE = 3;
const OP_DELETE_PREFIX = 4;
const OP_CREATE = 5;
const OP_APPEND = 6;
const OP_TXN = 7;

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
  if (command.op === "txn") return validateKvTxn(command.txn);
  const keyProblem = validateKvKey(command.key);
  if (keyProblem !== undefined) return keyProblem;
  switch (command.op) {
    case "delete":
      return undefined;
    case "delete-prefix":
      return Number.isSafeInteger(command.keysMax) && command.keysMax >= 1 && command.keysMax <= KV_DELETE_PREFIX_KEYS_MAX
        ? undefined
        : `keys max: must be 1..${KV_DELETE_PREFIX_KEYS_MAX}, got ${command.keysMax}`;
    case "cas": {
      const expectedProblem = validateText("expected", command.expected, KV_VALUE_BYTES_MAX);
      if (expectedProblem !== undefined) return expectedProblem;
      return validateText("value", command.value, KV_VALUE_BYTES_MAX);
    }
    case "put":
    case "create":
      return validateText("value", command.value, KV_VALUE_BYTES_MAX);
    case "append":
      return validateText("value", command.value, KV_LIST_BYTES_MAX);
  }
}

/** Why a txn is invalid (its limits, then each key and value named by its place), or undefined. */
export function validateKvTxn(txn: KvTxn): string | undefined {
  for (const [i, compare] of txn.compares.entries()) {
    const problem = validateKvKey(compare.key) ?? (compare.target === "value" ? validateText("value", compare.value, KV_VALUE_BYTES_MAX) : undefined);
    if (problem !== undefined) return `compare[${i}].${problem}`;
  }
  for (const [name, ops] of [["success", txn.success], ["failure", txn.failure]] as const) {
    for (const [i, op] of ops.entries()) {
      const problem = validateKvKey(op.key) ?? (op.op === "put" || op.op === "append" ? validateText("value", op.value, op.op === "put" ? KV_VALUE_BYTES_MAX : KV_LIST_BYTES_MAX) : undefined);
      if (problem !== undefined) return `${name}[${i}].${problem}`;
    }
  }
  return validateKvTxnShape(txn, kvTextBytes);
}

/** The UTF-8 size of a valid key or value. */
export function kvTextBytes(text: string): number {
  const bytes = utf8Length(text);
  assert(bytes >= 0, "stored texts are well-formed");
  return bytes;
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

/** Texts up to this many UTF-16 units are copied with a charCode loop when ASCII (cheaper than an encoder call). */
const SHORT_TEXT_UNITS_MAX = 64;

/** Writes `length` (u32, the UTF-8 size of `text` as measured by kvTextBytes) and the text's bytes at bytes[offset]; returns the new offset. */
function writeSizedText(bytes: Uint8Array, offset: number, text: string, length: number): number {
  assert(length >= text.length && offset + 4 + length <= bytes.length, "a text fits where it was measured to");
  writeU32(bytes, offset, length);
  const start = offset + 4;
  if (length === text.length && length <= SHORT_TEXT_UNITS_MAX) {
    // UTF-8 and UTF-16 lengths agree only for ASCII; a short one is cheaper to copy than to encode.
    for (let i = 0; i < length; i++) {
      const unit = text.charCodeAt(i);
      if (unit >= 0x80) assert(false, "a text measured as ASCII holds a non-ASCII unit");
      bytes[start + i] = unit;
    }
  } else {
    const written = encoder.encodeInto(text, bytes.subarray(start, start + length));
    assert(written.read === text.length && written.written === length, "a stored text encodes to its measured length");
  }
  return start + length;
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
  if (command.op === "txn") {
    const body = encodeKvTxnBody(command.txn);
    const bytes = new Uint8Array(1 + body.length);
    bytes[0] = OP_TXN;
    bytes.set(body, 1);
    return bytes;
  }
  const key = nonAsciiBytes(command.key);
  const keyLength = key?.length ?? command.key.length;
  if (command.op === "delete" || command.op === "delete-prefix") {
    const size = 3 + keyLength + (command.op === "delete-prefix" ? 4 : 0);
    const bytes = new Uint8Array(size);
    bytes[0] = command.op === "delete" ? OP_DELETE : OP_DELETE_PREFIX;
    bytes[1] = keyLength;
    bytes[2] = keyLength >>> 8;
    const offset = writeText(bytes, 3, command.key, key);
    if (command.op === "delete-prefix") writeU32(bytes, offset, command.keysMax);
    assert(offset + (command.op === "delete-prefix" ? 4 : 0) === size, "kv delete command size mismatch");
    return bytes;
  }
  const expectedText = command.op === "cas" ? command.expected : "";
  const expected = nonAsciiBytes(expectedText);
  const expectedLength = expected?.length ?? expectedText.length;
  const value = nonAsciiBytes(command.value);
  const valueLength = value?.length ?? command.value.length;
  const size = 1 + 2 + keyLength + (command.op === "cas" ? 4 + expectedLength : 0) + 4 + valueLength;
  const bytes = new Uint8Array(size);
  bytes[0] = command.op === "put" ? OP_PUT : command.op === "create" ? OP_CREATE : command.op === "append" ? OP_APPEND : OP_CAS;
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
  if (size >= 1 && bytes[0] === OP_TXN) return { op: "txn", key: "", txn: decodeKvTxnBody(bytes.subarray(1)) };
  assert(size >= 3, "kv command too short");
  const op = bytes[0];
  const keyLength = bytes[1]! | (bytes[2]! << 8);
  let offset = 3;
  assert(offset + keyLength <= size, "kv command truncated");
  const key = readText(bytes, offset, offset + keyLength);
  offset += keyLength;
  if (op === OP_DELETE) {
    assert(offset === size, "kv delete command has trailing bytes");
    return { op: "delete", key };
  }
  if (op === OP_DELETE_PREFIX) {
    assert(offset + 4 === size, "kv delete-prefix command has the wrong size");
    return { op: "delete-prefix", key, keysMax: readU32(bytes, offset) };
  }
  let expected = "";
  if (op === OP_CAS) {
    assert(offset + 4 <= size, "kv command truncated");
    const length = readU32(bytes, offset);
    offset += 4;
    assert(offset + length <= size, "kv command truncated");
    expected = readText(bytes, offset, offset + length);
    offset += length;
  } else {
    assert(op === OP_PUT || op === OP_CREATE || op === OP_APPEND, () => `unknown kv op ${op}`);
  }
  assert(offset + 4 <= size, "kv command truncated");
  const valueLength = readU32(bytes, offset);
  offset += 4;
  assert(offset + valueLength <= size, "kv command truncated");
  const value = readText(bytes, offset, offset + valueLength);
  offset += valueLength;
  assert(offset === size, "kv command has trailing bytes");
  if (op === OP_CREATE) return { op: "create", key, value };
  if (op === OP_APPEND) return { op: "append", key, value };
  return op === OP_PUT ? { op: "put", key, value } : { op: "cas", key, expected, value };
}

/**
 * Bugs planted in the state machine for the test harness only (docs/PLANTED-BUGS.md); production never sets any.
 *   cas-without-compare: a cas swaps whatever the current value is (every replica agrees, so only
 *     the history's linearizability shows it).
 *   txn-not-atomic: a txn refused part way keeps the writes made before the refused operation.
 *   delete-without-effect: a delete of a present key answers "deleted 1" and leaves the key (every
 *     replica agrees; a read after it sees the old value).
 */
export type KvPlantedBug = "cas-without-compare" | "txn-not-atomic" | "delete-without-effect";

/**
 * Snapshot formats. The first (before revisions) began with the key count, a u32 never above
 * KV_KEYS_MAX; the current one begins with SNAPSHOT_MARKER, which no count can equal, then a
 * format number. An old snapshot (in a data directory written by an earlier version) restores
 * with every revision and version unknown: 0.
 *   format 2: marker u32 | format u32 | count u32 | per key in ascending code-unit order:
 *     key length u32 | key | value length u32 | value | create revision u64 | mod revision u64 | version u64
 *   format 3 (written only when some key holds a list, so a map without lists stays readable by
 *     a node of the previous version): as format 2, with after each key a kind u8 (0 value, 1 list)
 *     and, for a list, in place of the value: element count u32 | per element length u32 | element
 */
const SNAPSHOT_MARKER = 0xffff_ffff;
const SNAPSHOT_FORMAT_REVISIONS = 2;
const SNAPSHOT_FORMAT_LISTS = 3;
const TWO_TO_32 = 0x1_0000_0000;

function writeU64(view: DataView, offset: number, value: number): void {
  assert(Number.isSafeInteger(value) && value >= 0, "a u64 field holds a safe non-negative integer");
  view.setUint32(offset, value % TWO_TO_32, true);
  view.setUint32(offset + 4, Math.floor(value / TWO_TO_32), true);
}

function readU64(view: DataView, offset: number): number {
  const value = view.getUint32(offset + 4, true) * TWO_TO_32 + view.getUint32(offset, true);
  assert(Number.isSafeInteger(value), "kv snapshot revision out of range");
  return value;
}

function byKey(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export class KvStateMachine implements StateMachine<KvResult, KvQuery, string> {
  private readonly entries = new Map<string, KvEntry>();
  private readonly casWithoutCompare: boolean;
  private readonly txnNotAtomic: boolean;
  private readonly deleteWithoutEffect: boolean;
  /** Recent changes for watches: derived from the applied entries, never in the snapshot. */
  readonly changes = new KvChangeRing(KV_CHANGES_KEPT_MAX, KV_CHANGES_KEPT_WEIGHT_MAX);

  constructor(plantedBugs: ReadonlySet<KvPlantedBug> = new Set()) {
    this.casWithoutCompare = plantedBugs.has("cas-without-compare");
    this.txnNotAtomic = plantedBugs.has("txn-not-atomic");
    this.deleteWithoutEffect = plantedBugs.has("delete-without-effect");
  }

  get size(): number {
    return this.entries.size;
  }

  apply(index: number, commandBytes: Uint8Array): KvResult {
    assert(Number.isSafeInteger(index) && index >= 1, "a kv command applies at a log index");
    const command = decodeKvCommand(commandBytes);
    switch (command.op) {
      case "delete":
        return { op: "delete", deleted: this.remove(command.key, index) ? 1 : 0, more: false };
      case "delete-prefix":
        return this.removePrefix(command.key, command.keysMax, index);
      case "txn":
        return this.applyTxn(command.txn, index);
      case "append": {
        const write = new PendingWrites();
        const appended = this.appendTo(command.key, command.value, index, write);
        if (typeof appended !== "number") return appended;
        this.commit(write);
        return { op: "append", length: appended };
      }
      case "put":
      case "cas":
      case "create":
        break;
    }
    const stored = this.entries.get(command.key);
    const current = stored?.value ?? "";
    if (stored?.list !== undefined) return wrongKind(command.key, "holds a list: a value write is refused (delete it first)");
    if (command.op === "cas" && current !== command.expected && !this.casWithoutCompare) {
      return { op: "cas", swapped: false, current };
    }
    if (command.op === "create" && stored !== undefined) return { op: "cas", swapped: false, current };
    const write = new PendingWrites();
    const rejected = this.putValue(command.key, command.value, index, write);
    if (rejected !== undefined) return rejected;
    this.commit(write);
    assert(this.entries.size <= KV_KEYS_MAX, "kv map exceeds its key limit");
    return command.op === "put" ? { op: "put" } : { op: "cas", swapped: true, current: command.value };
  }

  /** Runs the branch the compares choose, all or nothing: a refused operation undoes the ones before it. */
  private applyTxn(txn: KvTxn, index: number): KvResult {
    const succeeded = txn.compares.every((compare) => {
      const entry = this.entries.get(compare.key);
      return compareHolds(compare, entry === undefined ? undefined : { ...entry, isList: entry.list !== undefined });
    });
    const ops = succeeded ? txn.success : txn.failure;
    const write = new PendingWrites();
    const results: KvTxnOpResult[] = [];
    for (const op of ops) {
      const result = this.applyTxnOp(op, index, write);
      if (result.op === "rejected") {
        if (!this.txnNotAtomic) this.rollBack(write);
        else this.commit(write);
        return result;
      }
      results.push(result);
    }
    this.commit(write);
    assert(results.length === ops.length, "a txn answers each operation of its branch");
    return { op: "txn", succeeded, results };
  }

  private applyTxnOp(op: KvTxnOp, index: number, write: PendingWrites): KvTxnOpResult | Extract<KvResult, { op: "rejected" }> {
    const stored = this.entries.get(op.key);
    switch (op.op) {
      case "get":
        if (stored === undefined) return { op: "get", found: false, value: "", createRevision: 0, modRevision: 0, version: 0 };
        return { op: "get", found: true, value: stored.value, createRevision: stored.createRevision, modRevision: stored.modRevision, version: stored.version };
      case "read-list":
        // A key holding a value holds no list: not found, as read-list outside a txn answers (a read never refuses a txn).
        if (stored?.list === undefined) return { op: "read-list", found: false, list: [] };
        return { op: "read-list", found: true, list: stored.list };
      case "delete":
        if (stored === undefined) return { op: "delete", deleted: 0 };
        write.remember(op.key, stored);
        this.entries.delete(op.key);
        write.changes.push({ type: "delete", key: op.key, value: "", revision: index });
        return { op: "delete", deleted: 1 };
      case "put": {
        if (stored?.list !== undefined) return wrongKind(op.key, "holds a list: a value write is refused (delete it first)");
        const rejected = this.putValue(op.key, op.value, index, write);
        return rejected ?? { op: "put" };
      }
      case "append": {
        const appended = this.appendTo(op.key, op.value, index, write);
        return typeof appended === "number" ? { op: "append", length: appended } : appended;
      }
    }
  }

  /** Stores a value at key (not a list key: the caller checked), or says why it cannot. */
  private putValue(key: string, value: string, index: number, write: PendingWrites): Extract<KvResult, { op: "rejected" }> | undefined {
    const stored = this.entries.get(key);
    assert(stored?.list === undefined, "a value write never replaces a list");
    if (stored === undefined && this.entries.size >= KV_KEYS_MAX) return { op: "rejected", reason: "too-many-keys", detail: `${KV_KEYS_MAX} keys` };
    write.remember(key, stored);
    this.entries.set(key, { value, valueBytes: kvTextBytes(value), createRevision: stored?.createRevision ?? index, modRevision: index, version: (stored?.version ?? 0) + 1 });
    write.changes.push({ type: "put", key, value, revision: index });
    return undefined;
  }

  /** Appends value to key's list; the list's new length, or why it cannot. */
  private appendTo(key: string, value: string, index: number, write: PendingWrites): number | Extract<KvResult, { op: "rejected" }> {
    const stored = this.entries.get(key);
    if (stored !== undefined && stored.list === undefined) return wrongKind(key, "holds a value: append is refused (delete it first)");
    if (stored === undefined && this.entries.size >= KV_KEYS_MAX) return { op: "rejected", reason: "too-many-keys", detail: `${KV_KEYS_MAX} keys` };
    const list = stored?.list ?? [];
    const listBytes = (stored?.listBytes ?? 0) + kvTextBytes(value);
    if (list.length + 1 > KV_LIST_ENTRIES_MAX) return { op: "rejected", reason: "list-full", detail: `${key}: a list holds at most ${KV_LIST_ENTRIES_MAX} elements` };
    if (listBytes > KV_LIST_BYTES_MAX) return { op: "rejected", reason: "list-full", detail: `${key}: a list holds at most ${KV_LIST_BYTES_MAX} bytes of elements, this append makes ${listBytes}` };
    write.remember(key, stored);
    const grown = [...list, value];
    this.entries.set(key, { value: "", valueBytes: 0, createRevision: stored?.createRevision ?? index, modRevision: index, version: (stored?.version ?? 0) + 1, list: grown, listBytes });
    write.changes.push({ type: "append", key, value, revision: index });
    assert(grown.length <= KV_LIST_ENTRIES_MAX && listBytes <= KV_LIST_BYTES_MAX, "a list stays within its bounds");
    return grown.length;
  }

  private commit(write: PendingWrites): void {
    for (const change of write.changes) this.changes.record(change);
    assert(this.entries.size <= KV_KEYS_MAX, "kv map exceeds its key limit");
  }

  /** Restores every key a refused txn touched, newest first, and drops its changes. */
  private rollBack(write: PendingWrites): void {
    for (let i = write.undo.length - 1; i >= 0; i--) {
      const [key, previous] = write.undo[i]!;
      if (previous === undefined) this.entries.delete(key);
      else this.entries.set(key, previous);
    }
    write.changes.length = 0;
  }

  /** The value of a key, "" when absent (the address book and the simulator read it this way). */
  query(query: KvQuery): string {
    return this.entries.get(query.key)?.value ?? "";
  }

  /** A key's value and revisions, or undefined when it is absent. */
  entry(key: string): KvEntry | undefined {
    return this.entries.get(key);
  }

  /**
   * The entries whose key starts with `prefix` and whose value is not "", in ascending key
   * order, at most `limit` of them: the token list reads the book this way (a token revoked
   * before deletes existed was emptied, not deleted, and "" is never a record).
   */
  entriesWithPrefix(prefix: string, limit: number): Array<readonly [string, string]> {
    assert(prefix !== "" && limit > 0, "a prefix scan names a prefix and a positive limit");
    const found: Array<readonly [string, string]> = [];
    for (const [key, entry] of this.entries) if (entry.value !== "" && key.startsWith(prefix)) found.push([key, entry.value]);
    found.sort((a, b) => byKey(a[0], b[0]));
    return found.slice(0, limit);
  }

  /**
   * One page of keys starting with `prefix` after `startAfter`, in ascending code-unit order:
   * at most `limit` entries and (after the first) at most `bytesMax` bytes of keys and values.
   */
  list(query: KvListQuery): KvListPage {
    assert(query.limit >= 1 && query.bytesMax >= 1, "a page holds at least one entry");
    const keys: string[] = [];
    for (const key of this.entries.keys()) {
      if (key > query.startAfter && key.startsWith(query.prefix) && query.hidden?.(key) !== true) keys.push(key);
    }
    keys.sort(byKey);
    const entries: KvListEntry[] = [];
    let bytes = 0;
    for (const key of keys) {
      if (entries.length >= query.limit) break;
      const entry = this.entries.get(key)!;
      const valueBytes = entry.valueBytes;
      const entryBytes = kvTextBytes(key) + (query.keysOnly ? 0 : valueBytes);
      if (entries.length > 0 && bytes + entryBytes > query.bytesMax) break;
      bytes += entryBytes;
      entries.push({ key, value: query.keysOnly ? "" : entry.value, valueBytes, createRevision: entry.createRevision, modRevision: entry.modRevision, version: entry.version });
    }
    assert(entries.length <= query.limit && entries.length <= keys.length, "a page stays within its limit");
    return { entries, more: entries.length < keys.length };
  }

  /**
   * Keys in ascending code-unit order, so equal maps give equal bytes (format 2, or 3 with lists: above).
   * One pass sizes the image and one writes it in place: the leader stalls its Ready loop while it
   * snapshots, and encoding every text into its own array first cost it 25-60 ms per 16k keys.
   */
  snapshot(): Uint8Array {
    const keys = [...this.entries.keys()].sort(byKey);
    let withLists = false;
    let size = 12;
    for (const key of keys) {
      const entry = this.entries.get(key)!;
      size += 4 + kvTextBytes(key) + 24;
      if (entry.list === undefined) size += 4 + entry.valueBytes;
      else {
        withLists = true;
        size += 4;
        for (const element of entry.list) size += 4 + kvTextBytes(element);
      }
    }
    if (withLists) size += keys.length;
    const bytes = new Uint8Array(size);
    const view = new DataView(bytes.buffer);
    view.setUint32(0, SNAPSHOT_MARKER, true);
    view.setUint32(4, withLists ? SNAPSHOT_FORMAT_LISTS : SNAPSHOT_FORMAT_REVISIONS, true);
    view.setUint32(8, keys.length, true);
    let offset = 12;
    for (const key of keys) {
      const entry = this.entries.get(key)!;
      offset = writeSizedText(bytes, offset, key, kvTextBytes(key));
      if (withLists) bytes[offset++] = entry.list === undefined ? 0 : 1;
      if (entry.list === undefined) offset = writeSizedText(bytes, offset, entry.value, entry.valueBytes);
      else {
        writeU32(bytes, offset, entry.list.length);
        offset += 4;
        for (const element of entry.list) offset = writeSizedText(bytes, offset, element, kvTextBytes(element));
      }
      writeU64(view, offset, entry.createRevision);
      writeU64(view, offset + 8, entry.modRevision);
      writeU64(view, offset + 16, entry.version);
      offset += 24;
    }
    assert(offset === size, "kv snapshot size mismatch");
    return bytes;
  }

  /** Restores format 3, 2, or the first format (revisions unknown: 0). The change ring starts afresh. */
  restore(snapshot: Uint8Array): void {
    assert(snapshot.length >= 4, "kv snapshot too short");
    const view = new DataView(snapshot.buffer, snapshot.byteOffset, snapshot.byteLength);
    const withRevisions = view.getUint32(0, true) === SNAPSHOT_MARKER;
    let withLists = false;
    let offset = 0;
    if (withRevisions) {
      assert(snapshot.length >= 12, "kv snapshot too short");
      const format = view.getUint32(4, true);
      assert(format === SNAPSHOT_FORMAT_REVISIONS || format === SNAPSHOT_FORMAT_LISTS, () => `unknown kv snapshot format ${format}`);
      withLists = format === SNAPSHOT_FORMAT_LISTS;
      offset = 8;
    }
    const count = view.getUint32(offset, true);
    assert(count <= KV_KEYS_MAX, "kv snapshot exceeds the key limit");
    offset += 4;
    const take = (): string => {
      assert(offset + 4 <= snapshot.length, "kv snapshot truncated");
      const length = view.getUint32(offset, true);
      assert(offset + 4 + length <= snapshot.length, "kv snapshot truncated");
      const text = decoder.decode(snapshot.subarray(offset + 4, offset + 4 + length));
      offset += 4 + length;
      return text;
    };
    const revision = (): number => {
      assert(offset + 8 <= snapshot.length, "kv snapshot truncated");
      const value = readU64(view, offset);
      offset += 8;
      return value;
    };
    this.entries.clear();
    this.changes.reset();
    let previous: string | undefined;
    for (let i = 0; i < count; i++) {
      const key = take();
      assert(previous === undefined || previous < key, "kv snapshot keys out of order");
      let kind = 0;
      if (withLists) {
        assert(offset + 1 <= snapshot.length, "kv snapshot truncated");
        kind = snapshot[offset++]!;
        assert(kind === 0 || kind === 1, () => `unknown kv snapshot entry kind ${kind}`);
      }
      let value = "";
      let list: string[] | undefined;
      let listBytes = 0;
      if (kind === 1) {
        assert(offset + 4 <= snapshot.length, "kv snapshot truncated");
        const elements = view.getUint32(offset, true);
        offset += 4;
        assert(elements >= 1 && elements <= KV_LIST_ENTRIES_MAX, "a snapshot list is within its bound");
        list = [];
        for (let e = 0; e < elements; e++) {
          const element = take();
          listBytes += kvTextBytes(element);
          list.push(element);
        }
        assert(listBytes <= KV_LIST_BYTES_MAX, "a snapshot list is within its byte bound");
      } else {
        value = take();
      }
      const valueBytes = kvTextBytes(value);
      if (withRevisions) {
        const createRevision = revision();
        const modRevision = revision();
        const version = revision();
        assert(createRevision <= modRevision, "a key is created before it is last modified");
        this.entries.set(key, list === undefined ? { value, valueBytes, createRevision, modRevision, version } : { value, valueBytes, createRevision, modRevision, version, list, listBytes });
      } else {
        this.entries.set(key, { value, valueBytes, createRevision: 0, modRevision: 0, version: 0 });
      }
      previous = key;
    }
    assert(offset === snapshot.length, "kv snapshot has trailing bytes");
  }

  /** Removes one key; whether it was there. */
  private remove(key: string, index: number): boolean {
    // Planted bug: the key is found and reported deleted, but stays.
    if (this.deleteWithoutEffect) return this.entries.has(key);
    if (!this.entries.delete(key)) return false;
    this.changes.record({ type: "delete", key, value: "", revision: index });
    return true;
  }

  private removePrefix(prefix: string, keysMax: number, index: number): KvResult {
    const keys: string[] = [];
    for (const key of this.entries.keys()) if (key.startsWith(prefix)) keys.push(key);
    keys.sort(byKey);
    const removed = keys.slice(0, keysMax);
    for (const key of removed) assert(this.remove(key, index), "a listed key is present");
    assert(removed.length <= keysMax, "a delete-prefix stays within its bound");
    return { op: "delete", deleted: removed.length, more: keys.length > removed.length };
  }
}

/** The writes of one command not yet committed: the entries they replaced (for a roll back) and their changes. */
class PendingWrites {
  readonly undo: Array<readonly [string, KvEntry | undefined]> = [];
  readonly changes: KvChange[] = [];

  remember(key: string, previous: KvEntry | undefined): void {
    this.undo.push([key, previous]);
  }
}

function wrongKind(key: string, why: string): Extract<KvResult, { op: "rejected" }> {
  return { op: "rejected", reason: "wrong-kind", detail: `${key}: ${why}` };
}

export type { KvChange };
