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

/** Messages held back by a net.send delay at once; beyond it a delayed send is refused instead (a limit like any queue's). */
export const RAFT_SENDS_DELAYED_MAX = 4_096;

export class RaftChannel {
  readonly stats: RaftChannelStats = { sent: 0, notSent: 0, received: 0, malformed: 0 };
  private delayed = 0;

  constructor(
    private readonly env: Environment,
    private readonly deliver: (message: Message) => void,
  ) {
    env.transport.receive("raft", this.onBytes);
  }

  send(message: Message): void {
    if (message.from !== this.env.nodeId) assert(false, `node ${this.env.nodeId} sends a message from ${message.from}`);
    if (message.to === this.env.nodeId) assert(false, "a node does not send messages to itself");
    // docs/FAILPOINTS.md, net.send: refused as if the peer's send queue were full (Raft
    // retransmits), or sent later through a timer.
    const verdict = this.env.failpoint("net.send");
    if (verdict !== undefined) {
      if (verdict.kind === "delay" && this.delayed < RAFT_SENDS_DELAYED_MAX) {
        this.delayed += 1;
        const bytes = encodeMessage(message);
        this.env.timers.after(verdict.ms, () => {
          this.delayed -= 1;
          this.transmit(message.to, bytes);
        });
        return;
      }
      assert(verdict.kind === "return" || verdict.kind === "delay", "net.send answers return or delay");
      this.stats.notSent += 1;
      return;
    }
    this.transmit(message.to, encodeMessage(message));
  }

  private transmit(to: EndpointId, bytes: Uint8Array): void {
    // The frame limit is the transport's, one check on every path (TCP and the simulated network):
    // only a snapshot can exceed it, and then send says false and the follower keeps asking.
    if (this.env.transport.send("raft", to, bytes)) this.stats.sent += 1;
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
    // docs/FAILPOINTS.md, net.receive: dropped as if lost on the way (not malformed: the peer is honest).
    if (this.env.failpoint("net.receive") !== undefined) return "ok";
    this.deliver(message);
    return "ok";
  };
}
