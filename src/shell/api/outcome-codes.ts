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
//
// A code alone is not enough on the client side: the Connect client makes up codes of its own
// for failures of its connection (a timeout while connecting, or after the request was written,
// both come back as unavailable). So every error a node answers also carries the header
// `blixard-outcome: not-applied | unknown`, and a client believes "not applied" only from a node
// that said so, or from a connection that was certainly never made (refused, no such host).

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
    case "removed":
      return Code.Unavailable;
    case "overloaded":
    case "too-many-uncommitted":
    case "too-many-pending-reads":
    case "map-full":
    case "disk-full":
      return Code.ResourceExhausted;
    case "conf-change-pending":
    case "invalid-conf-change":
    case "transfer-in-progress":
    case "wrong-kind":
      return Code.FailedPrecondition;
    case "invalid":
      return Code.InvalidArgument;
    case "not-a-member":
      return Code.NotFound;
    default:
      return unreachable(reason, "not-applied reason");
  }
}

/** The header every error a node answers carries: what the client may conclude about the request's effect. */
export const OUTCOME_HEADER = "blixard-outcome";

/** An error the node answers for a request it certainly did not apply (bad input, refused, full). */
export function notAppliedError(message: string, code: Code): ConnectError {
  if (code === Code.DeadlineExceeded) throw new Error("deadline_exceeded always means the outcome is unknown");
  return new ConnectError(message, code, new Headers({ [OUTCOME_HEADER]: "not-applied" }));
}

/** An error the node answers when the request may or may not have been applied. */
export function unknownOutcomeError(message: string): ConnectError {
  return new ConnectError(message, Code.DeadlineExceeded, new Headers({ [OUTCOME_HEADER]: "unknown" }));
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
      return notAppliedError(`${outcome.detail}${hint}`, code);
    }
    case "unknown":
      return unknownOutcomeError(`outcome unknown (${outcome.reason}): ${outcome.detail}`);
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

/** Failures of a connection that was never made: the request certainly never reached a node. */
const NEVER_CONNECTED = /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|EADDRNOTAVAIL/;

/**
 * What a client may conclude from a failed call. A node's own answer says so in OUTCOME_HEADER;
 * without it the error was made by the client library (or by something that is not a Blixard
 * node), and only a connection that was certainly never made means "not applied": a timeout or a
 * reset after connecting may have delivered the request, whatever code the library chose.
 */
export function outcomeClassOfError(error: ConnectError): OutcomeClass {
  const said = error.metadata.get(OUTCOME_HEADER);
  if (said === "not-applied" || said === "unknown") return said;
  const causeCode = (error.cause as { code?: unknown } | undefined)?.code;
  const text = `${error.rawMessage} ${typeof causeCode === "string" ? causeCode : ""}`;
  if (error.code === Code.Unavailable && NEVER_CONNECTED.test(text)) return "not-applied";
  return "unknown";
}
