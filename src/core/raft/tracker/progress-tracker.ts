// What a leader knows of its followers and a candidate of its votes (etcd-io/raft's
// tracker/tracker.go): one Progress per other member, in ascending id order, and the quorum
// questions asked of them (which index a majority holds, whether a majority was heard from,
// how an election stands). The leader's own log is not a Progress: its durable index is handed
// in where it counts (`committedIndex`), because it moves only at advance().

import { assert } from "../../assert.ts";
import { hasQuorum, quorumIndex, voteOutcome, type VoteOutcome } from "../quorum.ts";
import type { NodeId } from "../types.ts";
import { Progress } from "./progress.ts";

/** Upper bound on tracked members (voters, learners and removed nodes not yet forgotten). */
const MAX_TRACKED_MEMBERS = 1 << 10;

export class ProgressTracker {
  /** One Progress per other member, keyed by id; iterated only through `list` (ascending id). */
  private byId = new Map<NodeId, Progress>();
  /** The tracked ids and their Progress as arrays, ascending by id, for loops that must not allocate iterators. */
  private idList: NodeId[] = [];
  private progressList: Progress[] = [];
  /** A node whose removal is not committed yet is still tracked (it must learn of its removal). */
  private tracksRemoved = false;
  /** Candidate and pre-candidate: answers received in this campaign (true = granted). */
  private readonly votes = new Map<NodeId, boolean>();
  /** Scratch for the voters' acknowledged indexes when counting a commit quorum. */
  private readonly quorumScratch: number[] = [];

  constructor(
    private readonly maxInflightMessages: number,
    private readonly maxInflightBytes: number,
  ) {
    assert(Number.isSafeInteger(maxInflightMessages) && maxInflightMessages > 0, "maxInflightMessages must be a positive integer");
    assert(maxInflightBytes > 0, "maxInflightBytes must be positive");
  }

  // ---------------------------------------------------------------- progress

  get(id: NodeId): Progress | undefined {
    return this.byId.get(id);
  }

  /** The tracked ids, ascending (do not mutate). */
  ids(): readonly NodeId[] {
    return this.idList;
  }

  /** The tracked Progress objects, in the order of `ids()` (do not mutate the array). */
  list(): readonly Progress[] {
    return this.progressList;
  }

  /** Whether a node whose removal is not committed yet is among the tracked ones. */
  hasRemoved(): boolean {
    return this.tracksRemoved;
  }

  /** Forgets every follower (a new role or term starts): a later rebuild starts from fresh Progress. */
  clear(): void {
    this.byId = new Map();
    this.idList = [];
    this.progressList = [];
  }

  /**
   * Exactly one Progress per member of `members` (ascending, without the leader itself); existing
   * ones are kept, new ones start probing at `nextIndex`. `hasRemoved`: one of them is a node whose
   * removal is not committed yet.
   */
  rebuild(members: readonly NodeId[], nextIndex: number, hasRemoved: boolean): void {
    assert(members.length <= MAX_TRACKED_MEMBERS, "more tracked members than MAX_TRACKED_MEMBERS");
    for (let i = 1; i < members.length; i += 1) assert(members[i - 1]! < members[i]!, "tracked members must be ascending and distinct");
    const rebuilt = new Map<NodeId, Progress>();
    const list: Progress[] = [];
    for (const id of members) {
      const progress = this.byId.get(id) ?? new Progress(nextIndex, this.maxInflightMessages, this.maxInflightBytes);
      rebuilt.set(id, progress);
      list.push(progress);
    }
    this.byId = rebuilt;
    this.idList = [...members];
    this.progressList = list;
    this.tracksRemoved = hasRemoved;
  }

