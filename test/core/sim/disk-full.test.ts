// The simulator's checks (durability of acknowledged writes, the Raft properties after every
// step, linearizability of the whole history) through stretches of full disks: the disk-full
// profile fills a node's disk (the leader's 30% of the time) to a few KiB above what it uses,
// several at once, under partitions, crashes and pauses. The planted bug that shows these checks
// see a full disk handled wrong, ack-before-durable-on-enospc, is in planted-bug-configs.ts.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { FAULT_PROFILES } from "../../../src/core/sim/fault-profile.ts";
import { seedFromNumber } from "../../../src/core/sim/seed.ts";
import { runSimulation } from "../../../src/core/sim/simulation.ts";

const SEEDS_FIVE_NODES = [1, 2, 3, 4, 5, 6, 7, 8];
const SEEDS_THREE_NODES = [11, 12, 13, 14];

describe("disk-full profile", () => {
  test("every check passes on many seeds, and the disks really filled", () => {
    let refusedWrites = 0;
    let fills = 0;
    for (const [nodeCount, seeds] of [[5, SEEDS_FIVE_NODES], [3, SEEDS_THREE_NODES]] as const) {
      for (const seed of seeds) {
        const result = runSimulation({ seed: seedFromNumber(seed), nodeCount, durationMs: 12_000, profile: FAULT_PROFILES["disk-full"]! });
        assert.equal(result.failure, undefined, `${nodeCount} nodes, seed ${seed}: ${result.failure?.property}: ${result.failure?.message}`);
        assert.equal(result.linearizability.verdict, "ok", `${nodeCount} nodes, seed ${seed}`);
        refusedWrites += result.disk.noSpaceWrites;
        fills += result.faults["disk-full"];
      }
    }
    assert.ok(fills >= 30, `only ${fills} disks filled`);
    assert.ok(refusedWrites >= 30, `only ${refusedWrites} writes refused with ENOSPC: the runs did not meet a full disk`);
  });
});
