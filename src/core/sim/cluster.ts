// The cluster on the world's hosts: on each host, a Blixard node process built by the same
// factory the real runtime uses (src/core/replica/node-process.ts) over RaftStorage over the
// host's SimDisk. It starts nodes, crashes and restarts them (one incarnation per start),
// stops a node for good when its restart finds the store corrupt (as the real node does),
// and shows the safety monitor every durable batch and applied entry.

import { assert } from "../assert.ts";
import type { CrashKind } from "../env/environment.ts";
import type { ConfState, NodeId, RaftCore } from "../raft/types.ts";
import { createNodeProcess, startMembershipAgent, startOrchestrator, type NodeReplica, type OrchestratorNodeOptions, type OrchestratorParts } from "../replica/node-process.ts";
import { CLUSTER_COMMAND_TAG, type NodeStateMachine } from "../replica/node-state-machine.ts";
import type { ClusterPlantedBug, ClusterState } from "../cluster/cluster-state.ts";
import type { SimVmHost } from "./sim-vm-backend.ts";
import { defaultMembershipAgentTiming } from "../replica/membership-agent.ts";
import type { ReplicaOptions } from "../replica/replica.ts";
import type { RequestPath, RequestPathOptions, RequestPathStats } from "../replica/request-path.ts";
import type { KvPlantedBug } from "../replica/kv-state-machine.ts";
import { RaftStorage, type StoragePlantedBug } from "../storage/raft-storage.ts";
import { StorageError } from "../storage/storage-error.ts";
import type { PersistBatch, PropertyName, SafetyMonitor } from "./properties.ts";
import { leaseHeldProblem } from "./lease-held.ts";
import { TRACE } from "./trace.ts";
import type { HostProcess, HostWorld, SimHost } from "./world.ts";

const CLUSTER_ID = "sim";

/** A node whose restart found its store corrupt: like the real node, it stays down for the rest of the run. */
export interface StartRefusal {
  readonly nodeId: NodeId;
  readonly simulatedTimeUs: number;
  /** The StorageError's one line (file, offset, what). */
  readonly message: string;
}

/** One start of a node: the host process and, once its storage opened, the replica. */
export interface NodeIncarnation {
  readonly process: HostProcess;
  replica: NodeReplica | undefined;
  /** The node's request path (client channel), built with the replica. */
  requestPath: RequestPath | undefined;
  /** The node's agent and the cluster controller, when the run has the orchestrator. */
  orchestrator: OrchestratorParts | undefined;
  /** The replica's state machine, built with it. */
  machine: NodeStateMachine | undefined;
}

export interface ReplicaClusterState {
  readonly nodeId: NodeId;
  readonly state: ClusterState;
}

/** What the cluster needs to run the orchestrator on its nodes (simulation.ts builds it). */
export interface ClusterOrchestrator {
  /** The VMs of a host: they outlive the node's incarnations and die with the host. */
  readonly vmHost: (id: NodeId) => SimVmHost;
  /** The node's agent (registration, timing) and controller settings. */
  readonly nodeOptions: (id: NodeId) => OrchestratorNodeOptions;
  readonly clusterPlantedBugs: ReadonlySet<ClusterPlantedBug> | undefined;
  /** A replica applied a cluster command (the orchestrator monitor's turn). */
  readonly clusterApplied: (id: NodeId, index: number, state: ClusterState) => void;
  /** A replica restarted or installed a snapshot: its state starts again from there. */
  readonly stateReset: (id: NodeId, state: ClusterState) => void;
}

interface ClusterNode {
  readonly host: SimHost;
  current: NodeIncarnation | undefined;
  incarnations: number;
  /** Set when a restart found the store corrupt: the node stays down (no restart brings it back). */
  refused: StartRefusal | undefined;
}

export interface ClusterOptions {
  readonly replica: Omit<ReplicaOptions, "observer" | "onFatal">;
  readonly requestPath: Omit<RequestPathOptions, "onAcknowledged">;
  readonly storagePlantedBugs: ReadonlySet<StoragePlantedBug> | undefined;
  readonly syncPoints: "riding" | "strict";
  readonly kvPlantedBugs: ReadonlySet<KvPlantedBug> | undefined;
  /** CPU time to apply one entry, and per byte of it (nanoseconds): the host is busy meanwhile. */
  readonly cpuApplyEntryUs: number;
  readonly cpuApplyByteNs: number;
  /** Every node also runs the real node's membership agent (address announcements, snapshots for joiners). */
  readonly membershipAgent: boolean;
  /** Every node also runs the orchestrator (agent and controller), when set. */
  readonly orchestrator: ClusterOrchestrator | undefined;
  /** A node refused to start on a corrupt store (after it was recorded): the start-refusal checks' turn. */
  readonly refused: (refusal: StartRefusal) => void;
  /** A failure the run reports (and stops at). */
  readonly fail: (property: PropertyName | "Restartable", message: string, nodeId: NodeId) => void;
  /** An injected failpoint fault hit this node (docs/FAILPOINTS.md): its storage failures are the fault's, not a bug. */
  readonly injected?: (id: NodeId) => boolean;
}

