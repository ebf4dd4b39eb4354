// One deterministic simulation run of a whole cluster: N nodes, each the production
// replica driver (src/core/replica/replica.ts) over RaftStorage over a SimDisk, with a SimClock
// and SimTimers, talking over the SimNetwork; clients driving the key-value workload;
// the nemesis injecting the profile's faults; and the safety monitor checking every
// property after every step. One thread, one virtual clock, one seed.
//
// Every event that runs node code goes through runOnNode(): it folds the event into the
// trace hash, turns an assertion failure inside node code into a reported failure, and
// runs the per-node checks afterwards. The run stops at the first violation.

import { AssertionFailure, assert, unreachable } from "../assert.ts";
import type { ChannelName, EndpointId, Environment, Logger, ReceiveVerdict } from "../env/environment.ts";
import { noFailpoints, silentLogger } from "../env/environment.ts";
import { decodePeerPayload } from "../wire/codec.ts";
import type { ConfState, NodeId, PlantedBug } from "../raft/types.ts";
import { MESSAGE_TYPE_CODES } from "../raft/message-codes.ts";
import { RaftStorage, type StoragePlantedBug } from "../storage/raft-storage.ts";
import { StorageError } from "../storage/storage-error.ts";
import { KvStateMachine, encodeKvCommand, type KvQuery, type KvResult } from "../replica/kv-state-machine.ts";
import { Replica, defaultRaftTuning, type CommandOutcome, type ReadOutcome, type ReplicaOptions, type ReplicaRefusal } from "../replica/replica.ts";
import type { ClientOutcome, ClientReply, ClientRequest } from "./client-protocol.ts";
import { CorruptionConsent } from "./corruption-consent.ts";
import { EventQueue, type EventTarget } from "./event-queue.ts";
import type { FaultKind, FaultProfile } from "./fault-profile.ts";
import { validateFaultProfile } from "./fault-profile.ts";
import { RunningHash } from "./hash.ts";
import { History, type HistoryEvent } from "./history.ts";
import { Nemesis, type FaultCounts, type NemesisTarget } from "./nemesis.ts";
import { SimNetwork, type LinkProfile, type NetworkStats } from "./network.ts";
import { Prng } from "./prng.ts";
import { SafetyMonitor, type PersistBatch, type PropertyName } from "./properties.ts";
import type { Seed } from "./seed.ts";
import { SimClock, SimTimers } from "./sim-clock.ts";
import { SimDisk, emptySimDiskStats, type SimDiskStats } from "./sim-disk.ts";
import { StaleReadChecker } from "./stale-read.ts";
import { Workload, defaultWorkloadOptions, type WorkloadOptions } from "./workload.ts";

export const NODE_COUNT_MAX = 15;
export const CLIENT_COUNT_MAX = 64;
/** One week of simulated time: far beyond any useful run, and well inside exact integer microseconds. */
export const DURATION_MS_MAX = 7 * 24 * 3600 * 1000;

export interface SimulationLimits {
  /** Events pending at once in the queue. */
  readonly eventQueueMax: number;
  /** History events recorded (invocations stop when it is nearly full). */
  readonly historyEventsMax: number;
  /** Messages in flight on one directed link. */
  readonly inFlightPerLinkMax: number;
  /** Timers armed at once by one node. */
  readonly timersPerNodeMax: number;
}

export const defaultSimulationLimits: SimulationLimits = {
  eventQueueMax: 1_000_000,
  historyEventsMax: 1_000_000,
  inFlightPerLinkMax: 2_048,
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
  /** Test harness only: storage bugs (docs/PLANTED-BUGS.md), never reachable from the CLI. */
  readonly storagePlantedBugs?: ReadonlySet<StoragePlantedBug>;
  readonly limits?: Partial<SimulationLimits>;
  /** Receives one line per event when set (--trace). */
  readonly trace?: (line: string) => void;
  /** The one command that reproduces this run, printed with a failure. */
  readonly reproduceCommand?: string;
}

