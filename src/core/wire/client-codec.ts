// The client channel's codec: client requests and their outcomes as bytes, with request
// ids. It carries forwarding between nodes (in both worlds) and the simulated clients.
//
// A frame is a kind byte, then:
//   request  origin u32-as-varint | request id | hops u8 | request kind u8 | fields
//   outcome  origin | request id | status u8 | fields (an ok outcome's start with the id of the node that served it)
// `origin` is the sender's random incarnation word and the request id its counter: an
// outcome answers the pending request with both, so a late answer to a previous
// incarnation's request can never resolve a new one. `hops` is 0 for a request from a
// client (the node may forward it) and 1 for a forwarded request (never forwarded again).
//
// Decoding is strict and total (the bytes come from the network): unknown tags,
// truncation, trailing bytes, strings over their limits, invalid UTF-8, ids out of range
// and a frame over the size limit are error values, never thrown. Encoding asserts its
// input is well formed: the node made it.

import { assert, unreachable } from "../assert.ts";
import type { NodeId } from "../raft/types.ts";
import { KV_KEY_BYTES_MAX, KV_LIST_BYTES_MAX, KV_LIST_ENTRIES_MAX, KV_VALUE_BYTES_MAX, type KvListEntry } from "../replica/kv-state-machine.ts";
import { KV_COMPARE_OPS, KV_TXN_COMPARES_MAX, KV_TXN_OPS_MAX, type KvCompare, type KvTxn, type KvTxnOp, type KvTxnOpResult } from "../replica/kv-txn.ts";
import { decodeEnvelope, encodeEnvelope } from "../cluster/command-codec.ts";
import type { ClusterRead, ClusterReadAnswer } from "../cluster/cluster-read.ts";
import { CLUSTER_LIMITS, type ClusterResult } from "../cluster/types.ts";
import {
  ADDRESS_BYTES_MAX,
  DETAIL_BYTES_MAX,
  KV_LIST_LIMIT_MAX,
  NOT_APPLIED_REASONS,
  REQUEST_BYTES_MAX,
  UNKNOWN_REASONS,
  type ClientRequest,
  type RequestOutcome,
  type RequestResult,
} from "../replica/request-types.ts";
import { decodeTokenRecord, encodeTokenRecord, isTokenId, TOKEN_RECORD_BYTES_MAX } from "../replica/token-book.ts";
import { ByteReader, ByteWriter, DecodeFailure } from "./bytes.ts";
import { MAX_MEMBERS } from "./codec.ts";

/** A cluster read's JSON form is small: a few names and numbers, or a plan's list of ids. */
const CLUSTER_READ_BYTES_MAX = 16 * 1024;
/** A cluster result or read answer (a page of records, a plan) as JSON. */
export const CLUSTER_ANSWER_BYTES_MAX = 1024 * 1024;
/**
 * No client frame is larger: the key-value request limit every path shares (REQUEST_BYTES_MAX), or
 * a cluster command (CLUSTER_LIMITS.commandBytesMax, on every path too) or answer at its limit, and a little more.
 */
export const CLIENT_FRAME_BYTES_MAX = Math.max(REQUEST_BYTES_MAX, CLUSTER_LIMITS.commandBytesMax + 4 * 1024, CLUSTER_ANSWER_BYTES_MAX + 4 * 1024);
/** Hops a request may have made; a forwarded request (1) is never forwarded again. */
export const HOPS_MAX = 1;

export interface ClientRequestFrame {
  readonly kind: "request";
  readonly origin: number;
  readonly requestId: number;
  readonly hops: number;
  readonly request: ClientRequest;
}

export interface ClientOutcomeFrame {
  readonly kind: "outcome";
  readonly origin: number;
  readonly requestId: number;
  readonly outcome: RequestOutcome;
}

export type ClientFrame = ClientRequestFrame | ClientOutcomeFrame;

export type ClientDecodeResult = { readonly ok: true; readonly frame: ClientFrame } | { readonly ok: false; readonly error: string };

