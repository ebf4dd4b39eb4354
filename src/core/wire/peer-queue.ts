// The bound on what one node has queued for one peer: messages and bytes. One policy for
// every path a message can take, so a limit means the same in both worlds: the TCP
// transport holds its per-peer send queue to it (src/shell/os/tcp-transport.ts), and the
// simulated network holds each directed link's messages in flight to it
// (src/core/sim/network.ts). Beyond the bound a message is dropped and counted, never
// queued: Raft retransmits what matters, and a client request times out and is retried.
// Sizes are wire sizes (channel-frame.ts wireSizeBytes): what the message costs on the link.

import { assert } from "../assert.ts";

export interface PeerQueueLimits {
  /** Messages queued for one peer at once. */
  readonly messagesMax: number;
  /** Wire bytes queued for one peer at once. */
  readonly bytesMax: number;
}

/** Enough for a leader's full pipeline plus heartbeats and a snapshot chunk; small enough to bound memory per peer. */
export const DEFAULT_PEER_QUEUE_LIMITS: PeerQueueLimits = { messagesMax: 4_096, bytesMax: 64 * 1024 * 1024 };

export function validatePeerQueueLimits(limits: PeerQueueLimits): void {
  assert(Number.isSafeInteger(limits.messagesMax) && limits.messagesMax > 0, "a peer queue's message bound must be a positive integer");
  assert(Number.isSafeInteger(limits.bytesMax) && limits.bytesMax > 0, "a peer queue's byte bound must be a positive integer");
}

/** The accounting of one peer's queue: what is queued now, what the bound refused. */
export class PeerQueueBound {
  queuedMessages = 0;
  queuedBytes = 0;
  droppedMessages = 0;
  droppedBytes = 0;

  constructor(readonly limits: PeerQueueLimits = DEFAULT_PEER_QUEUE_LIMITS) {
    validatePeerQueueLimits(limits);
  }

  /** Counts one message of `sizeBytes` as queued and returns true, or counts it as dropped and returns false. */
  tryAdmit(sizeBytes: number): boolean {
    if (!(Number.isSafeInteger(sizeBytes) && sizeBytes > 0)) assert(false, `a queued message has a positive size, got ${sizeBytes}`);
    if (this.queuedMessages >= this.limits.messagesMax || this.queuedBytes + sizeBytes > this.limits.bytesMax) {
      this.droppedMessages++;
      this.droppedBytes += sizeBytes;
      return false;
    }
    this.queuedMessages++;
    this.queuedBytes += sizeBytes;
    return true;
  }

  /** `messages` messages of `sizeBytes` in total left the queue (written, delivered or discarded). */
  release(messages: number, sizeBytes: number): void {
    if (!(messages <= this.queuedMessages && sizeBytes <= this.queuedBytes)) assert(false, `releasing ${messages} messages / ${sizeBytes} bytes of ${this.queuedMessages} / ${this.queuedBytes} queued`);
    this.queuedMessages -= messages;
    this.queuedBytes -= sizeBytes;
    assert(this.queuedMessages > 0 || this.queuedBytes === 0, "bytes queued without a message");
  }

  /** Everything queued left at once (a failed dial discards the queue). */
  releaseAll(): void {
    this.queuedMessages = 0;
    this.queuedBytes = 0;
  }
}
