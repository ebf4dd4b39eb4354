// The data that crosses the Raft core's boundary: log entries, persistent state,
// messages between peers, and the Ready batch the driver carries out.
// Everything here is plain data so that the simulator, the storage layer and the
// wire codec ((src/core/wire, src/shell/os)) can all handle it without knowing the core's internals.
//
// Immutability rule: once the core has put an Entry, Message or Snapshot into a
// Ready, nobody mutates it (the simulator may deliver one message object to a
// peer, or deliver it twice). Receivers copy what they keep if they must change it.

import type { CoverageHook } from "../env/coverage-points.ts";

/** A cluster member's identity: a positive safe integer, stable for the member's life. */
export type NodeId = number;

/** Index 0 and term 0 are the empty log's sentinels; real entries start at index 1, term 1. */
export type EntryType = "normal" | "conf-change";

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  /** For "normal": opaque application command (may be empty: a leader's no-op). For "conf-change": encodeConfChange(...). */
  readonly data: Uint8Array;
}

/** The state a node must make durable before it sends any message that depends on it. */
export interface HardState {
  readonly term: number;
  /** 0 means no vote in `term`. */
  readonly vote: NodeId;
  readonly commit: number;
}

/**
 * Membership: one server at a time, with learners (see docs/ARCHITECTURE.md for why).
 * Both lists are sorted ascending and disjoint.
 */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export type ConfChangeType = "add-learner" | "promote" | "remove";

export interface ConfChange {
  readonly type: ConfChangeType;
  readonly nodeId: NodeId;
}

export interface SnapshotMetadata {
  /** The last entry the snapshot covers, and its term. */
  readonly index: number;
  readonly term: number;
  /** Membership as of `index`. */
  readonly confState: ConfState;
}

export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  /** The application's state machine serialized at metadata.index. */
  readonly data: Uint8Array;
}

export type Role = "follower" | "pre-candidate" | "candidate" | "leader";

/**
 * Messages between peers. Every message carries the sender's term, except that a
 * pre-vote request carries the term the sender *would* campaign in (term + 1)
 * without having adopted it, and a pre-vote response carries the term of the request it answers.
 */
export type Message =
  | VoteRequest
  | VoteResponse
  | AppendRequest
  | AppendResponse
  | HeartbeatRequest
  | HeartbeatResponse
  | SnapshotRequest
  | TimeoutNow;

export interface MessageHeader {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
}

export interface VoteRequest extends MessageHeader {
  readonly type: "vote-request";
  readonly preVote: boolean;
  readonly lastLogIndex: number;
  readonly lastLogTerm: number;
  /** Set when the campaign follows a TimeoutNow: voters then ignore their leader lease. */
  readonly leaderTransfer: boolean;
}

export interface VoteResponse extends MessageHeader {
  readonly type: "vote-response";
  readonly preVote: boolean;
  readonly granted: boolean;
}

export interface AppendRequest extends MessageHeader {
  readonly type: "append";
  readonly prevLogIndex: number;
  readonly prevLogTerm: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
  /** The leader's newest read round (docs/RAFT.md, "Read rounds"); 0: none opened yet. */
  readonly readContext: number;
}

export interface AppendResponse extends MessageHeader {
  readonly type: "append-response";
  readonly success: boolean;
  /** On success: the highest index now known to match the leader. On rejection: the prevLogIndex that was rejected. */
  readonly index: number;
  /**
   * Fast backtracking hint on rejection (Raft dissertation 5.3 / etcd's findConflictByTerm):
   * the follower's term at conflictIndex (0 if its log is shorter), and the first index it
   * holds with that term, or its lastIndex + 1 if its log is too short.
   */
  readonly conflictTerm: number;
  readonly conflictIndex: number;
  /** The highest read round this term's leader sent the follower (0: none). */
  readonly readContext: number;
}

