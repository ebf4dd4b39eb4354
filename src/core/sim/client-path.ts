// How simulated clients reach the cluster: exactly as real ones reach a node's request path.
// A client's operation travels as client-codec bytes (src/core/wire/client-codec.ts) on the
// client channel to a node; the node's request path (src/core/replica/request-path.ts, the
// one production runs, registered as the host's client-channel receiver) serves it or
// forwards it to the leader over the simulated network; the outcome comes back as bytes to
// the client endpoint and the workload records it. The simulator has no client protocol and
// no outcome mapping of its own, so histories are judged by production's.

import { assert } from "../assert.ts";
import type { EndpointId } from "../env/environment.ts";
import type { NodeId } from "../raft/types.ts";
import { notApplied, type ClientRequest, type RequestOutcome } from "../replica/request-types.ts";
import { decodeClientFrame, encodeClientFrame } from "../wire/client-codec.ts";
import { TRACE } from "./trace.ts";
import type { World } from "./world.ts";

/** Simulated clients send with this origin word (request ids are unique across the workload). */
const CLIENT_ORIGIN = 0;

export class SimClientPath {
  constructor(
    private readonly world: World,
    /** The workload's side: the outcome of request `requestId` reached client endpoint `to`. */
    private readonly outcomeArrived: (to: EndpointId, requestId: number, outcome: RequestOutcome) => void,
    /** A node answered a client with bytes that are not an outcome for it ("Client Protocol"). */
    private readonly protocolViolation: (nodeId: NodeId, message: string) => void,
  ) {
    world.receiveAtClients("client", (from, to, bytes) => this.arrived(from, to, bytes));
  }

  /** A client sends a request to a node, as a real client would (hops 0: the node may forward it). */
  send(fromEndpoint: EndpointId, toNode: NodeId, requestId: number, request: ClientRequest): void {
    const bytes = encodeClientFrame({ kind: "request", origin: CLIENT_ORIGIN, requestId, hops: 0, request });
    if (this.world.sendFromClient("client", fromEndpoint, toNode, bytes)) return;
    // Certainly never left (frame limit, the link's queue bound): the client learns it at once, as from a refused connection.
    this.outcomeArrived(fromEndpoint, requestId, notApplied("forward-not-sent", 0, `the request could not be sent to node ${toNode}`));
  }

  /** The world's delivery at a client endpoint: an outcome's bytes. */
  private arrived(from: EndpointId, to: EndpointId, bytes: Uint8Array): void {
    const decoded = decodeClientFrame(bytes);
    if (!decoded.ok) return this.protocolViolation(from, `node ${from} sent client ${to} bytes that do not decode: ${decoded.error}`);
    const frame = decoded.frame;
    if (frame.kind !== "outcome" || frame.origin !== CLIENT_ORIGIN) {
      return this.protocolViolation(from, `node ${from} sent client ${to} a ${frame.kind} frame with origin ${frame.origin}`);
    }
    assert(from >= 1 && from < this.world.firstClientEndpoint, () => `client ${to} got an outcome from endpoint ${from}, not a node`);
    this.world.trace.event(TRACE.clientReply, from, to, frame.requestId);
    this.outcomeArrived(to, frame.requestId, frame.outcome);
  }
}
