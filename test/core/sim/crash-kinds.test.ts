// The two kinds of crash in the simulator (CrashKind, src/core/env/environment.ts): a process
// kill keeps every write the process made, a host crash loses or tears the unsynced ones. The
// nemesis draws the kind by the profile's weights; the cluster carries it out; the result and
// the trace count each. The planted storage bug open-trusting-unsynced-reads (RaftStorage.open
// acting on what a process kill left unsynced) must be caught; with it off the same runs pass.

import { expectPlantedBugCaught } from "../../support/planted-bug-scan.ts";
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { EventQueue } from "../../../src/core/sim/event-queue.ts";
import { FAULT_PROFILES, type FaultProfile } from "../../../src/core/sim/fault-profile.ts";
import { Nemesis, type NemesisTarget } from "../../../src/core/sim/nemesis.ts";
import { DEFAULT_NETWORK_LIMITS, SimNetwork } from "../../../src/core/sim/network.ts";
import { Prng } from "../../../src/core/sim/prng.ts";
import { seedFromNumber } from "../../../src/core/sim/seed.ts";
import { runSimulation, type SimulationOptions } from "../../../src/core/sim/simulation.ts";
import type { CrashKind } from "../../../src/core/env/environment.ts";

function nemesisCrashes(profile: FaultProfile): { kinds: CrashKind[]; nemesis: Nemesis } {
  const queue = new EventQueue(100_000);
  const network = new SimNetwork<unknown>(
    queue,
    Prng.stream(seedFromNumber(1), "n"),
    5,
    { latencyMinUs: 1, latencyTailMeanUs: 0, latencyMaxUs: 1, lossProbability: 0, duplicateProbability: 0, reorder: false },
    DEFAULT_NETWORK_LIMITS,
    () => {},
    () => 0,
  );
  const up = new Set([1, 2, 3, 4, 5]);
  const kinds: CrashKind[] = [];
  const target: NemesisTarget = {
    nodeIds: [1, 2, 3, 4, 5],
    isUp: (id) => up.has(id),
    crash: (id, kind) => {
      up.delete(id);
      kinds.push(kind);
    },
    restart: (id) => up.add(id),
    jumpClock: () => {},
    leaderId: () => 1,
    pause: () => {},
    fillDisk: () => {},
    freeDisk: () => {},
    network,
    note: () => {},
  };
  const nemesis = new Nemesis(queue, Prng.stream(seedFromNumber(2), "faults"), profile, target);
  nemesis.start(60_000_000);
  while (queue.runNext());
  return { kinds, nemesis };
}

describe("crash kinds: the nemesis", () => {
  test("draws both kinds by weight, and counts them apart", () => {
    const onlyCrashes = { partition: 0, crash: 1, "clock-jump": 0, clog: 0, "loss-burst": 0, pause: 0, "disk-full": 0 };
    const { kinds, nemesis } = nemesisCrashes({ ...FAULT_PROFILES.heavy!, weights: onlyCrashes, crashKindWeights: { "process-kill": 1, "host-crash": 1 } });
    const kills = kinds.filter((k) => k === "process-kill").length;
    assert.ok(kinds.length > 50, `only ${kinds.length} crashes`);
    assert.ok(kills > kinds.length / 4 && kills < (3 * kinds.length) / 4, `${kills} kills of ${kinds.length}`);
    assert.deepEqual(nemesis.crashKinds, { "process-kill": kills, "host-crash": kinds.length - kills });
    assert.equal(nemesis.counts.crash, kinds.length);
  });

  test("a profile of one kind only ever draws that kind", () => {
    for (const kind of ["process-kill", "host-crash"] as const) {
      const other = kind === "process-kill" ? "host-crash" : "process-kill";
      const { kinds } = nemesisCrashes({ ...FAULT_PROFILES.heavy!, crashKindWeights: { [kind]: 3, [other]: 0 } as Record<CrashKind, number> });
      assert.ok(kinds.length > 0 && kinds.every((k) => k === kind));
    }
  });

  test("a profile with crashes but no crash kind is refused", () => {
    assert.throws(() => runSimulation({ seed: seedFromNumber(1), nodeCount: 3, durationMs: 100, profile: { ...FAULT_PROFILES.standard!, crashKindWeights: { "process-kill": 0, "host-crash": 0 } } }), /crash kind/);
  });
});

