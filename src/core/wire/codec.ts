// The compact binary codec for what peers say to each other: Raft messages and the
// connection hello. A payload starts with a kind byte; a Raft message then has a type
// byte and its fields as varints (terms, indexes and ids are safe integers), byte
// strings with a varint length, and booleans as one byte 0/1.
//
// Decoding is strict and total: any malformed payload (unknown tag, truncation,
// trailing bytes, out-of-range number, entries that are not contiguous, an unsorted
// membership) is returned as an error value, never thrown, because the bytes come
// from the network. decodePeerPayload, which the raft channel uses (src/core/replica/raft-channel.ts), also requires a message
// to be one a correct peer could send (validateMessage, src/core/raft/validate-message.ts: entry
// terms, ranges, from != to...), because the core asserts those properties; one that is
// not is an error value too, so the channel refuses it and the transport drops it, logs it, counts it and closes the
// connection like any malformed frame. Encoding asserts its input is well formed: the
// core made it.
import { assert, unreachable } from "../assert.ts";
import type { ConfState, Entry, EntryType, Message, NodeId, Snapshot } from "../raft/types.ts";
import { validateMessage } from "../raft/validate-message.ts";
import { MESSAGE_TYPE_CODES } from "../raft/message-codes.ts";
import { ByteReader, ByteWriter, DecodeFailure } from "./bytes.ts";

/**
 * The peer protocol's version, in the hello; a peer of another version is refused at connection.
 * 2: every frame after the hello carries a channel tag before the channel's bytes (channel-frame.ts).
 */
export const WIRE_VERSION = 3;

/** Upper bound on entries in one append message; the core's maxMessageBytes keeps real batches far below it. */
export const MAX_ENTRIES_PER_MESSAGE = 65_536;
/** Upper bound on members listed in a snapshot's membership. */
export const MAX_MEMBERS = 1_024;
/** Upper bound on a cluster id's length in a hello. */
export const MAX_CLUSTER_ID_BYTES = 256;

/** The first frame each side of a peer connection sends: who I am, who I think you are, which cluster. */
export interface Hello {
  readonly kind: "hello";
  readonly version: number;
  readonly clusterId: string;
  readonly from: NodeId;
  readonly to: NodeId;
}

export type Payload = Hello | { readonly kind: "message"; readonly message: Message };

export type DecodeResult = { readonly ok: true; readonly payload: Payload } | { readonly ok: false; readonly error: string };

const KIND_HELLO = 1;
const KIND_MESSAGE = 2;

const MESSAGE_TAGS = MESSAGE_TYPE_CODES;

const ENTRY_TYPE_NORMAL = 0;
const ENTRY_TYPE_CONF_CHANGE = 1;

export function encodeHello(hello: Hello): Uint8Array {
  assert(hello.from >= 1 && hello.to >= 1, "hello ids must be positive");
  const writer = new ByteWriter(64);
  writer.u8(KIND_HELLO);
  writer.uvarint(hello.version);
  writer.string(hello.clusterId);
  writer.uvarint(hello.from);
  writer.uvarint(hello.to);
  return writer.finish();
}

export function encodeMessage(message: Message): Uint8Array {
  const writer = new ByteWriter(estimateBytes(message));
  writer.u8(KIND_MESSAGE);
  writer.u8(MESSAGE_TAGS[message.type]);
  writer.uvarint(message.from);
  writer.uvarint(message.to);
  writer.uvarint(message.term);
  switch (message.type) {
    case "vote-request":
      writer.u8(flags(message.preVote, message.leaderTransfer));
      writer.uvarint(message.lastLogIndex);
      writer.uvarint(message.lastLogTerm);
      break;
    case "vote-response":
      writer.u8(flags(message.preVote, message.granted));
      break;
    case "append":
      writer.uvarint(message.prevLogIndex);
      writer.uvarint(message.prevLogTerm);
      writer.uvarint(message.commit);
      assert(message.entries.length <= MAX_ENTRIES_PER_MESSAGE, "too many entries in one append");
      writer.uvarint(message.entries.length);
      for (const entry of message.entries) writeEntry(writer, entry);
      writer.uvarint(message.readContext);
      break;
    case "append-response":
      writer.u8(flags(message.success, false));
      writer.uvarint(message.index);
      writer.uvarint(message.conflictTerm);
      writer.uvarint(message.conflictIndex);
      writer.uvarint(message.readContext);
      break;
    case "heartbeat":
      writer.uvarint(message.commit);
      writer.uvarint(message.readContext);
      break;
    case "heartbeat-response":
      writer.uvarint(message.readContext);
      break;
    case "snapshot":
      writeSnapshot(writer, message.snapshot);
      break;
    case "timeout-now":
      break;
    default:
      unreachable(message, "message");
  }
  return writer.finish();
}

