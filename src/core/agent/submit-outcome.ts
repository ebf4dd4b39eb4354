// What the node agent learns of a command it proposed, through the injected submit function
// (the lead adapts the replica's request path to it):
//   ok           applied at `index`; result is the state machine's answer (which may be a rejection);
//   not-applied  certainly not applied (refused before it could reach the log);
//   unknown      may or may not have been applied (timed out, leader lost).
// The agent never extends its lease on anything but "ok" with an ok result.

import type { ClusterResult, CommandEnvelope } from "../cluster/types.ts";

export type SubmitOutcome =
  | { readonly status: "ok"; readonly index: number; readonly result: ClusterResult }
  | { readonly status: "not-applied"; readonly detail: string }
  | { readonly status: "unknown"; readonly detail: string };

/** Proposes a command; `done` is called exactly once, later (never inside the call). */
export type SubmitCommand = (envelope: CommandEnvelope, done: (outcome: SubmitOutcome) => void) => void;
