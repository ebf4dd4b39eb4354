// Majority arithmetic over a set of voters (etcd-io/raft's quorum/majority.go, without joint
// configurations: Blixard changes membership one server at a time).

import { assert } from "../assert.ts";
import type { NodeId } from "./types.ts";

/** The number of voters that makes a majority of `voterCount`. */
export function majoritySize(voterCount: number): number {
  assert(Number.isSafeInteger(voterCount) && voterCount > 0, "a configuration needs at least one voter");
  return Math.floor(voterCount / 2) + 1;
}

/** Upper bound on the voters one configuration may have (etcd-io/raft's clusters are 3-7). */
export const MAX_VOTERS = 1 << 10;

/** Scratch for committedIndex: reused so counting a quorum allocates nothing. */
const scratchIndexes: number[] = [];

/**
 * The largest index that a majority of voters have acknowledged: sort the voters' indexes
 * descending and take the majority-th one. `indexOf` returns 0 for a voter with nothing known.
 */
export function committedIndex(voters: readonly NodeId[], indexOf: (id: NodeId) => number): number {
  assert(voters.length > 0, "no voters to count");
  assert(voters.length <= MAX_VOTERS, "more voters than MAX_VOTERS");
  for (let i = 0; i < voters.length; i += 1) scratchIndexes[i] = indexOf(voters[i]!);
  return quorumIndex(scratchIndexes, voters.length);
}

/**
 * The majority-th largest of `indexes[0..count)`, the first `count` voters' acknowledged indexes;
 * sorts that prefix descending in place (an insertion sort: a handful of voters, no allocation).
 * The caller owns `indexes` as scratch; elements at and after `count` are ignored.
 */
export function quorumIndex(indexes: number[], count: number): number {
  if (!(count > 0 && count <= indexes.length && count <= MAX_VOTERS)) assert(false, `quorum over ${count} of ${indexes.length} indexes`);
  for (let i = 1; i < count; i += 1) {
    const value = indexes[i]!;
    let j = i - 1;
    while (j >= 0 && indexes[j]! < value) {
      indexes[j + 1] = indexes[j]!;
      j -= 1;
    }
    indexes[j + 1] = value;
  }
  const committed = indexes[majoritySize(count) - 1]!;
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
