// What a client may ask a node (the request path's input) and the three classes of
// answer it gets (its output). One definition for the Connect services, the client
// channel's codec (src/core/wire/client-codec.ts), the membership agent and the
// simulated clients.
//
// The outcome classes are exact about effects, because clients retry by them and the
// history checker judges histories by them:
//   ok             the request took effect (writes, membership) or was answered (reads), by servedBy;
//   not-applied    it certainly had no effect and never will: safe to retry (leaderHint says where);
//   unknown        it may or may not take effect (timed out, lost after it may have left,
//                  the node stopped with it in flight). A retry may apply a write twice.

import type { ConfState, NodeId } from "../raft/types.ts";
import { validateClusterRead, type ClusterRead, type ClusterReadAnswer } from "../cluster/cluster-read.ts";
import { validateEnvelope } from "../cluster/command-codec.ts";
import type { ClusterResult, CommandEnvelope } from "../cluster/types.ts";
import { RESERVED_KEY_PREFIX } from "./address-book.ts";
import { KV_DELETE_PREFIX_KEYS_MAX, KV_KEY_BYTES_MAX, KV_VALUE_BYTES_MAX, validateKvCommand, validateKvKey, type KvListEntry } from "./kv-state-machine.ts";
import type { KvTxn, KvTxnOpResult } from "./kv-txn.ts";
import { isTokenId, TOKEN_KEY_PREFIX, validateTokenRecord, type TokenRecord } from "./token-book.ts";

/**
 * Upper bound on one request's encoded size, on every path: a Connect body (binary or JSON,
 * HTTP/1.1 fast path and connect-node alike) and a client-channel frame. Two values at their
 * limit (a cas), a key, and room for the rest. A JSON body whose escapes make it larger than
 * this is refused (resource_exhausted) although its fields are within their limits: binary
 * never is.
 */
export const REQUEST_BYTES_MAX = 2 * KV_VALUE_BYTES_MAX + KV_KEY_BYTES_MAX + 4 * 1024;

/** A list page holds at most this many keys. */
export const KV_LIST_LIMIT_MAX = 1_000;
/**
 * A list page's keys and values stop at this many UTF-8 bytes (a first entry always fits: a key
 * and a value at their limits), so a page fits a client frame (CLIENT_FRAME_BYTES_MAX) with its
 * revisions, and a Connect response is a few hundred KiB at most, JSON escapes included.
 */
export const KV_LIST_PAGE_BYTES_MAX = 256 * 1024;

/** Upper bound on an address's length in a request (HOST:PORT; the shell checks the syntax). */
export const ADDRESS_BYTES_MAX = 256;

export type ClientRequest =
  /** Linearizable read (ReadIndex on the leader). */
  | { readonly kind: "get"; readonly key: string }
  /** Serializable read of the contacted node's applied state (may be stale); never forwarded. */
  | { readonly kind: "get-local"; readonly key: string }
  | { readonly kind: "put"; readonly key: string; readonly value: string }
  | { readonly kind: "cas"; readonly key: string; readonly expected: string; readonly value: string }
  /** A put only when the key is absent (create-only); answered like a cas (swapped, or the value found). */
  | { readonly kind: "create"; readonly key: string; readonly value: string }
  /** Deletes a key, or (prefix) the first KV_DELETE_PREFIX_KEYS_MAX keys in key order that start with `key`. */
  | { readonly kind: "delete"; readonly key: string; readonly prefix: boolean }
  /** Linearizable read (ReadIndex on the leader) of one page of keys: see KV_LIST_LIMIT_MAX and KV_LIST_PAGE_BYTES_MAX. */
  | { readonly kind: "list"; readonly prefix: string; readonly startAfter: string; readonly limit: number; readonly keysOnly: boolean }
  /** Appends value to the key's list (kv-state-machine.ts: lists are a typed kind of entry). */
  | { readonly kind: "append"; readonly key: string; readonly value: string }
  /** Linearizable read (ReadIndex on the leader) of a key's whole list. */
  | { readonly kind: "read-list"; readonly key: string }
  /** An etcd-style transaction (kv-txn.ts), one log entry. */
  | { readonly kind: "txn"; readonly txn: KvTxn }
  /**
   * Records the node's addresses in the book, then (unless addressesOnly or already a member) adds
   * it as a learner. Without addressesOnly, the addresses of an existing member are never rewritten
   * (refused unless they already match); addressesOnly is the explicit address update.
   */
  | { readonly kind: "add-learner"; readonly nodeId: NodeId; readonly peer: string; readonly api: string; readonly addressesOnly: boolean }
  | { readonly kind: "promote"; readonly nodeId: NodeId }
  | { readonly kind: "remove"; readonly nodeId: NodeId }
  | { readonly kind: "transfer-leader"; readonly targetId: NodeId }
  /** A change of the orchestrator's cluster state (src/core/cluster/): applied in log order, or refused by the state machine with a reason. */
  | { readonly kind: "cluster"; readonly envelope: CommandEnvelope }
  /** A linearizable read of the cluster state (ReadIndex on the leader). */
  | { readonly kind: "cluster-read"; readonly read: ClusterRead }
  /** Adds a token to the book (token-book.ts); a retry of the same record is ok with index 0. */
  | { readonly kind: "token-create"; readonly record: TokenRecord }
  /** Removes a token from the book; revoking an unknown or revoked id is ok with index 0. */
  | { readonly kind: "token-revoke"; readonly id: string };

