// One deterministic simulation run of a whole cluster, assembled from its parts:
//   the world (world.ts): event queue, virtual clock, hosts with clocks and disks, the network,
//     and the Environment each host process sees;
//   the cluster (cluster.ts): a Blixard node process on each host (the production factory,
//     src/core/replica/node-process.ts), crashes, restarts and refusals to start;
//   the client path (client-path.ts): how nodes serve simulated clients;
//   the workload (workload.ts): clients driving key-value operations, recorded as a history;
//   the nemesis (nemesis.ts): the fault profile's faults;
//   the checkers: the safety monitor (properties.ts) after every step, stale reads (stale-read.ts)
//     as the history grows, start refusals (start-refusal-check.ts) as they happen, and the whole
//     history's linearizability (linearizability-check.ts) at the end.
// One thread, one virtual clock, one seed. The run stops at the first violation.

import { AssertionFailure, assert } from "../assert.ts";
import type { CrashKind, EndpointId } from "../env/environment.ts";
import { DEFAULT_MAX_FRAME_BYTES } from "../wire/frame.ts";
import { DEFAULT_PEER_QUEUE_LIMITS } from "../wire/peer-queue.ts";
import { decodePeerPayload } from "../wire/codec.ts";
import type { NodeId, PlantedBug } from "../raft/types.ts";
import { MESSAGE_TYPE_CODES } from "../raft/message-codes.ts";
import type { StoragePlantedBug } from "../storage/raft-storage.ts";
import { defaultRaftTuning, defaultReplicaOptions, type ReplicaOptions } from "../replica/replica.ts";
import { SimClientPath } from "./client-path.ts";
import { AdminWorkload, defaultAdminWorkloadOptions, type AdminWorkloadOptions, type AdminWorkloadStats } from "./admin-workload.ts";
import type { RequestPathOptions, RequestPathPlantedBug, RequestPathStats } from "../replica/request-path.ts";
import type { KvPlantedBug } from "../replica/kv-state-machine.ts";
import { Cluster, type ClusterOrchestrator } from "./cluster.ts";
import { OrchestratorMonitor } from "./orchestrator-monitor.ts";
import { OrchestratorWorkload, registryHistoryReserve, type OrchestratorWorkloadStats } from "./orchestrator-workload.ts";
import { SimVmHost } from "./sim-vm-backend.ts";
import { orchestratorNodeOptions, resolveSimOrchestrator, type ResolvedSimOrchestrator, type SimOrchestratorOptions } from "./sim-orchestrator.ts";
import { CorruptionConsent, type FaultModelPlantedBug } from "./corruption-consent.ts";
import type { EventQueue } from "./event-queue.ts";
import type { FaultKind, FaultProfile } from "./fault-profile.ts";
import { validateFaultProfile } from "./fault-profile.ts";
import { FailpointDriver, type FailpointCoverage, type FailpointProbabilities, type InjectedFault } from "./failpoint-driver.ts";
import { FailpointCrash } from "../failpoints/failpoint-crash.ts";
import { CoverageCounter, type CoverageCount } from "./coverage-counter.ts";
import { History, type HistoryEvent } from "./history.ts";
import { checkLinearizability, vmRegistryChecked, type LinearizabilitySummary } from "./linearizability-check.ts";
import { RegistryHistory } from "./registry-history.ts";
import { checkTransactions, TransactionHistory, type TransactionSummary } from "./transaction-history.ts";
import type { OpEvent } from "../check/history.ts";
import type { FaultSchedule } from "./fault-schedule.ts";
import { Nemesis, type FaultCounts, type NemesisTarget } from "./nemesis.ts";
import type { NetworkStats, SimNetwork } from "./network.ts";
import { Prng } from "./prng.ts";
import { SafetyMonitor, type PropertyName } from "./properties.ts";
import type { Seed } from "./seed.ts";
import { emptySimDiskStats, type SimDiskStats } from "./sim-disk.ts";
import { StaleReadChecker } from "./stale-read.ts";
import { StartRefusalCheck } from "./start-refusal-check.ts";
import { TRACE } from "./trace.ts";
import { Workload, defaultWorkloadOptions, type WorkloadOptions } from "./workload.ts";
import { World, type ChannelDropCounts, type SimHost } from "./world.ts";
import type { StartRefusal } from "./cluster.ts";

export const NODE_COUNT_MAX = 15;
export const CLIENT_COUNT_MAX = 64;
/** One week of simulated time: far beyond any useful run, and well inside exact integer microseconds. */
export const DURATION_MS_MAX = 7 * 24 * 3600 * 1000;

export interface SimulationLimits {
  /** Events pending at once in the queue. */
  readonly eventQueueMax: number;
  /** History events recorded (invocations stop when it is nearly full). */
  readonly historyEventsMax: number;
  /** Messages in flight on one directed link (the TCP transport's per-peer queue bound by default). */
  readonly inFlightPerLinkMax: number;
  /** Wire bytes in flight on one directed link (the TCP transport's per-peer queue bound by default). */
  readonly inFlightBytesPerLinkMax: number;
  /** Bound on one message's channel bytes (the TCP transport's frame limit by default). */
  readonly maxFrameBytes: number;
  /** Timers armed at once by one node. */
  readonly timersPerNodeMax: number;
}

