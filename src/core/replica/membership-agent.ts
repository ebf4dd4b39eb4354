// A node's background membership work, as deterministic core code on the Environment's timers
// and randomness (it was the runtime's setTimeout loop with Math.random and HTTP calls):
//   joining       a node started with --join asks a member (through the request path's
//                 submitTo: that member forwards to its leader) to record its addresses and add
//                 it as a learner, retrying with jittered backoff until it is a member;
//   announcing    a member makes sure the replicated address book holds its current peer and
//                 API addresses (add-learner with addressesOnly, through the request path, so a
//                 follower forwards it), more often while the record is missing or stale;
//   snapshots     a leader with learners that never compacted takes a snapshot, so a joining
//                 node has one to install (snapshot-for-joiners.ts).
// One request at a time: the next round is scheduled when the current one's outcome is known
// (or at once when it sent nothing), so the agent never has more than one request in flight.
// Asking a join endpoint for the cluster id, which must happen before storage exists, stays
// in the shell (src/shell/node/runtime.ts).

import { assert } from "../assert.ts";
import type { Environment, TimerHandle } from "../env/environment.ts";
import type { NodeId } from "../raft/types.ts";
import { decodeMemberAddresses, memberKey, type MemberAddresses } from "./address-book.ts";
import type { AppliedReader, RequestPath } from "./request-path.ts";
import type { NodeReplica } from "./node-process.ts";
import type { RequestOutcome } from "./request-types.ts";
import { ensureSnapshotForJoiners } from "./snapshot-for-joiners.ts";

export interface MembershipAgentOptions {
  /** The addresses this node announces (the API's is known once its listener is bound). */
  readonly addresses: MemberAddresses;
  /** Join through this member (its node id; the shell learned it with the cluster id), or undefined for a bootstrap member. */
  readonly joinVia: NodeId | undefined;
  /** How often a member re-checks its address record once it is right. */
  readonly announceIntervalMs: number;
  /** ... and while it is missing or stale (followers forward to the leader by these addresses). */
  readonly announcePendingIntervalMs: number;
  /** A failed join is retried after joinRetryMinMs plus a uniform jitter below joinRetryJitterMs. */
  readonly joinRetryMinMs: number;
  readonly joinRetryJitterMs: number;
}

export const defaultMembershipAgentTiming = {
  announceIntervalMs: 1_000,
  announcePendingIntervalMs: 200,
  joinRetryMinMs: 250,
  joinRetryJitterMs: 250,
} as const;

export interface MembershipAgentStats {
  joinAttempts: number;
  announcements: number;
  snapshotsRequested: number;
}

export class MembershipAgent {
  readonly stats: MembershipAgentStats = { joinAttempts: 0, announcements: 0, snapshotsRequested: 0 };
  private timer: TimerHandle | undefined;
  private inFlight = false;
  private stopped = false;
  private joined: boolean;

  constructor(
    private readonly env: Environment,
    private readonly replica: NodeReplica,
    private readonly path: RequestPath,
    private readonly machine: AppliedReader,
    private readonly options: MembershipAgentOptions,
  ) {
    assert(options.announceIntervalMs > 0 && options.announcePendingIntervalMs > 0, "announce intervals must be positive");
    assert(options.joinRetryMinMs > 0 && options.joinRetryJitterMs > 0, "join retry delays must be positive");
    assert(options.addresses.peer !== "", "a node announces a peer address");
    assert(options.joinVia !== env.nodeId, "a node does not join through itself");
    this.joined = options.joinVia === undefined;
  }

  get isJoined(): boolean {
    return this.joined;
  }

  start(): void {
    assert(this.timer === undefined && !this.stopped, "membership agent started twice");
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.env.timers.cancel(this.timer);
    this.timer = undefined;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    assert(this.timer === undefined, "two membership rounds scheduled");
    this.timer = this.env.timers.after(delayMs, this.onTimer);
  }

  /** The round timer's callback: one function for the agent's life. */
  private readonly onTimer = (): void => {
    this.timer = undefined;
    if (this.stopped || this.replica.isStopped) return;
    assert(!this.inFlight, "a membership round started while a request is in flight");
    if (!this.joined && this.isMember()) this.joined = true; // restarted after joining, or added by an operator
    if (!this.joined) return this.join();
    if (this.replica.status().raft.confState.learners.length > 0 && ensureSnapshotForJoiners(this.replica, this.env.nodeId)) {
      this.stats.snapshotsRequested += 1;
    }
    this.announce();
  };

  private join(): void {
    const via = this.options.joinVia;
    assert(via !== undefined, "joining without a member to join through");
    this.stats.joinAttempts += 1;
    this.inFlight = true;
    const { peer, api } = this.options.addresses;
    this.path.submitTo(via, { kind: "add-learner", nodeId: this.env.nodeId, peer, api, addressesOnly: false }, (outcome) => {
      this.inFlight = false;
      if (outcome.status === "ok") {
        this.joined = true;
        this.env.log.info({ via }, "joined the cluster as a learner");
        return this.schedule(0);
      }
      // add-learner is idempotent: after an unknown outcome, asking again is safe.
      this.env.log.debug({ via, outcome: describe(outcome) }, "join attempt failed; retrying");
      this.schedule(this.options.joinRetryMinMs + this.env.random.intBelow(this.options.joinRetryJitterMs));
    });
  }

  /** Writes this node's addresses into the book when they are missing or stale (members only, once a leader is known). */
  private announce(): void {
    const core = this.replica.core;
    if (!this.isMember() || core.currentLeader() === 0 || this.recordIsCurrent()) return this.scheduleCheck();
    this.stats.announcements += 1;
    this.inFlight = true;
    const { peer, api } = this.options.addresses;
    this.path.submit({ kind: "add-learner", nodeId: this.env.nodeId, peer, api, addressesOnly: true }, (outcome) => {
      this.inFlight = false;
      if (outcome.status !== "ok") this.env.log.debug({ outcome: describe(outcome) }, "announcing addresses did not commit yet");
      this.scheduleCheck();
    });
  }

  private scheduleCheck(): void {
    this.schedule(this.recordIsCurrent() ? this.options.announceIntervalMs : this.options.announcePendingIntervalMs);
  }

  private recordIsCurrent(): boolean {
    const stored = decodeMemberAddresses(this.machine.value(memberKey(this.env.nodeId)));
    return stored !== undefined && stored.peer === this.options.addresses.peer && stored.api === this.options.addresses.api;
  }

  private isMember(): boolean {
    const confState = this.replica.status().raft.confState;
    return confState.voters.includes(this.env.nodeId) || confState.learners.includes(this.env.nodeId);
  }
}

function describe(outcome: RequestOutcome): string {
  return outcome.status === "ok" ? "ok" : `${outcome.status} ${outcome.reason}: ${outcome.detail}`;
}
