// The one request path: a client request (kv reads and writes, membership and leadership
// administration) becomes a proposal or a ReadIndex read on the local replica, or is
// forwarded to the leader over the transport's client channel, and EVERY outcome is
// mapped to exactly one of ok, not-applied (certainly no effect) or unknown
// (src/core/replica/request-types.ts). The real node's Connect services, the membership
// agent and the simulator's clients all go through this class, so the simulator checks
// histories against the production mapping.
//
// Forwarding. A node that does not lead sends a request it received from a client (hops 0)
// to the leader it knows, marked hops 1; a node that receives a forwarded request and does
// not lead answers not-applied "not-leader" with its leader hint (never forwards twice).
// The rule that makes forwarding safe for the history checker:
//   - a forward that certainly never left (no leader known, Transport.send returned false,
//     too many forwards pending) is not-applied;
//   - once the bytes may have left, only the leader's answer can say "not applied": a lost
//     connection, a crashed leader or a missing answer at the deadline is UNKNOWN.
//
// Deadlines. Forwards wait in send order on one deadline sweep (deadline-sweep.ts): one timer,
// armed for the oldest one's deadline only while forwards wait, expires those past it: no
// timer per request.
//
// Everything is bounded: forwards pending (forwardsPendingMax), frame sizes (the codec),
// and requests served for peers by the replica's own maxPendingRequests.

import { assert, unreachable } from "../assert.ts";
import type { EndpointId, Environment, ReceiveVerdict } from "../env/environment.ts";
import type { ConfState, NodeId } from "../raft/types.ts";
import { CLIENT_FRAME_BYTES_MAX, decodeClientFrame, encodeClientFrame, HOPS_MAX, ORIGIN_MAX } from "../wire/client-codec.ts";
import { DeadlineSweep } from "./deadline-sweep.ts";
import { decodeMemberAddresses, encodeMemberAddresses, memberKey, type MemberAddresses } from "./address-book.ts";
import { encodeKvCommand, KV_DELETE_PREFIX_KEYS_MAX, type KvEntry, type KvListPage, type KvListQuery } from "./kv-state-machine.ts";
import { isReadOp, type KvTxnOp, type KvTxnOpResult } from "./kv-txn.ts";
import { answerClusterRead } from "../cluster/cluster-read.ts";
import type { ClusterView } from "../cluster/types.ts";
import { DEFAULT_SCHEDULER_OPTIONS, type SchedulerOptions } from "../scheduler/scheduler-types.ts";
import { CLUSTER_QUERY, encodeClusterCommand, type NodeQuery, type NodeQueryResult, type NodeResult } from "./node-state-machine.ts";
import { encodeTokenRecord, TOKEN_KEY_PREFIX, tokenKey } from "./token-book.ts";
import type { CommandOutcome, Replica, ReplicaRefusal } from "./replica.ts";
import {
  needsLeader,
  notApplied,
  okOutcome,
  resultKindFor,
  unknownOutcome,
  validateRequest,
  writesLog,
  KV_LIST_PAGE_BYTES_MAX,
  type ClientRequest,
  type RequestOutcome,
  type RequestResult,
} from "./request-types.ts";
import { ensureSnapshotForJoiners } from "./snapshot-for-joiners.ts";

/** Planted bugs of the request path (test harness only, docs/PLANTED-BUGS.md). */
export type RequestPathPlantedBug =
  /** A forward that may have left but got no answer (lost, leader crashed) is reported as certainly not applied. */
  | "forward-error-as-not-applied"
  /**
   * A transaction of reads only is answered at once from this node's applied state, as if it were a
   * get-local (an "optimization": no log entry, no ReadIndex): a follower or a deposed leader answers
   * from the past. Only the transactions' isolation check (Transaction Isolation) sees it.
   */
  | "read-only-txn-served-locally"
  /** A linearizable get is answered from this node's applied state, like get-local, without a read point (no ReadIndex round). */
  | "get-without-read-index";

export interface RequestPathOptions {
  /** A forward without an answer after this long is unknown: longer than the leader's own request timeout. */
  readonly forwardTimeoutMs: number;
  /** Forwards waiting for an answer at once; more are not-applied "overloaded". */
  readonly forwardsPendingMax: number;
  /** How often the deadline sweep runs while forwards wait. */
  readonly sweepIntervalMs: number;
  readonly plantedBugs?: ReadonlySet<RequestPathPlantedBug>;
  /** A put or cas acknowledged ok by this node (the simulator's durability check). */
  readonly onAcknowledged?: (index: number) => void;
  /** How a plan read (cluster-read "plan") schedules: the cluster's scheduler settings. */
  readonly scheduler?: SchedulerOptions;
}