const FRAME_REQUEST = 1;
const FRAME_OUTCOME = 2;

// The orchestrator's requests are 9 and 10; kv delete, list and create 11 to 13, append, read-list and txn 14 to 16; the token requests take tags from 20 up.
const REQUEST_TAGS = {
  get: 1,
  "get-local": 2,
  put: 3,
  cas: 4,
  "add-learner": 5,
  promote: 6,
  remove: 7,
  "transfer-leader": 8,
  cluster: 9,
  "cluster-read": 10,
  delete: 11,
  list: 12,
  create: 13,
  append: 14,
  "read-list": 15,
  txn: 16,
  "token-create": 20,
  "token-revoke": 21,
} as const;
const STATUS_OK = 1;
const STATUS_NOT_APPLIED = 2;
const STATUS_UNKNOWN = 3;
const RESULT_TAGS = { get: 1, put: 2, cas: 3, membership: 4, transfer: 5, cluster: 6, "cluster-read": 7, delete: 8, list: 9, append: 10, "read-list": 11, txn: 12 } as const;

// A txn on the wire: compares (count, then per clause: target u8 | key | op u8 or exists u8 | value or number), then
// the success and the failure branch (count, then per operation: op u8 | key | value for put and append).
const COMPARE_TARGETS = ["value", "version", "mod-revision", "create-revision", "exists"] as const;
const TXN_OPS = ["put", "delete", "get", "append", "read-list"] as const;

/** Origins are 32-bit words (drawn once per incarnation). */
export const ORIGIN_MAX = 0xffff_ffff;

export function encodeClientFrame(frame: ClientFrame): Uint8Array {
  assert(Number.isSafeInteger(frame.origin) && frame.origin >= 0 && frame.origin <= ORIGIN_MAX, "origin out of range");
  assert(Number.isSafeInteger(frame.requestId) && frame.requestId >= 1, "request ids are positive");
  const writer = new ByteWriter(64);
  if (frame.kind === "request") {
    assert(frame.hops >= 0 && frame.hops <= HOPS_MAX, "hops out of range");
    writer.u8(FRAME_REQUEST);
    writer.uvarint(frame.origin);
    writer.uvarint(frame.requestId);
    writer.u8(frame.hops);
    writeRequest(writer, frame.request);
  } else {
    writer.u8(FRAME_OUTCOME);
    writer.uvarint(frame.origin);
    writer.uvarint(frame.requestId);
    writeOutcome(writer, frame.outcome);
  }
  const bytes = writer.finish();
  assert(bytes.length <= CLIENT_FRAME_BYTES_MAX, () => `client frame of ${bytes.length} bytes exceeds ${CLIENT_FRAME_BYTES_MAX}`);
  return bytes;
}

function writeRequest(writer: ByteWriter, request: ClientRequest): void {
  writer.u8(REQUEST_TAGS[request.kind]);
  switch (request.kind) {
    case "get":
    case "get-local":
      writer.string(request.key);
      return;
    case "put":
    case "create":
      writer.string(request.key);
      writer.string(request.value);
      return;
    case "cas":
      writer.string(request.key);
      writer.string(request.expected);
      writer.string(request.value);
      return;
    case "delete":
      writer.string(request.key);
      writer.u8(request.prefix ? 1 : 0);
      return;
    case "append":
      writer.string(request.key);
      writer.string(request.value);
      return;
    case "read-list":
      writer.string(request.key);
      return;
    case "txn":
      writeTxn(writer, request.txn);
      return;
    case "list":
      writer.string(request.prefix);
      writer.string(request.startAfter);
      writer.uvarint(request.limit);
      writer.u8(request.keysOnly ? 1 : 0);
      return;
    case "add-learner":
      writer.uvarint(request.nodeId);
      writer.string(request.peer);
      writer.string(request.api);
      writer.u8(request.addressesOnly ? 1 : 0);
      return;
    case "promote":
    case "remove":
      writer.uvarint(request.nodeId);
      return;
    case "transfer-leader":
      writer.uvarint(request.targetId);
      return;
    case "cluster":
      writer.bytes(encodeEnvelope(request.envelope));
      return;
    case "cluster-read":
      writer.string(JSON.stringify(request.read));
      return;
    case "token-create":
      writer.string(encodeTokenRecord(request.record));
      return;
    case "token-revoke":
      writer.string(request.id);
      return;
    default:
      return unreachable(request, "client request");
  }
}

