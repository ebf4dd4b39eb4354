// The Raft state machine behind the RaftCore door (src/core/raft/types.ts), shaped like
// etcd-io/raft: every input enters through one method, `step` dispatches to one function per
// role, and every output (state to persist, messages, entries to apply) leaves through ready().
// docs/RAFT.md explains the persistence contract, the membership rule and the planted bugs.

import { assert, unreachable } from "../assert.ts";
import { applyConfChange, decodeConfChange, encodeConfChange, tryDecodeConfChange, validateConfChange } from "./conf-change.ts";
import { NO_ENTRIES, RaftLog } from "./log.ts";
import { Membership } from "./membership.ts";
import { hasQuorum, majoritySize } from "./quorum.ts";
import { ReadOnly } from "./read-only.ts";
import { noCoverage, type CoverageHook } from "../env/coverage-points.ts";
import type { Progress } from "./tracker/progress.ts";
import { ProgressTracker } from "./tracker/progress-tracker.ts";
import type {
  AppendRequest,
  AppendResponse,
  ConfChange,
  Entry,
  HardState,
  HeartbeatRequest,
  HeartbeatResponse,
  Message,
  NodeId,
  PlantedBug,
  ProposeResult,
  RaftConfig,
  RaftCore,
  RaftRefusal,
  RaftStatus,
  ReadState,
  Ready,
  RecoveredState,
  Role,
  Snapshot,
  SnapshotRequest,
  SoftState,
  VoteRequest,
} from "./types.ts";

/** Messages queued between two Readys; far above what any driver lets pile up. */
const MAX_OUTBOX_MESSAGES = 1 << 16;
/** Committed entries handed out to apply in one Ready; a longer backlog spreads over several. */
const MAX_COMMITTED_ENTRIES_PER_READY = 4096;
const NO_PLANTED_BUGS: ReadonlySet<PlantedBug> = new Set();
/** Shared empty lists for a Ready's groups that have nothing (never mutated: typed readonly). */
const NO_MESSAGES: readonly Message[] = [];
const NO_READ_STATES: readonly ReadState[] = [];
/** ticksUntilDue() when no tick can act (a node that never campaigns): a driver still wakes this often. */
const TICKS_UNTIL_DUE_MAX = 1 << 16;
/** The most ticks tickBy() takes in one call (a driver catching up after a long pause). */
const TICK_BY_MAX = 1 << 24;


export class RawNode implements RaftCore {
  private readonly id: NodeId;
  private readonly config: RaftConfig;
  private readonly plantedBugs: ReadonlySet<PlantedBug>;
  private readonly reached: CoverageHook;

  // Persistent state (HardState) and the log.
  private term: number;
  private vote: NodeId;
  private readonly log: RaftLog;
  private readonly membership: Membership;
  /** The newest snapshot this node holds: sent to followers whose next entry was compacted away. */
  private snapshot: Snapshot | undefined;

  // Volatile state.
  private role: Role = "follower";
  private leaderId: NodeId = 0;
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  /**
   * Leader, quietHeartbeats: followers that answered this leader (an append or a heartbeat) since
   * the last periodic heartbeat, and in the interval before it. An answer, not a send: a lost
   * append must not also cost the follower its heartbeat.
   */
  private answeredSinceHeartbeat = new Set<NodeId>();
  private answeredInterval = new Set<NodeId>();
  private randomizedElectionTimeout = 0;
  /**
   * Ticks since this node last heard from a leader or started (capped at electionTicks); kept
   * across role and term changes. With strictLeaderLease, the voter's lease promise (docs/RAFT.md).
   */
  private leaderContactTicks = 0;
  /** Leader: one Progress per other member (rebuilt on every change); candidate: the votes received. */
  private readonly tracker: ProgressTracker;
  private readonly readOnly: ReadOnly;
  /** Leader: the latest conf-change entry of this term (a new one waits until it commits). */
  private pendingConfIndex = 0;
  /** Leader: the first entry of its term (its no-op); committing it confirms the term. */
  private termStartIndex = 0;
  /** Leader: bytes of entry data proposed in this term and not yet committed. */
  private uncommittedBytes = 0;
  /** Leader: entries were proposed since the last Ready; ready() sends them (one append per follower for all). */
  private appendsWanted = false;
  /** Leader: the target of a leader transfer in progress, or 0. */
  private leadTransferee: NodeId = 0;

  // Output not yet handed to the driver.
  private outbox: Message[] = [];
  /** Follower: the highest read round the leader of `seenReadRoundTerm` sent us (echoed in our responses). */
  private seenReadRound = 0;
  private seenReadRoundTerm = 0;
  private readStates: ReadState[] = [];
  private pendingSnapshot: Snapshot | undefined;

  // What the last Ready handed out, to diff against and to acknowledge at advance().
  private lastReadyHardState: HardState;
  private lastReadySoftState: SoftState;
  private awaitingAdvance = false;
  private readyAppliedIndex = 0;
  private readySnapshotIndex = 0;

  constructor(config: RaftConfig, recovered: RecoveredState) {
    validateConfig(config);
    this.id = config.id;
    this.config = config;
    this.plantedBugs = config.plantedBugs ?? NO_PLANTED_BUGS;
    this.reached = config.reached ?? noCoverage;
    const snapshotIndex = recovered.snapshot?.metadata.index ?? 0;
    const snapshotTerm = recovered.snapshot?.metadata.term ?? 0;
    // Only the planted bug that skips truncation can leave a log whose terms decrease.
    const termsMayDecrease = this.plantedBugs.has("append-without-truncating-conflicts");
    this.log = new RaftLog(snapshotIndex, snapshotTerm, recovered.entries, recovered.hardState.commit, termsMayDecrease);
    this.snapshot = recovered.snapshot;
    this.membership = new Membership(snapshotIndex, recovered.confState);
    // Conf changes take effect when appended, so replaying the log rebuilds the membership.
    for (const entry of recovered.entries) if (entry.type === "conf-change") this.appendedConfChange(entry);
    this.term = recovered.hardState.term;
    this.vote = recovered.hardState.vote;
    assert(this.log.lastTerm() <= this.term || termsMayDecrease, "recovered log holds a term above the recovered current term");
    this.readOnly = new ReadOnly(config.maxPendingReads);
    this.tracker = new ProgressTracker(config.maxInflightMessages, config.maxInflightBytes);
    this.lastReadyHardState = this.hardState();
    this.lastReadySoftState = this.softState();
    this.resetRandomizedElectionTimeout();
    this.checkInvariants();
  }

  // ---------------------------------------------------------------- inputs

  tick(): void {
    this.tickOnce();
    this.checkInvariants();
  }

  ticksUntilDue(): number {
    let due: number;
    if (this.role === "leader") {
      // The tick on which heartbeatElapsed, electionElapsed or a snapshot's wait reaches its limit.
      due = Math.min(this.config.heartbeatTicks - this.heartbeatElapsed, this.config.electionTicks - this.electionElapsed);
      due = Math.min(due, this.tracker.ticksUntilSnapshotTimeout(this.config.electionTicks));
    } else {
      // Only the election timeout acts; a node that never campaigns just counts (for the lease).
      due = this.promotable() ? this.randomizedElectionTimeout - this.electionElapsed : TICKS_UNTIL_DUE_MAX;
    }
    // With strictLeaderLease the end of the voter's promise is a deadline too: it changes what a
    // vote request meets, and the simulator's Lease Held check reads it between inputs, so the
    // counter must cross electionTicks on time rather than at the next input.
    if (this.config.strictLeaderLease === true && this.leaderContactTicks < this.config.electionTicks) {
      due = Math.min(due, this.config.electionTicks - this.leaderContactTicks);
    }
    due = Math.max(1, Math.min(due, TICKS_UNTIL_DUE_MAX));
    assert(Number.isSafeInteger(due), "ticksUntilDue must be an integer");
    return due;
  }

