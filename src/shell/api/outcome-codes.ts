// The request path's outcome classes (src/core/replica/request-types.ts) as Connect codes, and
// back: what a client may conclude from a code (docs/OPERATIONS.md has the table).
//
//   certainly not applied  unavailable, resource_exhausted, failed_precondition, invalid_argument
//   outcome unknown        deadline_exceeded, always, whatever the reason (timeout, the node
//                          stopped with the request in flight, a forward lost after it left)
//
// Why deadline_exceeded for every unknown outcome: it is the one standard code whose meaning
// already is "the operation may have completed", so generic clients treat it right. Nothing
// that is certainly not applied uses it (a read that timed out is unknown too: it had no effect
// either way, but it has no answer). And why no node ever answers `aborted` (which meant
// "superseded, not applied" before): the Connect client itself reports a connection reset
// after the request was sent ("socket hang up", ECONNRESET) as aborted, and such a request may
// have been applied; so aborted, like internal and unknown, can only mean "unknown" to a client.
// A superseded entry (certainly not applied) is unavailable: retry.

import { Code, ConnectError } from "@connectrpc/connect";
import { unreachable } from "../../core/assert.ts";
import type { NotAppliedReason, RequestOutcome } from "../../core/replica/request-types.ts";

/** The code a node answers for a not-applied reason. */
export function codeForNotApplied(reason: NotAppliedReason): Code {
  switch (reason) {
    case "not-leader":
    case "no-leader":
    case "forward-not-sent":
    case "stopped":
    case "superseded":
      return Code.Unavailable;
    case "overloaded":
    case "too-many-uncommitted":
    case "too-many-pending-reads":
    case "map-full":
      return Code.ResourceExhausted;
    case "conf-change-pending":
    case "invalid-conf-change":
    case "transfer-in-progress":
      return Code.FailedPrecondition;
    case "invalid":
      return Code.InvalidArgument;
    default:
      return unreachable(reason, "not-applied reason");
  }
}

/** The error a node answers for an outcome that is not ok; `whereIs` names a leader's API address ("" when unknown). */
export function outcomeError(outcome: Exclude<RequestOutcome, { status: "ok" }>, whereIs: (id: number) => string = () => ""): ConnectError {
  switch (outcome.status) {
    case "not-applied": {
      const leader = outcome.leaderHint;
      const where = leader !== 0 ? whereIs(leader) : "";
      const code = codeForNotApplied(outcome.reason);
      // Where to retry, for the answers that say "retry, maybe elsewhere".
      const hint = leader === 0 || code !== Code.Unavailable ? "" : ` [leader: node ${leader}${where !== "" ? ` at ${where}` : ""}]`;
      return new ConnectError(`${outcome.detail}${hint}`, code);
    }
    case "unknown":
      return new ConnectError(`outcome unknown (${outcome.reason}): ${outcome.detail}`, Code.DeadlineExceeded);
    default:
      return unreachable(outcome, "request outcome");
  }
}

export type OutcomeClass = "not-applied" | "unknown";

/**
 * What a client may conclude from an error's code, counting the codes its own library makes up:
 * a refused connection is unavailable (never sent); a reset one is aborted (maybe applied); its
 * own deadline is deadline_exceeded (maybe applied).
 */
export function outcomeClassOfCode(code: Code): OutcomeClass {
  switch (code) {
    case Code.Unavailable:
    case Code.ResourceExhausted:
    case Code.FailedPrecondition:
    case Code.InvalidArgument:
    case Code.NotFound:
    case Code.AlreadyExists:
    case Code.PermissionDenied:
    case Code.Unauthenticated:
    case Code.Unimplemented:
    case Code.OutOfRange:
      return "not-applied";
    case Code.DeadlineExceeded:
    case Code.Aborted:
    case Code.Canceled:
    case Code.Internal:
    case Code.Unknown:
    case Code.DataLoss:
      return "unknown";
    default:
      return "unknown";
  }
}
