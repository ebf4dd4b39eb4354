// The simulated network between endpoints 1..endpointCount (nodes first, then clients).
// Every directed link has its own latency distribution, loss and duplication rates and
// ordering rule; the nemesis partitions links (symmetric or one-way) and clogs them
// (a clogged link holds what it carries, then flushes it all when the clog ends).
// Each link carries a bounded number of messages in flight; beyond that, it drops.

import { assert } from "../assert.ts";
import type { EventQueue, EventTarget } from "./event-queue.ts";
import type { Prng } from "./prng.ts";

export interface LinkProfile {
  /** Every message takes at least this long. */
  readonly latencyMinUs: number;
  /** Mean of the exponential tail added to the minimum. */
  readonly latencyTailMeanUs: number;
  /** No message takes longer (before clogging). */
  readonly latencyMaxUs: number;
  readonly lossProbability: number;
  readonly duplicateProbability: number;
  /** When false the link is FIFO: a message never overtakes an earlier one on the same link. */
  readonly reorder: boolean;
}

export interface NetworkStats {
  sent: number;
  delivered: number;
  lost: number;
  duplicated: number;
  droppedByPartition: number;
  droppedByOverflow: number;
  delayedByClog: number;
}

export type DeliverFunction<T> = (from: number, to: number, payload: T) => void;

export class SimNetwork<T> implements EventTarget {
  private readonly links: LinkProfile[];
  private readonly blocked: Uint8Array;
  private readonly clogUntilUs: Float64Array;
  private readonly inFlight: Uint32Array;
  private readonly lastDeliveryUs: Float64Array;
  private readonly stride: number;
  readonly stats: NetworkStats = { sent: 0, delivered: 0, lost: 0, duplicated: 0, droppedByPartition: 0, droppedByOverflow: 0, delayedByClog: 0 };

  constructor(
    private readonly queue: EventQueue,
    private readonly random: Prng,
    readonly endpointCount: number,
    defaultLink: LinkProfile,
    /** Messages in flight on one directed link at once. */
    readonly maxInFlightPerLink: number,
    private readonly deliver: DeliverFunction<T>,
  ) {
    assert(Number.isSafeInteger(endpointCount) && endpointCount > 0 && endpointCount < 4096, "endpoint count out of range");
    assert(maxInFlightPerLink > 0, "in-flight bound must be positive");
    validateLink(defaultLink);
    this.stride = endpointCount + 1;
    const size = this.stride * this.stride;
    this.links = new Array<LinkProfile>(size).fill(defaultLink);
    this.blocked = new Uint8Array(size);
    this.clogUntilUs = new Float64Array(size);
    this.inFlight = new Uint32Array(size);
    this.lastDeliveryUs = new Float64Array(size);
  }

  setLink(from: number, to: number, profile: LinkProfile): void {
    validateLink(profile);
    this.links[this.index(from, to)] = profile;
  }

  link(from: number, to: number): LinkProfile {
    return this.links[this.index(from, to)]!;
  }

  /** Cuts (or restores) the one-way link from -> to. */
  setBlocked(from: number, to: number, blocked: boolean): void {
    this.blocked[this.index(from, to)] = blocked ? 1 : 0;
  }

  isBlocked(from: number, to: number): boolean {
    return this.blocked[this.index(from, to)] === 1;
  }

  /** Restores every link. */
  healAll(): void {
    this.blocked.fill(0);
    this.clogUntilUs.fill(0);
  }

  /** Stalls the one-way link until `untilUs`; what it carries meanwhile arrives then, in order. */
  clog(from: number, to: number, untilUs: number): void {
    const i = this.index(from, to);
    this.clogUntilUs[i] = Math.max(this.clogUntilUs[i]!, untilUs);
  }

  inFlightOn(from: number, to: number): number {
    return this.inFlight[this.index(from, to)]!;
  }

  /** `duplicable` false: the payload rides a connection (the client channel), so loss is possible but a duplicate is not. */
  send(from: number, to: number, payload: T, duplicable = true): void {
    const i = this.index(from, to);
    this.stats.sent++;
    if (this.blocked[i] === 1) {
      this.stats.droppedByPartition++;
      return;
    }
    const link = this.links[i]!;
    if (this.random.chance(link.lossProbability)) {
      this.stats.lost++;
      return;
    }
    this.transmit(i, link, payload);
    if (duplicable && this.random.chance(link.duplicateProbability)) {
      this.stats.duplicated++;
      this.transmit(i, link, payload);
    }
  }

  private transmit(i: number, link: LinkProfile, payload: T): void {
    if (this.inFlight[i]! >= this.maxInFlightPerLink) {
      this.stats.droppedByOverflow++;
      return;
    }
    const now = this.queue.timeUs;
    let latencyUs = link.latencyMinUs + Math.round(this.random.exponential(link.latencyTailMeanUs));
    if (latencyUs > link.latencyMaxUs) latencyUs = link.latencyMaxUs;
    let deliverAtUs = now + latencyUs;
    if (!link.reorder && deliverAtUs < this.lastDeliveryUs[i]!) deliverAtUs = this.lastDeliveryUs[i]!;
    this.lastDeliveryUs[i] = deliverAtUs;
    this.inFlight[i]!++;
    // No closure and no object per message: the link index names both ends (index() inverted in arrive()).
    this.queue.atTarget(deliverAtUs, this, i, payload);
  }

  /** The event queue's callback for `payload` in flight on link `code` (EventTarget). */
  fire(code: number, payload: unknown): void {
    this.arrive(code, payload as T);
  }

  private arrive(i: number, payload: T): void {
    const clogUntilUs = this.clogUntilUs[i]!;
    if (clogUntilUs > this.queue.timeUs) {
      // Held by the clog; re-queued in arrival order, so the flush preserves it.
      this.stats.delayedByClog++;
      this.queue.atTarget(clogUntilUs, this, i, payload);
      return;
    }
    const from = Math.floor(i / this.stride);
    const to = i - from * this.stride;
    assert(from >= 1 && to >= 1 && to < this.stride, "message in flight on no link");
    this.inFlight[i]!--;
    if (this.blocked[i] === 1) {
      this.stats.droppedByPartition++;
      return;
    }
    this.stats.delivered++;
    this.deliver(from, to, payload);
  }

  private index(from: number, to: number): number {
    if (!(from >= 1 && from <= this.endpointCount && to >= 1 && to <= this.endpointCount)) assert(false, `no link ${from} -> ${to}`);
    return from * this.stride + to;
  }
}

function validateLink(link: LinkProfile): void {
  assert(link.latencyMinUs >= 0 && link.latencyMinUs <= link.latencyMaxUs, "link latency range is empty");
  assert(link.latencyTailMeanUs >= 0, "link latency tail must be >= 0");
  assert(link.lossProbability >= 0 && link.lossProbability <= 1, "link loss probability outside [0, 1]");
  assert(link.duplicateProbability >= 0 && link.duplicateProbability <= 1, "link duplicate probability outside [0, 1]");
}