function writeOutcome(writer: ByteWriter, outcome: RequestOutcome): void {
  switch (outcome.status) {
    case "ok":
      writer.u8(STATUS_OK);
      assert(Number.isSafeInteger(outcome.servedBy) && outcome.servedBy >= 1, "an ok outcome names the node that served it");
      writer.uvarint(outcome.servedBy);
      writeResult(writer, outcome.result);
      return;
    case "not-applied":
      writer.u8(STATUS_NOT_APPLIED);
      writer.u8(NOT_APPLIED_REASONS.indexOf(outcome.reason));
      writer.uvarint(outcome.leaderHint);
      writer.string(truncateDetail(outcome.detail));
      return;
    case "unknown":
      writer.u8(STATUS_UNKNOWN);
      writer.u8(UNKNOWN_REASONS.indexOf(outcome.reason));
      writer.string(truncateDetail(outcome.detail));
      return;
    default:
      return unreachable(outcome, "request outcome");
  }
}

function writeResult(writer: ByteWriter, result: RequestResult): void {
  writer.u8(RESULT_TAGS[result.kind]);
  switch (result.kind) {
    case "get":
      writer.string(result.value);
      writer.uvarint(result.index);
      writer.u8(result.found ? 1 : 0);
      writer.uvarint(result.createRevision);
      writer.uvarint(result.modRevision);
      writer.uvarint(result.version);
      return;
    case "delete":
      writer.uvarint(result.deleted);
      writer.u8(result.more ? 1 : 0);
      writer.uvarint(result.index);
      return;
    case "list":
      assert(result.entries.length <= KV_LIST_LIMIT_MAX, "a list page stays within its limit");
      writer.u8(result.more ? 1 : 0);
      writer.uvarint(result.index);
      writer.uvarint(result.entries.length);
      for (const entry of result.entries) {
        writer.string(entry.key);
        writer.string(entry.value);
        writer.uvarint(entry.valueBytes);
        writer.uvarint(entry.createRevision);
        writer.uvarint(entry.modRevision);
        writer.uvarint(entry.version);
      }
      return;
    case "put":
      writer.uvarint(result.index);
      return;
    case "append":
      writer.uvarint(result.length);
      writer.uvarint(result.index);
      return;
    case "read-list":
      writer.u8(result.found ? 1 : 0);
      writeList(writer, result.list);
      writer.uvarint(result.index);
      writer.uvarint(result.createRevision);
      writer.uvarint(result.modRevision);
      writer.uvarint(result.version);
      return;
    case "txn":
      writer.u8(result.succeeded ? 1 : 0);
      writer.uvarint(result.index);
      assert(result.results.length <= KV_TXN_OPS_MAX, "a txn answers at most its operations");
      writer.uvarint(result.results.length);
      for (const opResult of result.results) writeTxnOpResult(writer, opResult);
      return;
    case "cas":
      writer.u8(result.swapped ? 1 : 0);
      writer.string(result.current);
      writer.uvarint(result.index);
      return;
    case "membership":
      writer.uvarint(result.index);
      writeIds(writer, result.confState.voters);
      writeIds(writer, result.confState.learners);
      return;
    case "transfer":
      writer.uvarint(result.leaderId);
      return;
    case "cluster":
      writer.uvarint(result.index);
      writer.string(JSON.stringify(result.result));
      return;
    case "cluster-read":
      writer.uvarint(result.index);
      writer.string(JSON.stringify(result.answer));
      return;
    default:
      return unreachable(result, "request result");
  }
}