export const defaultRequestPathOptions: RequestPathOptions = {
  forwardTimeoutMs: 6_000,
  forwardsPendingMax: 10_000,
  sweepIntervalMs: 100,
};

export interface RequestPathStats {
  servedLocally: number;
  forwarded: number;
  forwardsNotSent: number;
  forwardsTimedOut: number;
  /** Requests received on the client channel (from clients or forwarding nodes). */
  received: number;
  /** Answers to requests received on the channel that the transport refused to send. */
  answersNotSent: number;
  /** Outcomes that arrived for no pending forward (late, or for a previous incarnation). */
  lateOutcomes: number;
  malformed: number;
}

interface PendingForward {
  readonly id: number;
  readonly to: NodeId;
  readonly request: ClientRequest;
  readonly done: (outcome: RequestOutcome) => void;
}

type NodeReplica = Replica<NodeResult, NodeQuery, NodeQueryResult>;

/** What the path reads of the applied state: a key's value ("" when absent), its entry, a page of keys, and the cluster state. */
export interface AppliedReader {
  value(key: string): string;
  entry(key: string): KvEntry | undefined;
  list(query: KvListQuery): KvListPage;
  readonly cluster: ClusterView;
}

export class RequestPath {
  readonly stats: RequestPathStats = {
    servedLocally: 0,
    forwarded: 0,
    forwardsNotSent: 0,
    forwardsTimedOut: 0,
    received: 0,
    answersNotSent: 0,
    lateOutcomes: 0,
    malformed: 0,
  };
  private readonly options: RequestPathOptions;
  private readonly bugs: ReadonlySet<RequestPathPlantedBug>;
  /** This incarnation's word in every frame it sends: answers to another incarnation's requests are ignored. */
  private readonly origin: number;
  private nextRequestId = 1;
  /** Keyed by request id. */
  private readonly forwards = new Map<number, PendingForward>();
  /** The waiting forwards' deadlines, no sooner than sweepIntervalMs apart, so expiries batch. */
  private readonly deadlines: DeadlineSweep<PendingForward>;
  private stopped = false;

  constructor(
    private readonly env: Environment,
    private readonly replica: NodeReplica,
    private readonly machine: AppliedReader,
    options: RequestPathOptions = defaultRequestPathOptions,
  ) {
    assert(options.forwardTimeoutMs > 0 && options.sweepIntervalMs > 0, "request path timeouts must be positive");
    assert(options.forwardsPendingMax > 0, "request path limits must be positive");
    assert(Number.isSafeInteger(options.forwardTimeoutMs * 1000), "the forward timeout must be a whole number of microseconds");
    this.options = options;
    this.bugs = options.plantedBugs ?? new Set();
    this.origin = env.random.intBelow(ORIGIN_MAX + 1);
    this.deadlines = new DeadlineSweep<PendingForward>(env, { minDelayMs: options.sweepIntervalMs, entriesMax: options.forwardsPendingMax, expired: this.onForwardDeadline });
    env.transport.receive("client", this.onBytes);
  }

  get forwardsPending(): number {
    return this.forwards.size;
  }

  /**
   * Serves a request from a client of this node (a Connect handler, the membership agent):
   * locally, or forwarded to the leader. `done` is called exactly once; before submit returns
   * when the outcome is known at once (a refusal, a serializable read).
   */
  submit(request: ClientRequest, done: (outcome: RequestOutcome) => void): void {
    this.route(request, 0, this.checked(request, done));
  }

  /**
   * Sends a request to one node as its client would (hops 0: that node serves it or forwards it
   * to its leader). For a node that is not a member yet and knows no leader: joining through a
   * member. The same rules as a forward: not-applied only when it certainly never left.
   */
  submitTo(to: NodeId, request: ClientRequest, done: (outcome: RequestOutcome) => void): void {
    assert(to !== this.env.nodeId, "submitTo is for another node; use submit");
    const checkedDone = this.checked(request, done);
    if (this.stopped || this.replica.isStopped) return checkedDone(notApplied("stopped", 0, "node is shutting down"));
    const invalid = validateRequest(request);
    if (invalid !== undefined) return checkedDone(notApplied("invalid", 0, invalid));
    this.forward(to, request, checkedDone, 0);
  }