/** Faster than production (elections after 10-20 ticks, heartbeats every 2), so a minute holds many terms. The tick comes from the fault profile unless given here. */
export const simReplicaOptions: Omit<ReplicaOptions, "observer" | "onFatal" | "plantedBugs"> = {
  tickMs: 10,
  raft: { ...defaultRaftTuning, electionTicks: 10, heartbeatTicks: 2, maxInflightMessages: 64 },
  snapshotEveryEntries: 500,
  maxPendingRequests: 1_000,
  requestTimeoutMs: 1_000,
};

/** A node whose restart found its store corrupt: like the real node, it stays down for the rest of the run. */
export interface StartRefusal {
  readonly nodeId: NodeId;
  readonly simulatedTimeUs: number;
  /** The StorageError's one line (file, offset, what). */
  readonly message: string;
}

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
  readonly network: NetworkStats;
  readonly disk: SimDiskStats;
  /** Nodes that refused to start on a corrupt store (at most a minority: the corruption consent's rule). */
  readonly refusedToStart: readonly StartRefusal[];
  /** Nodes whose disks the corruption consent allowed to be corrupted, in the order it first did. */
  readonly corruptibleNodes: readonly NodeId[];
  /** After the heal point: did some operation succeed (liveness, reported only). */
  readonly recovered: boolean;
  /** Simulated ms from the heal point to the first successful operation, or -1. */
  readonly recoveryMs: number;
  readonly failure: SimulationFailure | undefined;
  readonly history: readonly HistoryEvent[];
}

/** Peer Raft messages travel as the wire codec's bytes (the raft channel), exactly as over TCP. */
interface RaftBytes {
  readonly type: "raft";
  readonly bytes: Uint8Array;
}

type SimPayload = RaftBytes | ClientRequest | ClientReply;
type ChannelReceiver = (from: EndpointId, bytes: Uint8Array) => ReceiveVerdict;

/** Trace event kinds (stable numbers: they feed the trace hash). */
const TRACE = {
  deliver: 1,
  clientRequest: 2,
  clientReply: 3,
  timer: 4,
  disk: 5,
  crash: 6,
  restart: 7,
  fault: 8,
  history: 9,
  started: 10,
  refused: 11,
} as const;
const TRACE_NAMES = ["", "deliver", "client-request", "client-reply", "timer", "disk", "crash", "restart", "fault", "history", "started", "refused"];
const FAULT_CODES: Record<FaultKind, number> = { partition: 1, crash: 2, "clock-jump": 3, clog: 4, "loss-burst": 5, pause: 6 };
const HISTORY_TYPE_CODES = { invoke: 1, ok: 2, fail: 3, info: 4 } as const;
const HISTORY_F_CODES = { get: 1, put: 2, cas: 3 } as const;

const CLUSTER_ID = "sim";

interface Incarnation {
  readonly number: number;
  readonly timers: SimTimers;
  readonly env: Environment;
  alive: boolean;
  replica: Replica<KvResult, KvQuery, string> | undefined;
  /** The raft channel's receiver, set by the replica's RaftChannel. */
  raftReceiver: ChannelReceiver | undefined;
}

interface SimNode {
  readonly id: NodeId;
  readonly clock: SimClock;
  readonly random: Prng;
  readonly disk: SimDisk;
  incarnation: Incarnation | undefined;
  incarnations: number;
  /** While true time is below this, the node is frozen: its events wait (in order) until then. */
  pausedUntilUs: number;
  /** Set when a restart found the store corrupt: the node stays down (no restart brings it back). */
  refused: StartRefusal | undefined;
}

export class Simulation {
  readonly queue: EventQueue;
  private readonly options: SimulationOptions;
  private readonly limits: SimulationLimits;
  private readonly nodes: SimNode[] = [];
  private readonly nodeIds: NodeId[] = [];
  private readonly network: SimNetwork<SimPayload>;
  private readonly monitor: SafetyMonitor;
  private readonly history: History;
  private readonly staleReads = new StaleReadChecker();
  private readonly workload: Workload;
  private readonly nemesis: Nemesis;
  private readonly trace = new RunningHash();
  private readonly replicaOptions: Omit<ReplicaOptions, "observer" | "onFatal">;
  private readonly bootstrap: ConfState;
  private readonly endUs: number;
  private readonly healAtUs: number;
  private failure: SimulationFailure | undefined;
  private crashes = 0;
  private readonly corruption: CorruptionConsent;
  private readonly refusals: StartRefusal[] = [];

