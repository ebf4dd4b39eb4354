// Swarm testing (the VOPR, docs/SIMULATION.md "VOPR"): each seed draws its own cluster, fault
// profile, replica tuning and workload, from the "swarm" PRNG stream of that seed alone, so
// `blixard vopr --seed S` reproduces the run with nothing else written down. Each fault family is
// switched off entirely in some seeds (a run mixing every fault at once hides the bugs that need
// a quiet stretch), and drawn within the ranges otherwise, never beyond what
// validateFaultProfile allows. Rates are drawn as integers of parts per million, then divided:
// no transcendental math decides anything here.

import { assert } from "../assert.ts";
import { CLOCK_DRIFT_BOUND_PPM } from "../env/environment.ts";
import { defaultRaftTuning } from "../replica/replica.ts";
import { drawFailpointProbabilities, type FailpointProbabilities } from "./failpoint-driver.ts";
import { FAULT_PROFILES, validateFaultProfile, type FaultProfile } from "./fault-profile.ts";
import { Prng } from "./prng.ts";
import type { Seed } from "./seed.ts";
import { profileReplicaOptions, type SimulationOptions } from "./simulation.ts";
import { defaultWorkloadOptions, type WorkloadOptions } from "./workload.ts";
import { SWARM_DIMENSIONS, type SwarmDimension, type SwarmDimensions, type SwarmSteer } from "./swarm-steer.ts";
import { defaultOrchestratorWorkloadOptions, type OrchestratorWorkloadOptions } from "./orchestrator-workload.ts";

export const SWARM_WORKLOADS = ["kv", "orchestrator", "mixed"] as const;
export type SwarmWorkload = (typeof SWARM_WORKLOADS)[number];

export const SWARM_NODE_COUNT_MIN = 1;
export const SWARM_NODE_COUNT_MAX = 7;
export const SWARM_LOSS_MAX = 0.3;
export const SWARM_DUPLICATION_MAX = 0.5;
export const SWARM_CORRUPTION_MAX = 0.1;
/** Drawn per-link queue bounds (messages in flight) in the seeds that shrink them: small enough that a busy or clogged link fills. */
export const SWARM_LINK_QUEUE_MIN = 2;
export const SWARM_LINK_QUEUE_MAX = 16;
/** The faulty phase of a run: long enough for many faults, short enough for many seeds. */
export const SWARM_FAULTY_MS: readonly [number, number] = [4_000, 14_000];
/**
 * The healed tail after it, in which liveness is judged. Key-value clients must see an operation
 * succeed: a client whose operations go to a node that stays down (refused to start on a corrupt
 * disk) waits out the 3 s operation timeout each time, so the tail holds several of them (6 s gave
 * a false failure with one client). With the orchestrator, VM Liveness needs its bound (10 s,
 * sim-orchestrator.ts) and 2 s more.
 */
export const SWARM_TAIL_MS_KV = 12_000;
export const SWARM_TAIL_MS_ORCHESTRATOR = 12_000;

/**
 * Liveness needs the faults to stop, and a profile's steady loss does not stop at the heal point:
 * above this, the healed tail is still lossy, and a run's liveness is not judged (2 of the first 32
 * seeds, at 12% and more, missed their bounds only for it; without the loss they recovered).
 */
export const SWARM_LIVENESS_LOSS_MAX = 0.02;

const PPM = 1_000_000;