  /**
   * The largest index a majority of `voters` holds durably: `selfIndex` for `selfId` (the leader's
   * durable log), each follower's match, 0 for a voter not tracked.
   */
  committedIndex(voters: readonly NodeId[], selfId: NodeId, selfIndex: number): number {
    // The voters' acknowledged indexes into a reused scratch array: no closure, no allocation.
    const indexes = this.quorumScratch;
    for (let i = 0; i < voters.length; i += 1) {
      const id = voters[i]!;
      indexes[i] = id === selfId ? selfIndex : (this.byId.get(id)?.match ?? 0);
    }
    return quorumIndex(indexes, voters.length);
  }

  /** Whether a majority of `voters` (`selfId` counts as active) was heard from since the last reset. */
  quorumActive(voters: readonly NodeId[], selfId: NodeId): boolean {
    return hasQuorum(voters, (id) => id === selfId || this.byId.get(id)?.recentActive === true);
  }

  /** A CheckQuorum round ended: everyone must be heard from again in the next. */
  resetRecentActive(): void {
    const list = this.progressList;
    for (let i = 0; i < list.length; i += 1) list[i]!.recentActive = false;
  }

  /**
   * One leader tick for followers waiting on a snapshot: a snapshot travels without an
   * acknowledgement channel, so one not answered within `timeoutTicks` is taken as lost and the
   * follower is probed again (which resends it if still needed).
   */
  tickSnapshots(timeoutTicks: number): void {
    assert(Number.isSafeInteger(timeoutTicks) && timeoutTicks > 0, "snapshot timeout must be a positive number of ticks");
    const list = this.progressList;
    for (let i = 0; i < list.length; i += 1) {
      const progress = list[i]!;
      if (progress.state !== "snapshot") continue;
      progress.snapshotElapsedTicks += 1;
      if (progress.snapshotElapsedTicks >= timeoutTicks) progress.becomeProbe();
    }
  }

  /** Ticks until tickSnapshots(timeoutTicks) gives up on some snapshot (>= 1), or Infinity when none is on its way. */
  ticksUntilSnapshotTimeout(timeoutTicks: number): number {
    let due = Infinity;
    const list = this.progressList;
    for (let i = 0; i < list.length; i += 1) {
      const progress = list[i]!;
      if (progress.state === "snapshot") due = Math.min(due, Math.max(1, timeoutTicks - progress.snapshotElapsedTicks));
    }
    return due;
  }

  /** `ticks` calls of tickSnapshots that give up on no snapshot (fewer than ticksUntilSnapshotTimeout). */
  skipSnapshotTicks(ticks: number): void {
    const list = this.progressList;
    for (let i = 0; i < list.length; i += 1) if (list[i]!.state === "snapshot") list[i]!.snapshotElapsedTicks += ticks;
  }

  /** The tracked voter with the highest match (lowest id on ties), or id 0 when none is tracked. */
  mostUpToDateVoter(isVoter: (id: NodeId) => boolean): { readonly id: NodeId; readonly match: number } {
    let id: NodeId = 0;
    let match = -1;
    const ids = this.idList;
    for (let i = 0; i < ids.length; i += 1) {
      const progress = this.progressList[i]!;
      if (isVoter(ids[i]!) && progress.match > match) {
        id = ids[i]!;
        match = progress.match;
      }
    }
    return { id, match };
  }

  // ---------------------------------------------------------------- votes

  recordVote(id: NodeId, granted: boolean): void {
    this.votes.set(id, granted);
  }

  resetVotes(): void {
    this.votes.clear();
  }

  /** How the election stands among `voters` with the answers recorded so far. */
  tallyVotes(voters: readonly NodeId[]): VoteOutcome {
    return voteOutcome(voters, this.votes);
  }

  // ---------------------------------------------------------------- invariants

  /** Every Progress agrees with a leader log ending at `lastIndex`. */
  checkInvariants(lastIndex: number): void {
    const list = this.progressList;
    assert(list.length === this.byId.size && list.length === this.idList.length, "progress list and map disagree");
    for (let i = 0; i < list.length; i += 1) {
      const progress = list[i]!;
      assert(progress.match <= progress.next - 1, "progress match must be below next");
      assert(progress.next <= lastIndex + 1, "progress next beyond the leader's log");
    }
  }
}
