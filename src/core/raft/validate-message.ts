// Semantic validation of a peer message before it reaches the core. The wire codec
// (src/core/wire/codec.ts) checks structure; this checks what a correct Raft peer could have
// sent, judged without the receiver's state: numbers in range, entries contiguous after
// prevLogIndex with terms that never decrease and never exceed the message's term, a
// snapshot's membership well formed. The core asserts these properties of what it is
// given (a violation would be a programmer error inside one node), so a message from the
// network that lacks them must be turned away before step(): bad input is an operating
// condition, never a crash. Checks that need the receiver's state (an acknowledgement of
// an index beyond the leader's log, a conf change that does not apply to the follower's
// membership) are done by the core itself, which ignores such messages.
//
// Every message the core emits passes (the test harness validates all of them).

import { tryDecodeConfChange } from "./conf-change.ts";
import type { ConfState, Entry, Message, Snapshot } from "./types.ts";

/**
 * Upper bound on a term or a log index in a message. Far beyond any real cluster (a new term
 * every millisecond for 142,000 years), and low enough that term + 1 and index + 1 stay exact.
 */
export const MAX_TERM_OR_INDEX = 4_503_599_627_370_496; // 2^52
/** Upper bound on entries in one append (the wire codec's own limit is the same). */
export const MAX_ENTRIES_PER_APPEND = 65_536;
/** Upper bound on the members a snapshot's membership lists. */
export const MAX_SNAPSHOT_MEMBERS = 1_024;

/** Why `message` could not have come from a correct peer, in one line, or undefined when it could. */
export function validateMessage(message: Message): string | undefined {
  if (typeof message !== "object" || message === null) return "not a message";
  const header = checkNodeId(message.from, "from") ?? checkNodeId(message.to, "to") ?? checkNumber(message.term, "term", 1);
  if (header !== undefined) return `${String(message.type)}: ${header}`;
  if (message.from === message.to) return `${message.type}: from and to are both ${message.from}`;
  const reason = validateBody(message);
  return reason === undefined ? undefined : `${message.type} from ${message.from}: ${reason}`;
}

function validateBody(m: Message): string | undefined {
  switch (m.type) {
    case "vote-request":
      return (
        checkBoolean(m.preVote, "preVote") ??
        checkBoolean(m.leaderTransfer, "leaderTransfer") ??
        checkNumber(m.lastLogIndex, "lastLogIndex", 0) ??
        checkNumber(m.lastLogTerm, "lastLogTerm", 0) ??
        checkLogPosition(m.lastLogIndex, m.lastLogTerm, m.term, "lastLog")
      );
    case "vote-response":
      return checkBoolean(m.preVote, "preVote") ?? checkBoolean(m.granted, "granted");
    case "append":
      return (
        checkNumber(m.prevLogIndex, "prevLogIndex", 0) ??
        checkNumber(m.prevLogTerm, "prevLogTerm", 0) ??
        checkNumber(m.commit, "commit", 0) ??
        checkLogPosition(m.prevLogIndex, m.prevLogTerm, m.term, "prevLog") ??
        checkEntries(m.entries, m.prevLogIndex, m.prevLogTerm, m.term) ??
        checkNumber(m.readContext, "readContext", 0)
      );
    case "append-response":
      return (
        checkBoolean(m.success, "success") ??
        checkNumber(m.index, "index", 0) ??
        checkNumber(m.conflictTerm, "conflictTerm", 0) ??
        checkNumber(m.conflictIndex, "conflictIndex", 0) ??
        checkConflictHint(m.success, m.index, m.conflictTerm, m.conflictIndex, m.term) ??
        checkNumber(m.readContext, "readContext", 0)
      );
    case "heartbeat":
      return checkNumber(m.commit, "commit", 0) ?? checkNumber(m.readContext, "readContext", 0);
    case "heartbeat-response":
      return checkNumber(m.readContext, "readContext", 0);
    case "snapshot":
      return checkSnapshot(m.snapshot, m.term);
    case "timeout-now":
      return undefined;
    default: {
      const unknown: { readonly type?: unknown } = m;
      return `unknown message type ${JSON.stringify(unknown.type)}`;
    }
  }
}

function checkNumber(value: unknown, what: string, min: number): string | undefined {
  if (typeof value !== "number" || !Number.isSafeInteger(value)) return `${what} ${String(value)} is not an integer`;
  if (value < min || value > MAX_TERM_OR_INDEX) return `${what} ${value} is outside [${min}, 2^52]`;
  return undefined;
}

function checkNodeId(value: unknown, what: string): string | undefined {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) return `${what} ${String(value)} is not a node id (a positive integer)`;
  return undefined;
}

function checkBoolean(value: unknown, what: string): string | undefined {
  return typeof value === "boolean" ? undefined : `${what} ${String(value)} is not a boolean`;
}