export const defaultSimulationLimits: SimulationLimits = {
  eventQueueMax: 1_000_000,
  historyEventsMax: 1_000_000,
  inFlightPerLinkMax: DEFAULT_PEER_QUEUE_LIMITS.messagesMax,
  inFlightBytesPerLinkMax: DEFAULT_PEER_QUEUE_LIMITS.bytesMax,
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  timersPerNodeMax: 100_000,
};

export interface SimulationOptions {
  readonly seed: Seed;
  readonly nodeCount: number;
  readonly durationMs: number;
  readonly profile: FaultProfile;
  readonly workload?: Partial<WorkloadOptions>;
  /** Replica tuning for simulation (defaults: simReplicaOptions). */
  readonly replica?: Partial<Omit<ReplicaOptions, "observer" | "onFatal" | "plantedBugs">>;
  /** Test harness only: never reachable from the CLI. */
  readonly plantedBugs?: ReadonlySet<PlantedBug>;
  /** An operator transferring leadership through the request path during the run (admin-workload.ts); off when undefined. */
  readonly admin?: Partial<AdminWorkloadOptions>;
  /** Test harness only: request path bugs (docs/PLANTED-BUGS.md), never reachable from the CLI. */
  readonly requestPathPlantedBugs?: ReadonlySet<RequestPathPlantedBug>;
  /** Test harness only: storage bugs (docs/PLANTED-BUGS.md), never reachable from the CLI. */
  readonly storagePlantedBugs?: ReadonlySet<StoragePlantedBug>;
  /** How each node's store keeps its sync point (docs/STORAGE.md, "The sync point window"); default "riding", as a real node. */
  readonly syncPoints?: "riding" | "strict";
  /** Test harness only: bugs in the simulator's fault model (corruption-consent.ts), never reachable from the CLI. */
  readonly faultModelPlantedBugs?: ReadonlySet<FaultModelPlantedBug>;
  /** Test harness only: bugs in the key-value state machine (kv-state-machine.ts), never reachable from the CLI. */
  readonly kvPlantedBugs?: ReadonlySet<KvPlantedBug>;
  readonly limits?: Partial<SimulationLimits>;
  /** Receives one line per event when set (--trace). */
  readonly trace?: (line: string) => void;
  /** Failpoint probabilities for this run, over the profile's (src/core/env/failpoints.ts; default: every point off). */
  readonly failpoints?: FailpointProbabilities;
  /** The one command that reproduces this run, printed with a failure. */
  readonly reproduceCommand?: string;
  /** Search steps for the end-of-run linearizability check (default LINEARIZABILITY_STEP_LIMIT). */
  readonly linearizabilityStepLimit?: number;
  /** Runs the orchestrator on every node (agents, controller, simulated VM hosts) with its users and checks; off when undefined. */
  readonly orchestrator?: Partial<SimOrchestratorOptions>;
  /** Replays this fault schedule (fault-schedule.ts) instead of drawing the profile's nemesis faults; the profile still sets the network, disks and clocks. */
  readonly faultSchedule?: FaultSchedule;
  /** Told each node's state after every event that changed one (the HTML timeline); it must not act on the run. */
  readonly observeNodes?: (timeUs: number, nodes: readonly ObservedNode[]) => void;
}

/** What the timeline shows of a node at one moment. */
export interface ObservedNode {
  readonly id: NodeId;
  readonly up: boolean;
  readonly role: string;
  readonly term: number;
}

/** Faster than production (elections after 10-20 ticks, heartbeats every 2), so a minute holds many terms. The tick comes from the fault profile unless given here. */
/** The request path in simulation: a forward's deadline is the leader's request timeout plus forwardTimeoutMs. */
export const simRequestPathOptions: Omit<RequestPathOptions, "plantedBugs" | "onAcknowledged"> = {
  forwardTimeoutMs: 500,
  forwardsPendingMax: 1_000,
  sweepIntervalMs: 50,
};

export const simReplicaOptions: Omit<ReplicaOptions, "observer" | "onFatal" | "plantedBugs"> = {
  tickMs: 10,
  raft: { ...defaultRaftTuning, electionTicks: 10, heartbeatTicks: 2, maxInflightMessages: 64 },
  snapshotEveryEntries: 500,
  maxPendingRequests: 1_000,
  requestTimeoutMs: 1_000,
  // Below a disk's slack drawn by the disk-full fault (0-8 KiB) half the time: a full disk is met both
  // by the reserve check (writes refused before the log) and by persists that half fit.
  diskReserveBytes: 4_096,
};

