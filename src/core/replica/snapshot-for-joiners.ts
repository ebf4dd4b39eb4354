// A joining node learns its membership from the leader's snapshot (docs/RAFT.md, Joining):
// a leader that never compacted has none to send, so it takes one now.

import type { Replica } from "./replica.ts";

/** Asks the replica for a snapshot when it leads, has applied something and has never compacted. Returns whether it asked. */
export function ensureSnapshotForJoiners(replica: Pick<Replica<unknown, unknown, unknown>, "core" | "requestSnapshot">, selfId: number): boolean {
  const core = replica.core;
  if (core.currentRole() !== "leader" || core.currentLeader() !== selfId) return false;
  if (core.snapshotIndex() !== 0 || core.appliedIndex() === 0) return false;
  replica.requestSnapshot();
  return true;
}