/** How long the simulated supervisor waits before it restarts a node that a failpoint stopped. */
export const SUPERVISOR_RESTART_DELAY_US = 500_000;

export class Cluster {
  private readonly nodes: ClusterNode[] = [];
  private readonly bootstrap: ConfState;
  private readonly refusals: StartRefusal[] = [];
  private crashCount = 0;
  /** Request path counters of the incarnations that ended (the running ones are added on demand). */
  private readonly endedPathStats: RequestPathStats = emptyRequestPathStats();
  private readonly crashKindCounts: Record<CrashKind, number> = { "process-kill": 0, "host-crash": 0 };

  constructor(
    private readonly world: HostWorld,
    private readonly monitor: SafetyMonitor,
    private readonly options: ClusterOptions,
  ) {
    for (const host of world.hosts) this.nodes.push({ host, current: undefined, incarnations: 0, refused: undefined });
    this.bootstrap = { voters: [...world.hostIds], learners: [] };
    assert(this.nodes.length === world.hosts.length, "one node per host");
  }

  get crashes(): number {
    return this.crashCount;
  }

  /** Request path counters summed over every incarnation of every node. */
  requestPathStats(): RequestPathStats {
    const total = { ...this.endedPathStats };
    for (const node of this.nodes) if (node.current?.requestPath !== undefined) addStats(total, node.current.requestPath.stats);
    return total;
  }

  /** The crashes by kind (they sum to crashes). */
  crashKinds(): Record<CrashKind, number> {
    return { ...this.crashKindCounts };
  }

  /** Nodes that refused to start on a corrupt store, in the order they did. */
  refusedToStart(): readonly StartRefusal[] {
    return [...this.refusals];
  }

  isUp(id: NodeId): boolean {
    return this.node(id).current !== undefined;
  }

  /** The running incarnation of a node (undefined while it is down). */
  incarnation(id: NodeId): NodeIncarnation | undefined {
    return this.node(id).current;
  }

  /** The voters of the running node with the highest commit index (ties: the lowest id), or none when no node runs. */
  mostAdvancedVoters(): readonly NodeId[] {
    let best: RaftCore | undefined;
    for (const node of this.nodes) {
      const core = this.coreOf(node.host.id);
      if (core !== undefined && (best === undefined || core.commitIndex() > best.commitIndex())) best = core;
    }
    const voters = best === undefined ? [] : best.status().confState.voters;
    assert(voters.every((id) => id >= 1 && id <= this.nodes.length), "the final voters are nodes of the cluster");
    return voters;
  }

  /** The Raft core of a running node, for the monitor (undefined while down or opening its storage). */
  coreOf(id: NodeId): RaftCore | undefined {
    const current = this.node(id).current;
    return current?.process.alive === true ? current.replica?.core : undefined;
  }

  /** The running node that leads in the highest term (lowest id on a tie, which Election Safety forbids anyway), or 0. */
  currentLeader(): NodeId {
    let leader = 0;
    let leaderTerm = -1;
    for (const node of this.nodes) {
      const core = node.current?.replica?.core;
      if (core === undefined) continue;
      if (core.currentRole() === "leader" && core.currentTerm() > leaderTerm) {
        leader = node.host.id;
        leaderTerm = core.currentTerm();
      }
    }
    return leader;
  }

  /** The cluster state of every running replica (for the orchestrator's checks). */
  clusterStates(): ReplicaClusterState[] {
    const states: ReplicaClusterState[] = [];
    for (const node of this.nodes) {
      const current = node.current;
      if (current?.process.alive === true && current.machine !== undefined) states.push({ nodeId: node.host.id, state: current.machine.cluster });
    }
    return states;
  }

  /** The highest term any running node holds. */
  maxTerm(): number {
    return Math.max(0, ...this.nodes.map((node) => node.current?.replica?.core.status().hardState.term ?? 0));
  }

  /** The per-node property checks after node code ran. */
  afterStep(host: SimHost): void {
    const current = this.nodes[host.id - 1]!.current;
    if (current !== undefined && current.process.alive && current.replica !== undefined) this.monitor.afterStep(host.id, current.replica.core);
  }

