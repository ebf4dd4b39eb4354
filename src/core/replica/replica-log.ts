// The replica's story for an operator, at info level through the Environment's logger
// (docs/OPERATIONS.md, "Logs"): elections started, won and lost (term, votes), leader changes
// (previous and new leader, term), membership changes applied (who, at which index), this node
// removed, snapshots sent, installed and taken (index, bytes).
//
// Logging only: nothing here feeds back into the replica, so a run logs or not with the same
// behaviour (the simulator's logger discards, and its trace and golden hashes do not move). It
// reads the monotonic clock for its rate limit, which has no effect on anything.
//
// What can repeat is bounded (LineBudget): a flapping election, a partitioned node that keeps
// campaigning, a follower that keeps needing snapshots. Each kind of line has a budget of
// LINES_PER_WINDOW_MAX lines per WINDOW_MS of the monotonic clock; past it, lines are counted
// instead of written, ONE warn line says so, and the first line of the next window carries the
// count (`suppressed`). So a node writes at most about LINES_PER_WINDOW_MAX + 1 lines of a kind
// per window, however often it happens.

import { assert } from "../assert.ts";
import type { Environment } from "../env/environment.ts";
import type { ConfState, Message, NodeId, Role } from "../raft/types.ts";

/** Lines of one kind written per window at most; the excess is counted and reported. */
export const LINES_PER_WINDOW_MAX = 20;
/** The rate limit's window, in milliseconds of this node's monotonic clock. */
export const WINDOW_MS = 60_000;

/** A rate limit for one kind of line: at most LINES_PER_WINDOW_MAX per WINDOW_MS. */
export class LineBudget {
  private windowStartUs = Number.MIN_SAFE_INTEGER;
  private used = 0;
  private suppressed = 0;
  private suppressedSinceStart = 0;

  constructor(
    private readonly env: Environment,
    private readonly kind: string,
  ) {}

  /** Lines suppressed since start. */
  get suppressedTotal(): number {
    return this.suppressedSinceStart;
  }

  /**
   * Whether a line may be written now; when it may, `suppressedBefore` is the count suppressed in
   * the window before (to add to the line's fields). One warn line marks a window's first suppression.
   */
  take(): { readonly write: boolean; readonly suppressedBefore: number } {
    const nowUs = this.env.monotonic.nowUs();
    if (nowUs - this.windowStartUs >= WINDOW_MS * 1000) {
      const suppressedBefore = this.suppressed;
      this.windowStartUs = nowUs;
      this.used = 0;
      this.suppressed = 0;
      this.used += 1;
      return { write: true, suppressedBefore };
    }
    if (this.used < LINES_PER_WINDOW_MAX) {
      this.used += 1;
      return { write: true, suppressedBefore: 0 };
    }
    if (this.suppressed === 0) {
      this.env.log.warn({ kind: this.kind, linesMax: LINES_PER_WINDOW_MAX, windowMs: WINDOW_MS }, `more than ${LINES_PER_WINDOW_MAX} ${this.kind} lines in ${WINDOW_MS / 1000} s: the rest of this window is counted, not written`);
    }
    this.suppressed += 1;
    this.suppressedSinceStart += 1;
    assert(this.used === LINES_PER_WINDOW_MAX, "a budget suppresses only when spent");
    return { write: false, suppressedBefore: 0 };
  }
}

/** What the replica saw change in the core's soft state at a Ready boundary. */
export interface RoleChange {
  readonly previousRole: Role;
  readonly role: Role;
  readonly previousLeader: NodeId;
  readonly leader: NodeId;
  readonly term: number;
  /** The voters of the configuration the core campaigns in (the replica's applied one). */
  readonly voters: readonly NodeId[];
}

export class ReplicaLog {
  private readonly elections: LineBudget;
  private readonly snapshots: LineBudget;
  /** Votes heard for this node's campaign of term `votesTerm` (real votes, not pre-votes). */
  private votesTerm = 0;
  private votesGranted = 0;
  private votesRejected = 0;
  /** The last leader named in a "leader changed" line, and its term (0: none yet). */
  private loggedLeader = 0;
  private loggedLeaderTerm = 0;

  constructor(private readonly env: Environment) {
    this.elections = new LineBudget(env, "election");
    this.snapshots = new LineBudget(env, "snapshot");
  }

  get suppressedLines(): number {
    return this.elections.suppressedTotal + this.snapshots.suppressedTotal;
  }

  /** A message this node received: a vote for (or against) its own campaign is counted for the election lines. */
  heard(message: Message): void {
    if (message.type !== "vote-response" || message.preVote) return;
    if (message.term !== this.votesTerm) return;
    if (message.granted) this.votesGranted += 1;
    else this.votesRejected += 1;
  }