export interface HeartbeatRequest extends MessageHeader {
  readonly type: "heartbeat";
  /** min(leader commit, follower's known match): never tells a follower to commit what it may not have. */
  readonly commit: number;
  /** The leader's newest read round (docs/RAFT.md, "Read rounds"); 0: none opened yet. */
  readonly readContext: number;
}

export interface HeartbeatResponse extends MessageHeader {
  readonly type: "heartbeat-response";
  /** The highest read round this term's leader sent the follower (0: none). */
  readonly readContext: number;
}

export interface SnapshotRequest extends MessageHeader {
  readonly type: "snapshot";
  readonly snapshot: Snapshot;
}

export interface TimeoutNow extends MessageHeader {
  readonly type: "timeout-now";
}

export type MessageType = Message["type"];

/** A linearizable read point: once applied >= index, a read tagged `context` may be served locally. */
export interface ReadState {
  readonly context: number;
  readonly index: number;
}

/** Volatile state that the driver may want to observe; never persisted. */
export interface SoftState {
  readonly leaderId: NodeId; // 0 when unknown
  readonly role: Role;
}

/**
 * The batch of work the core hands to its driver. The driver carries it out in
 * this order, then calls advance() (the persistence contract, docs/ARCHITECTURE.md):
 *   1. send `messagesBeforePersist` at once: they depend on nothing this Ready makes
 *      durable (a leader's appends, heartbeats, snapshots and TimeoutNow in a term
 *      that is already durable; Raft dissertation 10.2.1, docs/RAFT.md has the argument);
 *   2. persist `snapshot` (if any), then `entries` (appending; an entry at an index
 *      already stored replaces it and everything after it), then `hardState` (if any);
 *      if `mustSync`, fsync all of it and wait for the fsync to complete;
 *   3. only then send `messages` (votes, vote requests and acknowledgements depend on step 2);
 *   4. apply `snapshot` to the state machine (if any), then `committedEntries` in order;
 *      serve `readStates` once applied >= their index;
 *   5. call advance().
 * The core emits no new Ready between a ready() call and its advance(). It counts the
 * leader's own log toward a commit quorum only up to what advance() confirmed durable, so
 * followers may hold (and acknowledge) entries before their leader does.
 */
export interface Ready {
  readonly softState: SoftState | undefined; // present when it changed since the last Ready
  readonly hardState: HardState | undefined; // present when it changed since the last Ready
  readonly snapshot: Snapshot | undefined;
  readonly entries: readonly Entry[];
  readonly committedEntries: readonly Entry[];
  /** May leave before this Ready's snapshot, entries and hard state are durable (step 1). */
  readonly messagesBeforePersist: readonly Message[];
  /** Must wait until this Ready's snapshot, entries and hard state are durable (step 3). */
  readonly messages: readonly Message[];
  readonly readStates: readonly ReadState[];
  /** True when hardState's term or vote changed, or entries are non-empty. */
  readonly mustSync: boolean;
}

/** What a restarting node recovered from its own disk. */
export interface RecoveredState {
  readonly hardState: HardState;
  /** The newest durable snapshot, or undefined if none was ever taken. */
  readonly snapshot: Snapshot | undefined;
  /** The durable log after the snapshot: contiguous, starting at snapshot.index + 1 (or 1). */
  readonly entries: readonly Entry[];
  /**
   * Membership as of the snapshot, or the bootstrap membership when there is no snapshot
   * (empty for a node that joins an existing cluster). The core replays the conf-change
   * entries of `entries` on top of it.
   */
  readonly confState: ConfState;
}

/** A source of randomness for election timeouts; in simulation a seeded PRNG stream. */
export interface RandomSource {
  /** A uniformly distributed integer in [0, bound). bound is a positive safe integer. */
  intBelow(bound: number): number;
}

/**
 * Classic Raft bugs that only a test harness may switch on, to prove that the
 * simulator's checks catch them (docs/PLANTED-BUGS.md). Production code never sets any.
 */
