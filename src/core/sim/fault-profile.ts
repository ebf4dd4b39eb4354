// Fault profiles: how hostile a run's world is. A profile fixes the distributions;
// the "faults" PRNG stream draws the actual schedule (the nemesis), so one seed and
// one profile name reproduce the run. Every profile heals at `healAtFraction` of the
// run (partitions lifted, clogs cleared, crashed nodes restarted) so that the end of
// the run shows whether the cluster recovered (liveness is reported, not asserted).

import { assert } from "../assert.ts";
import type { CrashKind } from "../env/environment.ts";
import type { FailpointProbabilities } from "./failpoint-driver.ts";

export const CRASH_KINDS: readonly CrashKind[] = ["process-kill", "host-crash"];

export type FaultKind = "partition" | "crash" | "clock-jump" | "clog" | "loss-burst" | "pause" | "disk-full";
// Last in the list: a kind of weight 0 at the end leaves every earlier profile's draws as they were.
export const FAULT_KINDS: readonly FaultKind[] = ["partition", "crash", "clock-jump", "clog", "loss-burst", "pause", "disk-full"];

export type PartitionShape = "isolate" | "minority" | "deaf" | "mute";
export const PARTITION_SHAPES: readonly PartitionShape[] = ["isolate", "minority", "deaf", "mute"];