/** Everything one seed's run is, as drawn; `simulationOptions` turns it into runSimulation's options. */
export interface SwarmRun {
  readonly nodeCount: number;
  /** The faulty phase, then the healed tail (SWARM_TAIL_MS_*). */
  readonly durationMs: number;
  readonly faultyMs: number;
  /** What the clients do: mixed runs key-value clients beside the orchestrator's users. */
  readonly workload: "kv" | "orchestrator" | "mixed";
  readonly profile: FaultProfile;
  readonly replica: NonNullable<SimulationOptions["replica"]>;
  readonly clients: Partial<WorkloadOptions>;
  /** The orchestrator's users (when the workload has the orchestrator). */
  readonly orchestratorUsers: OrchestratorWorkloadOptions;
  /** The fault families this seed switched on, in a fixed order (for reports and coverage of the draw itself). */
  readonly families: readonly string[];
  /** Every on/off dimension's value as drawn, or as the steer forced it (swarm-steer.ts): what coverage guidance learns from. */
  readonly dimensions: SwarmDimensions;
  /** BUGGIFY: the failpoints this seed enabled and their firing probabilities (failpoint-driver.ts, drawFailpointProbabilities). */
  readonly failpoints: FailpointProbabilities;
  /** The nodes' sync point mode (docs/STORAGE.md): "strict" in a quarter of the seeds, from the seed's `swarm/sync-points` stream. */
  readonly syncPoints: "riding" | "strict";
  /**
   * Messages in flight per directed link: the transport's default queue bound, or (a quarter of the
   * seeds, from the `swarm/link-queues` stream) a few, so sends are refused as a full queue refuses
   * them: raft's messages dropped, and a follower's forward resolved not applied (forward-not-sent).
   */
  readonly inFlightPerLinkMax: number | undefined;
}

/** Four users racing on three names per tenant, changes by generation outnumbering creates (test/core/sim/orchestrator-simulation.test.ts). */
export const SWARM_RACING_USERS: OrchestratorWorkloadOptions = {
  ...defaultOrchestratorWorkloadOptions,
  clientCount: 4,
  namesPerTenant: 3,
  thinkTimeMs: [20, 200],
  mix: { create: 2, stop: 3, start: 3, update: 3, migrate: 1, delete: 1, place: 1 },
};

/** Parts per million in [0, maxPpm], as a probability. */
function ppm(prng: Prng, maxPpm: number): number {
  return prng.intBetween(0, maxPpm) / PPM;
}

function range(prng: Prng, min: number, max: number, widthMax: number): readonly [number, number] {
  const low = prng.intBetween(min, max);
  return [low, low + prng.intBetween(0, widthMax)];
}

/**
 * One seed's run. `workload` fixes the workload family (--workload); undefined draws it too (kv half
 * the time, orchestrator and mixed a quarter each: the orchestrator's runs cost more events).
 */
