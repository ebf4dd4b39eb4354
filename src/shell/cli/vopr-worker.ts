// One VOPR seed, judged (`blixard vopr`, vopr-command.ts): the seed's swarm draw (swarm.ts) run
// under the mode's checks, the determinism self-check and the canary where the seed is selected
// for them. Runs in a worker thread (node:worker_threads) when started as one, or in the calling
// thread (--jobs 1, tests). Everything a job returns is a function of the job alone: no clock is
// read here (the events per second are the command's).

import { isMainThread, parentPort, workerData } from "node:worker_threads";
import { assert } from "../../core/assert.ts";
import { FAULT_PROFILES } from "../../core/sim/fault-profile.ts";
import { isSeed, parseSeed, seedFromBigInt, type Seed } from "../../core/sim/seed.ts";
import { runSimulation, type SimulationOptions } from "../../core/sim/simulation.ts";
import { encodeRunFile } from "../../core/sim/run-file.ts";
import { shrinkRun, type RunSize } from "../../core/sim/shrink.ts";
import { drawSwarmRun, swarmLivenessExclusion, swarmSimulationOptions, type SwarmRun, type SwarmWorkload } from "../../core/sim/swarm.ts";
import type { NodeId, PlantedBug } from "../../core/raft/types.ts";
import type { StartRefusal } from "../../core/sim/cluster.ts";
import type { StoragePlantedBug } from "../../core/storage/recovery.ts";
import type { RequestPathPlantedBug } from "../../core/replica/request-path.ts";
import type { KvPlantedBug } from "../../core/replica/kv-state-machine.ts";
import type { FaultModelPlantedBug } from "../../core/sim/corruption-consent.ts";
import { formatSwarmSteer, type SwarmDimensions, type SwarmSteer } from "../../core/sim/swarm-steer.ts";
import type { ClusterPlantedBug } from "../../core/cluster/cluster-state.ts";
import type { ControllerPlantedBug } from "../../core/controller/cluster-controller.ts";
import type { AgentPlantedBug } from "../../core/agent/reconciler.ts";
import type { SimVmBackendPlantedBug } from "../../core/sim/sim-vm-backend.ts";
import type { SchedulerPlantedBug } from "../../core/scheduler/scheduler-types.ts";
import { DEFAULT_SCHEDULER_OPTIONS } from "../../core/scheduler/scheduler-types.ts";
import type { OrchestratorPlantedBugs, SimOrchestratorOptions } from "../../core/sim/sim-orchestrator.ts";

export const VOPR_MODES = ["safety", "liveness", "both"] as const;
export type VoprMode = (typeof VOPR_MODES)[number];

// Every planted bug --plant can switch on, by family (Record types: a new bug of a family must be listed here).
const RAFT_BUGS: Record<PlantedBug, true> = {
  "vote-without-log-check": true,
  "commit-previous-term-by-counting": true,
  "vote-before-persist": true,
  "append-without-truncating-conflicts": true,
  "leader-ignores-higher-term": true,
  "read-index-without-quorum": true,
  "double-vote-in-term": true,
  "commit-counts-learners": true,
  "lease-from-wall-clock": true,
  "lease-ignores-drift": true,
  "ack-before-durable-on-enospc": true,
  "read-before-applied": true,
};
const STORAGE_BUGS: Record<StoragePlantedBug, true> = {
  "recover-skipping-checksums": true,
  "torn-tail-as-corrupt": true,
  "open-trusting-unsynced-reads": true,
  "sync-point-covers-unsynced-batch": true,
};
const REQUEST_PATH_BUGS: Record<RequestPathPlantedBug, true> = { "forward-error-as-not-applied": true, "get-without-read-index": true, "read-only-txn-served-locally": true };
const KV_BUGS: Record<KvPlantedBug, true> = { "cas-without-compare": true, "txn-not-atomic": true, "delete-without-effect": true };
const FAULT_MODEL_BUGS: Record<FaultModelPlantedBug, true> = { "consent-to-corrupt-every-node": true };