/** The replica tuning a profile runs: the simulation's or production's, with the profile's tick and append size. */
export function profileReplicaOptions(profile: FaultProfile): Omit<ReplicaOptions, "observer" | "onFatal" | "plantedBugs"> {
  const { observer: _observer, onFatal: _onFatal, plantedBugs: _plantedBugs, ...production } = defaultReplicaOptions;
  const base = profile.replicaTuning === "production" ? production : simReplicaOptions;
  assert(profile.replicaTuning !== "production" || profile.tickMs === defaultReplicaOptions.tickMs, "the production profile runs the production tick");
  const raft = profile.raftMaxMessageBytes === 0 ? base.raft : { ...base.raft, maxMessageBytes: profile.raftMaxMessageBytes };
  return { ...base, tickMs: profile.tickMs, raft };
}

export type { StartRefusal } from "./cluster.ts";

export interface SimulationFailure {
  readonly property: PropertyName | "Restartable";
  readonly message: string;
  readonly seed: string;
  readonly simulatedTimeUs: number;
  readonly nodeId: NodeId | undefined;
  readonly reproduce: string;
}

export interface SimulationResult {
  readonly seed: string;
  readonly nodeCount: number;
  readonly profile: string;
  readonly simulatedUs: number;
  readonly events: number;
  readonly traceHash: string;
  readonly maxTerm: number;
  readonly leaders: ReadonlyArray<{ term: number; leader: NodeId }>;
  readonly operations: { invoked: number; ok: number; fail: number; info: number };
  readonly readsChecked: number;
  readonly committedIndex: number;
  readonly faults: FaultCounts;
  readonly crashes: number;
  /** The crashes by kind: process kills (every write kept) and host crashes (unsynced writes lost or torn). */
  readonly crashKinds: Readonly<Record<CrashKind, number>>;
  readonly network: NetworkStats;
  /** Channel messages that arrived where nobody receives their channel (a node down or starting, a channel not served). */
  readonly droppedWithoutReceiver: Readonly<ChannelDropCounts>;
  /** Per failpoint, in name order: its probability, how often core code evaluated it, how often it fired. */
  readonly failpoints: readonly FailpointCoverage[];
  /** Per coverage point (src/core/env/coverage-points.ts), in name order: how often the run reached it. */
  readonly coverage: readonly CoverageCount[];
  /** Failpoint firings beyond the fault model (an injected EIO), in order: faults of this run, not bugs of the code. */
  readonly injectedFaults: readonly InjectedFault[];
  readonly disk: SimDiskStats;
  /** Nodes that refused to start on a corrupt store (more than a minority, or one on a clean disk, is a failure: start-refusal-check.ts). */
  readonly refusedToStart: readonly StartRefusal[];
  /** Nodes whose disks the corruption consent allowed to be corrupted, in the order it first did. */
  readonly corruptibleNodes: readonly NodeId[];
  /**
   * The voters at the end, as the running node with the highest commit index has them (empty when
   * none runs). Membership changes during the run can shrink the configuration a refusal is judged
   * against: two voters, one refused, have no quorum whatever the cluster's first size.
   */
  readonly finalVoters: readonly NodeId[];
  /** After the heal point: did some operation succeed (liveness, reported only). */
  readonly recovered: boolean;
  /** Simulated ms from the heal point to the first successful operation, or -1. */
  readonly recoveryMs: number;
  readonly failure: SimulationFailure | undefined;
  /**
   * The whole history checked for linearizability at the end of the run (per key, within a step
   * budget). "illegal" is also the run's failure (unless an earlier property failed first);
   * "unknown" is not a pass: a test asserting a clean run must treat it distinctly.
   */
  readonly linearizability: LinearizabilitySummary;
  readonly history: readonly HistoryEvent[];
  /**
   * The list-append transactions (workload mix.txn > 0), checked by the Elle-style checker at the
   * end of the run: any model weaker than strict serializable is the run's failure
   * (Transaction Isolation). Undefined when the workload ran no transactions.
   */
  readonly transactions: (TransactionSummary & { readonly history: readonly OpEvent[] }) | undefined;
  /** The nodes' request paths, summed: requests served, forwarded, forwards lost (timed out) or never sent. */
  readonly requestPath: RequestPathStats;
  /** The operator's leader transfers by outcome class, when SimulationOptions.admin was given. */
  readonly admin: AdminWorkloadStats | undefined;
  /** The orchestrator's run, when SimulationOptions.orchestrator was given. */
  readonly orchestrator: OrchestratorRunSummary | undefined;
  /** The nemesis's steps, as drawn or replayed: SimulationOptions.faultSchedule reproduces the run with them. */
  readonly faultSchedule: FaultSchedule;
}