export type ClientRequestKind = ClientRequest["kind"];

export type RequestResult =
  /** found: the key exists (an empty value is found); value "" and revisions 0 when absent. */
  | {
      readonly kind: "get";
      readonly value: string;
      readonly index: number;
      readonly found: boolean;
      readonly createRevision: number;
      readonly modRevision: number;
      readonly version: number;
    }
  /** deleted: keys removed; more: keys with the prefix remain (a prefix delete stops at its bound); index: the write's revision. */
  | { readonly kind: "delete"; readonly deleted: number; readonly more: boolean; readonly index: number }
  /** A page in key order; more: keys remain after the last entry (continue after it). index: the read point. */
  | { readonly kind: "list"; readonly entries: readonly KvListEntry[]; readonly more: boolean; readonly index: number }
  | { readonly kind: "put"; readonly index: number }
  /** length: the list's length after the append; index: the write's revision. */
  | { readonly kind: "append"; readonly length: number; readonly index: number }
  /** found: the key holds a list (an absent key reads as an empty list, not found); index: the read point. */
  | { readonly kind: "read-list"; readonly found: boolean; readonly list: readonly string[]; readonly index: number; readonly createRevision: number; readonly modRevision: number; readonly version: number }
  /** succeeded: the compares held (the success branch ran, else the failure branch); one result per operation of that branch; index: the txn's revision. */
  | { readonly kind: "txn"; readonly succeeded: boolean; readonly results: readonly KvTxnOpResult[]; readonly index: number }
  | { readonly kind: "cas"; readonly swapped: boolean; readonly current: string; readonly index: number }
  /** add-learner, promote, remove: the log index of the change (0: nothing needed changing) and the membership after it. */
  | { readonly kind: "membership"; readonly index: number; readonly confState: ConfState }
  | { readonly kind: "transfer"; readonly leaderId: NodeId }
  /** The command was applied at index; the state machine's verdict (ok, or rejected with a reason and no effect). */
  | { readonly kind: "cluster"; readonly index: number; readonly result: ClusterResult }
  | { readonly kind: "cluster-read"; readonly index: number; readonly answer: ClusterReadAnswer };

/** Why a request certainly had no effect. */
export const NOT_APPLIED_REASONS = [
  "not-leader", // this node does not lead (a forwarded request is never forwarded again)
  "no-leader", // no leader is known (election in progress)
  "forward-not-sent", // the transport refused the forward at once (no address, queue full): it never left
  "stopped", // the node is stopping or stopped before the request reached the log
  "overloaded", // too many requests or forwards in flight
  "too-many-uncommitted",
  "too-many-pending-reads",
  "superseded", // the entry's slot was taken by another leader's entry
  "conf-change-pending",
  "invalid-conf-change",
  "transfer-in-progress",
  "map-full", // the key-value map is full: the command was applied as a no-op
  "invalid", // the request is malformed (a wire request the services would have refused)
  "disk-full", // the disk-full alarm is raised on the node that refused it (the detail names the node and its data directory)
  "not-a-member", // the request names a node that is not in the cluster's configuration (a leader transfer to it)
  "removed", // this node was removed from the cluster: it serves nothing as a member (the detail says at which index)
  "wrong-kind", // (last: the client channel sends a reason by its place in this list) a value write to a key holding a list, or an append to a key holding a value: applied as a no-op
] as const;
export type NotAppliedReason = (typeof NOT_APPLIED_REASONS)[number];

