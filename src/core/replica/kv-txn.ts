// An etcd-style transaction over the key-value map: compare clauses over several keys, then
// one list of operations if every clause holds and another if any does not. The whole txn is
// one log entry, applied atomically by the state machine (kv-state-machine.ts): if an
// operation of the chosen branch cannot apply (a value write to a list key, an append to a
// value key, a full map or list), the txn has no effect at all and is answered rejected.
//
// Compare rules (etcd's, with Blixard's lists):
//   value ==/!=            false against an absent key or a key holding a list (either op);
//   version, mod-revision, create-revision ==/!=/</>   an absent key has 0 for each;
//   exists true/false      whether the key is present (a value or a list).
// Operations run in order, each seeing the writes before it; every write gets the txn's
// revision (its log index), and a key written twice gains a version for each write.
//
// The log entry holds the txn as JSON (canonical field order, written by encodeKvTxn): a
// txn is a rare, structured command, and JSON keeps its decoder short and exact.

import { assert } from "../assert.ts";

/** At most this many compare clauses in one txn. */
export const KV_TXN_COMPARES_MAX = 64;
/** At most this many operations in each branch. */
export const KV_TXN_OPS_MAX = 64;
/** At most this many reads (get, read-list) in each branch, so an answer stays within a frame (each read is at most 64 KiB). */
export const KV_TXN_READS_MAX = 8;
/** The UTF-8 bytes of every key and value in a txn (compares and both branches) together. */
export const KV_TXN_TEXT_BYTES_MAX = 128 * 1024;

export const KV_COMPARE_NUMBER_TARGETS = ["version", "mod-revision", "create-revision"] as const;
export type KvCompareNumberTarget = (typeof KV_COMPARE_NUMBER_TARGETS)[number];
export const KV_COMPARE_OPS = ["==", "!=", "<", ">"] as const;
export type KvCompareOp = (typeof KV_COMPARE_OPS)[number];

export type KvCompare =
  | { readonly target: "value"; readonly key: string; readonly op: "==" | "!="; readonly value: string }
  | { readonly target: KvCompareNumberTarget; readonly key: string; readonly op: KvCompareOp; readonly number: number }
  | { readonly target: "exists"; readonly key: string; readonly exists: boolean };

export type KvTxnOp =
  | { readonly op: "put"; readonly key: string; readonly value: string }
  | { readonly op: "delete"; readonly key: string }
  | { readonly op: "get"; readonly key: string }
  | { readonly op: "append"; readonly key: string; readonly value: string }
  | { readonly op: "read-list"; readonly key: string };

export interface KvTxn {
  readonly compares: readonly KvCompare[];
  /** Run when every compare holds (an empty compare list holds). */
  readonly success: readonly KvTxnOp[];
  /** Run when some compare does not hold. */
  readonly failure: readonly KvTxnOp[];
}

/** One operation's answer, in the order of the branch's operations. */
export type KvTxnOpResult =
  | { readonly op: "put" }
  /** length: the list's length after the append. */
  | { readonly op: "append"; readonly length: number }
  | { readonly op: "delete"; readonly deleted: number }
  /** A get of a key holding a list is found with value "" (read it with read-list). */
  | { readonly op: "get"; readonly found: boolean; readonly value: string; readonly createRevision: number; readonly modRevision: number; readonly version: number }
  /** An absent key, or one holding a value, reads as an empty list, not found. */
  | { readonly op: "read-list"; readonly found: boolean; readonly list: readonly string[] };

export function isReadOp(op: KvTxnOp): boolean {
  return op.op === "get" || op.op === "read-list";
}

