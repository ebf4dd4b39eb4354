// What simulated clients ask and how they read the answer. They speak the production client
// channel (src/core/wire/client-codec.ts) to the nodes' request paths (client-path.ts), so
// this file only maps a history operation to the request path's ClientRequest, and checks an
// outcome's shape against its operation before the workload reads it ("Client Protocol").

import { assert, unreachable } from "../assert.ts";
import type { KvTxnOp } from "../replica/kv-txn.ts";
import type { ClientRequest, RequestOutcome } from "../replica/request-types.ts";

/** A list-append transaction's micro-operation (Elle's [:append k v] and [:r k list]). */
export type TxnMicroOp = { readonly f: "append"; readonly key: string; readonly value: string } | { readonly f: "r"; readonly key: string };

export type ClientOperation =
  | { readonly f: "get"; readonly key: string }
  | { readonly f: "put"; readonly key: string; readonly value: string }
  | { readonly f: "cas"; readonly key: string; readonly expected: string; readonly value: string }
  /** Deletes one key (not a prefix): afterwards it reads as "" again, as a key never written. */
  | { readonly f: "delete"; readonly key: string }
  /** A list-append transaction: one etcd-style txn without compares whose success branch runs the micro-ops in order. */
  | { readonly f: "txn"; readonly micro: readonly TxnMicroOp[] };

/** The request path's request for an operation (reads are linearizable: ReadIndex). */
export function requestFor(operation: ClientOperation): ClientRequest {
  switch (operation.f) {
    case "get":
      return { kind: "get", key: operation.key };
    case "put":
      return { kind: "put", key: operation.key, value: operation.value };
    case "cas":
      return { kind: "cas", key: operation.key, expected: operation.expected, value: operation.value };
    case "delete":
      return { kind: "delete", key: operation.key, prefix: false };
    case "txn": {
      assert(operation.micro.length > 0, "a transaction without micro-operations");
      const success = operation.micro.map((micro): KvTxnOp => (micro.f === "append" ? { op: "append", key: micro.key, value: micro.value } : { op: "read-list", key: micro.key }));
      return { kind: "txn", txn: { compares: [], success, failure: [] } };
    }
    default:
      return unreachable(operation, "client operation");
  }
}

/**
 * What is wrong with an outcome for `operation`, or undefined when it has the shape the
 * operation expects. The codec already refused malformed bytes; this checks what the codec
 * cannot know: that an ok carries the result of the operation's own kind. The workload checks
 * every outcome with it before it reads one field, so a node that answers with the wrong shape
 * is a named failure with its seed.
 */
export function outcomeProblem(operation: ClientOperation, outcome: RequestOutcome): string | undefined {
  if (outcome.status !== "ok") return undefined;
  const result = outcome.result;
  const expected = operation.f === "get" ? "get" : operation.f;
  if (result.kind !== expected) return `a ${operation.f} got ok with a ${result.kind} result`;
  if (result.kind === "delete" && (result.deleted > 1 || result.more)) return `a delete of one key answered ${result.deleted} deleted${result.more ? ", more to come" : ""}`;
  if (operation.f === "txn" && result.kind === "txn") {
    // No compares: the success branch must have run, one result per micro-op, each of its own kind.
    if (!result.succeeded) return "a transaction without compares answered that its compares failed";
    if (result.results.length !== operation.micro.length) return `a transaction of ${operation.micro.length} micro-ops got ${result.results.length} results`;
    for (let i = 0; i < operation.micro.length; i++) {
      const want = operation.micro[i]!.f === "append" ? "append" : "read-list";
      if (result.results[i]!.op !== want) return `a transaction's micro-op ${i + 1} (${want}) got a ${result.results[i]!.op} result`;
    }
  }
  return undefined;
}
