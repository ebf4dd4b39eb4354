// How the test harness provokes each planted bug (src/core/raft/types.ts PlantedBug): the fault
// profile, cluster size, run length and any tuning, plus the property that must catch it.
// Shared by test/core/sim/planted-bugs.test.ts and test/core/sim/scan-planted-bugs.ts (which
// produced the seed lists and the table in docs/PLANTED-BUGS.md).

import type { PlantedBug } from "../../../src/core/raft/types.ts";
import type { StoragePlantedBug } from "../../../src/core/storage/raft-storage.ts";
import { FAULT_PROFILES } from "../../../src/core/sim/fault-profile.ts";
import type { PropertyName } from "../../../src/core/sim/properties.ts";
import { seedFromNumber } from "../../../src/core/sim/seed.ts";
import { simReplicaOptions, type SimulationOptions } from "../../../src/core/sim/simulation.ts";
import { unpaddedValueSizes } from "../../../src/core/sim/workload.ts";
import { leaseRunOptions } from "./lease-bug-configs.ts";

export interface PlantedBugConfig {
  readonly bug: PlantedBug;
  /** The property the simulator must report. */
  readonly property: PropertyName;
  /** Why that property, and what the configuration does to provoke the bug. */
  readonly note: string;
  /**
   * Seeds the test tries, in order, until one catches the bug (its first violation must be
   * `property`); the seeds it tried must pass with the bug off. Sized from the scan
   * (docs/PLANTED-BUGS.md) so that a bug is caught well before the end of its list.
   */
  readonly seeds: readonly number[];
  readonly options: (seed: number) => SimulationOptions;
}

/** Seeds first..last, in order. */
function range(first: number, last: number): number[] {
  return Array.from({ length: last - first + 1 }, (_, i) => first + i);
}

function base(seed: number, profile: string, durationMs: number, nodeCount = 5): SimulationOptions {
  return { seed: seedFromNumber(seed), nodeCount, durationMs, profile: FAULT_PROFILES[profile]! };
}

export const PLANTED_BUG_CONFIGS: readonly PlantedBugConfig[] = [
  {
    bug: "vote-without-log-check",
    property: "Leader Completeness",
    note: "elections profile: a candidate with a stale log wins and lacks committed entries",
    seeds: range(1, 10),
    options: (seed) => base(seed, "elections", 20_000),
  },
  {
    bug: "commit-previous-term-by-counting",
    property: "Leader Commits Own Term",
    note: "figure-8 profile, 3 nodes, one entry per append and one append in flight, 16 write-heavy clients retrying fast: leaders keep old-term suffixes and commit one by counting (Leader Commits Own Term sees it at that step; before that property existed, Leader Completeness saw it when a later leader overwrote the entry). The Figure 8 sequence needs a precise schedule: small unpadded values and no CPU time for apply (the scan's conditions)",
    seeds: range(1, 60),
    options: (seed) => ({
      ...base(seed, "figure-8", 60_000, 3),
      profile: { ...FAULT_PROFILES["figure-8"]!, cpuApplyEntryUs: 0, cpuApplyByteNs: 0, cpuEventUs: 0 },
      replica: { raft: { ...simReplicaOptions.raft, maxMessageBytes: 1, maxInflightMessages: 1 } },
      workload: { clientCount: 16, thinkTimeMs: [0, 10], mix: { get: 1, put: 5, cas: 1 }, retryBackoffMs: 2, valueSizes: unpaddedValueSizes },
    }),
  },
  {
    bug: "vote-before-persist",
    property: "Commit Is Replicated",
    note: "standard profile: the driver sends votes and append acknowledgements before persisting, so a leader commits an entry fewer than a quorum of its voters' disks hold (seen at the commit; Durability sees it later, at the client's acknowledgement)",
    seeds: range(1, 5),
    options: (seed) => base(seed, "standard", 20_000),
  },
  {
    bug: "ack-before-durable-on-enospc",
    property: "Durability",
    note: "disk-full profile: a follower whose append the full disk refused acknowledges it anyway (and retries the persist), so a leader commits an entry fewer than a quorum of disks hold",
    seeds: range(1, 20),
    options: (seed) => base(seed, "disk-full", 20_000),
  },
  {
    bug: "append-without-truncating-conflicts",
    property: "State Machine Safety",
    note: "elections profile: a follower keeps a stale suffix and applies an entry the leader never had there",
    seeds: range(1, 10),
    options: (seed) => base(seed, "elections", 20_000),
  },
  {
    bug: "leader-ignores-higher-term",
    property: "Election Safety",
    note: "deposed-leader profile: a muted leader hears its successor's term, adopts it and keeps leading",
    seeds: range(1, 5),
    options: (seed) => base(seed, "deposed-leader", 20_000),
  },
  {
    bug: "read-index-without-quorum",
    property: "No Stale Read",
    note: "deposed-leader profile, CheckQuorum off, 8 read-heavy clients half of whose operations start at a random node: an isolated leader answers reads locally while its successor acknowledges writes",
    seeds: range(1, 10),
    options: (seed) => ({
      ...base(seed, "deposed-leader", 20_000),
      replica: { raft: { ...simReplicaOptions.raft, checkQuorum: false } },
      workload: { clientCount: 8, thinkTimeMs: [0, 20], mix: { get: 6, put: 3, cas: 1 }, wanderProbability: 0.5 },
    }),
  },
  {
    bug: "double-vote-in-term",
    property: "Single Vote",
    note: "standard profile: a follower votes again in the same term; caught when it records the second vote",
    seeds: range(1, 20),
    options: (seed) => base(seed, "standard", 20_000),
  },
  {
    bug: "read-before-applied",
    property: "Read After Apply",
    note: "lease reads (the lease bugs' configuration): a read answered from the lease takes the leader's commit index as its read point, which the state machine has often not applied yet, and the driver answers at once (with ReadIndex rounds the apply has caught up by the time the round returns: 0 of 10 seeds of standard, heavy, elections, leader-churn or deposed-leader caught it)",
    seeds: range(1, 10),
    options: (seed) => leaseRunOptions(seed),
  },
  {
    bug: "commit-counts-learners",
    property: "Commit Is Replicated",
    note: "membership profile: while the operator holds a removed voter as a learner, the leader counts the learner's acknowledgement toward its commit quorum (Durability, counting any disk, does not see it)",
    seeds: range(1, 20),
    options: (seed) => base(seed, "membership", 20_000),
  },
];