function writeTxn(writer: ByteWriter, txn: KvTxn): void {
  assert(txn.compares.length <= KV_TXN_COMPARES_MAX, "a txn within its compare limit");
  writer.uvarint(txn.compares.length);
  for (const compare of txn.compares) {
    writer.u8(COMPARE_TARGETS.indexOf(compare.target));
    writer.string(compare.key);
    if (compare.target === "exists") writer.u8(compare.exists ? 1 : 0);
    else if (compare.target === "value") {
      writer.u8(KV_COMPARE_OPS.indexOf(compare.op));
      writer.string(compare.value);
    } else {
      writer.u8(KV_COMPARE_OPS.indexOf(compare.op));
      writer.uvarint(compare.number);
    }
  }
  for (const ops of [txn.success, txn.failure]) {
    assert(ops.length <= KV_TXN_OPS_MAX, "a txn branch within its operation limit");
    writer.uvarint(ops.length);
    for (const op of ops) {
      writer.u8(TXN_OPS.indexOf(op.op));
      writer.string(op.key);
      if (op.op === "put" || op.op === "append") writer.string(op.value);
    }
  }
}

function writeList(writer: ByteWriter, list: readonly string[]): void {
  assert(list.length <= KV_LIST_ENTRIES_MAX, "a list within its bound");
  writer.uvarint(list.length);
  for (const element of list) writer.string(element);
}

function writeTxnOpResult(writer: ByteWriter, result: KvTxnOpResult): void {
  writer.u8(TXN_OPS.indexOf(result.op));
  switch (result.op) {
    case "put":
      return;
    case "append":
      writer.uvarint(result.length);
      return;
    case "delete":
      writer.uvarint(result.deleted);
      return;
    case "get":
      writer.u8(result.found ? 1 : 0);
      writer.string(result.value);
      writer.uvarint(result.createRevision);
      writer.uvarint(result.modRevision);
      writer.uvarint(result.version);
      return;
    case "read-list":
      writer.u8(result.found ? 1 : 0);
      writeList(writer, result.list);
      return;
    default:
      return unreachable(result, "txn operation result");
  }
}

function readTxn(reader: ByteReader): KvTxn {
  const compareCount = reader.uvarint("compare count");
  if (compareCount > KV_TXN_COMPARES_MAX) throw new DecodeFailure(`txn: ${compareCount} compares exceed ${KV_TXN_COMPARES_MAX}`);
  const compares: KvCompare[] = [];
  for (let i = 0; i < compareCount; i++) {
    const target = COMPARE_TARGETS[reader.u8("compare target")];
    if (target === undefined) throw new DecodeFailure("txn: unknown compare target");
    const key = reader.string("compare key", KV_KEY_BYTES_MAX);
    if (target === "exists") {
      compares.push({ target, key, exists: reader.bool("exists") });
      continue;
    }
    const op = KV_COMPARE_OPS[reader.u8("compare op")];
    if (op === undefined) throw new DecodeFailure("txn: unknown compare op");
    if (target === "value") {
      if (op !== "==" && op !== "!=") throw new DecodeFailure("txn: a value compare is == or !=");
      compares.push({ target, key, op, value: reader.string("compare value", KV_VALUE_BYTES_MAX) });
    } else {
      compares.push({ target, key, op, number: reader.uvarint("compare number") });
    }
  }
  const branch = (name: string): KvTxnOp[] => {
    const count = reader.uvarint(`${name} count`);
    if (count > KV_TXN_OPS_MAX) throw new DecodeFailure(`txn: ${count} ${name} operations exceed ${KV_TXN_OPS_MAX}`);
    const ops: KvTxnOp[] = [];
    for (let i = 0; i < count; i++) {
      const op = TXN_OPS[reader.u8("txn op")];
      if (op === undefined) throw new DecodeFailure("txn: unknown operation");
      const key = reader.string("key", KV_KEY_BYTES_MAX);
      if (op === "put" || op === "append") ops.push({ op, key, value: reader.string("value", op === "put" ? KV_VALUE_BYTES_MAX : KV_LIST_BYTES_MAX) });
      else ops.push({ op, key });
    }
    return ops;
  };
  const success = branch("success");
  return { compares, success, failure: branch("failure") };
}

