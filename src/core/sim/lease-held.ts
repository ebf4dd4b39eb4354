// The "Lease Held" property, checked whenever a replica answers a read from its leader lease
// (readMode "lease", docs/RAFT.md "Lease reads"): the lease must still rest on a quorum of
// voters that keep their promise, i.e. that would refuse a campaign right now.
//
// The simulator sees every node's state at once, so it can check the lease against the
// promises directly, in true time, instead of waiting for its consequence (a stale read needs
// a successor elected, a write acknowledged by it and a read at the old leader, all inside the
// few milliseconds by which a bad lease outlives its promises). A voter keeps the promise when
// it is the leader itself, is down or opening its storage (it starts inside a lease:
// strictLeaderLease), or heard from a leader (or started) fewer than electionTicks ticks ago
// and follows no leader of a newer term. A correct lease ends, in true time, before the
// promise of every voter that confirmed it (src/core/lease/lease.ts), and those voters form a
// quorum, so the property holds whatever the clocks do within their bound.

import type { NodeId, RaftCore } from "../raft/types.ts";

/** At most this many free voters are named in a report. */
const NAMED_VOTERS_MAX = 8;

/**
 * A one-line violation, or undefined: `leaderId` answered a read of term `term` from its lease
 * while fewer than a quorum of `voters` kept the promise. `coreOf` gives a running node's core,
 * or undefined when it is down.
 */
export function leaseHeldProblem(
  leaderId: NodeId,
  term: number,
  voters: readonly NodeId[],
  coreOf: (id: NodeId) => RaftCore | undefined,
  electionTicks: number,
): string | undefined {
  let keeping = 0;
  const free: string[] = [];
  for (const id of voters) {
    const core = id === leaderId ? undefined : coreOf(id);
    if (core === undefined) {
      keeping += 1;
      continue;
    }
    const ticks = core.ticksSinceLeaderContact();
    const followsNewerLeader = core.currentTerm() > term && core.currentLeader() !== 0;
    if (ticks < electionTicks && !followsNewerLeader) {
      keeping += 1;
    } else if (free.length < NAMED_VOTERS_MAX) {
      free.push(followsNewerLeader ? `${id} (follows leader ${core.currentLeader()} of term ${core.currentTerm()})` : `${id} (heard from no leader for ${ticks} ticks)`);
    }
  }
  const quorum = Math.floor(voters.length / 2) + 1;
  if (keeping >= quorum) return undefined;
  return `leader ${leaderId} answered a read of term ${term} from its lease while only ${keeping} of ${voters.length} voters kept the promise (quorum ${quorum}); free to vote: ${free.join(", ")}`;
}
