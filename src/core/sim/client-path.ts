// How simulated clients reach the cluster: exactly as real ones reach a node's request path.
// A client's operation travels as client-codec bytes (src/core/wire/client-codec.ts) on the
// client channel to a node; the node's request path (src/core/replica/request-path.ts, the
// one production runs) serves it or forwards it to the leader over the simulated network;
// the outcome comes back as bytes and the workload records it. The simulator has no client
// protocol and no outcome mapping of its own, so histories are judged by production's.

import { assert } from "../assert.ts";
import type { EndpointId } from "../env/environment.ts";
import type { NodeId } from "../raft/types.ts";
import type { ClientRequest, RequestOutcome } from "../replica/request-types.ts";
import { decodeClientFrame, encodeClientFrame } from "../wire/client-codec.ts";
import type { Cluster } from "./cluster.ts";
import { TRACE } from "./trace.ts";
import type { ClientBytes, World } from "./world.ts";

/** Simulated clients send with this origin word (request ids are unique across the workload). */
const CLIENT_ORIGIN = 0;

export class SimClientPath {
  constructor(
    private readonly world: World<ClientBytes>,
    private readonly cluster: Cluster,
    /** The workload's side: the outcome of request `requestId` reached client endpoint `to`. */
    private readonly outcomeArrived: (to: EndpointId, requestId: number, outcome: RequestOutcome) => void,
  ) {}

  /** A client sends a request to a node, as a client would (hops 0: the node may forward it). */
  send(fromEndpoint: EndpointId, toNode: NodeId, requestId: number, request: ClientRequest): void {
    const bytes = encodeClientFrame({ kind: "request", origin: CLIENT_ORIGIN, requestId, hops: 0, request });
    this.world.network.send(fromEndpoint, toNode, { type: "client", bytes }, false);
  }

  /** The network delivers client-channel bytes: at a node (a request, or a forward's outcome) or at a client (an outcome). */
  deliver(from: EndpointId, to: EndpointId, payload: ClientBytes): void {
    if (to < this.world.firstClientEndpoint) return this.deliverToNode(from, to, payload.bytes);
    const decoded = decodeClientFrame(payload.bytes);
    // Nodes are correct: what they send a client always decodes.
    assert(decoded.ok && decoded.frame.kind === "outcome", () => `node ${from} sent client ${to} bytes that are not an outcome`);
    assert(decoded.frame.origin === CLIENT_ORIGIN, () => `node ${from} answered client ${to} with origin ${decoded.frame.origin}`);
    this.world.trace.event(TRACE.clientReply, from, to, decoded.frame.requestId);
    this.outcomeArrived(to, decoded.frame.requestId, decoded.frame.outcome);
  }

  private deliverToNode(from: EndpointId, to: NodeId, bytes: Uint8Array): void {
    const incarnation = this.cluster.incarnation(to);
    const process = incarnation?.process;
    const receiver = process?.clientReceiver;
    if (process === undefined || receiver === undefined) return; // down or still opening its storage: the bytes are lost
    this.world.runOnHost(
      this.world.host(to),
      TRACE.clientRequest,
      from,
      () => {
        // Clients and nodes are correct: bytes a node refuses are a codec or request-path bug.
        if (receiver(from, bytes) === "malformed") assert(false, `node ${to} refused client-channel bytes from endpoint ${from} as malformed`);
      },
      process,
    );
  }
}