function readList(reader: ByteReader): string[] {
  const count = reader.uvarint("list length");
  if (count > KV_LIST_ENTRIES_MAX) throw new DecodeFailure(`list: ${count} elements exceed ${KV_LIST_ENTRIES_MAX}`);
  const list: string[] = [];
  for (let i = 0; i < count; i++) list.push(reader.string("element", KV_LIST_BYTES_MAX));
  return list;
}

function readTxnOpResult(reader: ByteReader): KvTxnOpResult {
  const op = TXN_OPS[reader.u8("txn result op")];
  switch (op) {
    case "put":
      return { op };
    case "append":
      return { op, length: reader.uvarint("length") };
    case "delete":
      return { op, deleted: reader.uvarint("deleted") };
    case "get":
      return { op, found: reader.bool("found"), value: reader.string("value", KV_VALUE_BYTES_MAX), createRevision: reader.uvarint("create revision"), modRevision: reader.uvarint("mod revision"), version: reader.uvarint("version") };
    case "read-list":
      return { op, found: reader.bool("found"), list: readList(reader) };
    default:
      throw new DecodeFailure("txn: unknown operation result");
  }
}

function writeIds(writer: ByteWriter, ids: readonly NodeId[]): void {
  assert(ids.length <= MAX_MEMBERS, "too many members");
  writer.uvarint(ids.length);
  for (const id of ids) writer.uvarint(id);
}

/** Details are for people: cut at a character boundary below the limit rather than refuse. */
function truncateDetail(detail: string): string {
  if (detail.length * 3 <= DETAIL_BYTES_MAX) return detail;
  let cut = detail.slice(0, DETAIL_BYTES_MAX / 4);
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return cut;
}

export function decodeClientFrame(bytes: Uint8Array, maxBytes: number = CLIENT_FRAME_BYTES_MAX): ClientDecodeResult {
  if (bytes.length > maxBytes) return { ok: false, error: `client frame of ${bytes.length} bytes exceeds ${maxBytes}` };
  try {
    const reader = new ByteReader(bytes);
    const kind = reader.u8("frame kind");
    const origin = reader.uvarint("origin");
    if (origin > ORIGIN_MAX) throw new DecodeFailure(`origin ${origin} out of range`);
    const requestId = reader.uvarint("request id");
    if (requestId < 1) throw new DecodeFailure("request id 0");
    let frame: ClientFrame;
    if (kind === FRAME_REQUEST) {
      const hops = reader.u8("hops");
      if (hops > HOPS_MAX) throw new DecodeFailure(`hops ${hops} exceeds ${HOPS_MAX}`);
      frame = { kind: "request", origin, requestId, hops, request: readRequest(reader) };
    } else if (kind === FRAME_OUTCOME) {
      frame = { kind: "outcome", origin, requestId, outcome: readOutcome(reader) };
    } else {
      throw new DecodeFailure(`unknown client frame kind ${kind}`);
    }
    reader.expectEnd("client frame");
    return { ok: true, frame };
  } catch (error) {
    if (error instanceof DecodeFailure) return { ok: false, error: error.message };
    throw error;
  }
}

function readNodeId(reader: ByteReader, what: string): NodeId {
  const id = reader.uvarint(what);
  if (id < 1) throw new DecodeFailure(`${what}: node id 0`);
  return id;
}