// The orchestrator's families: each needs the orchestrator in the run, so --plant forces its workload.
const CLUSTER_BUGS: Record<ClusterPlantedBug, true> = {
  "capacity-check-stale": true,
  "quota-not-released-on-delete": true,
  "ip-allocated-without-check": true,
  "generation-not-compared": true,
};
const CONTROLLER_BUGS: Record<ControllerPlantedBug, true> = { "no-fencing-wait": true, "drain-never-migrates": true };
const AGENT_BUGS: Record<AgentPlantedBug, true> = { "lease-on-wall-clock": true, "no-self-fence": true, "stop-not-honoured": true };
const BACKEND_BUGS: Record<SimVmBackendPlantedBug, true> = { "backend-accepts-stale-token": true };
const SCHEDULER_BUGS: Record<SchedulerPlantedBug, true> = {
  "capacity-ignores-overcommit": true,
  "capacity-ignores-batch": true,
  "hard-anti-affinity-ignored": true,
  "required-labels-ignored": true,
  "preempt-equal-priority": true,
  "preempt-every-candidate": true,
  "give-up-after-half": true,
  "spread-within-candidates": true,
};

/** A family of bugs --plant can switch on: where its switch lives in the simulation's options. */
export const VOPR_PLANT_FAMILIES = {
  raft: RAFT_BUGS,
  storage: STORAGE_BUGS,
  "request path": REQUEST_PATH_BUGS,
  "state machine": KV_BUGS,
  "fault model": FAULT_MODEL_BUGS,
  "cluster state": CLUSTER_BUGS,
  controller: CONTROLLER_BUGS,
  "node agent": AGENT_BUGS,
  "VM backend": BACKEND_BUGS,
  scheduler: SCHEDULER_BUGS,
} as const satisfies Record<string, Record<string, true>>;
export type VoprPlantFamily = keyof typeof VOPR_PLANT_FAMILIES;

/** The names --plant accepts, sorted. */
export const VOPR_PLANT_NAMES: readonly string[] = Object.values(VOPR_PLANT_FAMILIES).flatMap((family) => Object.keys(family)).sort();

/** The family a --plant name belongs to (the name must be one of VOPR_PLANT_NAMES). */
export function plantFamily(name: string): VoprPlantFamily {
  const family = (Object.keys(VOPR_PLANT_FAMILIES) as VoprPlantFamily[]).find((key) => Object.hasOwn(VOPR_PLANT_FAMILIES[key], name));
  assert(family !== undefined, () => `unknown planted bug ${name}`);
  return family;
}

/** Whether the bug lives in the orchestrator, so a run without the orchestrator cannot reach it. */
export function plantNeedsOrchestrator(name: string): boolean {
  const family = plantFamily(name);
  return family === "cluster state" || family === "controller" || family === "node agent" || family === "VM backend" || family === "scheduler";
}

/**
 * Bugs that are only observable beside another: `capacity-check-stale` skips the cluster state's
 * recheck of a plan, which matters only when a plan is stale, so it is planted with the scheduler's
 * `capacity-ignores-batch` (a plan that forgets its own placements). The companion stays on in the
 * bug-off comparison: there the recheck refuses the stale plan and every run passes. A run with a
 * companion has the plan checks off (Plan Admissible would see the companion's plans first): it
 * tests the defence behind the scheduler, not the scheduler.
 */
export const PLANT_COMPANIONS: Readonly<Record<string, readonly string[]>> = { "capacity-check-stale": ["capacity-ignores-batch"] };

/** --plant NAME with --workload W: one line naming the conflict, or undefined (the command turns it into a usage error). */
export function plantWorkloadConflict(name: string | undefined, workload: SwarmWorkload | undefined): string | undefined {
  if (name === undefined || workload !== "kv" || !plantNeedsOrchestrator(name)) return undefined;
  return `--plant ${name} is a bug of the orchestrator (${plantFamily(name)}): it needs --workload orchestrator or mixed, not kv`;
}