/** A log position (index, term) as a sender in `messageTerm` can name it: index 0 has term 0, real entries term >= 1, none above the sender's term. */
function checkLogPosition(index: number, term: number, messageTerm: number, what: string): string | undefined {
  if ((index === 0) !== (term === 0)) return `${what}Index ${index} with ${what}Term ${term}: only index 0 has term 0`;
  if (term > messageTerm) return `${what}Term ${term} is above the message term ${messageTerm}`;
  return undefined;
}

function checkEntries(entries: unknown, prevLogIndex: number, prevLogTerm: number, messageTerm: number): string | undefined {
  if (!Array.isArray(entries)) return "entries is not a list";
  if (entries.length > MAX_ENTRIES_PER_APPEND) return `${entries.length} entries exceed the limit of ${MAX_ENTRIES_PER_APPEND}`;
  if (prevLogIndex + entries.length > MAX_TERM_OR_INDEX) return "entries reach beyond the largest index";
  let previousTerm = prevLogTerm;
  for (let i = 0; i < entries.length; i += 1) {
    const entry: Entry = entries[i] as Entry;
    if (typeof entry !== "object" || entry === null) return `entry ${i} is not an entry`;
    const expected = prevLogIndex + 1 + i;
    if (entry.index !== expected) return `entry ${i} has index ${String(entry.index)}, expected ${expected} (entries follow prevLogIndex contiguously)`;
    const termProblem = checkNumber(entry.term, `entry ${expected} term`, 1);
    if (termProblem !== undefined) return termProblem;
    if (entry.term < previousTerm) return `entry ${expected} has term ${entry.term}, below the term ${previousTerm} before it`;
    if (entry.term > messageTerm) return `entry ${expected} has term ${entry.term}, above the message term ${messageTerm}`;
    previousTerm = entry.term;
    if (!(entry.data instanceof Uint8Array)) return `entry ${expected} data is not bytes`;
    if (entry.type === "conf-change") {
      const decoded = tryDecodeConfChange(entry.data);
      if (!decoded.ok) return `entry ${expected}: ${decoded.reason}`;
    } else if (entry.type !== "normal") {
      return `entry ${expected} has unknown type ${JSON.stringify(entry.type)}`;
    }
  }
  return undefined;
}

/** A success names no conflict; a rejection's hint points at or before the rejected index, in a term no newer than the sender's. */
function checkConflictHint(success: boolean, index: number, conflictTerm: number, conflictIndex: number, messageTerm: number): string | undefined {
  if (success) return conflictTerm === 0 && conflictIndex === 0 ? undefined : "a success carries a conflict hint";
  if (conflictTerm > messageTerm) return `conflictTerm ${conflictTerm} is above the message term ${messageTerm}`;
  if (conflictIndex > index) return `conflictIndex ${conflictIndex} is beyond the rejected index ${index}`;
  if (conflictTerm > 0 && conflictIndex === 0) return `conflictTerm ${conflictTerm} without a conflictIndex`;
  return undefined;
}

function checkSnapshot(snapshot: Snapshot, messageTerm: number): string | undefined {
  if (typeof snapshot !== "object" || snapshot === null || typeof snapshot.metadata !== "object" || snapshot.metadata === null) return "snapshot is malformed";
  const { index, term, confState } = snapshot.metadata;
  const problem = checkNumber(index, "snapshot index", 1) ?? checkNumber(term, "snapshot term", 1);
  if (problem !== undefined) return problem;
  if (term > messageTerm) return `snapshot term ${term} is above the message term ${messageTerm}`;
  if (!(snapshot.data instanceof Uint8Array)) return "snapshot data is not bytes";
  return checkConfState(confState);
}

function checkConfState(confState: ConfState): string | undefined {
  if (typeof confState !== "object" || confState === null || !Array.isArray(confState.voters) || !Array.isArray(confState.learners)) {
    return "snapshot membership is malformed";
  }
  const { voters, learners } = confState;
  if (voters.length === 0) return "snapshot membership has no voter";
  if (voters.length + learners.length > MAX_SNAPSHOT_MEMBERS) return `snapshot membership lists more than ${MAX_SNAPSHOT_MEMBERS} members`;
  for (const [what, ids] of [
    ["voters", voters],
    ["learners", learners],
  ] as const) {
    for (let i = 0; i < ids.length; i += 1) {
      const problem = checkNodeId(ids[i], `snapshot ${what}[${i}]`);
      if (problem !== undefined) return problem;
      if (i > 0 && ids[i]! <= ids[i - 1]!) return `snapshot ${what} are not sorted ascending and distinct`;
    }
  }
  for (const learner of learners) if (voters.includes(learner)) return `snapshot membership lists ${learner} as voter and learner`;
  return undefined;
}