  tickBy(ticks: number): void {
    if (!(Number.isSafeInteger(ticks) && ticks >= 1 && ticks <= TICK_BY_MAX)) assert(false, `tickBy(${ticks}) out of [1, ${TICK_BY_MAX}]`);
    // Each round takes the quiet ticks before the next deadline at once, then the deadline's tick
    // itself (which may change the deadlines); every round consumes at least one tick.
    let left = ticks;
    while (left > 0) {
      const quiet = Math.min(left, this.ticksUntilDue()) - 1;
      if (quiet > 0) this.skipQuietTicks(quiet);
      this.tickOnce();
      left -= quiet + 1;
    }
    this.checkInvariants();
  }

  step(message: Message): void {
    if (message.to !== this.id) assert(false, `message for ${message.to} delivered to ${this.id}`);
    assert(message.from !== this.id, "a node does not message itself");
    assert(Number.isSafeInteger(message.term) && message.term >= 0, "message term must be a non-negative integer");
    this.stepMessage(message);
    this.checkInvariants();
  }

  propose(data: Uint8Array): ProposeResult {
    const refusal = this.refuseProposal(data.length);
    if (refusal !== undefined) return { ok: false, refusal };
    const entry = this.appendOwnEntry("normal", data);
    this.checkInvariants();
    return { ok: true, index: entry.index, term: entry.term };
  }

  proposeConfChange(change: ConfChange): ProposeResult {
    const refusal = this.refuseProposal(0);
    if (refusal !== undefined) return { ok: false, refusal };
    // Ongaro's fix for single-server changes: a new leader first commits an entry of its term,
    // which also commits every earlier conf change it may have inherited.
    if (this.log.committed < this.termStartIndex) return { ok: false, refusal: { code: "conf-change-pending", index: this.termStartIndex } };
    if (this.pendingConfIndex > this.log.committed) return { ok: false, refusal: { code: "conf-change-pending", index: this.pendingConfIndex } };
    const validated = validateConfChange(this.membership.current(), change);
    if (!validated.ok) return { ok: false, refusal: { code: "invalid-conf-change", reason: validated.reason } };
    const entry = this.appendOwnEntry("conf-change", encodeConfChange(change));
    this.pendingConfIndex = entry.index;
    this.checkInvariants();
    return { ok: true, index: entry.index, term: entry.term };
  }

  readIndex(context: number): RaftRefusal | undefined {
    assert(Number.isSafeInteger(context) && context > 0, "read context must be a positive integer");
    if (this.role !== "leader") return { code: "not-leader", leaderId: this.leaderId };
    if (this.readOnly.count() + this.readStates.length >= this.config.maxPendingReads) {
      return { code: "too-many-pending-reads", limit: this.config.maxPendingReads };
    }
    if (this.bug("read-index-without-quorum")) {
      this.readStates.push({ context, index: this.log.committed });
      return undefined;
    }
    if (this.log.committed < this.termStartIndex) {
      // Until the no-op of this term commits, the commit index may lag entries committed by an
      // earlier leader: queue the read and give it an index once the term's first entry commits.
      this.readOnly.add(context, 0);
      return undefined;
    }
    this.readOnly.add(context, this.log.committed);
    // A single voter confirms at once; otherwise the read waits for the next round, which the next
    // ready() opens: on its appends if they reach a quorum, else as heartbeats unless a round is in
    // flight (reads arriving meanwhile share the next one).
    this.confirmReads();
    if (this.config.shareReadRounds === false && this.readOnly.count() > 0) {
      // A round of its own, now, even while another is in flight.
      if (this.readOnly.hasUncovered()) {
        this.readOnly.openRound(true);
        this.broadcastHeartbeat();
      }
    }
    this.checkInvariants();
    return undefined;
  }

  transferLeadership(target: NodeId): RaftRefusal | undefined {
    if (this.role !== "leader") return { code: "not-leader", leaderId: this.leaderId };
    if (target === this.id) return undefined;
    if (this.leadTransferee !== 0) {
      return this.leadTransferee === target ? undefined : { code: "transfer-in-progress", target: this.leadTransferee };
    }
    if (!this.membership.isVoter(target)) return { code: "invalid-conf-change", reason: `transfer target ${target} is not a voter` };
    this.leadTransferee = target;
    // The transfer is abandoned if it has not completed within one election timeout.
    this.electionElapsed = 0;
    const progress = this.tracker.get(target)!;
    if (progress.match === this.log.lastIndex()) this.send({ type: "timeout-now", from: this.id, term: this.term, to: target });
    else this.sendAppend(target);
    this.checkInvariants();
    return undefined;
  }

  campaign(): void {
    this.startElection({ skipPreVote: false, leaderTransfer: false });
    this.checkInvariants();
  }

  // ---------------------------------------------------------------- outputs

  hasReady(): boolean {
    if (this.awaitingAdvance) return false;
    return (
      this.outbox.length > 0 ||
      this.readRoundWanted() ||
      this.readStates.length > 0 ||
      this.pendingSnapshot !== undefined ||
      this.log.hasUnstableEntries() ||
      this.log.hasEntriesToApply() ||
      this.hardStateChanged() ||
      this.softStateChanged()
    );
  }

  ready(): Ready {
    assert(!this.awaitingAdvance, "ready() called again before advance()");
    if (this.appendsWanted) {
      this.appendsWanted = false;
      if (this.role === "leader") this.broadcastNewEntriesWithRound();
    }
    // Reads that arrived since the last Ready, with no round in flight, share one round now.
    if (this.readRoundWanted()) {
      this.readOnly.openRound(true);
      if (this.config.quietHeartbeats === true) this.heartbeatReadQuorum();
      else this.broadcastHeartbeat();
    }
    // New state objects only when they changed (an unchanged one equals the last handed out).
    const hardChanged = this.hardStateChanged();
    const softChanged = this.softStateChanged();
    const hardState = hardChanged ? this.hardState() : this.lastReadyHardState;
    const softState = softChanged ? this.softState() : this.lastReadySoftState;
    const termOrVoteChanged = hardState.term !== this.lastReadyHardState.term || hardState.vote !== this.lastReadyHardState.vote;
    const snapshot = this.pendingSnapshot;
    const entries = this.log.handOutUnstableEntries();
    const committedEntries = this.log.entriesToApply(MAX_COMMITTED_ENTRIES_PER_READY);
    // The previous Ready was carried out before this call (advance() came first), and a term
    // change always sets mustSync: so the term of the previous Ready is durable now, and this
    // Ready's (if it changed) is not yet.
    const durableTerm = this.lastReadyHardState.term;
    // Empty groups share one empty array: most Readys of a follower carry one message or none.
    let messagesBeforePersist: readonly Message[] = NO_MESSAGES;
    let messages: readonly Message[] = NO_MESSAGES;
    if (this.outbox.length > 0) {
      const before: Message[] = [];
      const after: Message[] = [];
      const outbox = this.outbox;
      for (let i = 0; i < outbox.length; i += 1) {
        const message = outbox[i]!;
        if (mayPrecedePersist(message, durableTerm)) before.push(message);
        else after.push(message);
      }
      if (before.length > 0) messagesBeforePersist = before;
      if (after.length > 0) messages = after;
      this.outbox = [];
    }
    const readStates: readonly ReadState[] = this.readStates.length > 0 ? this.readStates : NO_READ_STATES;
    if (this.readStates.length > 0) this.readStates = [];
    this.pendingSnapshot = undefined;
    this.lastReadyHardState = hardState;
    this.lastReadySoftState = softState;
    this.readySnapshotIndex = snapshot?.metadata.index ?? 0;
    this.readyAppliedIndex = committedEntries.length > 0 ? committedEntries[committedEntries.length - 1]!.index : 0;
    this.awaitingAdvance = true;
    // Postconditions: what is handed out to apply is committed and follows what was applied.
    assert(committedEntries.length === 0 || committedEntries[0]!.index === this.log.nextApplyIndex(), "committed entries skip an index");
    assert(this.readyAppliedIndex <= this.log.committed, "handing out uncommitted entries to apply");
    return {
      softState: softChanged ? softState : undefined,
      hardState: hardChanged ? hardState : undefined,
      snapshot,
      entries,
      committedEntries,
      messagesBeforePersist,
      messages,
      readStates,
      mustSync: termOrVoteChanged || entries.length > 0,
    };
  }

