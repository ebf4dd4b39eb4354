// What simulated clients and nodes say to each other over the simulated network.
// (The real node speaks Connect RPC; the simulator needs only this much.)

import type { NodeId } from "../raft/types.ts";

export type ClientOperation =
  | { readonly f: "get"; readonly key: string }
  | { readonly f: "put"; readonly key: string; readonly value: string }
  | { readonly f: "cas"; readonly key: string; readonly expected: string; readonly value: string };

export interface ClientRequest {
  readonly type: "client-request";
  /** Unique per client and attempt, increasing: replies to older attempts are ignored. */
  readonly requestId: number;
  readonly operation: ClientOperation;
}

/**
 * ok: applied (put, cas with `swapped`) or read (get with `value`).
 * rejected: certainly no effect; `leaderHint` is the node's idea of the leader (0 if none).
 * unknown: may or may not take effect.
 */
export type ClientOutcome =
  | { readonly status: "ok"; readonly value: string; readonly swapped: boolean }
  | { readonly status: "rejected"; readonly leaderHint: NodeId; readonly reason: string }
  | { readonly status: "unknown"; readonly reason: string };

export interface ClientReply {
  readonly type: "client-reply";
  readonly requestId: number;
  readonly outcome: ClientOutcome;
}

/**
 * What is wrong with a reply for `operation`, or undefined when it has the shape the operation
 * expects. The workload checks every reply with this before it reads one field ("Client
 * Protocol"), so a node or codec that answers with the wrong shape is a named failure with
 * its seed, never a TypeError inside the simulator.
 */
export function clientReplyProblem(operation: ClientOperation, reply: unknown): string | undefined {
  if (typeof reply !== "object" || reply === null) return `a ${operation.f} got a reply that is not an object (${typeof reply})`;
  const fields = reply as { readonly requestId?: unknown; readonly outcome?: unknown };
  if (!Number.isSafeInteger(fields.requestId)) return `a ${operation.f} got a reply without an integer request id`;
  return clientOutcomeProblem(operation, fields.outcome);
}

function clientOutcomeProblem(operation: ClientOperation, outcome: unknown): string | undefined {
  if (typeof outcome !== "object" || outcome === null) return `a ${operation.f} got an outcome that is not an object (${typeof outcome})`;
  const fields = outcome as { readonly status?: unknown; readonly value?: unknown; readonly swapped?: unknown; readonly leaderHint?: unknown; readonly reason?: unknown };
  switch (fields.status) {
    case "ok":
      if (typeof fields.value !== "string") return `a ${operation.f} got ok with a value of type ${typeof fields.value}, not a string`;
      if (typeof fields.swapped !== "boolean") return `a ${operation.f} got ok without a boolean "swapped"`;
      if (operation.f === "put" && (fields.swapped !== true || fields.value !== operation.value)) return `a put of "${operation.value}" got ok for "${fields.value}" (swapped ${fields.swapped})`;
      if (operation.f === "cas" && fields.swapped && fields.value !== operation.value) return `a cas to "${operation.value}" swapped but reports the value "${fields.value}"`;
      return undefined;
    case "rejected":
      if (!Number.isSafeInteger(fields.leaderHint) || (fields.leaderHint as number) < 0) return `a ${operation.f} got rejected with leader hint ${String(fields.leaderHint)}`;
      if (typeof fields.reason !== "string") return `a ${operation.f} got rejected without a reason`;
      return undefined;
    case "unknown":
      if (typeof fields.reason !== "string") return `a ${operation.f} got unknown without a reason`;
      return undefined;
    default:
      return `a ${operation.f} got an outcome with status ${JSON.stringify(fields.status)}`;
  }
}
