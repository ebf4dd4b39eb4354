// The simulated network between endpoints 1..endpointCount (nodes first, then clients).
// Every directed link has its own latency distribution, bandwidth, loss and duplication
// rates and ordering rule; the nemesis partitions links (symmetric or one-way) and clogs
// them (a clogged link holds what it carries, then flushes it all when the clog ends).
//
// Sizes and limits, the same as over TCP. Every message is sent with the size of its
// channel bytes: one larger than the frame limit is refused (send returns false, counted),
// as the TCP transport refuses it. Each directed link holds what is in flight on it to the
// per-peer queue bound shared with the TCP transport (src/core/wire/peer-queue.ts: messages
// and wire bytes); beyond it a message is dropped and counted (send returns false). A
// message's wire size (frame header, channel tag, bytes) occupies its link for
// size / bandwidth: the link sends one message at a time, so a large snapshot delays what
// follows it on that link (head-of-line blocking, as on a TCP connection), then the
// message travels the link's latency.

import { assert } from "../assert.ts";
import { wireSizeBytes } from "../wire/channel-frame.ts";
import { DEFAULT_MAX_FRAME_BYTES } from "../wire/frame.ts";
import { DEFAULT_PEER_QUEUE_LIMITS, PeerQueueBound, validatePeerQueueLimits, type PeerQueueLimits } from "../wire/peer-queue.ts";
import type { EventQueue, EventTarget } from "./event-queue.ts";
import type { Prng } from "./prng.ts";

/** 1 Gbit/s: a link's bandwidth when its profile names none. */
export const DEFAULT_LINK_BANDWIDTH_BYTES_PER_SECOND = 125_000_000;
/** The slowest link a profile may ask for: 8 kbit/s (one 64 MiB frame would take under 2.5 hours). */
export const LINK_BANDWIDTH_BYTES_PER_SECOND_MIN = 1_000;

export interface NetworkLimits {
  /** Bound on one directed link's messages and wire bytes in flight (the TCP transport's per-peer queue bound). */
  readonly perLinkQueue: PeerQueueLimits;
  /** Bound on one message's channel bytes (the TCP transport's frame limit). */
  readonly maxFrameBytes: number;
}

export const DEFAULT_NETWORK_LIMITS: NetworkLimits = { perLinkQueue: DEFAULT_PEER_QUEUE_LIMITS, maxFrameBytes: DEFAULT_MAX_FRAME_BYTES };

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
  /** How fast the link sends a message's wire bytes (default DEFAULT_LINK_BANDWIDTH_BYTES_PER_SECOND). */
  readonly bandwidthBytesPerSecond?: number;
}

export interface NetworkStats {
  sent: number;
  delivered: number;
  lost: number;
  duplicated: number;
  droppedByPartition: number;
  /** Refused by the per-link queue bound (messages or bytes in flight). */
  droppedByOverflow: number;
  /** Refused by the frame limit (never left). */
  droppedByFrameLimit: number;
  delayedByClog: number;
  /** Wire bytes put on links (duplicates included; frame header and channel tag included). */
  bytesSent: number;
  /** Wire bytes handed to their receivers. */
  bytesDelivered: number;
}

export function emptyNetworkStats(): NetworkStats {
  return { sent: 0, delivered: 0, lost: 0, duplicated: 0, droppedByPartition: 0, droppedByOverflow: 0, droppedByFrameLimit: 0, delayedByClog: 0, bytesSent: 0, bytesDelivered: 0 };
}

/** The size of a payload's channel bytes: `bytes.length` for channel messages, an estimate for what is not bytes yet. */
export type PayloadBytesFunction<T> = (payload: T) => number;

export type DeliverFunction<T> = (from: number, to: number, payload: T) => void;

export class SimNetwork<T> implements EventTarget {
  private readonly links: LinkProfile[];
  private readonly blocked: Uint8Array;
  private readonly clogUntilUs: Float64Array;
  private readonly inFlight: Uint32Array;
  private readonly lastDeliveryUs: Float64Array;
  /** When each link finishes sending what it already carries (bandwidth): the next message starts then. */
  private readonly busyUntilUs: Float64Array;
  /** Each used link's queue bound, made at its first message (most of the endpoint square is never used). */
  private readonly bounds: Array<PeerQueueBound | undefined>;
  private readonly stride: number;
  readonly stats: NetworkStats = emptyNetworkStats();

