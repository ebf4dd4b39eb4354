// The cluster state's refusals (RejectionCode, src/core/cluster/types.ts) as Connect codes, for
// the VM, node and tenant services. A refused command was applied as a no-op on every replica,
// so every one of these is "certainly not applied" (the outcome header says so, as for the kv
// API: outcome-codes.ts), and the refusal's own code travels in REJECTION_HEADER so a client can
// tell stale-generation from conflict without parsing the message.
//
//   not-found                                     NotFound
//   already-exists                                AlreadyExists
//   stale-generation, stale-plan, stale-epoch,    FailedPrecondition: the state is not what the
//   conflict                                      caller assumed; read it again, then decide.
//   invalid                                       InvalidArgument (the message names the field)
//   quota-exceeded, no-capacity, limit-exceeded,  ResourceExhausted
//   pool-exhausted
//
// Why FailedPrecondition and not Aborted for stale-generation (which gRPC's guide suggests for
// a compare-and-set that lost a race): Blixard never answers Aborted, because the Connect
// client itself reports a connection reset after sending as Aborted, so to a Blixard client
// Aborted means "outcome unknown" (outcome-codes.ts). A refusal is certain: FailedPrecondition.
import { Code, type ConnectError } from "@connectrpc/connect";
import { unreachable } from "../../core/assert.ts";
import type { RejectionCode } from "../../core/cluster/types.ts";
import { notAppliedError } from "./outcome-codes.ts";

/** The header that carries the state machine's RejectionCode on a refused write. */
export const REJECTION_HEADER = "blixard-rejection";

export function codeForRejection(code: RejectionCode): Code {
  switch (code) {
    case "not-found":
      return Code.NotFound;
    case "already-exists":
      return Code.AlreadyExists;
    case "stale-generation":
    case "stale-plan":
    case "stale-epoch":
    case "conflict":
      return Code.FailedPrecondition;
    case "invalid":
      return Code.InvalidArgument;
    case "quota-exceeded":
    case "no-capacity":
    case "limit-exceeded":
    case "pool-exhausted":
      return Code.ResourceExhausted;
    default:
      return unreachable(code, "rejection code");
  }
}

/**
 * The command validation names fields from the envelope ("body.spec.resources.vcpus: ..."); an
 * API caller knows them from its request ("spec.resources.vcpus: ...").
 */
export function apiFieldPath(message: string): string {
  return message.replace(/^body\./, "");
}

/** The error a service answers for a refused command. */
export function rejectionError(code: RejectionCode, message: string): ConnectError {
  const error = notAppliedError(`${code}: ${apiFieldPath(message)}`, codeForRejection(code));
  error.metadata.set(REJECTION_HEADER, code);
  return error;
}
