// The raft channel of the transport: Raft messages as the wire codec's bytes, in both worlds.
// Sending encodes; receiving decodes and validates (validateMessage) before anything reaches
// the core, so a message a correct peer could not have sent is dropped and counted, and the
// transport is told to drop the connection it came on. The simulator carries these same bytes,
// so the codec, the validation and the frame limit run in every simulated run.

import { assert } from "../assert.ts";
import type { EndpointId, Environment, ReceiveVerdict } from "../env/environment.ts";
import type { Message } from "../raft/types.ts";
import { decodePeerPayload, encodeMessage } from "../wire/codec.ts";
import { DEFAULT_MAX_FRAME_BYTES } from "../wire/frame.ts";

export interface RaftChannelStats {
  sent: number;
  /** The transport refused them at once (no route, queue full, too large). */
  notSent: number;
  received: number;
  malformed: number;
}

export class RaftChannel {
  readonly stats: RaftChannelStats = { sent: 0, notSent: 0, received: 0, malformed: 0 };
  private readonly maxPayloadBytes: number;

  constructor(
    private readonly env: Environment,
    private readonly deliver: (message: Message) => void,
    maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES,
  ) {
    assert(Number.isSafeInteger(maxFrameBytes) && maxFrameBytes > 0, "the frame limit must be a positive integer");
    this.maxPayloadBytes = maxFrameBytes;
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
    const bytes = encodeMessage(message);
    if (bytes.length > this.maxPayloadBytes) {
      // Only a snapshot can be this large (appends are bounded by maxMessageBytes): an operating
      // limit, reported, not a crash; the follower keeps asking and the operator sees why.
      this.env.log.error({ peer: message.to, type: message.type, sizeBytes: bytes.length, limitBytes: this.maxPayloadBytes }, "message exceeds the frame limit: dropped");
      this.stats.notSent += 1;
      return;
    }
    if (this.env.transport.send("raft", message.to, bytes)) this.stats.sent += 1;
    else this.stats.notSent += 1;
  }

  /** The transport's receiver: one function for the channel's life, not a closure per message. */
  private readonly onBytes = (from: EndpointId, bytes: Uint8Array): ReceiveVerdict => {
    const decoded = decodePeerPayload(bytes, this.maxPayloadBytes);
    let problem: string | undefined;
    if (!decoded.ok) problem = decoded.error;
    else if (decoded.payload.kind !== "message") problem = "a hello on the raft channel";
    else if (decoded.payload.message.from !== from || decoded.payload.message.to !== this.env.nodeId) {
      problem = `message from ${decoded.payload.message.from} to ${decoded.payload.message.to} arrived from ${from} at ${this.env.nodeId}`;
    }
    if (problem !== undefined || !decoded.ok || decoded.payload.kind !== "message") {
      this.stats.malformed += 1;
      this.env.log.warn({ from, error: problem }, "malformed raft message dropped");
      return "malformed";
    }
    this.stats.received += 1;
    this.deliver(decoded.payload.message);
    return "ok";
  };
}