  /** Stops for good: waiting forwards become unknown (they may have left), new requests are not-applied "stopped". */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.deadlines.stop();
    for (const [id, forward] of this.forwards) {
      this.forwards.delete(id);
      forward.done(this.lostForward(forward, "stopped", `node ${this.env.nodeId} stopped before node ${forward.to} answered the forwarded request`));
    }
  }

  // ---- routing -------------------------------------------------------------------------

  private route(request: ClientRequest, hops: number, done: (outcome: RequestOutcome) => void): void {
    if (this.stopped || this.replica.isStopped) return done(notApplied("stopped", 0, "node is shutting down"));
    const invalid = validateRequest(request);
    if (invalid !== undefined) return done(notApplied("invalid", 0, invalid));
    // A removed node still knows its old leader and its old state: it must not serve (or forward)
    // as if it were a member. Its client is told to go to a member (docs/OPERATIONS.md, "A removed node").
    const removedAt = this.replica.removedAtIndex();
    if (removedAt !== 0) return done(notApplied("removed", 0, `this node (${this.env.nodeId}) was removed from the cluster at index ${removedAt}; contact a member`));
    // A node whose disk is full refuses writes before forwarding them: its client learns which disk, at once.
    const diskFull = writesLog(request) ? this.replica.diskFullAlarm() : undefined;
    if (diskFull !== undefined) return done(notApplied("disk-full", this.replica.core.currentLeader(), diskFull.message));
    const core = this.replica.core;
    if (this.bugs.has("read-only-txn-served-locally") && request.kind === "txn" && request.txn.compares.length === 0 && request.txn.success.every(isReadOp)) {
      return done(okOutcome(this.localTxnReads(request.txn.success), this.env.nodeId));
    }
    if (!needsLeader(request) || core.currentRole() === "leader") return this.serveLocally(request, done);
    const leaderId = core.currentLeader();
    if (hops >= HOPS_MAX) return done(notApplied("not-leader", leaderId, `not the leader${leaderId !== 0 ? `: node ${leaderId} leads` : ""}`));
    if (leaderId === 0 || leaderId === this.env.nodeId) return done(notApplied("no-leader", 0, "no leader is known (election in progress?); retry shortly"));
    this.forward(leaderId, request, done);
  }

  /** The planted bug's answer: the reads of a transaction from this node's applied state, now. */
  private localTxnReads(ops: readonly KvTxnOp[]): RequestResult {
    assert(ops.length > 0 && ops.every(isReadOp), "local transaction reads of a transaction that writes");
    const index = this.replica.core.appliedIndex();
    const results = ops.map((op): KvTxnOpResult => {
      const entry = this.machine.entry(op.key);
      if (op.op === "read-list") return { op: "read-list", found: entry?.list !== undefined, list: entry?.list ?? [] };
      // As the state machine answers a txn's get: a key holding a list is found with value "".
      if (entry === undefined) return { op: "get", found: false, value: "", createRevision: 0, modRevision: 0, version: 0 };
      return { op: "get", found: true, value: entry.list === undefined ? entry.value : "", createRevision: entry.createRevision, modRevision: entry.modRevision, version: entry.version };
    });
    assert(results.length === ops.length, "one result per read");
    return { kind: "txn", succeeded: true, results, index };
  }

  private forward(to: NodeId, request: ClientRequest, done: (outcome: RequestOutcome) => void, hops: number = HOPS_MAX): void {
    if (this.forwards.size >= this.options.forwardsPendingMax) {
      return done(notApplied("overloaded", to, `too many forwarded requests in flight (limit ${this.options.forwardsPendingMax}); retry later`));
    }
    const requestId = this.nextRequestId++;
    const bytes = encodeClientFrame({ kind: "request", origin: this.origin, requestId, hops, request });
    if (!this.env.transport.send("client", to, bytes)) {
      // Certainly never left: no route to the leader (its address is not known yet), or its queue is full.
      this.stats.forwardsNotSent += 1;
      this.env.reached("request-path/forward-not-sent");
      return done(notApplied("forward-not-sent", to, `the request could not be sent to node ${to} (address not known yet, or its queue is full); retry`));
    }
    this.stats.forwarded += 1;
    const forward: PendingForward = { id: requestId, to, request, done };
    this.forwards.set(requestId, forward);
    this.deadlines.add(forward, this.env.monotonic.nowUs() + this.options.forwardTimeoutMs * 1000);
  }

  /** The outcome of a forward that may have left but got no answer: unknown (or, planted bug, not-applied). */
  private lostForward(forward: PendingForward, reason: "timeout" | "stopped", detail: string): RequestOutcome {
    if (this.bugs.has("forward-error-as-not-applied")) return notApplied("forward-not-sent", forward.to, detail);
    this.env.reached("request-path/forward-outcome-unknown");
    return unknownOutcome(reason, `${detail}: it may or may not have been applied`);
  }

  /** The deadline sweep's callback for a forward with no answer by its deadline. */
  private readonly onForwardDeadline = (forward: PendingForward): void => {
    assert(this.forwards.get(forward.id) === forward, () => `forward ${forward.id} expired but is not waiting`);
    this.forwards.delete(forward.id);
    this.stats.forwardsTimedOut += 1;
    forward.done(this.lostForward(forward, "timeout", `node ${forward.to} did not answer the forwarded request within ${this.options.forwardTimeoutMs} ms`));
  };

  // ---- the client channel ----------------------------------------------------------------

  /** The client channel's receiver: requests from clients and forwarding nodes, outcomes of our forwards. */
  private readonly onBytes = (from: EndpointId, bytes: Uint8Array): ReceiveVerdict => {
    if (this.stopped) return "ok";
    const decoded = decodeClientFrame(bytes, CLIENT_FRAME_BYTES_MAX);
    if (!decoded.ok) return this.malformed(from, decoded.error);
    const frame = decoded.frame;
    if (frame.kind === "request") {
      this.stats.received += 1;
      const { origin, requestId } = frame;
      this.route(frame.request, frame.hops, this.checked(frame.request, (outcome) => this.answer(from, origin, requestId, outcome)));
      return "ok";
    }
    const forward = frame.origin === this.origin ? this.forwards.get(frame.requestId) : undefined;
    if (forward === undefined) {
      this.stats.lateOutcomes += 1; // we gave up on it (deadline, restart): its outcome was already reported
      return "ok";
    }
    if (forward.to !== from) return this.malformed(from, `an outcome for a request forwarded to node ${forward.to}`);
    const outcome = frame.outcome;
    if (outcome.status === "ok" && outcome.result.kind !== resultKindFor(forward.request.kind)) {
      return this.malformed(from, `a ${outcome.result.kind} result for a ${forward.request.kind} request`);
    }
    this.forwards.delete(frame.requestId);
    this.deadlines.remove(forward);
    forward.done(outcome);
    return "ok";
  };

  private answer(to: EndpointId, origin: number, requestId: number, outcome: RequestOutcome): void {
    if (this.stopped) return; // a stopping node says nothing more; the requester's deadline makes it unknown
    const bytes = encodeClientFrame({ kind: "outcome", origin, requestId, outcome });
    if (!this.env.transport.send("client", to, bytes)) this.stats.answersNotSent += 1;
  }

  private malformed(from: EndpointId, error: string): ReceiveVerdict {
    this.stats.malformed += 1;
    this.env.log.warn({ from, error }, "malformed client frame dropped");
    return "malformed";
  }

  // ---- serving on this node ------------------------------------------------------------

  private serveLocally(request: ClientRequest, done: (outcome: RequestOutcome) => void): void {
    this.stats.servedLocally += 1;
    const replica = this.replica;
    switch (request.kind) {
      case "get-local":
        return done(okOutcome(getResult(this.machine.entry(request.key), replica.core.appliedIndex()), this.env.nodeId));
      case "get":
        if (this.bugs.has("get-without-read-index")) return done(okOutcome(getResult(this.machine.entry(request.key), replica.core.appliedIndex()), this.env.nodeId));
        return replica.read({ key: request.key }, (outcome) => {
          if (outcome.status !== "ok") return done(this.refused(outcome.refusal));
          assert(typeof outcome.result === "string", "a key-value read answers a string");
          // Read inside the callback: the applied state at the read point (the query's value is the same key's).
          const entry = this.machine.entry(request.key);
          assert((entry?.value ?? "") === outcome.result, "the entry read in the callback is the one the query read");
          done(okOutcome(getResult(entry, outcome.index), this.env.nodeId));
        });
      case "list":
        // A ReadIndex read whose query answer is unused: the page is read in the callback, at the read point.
        return replica.read({ key: LIST_READ_POINT_KEY }, (outcome) => {
          if (outcome.status !== "ok") return done(this.refused(outcome.refusal));
          const page = this.machine.list({
            prefix: request.prefix,
            startAfter: request.startAfter,
            limit: request.limit,
            keysOnly: request.keysOnly,
            bytesMax: KV_LIST_PAGE_BYTES_MAX,
            hidden: isTokenKey,
          });
          done(okOutcome({ kind: "list", entries: page.entries, more: page.more, index: outcome.index }, this.env.nodeId));
        });
      case "read-list":
        return replica.read({ key: request.key }, (outcome) => {
          if (outcome.status !== "ok") return done(this.refused(outcome.refusal));
          // Read inside the callback: the applied state at the read point.
          done(okOutcome(readListResult(this.machine.entry(request.key), outcome.index), this.env.nodeId));
        });
      case "append":
        return replica.submit(encodeKvCommand({ op: "append", key: request.key, value: request.value }), (outcome) => done(this.kvOutcome(outcome)));
      case "txn":
        return replica.submit(encodeKvCommand({ op: "txn", key: "", txn: request.txn }), (outcome) => done(this.kvOutcome(outcome)));
      case "create":
        return replica.submit(encodeKvCommand({ op: "create", key: request.key, value: request.value }), (outcome) => done(this.kvOutcome(outcome)));
      case "delete":
        return replica.submit(
          encodeKvCommand(request.prefix ? { op: "delete-prefix", key: request.key, keysMax: KV_DELETE_PREFIX_KEYS_MAX } : { op: "delete", key: request.key }),
          (outcome) => done(this.kvOutcome(outcome)),
        );
      case "cluster":
        return replica.submit(encodeClusterCommand(request.envelope), (outcome) => done(this.clusterOutcome(outcome)));
      case "cluster-read":
        return replica.read(CLUSTER_QUERY, (outcome) => {
          if (outcome.status !== "ok") return done(this.refused(outcome.refusal));
          assert(typeof outcome.result !== "string", "a cluster read answers the cluster state");
          // Read inside the callback: the state at (or after) the read point, which is what linearizability asks.
          const answer = answerClusterRead(outcome.result, request.read, this.options.scheduler ?? DEFAULT_SCHEDULER_OPTIONS);
          done(okOutcome({ kind: "cluster-read", index: outcome.index, answer }, this.env.nodeId));
        });
      case "put":
        return replica.submit(encodeKvCommand({ op: "put", key: request.key, value: request.value }), (outcome) => done(this.kvOutcome(outcome)));
      case "cas":
        return replica.submit(encodeKvCommand({ op: "cas", key: request.key, expected: request.expected, value: request.value }), (outcome) => done(this.kvOutcome(outcome)));
      case "promote":
      case "remove":
        return replica.changeMembership({ type: request.kind, nodeId: request.nodeId }, (outcome) => done(this.membershipOutcome(outcome)));
      case "add-learner":
        return this.addLearner(request, done);
      case "token-create":
        return this.createToken(request, done);
      case "token-revoke":
        return this.revokeToken(request, done);
      case "transfer-leader": {
        if (request.targetId === this.env.nodeId) return done(okOutcome({ kind: "transfer", leaderId: this.env.nodeId }, this.env.nodeId));
        // Said in the operator's words: leadership goes only to a voter (Raft calls it a conf-change refusal).
        const { voters, learners } = this.replica.status().raft.confState;
        if (!voters.includes(request.targetId) && !learners.includes(request.targetId)) {
          return done(notApplied("not-a-member", replica.core.currentLeader(), `cannot transfer leadership to node ${request.targetId}: it is not a member of the cluster (voters: ${voters.join(", ")})`));
        }
        if (!voters.includes(request.targetId)) {
          return done(notApplied("invalid-conf-change", replica.core.currentLeader(), `cannot transfer leadership to node ${request.targetId}: it is not a voter (voters: ${voters.join(", ")})`));
        }
        return replica.transferLeadership(request.targetId, (outcome) => {
          if (outcome.status === "ok") done(okOutcome({ kind: "transfer", leaderId: outcome.leaderId }, this.env.nodeId));
          else done(this.refused(outcome.refusal));
        });
      }
      default:
        return unreachable(request, "client request");
    }
  }

  /**
   * Records the node's addresses (when missing or different), then adds it as a learner (when
   * not a member and not addressesOnly). The address record is idempotent: when the first step
   * applied and the second was refused, the outcome is the second's, and a retry is safe.
   */
  private addLearner(request: Extract<ClientRequest, { kind: "add-learner" }>, done: (outcome: RequestOutcome) => void): void {
    const stored = decodeMemberAddresses(this.machine.value(memberKey(request.nodeId)));
    // An empty API address keeps the one on record: the node announces its own once it runs.
    const wanted: MemberAddresses = { peer: request.peer, api: request.api !== "" ? request.api : (stored?.api ?? "") };
    const isMember = (): boolean => {
      const confState = this.replica.status().raft.confState;
      return confState.voters.includes(request.nodeId) || confState.learners.includes(request.nodeId);
    };
    const unchanged = stored !== undefined && stored.peer === wanted.peer && stored.api === wanted.api;
    // Adding a node never rewrites a member's addresses (a retried join with the same ones is fine):
    // changing them is the explicit address update (addressesOnly), which only an admin may send.
    if (!request.addressesOnly && !unchanged && isMember()) {
      const onRecord = stored === undefined ? "no address record yet" : `peer ${stored.peer}, api ${stored.api === "" ? "(none)" : stored.api}`;
      return done(
        notApplied(
          "invalid-conf-change",
          this.replica.core.currentLeader(),
          `node ${request.nodeId} is already a member (${onRecord}): add-learner does not rewrite a member's addresses; to change them use the address update (blixard cluster add-learner --update-addresses, admin only)`,
        ),
      );
    }
    const thenAdd = (index: number): void => {
      const confState = this.replica.status().raft.confState;
      if (request.addressesOnly || isMember()) return done(okOutcome({ kind: "membership", index, confState }, this.env.nodeId));
      this.replica.changeMembership({ type: "add-learner", nodeId: request.nodeId }, (outcome) => {
        if (outcome.status === "ok") ensureSnapshotForJoiners(this.replica, this.env.nodeId);
        done(this.membershipOutcome(outcome));
      });
    };
    if (unchanged) return thenAdd(0);
    this.replica.submit(encodeKvCommand({ op: "put", key: memberKey(request.nodeId), value: encodeMemberAddresses(wanted) }), (outcome) => {
      const mapped = this.kvOutcome(outcome);
      if (mapped.status !== "ok") return done(mapped);
      assert(mapped.result.kind === "put", "an address record is a put");
      thenAdd(mapped.result.index);
    });
  }

  private clusterOutcome(outcome: CommandOutcome<NodeResult>): RequestOutcome {
    if (outcome.status !== "ok") return outcome.status === "rejected" ? this.refused(outcome.refusal) : this.unknownCommand(outcome.reason);
    const result = outcome.result;
    assert(result.op === "cluster", "a cluster command's result is the cluster state's");
    // Applied: ok, whether the state machine took it or refused it (a refusal is its deterministic verdict, with no effect).
    return okOutcome({ kind: "cluster", index: outcome.index, result: result.result }, this.env.nodeId);
  }

  /**
   * Writes a token record (compare-and-set from absent, so a record is never overwritten). A retry
   * of the same record after an unknown outcome finds it in place: ok with index 0.
   */
  private createToken(request: Extract<ClientRequest, { kind: "token-create" }>, done: (outcome: RequestOutcome) => void): void {
    const key = tokenKey(request.record.id);
    const wanted = encodeTokenRecord(request.record);
    const stored = this.machine.value(key);
    if (stored === wanted) return done(okOutcome({ kind: "put", index: 0 }, this.env.nodeId));
    if (stored !== "") return done(notApplied("invalid", 0, `a token with id ${request.record.id} exists already`));
    this.replica.submit(encodeKvCommand({ op: "cas", key, expected: "", value: wanted }), (outcome) => done(this.tokenWriteOutcome(outcome, key, wanted)));
  }

  /**
   * Deletes a token's record. Revoking an unknown or revoked id is ok with index 0 (a record
   * revoked before deletes existed was emptied: "" is revoked too, and a delete removes it).
   */
  private revokeToken(request: Extract<ClientRequest, { kind: "token-revoke" }>, done: (outcome: RequestOutcome) => void): void {
    const key = tokenKey(request.id);
    if (this.machine.entry(key) === undefined) return done(okOutcome({ kind: "put", index: 0 }, this.env.nodeId));
    this.replica.submit(encodeKvCommand({ op: "delete", key }), (outcome) => {
      const mapped = this.kvOutcome(outcome);
      if (mapped.status !== "ok") return done(mapped);
      assert(mapped.result.kind === "delete", "a token revoke is a delete");
      // Deleted now, or by a concurrent revoke just before: revoked either way (the write's index or 0).
      done(okOutcome({ kind: "put", index: mapped.result.deleted === 1 ? mapped.result.index : 0 }, this.env.nodeId));
    });
  }

  /** A token write's cas as a put result: swapped, or already holding what was wanted, is ok; else another write won. */
  private tokenWriteOutcome(outcome: CommandOutcome<NodeResult>, key: string, wanted: string): RequestOutcome {
    const mapped = this.kvOutcome(outcome);
    if (mapped.status !== "ok") return mapped;
    assert(mapped.result.kind === "cas", "a token write is a cas");
    if (mapped.result.swapped || mapped.result.current === wanted) return okOutcome({ kind: "put", index: mapped.result.index }, this.env.nodeId);
    return notApplied("superseded", this.env.nodeId, `${key} changed while this request was in flight; it was not applied, retry`);
  }

  private kvOutcome(outcome: CommandOutcome<NodeResult>): RequestOutcome {
    switch (outcome.status) {
      case "ok": {
        const result = outcome.result;
        assert(result.op !== "cluster", "a key-value command's result is the map's");
        // The map was full: the entry applied as a no-op, so the command certainly had no effect.
        if (result.op === "rejected") {
          // wrong-kind: a value write to a list key or an append to a value key; it had no effect.
          if (result.reason === "wrong-kind") return notApplied("wrong-kind", this.env.nodeId, `wrong kind of entry: ${result.detail}`);
          return notApplied("map-full", this.env.nodeId, `the key-value map is full (${result.reason}: ${result.detail})`);
        }
        this.options.onAcknowledged?.(outcome.index);
        if (result.op === "put") return okOutcome({ kind: "put", index: outcome.index }, this.env.nodeId);
        if (result.op === "delete") return okOutcome({ kind: "delete", deleted: result.deleted, more: result.more, index: outcome.index }, this.env.nodeId);
        if (result.op === "append") return okOutcome({ kind: "append", length: result.length, index: outcome.index }, this.env.nodeId);
        if (result.op === "txn") return okOutcome({ kind: "txn", succeeded: result.succeeded, results: result.results, index: outcome.index }, this.env.nodeId);
        return okOutcome({ kind: "cas", swapped: result.swapped, current: result.current, index: outcome.index }, this.env.nodeId);
      }
      case "rejected":
        return this.refused(outcome.refusal);
      case "unknown":
        return this.unknownCommand(outcome.reason);
      default:
        return unreachable(outcome, "command outcome");
    }
  }

  private membershipOutcome(outcome: CommandOutcome<ConfState>): RequestOutcome {
    switch (outcome.status) {
      case "ok":
        assert(outcome.result !== undefined && Array.isArray(outcome.result.voters), "a membership change's result is the membership after it");
        return okOutcome({ kind: "membership", index: outcome.index, confState: outcome.result }, this.env.nodeId);
      case "rejected":
        return this.refused(outcome.refusal);
      case "unknown":
        return this.unknownCommand(outcome.reason);
      default:
        return unreachable(outcome, "membership outcome");
    }
  }

  private unknownCommand(reason: "timeout" | "stopped" | "compacted"): RequestOutcome {
    switch (reason) {
      case "timeout":
        return unknownOutcome("timeout", "timed out before the command was applied: it may or may not have been applied");
      case "stopped":
        return unknownOutcome("stopped", "the node stopped with the command in flight: it may or may not have been applied");
      case "compacted":
        return unknownOutcome("compacted", "a snapshot covered the command's slot before its outcome was known: it may or may not have been applied");
      default:
        return unreachable(reason, "unknown reason");
    }
  }

  /** A replica refusal: certainly no effect, except a timeout (the request may still complete: unknown). */
  private refused(refusal: ReplicaRefusal): RequestOutcome {
    const leaderHint = this.replica.isStopped ? 0 : this.replica.core.currentLeader();
    switch (refusal.code) {
      case "not-leader":
        return notApplied("not-leader", refusal.leaderId, `not the leader${refusal.leaderId !== 0 ? `: node ${refusal.leaderId} leads` : ""}; retry`);
      case "too-many-uncommitted":
        return notApplied("too-many-uncommitted", leaderHint, `too many uncommitted bytes (limit ${refusal.limitBytes}); retry later`);
      case "too-many-pending-reads":
        return notApplied("too-many-pending-reads", leaderHint, `too many pending reads (limit ${refusal.limit}); retry later`);
      case "overloaded":
        return notApplied("overloaded", leaderHint, `too many requests in flight (limit ${refusal.limit}); retry later`);
      case "conf-change-pending":
        return notApplied("conf-change-pending", leaderHint, `another membership change (index ${refusal.index}) is not applied yet; retry`);
      case "invalid-conf-change":
        return notApplied("invalid-conf-change", leaderHint, `invalid membership change: ${refusal.reason}`);
      case "transfer-in-progress":
        return notApplied("transfer-in-progress", leaderHint, `a leader transfer to node ${refusal.target} is in progress`);
      case "stopped":
        return notApplied("stopped", 0, "node is shutting down");
      case "superseded":
        return notApplied("superseded", leaderHint, `leadership changed: the entry at index ${refusal.index} was replaced, the command was not applied; retry`);
      case "timeout":
        // A read or a leader transfer without an outcome in time: the transfer may still happen.
        return unknownOutcome("timeout", "timed out before the request completed");
      case "disk-full":
        return notApplied("disk-full", leaderHint, refusal.alarm.message);
      default:
        return unreachable(refusal, "replica refusal");
    }
  }

  /** Wraps a caller's callback: exactly once, and an ok result of the request's own kind (else a programmer error). */
  private checked(request: ClientRequest, done: (outcome: RequestOutcome) => void): (outcome: RequestOutcome) => void {
    let called = false;
    return (outcome) => {
      assert(!called, () => `a ${request.kind} request got a second outcome`);
      called = true;
      checkOutcome(request, outcome);
      done(outcome);
    };
  }
}