  constructor(
    private readonly queue: EventQueue,
    private readonly random: Prng,
    readonly endpointCount: number,
    defaultLink: LinkProfile,
    readonly limits: NetworkLimits,
    private readonly deliver: DeliverFunction<T>,
    /** Read at send and at arrival (it must give the same answer both times: payloads are immutable). */
    private readonly payloadBytes: PayloadBytesFunction<T>,
  ) {
    assert(Number.isSafeInteger(endpointCount) && endpointCount > 0 && endpointCount < 4096, "endpoint count out of range");
    validatePeerQueueLimits(limits.perLinkQueue);
    assert(Number.isSafeInteger(limits.maxFrameBytes) && limits.maxFrameBytes > 0, "the frame limit must be a positive integer");
    validateLink(defaultLink);
    this.stride = endpointCount + 1;
    const size = this.stride * this.stride;
    this.links = new Array<LinkProfile>(size).fill(defaultLink);
    this.blocked = new Uint8Array(size);
    this.clogUntilUs = new Float64Array(size);
    this.inFlight = new Uint32Array(size);
    this.lastDeliveryUs = new Float64Array(size);
    this.busyUntilUs = new Float64Array(size);
    this.bounds = new Array<PeerQueueBound | undefined>(size);
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

  /** Wire bytes in flight on the one-way link from -> to (what its queue bound counts). */
  bytesInFlightOn(from: number, to: number): number {
    return this.bounds[this.index(from, to)]?.queuedBytes ?? 0;
  }

  /**
   * Puts `payload` on the link from -> to. Returns false only when it certainly never left:
   * its channel bytes exceed the frame limit, or the link's queue bound is full (both
   * counted). True promises nothing: it may be lost, partitioned, late. `duplicable` false:
   * the payload rides a connection (the client channel), so it may be lost but never duplicated.
   */
  send(from: number, to: number, payload: T, duplicable = true): boolean {
    const i = this.index(from, to);
    this.stats.sent++;
    const payloadBytes = this.payloadBytes(payload);
    if (payloadBytes > this.limits.maxFrameBytes) {
      this.stats.droppedByFrameLimit++;
      return false;
    }
    const wireBytes = wireSizeBytes(payloadBytes);
    if (this.blocked[i] === 1) {
      this.stats.droppedByPartition++;
      return true;
    }
    const link = this.links[i]!;
    if (this.random.chance(link.lossProbability)) {
      this.stats.lost++;
      return true;
    }
    if (!this.transmit(i, link, payload, wireBytes)) return false;
    if (duplicable && this.random.chance(link.duplicateProbability)) {
      this.stats.duplicated++;
      this.transmit(i, link, payload, wireBytes);
    }
    return true;
  }

  private transmit(i: number, link: LinkProfile, payload: T, wireBytes: number): boolean {
    let bound = this.bounds[i];
    if (bound === undefined) {
      bound = new PeerQueueBound(this.limits.perLinkQueue);
      this.bounds[i] = bound;
    }
    if (!bound.tryAdmit(wireBytes)) {
      this.stats.droppedByOverflow++;
      return false;
    }
    const now = this.queue.timeUs;
    // The link sends one message at a time: this one starts when the previous one is out.
    const startUs = Math.max(now, this.busyUntilUs[i]!);
    const sentUs = startUs + transmissionUs(wireBytes, link.bandwidthBytesPerSecond ?? DEFAULT_LINK_BANDWIDTH_BYTES_PER_SECOND);
    this.busyUntilUs[i] = sentUs;
    let latencyUs = link.latencyMinUs + Math.round(this.random.exponential(link.latencyTailMeanUs));
    if (latencyUs > link.latencyMaxUs) latencyUs = link.latencyMaxUs;
    let deliverAtUs = sentUs + latencyUs;
    if (!link.reorder && deliverAtUs < this.lastDeliveryUs[i]!) deliverAtUs = this.lastDeliveryUs[i]!;
    this.lastDeliveryUs[i] = deliverAtUs;
    this.inFlight[i]!++;
    this.stats.bytesSent += wireBytes;
    assert(this.inFlight[i] === bound.queuedMessages, "the link's in-flight count and its queue bound disagree");
    // No closure and no object per message: the link index names both ends (index() inverted in
    // arrive()), and the payload gives its size again there.
    this.queue.atTarget(deliverAtUs, this, i, payload);
    return true;
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
    const wireBytes = wireSizeBytes(this.payloadBytes(payload));
    const from = Math.floor(i / this.stride);
    const to = i - from * this.stride;
    assert(from >= 1 && to >= 1 && to < this.stride, "message in flight on no link");
    this.inFlight[i]!--;
    this.bounds[i]!.release(1, wireBytes);
    if (this.blocked[i] === 1) {
      this.stats.droppedByPartition++;
      return;
    }
    this.stats.delivered++;
    this.stats.bytesDelivered += wireBytes;
    this.deliver(from, to, payload);
  }

  private index(from: number, to: number): number {
    if (!(from >= 1 && from <= this.endpointCount && to >= 1 && to <= this.endpointCount)) assert(false, `no link ${from} -> ${to}`);
    return from * this.stride + to;
  }
}

/** Whole microseconds a link of `bandwidthBytesPerSecond` takes to send `wireBytes` (rounded down: a small message costs nothing). */
export function transmissionUs(wireBytes: number, bandwidthBytesPerSecond: number): number {
  return Math.floor((wireBytes * 1_000_000) / bandwidthBytesPerSecond);
}

function validateLink(link: LinkProfile): void {
  const bandwidth = link.bandwidthBytesPerSecond;
  if (bandwidth !== undefined) assert(Number.isSafeInteger(bandwidth) && bandwidth >= LINK_BANDWIDTH_BYTES_PER_SECOND_MIN, () => `link bandwidth ${bandwidth} B/s below ${LINK_BANDWIDTH_BYTES_PER_SECOND_MIN} or not an integer`);
  assert(link.latencyMinUs >= 0 && link.latencyMinUs <= link.latencyMaxUs, "link latency range is empty");
  assert(link.latencyTailMeanUs >= 0, "link latency tail must be >= 0");
  assert(link.lossProbability >= 0 && link.lossProbability <= 1, "link loss probability outside [0, 1]");
  assert(link.duplicateProbability >= 0 && link.duplicateProbability <= 1, "link duplicate probability outside [0, 1]");
}