  constructor(options: SimulationOptions) {
    assert(Number.isSafeInteger(options.nodeCount) && options.nodeCount >= 1 && options.nodeCount <= NODE_COUNT_MAX, "node count out of range");
    assert(Number.isSafeInteger(options.durationMs) && options.durationMs > 0 && options.durationMs <= DURATION_MS_MAX, "duration out of range");
    validateFaultProfile(options.profile);
    this.options = options;
    this.limits = { ...defaultSimulationLimits, ...options.limits };
    const profile = options.profile;
    const seed = options.seed;
    this.queue = new EventQueue(this.limits.eventQueueMax);
    this.endUs = options.durationMs * 1000;
    this.healAtUs = Math.floor(this.endUs * profile.healAtFraction);
    this.replicaOptions = { ...simReplicaOptions, tickMs: profile.tickMs, ...options.replica, plantedBugs: options.plantedBugs };

    const workloadOptions: WorkloadOptions = { ...defaultWorkloadOptions, ...options.workload };
    assert(workloadOptions.clientCount <= CLIENT_COUNT_MAX, "too many clients");
    for (let id = 1; id <= options.nodeCount; id++) this.nodeIds.push(id);
    this.bootstrap = { voters: [...this.nodeIds], learners: [] };
    const firstClientEndpoint = options.nodeCount + 1;
    const endpointCount = options.nodeCount + workloadOptions.clientCount;

    // Links: every node-to-node link draws its own latency distribution from the "network/links" stream.
    const linkRandom = Prng.stream(seed, "network/links");
    const clientLink: LinkProfile = {
      latencyMinUs: 100,
      latencyTailMeanUs: 200,
      latencyMaxUs: 10_000,
      lossProbability: profile.lossProbability / 2,
      duplicateProbability: 0, // clients speak over a connection: loss means a timeout, never a duplicate
      reorder: false,
    };
    this.network = new SimNetwork<SimPayload>(
      this.queue,
      Prng.stream(seed, "network"),
      endpointCount,
      clientLink,
      this.limits.inFlightPerLinkMax,
      (from, to, payload) => this.deliver(from, to, payload),
    );
    for (const from of this.nodeIds) {
      for (const to of this.nodeIds) {
        if (from === to) continue;
        this.network.setLink(from, to, {
          latencyMinUs: linkRandom.intBetween(profile.latencyMinUs[0], profile.latencyMinUs[1]),
          latencyTailMeanUs: linkRandom.intBetween(profile.latencyTailMeanUs[0], profile.latencyTailMeanUs[1]),
          latencyMaxUs: profile.latencyMaxUs,
          lossProbability: profile.lossProbability,
          duplicateProbability: profile.duplicateProbability,
          reorder: linkRandom.chance(profile.reorderLinkProbability),
        });
      }
    }

    this.corruption = new CorruptionConsent(this.nodeIds);
    const clockRandom = Prng.stream(seed, "clocks");
    for (const id of this.nodeIds) {
      const diskEvents: EventTarget = { fire: (_code, callback) => this.runOnNode(this.nodes[id - 1]!, TRACE.disk, 0, callback as () => void) };
      const offsetUs = clockRandom.intBetween(-profile.clockOffsetMaxMs * 1000, profile.clockOffsetMaxMs * 1000);
      const driftPpm = clockRandom.intBetween(-profile.clockDriftMaxPpm, profile.clockDriftMaxPpm);
      const disk = new SimDisk({
        random: Prng.stream(seed, `disk-${id}`),
        // The node is nodes[id - 1] (pushed below, before any disk operation can run).
        // A queue event on the node's disk target (no closure per disk completion).
        schedule: (delayMs, callback) => this.queue.atTarget(this.queue.timeUs + Math.ceil(delayMs * 1000), diskEvents, 0, callback),
        faults: {
          writeLatencyMs: profile.diskWriteLatencyMs,
          fsyncLatencyMs: profile.diskSyncLatencyMs,
          crashLoseWriteProbability: profile.diskCrashLoseProbability,
          crashTearWriteProbability: profile.diskTearProbability,
          crashLoseDirectoryOperationProbability: profile.diskCrashLoseProbability,
          readCorruptionProbability: profile.diskReadCorruptionProbability,
          writeCorruptionProbability: profile.diskWriteCorruptionProbability,
          misdirectedWriteProbability: profile.diskMisdirectedWriteProbability,
          mayCorrupt: (name, offset, length) => this.corruption.mayCorrupt(id, name, offset, length),
        },
      });
      const node: SimNode = {
        id,
        clock: new SimClock(this.queue, offsetUs, driftPpm),
        random: Prng.stream(seed, `node-${id}/raft`),
        disk,
        incarnation: undefined,
        incarnations: 0,
        pausedUntilUs: 0,
        refused: undefined,
      };
      assert(this.nodes.length === id - 1, "nodes are numbered 1..N in order");
      this.nodes.push(node);
    }

    this.monitor = new SafetyMonitor(this.nodeIds, Math.floor(options.nodeCount / 2) + 1, (id) => {
      const incarnation = this.nodes[id - 1]!.incarnation;
      return incarnation?.alive === true ? incarnation.replica?.core : undefined;
    });
    this.history = new History(this.limits.historyEventsMax, 2 * workloadOptions.clientCount + 2);
    this.workload = new Workload(
      this.queue,
      Prng.stream(seed, "workload"),
      this.history,
      this.nodeIds,
      firstClientEndpoint,
      workloadOptions,
      (from, to, request) => this.network.send(from, to, request),
      (event) => this.recordHistory(event),
    );
    const target: NemesisTarget = {
      nodeIds: this.nodeIds,
      isUp: (id) => this.nodes[id - 1]!.incarnation !== undefined,
      crash: (id) => this.crash(this.nodes[id - 1]!),
      restart: (id) => this.start(this.nodes[id - 1]!),
      jumpClock: (id, deltaUs) => this.nodes[id - 1]!.clock.jump(deltaUs),
      leaderId: () => this.currentLeader(),
      pause: (id, untilUs) => {
        const node = this.nodes[id - 1]!;
        node.pausedUntilUs = Math.max(node.pausedUntilUs, untilUs);
      },
      network: this.network as SimNetwork<unknown>,
      note: (kind, detail) => this.traceEvent(TRACE.fault, FAULT_CODES[kind], detail, 0),
    };
    this.nemesis = new Nemesis(this.queue, Prng.stream(seed, "faults"), profile, target);
  }

