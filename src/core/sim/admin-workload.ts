// An operator in the simulation: one client endpoint that, every so often, asks a random node
// (through the production request path, over the client channel, so followers forward it) to
// transfer leadership to a random voter, under whatever faults the profile injects. Its
// outcomes are counted by class, not recorded in the history: a transfer changes who leads,
// not the key-value map, so the safety properties and the linearizability check judge the
// runs it disturbs. Off unless SimulationOptions.admin is given (it changes the schedules).
//
// Membership changes (adding learners on spare hosts, promoting, removing voters) need the
// safety monitor to follow the voter set; until it does, this operator only moves leadership.

import { assert } from "../assert.ts";
import type { EndpointId } from "../env/environment.ts";
import type { NodeId } from "../raft/types.ts";
import type { ClientRequest, RequestOutcome } from "../replica/request-types.ts";
import type { EventQueue } from "./event-queue.ts";
import type { Prng } from "./prng.ts";

export interface AdminWorkloadOptions {
  /** Pause between two requests, uniform in [min, max] simulated ms. */
  readonly transferEveryMs: readonly [number, number];
  /** A request without an outcome after this long is given up (counted as unanswered). */
  readonly requestTimeoutMs: number;
}

export const defaultAdminWorkloadOptions: AdminWorkloadOptions = {
  transferEveryMs: [500, 2_000],
  requestTimeoutMs: 3_000,
};

export interface AdminWorkloadStats {
  sent: number;
  ok: number;
  notApplied: number;
  unknown: number;
  /** No outcome before requestTimeoutMs (the request or its answer was lost). */
  unanswered: number;
}

export class AdminWorkload {
  readonly stats: AdminWorkloadStats = { sent: 0, ok: 0, notApplied: 0, unknown: 0, unanswered: 0 };
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
  ) {
    assert(options.transferEveryMs[0] > 0 && options.transferEveryMs[0] <= options.transferEveryMs[1], "admin pause is not a positive range");
    assert(options.requestTimeoutMs > 0 && nodeIds.length > 0, "admin workload needs nodes and a timeout");
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
      assert(outcome.result.kind === "transfer", () => `a leader transfer got a ${outcome.result.kind} result`);
      this.stats.ok++;
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
    const targetId = this.random.pick(this.nodeIds);
    const via = this.random.pick(this.nodeIds);
    const id = ++this.requestId;
    this.pendingId = id;
    this.stats.sent++;
    this.queue.after(this.options.requestTimeoutMs * 1000, () => {
      if (this.pendingId !== id) return;
      this.pendingId = 0;
      this.stats.unanswered++;
      this.scheduleNext();
    });
    this.send(this.endpoint, via, id, { kind: "transfer-leader", targetId });
  }
}