/** Merges several names' switches into one set of simulation options (an orchestrator's switches need `orchestrator` from the caller). */
function plantSwitches(names: readonly string[]): { options: Partial<SimulationOptions>; orchestrator: Partial<SimOrchestratorOptions> } {
  const sets = new Map<VoprPlantFamily, Set<string>>();
  for (const name of names) {
    const family = plantFamily(name);
    const set = sets.get(family) ?? new Set<string>();
    set.add(name);
    sets.set(family, set);
  }
  const get = <T extends string>(family: VoprPlantFamily): ReadonlySet<T> | undefined => sets.get(family) as ReadonlySet<T> | undefined;
  const options: Partial<SimulationOptions> = {
    ...(get("raft") === undefined ? {} : { plantedBugs: get<PlantedBug>("raft") }),
    ...(get("storage") === undefined ? {} : { storagePlantedBugs: get<StoragePlantedBug>("storage") }),
    ...(get("request path") === undefined ? {} : { requestPathPlantedBugs: get<RequestPathPlantedBug>("request path") }),
    ...(get("state machine") === undefined ? {} : { kvPlantedBugs: get<KvPlantedBug>("state machine") }),
    ...(get("fault model") === undefined ? {} : { faultModelPlantedBugs: get<FaultModelPlantedBug>("fault model") }),
  };
  const plantedBugs: OrchestratorPlantedBugs = {
    ...(get("cluster state") === undefined ? {} : { cluster: get<ClusterPlantedBug>("cluster state") }),
    ...(get("controller") === undefined ? {} : { controller: get<ControllerPlantedBug>("controller") }),
    ...(get("node agent") === undefined ? {} : { agent: get<AgentPlantedBug>("node agent") }),
    ...(get("VM backend") === undefined ? {} : { backend: get<SimVmBackendPlantedBug>("VM backend") }),
  };
  const scheduler = get<SchedulerPlantedBug>("scheduler");
  const orchestrator: Partial<SimOrchestratorOptions> = {
    ...(Object.keys(plantedBugs).length === 0 ? {} : { plantedBugs }),
    ...(scheduler === undefined ? {} : { scheduler: { ...DEFAULT_SCHEDULER_OPTIONS, plantedBugs: [...scheduler].sort() } }),
  };
  return { options, orchestrator };
}

/**
 * The simulation options that switch on one planted bug (and its companions), applied over a run's
 * options: an orchestrator bug's switches go into the run's orchestrator options, which must be there.
 * `bugOff`: only the companions, the run the bug is compared against.
 */
export function applyPlant(name: string, run: SimulationOptions, bugOff = false): SimulationOptions {
  const names = [...(bugOff ? [] : [name]), ...(PLANT_COMPANIONS[name] ?? [])];
  const { options, orchestrator } = plantSwitches(names);
  assert(!plantNeedsOrchestrator(name) || run.orchestrator !== undefined, () => `planted bug ${name} needs the orchestrator in the run`);
  const companions = PLANT_COMPANIONS[name] !== undefined;
  const merged: SimulationOptions = {
    ...run,
    ...options,
    ...(run.orchestrator === undefined ? {} : { orchestrator: { ...run.orchestrator, ...orchestrator, ...(companions ? { planChecks: false } : {}) } }),
  };
  assert(bugOff || names.length >= 1, "a planted run plants something");
  return merged;
}

/** The simulation options that switch on one planted bug of the Raft, storage, request path, state machine or fault model families. */
export function plantOptions(name: string): Partial<SimulationOptions> {
  assert(!plantNeedsOrchestrator(name), () => `planted bug ${name} is the orchestrator's: use applyPlant`);
  return plantSwitches([name]).options;
}

/**
 * Which seeds get the extra runs, by the seed's last 32-bit word (a decimal seed's low bits):
 * one in 8 (word mod 8 = 1) runs twice for the determinism self-check, one in 16 (word mod 16 = 2)
 * also runs the canary. Fixed, so a batch's report and a seed's reproduction do not depend on the batch.
 */
export const DETERMINISM_EVERY = 8;
export const CANARY_EVERY = 16;
export function seedSelectedFor(seed: Seed): { determinism: boolean; canary: boolean } {
  const word = seed.words[seed.words.length === 3 ? 1 : seed.words.length - 1]! >>> 0;
  return { determinism: word % DETERMINISM_EVERY === 1, canary: word % CANARY_EVERY === 2 };
}

/**
 * The canary: a bug known to be caught, in a run known to catch it (the standard profile, 5 nodes,
 * 20 s: docs/PLANTED-BUGS.md), on the seed itself. A canary that passes means the pipeline is broken.
 */
/**
 * A majority that refuses to start on corrupt disks has no quorum by design, and neither has a
 * final configuration (membership changes shrink it) whose voters that did not refuse are no
 * majority of it: the run's liveness is not judged. Undefined when a quorum is left.
 */