  /** Runs to the end of simulated time or the first violation. */
  run(): SimulationResult {
    for (const node of this.nodes) this.start(node);
    // Stop invoking early enough that most operations finish, late enough to observe recovery after healing.
    const tailUs = this.healAtUs < this.endUs ? Math.floor((this.endUs - this.healAtUs) / 2) : Math.floor(this.endUs / 4);
    const stopInvokingAtUs = this.endUs - Math.min(this.workloadTimeoutUs(), tailUs);
    this.workload.start(stopInvokingAtUs);
    this.nemesis.start(this.healAtUs);
    const markAtUs = this.options.profile.healAtFraction < 1 ? this.healAtUs : 0;
    this.queue.at(markAtUs, () => this.workload.markPhase());
    for (;;) {
      const next = this.queue.peekTimeUs();
      if (next === undefined || next > this.endUs) break;
      this.queue.runNext();
      if (this.failure !== undefined) break;
      const violation = this.monitor.violation;
      if (violation !== undefined) {
        this.fail(violation.property, violation.message, violation.nodeId);
        break;
      }
    }
    if (this.failure === undefined) this.workload.finish();
    return this.result();
  }

  private workloadTimeoutUs(): number {
    return (this.options.workload?.operationTimeoutMs ?? defaultWorkloadOptions.operationTimeoutMs) * 1000;
  }