export function drawSwarmRun(seed: Seed, workload: SwarmWorkload | undefined, steer: SwarmSteer = {}): SwarmRun {
  const prng = Prng.stream(seed, "swarm");
  // A steered dimension is still drawn (the same draws, in the same order, as blind), then replaced.
  const dimensions: Partial<Record<SwarmDimension, boolean>> = {};
  const steered = (name: SwarmDimension, drawn: boolean): boolean => (dimensions[name] = steer[name] ?? drawn);
  const nodeCount = prng.intBetween(SWARM_NODE_COUNT_MIN, SWARM_NODE_COUNT_MAX);
  const faultyMs = prng.intBetween(SWARM_FAULTY_MS[0], SWARM_FAULTY_MS[1]);
  const blindWorkload = prng.pick(["kv", "kv", "orchestrator", "mixed"] as const);
  const drawnWorkload = steered("orchestrator", blindWorkload !== "kv") ? (blindWorkload === "kv" ? "mixed" : blindWorkload) : "kv";
  const chosen = workload ?? drawnWorkload;
  const durationMs = faultyMs + (chosen === "kv" ? SWARM_TAIL_MS_KV : SWARM_TAIL_MS_ORCHESTRATOR);
  const families: string[] = [];
  const on = (name: SwarmDimension, probability: number): boolean => {
    const enabled = steered(name, prng.chance(probability));
    if (enabled) families.push(name);
    return enabled;
  };
  const base = FAULT_PROFILES.none!;
  // 10 ms ticks when faults come fast (every 100 ms or so), 50 ms otherwise: a quarter of the events.
  const tickMs = prng.pick([10, 50] as const);
  const intervalMinMs = tickMs === 10 ? prng.intBetween(50, 500) : prng.intBetween(300, 1_500);
  const nemesisIntervalMs: readonly [number, number] = [intervalMinMs, intervalMinMs + prng.intBetween(0, 2_500)];

  // Steady loss persists after the heal point (the nemesis lifts only its own faults): half the lossy
  // seeds stay at or below SWARM_LIVENESS_LOSS_MAX, so their liveness is judged too (swarmLivenessExclusion).
  const loss = on("loss", 0.5) ? ppm(prng, (prng.chance(0.5) ? SWARM_LIVENESS_LOSS_MAX : SWARM_LOSS_MAX) * PPM) : 0;
  const duplication = on("duplication", 0.5) ? ppm(prng, SWARM_DUPLICATION_MAX * PPM) : 0;
  const reorder = on("reorder", 0.6) ? prng.pick([0.25, 0.5, 1]) : 0;
  const latencyMinUs = range(prng, 100, 2_000, 3_000);
  const latencyTailMeanUs = range(prng, 100, 5_000, 15_000);
  const latencyMaxUs = Math.max(latencyMinUs[1], prng.intBetween(20_000, 200_000));

  const partitions = on("partition", 0.6);
  const partitionShapeWeights = {
    isolate: prng.intBetween(0, 3),
    minority: prng.intBetween(0, 3),
    deaf: prng.intBetween(0, 2),
    mute: prng.intBetween(0, 2),
  };
  if (partitionShapeWeights.isolate + partitionShapeWeights.minority + partitionShapeWeights.deaf + partitionShapeWeights.mute === 0) partitionShapeWeights.isolate = 1;
  const crashes = on("crash", 0.6);
  const crashKindWeights = { "process-kill": prng.intBetween(0, 2), "host-crash": prng.intBetween(1, 3) };
  const maxCrashed = prng.pick(["minority", "minority", "any"] as const);
  const clockOffsetMaxMs = on("clock-offset", 0.5) ? prng.intBetween(0, 60_000) : 0;
  const clockDriftMaxPpm = on("clock-drift", 0.5) ? prng.intBetween(0, CLOCK_DRIFT_BOUND_PPM) : 0;
  const clockJumps = on("clock-jump", 0.4);
  const clogs = on("clog", 0.4);
  const lossBursts = on("loss-burst", 0.3);
  const pauses = on("pause", 0.4);
  const diskFull = on("disk-full", 0.2);
  const corruption = on("corruption", 0.25);
  const operator = on("membership", 0.25);

  const profile: FaultProfile = {
    ...base,
    name: "swarm",
    description: "drawn per seed by the VOPR (src/core/sim/swarm.ts)",
    tickMs,
    latencyMinUs,
    latencyTailMeanUs,
    latencyMaxUs,
    lossProbability: loss,
    duplicateProbability: duplication,
    reorderLinkProbability: reorder,
    linkBandwidthBytesPerSecond: prng.chance(0.5) ? [12_500_000, 125_000_000] : [125_000_000, 125_000_000],
    clockOffsetMaxMs,
    clockDriftMaxPpm,
    clockDriftAtBound: clockDriftMaxPpm > 0 && prng.chance(0.3),
    diskSyncLatencyMs: [0.2, prng.pick([1, 5, 20])],
    diskTearProbability: prng.pick([0, 0.5, 1]),
    diskReadCorruptionProbability: corruption ? ppm(prng, SWARM_CORRUPTION_MAX * PPM) : 0,
    diskWriteCorruptionProbability: corruption ? ppm(prng, SWARM_CORRUPTION_MAX * PPM) : 0,
    diskMisdirectedWriteProbability: corruption ? ppm(prng, SWARM_CORRUPTION_MAX * PPM) : 0,
    nemesisIntervalMs,
    weights: {
      partition: partitions ? prng.intBetween(1, 4) : 0,
      crash: crashes ? prng.intBetween(1, 6) : 0,
      "clock-jump": clockJumps ? prng.intBetween(1, 4) : 0,
      clog: clogs ? prng.intBetween(1, 3) : 0,
      "loss-burst": lossBursts ? prng.intBetween(1, 2) : 0,
      pause: pauses ? prng.intBetween(1, 3) : 0,
      "disk-full": diskFull ? prng.intBetween(1, 6) : 0,
    },
    partitionShapeWeights,
    targetLeaderProbability: prng.intBetween(0, 10) / 10,
    partitionDurationMs: range(prng, 100, 2_000, 6_000),
    crashDowntimeMs: range(prng, 50, 1_000, 4_000),
    crashKindWeights,
    maxCrashed,
    clockJumpMaxMs: clockJumps ? prng.intBetween(100, 30_000) : 0,
    clogDurationMs: range(prng, 100, 1_000, 2_000),
    lossBurstProbability: lossBursts ? ppm(prng, 500_000) : 0,
    lossBurstDurationMs: range(prng, 100, 1_000, 2_000),
    pauseDurationMs: range(prng, 50, 1_000, 4_000),
    diskFullDurationMs: diskFull ? range(prng, 200, 1_000, 2_000) : [0, 0],
    diskFullSlackBytes: diskFull ? [0, 8_192] : [0, 0],
    // The nemesis heals at floor(durationUs * fraction): the faulty phase, give or take a microsecond.
    healAtFraction: faultyMs / durationMs,
    raftMaxMessageBytes: prng.pick([0, 4 * 1024, 32 * 1024]),
    operator,
  };
  validateFaultProfile(profile);

  const snapshotInterval = (drawn: number): number => (steered("snapshot-often", drawn === 20) ? 20 : drawn === 20 ? 100 : drawn);
  const electionTicks = prng.intBetween(5, 20);
  const replica: NonNullable<SimulationOptions["replica"]> = {
    tickMs,
    raft: {
      ...defaultRaftTuning,
      electionTicks,
      heartbeatTicks: prng.intBetween(1, Math.max(1, Math.floor(electionTicks / 3))),
      preVote: steered("pre-vote", prng.chance(0.5)),
      checkQuorum: steered("check-quorum", prng.chance(0.5)),
      maxInflightMessages: prng.pick([1, 4, 64, 256]),
      maxMessageBytes: profile.raftMaxMessageBytes === 0 ? defaultRaftTuning.maxMessageBytes : profile.raftMaxMessageBytes,
    },
    snapshotEveryEntries: snapshotInterval(prng.pick([20, 100, 500, 2_000])),
  };
  const readHeavy = steered("read-heavy", prng.chance(0.3));
  const clients: Partial<WorkloadOptions> = {
    clientCount: prng.intBetween(2, 8),
    keyCount: prng.intBetween(1, 6),
    wanderProbability: prng.pick([0, 0.1, 0.5, 1]),
    mix: readHeavy ? { get: 18, put: 1, cas: 1 } : { get: prng.intBetween(1, 6), put: prng.intBetween(1, 4), cas: prng.intBetween(0, 4) },
    thinkTimeMs: [0, prng.pick([20, 100, 300])],
  };
  // List-append transactions beside the registers in half the runs, judged by Transaction Isolation (Elle).
  const transactionWeight = prng.chance(0.5) ? prng.intBetween(1, 6) : 0;
  assert(nodeCount >= SWARM_NODE_COUNT_MIN && nodeCount <= SWARM_NODE_COUNT_MAX, "cluster size within the swarm's range");
  assert(profile.healAtFraction < 1, "every swarm run heals, so liveness can be judged");
  for (const name of SWARM_DIMENSIONS) assert(dimensions[name] !== undefined, () => `dimension ${name} was drawn`);
  if (workload !== undefined) dimensions.orchestrator = workload !== "kv";
  // From streams of their own, so the draws above are those of a swarm without failpoints or sync point modes.
  // A quarter of the seeds keep their sync points "strict" (docs/STORAGE.md, "The sync point window"); only those
  // enable the failpoints whose firing is a crash: in "riding" a crash right after a lost or misdirected write of
  // the newest batch cuts it silently (the window; swarm seed 30, docs/FAILPOINTS.md), and the crash points
  // reach that window in most seeds that have them, burying every other finding under the known one.
  const syncPoints = Prng.stream(seed, "swarm/sync-points").intBelow(4) === 0 ? "strict" : "riding";
  if (syncPoints === "strict") families.push("strict-sync-points");
  const failpoints = drawFailpointProbabilities(Prng.stream(seed, "swarm/failpoints"), syncPoints === "strict");
  if (Object.keys(failpoints).length > 0) families.push("failpoints");
  // Drawn last, so a seed without a focus draws exactly the run it drew before focuses existed.
  // A steered seed (coverage guidance, --steer) keeps its drawn shape: a focus would replace the profile and
  // tuning the steer chose. The focus is still drawn, so the stream is the same; it is the last draw.
  const drawnFocus = drawSwarmFocus(prng);
  const focus = Object.keys(steer).length === 0 ? drawnFocus : "none";
  // Deletes of one key in half the runs, from a stream of their own (so every draw above is the one drawn before them).
  const deletes = Prng.stream(seed, "swarm/deletes");
  const deleteWeight = deletes.chance(0.5) ? deletes.intBetween(1, 3) : 0;
  const focused = applySwarmFocus(prng, focus, { nodeCount, profile, replica, clients: { ...defaultWorkloadOptions, ...clients, mix: { ...clients.mix!, txn: transactionWeight, delete: deleteWeight } } });
  if (focused.focus !== "none") families.push(`focus:${focused.focus}`);
  // The orchestrator's users: the default mix (mostly creates, a dozen names per tenant), or racing users (few
  // names, changes by generation racing on them: what the registry's history check needs to see a lost compare).
  const racingUsers = prng.chance(0.5);
  if (racingUsers) families.push("racing-users");
  const users = racingUsers ? SWARM_RACING_USERS : defaultOrchestratorWorkloadOptions;
  // An operator draining and cordoning nodes in half the runs, from a stream of its own (every draw above is unchanged).
  const drains = Prng.stream(seed, "swarm/operator");
  const drainWeight = drains.chance(0.5) ? drains.intBetween(3, 6) : 0;
  if (drainWeight > 0) families.push("operator-drains");
  const orchestratorUsers: OrchestratorWorkloadOptions = { ...users, mix: { ...users.mix, drain: drainWeight } };
  const linkQueues = Prng.stream(seed, "swarm/link-queues");
  const inFlightPerLinkMax = linkQueues.chance(0.25) ? linkQueues.intBetween(SWARM_LINK_QUEUE_MIN, SWARM_LINK_QUEUE_MAX) : undefined;
  if (inFlightPerLinkMax !== undefined) families.push(`link-queue:${inFlightPerLinkMax}`);
  return {
    nodeCount: focused.nodeCount,
    durationMs,
    faultyMs,
    workload: chosen,
    profile: focused.profile,
    replica: focused.replica,
    clients: focused.clients,
    orchestratorUsers,
    families,
    dimensions: dimensions as SwarmDimensions,
    failpoints,
    syncPoints,
    inFlightPerLinkMax,
  };
}

