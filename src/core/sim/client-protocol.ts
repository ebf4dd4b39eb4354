// What simulated clients ask and how they read the answer. They speak the production client
// channel (src/core/wire/client-codec.ts) to the nodes' request paths (client-path.ts), so
// this file only maps a history operation to the request path's ClientRequest, and checks an
// outcome's shape against its operation before the workload reads it ("Client Protocol").

import { unreachable } from "../assert.ts";
import type { ClientRequest, RequestOutcome } from "../replica/request-types.ts";

export type ClientOperation =
  | { readonly f: "get"; readonly key: string }
  | { readonly f: "put"; readonly key: string; readonly value: string }
  | { readonly f: "cas"; readonly key: string; readonly expected: string; readonly value: string };

/** The request path's request for an operation (reads are linearizable: ReadIndex). */
export function requestFor(operation: ClientOperation): ClientRequest {
  switch (operation.f) {
    case "get":
      return { kind: "get", key: operation.key };
    case "put":
      return { kind: "put", key: operation.key, value: operation.value };
    case "cas":
      return { kind: "cas", key: operation.key, expected: operation.expected, value: operation.value };
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
  return undefined;
}
