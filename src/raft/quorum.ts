// Majority arithmetic over a set of voters (etcd-io/raft's quorum/majority.go, without joint
// configurations: Blixard changes membership one server at a time).

import { assert } from "../assert.ts";
import type { NodeId } from "./types.ts";

/** The number of voters that makes a majority of `voterCount`. */
export function majoritySize(voterCount: number): number {
  assert(Number.isSafeInteger(voterCount) && voterCount > 0, "a configuration needs at least one voter");
  return Math.floor(voterCount / 2) + 1;
}

/**
 * The largest index that a majority of voters have acknowledged: sort the voters' indexes
 * descending and take the majority-th one. `indexOf` returns 0 for a voter with nothing known.
 */
export function committedIndex(voters: readonly NodeId[], indexOf: (id: NodeId) => number): number {
  assert(voters.length > 0, "no voters to count");
  const indexes = voters.map(indexOf).sort((a, b) => b - a);
  const committed = indexes[majoritySize(voters.length) - 1]!;
  assert(committed >= 0, "acknowledged indexes are non-negative");
  return committed;
}

export type VoteOutcome = "won" | "lost" | "pending";

/** The outcome of an election given the answers received so far (absent voters have not answered). */
export function voteOutcome(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteOutcome {
  assert(voters.length > 0, "no voters to count");
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const vote = votes.get(id);
    if (vote === true) granted += 1;
    else if (vote === false) rejected += 1;
  }
  const needed = majoritySize(voters.length);
  if (granted >= needed) return "won";
  if (voters.length - rejected < needed) return "lost";
  return "pending";
}

/** Whether the voters for which `has` holds make up a majority. */
export function hasQuorum(voters: readonly NodeId[], has: (id: NodeId) => boolean): boolean {
  if (voters.length === 0) return false;
  let count = 0;
  for (const id of voters) if (has(id)) count += 1;
  return count >= majoritySize(voters.length);
}