describe("crash kinds: whole runs", () => {
  test("a standard run has both kinds; the result, the nemesis and the disks agree", () => {
    const result = runSimulation({ seed: seedFromNumber(14), nodeCount: 5, durationMs: 60_000, profile: FAULT_PROFILES.standard! });
    assert.equal(result.failure, undefined, result.failure?.message);
    assert.ok(result.crashKinds["process-kill"] > 0 && result.crashKinds["host-crash"] > 0, JSON.stringify(result.crashKinds));
    assert.equal(result.crashKinds["process-kill"] + result.crashKinds["host-crash"], result.crashes);
    assert.equal(result.disk.processKills, result.crashKinds["process-kill"]);
    assert.equal(result.disk.crashes, result.crashKinds["host-crash"]);
  });

  test("process kills only: no write is ever lost or torn, and the cluster stays safe", () => {
    const profile = { ...FAULT_PROFILES.elections!, crashKindWeights: { "process-kill": 1, "host-crash": 0 } };
    const result = runSimulation({ seed: seedFromNumber(3), nodeCount: 3, durationMs: 20_000, profile });
    assert.equal(result.failure, undefined, result.failure?.message);
    assert.ok(result.crashKinds["process-kill"] > 5);
    assert.equal(result.crashKinds["host-crash"], 0);
    assert.equal(result.disk.lostWrites + result.disk.tornWrites + result.disk.lostDirectoryOperations, 0);
  });

  test("the crash kind is in the trace: the same seed with kills instead of host crashes runs differently", () => {
    const base = { seed: seedFromNumber(3), nodeCount: 3, durationMs: 5_000 };
    const kills = runSimulation({ ...base, profile: { ...FAULT_PROFILES.elections!, crashKindWeights: { "process-kill": 1, "host-crash": 0 } } });
    const hosts = runSimulation({ ...base, profile: { ...FAULT_PROFILES.elections!, crashKindWeights: { "process-kill": 0, "host-crash": 1 } } });
    assert.equal(kills.crashes, hosts.crashes, "the schedule is the same (one kind draws nothing)");
    assert.notEqual(kills.traceHash, hosts.traceHash);
  });
});

describe("crash kinds: the planted bug open-trusting-unsynced-reads", () => {
  // Crashes only, every 5-30 ms, down for 1-10 ms, kills and host crashes alike, 3 nodes: a node
  // killed with unsynced entries restarts, recovers and acknowledges them, and a host crash
  // before its next sync takes them away. Caught by 6 of seeds 1-40 (first: 8; one of them as
  // Clean Disk Starts, when a sync point covered the unsynced bytes), 10 s each.
  const profile: FaultProfile = {
    ...FAULT_PROFILES["leader-churn"]!,
    name: "kill-then-crash",
    weights: { partition: 0, crash: 1, "clock-jump": 0, clog: 0, "loss-burst": 0, pause: 0, "disk-full": 0 },
    nemesisIntervalMs: [5, 30],
    crashDowntimeMs: [1, 10],
    targetLeaderProbability: 0.3,
    crashKindWeights: { "process-kill": 1, "host-crash": 1 },
  };
  const options = (seed: number): SimulationOptions => ({ seed: seedFromNumber(seed), nodeCount: 3, durationMs: 10_000, profile });

  test("is caught as Committed Data Intact; the seeds it needed pass with it off", () => {
    const seeds = Array.from({ length: 60 }, (_, k) => k + 1);
    const caught = expectPlantedBugCaught({
      bug: "open-trusting-unsynced-reads",
      seeds,
      // Both are this bug: entries acted on and then lost, or a sync point left covering bytes that were never synced.
      property: ["Committed Data Intact", "Clean Disk Starts"],
      run: (seed, bugOn) => runSimulation({ ...options(seed), ...(bugOn ? { storagePlantedBugs: new Set(["open-trusting-unsynced-reads"] as const) } : {}) }),
    });
    assert.match(caught.message, /lost durable entries|refused to start as corrupt/);
  });
});