  private result(): SimulationResult {
    const disk = emptySimDiskStats();
    for (const node of this.nodes) {
      const stats = node.disk.stats();
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
      traceHash: this.trace.hex(),
      maxTerm: Math.max(0, ...this.nodes.map((node) => node.incarnation?.replica?.core.status().hardState.term ?? 0), ...leaders.map((l) => l.term)),
      leaders,
      operations: { invoked: this.workload.stats.invoked, ok: this.workload.stats.ok, fail: this.workload.stats.fail, info: this.workload.stats.info },
      readsChecked: this.staleReads.readsChecked,
      committedIndex: this.monitor.committedIndex,
      faults: { ...this.nemesis.counts },
      crashes: this.crashes,
      network: { ...this.network.stats },
      disk,
      refusedToStart: [...this.refusals],
      corruptibleNodes: this.corruption.tainted(),
      recovered: firstOk >= 0,
      recoveryMs: firstOk >= 0 ? Math.round((firstOk - markUs) / 1000) : -1,
      failure: this.failure,
      history: this.history.events,
    };
  }

  // ---- nodes ----

  private start(node: SimNode): void {
    if (node.refused !== undefined) return; // refused to start on a corrupt store: stays down, like the real node
    assert(node.incarnation === undefined, () => `node ${node.id} started twice`);
    const number = ++node.incarnations;
    let incarnation: Incarnation | undefined = undefined;
    const timers = new SimTimers(this.queue, node.clock, (callback) => this.runOnNode(node, TRACE.timer, 0, callback, incarnation), this.limits.timersPerNodeMax);
    const env: Environment = {
      nodeId: node.id,
      monotonic: node.clock,
      wall: node.clock,
      timers,
      random: node.random,
      disk: node.disk,
      transport: {
        send: (channel, to, bytes) => this.sendFromNode(node, incarnation!, channel, to, bytes),
        receive: (channel, handler) => {
          assert(channel === "raft", () => `the simulator carries no ${channel} channel to nodes yet`);
          assert(incarnation!.raftReceiver === undefined, "a second receiver for the raft channel");
          incarnation!.raftReceiver = handler;
        },
      },
      log: silentLogger as Logger,
      failpoint: noFailpoints,
    };
    incarnation = { number, timers, env, alive: true, replica: undefined, raftReceiver: undefined };
    node.incarnation = incarnation;
    this.traceEvent(number === 1 ? TRACE.started : TRACE.restart, node.id, number, 0);
    const opened = incarnation;
    this.runOnNode(node, TRACE.restart, number, () => {
      RaftStorage.open(node.disk, { nodeId: node.id, clusterId: CLUSTER_ID }, this.bootstrap, { plantedBugs: this.options.storagePlantedBugs }, (result) => {
        if (!opened.alive) return;
        if (result instanceof StorageError && result.code === "corrupt") {
          this.refuseToStart(node, opened, result.message);
          return;
        }
        if (result instanceof StorageError) {
          this.fail("Restartable", `node ${node.id} could not reopen its storage after a crash: ${result.message}`, node.id);
          return;
        }
        this.monitor.recovered(node.id, result.recovered);
        this.observePersistence(node, opened, result);
        const replica = new Replica<KvResult, KvQuery, string>(opened.env, result, new KvStateMachine(), {
          ...this.replicaOptions,
          observer: {
            applied: (entry) => this.monitor.applied(node.id, entry),
            restored: (snapshot) => this.monitor.restored(node.id, snapshot),
          },
          onFatal: (error) => this.fail("Restartable", `node ${node.id} stopped on a storage failure: ${error.message}`, node.id),
        });
        opened.replica = replica;
        replica.start();
      });
    }, incarnation);
  }