export type PlantedBug =
  | "vote-without-log-check"
  | "commit-previous-term-by-counting"
  | "vote-before-persist"
  | "append-without-truncating-conflicts"
  | "leader-ignores-higher-term"
  | "read-index-without-quorum"
  | "double-vote-in-term"
  // A leader counts its learners' acknowledgements beside the voters' when it moves its commit index.
  | "commit-counts-learners"
  // The replica driver's lease reads (src/core/replica/replica.ts, docs/PLANTED-BUGS.md):
  | "lease-from-wall-clock"
  | "lease-ignores-drift"
  // The replica driver on a full disk: a persist refused for want of space sends its Ready's
  // acknowledgements and votes at once (and retries the persist), as if the batch were durable.
  | "ack-before-durable-on-enospc"
  // The replica driver's reads: a read is answered as soon as its read point is known, before the
  // state machine has applied up to it.
  | "read-before-applied";

export interface RaftConfig {
  readonly id: NodeId;
  /** Ticks without hearing from a leader before a follower campaigns: randomized in [electionTicks, 2 * electionTicks). */
  readonly electionTicks: number;
  /** Ticks between a leader's heartbeats; must be < electionTicks. */
  readonly heartbeatTicks: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  /**
   * Lease reads (docs/RAFT.md, "Lease reads"; needs checkQuorum): a voter ignores every campaign
   * except a leader transfer until electionTicks ticks have passed since it last heard from a
   * leader, or since it started, whatever its term or known leader. CheckQuorum's plain lease
   * lapses when a stray higher-term message clears the known leader, and a restarted node forgets
   * when it last heard from one; a leader serving reads from its lease needs neither to happen.
   */
  readonly strictLeaderLease?: boolean;
  /**
   * ReadIndex requests share heartbeat rounds (default true; docs/RAFT.md, ReadIndex): one that
   * arrives while a round is in flight waits for the next. False gives every request a round of
   * its own at once, for a driver that times something from the request (lease reads take the
   * lease from when the round was asked for, so waiting behind a round would shorten it).
   */
  readonly shareReadRounds?: boolean;
  /**
   * Quiet heartbeats (default false, as etcd-io/raft): a periodic heartbeat skips a follower that
   * answered an append since the previous heartbeat, since that append reset its election timer
   * already (an answer, not a send: a lost append must not also cost it the heartbeat); a heartbeat
   * that opens a read round still goes to every follower.
   * A follower's commit index then reaches it with the next append or heartbeat, at most one
   * heartbeat interval later (docs/RAFT.md, "Quiet heartbeats").
   */
  readonly quietHeartbeats?: boolean;
  /** Upper bound on the bytes of entry data in one append message (at least one entry is always sent). */
  readonly maxMessageBytes: number;
  /** Upper bound on append messages in flight to one follower. */
  readonly maxInflightMessages: number;
  /** Upper bound on bytes of entry data in flight to one follower. */
  readonly maxInflightBytes: number;
  /** Upper bound on the bytes of uncommitted entries a leader accepts before rejecting proposals. */
  readonly maxUncommittedBytes: number;
  /** Upper bound on pending ReadIndex requests. */
  readonly maxPendingReads: number;
  readonly random: RandomSource;
  /** Test harness only: planted bugs to switch on. */
  readonly plantedBugs?: ReadonlySet<PlantedBug>;
  /** Marks rare paths as reached (src/core/env/coverage-points.ts; the driver passes Environment.reached). Default: nothing. */
  readonly reached?: CoverageHook;
}

/** Why a proposal, read or membership request was refused; an operating condition, not a crash. */
export type RaftRefusal =
  | { readonly code: "not-leader"; readonly leaderId: NodeId }
  | { readonly code: "too-many-uncommitted"; readonly limitBytes: number }
  | { readonly code: "too-many-pending-reads"; readonly limit: number }
  | { readonly code: "conf-change-pending"; readonly index: number }
  | { readonly code: "invalid-conf-change"; readonly reason: string }
  | { readonly code: "transfer-in-progress"; readonly target: NodeId };

