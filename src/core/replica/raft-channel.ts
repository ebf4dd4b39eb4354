// The raft channel of the transport: Raft messages as the wire codec's bytes, in both worlds.
// Sending encodes; receiving decodes and validates (validateMessage) before anything reaches
// the core, so a message a correct peer could not have sent is dropped and counted, and the
// transport is told to drop the connection it came on. The simulator carries these same bytes,
// so the codec, the validation and the frame limit run in every simulated run.

import { assert } from "../assert.ts";
import type { EndpointId, Environment, ReceiveVerdict } from "../env/environment.ts";
import type { Message } from "../raft/types.ts";
import { decodePeerPayload, encodeMessage } from "../wire/codec.ts";

export interface RaftChannelStats {
  sent: number;
  /** The transport refused them at once (no route, queue full, over its frame limit: it logs and counts which). */
  notSent: number;
  received: number;
  malformed: number;
}

export class RaftChannel {
  readonly stats: RaftChannelStats = { sent: 0, notSent: 0, received: 0, malformed: 0 };

  constructor(
    private readonly env: Environment,
    private readonly deliver: (message: Message) => void,
  ) {
    env.transport.receive("raft", this.onBytes);
  }

  send(message: Message): void {
    if (message.from !== this.env.nodeId) assert(false, `node ${this.env.nodeId} sends a message from ${message.from}`);
    if (message.to === this.env.nodeId) assert(false, "a node does not send messages to itself");
    if (this.env.failpoint("raft-channel/send-refused")) {
      // As if the peer's send queue were full (src/core/env/failpoints.ts): Raft retransmits.
      this.stats.notSent += 1;
      return;
    }
    // The frame limit is the transport's, one check on every path (TCP and the simulated network):
    // only a snapshot can exceed it, and then send says false and the follower keeps asking.
    if (this.env.transport.send("raft", message.to, encodeMessage(message))) this.stats.sent += 1;
    else this.stats.notSent += 1;
  }

  /** The transport's receiver: one function for the channel's life, not a closure per message. */
  private readonly onBytes = (from: EndpointId, bytes: Uint8Array): ReceiveVerdict => {
    // The transport bounded the frame; decoding bounds every byte string by it.
    const decoded = decodePeerPayload(bytes);
    const message = decoded.ok && decoded.payload.kind === "message" ? decoded.payload.message : undefined;
    const problem = !decoded.ok
      ? decoded.error
      : message === undefined
        ? "a hello on the raft channel"
        : message.from !== from || message.to !== this.env.nodeId
          ? `message from ${message.from} to ${message.to} arrived from ${from} at ${this.env.nodeId}`
          : undefined;
    if (message === undefined || problem !== undefined) {
      this.stats.malformed += 1;
      this.env.log.warn({ from, error: problem }, "malformed raft message dropped");
      return "malformed";
    }
    this.stats.received += 1;
    this.deliver(message);
    return "ok";
  };
}