/** Why an outcome is unknown. */
export const UNKNOWN_REASONS = [
  "timeout", // no outcome before the request's deadline (local or forwarded)
  "stopped", // the node stopped with the request in its log or in flight
  "compacted", // a snapshot covered the entry before this node could tell whose it was
] as const;
export type UnknownReason = (typeof UNKNOWN_REASONS)[number];

export type RequestOutcome =
  /** servedBy: the node that served it (the leader, for all but get-local): a client that reached a follower learns where to go next. */
  | { readonly status: "ok"; readonly result: RequestResult; readonly servedBy: NodeId }
  | { readonly status: "not-applied"; readonly reason: NotAppliedReason; readonly leaderHint: NodeId; readonly detail: string }
  | { readonly status: "unknown"; readonly reason: UnknownReason; readonly detail: string };

/** Upper bound on an outcome's detail text. */
export const DETAIL_BYTES_MAX = 1_024;

export function okOutcome(result: RequestResult, servedBy: NodeId): RequestOutcome {
  return { status: "ok", result, servedBy };
}

export function notApplied(reason: NotAppliedReason, leaderHint: NodeId, detail: string): RequestOutcome {
  return { status: "not-applied", reason, leaderHint, detail };
}

export function unknownOutcome(reason: UnknownReason, detail: string): RequestOutcome {
  return { status: "unknown", reason, detail };
}

/** Whether this request would write the log (so a node whose disk is full refuses it before it goes anywhere). */
export function writesLog(request: ClientRequest): boolean {
  switch (request.kind) {
    case "get":
    case "get-local":
    case "transfer-leader":
    case "cluster-read":
    case "list":
    case "read-list":
      return false;
    case "append":
    case "txn":
    case "put":
    case "cas":
    case "create":
    case "delete":
    case "add-learner":
    case "promote":
    case "remove":
    case "cluster":
    case "token-create":
    case "token-revoke":
      return true;
  }
}

/** Whether this request must run on the leader (so a follower forwards it). */
export function needsLeader(request: ClientRequest): boolean {
  return request.kind !== "get-local";
}

/** The result kind an ok outcome of this request carries (a mismatch is a programmer error). */
export function resultKindFor(kind: ClientRequestKind): RequestResult["kind"] {
  switch (kind) {
    case "get":
    case "get-local":
      return "get";
    case "put":
    case "token-create": // the index of the write (0: nothing needed changing)
    case "token-revoke":
      return "put";
    case "cas":
    case "create":
      return "cas";
    case "delete":
      return "delete";
    case "list":
      return "list";
    case "append":
    case "read-list":
    case "txn":
      return kind;
    case "add-learner":
    case "promote":
    case "remove":
      return "membership";
    case "transfer-leader":
      return "transfer";
    case "cluster":
      return "cluster";
    case "cluster-read":
      return "cluster-read";
  }
}

/**
 * Why a request is invalid, or undefined. The same words the Connect services answer with
 * InvalidArgument (they check first; this also guards requests that arrive as bytes).
 * Reserved keys are refused: the address book is written by add-learner, never by put.
 */