/** Decodes one frame payload; `maxBytes` bounds any single byte string in it. */
export function decodePayload(payload: Uint8Array, maxBytes: number = payload.length): DecodeResult {
  const reader = new ByteReader(payload);
  try {
    const kind = reader.u8("payload kind");
    let decoded: Payload;
    if (kind === KIND_HELLO) {
      decoded = readHello(reader);
    } else if (kind === KIND_MESSAGE) {
      decoded = { kind: "message", message: readMessage(reader, maxBytes) };
    } else {
      throw new DecodeFailure(`unknown payload kind ${kind}`);
    }
    reader.expectEnd("payload");
    return { ok: true, payload: decoded };
  } catch (error) {
    if (error instanceof DecodeFailure) return { ok: false, error: error.message };
    throw error;
  }
}

/**
 * decodePayload, then semantic validation of a message (validateMessage): what the transport
 * applies to every frame from a peer, so that no message a correct peer could not have sent
 * reaches the core.
 */
export function decodePeerPayload(payload: Uint8Array, maxBytes: number = payload.length): DecodeResult {
  const decoded = decodePayload(payload, maxBytes);
  if (!decoded.ok || decoded.payload.kind !== "message") return decoded;
  const invalid = validateMessage(decoded.payload.message);
  return invalid === undefined ? decoded : { ok: false, error: `invalid message: ${invalid}` };
}

function flags(first: boolean, second: boolean): number {
  return (first ? 1 : 0) | (second ? 2 : 0);
}

function estimateBytes(message: Message): number {
  if (message.type === "append") {
    let bytes = 64;
    for (const entry of message.entries) bytes += entry.data.length + 24;
    return bytes;
  }
  if (message.type === "snapshot") return message.snapshot.data.length + 64 + 8 * (message.snapshot.metadata.confState.voters.length + message.snapshot.metadata.confState.learners.length);
  return 48;
}

function writeEntry(writer: ByteWriter, entry: Entry): void {
  writer.uvarint(entry.term);
  writer.uvarint(entry.index);
  writer.u8(entry.type === "normal" ? ENTRY_TYPE_NORMAL : ENTRY_TYPE_CONF_CHANGE);
  writer.bytes(entry.data);
}

function writeSnapshot(writer: ByteWriter, snapshot: Snapshot): void {
  writer.uvarint(snapshot.metadata.index);
  writer.uvarint(snapshot.metadata.term);
  writeIds(writer, snapshot.metadata.confState.voters);
  writeIds(writer, snapshot.metadata.confState.learners);
  writer.bytes(snapshot.data);
}

function writeIds(writer: ByteWriter, ids: readonly NodeId[]): void {
  assert(ids.length <= MAX_MEMBERS, "too many members");
  writer.uvarint(ids.length);
  for (const id of ids) writer.uvarint(id);
}

function readHello(reader: ByteReader): Hello {
  const version = reader.uvarint("hello version");
  const clusterId = reader.string("hello cluster id", MAX_CLUSTER_ID_BYTES);
  const from = readNodeId(reader, "hello from");
  const to = readNodeId(reader, "hello to");
  return { kind: "hello", version, clusterId, from, to };
}

function readNodeId(reader: ByteReader, what: string): NodeId {
  const id = reader.uvarint(what);
  if (id < 1) throw new DecodeFailure(`${what}: node id must be positive`);
  return id;
}

function readFlags(reader: ByteReader, what: string, allowed: number): number {
  const value = reader.u8(what);
  if ((value & ~allowed) !== 0) throw new DecodeFailure(`${what}: unknown flag bits ${value}`);
  return value;
}