export interface FaultProfile {
  readonly name: string;
  /** One line for --help and docs. */
  readonly description: string;
  /**
   * The replicas' tick for this world (elections after 10-20 ticks, heartbeats every 2). Profiles
   * whose faults come every few hundred milliseconds need 10 ms ticks; calmer ones run 50 ms ticks,
   * which simulate the same number of elections per faulty minute with a quarter of the events.
   */
  readonly tickMs: number;
  // Links between nodes (each link draws its own latency distribution from these ranges).
  readonly latencyMinUs: readonly [number, number];
  readonly latencyTailMeanUs: readonly [number, number];
  readonly latencyMaxUs: number;
  readonly lossProbability: number;
  readonly duplicateProbability: number;
  /** Probability that a given link may reorder (otherwise it is FIFO). */
  readonly reorderLinkProbability: number;
  /** Each node-to-node link's bandwidth is drawn uniformly from this range (bytes per second; 125 000 000 is 1 Gbit/s). */
  readonly linkBandwidthBytesPerSecond: readonly [number, number];
  // Clocks.
  readonly clockOffsetMaxMs: number;
  readonly clockDriftMaxPpm: number;
  /** Every clock drifts by exactly -clockDriftMaxPpm or +clockDriftMaxPpm (the worst pairs for leases), not uniformly within. */
  readonly clockDriftAtBound?: boolean;
  // Disks (passed to SimDisk).
  readonly diskWriteLatencyMs: readonly [number, number];
  readonly diskSyncLatencyMs: readonly [number, number];
  /** At a crash, each un-synced write (and directory operation) is lost with this probability. */
  readonly diskCrashLoseProbability: number;
  /** At a crash, the last un-synced write of a file is torn with this probability. */
  readonly diskTearProbability: number;
  /**
   * Storage corruption (0..0.1 each, SimDisk): a read returns a flipped bit, a write stores one,
   * a write lands at a wrong offset. Applied only where the simulator consents
   * (src/core/sim/corruption-consent.ts: at most a minority of nodes, never a sync point slot).
   */
  readonly diskReadCorruptionProbability: number;
  readonly diskWriteCorruptionProbability: number;
  readonly diskMisdirectedWriteProbability: number;
  // The nemesis: one action every [min, max] ms, of a kind drawn by weight.
  readonly nemesisIntervalMs: readonly [number, number];
  readonly weights: Readonly<Record<FaultKind, number>>;
  /** Partition shapes by weight: one node isolated, a minority cut off, one node deaf (inbound cut), one node mute (outbound cut). */
  readonly partitionShapeWeights: Readonly<Record<PartitionShape, number>>;
  /** Probability that a partition, crash, clog or loss burst aims at the current leader rather than a random node. */
  readonly targetLeaderProbability: number;
  readonly partitionDurationMs: readonly [number, number];
  readonly crashDowntimeMs: readonly [number, number];
  /**
   * What a "crash" fault is, by weight: a process kill (the node's process dies; every write it
   * made survives, synced or not) or a host crash (the machine goes down; unsynced writes are
   * lost or torn by diskCrashLoseProbability and diskTearProbability).
   */
  readonly crashKindWeights: Readonly<Record<CrashKind, number>>;
  /** At most this many nodes down at once: "minority" keeps a quorum alive, "any" lets the nemesis take a majority. */
  readonly maxCrashed: "minority" | "any";
  readonly clockJumpMaxMs: number;
  readonly clogDurationMs: readonly [number, number];
  readonly lossBurstProbability: number;
  readonly lossBurstDurationMs: readonly [number, number];
  /** A paused node (a stop-the-world GC, a VM descheduled) runs nothing, then handles its backlog in order. */
  readonly pauseDurationMs: readonly [number, number];
  /**
   * A full disk: the node's SimDisk capacity drops to what its files use plus a slack drawn from
   * diskFullSlackBytes (so a batch may half fit), for a time drawn from diskFullDurationMs; then
   * the space comes back. The node must survive it: writes refused, Raft frozen while a persist
   * waits, nothing acknowledged before it is durable.
   */
  readonly diskFullDurationMs: readonly [number, number];
  readonly diskFullSlackBytes: readonly [number, number];
  /** Fraction of the run after which every fault is healed and no new one starts. */
  readonly healAtFraction: number;
  /**
   * The replicas' tuning: "simulation" (simReplicaOptions: elections after 10-20 ticks, heartbeats
   * every 2, snapshots every 500 entries, 64 appends in flight) or "production" (defaultReplicaOptions
   * and defaultRaftTuning, exactly as the real node runs; the profile's tick must be theirs).
   */
  readonly replicaTuning: "simulation" | "production";
  /** Overrides the tuning's bytes of entries per append message (small: appends get split). 0: the tuning's own. */
  readonly raftMaxMessageBytes: number;
  // Each host's CPU: while it is busy, the host's other events wait in order (as during a pause).
  /** CPU time to apply one committed entry to the state machine. */
  readonly cpuApplyEntryUs: number;
  /** CPU time per byte of an applied entry, in nanoseconds. */
  readonly cpuApplyByteNs: number;
  /** CPU time every event on a host costs (receiving a message, a timer, a disk completion). */
  readonly cpuEventUs: number;
  /** Per-failpoint firing probabilities (src/core/env/failpoints.ts); a point not named never fires. A run's options may override them. */
  readonly failpoints: FailpointProbabilities;
  /**
   * An operator runs beside the clients (src/core/sim/admin-workload.ts): through the request path it
   * transfers leadership, removes voters (the leader included), adds them back as learners and
   * promotes them, under the profile's faults. A run's options (SimulationOptions.admin) may set it too.
   */
  readonly operator: boolean;
}