export function refusalExclusion(nodeCount: number, refused: readonly StartRefusal[], finalVoters: readonly NodeId[]): string | undefined {
  if (refused.length === 0) return undefined;
  if (nodeCount - refused.length < Math.floor(nodeCount / 2) + 1) return `${refused.length} of ${nodeCount} nodes refused to start on corrupt disks`;
  const refusedIds = new Set(refused.map((refusal) => refusal.nodeId));
  const standing = finalVoters.filter((id) => !refusedIds.has(id)).length;
  if (finalVoters.length > 0 && standing < Math.floor(finalVoters.length / 2) + 1) {
    return `the final configuration's voters ${finalVoters.join(",")} keep ${standing} of ${finalVoters.length} that did not refuse to start on corrupt disks`;
  }
  return undefined;
}

export const CANARY_BUG = "cas-without-compare";
export const CANARY_PROPERTY = "Linearizability";

/**
 * Test harness only (docs/PLANTED-BUGS.md): bugs in the VOPR's own pipeline, each of which one of its
 * checks must catch; the command never sets them.
 *   canary-without-bug: the canary runs without its planted bug (Canary must fire);
 *   rerun-another-seed: the determinism self-check's second run uses the next seed (Determinism must fire);
 *   clients-time-out-at-once: the clients give up on every operation after 1 ms (Recovered must fire).
 */
export type VoprPipelineBug = "canary-without-bug" | "rerun-another-seed" | "clients-time-out-at-once";

export interface VoprJob {
  readonly seed: string;
  readonly mode: VoprMode;
  readonly workload: SwarmWorkload | undefined;
  readonly plant: string | undefined;
  readonly pipelineBug?: VoprPipelineBug;
  /** With `plant`: the bug-off comparison (the scoreboard's): the same draw with only the bug's companions on. */
  readonly plantOff?: boolean;
  /** Shrink a failing run (src/core/sim/shrink.ts) with at most this many runs; 0 or undefined: no shrinking. */
  readonly shrinkAttempts?: number;
  /** Wall time the shrinking may take (default: no bound but the attempts). */
  readonly shrinkTimeMs?: number;
  /** Coverage guidance's forced draws for this seed (swarm-steer.ts); absent or empty: the blind draw. */
  readonly steer?: SwarmSteer;
}

/** A failing run, shrunk: its run file (src/core/sim/run-file.ts) and its size beside the original's. */
export interface VoprShrunkRun {
  readonly property: string;
  readonly runFile: string;
  readonly originalSize: RunSize;
  readonly shrunkSize: RunSize;
  readonly attempts: number;
  readonly stopped: string;
}

export interface VoprFailure {
  readonly property: string;
  readonly message: string;
  /** Simulated seconds into the run. */
  readonly atS: number;
}

export interface VoprSeedReport {
  readonly seed: string;
  /** One line describing the draw and the outcome (deterministic). */
  readonly line: string;
  readonly simulatedUs: number;
  readonly events: number;
  readonly failures: readonly VoprFailure[];
  /** Set when the run is unrecoverable by design and its liveness is not judged. */
  readonly excluded: string | undefined;
  readonly reproduce: string;
  /** Set when the run failed with a simulation property and the job asked for shrinking. */
  readonly shrunk?: VoprShrunkRun;
  /** The run's coverage points reached (src/core/env/coverage-points.ts), by name, with how often; none when it threw. */
  readonly coverage: Readonly<Record<string, number>>;
  /** The draw's on/off dimensions as they ran (coverage guidance learns from them); absent when it threw. */
  readonly dimensions?: SwarmDimensions;
}

/** The one command that reruns exactly this job (the swarm draw is reproducible from the seed alone). */
export function voprReproduceCommand(job: VoprJob): string {
  const steer = job.steer === undefined ? "" : formatSwarmSteer(job.steer);
  return `npx blixard vopr --seed ${job.seed} --mode ${job.mode}${job.workload === undefined ? "" : ` --workload ${job.workload}`}${job.plant === undefined ? "" : ` --plant ${job.plant}`}${steer === "" ? "" : ` --steer ${steer}`} --jobs 1`;
}