  advance(): void {
    assert(this.awaitingAdvance, "advance() without a Ready");
    this.awaitingAdvance = false;
    this.log.handedOutPersisted();
    if (this.readySnapshotIndex > 0) this.log.applied = Math.max(this.log.applied, this.readySnapshotIndex);
    if (this.readyAppliedIndex > 0) this.log.applied = Math.max(this.log.applied, this.readyAppliedIndex);
    assert(this.log.applied <= this.log.committed, "applied beyond commit");
    this.readySnapshotIndex = 0;
    this.readyAppliedIndex = 0;
    // The leader's own log just became durable further: it may complete a quorum. Followers
    // learn the new commit index from the next append or heartbeat (docs/RAFT.md, Replication).
    if (this.role === "leader" && this.maybeCommit()) {
      this.afterCommit();
      if (this.role === "leader") this.broadcastAppend(false);
    }
    this.checkInvariants();
  }

  compact(index: number, data: Uint8Array): void {
    assert(index <= this.log.applied, () => `compact(${index}) beyond applied ${this.log.applied}`);
    assert(index <= this.log.persistedIndex, () => `compact(${index}) beyond the durable log ${this.log.persistedIndex}`);
    if (index <= this.log.snapshotIndex()) return;
    const term = this.log.termAt(index)!;
    this.snapshot = { metadata: { index, term, confState: this.membership.at(index) }, data };
    this.log.compact(index, term);
    this.membership.compactedTo(index);
    this.checkInvariants();
  }

  status(): RaftStatus {
    return {
      id: this.id,
      role: this.role,
      leaderId: this.leaderId,
      hardState: this.hardState(),
      applied: this.log.applied,
      firstIndex: this.log.firstIndex(),
      lastIndex: this.log.lastIndex(),
      snapshotIndex: this.log.snapshotIndex(),
      snapshotTerm: this.log.snapshotTerm(),
      confState: this.membership.current(),
    };
  }

  currentTerm(): number {
    return this.term;
  }

  currentRole(): Role {
    return this.role;
  }

  currentLeader(): NodeId {
    return this.leaderId;
  }

  commitIndex(): number {
    return this.log.committed;
  }

  appliedIndex(): number {
    return this.log.applied;
  }

  lastIndex(): number {
    return this.log.lastIndex();
  }

  snapshotIndex(): number {
    return this.log.snapshotIndex();
  }

  termAt(index: number): number | undefined {
    return this.log.termAt(index);
  }

  entryAt(index: number): Entry | undefined {
    return this.log.entryAt(index);
  }

  ticksSinceLeaderContact(): number {
    return this.leaderContactTicks;
  }

  // ---------------------------------------------------------------- role transitions

  private becomeFollower(term: number, leaderId: NodeId): void {
    if (term < this.term) assert(false, `term would decrease from ${this.term} to ${term}`);
    // A leader stepping down still sends the appends of its proposals since the last Ready, in
    // its own term: what it would have sent had it built them at once (docs/RAFT.md).
    if (this.role === "leader" && this.appendsWanted) this.broadcastAppend(false);
    if (term > this.term) {
      this.term = term;
      this.vote = 0;
    }
    this.role = "follower";
    this.leaderId = leaderId;
    this.resetVolatile();
  }

  private becomePreCandidate(): void {
    assert(this.role !== "leader", "a leader does not pre-campaign");
    // Pre-voting changes neither term nor vote (dissertation 9.6): a partitioned node cannot
    // inflate its term and disrupt the cluster when it comes back.
    this.role = "pre-candidate";
    this.leaderId = 0;
    this.resetVolatile();
  }

  private becomeCandidate(): void {
    assert(this.role !== "leader", "a leader does not campaign");
    this.term += 1;
    this.vote = this.id;
    this.role = "candidate";
    this.leaderId = 0;
    this.resetVolatile();
  }

  private becomeLeader(): void {
    assert(this.role === "candidate", "only a candidate becomes leader");
    this.role = "leader";
    this.leaderId = this.id;
    this.resetVolatile();
    this.rebuildProgress();
    // A new leader's no-op: committing an entry of its own term is what commits the entries of
    // earlier terms (paper 5.4.2) and unblocks ReadIndex and conf changes.
    const noop = this.appendOwnEntry("normal", new Uint8Array(0));
    this.termStartIndex = noop.index;
    this.pendingConfIndex = 0;
  }

  /** Everything that belongs to one role's life in one term. */
  private resetVolatile(): void {
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.answeredSinceHeartbeat.clear();
    this.answeredInterval.clear();
    this.resetRandomizedElectionTimeout();
    this.tracker.resetVotes();
    this.tracker.clear();
    this.readOnly.clear();
    this.pendingConfIndex = 0;
    this.termStartIndex = 0;
    this.uncommittedBytes = 0;
    this.leadTransferee = 0;
    this.appendsWanted = false;
  }

  private resetRandomizedElectionTimeout(): void {
    const extra = this.config.random.intBelow(this.config.electionTicks);
    assert(Number.isSafeInteger(extra) && extra >= 0 && extra < this.config.electionTicks, "random source out of range");
    this.randomizedElectionTimeout = this.config.electionTicks + extra;
  }

  /**
   * A node campaigns if it is a voter in the newest membership in its log, or in the newest
   * committed one. The second case is a node whose own removal is still uncommitted: it may hold
   * the longest log, and the remaining voters cannot elect anyone without its vote, which it
   * denies them; so it must be able to win (counting, as always, only the voters of its newest
   * membership), commit its removal, and step down.
   */
  private promotable(): boolean {
    return this.membership.isVoter(this.id) || this.membership.at(this.log.committed).voters.includes(this.id);
  }

  // ---------------------------------------------------------------- ticks