export interface OrchestratorRunSummary {
  readonly workload: OrchestratorWorkloadStats;
  /** VM instances started and stopped on the simulated hosts, and running at the end. */
  readonly instancesStarted: number;
  readonly instancesStopped: number;
  readonly instancesRunning: number;
  /** VMs in the most advanced replica's state at the end, by phase. */
  readonly vmsByPhase: Readonly<Record<string, number>>;
  readonly nodesDown: number;
  readonly auditsRun: number;
  readonly agreementChecks: number;
  /** Whether VM Liveness was checked at the end (the faults healed at least livenessBoundMs before it). */
  readonly livenessChecked: boolean;
  readonly livenessBoundMs: number;
  /** The users' history checked under the VM registry model (property VM Registry Linearizability). */
  readonly registry: LinearizabilitySummary;
  /** That history, as checker events (JSON-lines shaped; `blixard check --model vm-registry` reads it). */
  readonly registryHistory: readonly OpEvent[];
}

const FAULT_CODES: Record<FaultKind, number> = { partition: 1, crash: 2, "clock-jump": 3, clog: 4, "loss-burst": 5, pause: 6, "disk-full": 7 };
const HISTORY_TYPE_CODES = { invoke: 1, ok: 2, fail: 3, info: 4 } as const;
const HISTORY_F_CODES = { get: 1, put: 2, cas: 3, delete: 4 } as const;

export class Simulation {
  readonly queue: EventQueue;
  private readonly options: SimulationOptions;
  private readonly limits: SimulationLimits;
  private readonly world: World;
  private readonly cluster: Cluster;
  private readonly clientPath: SimClientPath;
  private readonly monitor: SafetyMonitor;
  private readonly history: History;
  private readonly staleReads = new StaleReadChecker();
  private readonly workload: Workload;
  private readonly admin: AdminWorkload | undefined;
  private readonly nemesis: Nemesis;
  private readonly endUs: number;
  private readonly healAtUs: number;
  private failure: SimulationFailure | undefined;
  private readonly corruption: CorruptionConsent;
  private readonly refusalCheck: StartRefusalCheck;
  private readonly failpoints: FailpointDriver;
  private readonly coverage = new CoverageCounter();
  private readonly orchestrator: ResolvedSimOrchestrator | undefined;
  private readonly orchestratorMonitor: OrchestratorMonitor | undefined;
  private readonly orchestratorWorkload: OrchestratorWorkload | undefined;
  private readonly registryHistory: RegistryHistory | undefined;
  private registryCheck: { readonly summary: LinearizabilitySummary; readonly events: readonly OpEvent[] } | undefined;
  private readonly transactionHistory: TransactionHistory | undefined;
  private transactionCheck: TransactionSummary | undefined;
  private readonly vmHosts: SimVmHost[] = [];