/**
 * Focuses (docs/SIMULATION.md, "VOPR"): shapes of run that some bugs need and that independent draws
 * of each knob almost never combine (docs/PLANTED-BUGS.md, "What it took"). A focused seed runs the
 * fault profile made for that case (fault-profile.ts) on 3-5 nodes, with that profile's replica tuning
 * and the clients the case needs, healed at the seed's own heal point; the workload and its length
 * stay as drawn:
 *   figure-8 (figure-8): one entry per append and one append in flight, fast writers (a leader
 *     committing an earlier term's entry by counting needs an acknowledgement to stop short of its own);
 *   deposed-reads (deposed-leader): CheckQuorum off, read-heavy clients wandering (a deposed leader still answering);
 *   lease-reads (lease): lease reads, clocks at the drift bound, wall jumps, isolated leaders;
 *   crash-storm (leader-churn, crashes only): every 5-30 ms, process kills beside host crashes
 *     (unsynced writes surviving a kill, then lost to a host crash);
 *   disk-full (disk-full): disks filling up often, a few KiB of slack;
 *   bit-flips (corruption without misdirected writes: a node hit by one is refused at its first
 *     restart, before a flip can be replayed), clients wandering (a minority may stay refused).
 * Each is as sound as the drawn run: every one is a configuration some test passes with the bugs off.
 */