  roleChanged(change: RoleChange): void {
    const { previousRole, role, term } = change;
    const self = this.env.nodeId;
    if (role !== previousRole) {
      if (role === "candidate") {
        // A candidate votes for itself.
        this.votesTerm = term;
        this.votesGranted = 1;
        this.votesRejected = 0;
        this.line(this.elections, { term, voters: change.voters, votesNeeded: majority(change.voters.length) }, "election started: campaigning for leadership");
      } else if (role === "leader") {
        // A single voter (or a pre-vote that won with the real vote right after) may lead without a candidate Ready.
        const votes = this.votesTerm === term ? this.votesGranted : undefined;
        this.line(this.elections, { term, votesGranted: votes, votesNeeded: majority(change.voters.length), voters: change.voters }, "election won: this node leads");
      } else if (previousRole === "candidate") {
        this.line(this.elections, { term, votesGranted: this.votesTerm === term ? this.votesGranted : undefined, votesRejected: this.votesTerm === term ? this.votesRejected : undefined, leader: change.leader === 0 ? undefined : change.leader }, "election lost");
      } else if (role === "pre-candidate") {
        this.env.log.debug({ term }, "pre-vote campaign started");
      }
    }
    if (change.leader !== 0 && (change.leader !== this.loggedLeader || term !== this.loggedLeaderTerm)) {
      const previous = this.loggedLeader;
      this.loggedLeader = change.leader;
      this.loggedLeaderTerm = term;
      this.line(this.elections, { previousLeader: previous === 0 ? undefined : previous, leader: change.leader, term, self: change.leader === self ? true : undefined }, previous === change.leader ? `leader confirmed in a new term: node ${change.leader}` : `leader changed: node ${previous === 0 ? "none" : previous} -> node ${change.leader}`);
    } else if (change.leader === 0 && change.previousLeader !== 0) {
      this.env.log.debug({ previousLeader: change.previousLeader, term }, "leader lost");
    }
  }

  /**
   * A configuration change applied at `index`: one line per member added, promoted or removed,
   * and a warn line when this node was a member and is not any more. True when this change removed this node.
   */
  membershipApplied(index: number, before: ConfState, after: ConfState): boolean {
    const self = this.env.nodeId;
    const wasMember = isMember(before, self);
    for (const id of after.learners) {
      if (!before.learners.includes(id) && !before.voters.includes(id)) this.membership("added as a learner", id, index, after);
    }
    for (const id of after.voters) {
      if (before.learners.includes(id)) this.membership("promoted to voter", id, index, after);
      else if (!before.voters.includes(id)) this.membership("added as a voter", id, index, after);
    }
    for (const id of [...before.voters, ...before.learners]) {
      if (!isMember(after, id)) this.membership("removed", id, index, after);
    }
    const removed = wasMember && !isMember(after, self);
    if (removed) this.env.log.warn({ index, voters: after.voters, learners: after.learners }, `this node (${self}) was removed from the cluster at index ${index}: it serves no requests as a member; stop it, or add it again`);
    return removed;
  }

  /** This node is a member again after it was removed (added back). */
  memberAgain(index: number): void {
    this.env.log.info({ index }, `this node (${this.env.nodeId}) is a member of the cluster again (index ${index})`);
  }

  snapshotSent(to: NodeId, index: number, bytes: number): void {
    this.line(this.snapshots, { to, index, bytes }, `snapshot sent to node ${to}`);
  }

  snapshotInstalled(index: number, bytes: number, from: NodeId): void {
    this.line(this.snapshots, { index, bytes, from: from === 0 ? undefined : from }, "snapshot installed from the leader");
  }

  snapshotTaken(index: number, bytes: number): void {
    this.line(this.snapshots, { index, bytes }, "snapshot taken; the log before it is compacted");
  }

  private membership(what: string, nodeId: NodeId, index: number, after: ConfState): void {
    this.env.log.info({ change: what, member: nodeId, index, voters: after.voters, learners: after.learners }, `membership change applied: node ${nodeId} ${what}`);
  }

  private line(budget: LineBudget, fields: Record<string, unknown>, message: string): void {
    const { write, suppressedBefore } = budget.take();
    if (!write) return;
    this.env.log.info(suppressedBefore > 0 ? { ...fields, suppressed: suppressedBefore } : fields, message);
  }
}

function majority(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

export function isMember(confState: ConfState, id: NodeId): boolean {
  return confState.voters.includes(id) || confState.learners.includes(id);
}