  constructor(options: SimulationOptions) {
    assert(Number.isSafeInteger(options.nodeCount) && options.nodeCount >= 1 && options.nodeCount <= NODE_COUNT_MAX, "node count out of range");
    assert(Number.isSafeInteger(options.durationMs) && options.durationMs > 0 && options.durationMs <= DURATION_MS_MAX, "duration out of range");
    validateFaultProfile(options.profile);
    this.options = options;
    this.limits = { ...defaultSimulationLimits, ...options.limits };
    const profile = options.profile;
    const seed = options.seed;
    // The operator runs when the run asks for one, or the profile has one.
    const adminOptions: Partial<AdminWorkloadOptions> | undefined = options.admin ?? (profile.operator ? {} : undefined);
    this.endUs = options.durationMs * 1000;
    this.healAtUs = Math.floor(this.endUs * profile.healAtFraction);
    const replicaOptions = { ...profileReplicaOptions(profile), ...options.replica, plantedBugs: options.plantedBugs };

    const workloadOptions: WorkloadOptions = { ...defaultWorkloadOptions, ...options.workload };
    assert(workloadOptions.clientCount <= CLIENT_COUNT_MAX, "too many clients");
    this.orchestrator = options.orchestrator === undefined ? undefined : resolveSimOrchestrator(options.orchestrator);
    const orchestratorClients = this.orchestrator?.workload.clientCount ?? 0;
    const nodeIds: NodeId[] = [];
    for (let id = 1; id <= options.nodeCount; id++) nodeIds.push(id);
    this.corruption = new CorruptionConsent(nodeIds, options.faultModelPlantedBugs);
    // A disk that an injected failpoint fault touched is not a clean disk (docs/FAILPOINTS.md, "Simulation").
    this.refusalCheck = new StartRefusalCheck(options.nodeCount, (id) => this.corruption.wasTainted(id) || this.failpoints.wasInjected(id));
    this.failpoints = new FailpointDriver(
      Prng.stream(seed, "failpoints"),
      { ...profile.failpoints, ...options.failpoints },
      () => this.world.queue.timeUs,
      profile.healAtFraction < 1 ? this.healAtUs : Number.POSITIVE_INFINITY,
    );
    this.world = new World(
      {
        seed,
        hostCount: options.nodeCount,
        // The operator (admin-workload.ts), when there is one, is the endpoint after the clients.
        // The orchestrator's users, when there are any, after those.
        clientCount: workloadOptions.clientCount + (adminOptions !== undefined ? 1 : 0) + orchestratorClients,
        profile,
        eventQueueMax: this.limits.eventQueueMax,
        networkLimits: {
          perLinkQueue: { messagesMax: this.limits.inFlightPerLinkMax, bytesMax: this.limits.inFlightBytesPerLinkMax },
          maxFrameBytes: this.limits.maxFrameBytes,
        },
        timersPerHostMax: this.limits.timersPerNodeMax,
        cpuEventUs: profile.cpuEventUs,
        failpointFor: (id) => this.failpoints.failpointFor(id),
        reached: this.coverage.reached,
        mayCorrupt: (id, name, offset, length) => this.corruption.mayCorrupt(id, name, offset, length),
        traceLines: options.trace,
      },
      {
        stopped: () => this.failure !== undefined,
        threw: (host, error) => this.nodeThrew(host, error),
        afterStep: (host) => this.cluster.afterStep(host),
        raftSent: (host, to, bytes) => this.raftSent(host, to, bytes),
      },
    );
    this.queue = this.world.queue;
    this.monitor = new SafetyMonitor(nodeIds, Math.floor(options.nodeCount / 2) + 1, (id) => this.cluster.coreOf(id));
    let clusterOrchestrator: ClusterOrchestrator | undefined;
    if (this.orchestrator !== undefined) {
      const resolved = this.orchestrator;
      const monitor = new OrchestratorMonitor(
        (property, message, nodeId) => this.fail(property, message, nodeId),
        () => this.cluster.clusterStates(),
      );
      this.orchestratorMonitor = monitor;
      for (const host of this.world.hosts) {
        this.vmHosts.push(new SimVmHost(host.id, this.queue, host.clock, Prng.stream(seed, `vm-host-${host.id}`), (nodeId, vmId, token, running) => monitor.instance(nodeId, vmId, token, running), resolved.vmHost));
      }
      clusterOrchestrator = {
        vmHost: (id) => this.vmHosts[id - 1]!,
        nodeOptions: (id) => orchestratorNodeOptions(resolved, id, resolved.planChecks ? (view, plan) => monitor.planned(view, plan) : undefined),
        clusterPlantedBugs: resolved.plantedBugs.cluster,
        clusterApplied: (id, index, state) => monitor.applied(id, index, state),
        stateReset: (id) => monitor.restarted(id),
      };
    }
    this.cluster = new Cluster(this.world, this.monitor, {
      replica: replicaOptions,
      requestPath: {
        ...simRequestPathOptions,
        forwardTimeoutMs: replicaOptions.requestTimeoutMs + simRequestPathOptions.forwardTimeoutMs,
        plantedBugs: options.requestPathPlantedBugs,
      },
      storagePlantedBugs: options.storagePlantedBugs,
      syncPoints: options.syncPoints ?? "riding",
      kvPlantedBugs: options.kvPlantedBugs,
      cpuApplyEntryUs: profile.cpuApplyEntryUs,
      cpuApplyByteNs: profile.cpuApplyByteNs,
      // With the operator: its membership changes are what the agent's work (snapshots for
      // joiners, announcing re-added members) is for. Elsewhere off, so the other profiles keep
      // their schedules (their planted-bug seeds were found without it).
      membershipAgent: adminOptions !== undefined,
      orchestrator: clusterOrchestrator,
      refused: (refusal) => {
        const violation = this.refusalCheck.refused(refusal);
        if (violation !== undefined) this.fail(violation.property, violation.message, refusal.nodeId);
      },
      fail: (property, message, nodeId) => this.fail(property, message, nodeId),
      injected: (id) => this.failpoints.wasInjected(id),
    });
    this.history = new History(this.limits.historyEventsMax, 2 * workloadOptions.clientCount + 2);
    // A quarter of the event budget, as for the users' history: Elle's graph is larger per operation than the register search.
    if ((workloadOptions.mix.txn ?? 0) > 0) this.transactionHistory = new TransactionHistory(Math.floor(this.limits.historyEventsMax / 4), 2 * workloadOptions.clientCount + 2);
    this.clientPath = new SimClientPath(
      this.world,
      (to, requestId, outcome) => {
        if (this.admin !== undefined && to === this.admin.endpoint) this.admin.receive(requestId, outcome);
        else if (this.orchestratorWorkload?.owns(to) === true) this.orchestratorWorkload.receive(to, requestId, outcome);
        else this.workload.receive(to, requestId, outcome);
      },
      (nodeId, message) => this.fail("Client Protocol", message, nodeId),
    );
    if (adminOptions !== undefined) {
      this.admin = new AdminWorkload(
        this.queue,
        Prng.stream(seed, "admin"),
        nodeIds,
        this.world.firstClientEndpoint + workloadOptions.clientCount,
        { ...defaultAdminWorkloadOptions, ...adminOptions },
        (from, to, requestId, request) => this.clientPath.send(from, to, requestId, request),
        () => {
          const leader = this.cluster.currentLeader();
          const confState = leader === 0 ? undefined : this.cluster.coreOf(leader)?.status().confState;
          return confState === undefined ? undefined : { leaderId: leader, confState };
        },
      );
    }
    this.workload = new Workload(
      this.queue,
      Prng.stream(seed, "workload"),
      this.history,
      nodeIds,
      this.world.firstClientEndpoint,
      workloadOptions,
      (from, to, requestId, request) => this.clientPath.send(from, to, requestId, request),
      (event) => this.recordHistory(event),
      (message) => this.fail("Client Protocol", message, undefined),
      this.transactionHistory,
    );
    if (this.orchestrator !== undefined) {
      // Half the event budget: two events per operation.
      this.registryHistory = new RegistryHistory(Math.floor(this.limits.historyEventsMax / 4), registryHistoryReserve(this.orchestrator.workload));
      this.orchestratorWorkload = new OrchestratorWorkload(
        this.queue,
        Prng.stream(seed, "orchestrator-workload"),
        nodeIds,
        this.world.firstClientEndpoint + workloadOptions.clientCount + (adminOptions !== undefined ? 1 : 0),
        this.orchestrator.workload,
        (from, to, requestId, request) => this.clientPath.send(from, to, requestId, request),
        this.registryHistory,
      );
    }
    const target: NemesisTarget = {
      nodeIds,
      isUp: (id) => this.cluster.isUp(id),
      crash: (id, kind) => this.cluster.crash(id, kind),
      restart: (id) => this.cluster.start(id),
      jumpClock: (id, deltaUs) => this.world.host(id).clock.jump(deltaUs),
      leaderId: () => this.cluster.currentLeader(),
      pause: (id, untilUs) => this.world.pause(this.world.host(id), untilUs),
      fillDisk: (id, slackBytes) => {
        const disk = this.world.host(id).disk;
        disk.setCapacityBytes(disk.usedBytes() + slackBytes);
      },
      freeDisk: (id) => this.world.host(id).disk.setCapacityBytes(Number.POSITIVE_INFINITY),
      network: this.world.network as SimNetwork<unknown>,
      note: (kind, detail) => this.world.trace.event(TRACE.fault, FAULT_CODES[kind], detail, 0),
    };
    this.nemesis = new Nemesis(this.queue, Prng.stream(seed, "faults"), profile, target, options.faultSchedule);
  }