export const SWARM_FOCUSES = ["none", "figure-8", "deposed-reads", "lease-reads", "crash-storm", "disk-full", "bit-flips"] as const;
export type SwarmFocus = (typeof SWARM_FOCUSES)[number];
/**
 * A third of the seeds keep their draw as it is; the others are shared among the focuses, twice as
 * many for the two whose bugs a focused run catches least often (lease-reads: a backward jump or a
 * drift at the bound on the leader, then its isolation; bit-flips: a flip in a committed entry's
 * record, then a restart of that node).
 */
const SWARM_FOCUS_WEIGHTS: Readonly<Record<SwarmFocus, number>> = { none: 4, "figure-8": 1, "deposed-reads": 1, "lease-reads": 2, "crash-storm": 1, "disk-full": 1, "bit-flips": 2 };

function drawSwarmFocus(prng: Prng): SwarmFocus {
  const total = SWARM_FOCUSES.reduce((sum, focus) => sum + SWARM_FOCUS_WEIGHTS[focus], 0);
  let ticket = prng.intBetween(0, total - 1);
  for (const focus of SWARM_FOCUSES) {
    ticket -= SWARM_FOCUS_WEIGHTS[focus];
    if (ticket < 0) return focus;
  }
  assert(false, "a ticket within the weights' total picks a focus");
}