  /**
   * The node found its store corrupt and stops, as the real node does (docs/ARCHITECTURE.md,
   * "Failure policy"): it stays down for the rest of the run. Counted, not a failure: the
   * corruption consent keeps an intact copy of every committed entry on the other nodes.
   */
  private refuseToStart(node: SimNode, incarnation: Incarnation, message: string): void {
    const refusal: StartRefusal = { nodeId: node.id, simulatedTimeUs: this.queue.timeUs, message };
    this.refusals.push(refusal);
    node.refused = refusal;
    incarnation.alive = false;
    node.incarnation = undefined;
    incarnation.timers.shutdown();
    this.traceEvent(TRACE.refused, node.id, incarnation.number, 0);
  }

  /** The running node that leads in the highest term (lowest id on a tie, which Election Safety forbids anyway), or 0. */
  private currentLeader(): NodeId {
    let leader = 0;
    let leaderTerm = -1;
    for (const node of this.nodes) {
      const core = node.incarnation?.replica?.core;
      if (core === undefined) continue;
      if (core.currentRole() === "leader" && core.currentTerm() > leaderTerm) {
        leader = node.id;
        leaderTerm = core.currentTerm();
      }
    }
    return leader;
  }

  /**
   * Wraps storage.persist so the monitor sees every batch that became durable. The replica has
   * at most one persist in flight (asserted), so one completion callback per incarnation serves
   * them all, with what the persist in flight needs in these variables (no allocation per persist).
   */
  private observePersistence(node: SimNode, incarnation: Incarnation, storage: RaftStorage): void {
    const persist = storage.persist.bind(storage);
    let inFlightBatch: PersistBatch | undefined;
    let inFlightMustSync = false;
    let inFlightIsLeader = false;
    let inFlightDone: ((error: StorageError | undefined) => void) | undefined;
    const persisted = (error: StorageError | undefined): void => {
      const batch = inFlightBatch;
      const done = inFlightDone;
      assert(batch !== undefined && done !== undefined, "a persist completed with none in flight");
      inFlightBatch = undefined;
      inFlightDone = undefined;
      if (error === undefined && incarnation.alive) this.monitor.persisted(node.id, batch, inFlightMustSync, inFlightIsLeader);
      done(error);
    };
    storage.persist = (batch, mustSync, done) => {
      const isLeader = incarnation.replica?.core.currentRole() === "leader";
      // The batch itself (readonly; the replica hands its Ready): no copy per persist.
      this.monitor.persisting(node.id, batch);
      if (this.monitor.violation !== undefined) return; // the run stops at this event; storage would only assert the same
      assert(inFlightBatch === undefined, "a second persist started before the first completed");
      inFlightBatch = batch;
      inFlightMustSync = mustSync;
      inFlightIsLeader = isLeader;
      inFlightDone = done;
      persist(batch, mustSync, persisted);
    };
  }

  private crash(node: SimNode): void {
    const incarnation = node.incarnation;
    assert(incarnation !== undefined, () => `node ${node.id} crashed while down`);
    this.traceEvent(TRACE.crash, node.id, incarnation.number, 0);
    this.crashes++;
    incarnation.alive = false;
    node.incarnation = undefined;
    node.pausedUntilUs = 0;
    incarnation.timers.shutdown();
    // stop() tells waiting clients "stopped"; a crashed process says nothing, so replies are dropped (alive is false).
    incarnation.replica?.stop();
    node.disk.crash();
    this.monitor.crashed(node.id);
  }

  private sendFromNode(node: SimNode, incarnation: Incarnation, channel: ChannelName, to: EndpointId, bytes: Uint8Array): boolean {
    if (!incarnation.alive) return false;
    assert(channel === "raft", () => `node ${node.id} sent on the ${channel} channel, which the simulator does not carry yet`);
    assert(to >= 1 && to <= this.nodes.length && to !== node.id, () => `node ${node.id} sent to endpoint ${to}`);
    // Votes are checked as they leave (Single Vote): only vote responses are decoded here.
    if (bytes[1] === MESSAGE_TYPE_CODES["vote-response"]) {
      const decoded = decodePeerPayload(bytes);
      assert(decoded.ok && decoded.payload.kind === "message", () => `node ${node.id} sent a vote response that does not decode`);
      this.monitor.messageSent(decoded.payload.message);
    }
    this.network.send(node.id, to, { type: "raft", bytes });
    return true;
  }

