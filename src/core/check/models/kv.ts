// A string-valued key-value map (Porcupine's kv tests, Blixard's simulator workload):
// get, put, append, delete, and cas [expected new]; every key starts as "", and a delete
// makes it "" again (a put of ""). Partitioned by key.
// A get whose result is unknown (nil, or an info get) constrains nothing and is dropped.
//
// Values carry a polynomial rolling hash, so an append's hash is computed from the old
// hash in constant time: h(s + x) = h(s) * B^len(x) + h(x) (mod 2^32). The map's hash is
// the XOR of one term per key with a non-empty value, so an absent key equals "".
import type { Operation } from "../history.ts";
import type { Model, Prepared } from "../model.ts";
import { badOperation, hashString, mix32 } from "../model.ts";
import { showValue } from "../value.ts";

const BASE = 0x01000193;

export interface KvValue {
  readonly text: string;
  readonly hash: number;
}

/**
 * The map as parallel arrays: `keys` in the order this lineage of states first wrote them
 * (shared between states until a new key appears), `values` copied on write. A partition
 * of one key copies a one-element array per write; the whole map copies one per key.
 */
export interface KvState {
  readonly keys: readonly string[];
  readonly values: readonly KvValue[];
  readonly hash: number;
}

function lookup(state: KvState, key: string): number {
  const keys = state.keys;
  for (let i = 0; i < keys.length; i += 1) if (keys[i] === key) return i;
  return -1;
}

function valueOf(state: KvState, key: string): KvValue {
  const i = lookup(state, key);
  return i < 0 ? EMPTY : state.values[i];
}

const GET = 0;
const PUT = 1;
const APPEND = 2;
const CAS = 3;

const NO_PREFIXES = new Int32Array(0);
/** Prefix hashes are kept every PREFIX_STRIDE characters; the rest is computed on demand. */
const PREFIX_STRIDE = 16;

/** Rolling hashes of the prefixes of `text` whose lengths are multiples of PREFIX_STRIDE. */
function prefixCheckpointsOf(text: string): Int32Array {
  const checkpoints = new Int32Array(Math.floor(text.length / PREFIX_STRIDE) + 1);
  let h = 0;
  for (let i = 0; i < text.length; i += 1) {
    h = (Math.imul(h, BASE) + text.charCodeAt(i)) | 0;
    if ((i + 1) % PREFIX_STRIDE === 0) checkpoints[(i + 1) / PREFIX_STRIDE] = h;
  }
  return checkpoints;
}

/** The rolling hash of text's prefix of `length` characters, from the checkpoints. */
function prefixHash(text: string, checkpoints: Int32Array, length: number): number {
  const stride = Math.floor(length / PREFIX_STRIDE);
  let h = checkpoints[stride];
  for (let i = stride * PREFIX_STRIDE; i < length; i += 1) h = (Math.imul(h, BASE) + text.charCodeAt(i)) | 0;
  return h;
}

export class KvInput {
  constructor(
    readonly kind: number,
    readonly key: string,
    readonly keyHash: number,
    /** put/append: the argument; get: the value read; cas: the expected value. */
    readonly value: KvValue,
    /** append: BASE^len(value); 1 otherwise. */
    readonly power: number,
    /** cas: the new value; EMPTY otherwise. */
    readonly swap: KvValue,
    /**
     * get: rolling hashes of the value read's prefixes every PREFIX_STRIDE characters, so
     * "is the current value a prefix of it" compares hashes without reading (and so
     * flattening) the current value's text.
     */
    readonly prefixCheckpoints: Int32Array = NO_PREFIXES,
  ) {}
}
/** cas: 1 swapped, 0 compare failed, -1 unknown; unused otherwise. */
export type KvOutput = number;

function rollingHash(text: string): number {
  let h = 0;
  for (let i = 0; i < text.length; i += 1) h = (Math.imul(h, BASE) + text.charCodeAt(i)) | 0;
  return h;
}

function powerOf(length: number): number {
  let p = 1;
  for (let i = 0; i < length; i += 1) p = Math.imul(p, BASE);
  return p;
}

function kvValue(text: string): KvValue {
  return { text, hash: rollingHash(text) };
}

const EMPTY: KvValue = { text: "", hash: 0 };

function term(keyHash: number, value: KvValue): number {
  return value.text.length === 0 ? 0 : mix32(keyHash ^ Math.imul(value.hash, 0x9e3779b1));
}

function sameValue(a: KvValue, b: KvValue): boolean {
  return a.hash === b.hash && a.text === b.text;
}

function withValue(state: KvState, slot: number, input: KvInput, old: KvValue, value: KvValue): KvState {
  const hash = state.hash ^ term(input.keyHash, old) ^ term(input.keyHash, value);
  if (slot < 0) return { keys: [...state.keys, input.key], values: [...state.values, value], hash };
  const values = state.values.slice();
  values[slot] = value;
  return { keys: state.keys, values, hash };
}

function textOf(op: Operation, value: unknown, what: string): string {
  if (typeof value === "string") return value;
  if (typeof value === "number") return String(value);
  return badOperation(`${what} of ${op.f} must be a string, found ${showValue(value as never)}`);
}

/** Display limit for long appended values in reports. */
const DESCRIBE_TEXT_MAX = 400;