  private tickElection(): void {
    this.electionElapsed += 1;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.startElection({ skipPreVote: false, leaderTransfer: false });
    }
  }

  /** One tick: the lease counter, then the role's timers. */
  private tickOnce(): void {
    if (this.leaderContactTicks < this.config.electionTicks) this.leaderContactTicks += 1;
    if (this.role === "leader") this.tickLeader();
    else this.tickElection();
  }

  /** `ticks` ticks before the next deadline (fewer than ticksUntilDue()): they only count. */
  private skipQuietTicks(ticks: number): void {
    assert(ticks >= 1 && ticks < this.ticksUntilDue(), "skipping ticks past a deadline");
    this.leaderContactTicks = Math.min(this.config.electionTicks, this.leaderContactTicks + ticks);
    this.electionElapsed += ticks;
    if (this.role === "leader") {
      this.heartbeatElapsed += ticks;
      this.tracker.skipSnapshotTicks(ticks);
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed += 1;
    this.electionElapsed += 1;
    // A snapshot not acknowledged within an election timeout is taken as lost (probe again).
    this.tracker.tickSnapshots(this.config.electionTicks);
    if (this.electionElapsed >= this.config.electionTicks) {
      this.electionElapsed = 0;
      if (this.config.checkQuorum && !this.quorumActive()) {
        this.reached("raft/check-quorum-step-down");
        this.becomeFollower(this.term, 0);
        return;
      }
      this.tracker.resetRecentActive();
      this.leadTransferee = 0;
    }
    if (this.heartbeatElapsed >= this.config.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      // A periodic heartbeat is a read round too: it covers every read pending now, and then goes to everyone.
      const round = this.readOnly.hasUncovered();
      if (round) this.readOnly.openRound(true);
      this.broadcastHeartbeat(this.config.quietHeartbeats === true && !round);
    }
  }

  private quorumActive(): boolean {
    return this.tracker.quorumActive(this.membership.current().voters, this.id);
  }

  // ---------------------------------------------------------------- elections

  private startElection({ skipPreVote, leaderTransfer }: { skipPreVote: boolean; leaderTransfer: boolean }): void {
    if (this.role === "leader" || !this.promotable()) return;
    if (this.config.preVote && !skipPreVote) this.becomePreCandidate();
    else this.becomeCandidate();
    const preVote = this.role === "pre-candidate";
    this.tracker.recordVote(this.id, true);
    if (this.countVotes(preVote)) return;
    const campaignTerm = preVote ? this.term + 1 : this.term;
    for (const voter of this.membership.current().voters) {
      if (voter === this.id) continue;
      this.send({
        type: "vote-request",
        from: this.id,
        to: voter,
        term: campaignTerm,
        preVote,
        lastLogIndex: this.log.lastIndex(),
        lastLogTerm: this.log.lastTerm(),
        leaderTransfer,
      });
    }
  }

  /** Acts on the votes so far; true when the campaign ended (won or lost). */
  private countVotes(preVote: boolean): boolean {
    switch (this.tracker.tallyVotes(this.membership.current().voters)) {
      case "won":
        if (preVote) this.startElection({ skipPreVote: true, leaderTransfer: false });
        else this.becomeLeader();
        return true;
      case "lost":
        this.reached("raft/election-lost");
        this.becomeFollower(this.term, 0);
        return true;
      case "pending":
        return false;
    }
  }

  private handleVoteRequest(m: VoteRequest): void {
    // Paper 5.2/5.4.1 and dissertation 9.6: vote for at most one candidate per term (pre-votes
    // are free as they change nothing), only for one whose log is at least as up to date.
    let canVote = this.vote === m.from || (this.vote === 0 && this.leaderId === 0) || (m.preVote && m.term > this.term);
    if (this.bug("double-vote-in-term") && this.role === "follower") canVote = true;
    let upToDate = this.log.isUpToDate(m.lastLogIndex, m.lastLogTerm);
    if (this.bug("vote-without-log-check")) upToDate = true;
    const granted = canVote && upToDate;
    if (m.preVote && !granted) this.reached("raft/pre-vote-rejected");
    // A granted pre-vote answers in the request's term (the candidate's next); a refusal in this
    // node's own term (etcd-io/raft's rule), so a pre-candidate behind this node's term learns it:
    // otherwise two pre-candidates, each refusing the other (one's log, the other's vote in its
    // term), campaign forever (found by the simulator: heavy faults, 3 nodes, seed 6).
    this.send({ type: "vote-response", from: this.id, to: m.from, term: m.preVote && granted ? m.term : this.term, preVote: m.preVote, granted });
    if (granted && !m.preVote) {
      assert(m.term === this.term, "a real vote is granted only in the current term");
      assert(this.vote === 0 || this.vote === m.from || this.plantedBugs.has("double-vote-in-term"), "second vote in one term");
      this.vote = m.from;
      this.electionElapsed = 0;
    }
  }

  // ---------------------------------------------------------------- step

  private stepMessage(m: Message): void {
    if (m.type === "vote-request" && this.inStrictLeaderLease(m)) return;
    if (m.term > this.term) {
      if (m.type === "vote-request") {
        // The leader lease (CheckQuorum): a follower that heard from a leader within the election
        // timeout ignores campaigns, unless the leader itself handed over with TimeoutNow.
        const inLease = this.config.checkQuorum && this.leaderId !== 0 && this.electionElapsed < this.config.electionTicks;
        if (inLease && !m.leaderTransfer) {
          this.reached("raft/campaign-ignored-in-lease");
          return;
        }
      }
      // A pre-vote and its grant are about a term not yet started; a refused pre-vote carries the voter's own term, which is newer: follow it.
      const keepsTerm = (m.type === "vote-request" && m.preVote) || (m.type === "vote-response" && m.preVote && m.granted);
      if (!keepsTerm) {
        if (this.role === "leader" && this.bug("leader-ignores-higher-term")) {
          // Planted bug: adopt the newer term but ignore what it means; keep leading.
          this.term = m.term;
          this.vote = 0;
        } else {
          const fromLeader = m.type === "append" || m.type === "heartbeat" || m.type === "snapshot";
          this.becomeFollower(m.term, fromLeader ? m.from : 0);
        }
      }
    } else if (m.term < this.term) {
      this.stepStaleMessage(m);
      return;
    }

    switch (m.type) {
      case "vote-request":
        this.handleVoteRequest(m);
        return;
      default:
        break;
    }
    switch (this.role) {
      case "leader":
        this.stepLeader(m);
        return;
      case "candidate":
      case "pre-candidate":
        this.stepCandidate(m);
        return;
      case "follower":
        this.stepFollower(m);
        return;
      default:
        unreachable(this.role, "role");
    }
  }

  /** A message from an older term: answer only where the answer helps the sender catch up. */
  private stepStaleMessage(m: Message): void {
    switch (m.type) {
      case "append":
      case "heartbeat":
        // A leader cut off by PreVote/CheckQuorum would otherwise never learn of the newer
        // term (etcd-io/raft #8501): reply with ours, which makes it step down.
        if (this.config.checkQuorum || this.config.preVote) {
          this.reached("raft/stale-leader-told-newer-term");
          this.send({ type: "append-response", from: this.id, term: this.term, to: m.from, success: false, index: 0, conflictTerm: 0, conflictIndex: 0, readContext: 0 });
        }
        return;
      case "vote-request":
        // A refusal carries this node's newer term: the sender (pre-vote or vote) learns it and follows.
        this.send({ type: "vote-response", from: this.id, term: this.term, to: m.from, preVote: m.preVote, granted: false });
        return;
      case "vote-response":
      case "append-response":
      case "heartbeat-response":
      case "snapshot":
      case "timeout-now":
        return;
      default:
        unreachable(m, "message");
    }
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case "append-response":
        this.handleAppendResponse(m);
        return;
      case "heartbeat-response":
        this.handleHeartbeatResponse(m);
        return;
      case "append":
      case "heartbeat":
      case "snapshot":
        // Another leader in this term cannot exist while votes are unique; with a planted bug
        // it can, and the simulator's Election Safety check is what must report it.
        return;
      case "vote-request":
      case "vote-response":
      case "timeout-now":
        return;
      default:
        unreachable(m, "message");
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case "vote-response": {
        const preVote = this.role === "pre-candidate";
        if (m.preVote !== preVote) return;
        // A pre-vote is granted in the proposed term and refused in the voter's, which is this one here (a newer one made this node follow).
        if (preVote && m.term !== (m.granted ? this.term + 1 : this.term)) return;
        if (!this.membership.isVoter(m.from)) return;
        this.tracker.recordVote(m.from, m.granted);
        this.countVotes(preVote);
        return;
      }
      case "append":
      case "heartbeat":
      case "snapshot":
        // A leader of this term exists: it won the election we were running.
        this.becomeFollower(this.term, m.from);
        this.stepFollower(m);
        return;
      case "append-response":
      case "heartbeat-response":
      case "vote-request":
      case "timeout-now":
        return;
      default:
        unreachable(m, "message");
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case "append":
        this.heardFromLeader(m.from);
        this.handleAppend(m);
        return;
      case "heartbeat":
        this.heardFromLeader(m.from);
        this.handleHeartbeat(m);
        return;
      case "snapshot":
        this.heardFromLeader(m.from);
        this.handleSnapshot(m);
        return;
      case "timeout-now":
        // The leader hands over: campaign at once, skipping pre-vote and the voters' lease.
        this.reached("raft/leader-transfer-campaign");
        this.startElection({ skipPreVote: true, leaderTransfer: true });
        return;
      case "vote-response":
      case "append-response":
      case "heartbeat-response":
      case "vote-request":
        return;
      default:
        unreachable(m, "message");
    }
  }

  /**
   * strictLeaderLease: a campaign (not a leader transfer) within electionTicks ticks of the last
   * contact with a leader, or of this node's start, is ignored in any term, so that no leader can
   * be elected inside the lease of one this node acknowledged (docs/RAFT.md, "Lease reads").
   */
  private inStrictLeaderLease(m: VoteRequest): boolean {
    if (this.config.strictLeaderLease !== true || m.leaderTransfer || m.term < this.term) return false;
    return this.leaderContactTicks < this.config.electionTicks;
  }

  private heardFromLeader(leaderId: NodeId): void {
    this.leaderContactTicks = 0;
    this.electionElapsed = 0;
    this.leaderId = leaderId;
  }

  // ---------------------------------------------------------------- follower: replication

  private handleAppend(m: AppendRequest): void {
    this.sawReadRound(m.readContext);
    if (m.prevLogIndex < this.log.committed) {
      // Everything up to our commit index already matches the leader (Leader Completeness).
      this.sendAppendResponse(m.from, true, this.log.committed, 0, 0);
      return;
    }
    if (m.prevLogIndex === 0 && this.membership.baseUnknown()) {
      // A joining node must learn the membership its log starts from: ask for a snapshot.
      this.sendAppendResponse(m.from, false, 0, 0, 0);
      return;
    }
    const prevTerm = this.log.termAt(m.prevLogIndex);
    if (prevTerm !== m.prevLogTerm) {
      // Paper 5.3: reject, with the dissertation's hint so the leader skips a whole term at once.
      this.reached("raft/append-rejected-log-mismatch");
      if (prevTerm === undefined) {
        this.sendAppendResponse(m.from, false, m.prevLogIndex, 0, this.log.lastIndex() + 1);
      } else {
        this.sendAppendResponse(m.from, false, m.prevLogIndex, prevTerm, this.log.firstIndexOfTermAt(m.prevLogIndex));
      }
      return;
    }
    // Bad input, not a crash: a correct leader's conf changes always apply where they land.
    if (!this.confChangesApply(m.entries)) return;
    this.appendFromLeader(m.entries);
    const lastNewIndex = m.prevLogIndex + m.entries.length;
    // Log Matching: the log now agrees with the leader's up to lastNewIndex.
    assert(m.entries.length === 0 || this.log.termAt(lastNewIndex) === m.entries[m.entries.length - 1]!.term || this.plantedBugs.has("append-without-truncating-conflicts"), "log does not match the leader after append");
    this.log.commitTo(Math.min(m.commit, lastNewIndex));
    this.sendAppendResponse(m.from, true, lastNewIndex, 0, 0);
  }

  /** Whether every conf change among the entries appendFromLeader would add applies to the membership before it. */
  private confChangesApply(entries: readonly Entry[]): boolean {
    const conflictIndex = this.log.findConflict(entries);
    if (conflictIndex === 0) return true;
    // Where the new entries start: at the conflict, or (planted bug only) after our own log.
    const truncates = conflictIndex <= this.log.lastIndex() && !this.bug("append-without-truncating-conflicts");
    const from = truncates || conflictIndex > this.log.lastIndex() ? conflictIndex : this.log.lastIndex() + 1;
    let conf = this.membership.at(from - 1);
    for (const entry of entries) {
      if (entry.index < from || entry.type !== "conf-change") continue;
      const decoded = tryDecodeConfChange(entry.data);
      if (!decoded.ok) return false;
      const validated = validateConfChange(conf, decoded.change);
      if (!validated.ok) return false;
      conf = validated.confState;
    }
    return true;
  }

  /** Appends a leader's entries after a matching prefix, truncating a conflicting suffix. */
  private appendFromLeader(entries: readonly Entry[]): void {
    const conflictIndex = this.log.findConflict(entries);
    if (conflictIndex === 0) return;
    const first = entries[0]!.index;
    for (let i = 1; i < entries.length; i += 1) assert(entries[i]!.index === first + i, "append entries are not contiguous");
    let newEntries = entries.slice(conflictIndex - first);
    if (conflictIndex <= this.log.lastIndex()) {
      if (this.bug("append-without-truncating-conflicts")) {
        // Planted bug: keep our own entries where they differ; append only beyond our log.
        newEntries = newEntries.filter((entry) => entry.index > this.log.lastIndex());
      } else {
        assert(this.role !== "leader", "a leader never truncates its own log");
        this.reached("raft/conflicting-entries-truncated");
        this.log.truncateFrom(conflictIndex);
        this.membership.truncatedFrom(conflictIndex);
      }
    }
    this.log.append(newEntries, this.plantedBugs.has("append-without-truncating-conflicts"));
    for (const entry of newEntries) if (entry.type === "conf-change") this.appendedConfChange(entry);
  }

  private handleHeartbeat(m: HeartbeatRequest): void {
    // The leader sends min(commit, our match), so this never commits entries we lack.
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.sawReadRound(m.readContext);
    this.send({ type: "heartbeat-response", from: this.id, term: this.term, to: m.from, readContext: this.echoReadRound() });
  }

  private handleSnapshot(m: SnapshotRequest): void {
    const { index, term, confState } = m.snapshot.metadata;
    if (index <= this.log.committed) {
      this.sendAppendResponse(m.from, true, this.log.committed, 0, 0);
      return;
    }
    if (this.log.matchTerm(index, term)) {
      // The log already holds the snapshot's last entry: keep it and everything after it (paper
      // Figure 13 step 6); only the commit index moves, and the entries apply normally.
      this.log.commitTo(index);
      this.sendAppendResponse(m.from, true, index, 0, 0);
      return;
    }
    this.reached("raft/snapshot-installed");
    this.log.restore(m.snapshot);
    this.membership.reset(index, confState);
    this.snapshot = m.snapshot;
    this.pendingSnapshot = m.snapshot;
    this.sendAppendResponse(m.from, true, index, 0, 0);
  }

  private sendAppendResponse(to: NodeId, success: boolean, index: number, conflictTerm: number, conflictIndex: number): void {
    this.send({ type: "append-response", from: this.id, term: this.term, to, success, index, conflictTerm, conflictIndex, readContext: this.echoReadRound() });
  }

  /** Follower: a message of the leader of this term carried read round `round`. */
  private sawReadRound(round: number): void {
    if (this.seenReadRoundTerm !== this.term) {
      this.seenReadRoundTerm = this.term;
      this.seenReadRound = 0;
    }
    if (round > this.seenReadRound) this.seenReadRound = round;
  }

  /** The highest read round this term's leader sent us: only a message it sent later can have shown us it. */
  private echoReadRound(): number {
    return this.seenReadRoundTerm === this.term ? this.seenReadRound : 0;
  }

  // ---------------------------------------------------------------- leader: replication

  private refuseProposal(sizeBytes: number): RaftRefusal | undefined {
    if (this.role !== "leader") return { code: "not-leader", leaderId: this.leaderId };
    if (this.leadTransferee !== 0) return { code: "transfer-in-progress", target: this.leadTransferee };
    const limit = this.config.maxUncommittedBytes;
    // At least one entry is always accepted, however large, so that progress is possible.
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + sizeBytes > limit) return { code: "too-many-uncommitted", limitBytes: limit };
    return undefined;
  }

  private appendOwnEntry(type: Entry["type"], data: Uint8Array): Entry {
    assert(this.role === "leader", "only a leader appends its own entries");
    const entry: Entry = { term: this.term, index: this.log.lastIndex() + 1, type, data };
    this.log.append([entry]);
    this.uncommittedBytes += data.length;
    if (type === "conf-change") this.appendedConfChange(entry);
    // A single-voter cluster commits once the entry is durable (at advance()). The appends leave
    // with the next Ready anyway, so they are built there: proposals until then share one per follower.
    this.appendsWanted = true;
    return entry;
  }

  /** A conf-change entry entered the log: it takes effect now (docs/RAFT.md). */
  private appendedConfChange(entry: Entry): void {
    this.membership.appended(entry.index, applyConfChange(this.membership.current(), decodeConfChange(entry.data)));
    this.membershipChanged();
  }

  private membershipChanged(): void {
    if (this.role === "leader") this.rebuildProgress();
    if (!this.promotable() && (this.role === "candidate" || this.role === "pre-candidate")) this.becomeFollower(this.term, 0);
  }

  /** Leader: exactly one Progress per other member, ascending by id; existing ones are kept. */
  private rebuildProgress(): void {
    const conf = this.membership.current();
    // A node removed by a change that is not committed yet still gets the log up to that change:
    // once it holds the entry it knows it is out and never campaigns (dissertation 4.2.3).
    const committedConf = this.membership.at(this.log.committed);
    const current = [...conf.voters, ...conf.learners];
    const removedPending = [...committedConf.voters, ...committedConf.learners].filter((id) => !current.includes(id));
    const members = [...current, ...removedPending].filter((id) => id !== this.id).sort((a, b) => a - b);
    this.tracker.rebuild(members, this.log.lastIndex() + 1, removedPending.length > 0);
  }

  /**
   * The proposals since the last Ready, to every follower: as many appends as the window allows
   * (a follower streaming in replicate state gets them all, within maxMessageBytes each).
   */
  private broadcastNewEntries(): void {
    const ids = this.tracker.ids();
    const list = this.tracker.list();
    for (let i = 0; i < ids.length; i += 1) {
      const progress = list[i]!;
      this.sendAppend(ids[i]!, false);
      for (let sent = 1; sent < this.config.maxInflightMessages && progress.state === "replicate" && !progress.isPaused() && progress.next <= this.log.lastIndex(); sent += 1) {
        this.sendAppend(ids[i]!, false);
      }
    }
  }

  /**
   * broadcastNewEntries; reads waiting for a round ride on these appends when they reach a quorum
   * (the leader included): a round is opened before they leave, and covers the reads only then.
   */
  private broadcastNewEntriesWithRound(): void {
    if (!this.readOnly.hasUncovered()) {
      this.broadcastNewEntries();
      return;
    }
    this.readOnly.openRound(false);
    const sentBefore = this.outbox.length;
    this.broadcastNewEntries();
    const reached = new Set<NodeId>();
    for (let i = sentBefore; i < this.outbox.length; i += 1) if (this.outbox[i]!.type === "append") reached.add(this.outbox[i]!.to);
    const voters = this.membership.current().voters;
    if (hasQuorum(voters, (id) => id === this.id || reached.has(id))) this.readOnly.coverWaiting();
  }

  /** sendAppend to every follower; `sendIfEmpty` false sends only to those that lack entries. */
  private broadcastAppend(sendIfEmpty = true): void {
    const ids = this.tracker.ids();
    for (let i = 0; i < ids.length; i += 1) this.sendAppend(ids[i]!, sendIfEmpty);
  }

  /**
   * Sends what `to` lacks, within its window; a snapshot when its next entry was compacted.
   * An append without entries is sent only when `sendIfEmpty` (it carries the commit index or probes).
   */
  private sendAppend(to: NodeId, sendIfEmpty = true): void {
    const progress = this.tracker.get(to);
    if (progress === undefined) assert(false, `no progress for ${to}`);
    if (progress.isPaused()) return;
    const prevLogIndex = progress.next - 1;
    if (prevLogIndex < this.log.snapshotIndex()) {
      this.sendSnapshot(to, progress);
      return;
    }
    const prevLogTerm = this.log.termAt(prevLogIndex);
    if (prevLogTerm === undefined) assert(false, `no term at ${prevLogIndex} to send to ${to}`);
    const entries = progress.next <= this.log.lastIndex() ? this.log.slice(progress.next, this.log.lastIndex(), this.config.maxMessageBytes) : NO_ENTRIES;
    if (entries.length === 0 && !sendIfEmpty) return;
    let sizeBytes = 0;
    for (const entry of entries) sizeBytes += entry.data.length;
    this.send({ type: "append", from: this.id, term: this.term, to, prevLogIndex, prevLogTerm, entries, commit: this.log.committed, readContext: this.readOnly.currentRound() });
    if (entries.length > 0) progress.sentEntries(entries[entries.length - 1]!.index, sizeBytes);
    else if (progress.state === "probe") progress.sentEntries(prevLogIndex, 0);
  }

  /** An append without entries right after what was last sent; it does not use the window. */
  private sendEmptyAppend(to: NodeId, progress: Progress): void {
    const prevLogIndex = progress.next - 1;
    if (prevLogIndex < this.log.snapshotIndex()) {
      progress.becomeProbe();
      this.sendAppend(to);
      return;
    }
    const prevLogTerm = this.log.termAt(prevLogIndex);
    if (prevLogTerm === undefined) assert(false, `no term at ${prevLogIndex} to send to ${to}`);
    this.send({ type: "append", from: this.id, term: this.term, to, prevLogIndex, prevLogTerm, entries: NO_ENTRIES, commit: this.log.committed, readContext: this.readOnly.currentRound() });
  }

  private sendSnapshot(to: NodeId, progress: Progress): void {
    const snapshot = this.snapshot;
    if (snapshot === undefined) return; // a joining node waits until this leader has compacted once
    assert(snapshot.metadata.index === this.log.snapshotIndex(), "the kept snapshot is not the log's base");
    this.reached("raft/snapshot-sent");
    this.send({ type: "snapshot", from: this.id, term: this.term, to, snapshot });
    progress.becomeSnapshot(snapshot.metadata.index);
  }

  private handleAppendResponse(m: AppendResponse): void {
    const progress = this.tracker.get(m.from);
    if (progress === undefined) return;
    // Bad input, not a crash: a correct follower names only indexes this leader sent it.
    if (m.index > this.log.lastIndex()) return;
    progress.recentActive = true;
    this.answered(m.from);
    this.readRoundEchoed(m.from, m.readContext);
    if (!m.success) {
      this.handleAppendRejection(m, progress);
      return;
    }
    const wasProbe = progress.state === "probe";
    if (!progress.maybeUpdate(m.index) && !(wasProbe && progress.match === m.index)) return;
    switch (progress.state) {
      case "probe":
        progress.becomeReplicate();
        break;
      case "snapshot":
        if (progress.match >= progress.pendingSnapshotIndex) {
          progress.becomeProbe();
          progress.becomeReplicate();
        }
        break;
      case "replicate":
        progress.inflights.freeTo(m.index);
        break;
    }
    if (this.maybeCommit()) {
      this.afterCommit();
      if (this.role !== "leader") return;
      // No append just to carry the new commit index: it rides on the next append or heartbeat.
      this.broadcastAppend(false);
    } else {
      this.sendAppend(m.from, false);
    }
    if (m.from === this.leadTransferee && progress.match === this.log.lastIndex()) this.send({ type: "timeout-now", from: this.id, term: this.term, to: m.from });
  }

  private handleAppendRejection(m: AppendResponse, progress: Progress): void {
    if (m.index === 0) {
      // Only a joining node rejects at index 0: it needs a snapshot to learn its membership.
      if (progress.state !== "snapshot") this.sendSnapshot(m.from, progress);
      return;
    }
    // Stale rejections (of an append already superseded) are ignored.
    if (progress.state === "replicate" && m.index <= progress.match) return;
    if (progress.state === "probe" && m.index !== progress.next - 1) return;
    if (progress.state === "snapshot") return;
    // Dissertation 5.3's optimization: skip the follower's whole conflicting term at once.
    let next = m.conflictIndex;
    if (m.conflictTerm > 0) {
      const lastOfTerm = this.log.lastIndexOfTerm(m.conflictTerm, m.index);
      if (lastOfTerm > 0) next = lastOfTerm + 1;
    }
    next = Math.max(Math.min(next, m.index), progress.match + 1);
    progress.becomeProbe();
    progress.next = next;
    progress.checkInvariant();
    this.sendAppend(m.from);
  }

  private handleHeartbeatResponse(m: HeartbeatResponse): void {
    const progress = this.tracker.get(m.from);
    if (progress === undefined) return;
    progress.recentActive = true;
    this.answered(m.from);
    progress.probeSent = false;
    if (progress.state === "replicate" && progress.inflights.full()) {
      // Every append that filled the window may have been lost: an empty append gets acked
      // (freeing the window) or rejected (back to probe), so replication cannot stall.
      this.sendEmptyAppend(m.from, progress);
    } else if (progress.match < this.log.lastIndex() || progress.state === "probe") {
      this.sendAppend(m.from);
    }
    this.readRoundEchoed(m.from, m.readContext);
  }

  /** A response of this term echoed read round `round`: it may confirm the reads of that round and earlier ones. */
  private readRoundEchoed(from: NodeId, round: number): void {
    if (round === 0 || round <= this.readOnly.echoedRound(from)) return;
    this.readOnly.ack(from, round);
    this.confirmReads();
  }

  /**
   * Heartbeats to every follower, carrying the newest read round; a read round counts as the
   * periodic heartbeat (the next is due heartbeatTicks later).
   */
  private broadcastHeartbeat(skipAnswered = false): void {
    assert(!skipAnswered || this.config.quietHeartbeats === true, "only quiet heartbeats skip followers");
    const readContext = this.readOnly.currentRound();
    this.heartbeatElapsed = 0;
    const ids = this.tracker.ids();
    const progressList = this.tracker.list();
    for (let i = 0; i < ids.length; i += 1) {
      const id = ids[i]!;
      const progress = progressList[i]!;
      if (skipAnswered && this.answeredSinceHeartbeat.has(id)) continue;
      this.send({ type: "heartbeat", from: this.id, term: this.term, to: id, commit: Math.min(this.log.committed, progress.match), readContext });
    }
    if (this.config.quietHeartbeats === true) {
      const previous = this.answeredInterval;
      previous.clear();
      this.answeredInterval = this.answeredSinceHeartbeat;
      this.answeredSinceHeartbeat = previous;
    }
  }

  /** A follower answered this leader in its term, so it heard from it since the last heartbeat (quietHeartbeats). */
  private answered(id: NodeId): void {
    if (this.config.quietHeartbeats !== true) return;
    assert(this.role === "leader" && id !== this.id, "only a leader records a follower's answer");
    this.answeredSinceHeartbeat.add(id);
  }

  /**
   * Quiet heartbeats: a read round's heartbeats go to just enough voters to confirm it, those that
   * answered in this heartbeat interval or the one before first, then those active in this election timeout,
   * then the rest, each group in id order. If one of them does not answer, the next periodic
   * heartbeat (or an append) carries the round to the others, so a read waits at most a
   * heartbeat interval longer; the periodic heartbeat keeps every follower's election timer.
   * Unlike broadcastHeartbeat this is not the periodic heartbeat: heartbeatElapsed keeps counting.
   */
  private heartbeatReadQuorum(): void {
    assert(this.config.quietHeartbeats === true && this.role === "leader", "only a quiet leader sends a read round to a quorum");
    const voters = this.membership.current().voters;
    const needed = majoritySize(voters.length) - (voters.includes(this.id) ? 1 : 0);
    const readContext = this.readOnly.currentRound();
    const rank = (id: NodeId): number => (this.answeredSinceHeartbeat.has(id) || this.answeredInterval.has(id) ? 0 : this.tracker.get(id)?.recentActive === true ? 1 : 2);
    const others = voters.filter((id) => id !== this.id).sort((a, b) => rank(a) - rank(b) || a - b);
    let sent = 0;
    for (const id of others) {
      if (sent >= needed) break;
      const progress = this.tracker.get(id);
      if (progress === undefined) continue;
      this.send({ type: "heartbeat", from: this.id, term: this.term, to: id, commit: Math.min(this.log.committed, progress.match), readContext });
      sent += 1;
    }
    assert(sent <= needed && sent <= others.length, "a read round reaches at most the voters it needs");
  }

  /** Leader: some read waits for a round of heartbeats and none is in flight. */
  private readRoundWanted(): boolean {
    return this.role === "leader" && this.readOnly.wantsRound();
  }

  /** Moves reads confirmed by a quorum of voters (the leader counts itself if a voter) to readStates. */
  private confirmReads(): void {
    const voters = this.membership.current().voters;
    // Round 0 (no round yet) is confirmed only by a quorum of the leader alone.
    const released = this.readOnly.release((round) => hasQuorum(voters, (id) => id === this.id || (round > 0 && this.readOnly.echoedRound(id) >= round)));
    if (released.length > 0) this.reached("raft/read-index-answered");
    for (const read of released) this.readStates.push(read);
  }

  /** Advances the commit index to what a quorum of voters holds durably; true if it moved. */
  private maybeCommit(): boolean {
    assert(this.role === "leader", "only a leader decides commitment");
    const members = this.membership.current();
    const voters = this.bug("commit-counts-learners") ? [...members.voters, ...members.learners] : members.voters;
    const committed = this.tracker.committedIndex(voters, this.id, this.log.persistedIndex);
    if (committed <= this.log.committed) return false;
    // Paper 5.4.2 (Figure 8): only an entry of the leader's own term is committed by counting.
    let countable = this.log.termAt(committed) === this.term;
    if (this.bug("commit-previous-term-by-counting")) countable = true;
    if (!countable) return false;
    const previous = this.log.committed;
    this.log.commitTo(committed);
    for (let index = previous + 1; index <= committed; index += 1) {
      const entry = this.log.entryAt(index);
      if (entry !== undefined && entry.term === this.term) this.uncommittedBytes -= entry.data.length;
    }
    this.uncommittedBytes = Math.max(0, this.uncommittedBytes);
    return true;
  }

  /** After the leader's commit index moved: release reads, stop tracking removed nodes, retire a leader that was removed. */
  private afterCommit(): void {
    if (this.tracker.hasRemoved() && this.membership.lastChangeIndex() <= this.log.committed) {
      // Tell the removed node the commit index once more before forgetting it.
      this.broadcastAppend();
      this.rebuildProgress();
    }
    if (this.log.committed >= this.termStartIndex && this.readOnly.hasWaitingForCommit()) {
      this.readOnly.startWaiting(this.log.committed);
      this.confirmReads(); // a single voter confirms at once; otherwise the next ready() starts a round
    }
    if (!this.membership.isVoter(this.id) && this.membership.lastChangeIndex() <= this.log.committed) {
      // Our removal committed: tell the followers the commit index, then hand over to the most
      // up-to-date voter (lowest id on ties) so the cluster need not wait an election timeout.
      this.broadcastAppend();
      const successor = this.tracker.mostUpToDateVoter((id) => this.membership.isVoter(id));
      this.reached("raft/removed-leader-hands-over");
      if (successor.id !== 0 && successor.match === this.log.lastIndex()) this.send({ type: "timeout-now", from: this.id, term: this.term, to: successor.id });
      this.becomeFollower(this.term, 0);
    }
  }

  // ---------------------------------------------------------------- helpers

  private send(message: Message): void {
    assert(this.outbox.length < MAX_OUTBOX_MESSAGES, "outbox over its limit: the driver is not calling ready()");
    assert(message.from === this.id && message.to !== this.id, "a message goes from this node to another");
    // What may precede persistence (mayPrecedePersist) relies on this: only a leader, in its
    // own term, sends appends, heartbeats, snapshots and TimeoutNow.
    if (isLeaderMessage(message) && !(this.role === "leader" && message.term === this.term)) assert(false, `a ${this.role} sent ${message.type}`);
    this.outbox.push(message);
  }

  private bug(name: PlantedBug): boolean {
    return this.plantedBugs.has(name);
  }

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  private softState(): SoftState {
    return { leaderId: this.leaderId, role: this.role };
  }

  /** hardState() differs from the last Ready's (field by field, without building it). */
  private hardStateChanged(): boolean {
    const last = this.lastReadyHardState;
    return this.term !== last.term || this.vote !== last.vote || this.log.committed !== last.commit;
  }

  /** softState() differs from the last Ready's (field by field, without building it). */
  private softStateChanged(): boolean {
    const last = this.lastReadySoftState;
    return this.leaderId !== last.leaderId || this.role !== last.role;
  }

  private checkInvariants(): void {
    const last = this.log.lastIndex();
    // Messages are built only on failure: this runs after every core call.
    if (!(this.log.committed <= last)) assert(false, `commit ${this.log.committed} beyond last index ${last}`);
    if (!(this.log.applied <= this.log.committed)) assert(false, `applied ${this.log.applied} beyond commit ${this.log.committed}`);
    assert(this.log.persistedIndex <= last, "persisted index beyond the last index");
    assert(this.log.lastTerm() <= this.term || this.plantedBugs.has("append-without-truncating-conflicts"), "log holds a term above the current term");
    assert(this.role !== "leader" || this.leaderId === this.id, "a leader knows it leads");
    assert(this.role !== "candidate" || this.vote === this.id, "a candidate votes for itself");
    this.tracker.checkInvariants(last);
  }
}