/**
 * The seed's swarm draw for the job. A bug of the orchestrator needs the orchestrator in the run: a
 * seed that draws the key-value workload runs the orchestrator workload instead (the rest of the draw
 * is the same; the command rejects --workload kv with such a bug).
 */
export function drawVoprRun(seed: Seed, job: Pick<VoprJob, "workload" | "plant" | "steer">): SwarmRun {
  const draw = drawSwarmRun(seed, job.workload, job.steer);
  if (job.plant === undefined || !plantNeedsOrchestrator(job.plant) || draw.workload !== "kv") return draw;
  assert(job.workload === undefined, "the command rejects --workload kv with an orchestrator bug");
  const forced = drawSwarmRun(seed, "orchestrator", job.steer);
  assert(forced.workload === "orchestrator" && forced.nodeCount === draw.nodeCount, "forcing the workload keeps the rest of the draw");
  return forced;
}

export function runVoprJob(job: VoprJob): VoprSeedReport {
  const parsed = parseSeed(job.seed);
  assert(isSeed(parsed), "the command parsed the seed");
  const seed = parsed;
  const draw = drawVoprRun(seed, job);
  const reproduce = voprReproduceCommand(job);
  const swarm = swarmSimulationOptions(seed, draw);
  let options: SimulationOptions = {
    ...swarm,
    ...(job.pipelineBug === "clients-time-out-at-once" ? { workload: { ...swarm.workload, operationTimeoutMs: 1 } } : {}),
    reproduceCommand: reproduce,
  };
  if (job.plant !== undefined) options = applyPlant(job.plant, options, job.plantOff === true);
  const result = runSimulation(options);
  const failures: VoprFailure[] = [];
  const judgeSafety = job.mode !== "liveness";
  const judgeLiveness = job.mode !== "safety";
  let simulatedUs = result.simulatedUs;
  let events = result.events;
  const excluded = refusalExclusion(draw.nodeCount, result.refusedToStart, result.finalVoters) ?? swarmLivenessExclusion(draw);
  // A safety violation stops the run, so liveness mode reports it too: nothing after it was observed.
  if (result.failure !== undefined && (result.failure.property !== "VM Liveness" || (judgeLiveness && excluded === undefined))) {
    failures.push({ property: result.failure.property, message: result.failure.message, atS: result.failure.simulatedTimeUs / 1e6 });
  }
  // VM Liveness is judged before the histories, and a run keeps its first failure: an illegal history behind it is still a failure.
  if (judgeSafety && result.failure?.property === "VM Liveness") {
    if (result.linearizability.verdict === "illegal") failures.push({ property: "Linearizability", message: `the client history is not linearizable (key ${result.linearizability.illegalKey})`, atS: result.simulatedUs / 1e6 });
    if (result.orchestrator?.registry.verdict === "illegal") failures.push({ property: "VM Registry Linearizability", message: `the orchestrator users' history is not linearizable (VM ${result.orchestrator.registry.illegalKey})`, atS: result.simulatedUs / 1e6 });
  }
  if (judgeLiveness && result.failure === undefined && excluded === undefined && !result.recovered) {
    failures.push({ property: "Recovered", message: `no client operation succeeded in the ${((draw.durationMs - draw.faultyMs) / 1000).toFixed(1)} s after the faults stopped`, atS: result.simulatedUs / 1e6 });
  }
  const selected = seedSelectedFor(seed);
  if (selected.determinism) {
    const again = runSimulation(job.pipelineBug === "rerun-another-seed" ? { ...options, seed: seedFromBigInt(BigInt(job.seed) + 1n) } : options);
    simulatedUs += again.simulatedUs;
    events += again.events;
    if (again.traceHash !== result.traceHash) failures.push({ property: "Determinism", message: `the same run gave trace hashes ${result.traceHash} and ${again.traceHash}`, atS: 0 });
  }
  if (selected.canary && job.plant === undefined) {
    const canary = runSimulation({ seed, nodeCount: 5, durationMs: 20_000, profile: FAULT_PROFILES.standard!, ...(job.pipelineBug === "canary-without-bug" ? {} : plantOptions(CANARY_BUG)) });
    simulatedUs += canary.simulatedUs;
    events += canary.events;
    if (canary.failure?.property !== CANARY_PROPERTY) {
      failures.push({ property: "Canary", message: `planted bug ${CANARY_BUG} was not caught by ${CANARY_PROPERTY} (got ${canary.failure?.property ?? "a clean run"}): the pipeline is broken`, atS: 0 });
    }
  }
  const extras = [selected.determinism ? "determinism checked" : "", selected.canary && job.plant === undefined ? "canary caught" : ""].filter((text) => text !== "");
  const outcome = failures.length === 0 ? (excluded === undefined || !judgeLiveness ? "ok" : `ok (liveness not judged: ${excluded})`) : `FAILED ${failures.map((failure) => failure.property).join(", ")}`;
  const line = [
    `seed ${job.seed}`,
    `${draw.workload} ${draw.nodeCount} nodes ${(draw.durationMs / 1000).toFixed(3)} s (faults until ${(draw.faultyMs / 1000).toFixed(3)} s)`,
    `faults ${draw.families.join(",") || "none"}`,
    // "unknown" (the checker's step budget ran out) is not a failure, but never silently a pass: the line says so.
    judgeSafety ? `linearizable ${result.linearizability.verdict}` : "",
    `hash ${result.traceHash.slice(0, 16)}`,
    ...extras,
    outcome,
  ].filter((part) => part !== "").join("  ");
  assert(simulatedUs > 0 && events > 0, "a run simulates time and events");
  assert(failures.length > 0 === line.includes("FAILED"), "the line says whether the seed failed");
  const shrunk = result.failure !== undefined && failures.some((failure) => failure.property === result.failure!.property) && (job.shrinkAttempts ?? 0) > 0 ? shrinkFailure(job, options) : undefined;
  const coverage = Object.fromEntries(result.coverage.filter((point) => point.reached > 0).map((point) => [point.name, point.reached]));
  return { seed: job.seed, line, simulatedUs, events, failures, excluded, reproduce, ...(shrunk === undefined ? {} : { shrunk }), coverage, dimensions: draw.dimensions };
}