function shorten(text: string): string {
  return text.length <= DESCRIBE_TEXT_MAX ? JSON.stringify(text) : `${JSON.stringify(text.slice(0, DESCRIBE_TEXT_MAX / 2))}…${JSON.stringify(text.slice(-DESCRIBE_TEXT_MAX / 2))}`;
}

export function kvModel(): Model<KvState, KvInput, KvOutput> {
  const keyHashes = new Map<string, number>();
  return {
    name: "kv",
    prepare(op: Operation): Prepared<KvInput, KvOutput> {
      if (op.key === undefined) badOperation(`kv operation :${op.f} has no key`);
      const key = op.key;
      let keyHash = keyHashes.get(key);
      if (keyHash === undefined) {
        keyHash = hashString(key);
        keyHashes.set(key, keyHash);
      }
      switch (op.f) {
        case "get": {
          if (op.status !== "ok" || op.completeValue === null) return "drop";
          const text = textOf(op, op.completeValue, "the value read");
          const checkpoints = prefixCheckpointsOf(text);
          // The whole value's hash is the last prefix hash: one pass over the text.
          const value = { text, hash: prefixHash(text, checkpoints, text.length) };
          return { input: new KvInput(GET, key, keyHash, value, 1, EMPTY, checkpoints), output: 0 };
        }
        case "put":
          return { input: new KvInput(PUT, key, keyHash, kvValue(textOf(op, op.invokeValue, "the value")), 1, EMPTY), output: 0 };
        case "delete":
          return { input: new KvInput(PUT, key, keyHash, EMPTY, 1, EMPTY), output: 0 };
        case "append": {
          const text = textOf(op, op.invokeValue, "the value");
          return { input: new KvInput(APPEND, key, keyHash, kvValue(text), powerOf(text.length), EMPTY), output: 0 };
        }
        case "cas": {
          const pair = op.invokeValue;
          if (!Array.isArray(pair) || pair.length !== 2) badOperation(`cas needs [expected, new], found ${showValue(pair)}`);
          const output = op.status === "ok" ? 1 : op.status === "compare-failed" ? 0 : -1;
          return { input: new KvInput(CAS, key, keyHash, kvValue(textOf(op, pair[0], "expected")), 1, kvValue(textOf(op, pair[1], "new"))), output };
        }
        default:
          return badOperation(`unknown operation :${op.f} (expected get, put, append, delete or cas)`);
      }
    },
    init: () => ({ keys: [], values: [], hash: 0 }),
    step(state, input, output) {
      const slot = lookup(state, input.key);
      const old = slot < 0 ? EMPTY : state.values[slot];
      switch (input.kind) {
        case GET:
          return sameValue(old, input.value) ? state : undefined;
        case PUT:
          return withValue(state, slot, input, old, input.value);
        case APPEND: {
          if (input.value.text.length === 0) return state;
          const value = { text: old.text + input.value.text, hash: (Math.imul(old.hash, input.power) + input.value.hash) | 0 };
          return withValue(state, slot, input, old, value);
        }
        default: {
          const matches = sameValue(old, input.value);
          if (output === 0) return matches ? undefined : state;
          return matches ? withValue(state, slot, input, old, input.swap) : undefined;
        }
      }
    },
    hash: (state) => state.hash,
    equal(a, b) {
      if (a === b) return true;
      if (a.hash !== b.hash) return false;
      if (a.keys === b.keys) {
        for (let i = 0; i < a.values.length; i += 1) if (!sameValue(a.values[i], b.values[i])) return false;
        return true;
      }
      for (let i = 0; i < a.keys.length; i += 1) if (!sameValue(a.values[i], valueOf(b, a.keys[i]))) return false;
      for (let i = 0; i < b.keys.length; i += 1) if (lookup(a, b.keys[i]) < 0 && b.values[i].text.length !== 0) return false;
      return true;
    },
    isReadOnly: (input, output) => input.kind === GET || (input.kind === CAS && output === 0),
    // Appends only extend a value; puts and cas replace it.
    // A hash comparison can only err towards "may": that prunes less, never wrongly.
    mayLaterAccept(state, input) {
      if (input.kind !== GET) return true;
      const current = valueOf(state, input.key);
      const length = current.text.length;
      return length < input.value.text.length && prefixHash(input.value.text, input.prefixCheckpoints, length) === current.hash;
    },
    resets: (input, output) => input.kind === PUT || (input.kind === CAS && output !== 0),
    partition: (input) => input.key,
    describeOperation(input, output) {
      const key = JSON.stringify(input.key);
      switch (input.kind) {
        case GET:
          return `get ${key} -> ${shorten(input.value.text)}`;
        case PUT:
          return `put ${key} ${shorten(input.value.text)}`;
        case APPEND:
          return `append ${key} ${shorten(input.value.text)}`;
        default:
          return `cas ${key} ${shorten(input.value.text)} -> ${shorten(input.swap.text)}${output === 1 ? "" : output === 0 ? " (compare failed)" : " (unknown)"}`;
      }
    },
    describeState(state) {
      const keys = state.keys.filter((k) => valueOf(state, k).text.length > 0).sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}: ${shorten(valueOf(state, k).text)}`).join(", ")}}`;
    },
  };
}