interface FocusedParts {
  readonly nodeCount: number;
  readonly profile: FaultProfile;
  readonly replica: NonNullable<SimulationOptions["replica"]>;
  readonly clients: WorkloadOptions;
}

/** The focus's profile: a named one made for the bug's case (fault-profile.ts), healed at the seed's heal point. */
function focusProfile(name: string, healAtFraction: number, overrides: Partial<FaultProfile> = {}): FaultProfile {
  const named = FAULT_PROFILES[name]!;
  assert(named !== undefined, () => `no fault profile ${name}`);
  return { ...named, ...overrides, name: "swarm", description: `drawn per seed by the VOPR (src/core/sim/swarm.ts): focus on the ${name} profile`, healAtFraction };
}

function applySwarmFocus(prng: Prng, focus: SwarmFocus, parts: FocusedParts): FocusedParts & { readonly focus: SwarmFocus } {
  if (focus === "none") return { ...parts, focus };
  const heal = parts.profile.healAtFraction;
  // A focus's bug needs a quorum that can be split and a leader that can be cut off: 3-5 nodes.
  const nodeCount = prng.intBetween(3, 5);
  let profile: FaultProfile;
  let raft: Partial<NonNullable<NonNullable<SimulationOptions["replica"]>["raft"]>> = {};
  let replicaExtra: Partial<NonNullable<SimulationOptions["replica"]>> = {};
  let clients: WorkloadOptions = parts.clients;
  switch (focus) {
    case "figure-8":
      profile = focusProfile("figure-8", heal);
      raft = { maxMessageBytes: 1, maxInflightMessages: 1 };
      // A few fast writers: the tuned configuration's 16 (for the whole Figure 8 sequence) make histories whose
      // linearizability check costs seconds; the commit by counting needs only a steady stream of writes.
      clients = { ...clients, clientCount: prng.intBetween(4, 8), thinkTimeMs: [0, 10], mix: { get: 1, put: 5, cas: 1 }, retryBackoffMs: 2 };
      break;
    case "deposed-reads":
      profile = focusProfile("deposed-leader", heal);
      raft = { checkQuorum: false };
      clients = { ...clients, clientCount: 8, thinkTimeMs: [0, 20], mix: { get: 6, put: 3, cas: 1 }, wanderProbability: 0.5 };
      break;
    case "lease-reads":
      profile = focusProfile("lease", heal);
      // Lease reads rest on CheckQuorum (the voters' side of the promise): the replica refuses them without it.
      raft = { checkQuorum: true };
      replicaExtra = { readMode: "lease" };
      clients = { ...clients, clientCount: 16, thinkTimeMs: [0, 5], mix: { get: 10, put: 1, cas: 1 }, wanderProbability: 0.5 };
      break;
    case "crash-storm":
      profile = focusProfile("leader-churn", heal, {
        weights: { partition: 0, crash: 1, "clock-jump": 0, clog: 0, "loss-burst": 0, pause: 0, "disk-full": 0 },
        nemesisIntervalMs: [5, 30],
        crashDowntimeMs: [1, 10],
        targetLeaderProbability: 0.3,
        crashKindWeights: { "process-kill": 1, "host-crash": 1 },
      });
      break;
    case "disk-full":
      profile = focusProfile("disk-full", heal);
      break;
    case "bit-flips":
      profile = focusProfile("corruption", heal, { diskMisdirectedWriteProbability: 0 });
      // A minority may refuse to start for good: clients that stayed with one of them would miss the healed
      // tail (Recovered) waiting out timeouts, so every operation starts at a node drawn afresh.
      clients = { ...clients, wanderProbability: 1 };
      break;
    default: {
      const unknown: never = focus;
      assert(false, () => `unknown focus ${String(unknown)}`);
    }
  }
  validateFaultProfile(profile);
  const base = profileReplicaOptions(profile);
  const replica: NonNullable<SimulationOptions["replica"]> = { ...base, ...replicaExtra, raft: { ...base.raft, ...raft } };
  assert(replica.tickMs === profile.tickMs && profile.healAtFraction === heal, "a focus keeps the heal point and runs its profile's tick");
  return { nodeCount, profile, replica, clients, focus };
}