/** Shrinks the job's failing run and writes the result down as a run file (the caller saves it). */
function shrinkFailure(job: VoprJob, options: SimulationOptions): VoprShrunkRun {
  // The one thing outside the run's options: a wall-time bound, which can only end the search early.
  const deadlineMs = job.shrinkTimeMs === undefined ? Number.POSITIVE_INFINITY : performance.now() + job.shrinkTimeMs;
  const outcome = shrinkRun(options, { attemptsMax: job.shrinkAttempts!, keepGoing: () => performance.now() < deadlineMs });
  const note = `shrunk from blixard vopr seed ${job.seed} (mode ${job.mode}${job.plant === undefined ? "" : `, planted bug ${job.plant}`}) in ${outcome.attempts} runs; original ${formatRunSize(outcome.originalSize)}`;
  const runFile = encodeRunFile({ options: outcome.options, property: outcome.property, note });
  return { property: outcome.property, runFile, originalSize: outcome.originalSize, shrunkSize: outcome.shrunkSize, attempts: outcome.attempts, stopped: outcome.stopped };
}

/** "5 nodes, 4 clients, 476 ops, 9 faults, 19.963 s": a run's size on one line. */
export function formatRunSize(size: RunSize): string {
  return `${size.nodes} nodes, ${size.clients} clients, ${size.operations} ops, ${size.faults} faults, ${(size.simulatedUs / 1e6).toFixed(3)} s`;
}

/**
 * runVoprJob, with a throw outside the nodes' code (the simulator's own assertion, a checker's) reported
 * as the seed's failure rather than ending the batch: the seed reproduces it.
 */
export function runVoprJobReported(job: VoprJob): VoprSeedReport {
  try {
    return runVoprJob(job);
  } catch (error) {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    const reproduce = voprReproduceCommand(job);
    return { seed: job.seed, line: `seed ${job.seed}  FAILED Simulator Threw`, simulatedUs: 0, events: 0, failures: [{ property: "Simulator Threw", message, atS: 0 }], excluded: undefined, reproduce, coverage: {} };
  }
}

// Started as a worker thread: answer each job posted to it, one at a time.
if (!isMainThread && (workerData as { vopr?: boolean } | null)?.vopr === true) {
  const port = parentPort!;
  port.on("message", (job: VoprJob | null) => {
    if (job === null) {
      port.close();
      return;
    }
    port.postMessage(runVoprJobReported(job));
  });
}