  /** Runs to the end of simulated time or the first violation. */
  run(): SimulationResult {
    for (const id of this.world.hostIds) this.cluster.start(id);
    // Stop invoking early enough that most operations finish, late enough to observe recovery after healing.
    const tailUs = this.healAtUs < this.endUs ? Math.floor((this.endUs - this.healAtUs) / 2) : Math.floor(this.endUs / 4);
    const stopInvokingAtUs = this.endUs - Math.min(this.workloadTimeoutUs(), tailUs);
    this.workload.start(stopInvokingAtUs);
    this.admin?.start(stopInvokingAtUs);
    // The orchestrator's users stop early enough for VM Liveness to be judged on a quiet cluster.
    this.orchestratorWorkload?.start(Math.min(stopInvokingAtUs, this.endUs - this.livenessBoundUs()), this.healAtUs);
    this.nemesis.start(this.healAtUs);
    const markAtUs = this.options.profile.healAtFraction < 1 ? this.healAtUs : 0;
    this.queue.at(markAtUs, () => this.workload.markPhase());
    for (;;) {
      const next = this.queue.peekTimeUs();
      if (next === undefined || next > this.endUs) break;
      this.queue.runNext();
      if (this.options.observeNodes !== undefined) this.observe(this.options.observeNodes);
      if (this.failure !== undefined) break;
      const violation = this.monitor.violation;
      if (violation !== undefined) {
        this.fail(violation.property, violation.message, violation.nodeId);
        break;
      }
    }
    if (this.failure === undefined) this.workload.finish();
    if (this.failure === undefined && this.livenessChecked()) this.orchestratorMonitor!.checkLiveness(this.orchestrator!.scheduler, this.orchestrator!.livenessBoundMs);
    const linearizability = checkLinearizability(this.history.events, this.options.linearizabilityStepLimit).summary;
    if (linearizability.malformed) this.fail("Client Protocol", `the client history cannot be checked: ${linearizability.reason}`, undefined);
    if (linearizability.verdict === "illegal") {
      this.fail("Linearizability", `the client history is not linearizable (key ${linearizability.illegalKey}): no order of its operations explains every result`, undefined);
    }
    if (this.registryHistory !== undefined) {
      const events = this.registryHistory.events();
      const registry = checkLinearizability(events, this.options.linearizabilityStepLimit, vmRegistryChecked()).summary;
      this.registryCheck = { summary: registry, events };
      if (registry.malformed) this.fail("Client Protocol", `the orchestrator users' history cannot be checked: ${registry.reason}`, undefined);
      if (registry.verdict === "illegal") {
        this.fail("VM Registry Linearizability", `the orchestrator users' history is not linearizable (VM ${registry.illegalKey}): no order of its operations explains every result`, undefined);
      }
    }
    if (this.transactionHistory !== undefined && this.transactionHistory.events.length > 0) {
      const transactions = checkTransactions(this.transactionHistory.events);
      this.transactionCheck = transactions;
      if (transactions.malformed !== undefined) this.fail("Client Protocol", `the transaction history cannot be checked: ${transactions.malformed}`, undefined);
      else if (transactions.strongestModel !== "strict-serializable") {
        const counts = Object.entries(transactions.counts).map(([type, count]) => `${type} x${count}`).join(", ");
        this.fail("Transaction Isolation", `the transaction history is ${transactions.strongestModel} at best, not strict serializable (${counts}): ${transactions.firstAnomaly}`, undefined);
      }
    }
    return this.result(linearizability);
  }