function readRequest(reader: ByteReader): ClientRequest {
  const tag = reader.u8("request kind");
  switch (tag) {
    case REQUEST_TAGS.get:
      return { kind: "get", key: reader.string("key", KV_KEY_BYTES_MAX) };
    case REQUEST_TAGS["get-local"]:
      return { kind: "get-local", key: reader.string("key", KV_KEY_BYTES_MAX) };
    case REQUEST_TAGS.put:
      return { kind: "put", key: reader.string("key", KV_KEY_BYTES_MAX), value: reader.string("value", KV_VALUE_BYTES_MAX) };
    case REQUEST_TAGS.cas:
      return {
        kind: "cas",
        key: reader.string("key", KV_KEY_BYTES_MAX),
        expected: reader.string("expected", KV_VALUE_BYTES_MAX),
        value: reader.string("value", KV_VALUE_BYTES_MAX),
      };
    case REQUEST_TAGS.create:
      return { kind: "create", key: reader.string("key", KV_KEY_BYTES_MAX), value: reader.string("value", KV_VALUE_BYTES_MAX) };
    case REQUEST_TAGS.append:
      return { kind: "append", key: reader.string("key", KV_KEY_BYTES_MAX), value: reader.string("value", KV_LIST_BYTES_MAX) };
    case REQUEST_TAGS["read-list"]:
      return { kind: "read-list", key: reader.string("key", KV_KEY_BYTES_MAX) };
    case REQUEST_TAGS.txn:
      return { kind: "txn", txn: readTxn(reader) };
    case REQUEST_TAGS.delete:
      return { kind: "delete", key: reader.string("key", KV_KEY_BYTES_MAX), prefix: reader.bool("prefix") };
    case REQUEST_TAGS.list: {
      const prefix = reader.string("prefix", KV_KEY_BYTES_MAX);
      const startAfter = reader.string("start after", KV_KEY_BYTES_MAX);
      const limit = reader.uvarint("limit");
      if (limit < 1 || limit > KV_LIST_LIMIT_MAX) throw new DecodeFailure(`limit ${limit} out of 1..${KV_LIST_LIMIT_MAX}`);
      return { kind: "list", prefix, startAfter, limit, keysOnly: reader.bool("keys only") };
    }
    case REQUEST_TAGS["add-learner"]:
      return {
        kind: "add-learner",
        nodeId: readNodeId(reader, "node id"),
        peer: reader.string("peer address", ADDRESS_BYTES_MAX),
        api: reader.string("api address", ADDRESS_BYTES_MAX),
        addressesOnly: reader.bool("addresses only"),
      };
    case REQUEST_TAGS.promote:
      return { kind: "promote", nodeId: readNodeId(reader, "node id") };
    case REQUEST_TAGS.remove:
      return { kind: "remove", nodeId: readNodeId(reader, "node id") };
    case REQUEST_TAGS["transfer-leader"]:
      return { kind: "transfer-leader", targetId: readNodeId(reader, "target id") };
    case REQUEST_TAGS.cluster: {
      const decoded = decodeEnvelope(reader.bytes("cluster command", CLUSTER_LIMITS.commandBytesMax));
      if ("error" in decoded) throw new DecodeFailure(`cluster command: ${decoded.error}`);
      return { kind: "cluster", envelope: decoded };
    }
    case REQUEST_TAGS["cluster-read"]:
      return { kind: "cluster-read", read: parseClusterRead(reader.string("cluster read", CLUSTER_READ_BYTES_MAX)) };
    case REQUEST_TAGS["token-create"]: {
      const record = decodeTokenRecord(reader.string("token record", TOKEN_RECORD_BYTES_MAX));
      if (record === undefined) throw new DecodeFailure("token record: not a valid record");
      return { kind: "token-create", record };
    }
    case REQUEST_TAGS["token-revoke"]: {
      const id = reader.string("token id", TOKEN_RECORD_BYTES_MAX);
      if (!isTokenId(id)) throw new DecodeFailure("token id: not 16 lowercase hex digits");
      return { kind: "token-revoke", id };
    }
    default:
      throw new DecodeFailure(`unknown request kind ${tag}`);
  }
}

