// The catalogue of coverage points in core code (Environment.reached; Antithesis's Sometimes and
// Reachable): every named rare path that some simulation run should reach, where it is, and what
// reaching it means. Reaching a point is an observation, never an event: it changes nothing in the
// run (no state, no randomness, no trace line), so a run's trace hash is the same whether anyone
// counts. Production answers noCoverage: one call that does nothing. The simulator counts every
// point per run (src/core/sim/coverage-counter.ts), and the VOPR reports which points a batch
// reached and which it never did (docs/SIMULATION.md, "Coverage"): a point no run reaches is a gap
// in the tests, not a success.

export const COVERAGE_POINTS = {
  // Raft (src/core/raft/raw-node.ts, through RaftConfig.reached).
  "raft/check-quorum-step-down": "a leader that has not heard from a quorum within an election timeout steps down (CheckQuorum)",
  "raft/pre-vote-rejected": "a voter refuses a pre-vote (its log is newer, or it still hears from a leader)",
  "raft/campaign-ignored-in-lease": "a voter ignores a higher-term campaign because it heard from a leader within the election timeout",
  "raft/stale-leader-told-newer-term": "a node answers a stale leader's append or heartbeat with its newer term, so the old leader steps down",
  "raft/election-lost": "a (pre-)candidate counts a majority of refusals and goes back to follower",
  "raft/append-rejected-log-mismatch": "a follower rejects an append whose previous entry it lacks or holds with another term",
  "raft/conflicting-entries-truncated": "a follower truncates a conflicting suffix of its log before appending the leader's entries",
  "raft/snapshot-sent": "a leader sends a snapshot to a follower whose next entry was compacted away",
  "raft/snapshot-installed": "a follower replaces its log with a snapshot received from the leader",
  "raft/leader-transfer-campaign": "a follower receives TimeoutNow and campaigns at once (leadership transfer)",
  "raft/read-index-answered": "a leader confirms ReadIndex reads with a quorum's heartbeat answers",
  "raft/removed-leader-hands-over": "a leader whose own removal committed hands over to the most up-to-date voter and steps down",
  // Storage (src/core/storage/raft-storage.ts, through StorageOptions.reached).
  "storage/torn-tail-repaired": "opening a store finds a torn record after the last sync point (a crash's trace) and truncates it",
  "storage/corrupt-store-detected": "opening a store finds a corrupt record (or a defect before the sync point) and refuses it",
  // The replica driver (src/core/replica/replica.ts).
  "replica/persist-refused-no-space": "a persist stops with ENOSPC: the Ready waits and is retried until the disk has room",
  "replica/snapshot-refused-no-space": "a snapshot write stops with ENOSPC: compaction waits and the log stays longer",
  // The request path (src/core/replica/request-path.ts).
  "request-path/forward-outcome-unknown": "a forwarded request gets no answer (lost, the leader crashed) and resolves as unknown",
  "request-path/forward-not-sent": "a request cannot be forwarded (no address yet, or the queue is full) and resolves as not applied",
  // The orchestrator: the cluster controller (src/core/controller/cluster-controller.ts) and the node agent (src/core/agent/node-agent.ts).
  "controller/node-declared-down": "the controller declares down a node whose lease renewal it has not seen for the lease bound",
  "controller/vm-evacuated": "a node declared down still holds VMs: they are placed elsewhere",
  "controller/placement-evicts": "a placement evicts lower-priority VMs to make room",
  "controller/vm-migrated-off-draining-node": "the controller moves a running VM off a draining node",
  "controller/proposal-retried": "a controller proposal does not commit (not leader, timeout, unknown) and is looked at again next round",
  "agent/lease-expired-self-fence": "a node agent's lease runs out (its node paused, partitioned or cut off) and it kills its VMs",
  "agent/learned-declared-down": "a node agent learns it was declared down and must register again",
} as const;

export type CoveragePointName = keyof typeof COVERAGE_POINTS;
export const COVERAGE_POINT_NAMES: readonly CoveragePointName[] = (Object.keys(COVERAGE_POINTS) as CoveragePointName[]).sort();

export function isCoveragePointName(name: string): name is CoveragePointName {
  return Object.hasOwn(COVERAGE_POINTS, name);
}

/** Called by core code on reaching a named rare path: an observation only (it returns nothing, changes nothing). */
export type CoverageHook = (name: CoveragePointName) => void;

/** Production's hook, and the default wherever nobody counts: it does nothing. */
export const noCoverage: CoverageHook = () => {};