  start(id: NodeId): void {
    const node = this.node(id);
    if (node.refused !== undefined) return; // refused to start on a corrupt store: stays down, like the real node
    assert(node.current === undefined, () => `node ${id} started twice`);
    const number = ++node.incarnations;
    const host = node.host;
    const process = this.world.startProcess(host, number);
    const incarnation: NodeIncarnation = { process, replica: undefined, requestPath: undefined, orchestrator: undefined, machine: undefined };
    node.current = incarnation;
    this.world.trace.event(number === 1 ? TRACE.started : TRACE.restart, id, number, 0);
    this.world.runOnHost(host, TRACE.restart, number, () => {
      RaftStorage.open(process.env.disk, { nodeId: id, clusterId: CLUSTER_ID }, this.bootstrap, { plantedBugs: this.options.storagePlantedBugs, syncPoints: this.options.syncPoints, failpoint: process.env.failpoint, reached: process.env.reached }, (result) => {
        if (!process.alive) return;
        if (result instanceof StorageError && result.code === "corrupt") {
          this.refuseToStart(node, result.message);
          return;
        }
        if (result instanceof StorageError) {
          if (this.options.injected?.(id) === true) return this.supervisorRestart(id, "after-event");
          this.options.fail("Restartable", `node ${id} could not reopen its storage after a crash: ${result.message}`, id);
          return;
        }
        this.monitor.recovered(id, result.recovered);
        this.observePersistence(id, incarnation, result);
        const orchestrator = this.options.orchestrator;
        const built = createNodeProcess(process.env, result, {
          ...this.options.replica,
          kvPlantedBugs: this.options.kvPlantedBugs,
          clusterPlantedBugs: orchestrator?.clusterPlantedBugs,
          observer: {
            applied: (entry) => {
              this.monitor.applied(id, entry);
              this.chargeApply(host, entry.data.length);
              const machine = incarnation.machine;
              if (orchestrator !== undefined && machine !== undefined && entry.data.length > 0 && entry.data[0] === CLUSTER_COMMAND_TAG) {
                orchestrator.clusterApplied(id, entry.index, machine.cluster);
              }
            },
            restored: (snapshot) => {
              this.monitor.restored(id, snapshot);
              if (orchestrator !== undefined && incarnation.machine !== undefined) orchestrator.stateReset(id, incarnation.machine.cluster);
            },
            leaseRead: (term) => this.checkLeaseHeld(id, incarnation, term),
            readAnswered: (index) => this.monitor.readAnswered(id, index),
          },
          onFatal: (error) => {
            // An injected disk error stops the node as it stops a real one (exit 4); a supervisor starts it again.
            if (this.options.injected?.(id) === true) return this.supervisorRestart(id, "after-event");
            this.options.fail("Restartable", `node ${id} stopped on a storage failure: ${error.message}`, id);
          },
        }, {
          ...this.options.requestPath,
          // The durability check: an acknowledged write must be on a quorum of disks.
          onAcknowledged: (index) => {
            if (process.alive) this.monitor.acknowledgedAt(id, index);
          },
        });
        incarnation.replica = built.replica;
        incarnation.requestPath = built.requestPath;
        incarnation.machine = built.machine;
        if (orchestrator !== undefined) orchestrator.stateReset(id, built.machine.cluster);
        built.replica.start();
        if (orchestrator !== undefined) {
          incarnation.orchestrator = startOrchestrator(process.env, built, orchestrator.vmHost(id).backendFor(process.env), orchestrator.nodeOptions(id));
        }
        // The same background membership work the real node runs: address announcements through the
        // request path, snapshots for joiners while learners exist. Simulated hosts have no sockets;
        // their addresses are names.
        if (this.options.membershipAgent) startMembershipAgent(process.env, built, {
          ...defaultMembershipAgentTiming,
          addresses: { peer: `sim-host-${id}:7000`, api: `sim-host-${id}:8000` },
          joinVia: undefined,
        });
      });
    }, process);
  }

  /** A replica answered a read from its lease (readMode "lease"): it must rest on a quorum of kept promises (lease-held.ts). */
  private checkLeaseHeld(id: NodeId, incarnation: NodeIncarnation, term: number): void {
    const voters = incarnation.replica!.core.status().confState.voters;
    const problem = leaseHeldProblem(id, term, voters, (voter) => this.coreOf(voter), this.options.replica.raft.electionTicks);
    if (problem !== undefined) this.monitor.fail("Lease Held", problem, id);
  }