  /** Runs node code for one event: trace, assertion capture, per-node property checks. */
  private runOnNode(node: SimNode, kind: number, detail: number, action: () => void, incarnation: Incarnation | undefined = node.incarnation): void {
    if (this.failure !== undefined) return;
    if (incarnation !== undefined && !incarnation.alive) return;
    if (node.pausedUntilUs > this.queue.timeUs) {
      // Frozen: the event waits; re-queued in arrival order, so the backlog runs in order at the end of the pause.
      this.queue.at(node.pausedUntilUs, () => this.runOnNode(node, kind, detail, action, incarnation));
      return;
    }
    this.traceEvent(kind, node.id, detail, 0);
    try {
      action();
    } catch (error) {
      this.nodeThrew(node, error);
      return;
    }
    this.afterNodeStep(node);
  }

  /** A failed assertion is a crash the seed reproduces; so is any other error thrown by node code. */
  private nodeThrew(node: SimNode, error: unknown): void {
    const message = error instanceof AssertionFailure ? error.message : `threw ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`;
    this.fail("No Assertion Failure", `node ${node.id}: ${message}`, node.id);
  }

  /** The per-node property checks after node code ran. */
  private afterNodeStep(node: SimNode): void {
    const current = node.incarnation;
    if (current !== undefined && current.alive && current.replica !== undefined) this.monitor.afterStep(node.id, current.replica.core);
  }

  // ---- network ----

  private deliver(from: number, to: number, payload: SimPayload): void {
    switch (payload.type) {
      case "client-reply":
        this.traceEvent(TRACE.clientReply, from, to, payload.requestId);
        this.workload.receive(to, payload);
        return;
      case "client-request": {
        const node = this.nodes[to - 1]!;
        const incarnation = node.incarnation;
        if (incarnation?.replica === undefined) return; // down or still opening its storage: the request is lost
        this.runOnNode(node, TRACE.clientRequest, payload.requestId, () => this.serveClient(node, incarnation, from, payload));
        return;
      }
      case "raft": {
        const node = this.nodes[to - 1]!;
        const incarnation = node.incarnation;
        if (incarnation?.raftReceiver === undefined || incarnation.replica === undefined) return;
        this.traceRaftBytes(from, to, payload.bytes);
        this.deliverToNode(node, incarnation, incarnation.raftReceiver, from, payload.bytes);
        return;
      }
      default:
        return unreachable(payload, "simulated payload");
    }
  }

  /**
   * runOnNode for the most frequent event, a peer message, without a closure per message
   * (the same checks in the same order; a closure only when a pause defers the message).
   */
  private deliverToNode(node: SimNode, incarnation: Incarnation, receiver: ChannelReceiver, from: EndpointId, bytes: Uint8Array): void {
    if (this.failure !== undefined || !incarnation.alive) return;
    if (node.pausedUntilUs > this.queue.timeUs) {
      this.queue.at(node.pausedUntilUs, () => this.deliverToNode(node, incarnation, receiver, from, bytes));
      return;
    }
    this.traceEvent(TRACE.deliver, node.id, bytes[1]!, 0);
    try {
      // A correct node never sends what its peer must refuse: a malformed message here is a codec or core bug.
      if (receiver(from, bytes) === "malformed") assert(false, `node ${node.id} refused a message from node ${from} as malformed`);
    } catch (error) {
      this.nodeThrew(node, error);
      return;
    }
    this.afterNodeStep(node);
  }

