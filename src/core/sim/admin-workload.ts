// An operator in the simulation: one client endpoint that, every so often, asks a random node
// (through the production request path, over the client channel, so followers forward it) to
// change the membership or move leadership, under whatever faults the profile injects:
//   - a node that is not a member is added back as a learner (add-learner with its address),
//   - a learner is promoted,
//   - with all nodes voters, a random voter (the leader included) is removed with
//     removeProbability, or else leadership is transferred to a random voter.
// It decides from the current leader's membership (the harness may look), sends one request at
// a time, and counts outcomes by class; nothing goes into the history: membership and
// leadership are not the key-value map, so the safety properties and the linearizability check
// judge the runs it disturbs. Off unless SimulationOptions.admin is given.
//
// Removing one voter of 2f+1 leaves 2f, whose majority is still f+1: the safety monitor's fixed
// quorum stays right, which is why only one node is ever out and only odd clusters remove. A
// removed node keeps its disk and id and is re-added as a learner (safe in Raft). Spare hosts
// joining with fresh ids and disks need the monitor to follow the voter set: not yet.

import { assert } from "../assert.ts";
import type { EndpointId } from "../env/environment.ts";
import type { ConfState, NodeId } from "../raft/types.ts";
import type { ClientRequest, RequestOutcome } from "../replica/request-types.ts";
import type { EventQueue } from "./event-queue.ts";
import type { Prng } from "./prng.ts";

export interface AdminWorkloadOptions {
  /** Pause between two requests, uniform in [min, max] simulated ms. */
  readonly transferEveryMs: readonly [number, number];
  /** A request without an outcome after this long is given up (counted as unanswered). */
  readonly requestTimeoutMs: number;
  /** With every node a voter, the chance the next request removes one (0: transfers only). Even clusters never remove. */
  readonly removeProbability: number;
}

export const defaultAdminWorkloadOptions: AdminWorkloadOptions = {
  transferEveryMs: [500, 2_000],
  requestTimeoutMs: 3_000,
  removeProbability: 0.3,
};

export interface AdminWorkloadStats {
  sent: number;
  ok: number;
  notApplied: number;
  unknown: number;
  /** No outcome before requestTimeoutMs (the request or its answer was lost). */
  unanswered: number;
  /** Requests that succeeded, by kind. */
  transfers: number;
  removes: number;
  /** Removals whose target led when the request was sent. */
  removesOfLeader: number;
  learnersAdded: number;
  promotions: number;
}

export class AdminWorkload {
  readonly stats: AdminWorkloadStats = { sent: 0, ok: 0, notApplied: 0, unknown: 0, unanswered: 0, transfers: 0, removes: 0, removesOfLeader: 0, learnersAdded: 0, promotions: 0 };
  private pendingKind: ClientRequest["kind"] | undefined;
  /** The pending request removes the node that led when it was sent. */
  private pendingRemovesLeader = false;
  private requestId = 0;
  /** The request waiting for its outcome (0: none). One at a time. */
  private pendingId = 0;
  private stopAtUs = Number.POSITIVE_INFINITY;

  constructor(
    private readonly queue: EventQueue,
    private readonly random: Prng,
    private readonly nodeIds: readonly NodeId[],
    readonly endpoint: EndpointId,
    private readonly options: AdminWorkloadOptions,
    private readonly send: (fromEndpoint: EndpointId, toNode: NodeId, requestId: number, request: ClientRequest) => void,
    /** The current leader and its membership, or undefined when no node leads (the harness's view). */
    private readonly membership: () => { readonly leaderId: NodeId; readonly confState: ConfState } | undefined,
  ) {
    assert(options.transferEveryMs[0] > 0 && options.transferEveryMs[0] <= options.transferEveryMs[1], "admin pause is not a positive range");
    assert(options.requestTimeoutMs > 0 && nodeIds.length > 0, "admin workload needs nodes and a timeout");
    assert(options.removeProbability >= 0 && options.removeProbability <= 1, "remove probability outside [0, 1]");
  }

  /** Starts the operator; it sends nothing at or after `stopAtUs`. */
  start(stopAtUs: number): void {
    this.stopAtUs = stopAtUs;
    this.scheduleNext();
  }

  /** The outcome of request `requestId` arrived at the operator's endpoint. */
  receive(requestId: number, outcome: RequestOutcome): void {
    if (requestId !== this.pendingId) return; // late: already given up
    this.pendingId = 0;
    if (outcome.status === "ok") {
      const kind = this.pendingKind;
      assert(outcome.result.kind === (kind === "transfer-leader" ? "transfer" : "membership"), () => `a ${kind} request got a ${outcome.result.kind} result`);
      this.stats.ok++;
      if (kind === "transfer-leader") this.stats.transfers++;
      else if (kind === "remove") {
        this.stats.removes++;
        if (this.pendingRemovesLeader) this.stats.removesOfLeader++;
      }
      else if (kind === "add-learner") this.stats.learnersAdded++;
      else this.stats.promotions++;
    } else if (outcome.status === "not-applied") this.stats.notApplied++;
    else this.stats.unknown++;
    this.scheduleNext();
  }

  private scheduleNext(): void {
    const [min, max] = this.options.transferEveryMs;
    this.queue.after(this.random.intBetween(min * 1000, max * 1000), () => this.transfer());
  }

  private transfer(): void {
    if (this.queue.timeUs >= this.stopAtUs) return;
    assert(this.pendingId === 0, "the operator sent a request with one outstanding");
    const request = this.nextRequest();
    const via = this.random.pick(this.nodeIds);
    const id = ++this.requestId;
    this.pendingId = id;
    this.pendingKind = request.kind;
    this.stats.sent++;
    this.queue.after(this.options.requestTimeoutMs * 1000, () => {
      if (this.pendingId !== id) return;
      this.pendingId = 0;
      this.stats.unanswered++;
      this.scheduleNext();
    });
    this.send(this.endpoint, via, id, request);
  }

  /** Membership first (bring every node back to voter), then a removal or a transfer. */
  private nextRequest(): ClientRequest {
    const view = this.membership();
    this.pendingRemovesLeader = false;
    if (view !== undefined) {
      const confState = view.confState;
      const missing = this.nodeIds.filter((id) => !confState.voters.includes(id) && !confState.learners.includes(id));
      if (missing.length > 0) return { kind: "add-learner", nodeId: missing[0]!, peer: `sim-${missing[0]!}`, api: "", addressesOnly: false };
      if (confState.learners.length > 0) return { kind: "promote", nodeId: confState.learners[0]! };
      const mayRemove = this.nodeIds.length % 2 === 1 && this.nodeIds.length >= 3 && confState.voters.length === this.nodeIds.length;
      if (mayRemove && this.random.chance(this.options.removeProbability)) {
        const nodeId = this.random.pick(confState.voters);
        this.pendingRemovesLeader = nodeId === view.leaderId;
        return { kind: "remove", nodeId };
      }
    }
    return { kind: "transfer-leader", targetId: this.random.pick(this.nodeIds) };
  }
}