function readOutcome(reader: ByteReader): RequestOutcome {
  const status = reader.u8("status");
  switch (status) {
    case STATUS_OK: {
      const servedBy = readNodeId(reader, "served by");
      return { status: "ok", result: readResult(reader), servedBy };
    }
    case STATUS_NOT_APPLIED: {
      const code = reader.u8("not-applied reason");
      const reason = NOT_APPLIED_REASONS[code];
      if (reason === undefined) throw new DecodeFailure(`unknown not-applied reason ${code}`);
      const leaderHint = reader.uvarint("leader hint");
      return { status: "not-applied", reason, leaderHint, detail: reader.string("detail", DETAIL_BYTES_MAX) };
    }
    case STATUS_UNKNOWN: {
      const code = reader.u8("unknown reason");
      const reason = UNKNOWN_REASONS[code];
      if (reason === undefined) throw new DecodeFailure(`unknown unknown-reason ${code}`);
      return { status: "unknown", reason, detail: reader.string("detail", DETAIL_BYTES_MAX) };
    }
    default:
      throw new DecodeFailure(`unknown outcome status ${status}`);
  }
}

function readResult(reader: ByteReader): RequestResult {
  const tag = reader.u8("result kind");
  switch (tag) {
    case RESULT_TAGS.get: {
      const value = reader.string("value", KV_VALUE_BYTES_MAX);
      const index = reader.uvarint("index");
      const found = reader.bool("found");
      const createRevision = reader.uvarint("create revision");
      const modRevision = reader.uvarint("mod revision");
      const version = reader.uvarint("version");
      if (!found && (value !== "" || createRevision !== 0 || modRevision !== 0 || version !== 0)) throw new DecodeFailure("get: an absent key has no value or revisions");
      return { kind: "get", value, index, found, createRevision, modRevision, version };
    }
    case RESULT_TAGS.delete: {
      const deleted = reader.uvarint("deleted");
      return { kind: "delete", deleted, more: reader.bool("more"), index: reader.uvarint("index") };
    }
    case RESULT_TAGS.list: {
      const more = reader.bool("more");
      const index = reader.uvarint("index");
      const count = reader.uvarint("entry count");
      if (count > KV_LIST_LIMIT_MAX) throw new DecodeFailure(`list: ${count} entries exceed ${KV_LIST_LIMIT_MAX}`);
      const entries: KvListEntry[] = [];
      for (let i = 0; i < count; i++) {
        const key = reader.string("key", KV_KEY_BYTES_MAX);
        if (i > 0 && key <= entries[i - 1]!.key) throw new DecodeFailure("list: keys not in ascending order");
        entries.push({
          key,
          value: reader.string("value", KV_VALUE_BYTES_MAX),
          valueBytes: reader.uvarint("value bytes"),
          createRevision: reader.uvarint("create revision"),
          modRevision: reader.uvarint("mod revision"),
          version: reader.uvarint("version"),
        });
      }
      return { kind: "list", entries, more, index };
    }
    case RESULT_TAGS.put:
      return { kind: "put", index: reader.uvarint("index") };
    case RESULT_TAGS.append: {
      const length = reader.uvarint("length");
      return { kind: "append", length, index: reader.uvarint("index") };
    }
    case RESULT_TAGS["read-list"]: {
      const found = reader.bool("found");
      const list = readList(reader);
      return { kind: "read-list", found, list, index: reader.uvarint("index"), createRevision: reader.uvarint("create revision"), modRevision: reader.uvarint("mod revision"), version: reader.uvarint("version") };
    }
    case RESULT_TAGS.txn: {
      const succeeded = reader.bool("succeeded");
      const index = reader.uvarint("index");
      const count = reader.uvarint("result count");
      if (count > KV_TXN_OPS_MAX) throw new DecodeFailure(`txn: ${count} results exceed ${KV_TXN_OPS_MAX}`);
      const results: KvTxnOpResult[] = [];
      for (let i = 0; i < count; i++) results.push(readTxnOpResult(reader));
      return { kind: "txn", succeeded, results, index };
    }
    case RESULT_TAGS.cas:
      return { kind: "cas", swapped: reader.bool("swapped"), current: reader.string("current", KV_VALUE_BYTES_MAX), index: reader.uvarint("index") };
    case RESULT_TAGS.membership: {
      const index = reader.uvarint("index");
      const voters = readIds(reader, "voters");
      const learners = readIds(reader, "learners");
      return { kind: "membership", index, confState: { voters, learners } };
    }
    case RESULT_TAGS.transfer:
      return { kind: "transfer", leaderId: readNodeId(reader, "leader id") };
    case RESULT_TAGS.cluster: {
      const index = reader.uvarint("index");
      const result = parseJson(reader.string("cluster result", CLUSTER_ANSWER_BYTES_MAX), "cluster result") as ClusterResult;
      if (result.status !== "ok" && result.status !== "rejected") throw new DecodeFailure("cluster result: no status");
      return { kind: "cluster", index, result };
    }
    case RESULT_TAGS["cluster-read"]: {
      const index = reader.uvarint("index");
      const answer = parseJson(reader.string("cluster read answer", CLUSTER_ANSWER_BYTES_MAX), "cluster read answer") as ClusterReadAnswer;
      if (typeof answer.what !== "string") throw new DecodeFailure("cluster read answer: no kind");
      return { kind: "cluster-read", index, answer };
    }
    default:
      throw new DecodeFailure(`unknown result kind ${tag}`);
  }
}