/** The key a list's read point queries (any key would do: the answer is not used). */
const LIST_READ_POINT_KEY = "_blixard/list";

/** A get's result: the entry, or not found (value "", revisions 0), at the read point `index`. */
function getResult(entry: KvEntry | undefined, index: number): RequestResult {
  if (entry === undefined) return { kind: "get", value: "", index, found: false, createRevision: 0, modRevision: 0, version: 0 };
  return { kind: "get", value: entry.value, index, found: true, createRevision: entry.createRevision, modRevision: entry.modRevision, version: entry.version };
}

/** A read-list's result: the key's list, or (absent) an empty list not found. A key holding a value is found with its value's revisions and an empty list. */
function readListResult(entry: KvEntry | undefined, index: number): RequestResult {
  if (entry === undefined) return { kind: "read-list", found: false, list: [], index, createRevision: 0, modRevision: 0, version: 0 };
  return { kind: "read-list", found: entry.list !== undefined, list: entry.list ?? [], index, createRevision: entry.createRevision, modRevision: entry.modRevision, version: entry.version };
}

/** Token records are listed by the admin-only token list only. */
function isTokenKey(key: string): boolean {
  return key.startsWith(TOKEN_KEY_PREFIX);
}

/** Every outcome is one of the three classes, and an ok carries the result of its request's kind. */
function checkOutcome(request: ClientRequest, outcome: RequestOutcome): void {
  switch (outcome.status) {
    case "ok": {
      const result: RequestResult = outcome.result;
      assert(result.kind === resultKindFor(request.kind), () => `a ${request.kind} request got a ${result.kind} result`);
      return;
    }
    case "not-applied":
      assert(Number.isSafeInteger(outcome.leaderHint) && outcome.leaderHint >= 0, "a leader hint is a node id or 0");
      return;
    case "unknown":
      return;
    default:
      return unreachable(outcome, "request outcome");
  }
}
