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
