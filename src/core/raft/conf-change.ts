// Membership changes, one server at a time with learners: the entry encoding of a ConfChange
// and the validated transition from one ConfState to the next.

import { assert } from "../assert.ts";
import type { ConfChange, ConfChangeType, ConfState, NodeId } from "./types.ts";

const CONF_CHANGE_BYTES = 9; // 1 byte type + 8 bytes node id (big-endian unsigned)
const TYPE_CODES: Record<ConfChangeType, number> = { "add-learner": 1, promote: 2, remove: 3 };
const CODE_TYPES: readonly (ConfChangeType | undefined)[] = [undefined, "add-learner", "promote", "remove"];

function isNodeId(id: number): boolean {
  return Number.isSafeInteger(id) && id > 0;
}

export function encodeConfChange(change: ConfChange): Uint8Array {
  assert(isNodeId(change.nodeId), () => `conf change node id must be a positive integer, got ${change.nodeId}`);
  const bytes = new Uint8Array(CONF_CHANGE_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, TYPE_CODES[change.type]);
  view.setBigUint64(1, BigInt(change.nodeId));
  return bytes;
}

export type DecodedConfChange = { readonly ok: true; readonly change: ConfChange } | { readonly ok: false; readonly reason: string };

/** Decodes a conf-change entry's data; a malformed one is reported, not thrown. */
export function tryDecodeConfChange(data: Uint8Array): DecodedConfChange {
  if (data.length !== CONF_CHANGE_BYTES) return { ok: false, reason: `conf change must be ${CONF_CHANGE_BYTES} bytes, got ${data.length}` };
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const type = CODE_TYPES[view.getUint8(0)];
  if (type === undefined) return { ok: false, reason: `unknown conf change type code ${view.getUint8(0)}` };
  const id = view.getBigUint64(1);
  if (id === 0n || id > BigInt(Number.MAX_SAFE_INTEGER)) return { ok: false, reason: `conf change node id ${id} out of range` };
  return { ok: true, change: { type, nodeId: Number(id) } };
}

/**
 * Decodes the data of a conf-change entry that came out of a Raft log. Such data was encoded by
 * a leader and is checksummed on disk, so a malformed one is a programmer error (an assertion).
 */
export function decodeConfChange(data: Uint8Array): ConfChange {
  const decoded = tryDecodeConfChange(data);
  assert(decoded.ok, () => `malformed conf change: ${decoded.ok ? "" : decoded.reason}`);
  return decoded.change;
}

export type ConfChangeResult = { readonly ok: true; readonly confState: ConfState } | { readonly ok: false; readonly reason: string };

function without(ids: readonly NodeId[], id: NodeId): NodeId[] {
  return ids.filter((x) => x !== id);
}

function withAdded(ids: readonly NodeId[], id: NodeId): NodeId[] {
  return [...ids, id].sort((a, b) => a - b);
}

/**
 * Applies one change to a membership, or says why it is not allowed:
 * add-learner needs a node that is not a member; promote needs a learner;
 * remove needs a member and may not remove the last voter.
 */
export function validateConfChange(confState: ConfState, change: ConfChange): ConfChangeResult {
  const { type, nodeId } = change;
  if (!isNodeId(nodeId)) return { ok: false, reason: `node id must be a positive integer, got ${nodeId}` };
  const isVoter = confState.voters.includes(nodeId);
  const isLearner = confState.learners.includes(nodeId);
  let next: ConfState;
  switch (type) {
    case "add-learner":
      if (isVoter || isLearner) return { ok: false, reason: `node ${nodeId} is already a ${isVoter ? "voter" : "learner"}` };
      next = { voters: confState.voters, learners: withAdded(confState.learners, nodeId) };
      break;
    case "promote":
      if (!isLearner) return { ok: false, reason: `node ${nodeId} is not a learner` };
      next = { voters: withAdded(confState.voters, nodeId), learners: without(confState.learners, nodeId) };
      break;
    case "remove":
      if (!isVoter && !isLearner) return { ok: false, reason: `node ${nodeId} is not a member` };
      if (isVoter && confState.voters.length === 1) return { ok: false, reason: `node ${nodeId} is the last voter` };
      next = { voters: without(confState.voters, nodeId), learners: without(confState.learners, nodeId) };
      break;
    default:
      return { ok: false, reason: `unknown conf change type ${String(type)}` };
  }
  assertConfState(next);
  return { ok: true, confState: next };
}

/**
 * Applies a change that a leader already validated (a committed or appended conf-change entry):
 * one that does not apply is a programmer error (an assertion).
 */
export function applyConfChange(confState: ConfState, change: ConfChange): ConfState {
  const result = validateConfChange(confState, change);
  assert(result.ok, () => `conf change ${change.type} ${change.nodeId} does not apply: ${result.ok ? "" : result.reason}`);
  return result.confState;
}

/** ConfState's documented shape: both lists sorted ascending, no duplicates, disjoint. */
export function assertConfState(confState: ConfState): void {
  const all = [...confState.voters, ...confState.learners];
  for (let i = 1; i < confState.voters.length; i += 1) assert(confState.voters[i - 1]! < confState.voters[i]!, "voters must be sorted and unique");
  for (let i = 1; i < confState.learners.length; i += 1) assert(confState.learners[i - 1]! < confState.learners[i]!, "learners must be sorted and unique");
  assert(new Set(all).size === all.length, "voters and learners must be disjoint");
  for (const id of all) assert(isNodeId(id), "member ids are positive integers");
}

export function confStatesEqual(a: ConfState, b: ConfState): boolean {
  return (
    a.voters.length === b.voters.length &&
    a.learners.length === b.learners.length &&
    a.voters.every((id, i) => b.voters[i] === id) &&
    a.learners.every((id, i) => b.learners[i] === id)
  );
}

/**
 * The membership after the conf-change entries among `entries` (in log order), starting from
 * `base`: what a driver tracks while applying, to record a snapshot's ConfState at compaction.
 */
export function confStateAfterEntries(base: ConfState, entries: readonly { readonly type: string; readonly data: Uint8Array }[]): ConfState {
  let conf = base;
  for (const entry of entries) if (entry.type === "conf-change") conf = applyConfChange(conf, decodeConfChange(entry.data));
  return conf;
}