const calm = {
  tickMs: 10,
  latencyMinUs: [200, 800],
  latencyTailMeanUs: [100, 1_000],
  latencyMaxUs: 20_000,
  lossProbability: 0,
  duplicateProbability: 0,
  reorderLinkProbability: 0,
  linkBandwidthBytesPerSecond: [125_000_000, 125_000_000],
  clockOffsetMaxMs: 0,
  clockDriftMaxPpm: 0,
  diskWriteLatencyMs: [0.01, 0.05],
  diskSyncLatencyMs: [0.2, 1],
  diskCrashLoseProbability: 0.5,
  diskTearProbability: 0,
  diskReadCorruptionProbability: 0,
  diskWriteCorruptionProbability: 0,
  diskMisdirectedWriteProbability: 0,
  nemesisIntervalMs: [1_000, 1_000],
  weights: { partition: 0, crash: 0, "clock-jump": 0, clog: 0, "loss-burst": 0, pause: 0, "disk-full": 0 },
  partitionShapeWeights: { isolate: 1, minority: 1, deaf: 1, mute: 1 },
  targetLeaderProbability: 0,
  partitionDurationMs: [0, 0],
  crashDowntimeMs: [0, 0],
  // Host crashes test the loss of unsynced writes, process kills the survival of them: two to one.
  crashKindWeights: { "process-kill": 1, "host-crash": 2 },
  maxCrashed: "minority",
  clockJumpMaxMs: 0,
  clogDurationMs: [0, 0],
  lossBurstProbability: 0,
  lossBurstDurationMs: [0, 0],
  pauseDurationMs: [0, 0],
  diskFullDurationMs: [0, 0],
  diskFullSlackBytes: [0, 0],
  healAtFraction: 1,
  replicaTuning: "simulation",
  raftMaxMessageBytes: 0,
  // A key-value apply is a decode and a map update: tens of microseconds with the driver's work
  // around it; a 64 KiB value adds about 0.3 ms. Small next to a 0.2-5 ms fsync, large enough that
  // a burst of applies holds back the node's heartbeats and replies as it would on a real machine.
  cpuApplyEntryUs: 20,
  cpuApplyByteNs: 5,
  // Off by default: every event that arrives within an event's cost of another is held back and
  // re-queued, which adds about a third more events to a run (production turns it on).
  cpuEventUs: 0,
  failpoints: {},
  operator: false,
} as const satisfies Omit<FaultProfile, "name" | "description">;

/** The default profile, named here so the membership profile can run the same faults. */
const standard: FaultProfile = {
  ...calm,
  name: "standard",
  tickMs: 50,
  description: "1% loss, 1% duplication, reordering links, drifting clocks, and every 0.5-3 s a partition, crash, clock jump, clog, loss burst or pause; healed at 80%",
  latencyTailMeanUs: [200, 3_000],
  latencyMaxUs: 50_000,
  lossProbability: 0.01,
  duplicateProbability: 0.01,
  reorderLinkProbability: 0.5,
  clockOffsetMaxMs: 10_000,
  clockDriftMaxPpm: 500,
  diskSyncLatencyMs: [0.2, 5],
  diskTearProbability: 0.5,
  nemesisIntervalMs: [500, 3_000],
  weights: { partition: 3, crash: 3, "clock-jump": 1, clog: 2, "loss-burst": 1, pause: 1, "disk-full": 0 },
  pauseDurationMs: [100, 2_000],
  targetLeaderProbability: 0.3,
  partitionDurationMs: [500, 5_000],
  crashDowntimeMs: [200, 4_000],
  maxCrashed: "minority",
  clockJumpMaxMs: 5_000,
  clogDurationMs: [100, 2_000],
  lossBurstProbability: 0.3,
  lossBurstDurationMs: [200, 2_000],
  healAtFraction: 0.8,
  // Values reach 64 KiB: appends of more than one large entry are split.
  raftMaxMessageBytes: 32 * 1024,
};