/** runSimulation's options for a drawn run (planted bugs and the reproduction command are the caller's). */
export function swarmSimulationOptions(seed: Seed, run: SwarmRun): SimulationOptions {
  return {
    seed,
    nodeCount: run.nodeCount,
    durationMs: run.durationMs,
    profile: run.profile,
    replica: run.replica,
    // The orchestrator's runs keep two key-value clients: Recovered is judged on them (one that
    // wanders to a node that stays down can miss every chance in the tail).
    workload: run.workload === "orchestrator" ? { ...run.clients, clientCount: 2 } : run.clients,
    orchestrator: run.workload === "kv" ? undefined : { workload: run.orchestratorUsers },
    failpoints: run.failpoints,
    syncPoints: run.syncPoints,
    ...(run.inFlightPerLinkMax === undefined ? {} : { limits: { inFlightPerLinkMax: run.inFlightPerLinkMax } }),
  };
}

/** Why a drawn run's liveness is not judged (its healed tail is not fault-free), or undefined when it is. */
export function swarmLivenessExclusion(run: SwarmRun): string | undefined {
  assert(run.profile.lossProbability >= 0 && run.profile.lossProbability <= SWARM_LOSS_MAX, "a swarm run's loss is within its range");
  if (run.profile.lossProbability <= SWARM_LIVENESS_LOSS_MAX) return undefined;
  return `steady loss ${(run.profile.lossProbability * 100).toFixed(1)}% outlasts the heal`;
}