function validateConfig(config: RaftConfig): void {
  assert(Number.isSafeInteger(config.id) && config.id > 0, "node id must be a positive integer");
  assert(Number.isSafeInteger(config.heartbeatTicks) && config.heartbeatTicks > 0, "heartbeatTicks must be a positive integer");
  assert(Number.isSafeInteger(config.electionTicks) && config.electionTicks > config.heartbeatTicks, "electionTicks must exceed heartbeatTicks");
  assert(config.maxMessageBytes > 0, "maxMessageBytes must be positive");
  assert(config.maxUncommittedBytes > 0, "maxUncommittedBytes must be positive");
  assert(config.strictLeaderLease !== true || config.checkQuorum, "strictLeaderLease needs checkQuorum");
}

/** Messages that only a leader sends, in its own term: replication and leadership hand-over. */
function isLeaderMessage(message: Message): boolean {
  switch (message.type) {
    case "append":
    case "heartbeat":
    case "snapshot":
    case "timeout-now":
      return true;
    case "vote-request":
    case "vote-response":
    case "append-response":
    case "heartbeat-response":
      return false;
    default:
      return unreachable(message, "message");
  }
}

/**
 * Whether `message` may leave before the Ready that carries it is durable (docs/RAFT.md, "Sending
 * before persisting"). Only a leader's own messages, and only in a term already durable:
 * - they carry no vote and acknowledge nothing, so a crash that loses this Ready's state loses
 *   nothing a peer was promised; followers may then hold entries their leader lost, which Raft
 *   tolerates because the leader counts itself toward a commit quorum only once durable;
 * - a leader of a term that is not durable yet (one elected within this Ready: a single voter,
 *   possibly with learners) could lose its term, win it again after a restart, and then send a
 *   different entry at an index where it already sent one of the same term, breaking Log
 *   Matching. Its messages wait.
 * Votes, vote requests (the candidate's term and self-vote) and acknowledgements always wait.
 */
export function mayPrecedePersist(message: Message, durableTerm: number): boolean {
  return isLeaderMessage(message) && message.term <= durableTerm;
}
