// The simulator's client path, in one place so it can be replaced as a whole by the one
// request path over the client channel: how a node serves a simulated client's request
// (client-protocol.ts) with its replica, and how the answer travels back to the workload.
// Everything a client request touches on its way in and out of a node is in this file.

import { unreachable } from "../assert.ts";
import type { EndpointId } from "../env/environment.ts";
import type { NodeId } from "../raft/types.ts";
import { encodeKvCommand, type KvResult } from "../replica/kv-state-machine.ts";
import type { CommandOutcome, ReadOutcome, ReplicaRefusal } from "../replica/replica.ts";
import type { ClientOutcome, ClientReply, ClientRequest } from "./client-protocol.ts";
import type { Cluster, NodeIncarnation } from "./cluster.ts";
import type { SafetyMonitor } from "./properties.ts";
import { TRACE } from "./trace.ts";
import type { World } from "./world.ts";

export type ClientMessage = ClientRequest | ClientReply;

/**
 * What a client message would weigh as channel bytes, until simulated clients speak the client
 * channel's codec: a fixed header (type, request id, status, hint) and the strings it carries.
 * The network counts it against the frame limit, the link's queue bound and its bandwidth.
 */
export function clientMessageBytes(message: ClientMessage): number {
  const HEADER_BYTES = 16;
  if (message.type === "client-request") {
    const operation = message.operation;
    const strings = operation.key.length + (operation.f === "get" ? 0 : operation.value.length) + (operation.f === "cas" ? operation.expected.length : 0);
    return HEADER_BYTES + strings;
  }
  const outcome = message.outcome;
  return HEADER_BYTES + (outcome.status === "ok" ? outcome.value.length : outcome.reason.length);
}

export class SimClientPath {
  constructor(
    private readonly world: World<ClientMessage>,
    private readonly cluster: Cluster,
    private readonly monitor: SafetyMonitor,
    /** The workload's side: a reply reached client endpoint `to`. */
    private readonly replyArrived: (to: EndpointId, reply: ClientReply) => void,
    /** A node's replica answered with a result the operation cannot have ("Client Protocol"). */
    private readonly protocolViolation: (nodeId: NodeId, message: string) => void,
  ) {}

  /** A client sends a request to a node. */
  send(fromEndpoint: EndpointId, toNode: NodeId, request: ClientRequest): void {
    this.world.network.send(fromEndpoint, toNode, request);
  }

  /** The network delivers a client message (a request at a node, a reply at a client). */
  deliver(from: EndpointId, to: EndpointId, payload: ClientMessage): void {
    switch (payload.type) {
      case "client-reply":
        this.world.trace.event(TRACE.clientReply, from, to, payload.requestId);
        this.replyArrived(to, payload);
        return;
      case "client-request": {
        const incarnation = this.cluster.incarnation(to);
        if (incarnation?.replica === undefined) return; // down or still opening its storage: the request is lost
        this.world.runOnHost(this.world.host(to), TRACE.clientRequest, payload.requestId, () => this.serve(to, incarnation, from, payload));
        return;
      }
      default:
        return unreachable(payload, "client message");
    }
  }

  private serve(nodeId: NodeId, incarnation: NodeIncarnation, client: EndpointId, request: ClientRequest): void {
    // Replies and hints are methods, not closures per request: under tsx every named closure costs an Object.defineProperty.
    const replica = incarnation.replica!;
    const operation = request.operation;
    if (operation.f === "get") {
      replica.read({ key: operation.key }, (outcome: ReadOutcome<string>) => {
        if (outcome.status === "ok" && typeof outcome.result !== "string") {
          return this.protocolViolation(nodeId, `node ${nodeId} answered get ${operation.key} with a ${typeof outcome.result}, not a string`);
        }
        if (outcome.status === "ok") this.reply(nodeId, incarnation, client, request, { status: "ok", value: outcome.result, swapped: false });
        else this.reply(nodeId, incarnation, client, request, { status: "rejected", leaderHint: this.leaderHint(incarnation, outcome.refusal), reason: outcome.refusal.code });
      });
      return;
    }
    const command =
      operation.f === "put"
        ? encodeKvCommand({ op: "put", key: operation.key, value: operation.value })
        : encodeKvCommand({ op: "cas", key: operation.key, expected: operation.expected, value: operation.value });
    replica.submit(command, (outcome: CommandOutcome<KvResult>) => {
      switch (outcome.status) {
        case "ok": {
          const result = outcome.result;
          const problem = kvResultProblem(operation.f, result);
          if (problem !== undefined) return this.protocolViolation(nodeId, `node ${nodeId} answered ${operation.f} ${operation.key} with ${problem}`);
          if (result.op === "rejected") return this.reply(nodeId, incarnation, client, request, { status: "rejected", leaderHint: nodeId, reason: result.reason });
          if (incarnation.process.alive) this.monitor.acknowledgedAt(nodeId, outcome.index);
          if (result.op === "put") return this.reply(nodeId, incarnation, client, request, { status: "ok", value: operation.value, swapped: true });
          return this.reply(nodeId, incarnation, client, request, { status: "ok", value: result.current, swapped: result.swapped });
        }
        case "rejected":
          return this.reply(nodeId, incarnation, client, request, { status: "rejected", leaderHint: this.leaderHint(incarnation, outcome.refusal), reason: outcome.refusal.code });
        case "unknown":
          return this.reply(nodeId, incarnation, client, request, { status: "unknown", reason: outcome.reason });
      }
    });
  }

  private reply(nodeId: NodeId, incarnation: NodeIncarnation, client: EndpointId, request: ClientRequest, outcome: ClientOutcome): void {
    if (!incarnation.process.alive) return; // a crashed node answers nothing
    this.world.network.send(nodeId, client, { type: "client-reply", requestId: request.requestId, outcome });
  }

  private leaderHint(incarnation: NodeIncarnation, refusal: ReplicaRefusal): NodeId {
    if (refusal.code === "not-leader") return refusal.leaderId;
    return incarnation.process.alive ? incarnation.replica!.core.currentLeader() : 0;
  }
}

/** What is wrong with a state machine result for a put or cas, or undefined when it has that command's shape. */
function kvResultProblem(f: "put" | "cas", result: unknown): string | undefined {
  if (typeof result !== "object" || result === null) return `a result that is not an object (${typeof result})`;
  const fields = result as { readonly op?: unknown; readonly swapped?: unknown; readonly current?: unknown; readonly reason?: unknown };
  if (fields.op === "rejected") return typeof fields.reason === "string" ? undefined : "a rejection without a reason";
  if (fields.op !== f) return `a result for ${JSON.stringify(fields.op)}`;
  if (f === "cas" && (typeof fields.swapped !== "boolean" || typeof fields.current !== "string")) return "a cas result without a boolean swapped and a string current value";
  return undefined;
}