  /**
   * The node's process dies. A host crash also loses or tears the disk's unsynced writes; a
   * process kill keeps every write the process made (the kernel has them), and the node
   * restarts from exactly that (src/core/sim/sim-disk.ts, processKill).
   */
  crash(id: NodeId, kind: CrashKind = "host-crash"): void {
    const node = this.node(id);
    const incarnation = node.current;
    assert(incarnation !== undefined, () => `node ${id} crashed while down`);
    // A host crash's trace event is what it always was; a process kill's says so.
    this.world.trace.event(TRACE.crash, id, incarnation.process.number, kind === "process-kill" ? 1 : 0);
    this.crashCount++;
    this.crashKindCounts[kind]++;
    node.current = undefined;
    node.host.pausedUntilUs = 0;
    this.world.endProcess(node.host);
    // stop() tells waiting clients "stopped"; a crashed process says nothing, so replies are dropped (alive is false).
    incarnation.orchestrator?.agent.stop();
    incarnation.orchestrator?.controller.stop();
    incarnation.replica?.stop();
    incarnation.requestPath?.stop();
    // A process kill leaves the node's VMs running (they are not its children: #9's guard holds them); a host crash kills them.
    if (kind === "host-crash") this.options.orchestrator?.vmHost(id).hostCrashed();
    if (incarnation.requestPath !== undefined) addStats(this.endedPathStats, incarnation.requestPath.stats);
    if (kind === "host-crash") node.host.disk.crash();
    else node.host.disk.processKill();
    this.monitor.crashed(id);
  }

  /**
   * A failpoint stopped the node (a crash at the point, or an injected disk error it stopped on):
   * the process dies, and a supervisor (systemd, a Kubernetes restart) starts it again after
   * SUPERVISOR_RESTART_DELAY_US, unless something else (the nemesis) already did. `at` "now":
   * the host's event has already unwound (a FailpointCrash caught by the world), so nothing
   * after the point runs; "after-event": called from inside node code (a storage failure the
   * replica stopped on), so the process ends once that event is over.
   */
  supervisorRestart(id: NodeId, at: "now" | "after-event"): void {
    const queue = this.world.queue;
    const kill = (): void => {
      if (this.isUp(id)) this.crash(id, "process-kill");
      queue.at(queue.timeUs + SUPERVISOR_RESTART_DELAY_US, () => {
        if (!this.isUp(id)) this.start(id);
      });
    };
    if (at === "now") kill();
    else queue.at(queue.timeUs, kill);
  }

  /**
   * The node found its store corrupt and stops, as the real node does (docs/ARCHITECTURE.md,
   * "Failure policy"): it stays down for the rest of the run. Whether that is allowed is the
   * start-refusal checks' question (start-refusal-check.ts), not this one's.
   */
  private refuseToStart(node: ClusterNode, message: string): void {
    const incarnation = node.current;
    assert(incarnation !== undefined, "a node refused to start while down");
    const refusal: StartRefusal = { nodeId: node.host.id, simulatedTimeUs: this.world.queue.timeUs, message };
    this.refusals.push(refusal);
    node.refused = refusal;
    node.current = undefined;
    this.world.endProcess(node.host);
    this.world.trace.event(TRACE.refused, node.host.id, incarnation.process.number, 0);
    this.options.refused(refusal);
  }

  /** Applying an entry keeps the host's CPU busy (integer microseconds, rounded up). */
  private chargeApply(host: SimHost, bytes: number): void {
    const costUs = this.options.cpuApplyEntryUs + Math.ceil((bytes * this.options.cpuApplyByteNs) / 1000);
    if (costUs !== 0) this.world.chargeCpu(host, costUs);
  }

  private node(id: NodeId): ClusterNode {
    const node = this.nodes[id - 1];
    assert(node !== undefined, () => `no node ${id}`);
    return node;
  }

  /**
   * Wraps storage.persist so the monitor sees every batch that became durable. The replica has
   * at most one persist in flight (asserted), so one completion callback per incarnation serves
   * them all, with what the persist in flight needs in these variables (no allocation per persist).
   */
  private observePersistence(id: NodeId, incarnation: NodeIncarnation, storage: RaftStorage): void {
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
      if (error === undefined && incarnation.process.alive) this.monitor.persisted(id, batch, inFlightMustSync, inFlightIsLeader);
      done(error);
    };
    storage.persist = (batch, mustSync, done) => {
      const isLeader = incarnation.replica?.core.currentRole() === "leader";
      // The batch itself (readonly; the replica hands its Ready): no copy per persist.
      this.monitor.persisting(id, batch);
      if (this.monitor.violation !== undefined) return; // the run stops at this event; storage would only assert the same
      assert(inFlightBatch === undefined, "a second persist started before the first completed");
      inFlightBatch = batch;
      inFlightMustSync = mustSync;
      inFlightIsLeader = isLeader;
      inFlightDone = done;
      persist(batch, mustSync, persisted);
    };
  }
}

function emptyRequestPathStats(): RequestPathStats {
  return { servedLocally: 0, forwarded: 0, forwardsNotSent: 0, forwardsTimedOut: 0, received: 0, answersNotSent: 0, lateOutcomes: 0, malformed: 0 };
}

function addStats(total: RequestPathStats, add: Readonly<RequestPathStats>): void {
  for (const key of Object.keys(total) as Array<keyof RequestPathStats>) total[key] += add[key];
}