  private lastObserved = "";

  private observe(observer: (timeUs: number, nodes: readonly ObservedNode[]) => void): void {
    const nodes = this.world.hostIds.map((id): ObservedNode => {
      const status = this.cluster.isUp(id) ? this.cluster.coreOf(id)?.status() : undefined;
      return { id, up: status !== undefined, role: status?.role ?? "down", term: status?.hardState.term ?? 0 };
    });
    const key = nodes.map((node) => `${node.role}:${node.term}`).join(",");
    if (key === this.lastObserved) return;
    this.lastObserved = key;
    observer(this.queue.timeUs, nodes);
  }

  private workloadTimeoutUs(): number {
    return (this.options.workload?.operationTimeoutMs ?? defaultWorkloadOptions.operationTimeoutMs) * 1000;
  }

  private result(linearizability: LinearizabilitySummary): SimulationResult {
    const disk = emptySimDiskStats();
    for (const host of this.world.hosts) {
      const stats = host.disk.stats();
      for (const key of Object.keys(disk) as Array<keyof SimDiskStats>) disk[key] += stats[key];
    }
    const leaders = this.monitor.leaders();
    const firstOk = this.workload.stats.firstOkAfterMarkUs;
    const markUs = this.options.profile.healAtFraction < 1 ? this.healAtUs : 0;
    return {
      seed: this.options.seed.text,
      nodeCount: this.options.nodeCount,
      profile: this.options.profile.name,
      // A clean run covers the whole duration (nothing happened after its last event); a failed one stops at the failure.
      simulatedUs: this.failure === undefined ? this.endUs : this.queue.timeUs,
      events: this.queue.eventsExecuted,
      traceHash: this.world.trace.hex(),
      maxTerm: Math.max(this.cluster.maxTerm(), ...leaders.map((l) => l.term)),
      leaders,
      operations: { invoked: this.workload.stats.invoked, ok: this.workload.stats.ok, fail: this.workload.stats.fail, info: this.workload.stats.info },
      readsChecked: this.staleReads.readsChecked,
      committedIndex: this.monitor.committedIndex,
      faults: { ...this.nemesis.counts },
      crashes: this.cluster.crashes,
      crashKinds: this.cluster.crashKinds(),
      network: { ...this.world.network.stats },
      droppedWithoutReceiver: { ...this.world.droppedWithoutReceiver },
      failpoints: this.failpoints.coverage(),
      coverage: this.coverage.coverage(),
      injectedFaults: this.failpoints.injectedFaults(),
      disk,
      refusedToStart: this.cluster.refusedToStart(),
      finalVoters: this.cluster.mostAdvancedVoters(),
      corruptibleNodes: this.corruption.tainted(),
      recovered: firstOk >= 0,
      recoveryMs: firstOk >= 0 ? Math.round((firstOk - markUs) / 1000) : -1,
      failure: this.failure,
      linearizability,
      history: this.history.events,
      transactions: this.transactionCheck === undefined ? undefined : { ...this.transactionCheck, history: this.transactionHistory!.events },
      requestPath: this.cluster.requestPathStats(),
      admin: this.admin === undefined ? undefined : { ...this.admin.stats },
      orchestrator: this.orchestratorSummary(),
      faultSchedule: [...this.nemesis.schedule],
    };
  }

  private livenessBoundUs(): number {
    return this.orchestrator === undefined ? 0 : this.orchestrator.livenessBoundMs * 1000;
  }

  /** VM Liveness is judged when the faults stopped, and the users stopped, at least its bound before the end. */
  private livenessChecked(): boolean {
    return this.orchestrator !== undefined && this.options.profile.healAtFraction < 1 && this.endUs - this.healAtUs >= this.livenessBoundUs();
  }

