// How the test harness provokes the lease-read planted bugs (src/core/replica/replica.ts,
// docs/PLANTED-BUGS.md): the lease fault profile (leaders isolated while clients still reach
// them, every clock drifting by the published bound, wall clocks jumping), lease reads on, and
// 16 read-heavy clients half of whose operations start at a random node, so that an isolated
// leader keeps answering reads from its lease until the lease ends. Shared by
// test/core/sim/lease-planted-bugs.test.ts and test/core/sim/scan-planted-bugs.ts (the scan behind the
// seed lists and the table rows).

import { FAULT_PROFILES } from "../../../src/core/sim/fault-profile.ts";
import { seedFromNumber } from "../../../src/core/sim/seed.ts";
import type { SimulationOptions } from "../../../src/core/sim/simulation.ts";
import type { PlantedBugConfig } from "./planted-bug-configs.ts";

function range(first: number, last: number): number[] {
  return Array.from({ length: last - first + 1 }, (_, i) => first + i);
}

/** The lease profile with lease reads and a read-heavy workload. */
export function leaseRunOptions(seed: number, durationMs = 20_000): SimulationOptions {
  return {
    seed: seedFromNumber(seed),
    nodeCount: 5,
    durationMs,
    profile: FAULT_PROFILES.lease!,
    replica: { readMode: "lease" },
    workload: { clientCount: 16, thinkTimeMs: [0, 5], mix: { get: 10, put: 1, cas: 1 }, wanderProbability: 0.5 },
  };
}

export const LEASE_PLANTED_BUG_CONFIGS: readonly PlantedBugConfig[] = [
  {
    bug: "lease-from-wall-clock",
    property: "Lease Held",
    note: "lease profile: the leader measures its lease on the wall clock; a backward jump stretches it, and the isolated leader answers reads from it after a quorum of voters is free to elect (or has elected) its successor",
    seeds: range(1, 20),
    options: (seed) => leaseRunOptions(seed),
  },
  {
    bug: "lease-ignores-drift",
    property: "Lease Held",
    note: "lease profile: the lease is as long as the voters' promise; on a leader whose clock runs 10% slow it outlives the promises of voters whose clocks run 10% fast, and the isolated leader answers reads from it",
    seeds: range(1, 20),
    options: (seed) => leaseRunOptions(seed),
  },
];