export const FAULT_PROFILES: Readonly<Record<string, FaultProfile>> = {
  none: {
    ...calm,
    name: "none",
    tickMs: 50,
    description: "a healthy cluster: fixed-ish latency, no loss, no crashes, synchronized clocks",
  },
  standard,
  membership: {
    ...standard,
    name: "membership",
    description: "the standard faults while an operator transfers leadership, removes voters (the leader included), adds them back as learners and promotes them, every 0.5-2 s; healed at 80%",
    operator: true,
  },
  heavy: {
    ...calm,
    name: "heavy",
    description: "5% loss and duplication, slow reordering links, large drift, a fault every 0.1-1 s, majorities may crash, rare disk corruption on a minority of nodes; healed at 80%",
    latencyMinUs: [200, 5_000],
    latencyTailMeanUs: [1_000, 20_000],
    latencyMaxUs: 200_000,
    lossProbability: 0.05,
    duplicateProbability: 0.05,
    reorderLinkProbability: 1,
    // 100 Mbit/s to 1 Gbit/s: a snapshot holds up what follows it on a slow link for a while.
    linkBandwidthBytesPerSecond: [12_500_000, 125_000_000],
    clockOffsetMaxMs: 60_000,
    clockDriftMaxPpm: 50_000,
    diskSyncLatencyMs: [0.5, 20],
    diskTearProbability: 0.5,
    diskReadCorruptionProbability: 0.01,
    diskWriteCorruptionProbability: 0.002,
    diskMisdirectedWriteProbability: 0.002,
    nemesisIntervalMs: [100, 1_000],
    weights: { partition: 3, crash: 3, "clock-jump": 1, clog: 2, "loss-burst": 1, pause: 1, "disk-full": 0 },
    pauseDurationMs: [50, 3_000],
    targetLeaderProbability: 0.5,
    partitionDurationMs: [200, 5_000],
    crashDowntimeMs: [50, 3_000],
    maxCrashed: "any",
    clockJumpMaxMs: 30_000,
    clogDurationMs: [100, 3_000],
    lossBurstProbability: 0.5,
    lossBurstDurationMs: [200, 3_000],
    healAtFraction: 0.8,
    // 4 KiB appends: almost every append is split, and a large entry travels alone.
    raftMaxMessageBytes: 4 * 1024,
    // A slow, loaded machine: applying takes five times as long.
    cpuApplyEntryUs: 100,
    cpuApplyByteNs: 25,
  },
  production: {
    ...calm,
    name: "production",
    description:
      "the real node's tuning (100 ms ticks, heartbeat every tick, elections after 10-20 ticks, 256 appends in flight, 1 MiB appends, snapshots every 10,000 entries) under standard-like faults; healed at 80%",
    replicaTuning: "production",
    tickMs: 100,
    latencyTailMeanUs: [200, 3_000],
    latencyMaxUs: 50_000,
    lossProbability: 0.01,
    duplicateProbability: 0.01,
    reorderLinkProbability: 0.5,
    clockOffsetMaxMs: 10_000,
    clockDriftMaxPpm: 500,
    diskSyncLatencyMs: [0.2, 5],
    diskTearProbability: 0.5,
    nemesisIntervalMs: [1_000, 5_000],
    weights: { partition: 3, crash: 3, "clock-jump": 1, clog: 2, "loss-burst": 1, pause: 1, "disk-full": 0 },
    pauseDurationMs: [100, 2_000],
    targetLeaderProbability: 0.3,
    partitionDurationMs: [1_000, 6_000],
    crashDowntimeMs: [500, 5_000],
    maxCrashed: "minority",
    clockJumpMaxMs: 5_000,
    clogDurationMs: [200, 3_000],
    lossBurstProbability: 0.3,
    lossBurstDurationMs: [200, 2_000],
    healAtFraction: 0.8,
    cpuEventUs: 5,
  },
  corruption: {
    ...calm,
    name: "corruption",
    description:
      "storage faults: on a minority of nodes 10% of reads and 1% of writes flip a bit and 1% of writes are misdirected; crashes every 0.2-1.5 s make nodes reread their disks; healed at 80%",
    tickMs: 50,
    latencyTailMeanUs: [200, 2_000],
    reorderLinkProbability: 0.5,
    lossProbability: 0.01,
    duplicateProbability: 0.01,
    diskSyncLatencyMs: [0.2, 5],
    diskTearProbability: 0.5,
    diskReadCorruptionProbability: 0.1,
    diskWriteCorruptionProbability: 0.01,
    diskMisdirectedWriteProbability: 0.01,
    nemesisIntervalMs: [200, 1_500],
    weights: { partition: 1, crash: 6, "clock-jump": 0, clog: 1, "loss-burst": 0, pause: 1, "disk-full": 0 },
    pauseDurationMs: [100, 1_000],
    targetLeaderProbability: 0.3,
    partitionDurationMs: [300, 2_000],
    crashDowntimeMs: [100, 1_500],
    maxCrashed: "any",
    clogDurationMs: [100, 1_000],
    healAtFraction: 0.8,
  },
  elections: {
    ...calm,
    name: "elections",
    description: "leader churn: frequent crashes and partitions of a few hundred ms, so terms turn over quickly; healed at 80%",
    latencyTailMeanUs: [200, 2_000],
    reorderLinkProbability: 0.5,
    duplicateProbability: 0.01,
    diskSyncLatencyMs: [0.2, 5],
    diskTearProbability: 0.5,
    nemesisIntervalMs: [200, 800],
    weights: { partition: 3, crash: 4, "clock-jump": 0, clog: 1, "loss-burst": 0, pause: 0, "disk-full": 0 },
    targetLeaderProbability: 0.7,
    partitionDurationMs: [300, 2_500],
    crashDowntimeMs: [100, 1_500],
    maxCrashed: "any",
    clogDurationMs: [100, 800],
    healAtFraction: 0.8,
  },
  "leader-churn": {
    ...calm,
    name: "leader-churn",
    description: "the leader crashes or is isolated every 0.1-0.6 s and returns soon after, so uncommitted entries of many terms pile up (Figure 8); healed at 80%",
    latencyTailMeanUs: [200, 2_000],
    reorderLinkProbability: 0.5,
    diskSyncLatencyMs: [0.2, 5],
    diskTearProbability: 0.5,
    nemesisIntervalMs: [100, 600],
    weights: { partition: 1, crash: 4, "clock-jump": 0, clog: 0, "loss-burst": 0, pause: 0, "disk-full": 0 },
    partitionShapeWeights: { isolate: 1, minority: 1, deaf: 0, mute: 0 },
    targetLeaderProbability: 1,
    partitionDurationMs: [100, 1_000],
    crashDowntimeMs: [50, 1_000],
    maxCrashed: "any",
    healAtFraction: 0.8,
  },
  "figure-8": {
    ...calm,
    name: "figure-8",
    description: "slow links (5-10 ms) and a leader isolated or crashed every 0.03-0.3 s while clients keep writing to it, so leaders of many terms hold conflicting uncommitted suffixes (Raft paper, Figure 8); healed at 80%",
    latencyMinUs: [5_000, 10_000],
    latencyTailMeanUs: [0, 5_000],
    latencyMaxUs: 100_000,
    reorderLinkProbability: 0.5,
    diskSyncLatencyMs: [0.2, 5],
    diskTearProbability: 0.5,
    nemesisIntervalMs: [30, 300],
    weights: { partition: 3, crash: 2, "clock-jump": 0, clog: 0, "loss-burst": 0, pause: 0, "disk-full": 0 },
    partitionShapeWeights: { isolate: 1, minority: 0, deaf: 0, mute: 0 },
    targetLeaderProbability: 1,
    partitionDurationMs: [100, 1_000],
    crashDowntimeMs: [50, 1_000],
    maxCrashed: "any",
    healAtFraction: 0.8,
  },
  "deposed-leader": {
    ...calm,
    name: "deposed-leader",
    description: "leaders cut off (isolated or mute) or paused while clients still reach them, slow clocks stretch their leases; healed at 80%",
    latencyTailMeanUs: [200, 2_000],
    clockDriftMaxPpm: 100_000, // the published bound (CLOCK_DRIFT_BOUND_PPM): the simulator never exceeds it
    diskSyncLatencyMs: [0.2, 5],
    nemesisIntervalMs: [300, 1_500],
    weights: { partition: 4, crash: 1, "clock-jump": 0, clog: 2, "loss-burst": 0, pause: 3, "disk-full": 0 },
    pauseDurationMs: [200, 2_000],
    partitionShapeWeights: { isolate: 2, minority: 0, deaf: 0, mute: 2 },
    targetLeaderProbability: 0.9,
    partitionDurationMs: [300, 3_000],
    crashDowntimeMs: [100, 1_500],
    clogDurationMs: [200, 1_500],
    healAtFraction: 0.8,
  },
  "disk-full": {
    ...standard,
    name: "disk-full",
    description:
      "the standard faults, and disks filling up: every 0.3-2 s a partition, crash, clog, pause or a full disk (the leader's 30% of the time; a few KiB of slack, so batches half fit) for 0.2-3 s, several at once; healed at 80%",
    nemesisIntervalMs: [300, 2_000],
    weights: { partition: 2, crash: 2, "clock-jump": 0, clog: 1, "loss-burst": 0, pause: 1, "disk-full": 6 },
    diskFullDurationMs: [200, 3_000],
    diskFullSlackBytes: [0, 8_192],
  },
  fencing: {
    ...standard,
    name: "fencing",
    description:
      "for the orchestrator's fencing leases: one node (often the leader) isolated or paused for 1-8 s, past its lease, while its VMs run; every clock drifting by the published bound, wall clocks offset by up to 10 s and jumping by up to 5 s; crashes; healed at 80%",
    clockOffsetMaxMs: 10_000,
    clockDriftMaxPpm: 100_000, // the published bound (CLOCK_DRIFT_BOUND_PPM): the lease arithmetic must survive it
    clockDriftAtBound: true,
    nemesisIntervalMs: [1_000, 4_000],
    weights: { partition: 3, crash: 1, "clock-jump": 2, clog: 0, "loss-burst": 0, pause: 3, "disk-full": 0 },
    pauseDurationMs: [1_000, 8_000],
    partitionShapeWeights: { isolate: 3, minority: 0, deaf: 1, mute: 1 },
    targetLeaderProbability: 0.3,
    partitionDurationMs: [1_000, 8_000],
    crashDowntimeMs: [200, 3_000],
    clockJumpMaxMs: 5_000,
    healAtFraction: 0.8,
  },
  lease: {
    ...calm,
    name: "lease",
    description:
      "for lease reads: leaders isolated every 0.1-0.6 s while clients still reach them, every clock drifting by the published bound (slow or fast), wall clocks offset by up to 10 s and jumping by up to 2 s, pauses; healed at 80%",
    latencyTailMeanUs: [200, 1_000],
    clockOffsetMaxMs: 10_000,
    clockDriftMaxPpm: 100_000, // the published bound (CLOCK_DRIFT_BOUND_PPM): leases must survive it
    clockDriftAtBound: true,
    diskSyncLatencyMs: [0.2, 2],
    nemesisIntervalMs: [100, 600],
    weights: { partition: 4, crash: 1, "clock-jump": 4, clog: 0, "loss-burst": 0, pause: 1, "disk-full": 0 },
    pauseDurationMs: [50, 500],
    partitionShapeWeights: { isolate: 1, minority: 0, deaf: 0, mute: 0 }, // a mute leader still hears its successor and steps down
    targetLeaderProbability: 0.9,
    partitionDurationMs: [200, 1_500],
    crashDowntimeMs: [100, 1_000],
    clockJumpMaxMs: 2_000,
    healAtFraction: 0.8,
  },
};