/** Member lists are sorted, distinct, positive, and at most MAX_MEMBERS long. */
function readIds(reader: ByteReader, what: string): NodeId[] {
  const count = reader.uvarint(`${what} count`);
  if (count > MAX_MEMBERS) throw new DecodeFailure(`${what}: ${count} members exceed ${MAX_MEMBERS}`);
  const ids: NodeId[] = [];
  for (let i = 0; i < count; i++) {
    const id = readNodeId(reader, what);
    if (i > 0 && id <= ids[i - 1]!) throw new DecodeFailure(`${what}: not sorted and distinct`);
    ids.push(id);
  }
  return ids;
}


function parseJson(text: string, what: string): { readonly [key: string]: unknown } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new DecodeFailure(`${what}: not JSON`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new DecodeFailure(`${what}: not an object`);
  return parsed as { readonly [key: string]: unknown };
}

/** The JSON form of a ClusterRead, checked field by field (validateClusterRead then checks the ranges). */
function parseClusterRead(text: string): ClusterRead {
  const value = parseJson(text, "cluster read");
  const text_ = (key: string): string => {
    const field = value[key];
    if (typeof field !== "string") throw new DecodeFailure(`cluster read: ${key} is not a string`);
    return field;
  };
  const number = (key: string): number => {
    const field = value[key];
    if (typeof field !== "number" || !Number.isSafeInteger(field)) throw new DecodeFailure(`cluster read: ${key} is not an integer`);
    return field;
  };
  switch (value.what) {
    case "vm":
      return { what: "vm", tenant: text_("tenant"), name: text_("name") };
    case "vms":
      return { what: "vms", tenant: text_("tenant"), afterId: number("afterId"), limit: number("limit") };
    case "node":
      return { what: "node", nodeId: number("nodeId") };
    case "nodes":
      return { what: "nodes", afterId: number("afterId"), limit: number("limit") };
    case "events":
      return { what: "events", afterIndex: number("afterIndex"), limit: number("limit") };
    case "plan": {
      const ids = value.vmIds;
      if (!Array.isArray(ids) || !ids.every((id): id is number => typeof id === "number" && Number.isSafeInteger(id))) throw new DecodeFailure("cluster read: vmIds is not a list of integers");
      return { what: "plan", vmIds: ids };
    }
    default:
      throw new DecodeFailure("cluster read: unknown kind");
  }
}