export type ProposeResult =
  | { readonly ok: true; readonly index: number; readonly term: number }
  | { readonly ok: false; readonly refusal: RaftRefusal };

/** What a checker or an operator may observe of a core; cheap to build. */
export interface RaftStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly leaderId: NodeId;
  readonly hardState: HardState;
  readonly applied: number;
  readonly firstIndex: number; // first index still in the log (snapshot.index + 1)
  readonly lastIndex: number;
  readonly snapshotIndex: number;
  readonly snapshotTerm: number;
  readonly confState: ConfState;
}

/**
 * The core's one door, in the spirit of etcd-io/raft's RawNode. Implemented by
 * RawNode (src/core/raft/raw-node.ts). Every input enters here; every output leaves
 * through ready(). No method performs I/O, reads a clock or draws global randomness.
 */
export interface RaftCore {
  /** Advances the core's logical clock by one tick (the driver calls it every tick interval). */
  tick(): void;
  /**
   * How many ticks may pass before one can act (>= 1): the first `ticksUntilDue() - 1` ticks only
   * advance the core's counters. Changes only through inputs, so a driver may arm one timer for
   * this many ticks and re-ask after each input (docs/RAFT.md, Ticks).
   */
  ticksUntilDue(): number;
  /** Exactly `ticks` (>= 1) calls of tick(), in one call. */
  tickBy(ticks: number): void;
  /** Feeds one message from a peer. Messages from unknown senders or stale terms are handled per the paper. */
  step(message: Message): void;
  /** Appends a normal entry when this node leads; refused otherwise. */
  propose(data: Uint8Array): ProposeResult;
  /** Appends a membership change when this node leads and no other change is pending. */
  proposeConfChange(change: ConfChange): ProposeResult;
  /** Requests a linearizable read point; it arrives later as a ReadState with this context (> 0). */
  readIndex(context: number): RaftRefusal | undefined;
  /** Starts a leader transfer to `target` (leader only). */
  transferLeadership(target: NodeId): RaftRefusal | undefined;
  /** Starts an election now (tests and single-node bootstrap). */
  campaign(): void;
  hasReady(): boolean;
  /**
   * Hands out the pending work. Its `messagesBeforePersist` may be sent at once, its `messages`
   * only once its state is durable (see Ready); both groups keep the order the core produced.
   */
  ready(): Ready;
  /** Acknowledges that the last Ready was carried out in full (see Ready). */
  advance(): void;
  /**
   * Tells the core that the application has snapshotted its state at `index`
   * (<= applied). The core keeps the snapshot to send to lagging followers and
   * drops log entries up to `index`. The driver has already made it durable.
   */
  compact(index: number, data: Uint8Array): void;
  status(): RaftStatus;
  // Single fields of status(), without allocating: for callers that look after every event
  // (the simulator's safety monitor, the storage wrapper). Each equals the status() field named.
  /** status().hardState.term */
  currentTerm(): number;
  /** status().role */
  currentRole(): Role;
  /** status().leaderId */
  currentLeader(): NodeId;
  /** status().hardState.commit */
  commitIndex(): number;
  /** status().applied */
  appliedIndex(): number;
  /** status().lastIndex */
  lastIndex(): number;
  /** status().snapshotIndex */
  snapshotIndex(): number;
  /** The term of the entry at `index` (0 for index 0, the snapshot's term at its index), or undefined if compacted or beyond the log. */
  termAt(index: number): number | undefined;
  /** The entry at `index` if still in the in-memory log. */
  entryAt(index: number): Entry | undefined;
  /** Ticks since this node last heard from a leader or started, capped at electionTicks (the voter's lease; the simulator checks leases against it). */
  ticksSinceLeaderContact(): number;
}