  private orchestratorSummary(): OrchestratorRunSummary | undefined {
    const monitor = this.orchestratorMonitor;
    if (this.orchestrator === undefined || monitor === undefined || this.orchestratorWorkload === undefined) return undefined;
    assert(this.registryCheck !== undefined, "the users' history is checked before the run's summary");
    const vmsByPhase: Record<string, number> = {};
    let nodesDown = 0;
    const states = this.cluster.clusterStates();
    let latest = states[0]?.state;
    for (const replica of states) if (latest === undefined || replica.state.appliedIndex > latest.appliedIndex) latest = replica.state;
    if (latest !== undefined) {
      for (const vm of latest.vms()) vmsByPhase[vm.phase] = (vmsByPhase[vm.phase] ?? 0) + 1;
      for (const node of latest.nodes()) if (node.state === "down") nodesDown += 1;
    }
    return {
      workload: { ...this.orchestratorWorkload.stats },
      instancesStarted: monitor.stats.instancesStarted,
      instancesStopped: monitor.stats.instancesStopped,
      instancesRunning: monitor.runningInstances,
      vmsByPhase,
      nodesDown,
      auditsRun: monitor.stats.auditsRun,
      agreementChecks: monitor.stats.agreementChecks,
      livenessChecked: this.livenessChecked(),
      livenessBoundMs: this.orchestrator.livenessBoundMs,
      registry: this.registryCheck!.summary,
      registryHistory: this.registryCheck!.events,
    };
  }

  /** Votes are checked as they leave (Single Vote): only vote responses are decoded here. */
  private raftSent(host: SimHost, _to: EndpointId, bytes: Uint8Array): void {
    if (bytes[1] !== MESSAGE_TYPE_CODES["vote-response"]) return;
    const decoded = decodePeerPayload(bytes);
    assert(decoded.ok && decoded.payload.kind === "message", () => `node ${host.id} sent a vote response that does not decode`);
    this.monitor.messageSent(decoded.payload.message);
  }

  /** A failed assertion is a crash the seed reproduces; so is any other error thrown by node code. */
  private nodeThrew(host: SimHost, error: unknown): void {
    // A failpoint's crash (docs/FAILPOINTS.md): the process dies at the point, as kill -9 would; a supervisor restarts it.
    if (error instanceof FailpointCrash) return this.cluster.supervisorRestart(host.id, "now");
    const message = error instanceof AssertionFailure ? error.message : `threw ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`;
    this.fail("No Assertion Failure", `node ${host.id}: ${message}`, host.id);
  }

  private recordHistory(event: HistoryEvent): void {
    this.world.trace.event(TRACE.history, event.process, HISTORY_TYPE_CODES[event.type], HISTORY_F_CODES[event.f]);
    let problem: string | undefined;
    try {
      problem = this.staleReads.observe(event);
    } catch (error) {
      // The checker asserts the history's shape (unique values, a string read); a wrong shape is the protocol's failure, not a crash here.
      this.fail("Client Protocol", `the history event ${JSON.stringify(event)} breaks the checker's expectations: ${error instanceof Error ? error.message : String(error)}`, undefined);
      return;
    }
    if (problem !== undefined) this.monitor.fail("No Stale Read", problem);
  }

  private fail(property: PropertyName | "Restartable", message: string, nodeId: NodeId | undefined): void {
    if (this.failure !== undefined) return;
    this.failure = {
      property,
      message,
      seed: this.options.seed.text,
      simulatedTimeUs: this.queue.timeUs,
      nodeId,
      reproduce: this.options.reproduceCommand ?? reproduceCommand(this.options),
    };
  }
}

/** The CLI command that replays a run with these options. */
export function reproduceCommand(
  options: Pick<SimulationOptions, "seed" | "nodeCount" | "durationMs" | "profile" | "plantedBugs" | "storagePlantedBugs" | "faultModelPlantedBugs" | "kvPlantedBugs" | "orchestrator">,
): string {
  const workload = options.orchestrator === undefined ? "" : " --workload orchestrator";
  const base = `npx blixard sim --seed ${options.seed.text} --nodes ${options.nodeCount} --time ${options.durationMs}ms --faults ${options.profile.name}${workload}`;
  const orchestratorBugs = options.orchestrator?.plantedBugs;
  const bugs = [
    ...(options.plantedBugs ?? []),
    ...(options.storagePlantedBugs ?? []),
    ...(options.faultModelPlantedBugs ?? []),
    ...(options.kvPlantedBugs ?? []),
    ...(orchestratorBugs?.cluster ?? []),
    ...(orchestratorBugs?.controller ?? []),
    ...(orchestratorBugs?.agent ?? []),
    ...(orchestratorBugs?.backend ?? []),
    ...(options.orchestrator?.scheduler?.plantedBugs ?? []),
  ].sort();
  const testFile = options.orchestrator === undefined ? "planted-bugs.test.ts" : "orchestrator-simulation.test.ts";
  return bugs.length === 0 ? base : `${base}   (with planted bug ${bugs.join(", ")}: test harness only, see test/core/sim/${testFile})`;
}

export function runSimulation(options: SimulationOptions): SimulationResult {
  return new Simulation(options).run();
}