function readMessage(reader: ByteReader, maxBytes: number): Message {
  const tag = reader.u8("message type");
  const from = readNodeId(reader, "from");
  const to = readNodeId(reader, "to");
  const term = reader.uvarint("term");
  switch (tag) {
    case MESSAGE_TAGS["vote-request"]: {
      const bits = readFlags(reader, "vote-request flags", 3);
      const lastLogIndex = reader.uvarint("lastLogIndex");
      const lastLogTerm = reader.uvarint("lastLogTerm");
      return { type: "vote-request", from, to, term, preVote: (bits & 1) !== 0, leaderTransfer: (bits & 2) !== 0, lastLogIndex, lastLogTerm };
    }
    case MESSAGE_TAGS["vote-response"]: {
      const bits = readFlags(reader, "vote-response flags", 3);
      return { type: "vote-response", from, to, term, preVote: (bits & 1) !== 0, granted: (bits & 2) !== 0 };
    }
    case MESSAGE_TAGS.append: {
      const prevLogIndex = reader.uvarint("prevLogIndex");
      const prevLogTerm = reader.uvarint("prevLogTerm");
      const commit = reader.uvarint("commit");
      const count = reader.uvarint("entry count");
      if (count > MAX_ENTRIES_PER_MESSAGE) throw new DecodeFailure(`entry count ${count} exceeds limit ${MAX_ENTRIES_PER_MESSAGE}`);
      const entries: Entry[] = [];
      for (let i = 0; i < count; i++) {
        const entry = readEntry(reader, maxBytes);
        if (entry.index !== prevLogIndex + 1 + i) {
          throw new DecodeFailure(`entry ${i} has index ${entry.index}, expected ${prevLogIndex + 1 + i}`);
        }
        entries.push(entry);
      }
      const readContext = reader.uvarint("readContext");
      return { type: "append", from, to, term, prevLogIndex, prevLogTerm, commit, entries, readContext };
    }
    case MESSAGE_TAGS["append-response"]: {
      const bits = readFlags(reader, "append-response flags", 1);
      const index = reader.uvarint("index");
      const conflictTerm = reader.uvarint("conflictTerm");
      const conflictIndex = reader.uvarint("conflictIndex");
      const readContext = reader.uvarint("readContext");
      return { type: "append-response", from, to, term, success: (bits & 1) !== 0, index, conflictTerm, conflictIndex, readContext };
    }
    case MESSAGE_TAGS.heartbeat: {
      const commit = reader.uvarint("commit");
      const readContext = reader.uvarint("readContext");
      return { type: "heartbeat", from, to, term, commit, readContext };
    }
    case MESSAGE_TAGS["heartbeat-response"]:
      return { type: "heartbeat-response", from, to, term, readContext: reader.uvarint("readContext") };
    case MESSAGE_TAGS.snapshot:
      return { type: "snapshot", from, to, term, snapshot: readSnapshot(reader, maxBytes) };
    case MESSAGE_TAGS["timeout-now"]:
      return { type: "timeout-now", from, to, term };
    default:
      throw new DecodeFailure(`unknown message type ${tag}`);
  }
}

function readEntry(reader: ByteReader, maxBytes: number): Entry {
  const term = reader.uvarint("entry term");
  if (term < 1) throw new DecodeFailure("entry term must be positive");
  const index = reader.uvarint("entry index");
  const typeTag = reader.u8("entry type");
  let type: EntryType;
  if (typeTag === ENTRY_TYPE_NORMAL) type = "normal";
  else if (typeTag === ENTRY_TYPE_CONF_CHANGE) type = "conf-change";
  else throw new DecodeFailure(`unknown entry type ${typeTag}`);
  const data = reader.bytes("entry data", maxBytes);
  return { term, index, type, data };
}

function readSnapshot(reader: ByteReader, maxBytes: number): Snapshot {
  const index = reader.uvarint("snapshot index");
  const term = reader.uvarint("snapshot term");
  const voters = readIds(reader, "voters");
  const learners = readIds(reader, "learners");
  for (const learner of learners) {
    if (voters.includes(learner)) throw new DecodeFailure(`node ${learner} is both voter and learner`);
  }
  const confState: ConfState = { voters, learners };
  const data = reader.bytes("snapshot data", maxBytes);
  return { metadata: { index, term, confState }, data };
}

function readIds(reader: ByteReader, what: string): NodeId[] {
  const count = reader.uvarint(`${what} count`);
  if (count > MAX_MEMBERS) throw new DecodeFailure(`${what} count ${count} exceeds limit ${MAX_MEMBERS}`);
  const ids: NodeId[] = [];
  for (let i = 0; i < count; i++) {
    const id = readNodeId(reader, what);
    if (i > 0 && id <= ids[i - 1]!) throw new DecodeFailure(`${what} are not sorted ascending and distinct`);
    ids.push(id);
  }
  return ids;
}