/** The storage bug (src/core/storage/recovery.ts StoragePlantedBug), run through SimulationOptions.storagePlantedBugs. */
export interface StoragePlantedBugConfig extends Omit<PlantedBugConfig, "bug"> {
  readonly bug: StoragePlantedBug;
}

export const STORAGE_PLANTED_BUG_CONFIG: StoragePlantedBugConfig = {
  bug: "recover-skipping-checksums",
  property: "Committed Data Intact",
  note: "corruption profile without misdirected writes (bit flips on read and write only): a corruptible node restarts and replays a log record whose checksum fails, so it recovers a committed entry with altered bytes",
  seeds: range(1, 30),
  options: (seed) => ({
    ...base(seed, "corruption", 20_000),
    profile: { ...FAULT_PROFILES.corruption!, diskMisdirectedWriteProbability: 0 },
  }),
};

/**
 * Bugs planted outside the Raft core for checks that no Raft property covers: a storage bug that
 * refuses clean stores, a fault-model bug that corrupts a majority, a state-machine bug that only
 * the history's linearizability shows. `plant` switches the bug on; without it the run is clean.
 */
export interface HarnessPlantedBugConfig extends Omit<PlantedBugConfig, "bug"> {
  readonly bug: string;
  readonly plant: Pick<SimulationOptions, "storagePlantedBugs" | "faultModelPlantedBugs" | "kvPlantedBugs">;
}

export const HARNESS_PLANTED_BUG_CONFIGS: readonly HarnessPlantedBugConfig[] = [
  {
    bug: "torn-tail-as-corrupt",
    property: "Clean Disk Starts",
    note: "standard profile (torn writes at crashes, no corruption): storage reports the clean torn tail of a crashed node's log as corruption, and the node refuses to start",
    seeds: range(1, 20),
    options: (seed) => base(seed, "standard", 20_000),
    plant: { storagePlantedBugs: new Set(["torn-tail-as-corrupt"]) },
  },
  {
    bug: "consent-to-corrupt-every-node",
    property: "Minority Refusals",
    note: "corruption profile: the corruption consent lets every node's disk be corrupted, so a majority of nodes refuse to start",
    seeds: range(1, 10),
    options: (seed) => base(seed, "corruption", 20_000),
    plant: { faultModelPlantedBugs: new Set(["consent-to-corrupt-every-node"]) },
  },
  {
    bug: "cas-without-compare",
    property: "Linearizability",
    note: "standard profile: the state machine swaps a cas whatever the current value; every replica agrees, reads are never stale, only the history check sees a cas that succeeded against the wrong value",
    seeds: range(1, 10),
    options: (seed) => base(seed, "standard", 20_000),
    plant: { kvPlantedBugs: new Set(["cas-without-compare"]) },
  },
  {
    bug: "delete-without-effect",
    property: "No Stale Read",
    note: "standard profile with deletes in the mix: a delete answers that it deleted the key and leaves it; a read after the acknowledged delete returns the value it deleted",
    seeds: range(1, 10),
    options: (seed) => ({ ...base(seed, "standard", 20_000), workload: { mix: { get: 4, put: 3, cas: 2, delete: 2 } } }),
    plant: { kvPlantedBugs: new Set(["delete-without-effect"]) },
  },
];