/** Why a txn's shape breaks a limit, or undefined (the keys and values are checked by the caller, which knows their rules). */
export function validateKvTxnShape(txn: KvTxn, textBytes: (text: string) => number): string | undefined {
  if (txn.compares.length > KV_TXN_COMPARES_MAX) return `compare: ${txn.compares.length} clauses exceeds the limit of ${KV_TXN_COMPARES_MAX}`;
  for (const [name, ops] of [["success", txn.success], ["failure", txn.failure]] as const) {
    if (ops.length > KV_TXN_OPS_MAX) return `${name}: ${ops.length} operations exceeds the limit of ${KV_TXN_OPS_MAX}`;
    const reads = ops.filter(isReadOp).length;
    if (reads > KV_TXN_READS_MAX) return `${name}: ${reads} reads exceeds the limit of ${KV_TXN_READS_MAX}`;
  }
  for (const [i, compare] of txn.compares.entries()) {
    if (compare.target === "value" || compare.target === "exists") continue;
    if (!Number.isSafeInteger(compare.number) || compare.number < 0) return `compare[${i}]: ${compare.target} must be a non-negative integer, got ${compare.number}`;
  }
  let bytes = 0;
  for (const compare of txn.compares) bytes += textBytes(compare.key) + (compare.target === "value" ? textBytes(compare.value) : 0);
  for (const op of [...txn.success, ...txn.failure]) bytes += textBytes(op.key) + (op.op === "put" || op.op === "append" ? textBytes(op.value) : 0);
  if (bytes > KV_TXN_TEXT_BYTES_MAX) return `txn: ${bytes} bytes of keys and values exceeds the limit of ${KV_TXN_TEXT_BYTES_MAX}`;
  return undefined;
}

/** A canonical copy (fixed field order, no extra fields), so equal txns encode to equal bytes. */
function canonicalCompare(compare: KvCompare): KvCompare {
  switch (compare.target) {
    case "value":
      return { target: "value", key: compare.key, op: compare.op, value: compare.value };
    case "exists":
      return { target: "exists", key: compare.key, exists: compare.exists };
    default:
      return { target: compare.target, key: compare.key, op: compare.op, number: compare.number };
  }
}

function canonicalOp(op: KvTxnOp): KvTxnOp {
  switch (op.op) {
    case "put":
    case "append":
      return { op: op.op, key: op.key, value: op.value };
    case "delete":
    case "get":
    case "read-list":
      return { op: op.op, key: op.key };
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** The txn's JSON text as UTF-8 (the caller prefixes its op byte). */
export function encodeKvTxnBody(txn: KvTxn): Uint8Array {
  const canonical = { compares: txn.compares.map(canonicalCompare), success: txn.success.map(canonicalOp), failure: txn.failure.map(canonicalOp) };
  const bytes = encoder.encode(JSON.stringify(canonical));
  assert(bytes.length > 0, "a txn encodes to some bytes");
  return bytes;
}

/** Decodes a txn written by encodeKvTxnBody; the log is checksummed and the txn was validated, so a malformed one is a programmer error. */
export function decodeKvTxnBody(bytes: Uint8Array): KvTxn {
  const parsed = JSON.parse(decoder.decode(bytes)) as KvTxn;
  assert(Array.isArray(parsed.compares) && Array.isArray(parsed.success) && Array.isArray(parsed.failure), "a logged txn has its three lists");
  assert(parsed.compares.length <= KV_TXN_COMPARES_MAX && parsed.success.length <= KV_TXN_OPS_MAX && parsed.failure.length <= KV_TXN_OPS_MAX, "a logged txn is within its limits");
  return parsed;
}

/** Whether a compare holds against a key's state (undefined: absent). */
export function compareHolds(compare: KvCompare, state: { readonly value: string; readonly isList: boolean; readonly createRevision: number; readonly modRevision: number; readonly version: number } | undefined): boolean {
  switch (compare.target) {
    case "exists":
      return (state !== undefined) === compare.exists;
    case "value":
      if (state === undefined || state.isList) return false;
      return compare.op === "==" ? state.value === compare.value : state.value !== compare.value;
    default: {
      const actual = state === undefined ? 0 : compare.target === "version" ? state.version : compare.target === "mod-revision" ? state.modRevision : state.createRevision;
      switch (compare.op) {
        case "==":
          return actual === compare.number;
        case "!=":
          return actual !== compare.number;
        case "<":
          return actual < compare.number;
        case ">":
          return actual > compare.number;
      }
    }
  }
}