export function validateRequest(request: ClientRequest): string | undefined {
  switch (request.kind) {
    case "get":
    case "get-local":
      {
        const invalid = validateKvKey(request.key);
        if (invalid !== undefined) return invalid;
      }
      // Token records are listed by the admin-only token list, never read as keys.
      return request.key.startsWith(TOKEN_KEY_PREFIX) ? `key: keys starting with ${TOKEN_KEY_PREFIX} are readable only through the token list` : undefined;
    case "put":
    case "create":
    case "cas": {
      const keyProblem = validateKvKey(request.key);
      if (keyProblem !== undefined) return keyProblem;
      if (request.key.startsWith(RESERVED_KEY_PREFIX)) return `key: keys starting with ${RESERVED_KEY_PREFIX} are reserved for the cluster`;
      return request.kind === "cas"
        ? validateKvCommand({ op: "cas", key: request.key, expected: request.expected, value: request.value })
        : validateKvCommand({ op: request.kind, key: request.key, value: request.value });
    }
    case "delete": {
      const keyProblem = validateKvKey(request.key);
      if (keyProblem !== undefined) return request.prefix ? keyProblem.replace(/^key/, "prefix") : keyProblem;
      if (request.key.startsWith(RESERVED_KEY_PREFIX)) return `key: keys starting with ${RESERVED_KEY_PREFIX} are reserved for the cluster`;
      // "_" or "_blix" would reach the cluster's own records too: such a prefix is refused as a whole.
      if (request.prefix && RESERVED_KEY_PREFIX.startsWith(request.key)) return `prefix: "${request.key}" would match keys reserved for the cluster (${RESERVED_KEY_PREFIX}); use a longer prefix`;
      return validateKvCommand(request.prefix ? { op: "delete-prefix", key: request.key, keysMax: KV_DELETE_PREFIX_KEYS_MAX } : { op: "delete", key: request.key });
    }
    case "list": {
      if (!Number.isSafeInteger(request.limit) || request.limit < 1 || request.limit > KV_LIST_LIMIT_MAX) return `limit: must be 1..${KV_LIST_LIMIT_MAX}, got ${request.limit}`;
      if (request.prefix !== "") {
        const prefixProblem = validateKvKey(request.prefix);
        if (prefixProblem !== undefined) return prefixProblem.replace(/^key/, "prefix");
        if (request.prefix.startsWith(TOKEN_KEY_PREFIX)) return `prefix: keys starting with ${TOKEN_KEY_PREFIX} are readable only through the token list`;
      }
      if (request.startAfter !== "") {
        const startProblem = validateKvKey(request.startAfter);
        if (startProblem !== undefined) return startProblem.replace(/^key/, "start_after");
      }
      return undefined;
    }
    case "append": {
      const keyProblem = validateKvKey(request.key) ?? reservedKeyProblem("key", request.key);
      return keyProblem ?? validateKvCommand({ op: "append", key: request.key, value: request.value });
    }
    case "read-list":
      return validateKvKey(request.key) ?? (request.key.startsWith(TOKEN_KEY_PREFIX) ? `key: keys starting with ${TOKEN_KEY_PREFIX} are readable only through the token list` : undefined);
    case "txn": {
      // Reserved keys are refused inside a txn as outside it: writes never, token records never read.
      const problem = validateKvCommand({ op: "txn", key: "", txn: request.txn });
      if (problem !== undefined) return problem;
      for (const [i, compare] of request.txn.compares.entries()) {
        if (compare.key.startsWith(TOKEN_KEY_PREFIX)) return `compare[${i}].key: keys starting with ${TOKEN_KEY_PREFIX} are readable only through the token list`;
      }
      for (const [name, ops] of [["success", request.txn.success], ["failure", request.txn.failure]] as const) {
        for (const [i, op] of ops.entries()) {
          const reserved = op.op === "get" || op.op === "read-list" ? (op.key.startsWith(TOKEN_KEY_PREFIX) ? `key: keys starting with ${TOKEN_KEY_PREFIX} are readable only through the token list` : undefined) : reservedKeyProblem("key", op.key);
          if (reserved !== undefined) return `${name}[${i}].${reserved}`;
        }
      }
      return undefined;
    }
    case "add-learner":
      if (!isNodeId(request.nodeId)) return `node_id: must be a positive integer, got ${request.nodeId}`;
      if (request.peer === "") return "peer_address: must not be empty (HOST:PORT)";
      if (request.peer.length > ADDRESS_BYTES_MAX || request.api.length > ADDRESS_BYTES_MAX) return `address: longer than ${ADDRESS_BYTES_MAX} characters`;
      return undefined;
    case "promote":
    case "remove":
      return isNodeId(request.nodeId) ? undefined : `node_id: must be a positive integer, got ${request.nodeId}`;
    case "transfer-leader":
      return isNodeId(request.targetId) ? undefined : `target_id: must be a positive integer, got ${request.targetId}`;
    case "cluster":
      return validateEnvelope(request.envelope);
    case "cluster-read":
      return validateClusterRead(request.read);
    case "token-create":
      return validateTokenRecord(request.record);
    case "token-revoke":
      return isTokenId(request.id) ? undefined : "id: a token id is 16 lowercase hex digits";
  }
}

function reservedKeyProblem(field: string, key: string): string | undefined {
  return key.startsWith(RESERVED_KEY_PREFIX) ? `${field}: keys starting with ${RESERVED_KEY_PREFIX} are reserved for the cluster` : undefined;
}

function isNodeId(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 1;
}