  private serveClient(node: SimNode, incarnation: Incarnation, client: number, request: ClientRequest): void {
    // Replies and hints are methods, not closures per request: under tsx every named closure costs an Object.defineProperty.
    const replica = incarnation.replica!;
    const operation = request.operation;
    if (operation.f === "get") {
      replica.read({ key: operation.key }, (outcome: ReadOutcome<string>) => {
        if (outcome.status === "ok") this.replyToClient(node, incarnation, client, request, { status: "ok", value: outcome.result, swapped: false });
        else this.replyToClient(node, incarnation, client, request, { status: "rejected", leaderHint: this.leaderHint(incarnation, outcome.refusal), reason: outcome.refusal.code });
      });
      return;
    }
    const command =
      operation.f === "put"
        ? encodeKvCommand({ op: "put", key: operation.key, value: operation.value })
        : encodeKvCommand({ op: "cas", key: operation.key, expected: operation.expected, value: operation.value });
    replica.submit(command, (outcome: CommandOutcome<KvResult>) => {
      switch (outcome.status) {
        case "ok": {
          const result = outcome.result;
          if (result.op === "rejected") return this.replyToClient(node, incarnation, client, request, { status: "rejected", leaderHint: node.id, reason: result.reason });
          if (incarnation.alive) this.monitor.acknowledgedAt(node.id, outcome.index);
          if (result.op === "put") return this.replyToClient(node, incarnation, client, request, { status: "ok", value: operation.value, swapped: true });
          return this.replyToClient(node, incarnation, client, request, { status: "ok", value: result.current, swapped: result.swapped });
        }
        case "rejected":
          return this.replyToClient(node, incarnation, client, request, { status: "rejected", leaderHint: this.leaderHint(incarnation, outcome.refusal), reason: outcome.refusal.code });
        case "unknown":
          return this.replyToClient(node, incarnation, client, request, { status: "unknown", reason: outcome.reason });
      }
    });
  }

  private replyToClient(node: SimNode, incarnation: Incarnation, client: number, request: ClientRequest, outcome: ClientOutcome): void {
    if (!incarnation.alive) return; // a crashed node answers nothing
    this.network.send(node.id, client, { type: "client-reply", requestId: request.requestId, outcome });
  }

  private leaderHint(incarnation: Incarnation, refusal: ReplicaRefusal): NodeId {
    if (refusal.code === "not-leader") return refusal.leaderId;
    return incarnation.alive ? incarnation.replica!.core.currentLeader() : 0;
  }

  // ---- history, trace, failure ----

  private recordHistory(event: HistoryEvent): void {
    this.traceEvent(TRACE.history, event.process, HISTORY_TYPE_CODES[event.type], HISTORY_F_CODES[event.f]);
    const problem = this.staleReads.observe(event);
    if (problem !== undefined) this.monitor.fail("No Stale Read", problem);
  }

  /** Two numbers per message: who, to whom, its type and size, and a word from its middle (cheap, and it moves when the contents do). */
  private traceRaftBytes(from: EndpointId, to: EndpointId, bytes: Uint8Array): void {
    const trace = this.trace;
    trace.add(bytes[1]! * 0x10000 + from * 0x100 + to);
    const middle = bytes.length >> 1;
    trace.add(bytes.length * 0x100 + bytes[middle]!);
  }

  /** Folds one event into the trace hash (two or three numbers: cheap enough for every event). */
  private traceEvent(kind: number, a: number, b: number, c: number): void {
    const trace = this.trace;
    trace.add(this.queue.timeUs * 64 + kind);
    trace.add(a * 0x100000 + b);
    if (c !== 0) trace.add(c);
    if (this.options.trace !== undefined) this.options.trace(`${this.queue.timeUs} ${TRACE_NAMES[kind]} ${a} ${b} ${c}`);
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
export function reproduceCommand(options: Pick<SimulationOptions, "seed" | "nodeCount" | "durationMs" | "profile" | "plantedBugs">): string {
  const base = `npx blixard sim --seed ${options.seed.text} --nodes ${options.nodeCount} --time ${options.durationMs}ms --faults ${options.profile.name}`;
  const bugs = [...(options.plantedBugs ?? [])].sort();
  return bugs.length === 0 ? base : `${base}   (with planted bug ${bugs.join(", ")}: test harness only, see test/core/sim/planted-bugs.test.ts)`;
}

export function runSimulation(options: SimulationOptions): SimulationResult {
  return new Simulation(options).run();
}