export const FAULT_PROFILE_NAMES: readonly string[] = Object.keys(FAULT_PROFILES);

export function faultProfile(name: string): FaultProfile | undefined {
  return Object.hasOwn(FAULT_PROFILES, name) ? FAULT_PROFILES[name] : undefined;
}

export function validateFaultProfile(profile: FaultProfile): void {
  const ranges: Array<[string, readonly [number, number]]> = [
    ["latencyMinUs", profile.latencyMinUs],
    ["latencyTailMeanUs", profile.latencyTailMeanUs],
    ["diskWriteLatencyMs", profile.diskWriteLatencyMs],
    ["diskSyncLatencyMs", profile.diskSyncLatencyMs],
    ["nemesisIntervalMs", profile.nemesisIntervalMs],
    ["partitionDurationMs", profile.partitionDurationMs],
    ["crashDowntimeMs", profile.crashDowntimeMs],
    ["clogDurationMs", profile.clogDurationMs],
    ["lossBurstDurationMs", profile.lossBurstDurationMs],
    ["pauseDurationMs", profile.pauseDurationMs],
    ["diskFullDurationMs", profile.diskFullDurationMs],
    ["diskFullSlackBytes", profile.diskFullSlackBytes],
  ];
  for (const [name, [min, max]] of ranges) assert(min >= 0 && min <= max, () => `fault profile ${profile.name}: ${name} is not a range`);
  assert(profile.nemesisIntervalMs[0] > 0, "nemesis interval must be positive");
  assert(Number.isSafeInteger(profile.tickMs) && profile.tickMs > 0, "tick must be a positive integer of milliseconds");
  assert(profile.latencyMinUs[1] <= profile.latencyMaxUs, "latency minimum exceeds the maximum");
  assert(profile.healAtFraction > 0 && profile.healAtFraction <= 1, "healAtFraction outside (0, 1]");
  const [bandwidthMin, bandwidthMax] = profile.linkBandwidthBytesPerSecond;
  assert(Number.isSafeInteger(bandwidthMin) && Number.isSafeInteger(bandwidthMax) && bandwidthMin >= 1_000 && bandwidthMin <= bandwidthMax, () => `fault profile ${profile.name}: linkBandwidthBytesPerSecond is not a range of at least 1000 B/s`);
  let crashKindWeight = 0;
  for (const kind of CRASH_KINDS) {
    assert(Number.isSafeInteger(profile.crashKindWeights[kind]) && profile.crashKindWeights[kind] >= 0, "crash kind weights must be non-negative integers");
    crashKindWeight += profile.crashKindWeights[kind];
  }
  assert(crashKindWeight > 0 || profile.weights.crash === 0, () => `fault profile ${profile.name}: crashes enabled without any crash kind`);
  for (const [name, p] of Object.entries(profile.failpoints)) assert(p !== undefined && p >= 0 && p <= 1, () => `fault profile ${profile.name}: failpoint ${name} probability outside [0, 1]`);
  for (const p of [profile.lossProbability, profile.duplicateProbability, profile.reorderLinkProbability, profile.diskTearProbability, profile.diskCrashLoseProbability, profile.lossBurstProbability]) {
    assert(p >= 0 && p <= 1, () => `fault profile ${profile.name}: probability ${p} outside [0, 1]`);
  }
  for (const p of [profile.diskReadCorruptionProbability, profile.diskWriteCorruptionProbability, profile.diskMisdirectedWriteProbability]) {
    assert(p >= 0 && p <= 0.1, () => `fault profile ${profile.name}: corruption probability ${p} outside [0, 0.1]`);
  }
  for (const kind of FAULT_KINDS) assert(profile.weights[kind] >= 0, "fault weights must be >= 0");
  assert(profile.targetLeaderProbability >= 0 && profile.targetLeaderProbability <= 1, "targetLeaderProbability outside [0, 1]");
  let shapeWeight = 0;
  for (const shape of PARTITION_SHAPES) {
    assert(profile.partitionShapeWeights[shape] >= 0, "partition shape weights must be >= 0");
    shapeWeight += profile.partitionShapeWeights[shape];
  }
  assert(shapeWeight > 0 || profile.weights.partition === 0, "partitions enabled without any shape");
  for (const [name, cost] of [["cpuApplyEntryUs", profile.cpuApplyEntryUs], ["cpuApplyByteNs", profile.cpuApplyByteNs], ["cpuEventUs", profile.cpuEventUs]] as const) {
    assert(Number.isSafeInteger(cost) && cost >= 0 && cost <= 1_000_000, () => `fault profile ${profile.name}: ${name} must be an integer in 0..1000000`);
  }
  assert(Number.isSafeInteger(profile.raftMaxMessageBytes) && profile.raftMaxMessageBytes >= 0, "raftMaxMessageBytes must be a non-negative integer");
  assert(profile.replicaTuning === "simulation" || profile.replicaTuning === "production", "replicaTuning is simulation or production");
}
