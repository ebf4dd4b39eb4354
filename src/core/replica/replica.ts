// The replica driver: one Raft core, its durable storage and the replicated state
// machine, wired to an Environment. The simulator and the real node run exactly
// this code; only the Environment differs.
//
// The driver carries out each Ready in the order of the persistence contract
// (src/core/raft/types.ts, docs/ARCHITECTURE.md): send what may precede persistence, persist,
// then send the rest, then apply, then advance. At most one Ready is in progress at a time; inputs that arrive while a
// persist is in flight accumulate in the core and form the next Ready, which is
// how writes are batched into one fsync.
//
// Client outcomes are exact about effects, because the history checker relies on it:
//   ok       the command was applied at `index`;
//   rejected the command certainly had no effect (refused, or its log slot was taken by another leader's entry);
//   unknown  it may or may not take effect (timed out, or the node stopped first).
//
// A full disk (docs/STORAGE.md and docs/OPERATIONS.md, "A full disk") is an operating error, not
// a fatal one: a persist that storage refused with "no-space" keeps its Ready (nothing of it is
// sent, applied or advanced) and is retried with a bounded backoff until it fits. Meanwhile the
// node is frozen like a paused one (no ticks; Raft messages dropped as a lossy network would), so
// no vote, term or acknowledgement leaves before it is durable; new commands, reads and transfers
// are refused at once ("disk-full", certainly not applied); commands already in flight keep
// their deadlines. The disk-full alarm (disk-space.ts) is raised meanwhile, and also, without
// freezing anything, while free space is under the reserve.

import { assert, unreachable } from "../assert.ts";
import { CLOCK_DRIFT_BOUND_PPM, type Environment } from "../env/environment.ts";
import { leaseFromRound, leaseHolds, renewLease, type HeldLease } from "../lease/lease.ts";
import { RawNode } from "../raft/raw-node.ts";
import { confStateAfterEntries } from "../raft/conf-change.ts";
import type {
  ConfChange,
  ConfState,
  Entry,
  Message,
  NodeId,
  PlantedBug,
  RaftConfig,
  RaftCore,
  RaftRefusal,
  RaftStatus,
  Ready,
  Role,
  Snapshot,
  SoftState,
} from "../raft/types.ts";
import type { RaftStorage } from "../storage/raft-storage.ts";
import { StorageError } from "../storage/storage-error.ts";
import { injectedDiskError } from "../failpoints/failpoint-disk.ts";
import { DeadlineSweep } from "./deadline-sweep.ts";
import { DISK_RESERVE_BYTES_DEFAULT, DiskSpace, type DiskFullAlarm } from "./disk-space.ts";
import { RaftChannel } from "./raft-channel.ts";
import { isMember, ReplicaLog } from "./replica-log.ts";
import type { StateMachine } from "./state-machine.ts";
import { TickSchedule } from "./tick-schedule.ts";

export type RaftTuning = Omit<RaftConfig, "id" | "random" | "plantedBugs">;

export interface ReplicaObserver {
  /** Every entry this replica applies, in order (a no-op or conf change has result undefined). */
  applied?(entry: Entry, result: unknown): void;
  /** A snapshot this replica installed from its leader or restored at start. */
  restored?(snapshot: Snapshot): void;
  /** A read of term `term` was answered from the leader lease at read point `index`, without a round (the simulator checks the lease then). */
  leaseRead?(term: number, index: number): void;
  /** A linearizable read is answered now at read point `index` (the simulator checks the state applied it). */
  readAnswered?(index: number): void;
}

export interface ReplicaOptions {
  /** Real milliseconds (of this node's clock) per Raft tick. */
  readonly tickMs: number;
  readonly raft: RaftTuning;
  /**
   * Take a snapshot and compact the log every this many applied entries, at the indexes of
   * this node's own grid (nextSnapshotIndex), so the nodes of a cluster do not all stop to
   * snapshot at the same entry.
   */
  readonly snapshotEveryEntries: number;
  /** Client requests (commands, reads, membership changes) waiting at once; more are rejected. */
  readonly maxPendingRequests: number;
  /** A request without an outcome after this long resolves as unknown (commands) or rejected (reads). */
  readonly requestTimeoutMs: number;
  /**
   * How a linearizable read confirms leadership (docs/RAFT.md, "Lease reads"): "read-index" (the
   * default) asks a quorum for every batch of reads; "lease" answers on the leader alone while it
   * holds a leader lease (needs raft.checkQuorum), and falls back to a ReadIndex round, which
   * renews the lease, when it does not.
   */
  readonly readMode?: ReadMode;
  /**
   * New writes are refused while the data directory has fewer free bytes than this (Disk.freeBytes;
   * default DISK_RESERVE_BYTES_DEFAULT; 0: only a persist refused for want of space raises the alarm).
   */
  readonly diskReserveBytes?: number;
  /** A persist refused for want of space is retried after this long, doubling up to diskRetryDelayMaxMs. Default 10. */
  readonly diskRetryDelayMinMs?: number;
  /** Default 1000. */
  readonly diskRetryDelayMaxMs?: number;
  /** Test harness only. */
  readonly plantedBugs?: ReadonlySet<PlantedBug>;
  readonly observer?: ReplicaObserver;
  /** The replica stopped itself on an operating error it cannot continue from (a failed fsync). */
  readonly onFatal?: (error: Error) => void;
}

export type ReadMode = "read-index" | "lease";

export const defaultRaftTuning: RaftTuning = {
  electionTicks: 10,
  heartbeatTicks: 1,
  preVote: true,
  checkQuorum: true,
  maxMessageBytes: 1024 * 1024,
  maxInflightMessages: 256,
  maxInflightBytes: 32 * 1024 * 1024,
  maxUncommittedBytes: 64 * 1024 * 1024,
  maxPendingReads: 4096,
  quietHeartbeats: true,
};

export const defaultReplicaOptions: ReplicaOptions = {
  tickMs: 100,
  raft: defaultRaftTuning,
  snapshotEveryEntries: 10_000,
  maxPendingRequests: 10_000,
  requestTimeoutMs: 5_000,
};

export type ReplicaRefusal =
  | RaftRefusal
  | { readonly code: "overloaded"; readonly limit: number }
  | { readonly code: "stopped" }
  | { readonly code: "superseded"; readonly index: number }
  | { readonly code: "timeout" }
  /** The disk-full alarm is raised on this node (its message names the node and the data directory). */
  | { readonly code: "disk-full"; readonly alarm: DiskFullAlarm };

export type CommandOutcome<Result> =
  | { readonly status: "ok"; readonly index: number; readonly result: Result }
  | { readonly status: "rejected"; readonly refusal: ReplicaRefusal }
  | { readonly status: "unknown"; readonly reason: "timeout" | "stopped" | "compacted" };

export type ReadOutcome<QueryResult> =
  | { readonly status: "ok"; readonly index: number; readonly result: QueryResult }
  | { readonly status: "rejected"; readonly refusal: ReplicaRefusal };

export type TransferOutcome = { readonly status: "ok"; readonly leaderId: NodeId } | { readonly status: "rejected"; readonly refusal: ReplicaRefusal };

export interface ReplicaStatus {
  readonly raft: RaftStatus;
  readonly pendingCommands: number;
  readonly pendingReads: number;
  readonly stopped: boolean;
  /** Reads answered from the leader lease without a ReadIndex round (readMode "lease"), since start. */
  readonly leaseReads: number;
  /** The disk-full alarm, while raised. */
  readonly diskFull: DiskFullAlarm | undefined;
  /** A persist refused for want of space is waiting to be retried: this node's Raft is frozen meanwhile. */
  readonly persistWaitingForSpace: boolean;
  /** Persists refused for want of space (each retry counts), and Raft messages dropped while frozen by one, since start. */
  readonly persistsRefusedNoSpace: number;
  readonly messagesDroppedWhileDiskFull: number;
  /** Counters since start, for /metrics (src/shell/node/node-metrics.ts reads them at scrape time). */
  readonly counters: ReplicaCounters;
  /** The index of the applied change that removed this node from the cluster (it was a member and is not), or 0. */
  readonly removedAtIndex: number;
}

/**
 * Events counted since start. Role and leader changes are seen at Ready boundaries (the core's
 * softState), so a change undone within one Ready is not counted.
 */
export interface ReplicaCounters {
  /** Commands and configuration changes the core accepted into its log here (as leader). */
  readonly proposals: number;
  /** Proposals refused here: stopped, disk full, overloaded, or refused by the core (not the leader, ...). */
  readonly proposalsRejected: number;
  /** Times this node was seen to campaign: its role became candidate, or leader from follower or pre-candidate. */
  readonly campaigns: number;
  /** Times this node became leader. */
  readonly electionsWon: number;
  /** Times the known leader changed to another node, not counting changes to "unknown" (etcd's leader_changes_seen). */
  readonly leaderChanges: number;
}

interface PendingCommand {
  readonly kind: "command";
  readonly index: number;
  readonly term: number;
  readonly done: (outcome: CommandOutcome<unknown>) => void;
}

interface PendingRead<Query> {
  readonly kind: "read";
  readonly context: number;
  readonly query: Query;
  /** readMode "lease", a ReadIndex round: the term and the lease clock when the round was asked for (its answers renew the lease); else term 0. */
  readonly leaseTerm: number;
  readonly leaseStartUs: number;
  /** Set once the leader has confirmed the read point. */
  readIndex: number;
  readonly done: (outcome: ReadOutcome<unknown>) => void;
}

interface PendingTransfer {
  readonly kind: "transfer";
  readonly target: NodeId;
  readonly done: (outcome: TransferOutcome) => void;
}

type PendingRequest = PendingCommand | PendingRead<unknown> | PendingTransfer;

export class Replica<Result, Query, QueryResult> {
  readonly core: RaftCore;
  private readonly options: ReplicaOptions;
  private readonly bugs: ReadonlySet<PlantedBug>;
  private stopped = false;
  private persisting = false;
  private driving = false;
  /** One timer for the core's next deadline (tick-schedule.ts); every core input goes between beforeInput and drive. */
  private readonly ticks: TickSchedule;
  /** Monotonic time (us) of the last synced append, while the WAL's sync point may lag it (maybeFlushIdleSyncPoint). */
  private syncPointLagsSinceUs: number | undefined;
  /** Membership as of the applied index, kept with the same function the core uses, for snapshot metadata. */
  private appliedConfState: ConfState;
  private applied: number;
  private snapshotIndex: number;
  /** Keyed by log index; an index holds at most one pending command (one proposal per slot). */
  private readonly commands = new Map<number, PendingCommand>();
  /** Keyed by read context, allocated in increasing order, so iteration order is allocation order. */
  private readonly reads = new Map<number, PendingRead<Query>>();
  private nextReadContext = 1;
  private transfer: PendingTransfer | undefined;
  /** Every waiting request's deadline on one timer (deadline-sweep.ts): a request answered in time costs no timer event. */
  private readonly deadlines: DeadlineSweep<PendingRequest>;
  /** Set by requestSnapshot(); cleared when the next snapshot starts. */
  private snapshotRequested = false;
  /** The Ready whose persist is in flight (startReady to onPersisted), or undefined. */
  private persistingReady: Ready | undefined;
  /** Raft messages to and from peers, as the wire codec's bytes on the transport's raft channel. */
  readonly raftChannel: RaftChannel;
  // Lease reads (readMode "lease"; docs/RAFT.md, "Lease reads").
  private readonly leaseReadsOn: boolean;
  /** What each voter promises after it heard from this leader: electionTicks - 1 ticks of its clock. */
  private readonly leasePromiseUs: number;
  /** The leader lease of term `leaseTerm`, in microseconds of this node's monotonic clock. */
  private lease: HeldLease | undefined;
  private leaseTerm = 0;
  /** A term in which this leader started a transfer or sent TimeoutNow: no lease reads in it again. */
  private leaseRevokedTerm = 0;
  private lastMonotonicUs = Number.MIN_SAFE_INTEGER;
  /** A renewal round in flight: its read context (0 when none), its term and the lease clock when it was asked for. */
  private renewalContext = 0;
  private renewalTerm = 0;
  private renewalStartUs = 0;
  /** A read was answered from the lease since the last renewal round was asked for. */
  private leaseUsed = false;
  private leaseReads = 0;
  // A full disk (the header comment; disk-space.ts).
  private readonly diskSpace: DiskSpace;
  private readonly diskRetryDelayMinMs: number;
  private readonly diskRetryDelayMaxMs: number;
  /** The Ready whose persist storage refused for want of space waits for this retry timer (undefined: none waits). */
  private diskRetryTimer: number | undefined;
  private diskRetryDelayMs = 0;
  private persistsRefusedNoSpace = 0;
  private messagesDroppedWhileDiskFull = 0;
  private readonly counters = { proposals: 0, proposalsRejected: 0, campaigns: 0, electionsWon: 0, leaderChanges: 0 };
  /** The role and leader of the last softState seen, for the counters. */
  private seenRole: Role = "follower";
  private seenLeaderId: NodeId = 0;
  /** A snapshot refused for want of space is not tried again before this monotonic time. */
  private snapshotRetryAtUs = Number.MIN_SAFE_INTEGER;
  /** The operator's story: elections, leaders, membership, snapshots (logging only: replica-log.ts). */
  private readonly story: ReplicaLog;
  /** The index of the applied change that removed this node from the configuration, while it is not a member again; 0: not removed. */
  private removedAt = 0;

  constructor(
    private readonly env: Environment,
    private readonly storage: RaftStorage,
    private readonly machine: StateMachine<Result, Query, QueryResult>,
    options: ReplicaOptions,
  ) {
    assert(options.tickMs > 0 && options.snapshotEveryEntries > 0, "replica options must be positive");
    assert(options.maxPendingRequests > 0 && options.requestTimeoutMs > 0, "replica limits must be positive");
    assert(Number.isSafeInteger(options.requestTimeoutMs * 1000), "the request timeout must be a whole number of microseconds");
    this.options = options;
    this.bugs = options.plantedBugs ?? new Set();
    this.leaseReadsOn = options.readMode === "lease";
    assert(!this.leaseReadsOn || options.raft.checkQuorum, "lease reads need CheckQuorum (the voters' side of the lease)");
    this.leasePromiseUs = leaderLeasePromiseUs(options);
    this.story = new ReplicaLog(env);
    this.diskSpace = new DiskSpace(env, { reserveBytes: options.diskReserveBytes ?? DISK_RESERVE_BYTES_DEFAULT, checkIntervalMs: options.tickMs });
    this.diskRetryDelayMinMs = options.diskRetryDelayMinMs ?? 10;
    this.diskRetryDelayMaxMs = options.diskRetryDelayMaxMs ?? 1000;
    assert(this.diskRetryDelayMinMs > 0 && this.diskRetryDelayMinMs <= this.diskRetryDelayMaxMs, "disk retry delays must be positive and ordered");
    const recovered = storage.recovered;
    // Lease reads need the voters' promise to survive restarts and term changes: strictLeaderLease.
    // They also time the lease from when a ReadIndex round was asked for, so a round must start
    // at once rather than wait behind one in flight (shareReadRounds: false). And they keep every
    // follower's heartbeat and every round's full broadcast (quietHeartbeats: false): the lease's
    // argument (docs/RAFT.md, "Lease reads") counts on each voter hearing the leader every interval.
    const raft = this.leaseReadsOn ? { ...options.raft, strictLeaderLease: true, shareReadRounds: false, quietHeartbeats: false } : options.raft;
    this.core = new RawNode({ ...raft, id: env.nodeId, random: env.random, plantedBugs: options.plantedBugs, reached: env.reached }, recovered);
    this.ticks = new TickSchedule(env, this.core, options.tickMs, this.onTicked);
    this.raftChannel = new RaftChannel(env, (message) => this.receive(message));
    // Exactly at each deadline (no minimum delay): a timed-out request is answered when its own timer would have fired.
    this.deadlines = new DeadlineSweep<PendingRequest>(env, { minDelayMs: 0, entriesMax: options.maxPendingRequests + 1, expired: this.onDeadline });
    this.appliedConfState = recovered.confState;
    this.applied = 0;
    this.snapshotIndex = 0;
    if (recovered.snapshot !== undefined) {
      machine.restore(recovered.snapshot.data);
      this.applied = recovered.snapshot.metadata.index;
      this.snapshotIndex = recovered.snapshot.metadata.index;
      this.appliedConfState = recovered.snapshot.metadata.confState;
      options.observer?.restored?.(recovered.snapshot);
    }
    assert(this.core.status().applied === this.applied, "core and driver disagree on the applied index at start");
  }

  start(): void {
    assert(!this.stopped && !this.ticks.armed, "replica started twice");
    this.ticks.start();
    this.drive();
  }

  /** Stops for good: timers cancelled, in-flight callbacks ignored, waiting clients told "stopped". */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.ticks.stop();
    this.deadlines.stop();
    if (this.diskRetryTimer !== undefined) this.env.timers.cancel(this.diskRetryTimer);
    this.diskRetryTimer = undefined;
    for (const [index, command] of this.commands) {
      command.done({ status: "unknown", reason: "stopped" });
      this.commands.delete(index);
    }
    for (const [context, read] of this.reads) {
      read.done({ status: "rejected", refusal: { code: "stopped" } });
      this.reads.delete(context);
    }
    this.finishTransfer({ status: "rejected", refusal: { code: "stopped" } });
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  receive(message: Message): void {
    if (this.stopped) return;
    // Frozen by a full disk: the core could not hand out what it would answer. Lost, as on a lossy network.
    if (this.diskRetryTimer !== undefined) {
      this.messagesDroppedWhileDiskFull += 1;
      return;
    }
    if (message.to !== this.env.nodeId) assert(false, `message for ${message.to} delivered to ${this.env.nodeId}`);
    this.story.heard(message);
    this.ticks.beforeInput();
    this.core.step(message);
    this.drive();
  }

  /** Proposes a state machine command; `done` is called exactly once. */
  submit(command: Uint8Array, done: (outcome: CommandOutcome<Result>) => void): void {
    assert(command.length > 0, "empty commands are reserved for leader no-ops");
    this.proposeWith(() => this.core.propose(command), done as (outcome: CommandOutcome<unknown>) => void);
  }

  /** Proposes a membership change; the result is the membership after it. */
  changeMembership(change: ConfChange, done: (outcome: CommandOutcome<ConfState>) => void): void {
    this.proposeWith(() => this.core.proposeConfChange(change), done as (outcome: CommandOutcome<unknown>) => void);
  }

  /** A linearizable read (ReadIndex): answered from local state once it has applied the confirmed read point. */
  read(query: Query, done: (outcome: ReadOutcome<QueryResult>) => void): void {
    if (this.stopped) return done({ status: "rejected", refusal: { code: "stopped" } });
    // Only a frozen node refuses reads: under the reserve alone its Raft runs and confirms them.
    const frozen = this.frozenByFullDisk();
    if (frozen !== undefined) return done({ status: "rejected", refusal: frozen });
    if (this.pendingRequests() >= this.options.maxPendingRequests) {
      return done({ status: "rejected", refusal: { code: "overloaded", limit: this.options.maxPendingRequests } });
    }
    const context = this.nextReadContext++;
    this.ticks.beforeInput();
    const leaseIndex = this.leaseReadIndex();
    // The lease clock is read before the round is asked for: the answers confirm a time after it.
    const leaseStartUs = this.leaseReadsOn && leaseIndex === 0 ? this.leaseClockUs() : 0;
    const leaseTerm = this.leaseReadsOn && leaseIndex === 0 ? this.core.currentTerm() : 0;
    if (leaseIndex === 0) {
      const refusal = this.core.readIndex(context);
      if (refusal !== undefined) return done({ status: "rejected", refusal });
    } else {
      this.leaseReads += 1;
      this.options.observer?.leaseRead?.(this.core.currentTerm(), leaseIndex);
      this.leaseUsed = true;
    }
    const read: PendingRead<Query> = { kind: "read", context, query, leaseTerm, leaseStartUs, readIndex: leaseIndex, done: done as (outcome: ReadOutcome<unknown>) => void };
    this.reads.set(context, read);
    this.deadlines.add(read, this.requestDeadlineUs());
    if (leaseIndex > 0) this.answerReads();
    this.drive();
  }

  /**
   * readMode "lease": the read point for a read arriving now, answered without a round, or 0 when
   * a ReadIndex round is needed. Only a leader of term T that holds the lease of term T, has
   * committed an entry of T (so its commit index covers every earlier leader's), and has not
   * started a transfer in T: then no other leader can have been elected since the lease's round
   * left (docs/RAFT.md, "Lease reads"), and the commit index now covers every acknowledged write.
   */
  private leaseReadIndex(): number {
    if (!this.leaseReadsOn || this.core.currentRole() !== "leader") return 0;
    const term = this.core.currentTerm();
    if (this.leaseTerm !== term || this.leaseRevokedTerm === term) return 0;
    const commit = this.core.commitIndex();
    if (this.core.termAt(commit) !== term) return 0;
    if (!leaseHolds(this.lease, this.leaseClockUs())) return 0;
    assert(this.applied <= commit, () => `applied ${this.applied} beyond the leader's commit index ${commit}`);
    return commit;
  }

  /** The clock a lease is measured on: the monotonic one (the planted bug lease-from-wall-clock reads the wall clock). */
  private leaseClockUs(): number {
    if (this.bugs.has("lease-from-wall-clock")) return Math.floor(this.env.wall.nowMs() * 1000);
    const nowUs = this.env.monotonic.nowUs();
    assert(Number.isSafeInteger(nowUs) && nowUs >= this.lastMonotonicUs, () => `the monotonic clock went from ${this.lastMonotonicUs} to ${nowUs} us`);
    this.lastMonotonicUs = nowUs;
    return nowUs;
  }

  /**
   * Every tick, while reads are being answered from the lease: one renewal round (a ReadIndex
   * round no client waits on; at most one in flight per term) keeps the lease held, so reads
   * rarely wait for a round. It costs one heartbeat broadcast per tick while reads flow; an idle
   * leader lets its lease lapse and the next read renews it with its own round.
   */
  private renewLeaseOnTick(): void {
    if (!this.leaseUsed || this.core.currentRole() !== "leader") return;
    const term = this.core.currentTerm();
    if (this.leaseTerm !== term || this.leaseRevokedTerm === term) return;
    if (this.renewalContext !== 0 && this.renewalTerm === term) return;
    this.leaseUsed = false;
    const nowUs = this.leaseClockUs();
    const context = this.nextReadContext++;
    if (this.core.readIndex(context) !== undefined) return; // too many pending reads: a later read tries again
    this.renewalContext = context;
    this.renewalTerm = term;
    this.renewalStartUs = nowUs;
  }

  /** A ReadIndex round of term `term` asked for at `startUs` (lease clock) was confirmed by a quorum: the lease runs from then. */
  private renewLeaseFrom(term: number, startUs: number): void {
    if (!this.leaseReadsOn || term === 0 || term < this.leaseTerm) return;
    // Planted bug lease-ignores-drift: the lease as long as the promise, as if clocks never drifted.
    const driftBoundPpm = this.bugs.has("lease-ignores-drift") ? 0 : CLOCK_DRIFT_BOUND_PPM;
    const granted = leaseFromRound(startUs, this.leasePromiseUs, driftBoundPpm);
    this.lease = term === this.leaseTerm ? renewLease(this.lease, granted) : granted;
    this.leaseTerm = term;
  }

  transferLeadership(target: NodeId, done: (outcome: TransferOutcome) => void): void {
    if (this.stopped) return done({ status: "rejected", refusal: { code: "stopped" } });
    const frozen = this.frozenByFullDisk();
    if (frozen !== undefined) return done({ status: "rejected", refusal: frozen });
    if (this.transfer !== undefined) return done({ status: "rejected", refusal: { code: "transfer-in-progress", target: this.transfer.target } });
    // A transfer hands the voters a TimeoutNow that overrides their lease: no lease reads in this term from now on.
    if (this.core.currentRole() === "leader") this.leaseRevokedTerm = this.core.currentTerm();
    this.ticks.beforeInput();
    const refusal = this.core.transferLeadership(target);
    if (refusal !== undefined) return done({ status: "rejected", refusal });
    this.transfer = { kind: "transfer", target, done };
    this.deadlines.add(this.transfer, this.requestDeadlineUs());
    this.drive();
  }

  status(): ReplicaStatus {
    return {
      raft: this.core.status(),
      pendingCommands: this.commands.size,
      pendingReads: this.reads.size,
      stopped: this.stopped,
      leaseReads: this.leaseReads,
      diskFull: this.diskSpace.alarm(),
      persistWaitingForSpace: this.diskRetryTimer !== undefined,
      persistsRefusedNoSpace: this.persistsRefusedNoSpace,
      messagesDroppedWhileDiskFull: this.messagesDroppedWhileDiskFull,
      counters: { ...this.counters },
      removedAtIndex: this.removedAt,
    };
  }

  /** The disk-full alarm while raised (the request path refuses writes on it before forwarding them). */
  diskFullAlarm(): DiskFullAlarm | undefined {
    return this.diskSpace.alarm();
  }

  /** The refusal of a node frozen by a refused persist, or undefined. */
  private frozenByFullDisk(): ReplicaRefusal | undefined {
    if (this.diskRetryTimer === undefined) return undefined;
    const alarm = this.diskSpace.alarm();
    assert(alarm !== undefined, "a node frozen by a full disk has its alarm raised");
    return { code: "disk-full", alarm };
  }

  private pendingRequests(): number {
    return this.commands.size + this.reads.size;
  }

  private proposeWith(propose: () => ReturnType<RaftCore["propose"]>, done: (outcome: CommandOutcome<unknown>) => void): void {
    this.proposeCounted(propose, (outcome) => {
      if (outcome.status === "rejected") this.counters.proposalsRejected += 1;
      done(outcome);
    });
  }

  private proposeCounted(propose: () => ReturnType<RaftCore["propose"]>, done: (outcome: CommandOutcome<unknown>) => void): void {
    if (this.stopped) return done({ status: "rejected", refusal: { code: "stopped" } });
    // Before the core sees it: a refused command certainly never entered the log here.
    const alarm = this.diskSpace.alarm();
    if (alarm !== undefined) return done({ status: "rejected", refusal: { code: "disk-full", alarm } });
    if (this.pendingRequests() >= this.options.maxPendingRequests) {
      return done({ status: "rejected", refusal: { code: "overloaded", limit: this.options.maxPendingRequests } });
    }
    this.ticks.beforeInput();
    const proposal = propose();
    if (!proposal.ok) return done({ status: "rejected", refusal: proposal.refusal });
    const { index, term } = proposal;
    this.counters.proposals += 1;
    const displaced = this.commands.get(index);
    if (displaced !== undefined) {
      // This node led before, its entry at `index` was truncated, and it now leads again in a
      // newer term. The old entry can never commit: a committed entry would be in our log here.
      assert(displaced.term < term, () => `two pending commands for index ${index} in term ${term}`);
      this.commands.delete(index);
      this.deadlines.remove(displaced);
      displaced.done({ status: "rejected", refusal: { code: "superseded", index } });
    }
    assert(index > this.applied, "a new proposal's index is already applied");
    const command: PendingCommand = { kind: "command", index, term, done };
    this.commands.set(index, command);
    this.deadlines.add(command, this.requestDeadlineUs());
    this.drive();
  }

  /** A request's deadline: requestTimeoutMs from now on this node's monotonic clock. */
  private requestDeadlineUs(): number {
    return this.env.monotonic.nowUs() + this.options.requestTimeoutMs * 1000;
  }

  /**
   * The deadline sweep's callback for a request still waiting at its deadline (the sweep drops
   * requests answered in time): a command may still apply (unknown), a read or a transfer is
   * refused "timeout" (the request path says unknown for a transfer, which may still happen).
   */
  private readonly onDeadline = (request: PendingRequest): void => {
    assert(!this.stopped, "a request deadline after stop");
    switch (request.kind) {
      case "command":
        assert(this.commands.get(request.index) === request, () => `the command at ${request.index} expired but is not the one waiting`);
        this.commands.delete(request.index);
        return request.done({ status: "unknown", reason: "timeout" });
      case "read":
        assert(this.reads.get(request.context) === request, () => `read ${request.context} expired but is not waiting`);
        this.reads.delete(request.context);
        return request.done({ status: "rejected", refusal: { code: "timeout" } });
      case "transfer":
        assert(this.transfer === request, "a transfer expired but is not the one in progress");
        return this.finishTransfer({ status: "rejected", refusal: { code: "timeout" } });
      default:
        return unreachable(request, "pending request");
    }
  };

  /**
   * The WAL's sync point rides on the next append's fsync; a log idle for a whole tick flushes
   * it on its own (docs/STORAGE.md, "The sync point window"). Ticks no longer fire every tickMs
   * (tick-schedule.ts), so the replica checks whenever it runs (every input and tick wake-up,
   * at the end of drive()): once a whole tick passed since the last synced append and nothing
   * is persisting, it flushes. An idle follower still hears a heartbeat every interval, so the
   * window stays within a few ticks; a node that hears nothing flushes at its next wake-up.
   */
  private maybeFlushIdleSyncPoint(): void {
    if (this.persisting || this.syncPointLagsSinceUs === undefined) return;
    if (this.env.monotonic.nowUs() - this.syncPointLagsSinceUs < this.options.tickMs * 1000) return;
    this.syncPointLagsSinceUs = undefined;
    this.storage.flushSyncPoint(this.onSyncPointFlushed);
  }

  /**
   * The tick schedule's callback after it handed the core its ticks (tick-schedule.ts: at the
   * core's next deadline, not every tickMs). A leader whose lease was used renews it here, as it
   * did on every tick: at least once per heartbeat interval.
   */
  private readonly onTicked = (): void => {
    if (this.stopped) return;
    if (this.leaseReadsOn) this.renewLeaseOnTick();
    this.drive();
  };

  private readonly onSyncPointFlushed = (error: StorageError | undefined): void => {
    if (error === undefined || this.stopped) return;
    // The slot keeps its older sync point; the flush is tried again a tick later.
    if (error.code === "no-space") this.syncPointLagsSinceUs = this.env.monotonic.nowUs();
    else this.fail(error);
  };

  /**
   * Carries out Readies until none is left or one waits on the disk. Storage may call
   * back before persist() returns (nothing to sync), so this loops instead of recursing.
   */
  private drive(): void {
    if (this.driving) return;
    this.driving = true;
    try {
      while (!this.stopped && !this.persisting && this.core.hasReady()) this.startReady();
    } finally {
      this.driving = false;
    }
    if (this.stopped) return;
    this.maybeFlushIdleSyncPoint();
    // The inputs just taken may have moved the core's next deadline earlier.
    this.ticks.afterInput();
  }

  private startReady(): void {
    const ready = this.core.ready();
    assert(this.persistingReady === undefined, "a Ready started while another is being persisted");
    this.persisting = true;
    this.persistingReady = ready;
    // Counted when the core hands the change over (its messages may leave before the persist ends).
    if (ready.softState !== undefined) this.countSoftState(ready.softState);
    // A leader's appends travel while its own fsync runs (Raft dissertation 10.2.1): the core
    // put in this group only messages that depend on nothing this Ready makes durable.
    this.send(ready.messagesBeforePersist);
    // Planted bug: the other messages (votes, append acknowledgements) also leave before the state they depend on is durable.
    if (this.bugs.has("vote-before-persist")) this.send(ready.messages);
    // docs/FAILPOINTS.md, raft.persist: the persist fails as the storage's I/O error would.
    const failed = this.env.failpoint("raft.persist");
    if (failed !== undefined) {
      assert(failed.kind === "return", "raft.persist answers only return");
      return this.onPersisted(StorageError.io("persist", "the Ready", injectedDiskError("raft.persist", failed, "persist a Ready")));
    }
    // The Ready is the batch (it has the snapshot, entries and hard state fields storage reads).
    this.storage.persist(ready, ready.mustSync, this.onPersisted);
  }

  /**
   * The persist callback of startReady: one function for the replica's life, not a closure per
   * Ready; the Ready in flight is `persistingReady` (at most one: `persisting` guards it).
   */
  private readonly onPersisted = (error: StorageError | undefined): void => {
    if (this.stopped) return;
    const ready = this.persistingReady;
    assert(ready !== undefined, "a persist completed with no Ready in flight");
    if (error !== undefined && error.code === "no-space") this.env.reached("replica/persist-refused-no-space");
    if (error !== undefined && error.code === "no-space") return this.waitForSpace(ready, error);
    this.persistingReady = undefined;
    if (error !== undefined) return this.fail(error);
    if (this.diskRetryDelayMs > 0) this.spaceBack();
    if (ready.mustSync && ready.entries.length > 0) this.syncPointLagsSinceUs = this.env.monotonic.nowUs();
    // docs/FAILPOINTS.md, raft.persist.after: durable, and the messages that depend on it are lost.
    const lost = this.env.failpoint("raft.persist.after");
    assert(lost === undefined || lost.kind === "return", "raft.persist.after answers only return");
    if (!this.bugs.has("vote-before-persist") && lost === undefined) this.send(ready.messages);
    this.applyReady(ready);
    this.ticks.beforeInput();
    this.core.advance();
    this.persisting = false;
    this.maybeSnapshot();
    this.drive();
  };

  /**
   * Storage refused `ready`'s persist for want of space, and undid what it had half done: keep
   * the Ready (nothing of it leaves, applies or advances), freeze (no ticks; messages dropped),
   * raise the alarm and persist the same Ready again after a backoff (10 ms doubling to 1 s by
   * default): bounded in rate, unbounded in time, since only an operator can free the space.
   */
  private waitForSpace(ready: Ready, error: StorageError): void {
    assert(this.persisting && this.persistingReady === ready, "waiting for space with no Ready in flight");
    assert(this.diskRetryTimer === undefined, "two retries of one persist");
    this.persistsRefusedNoSpace += 1;
    // Planted bug: the acknowledgements and votes leave at the first refusal, as if the batch were durable.
    if (this.diskRetryDelayMs === 0 && this.bugs.has("ack-before-durable-on-enospc")) this.send(ready.messages);
    this.diskSpace.persistRefused(error.message);
    this.ticks.stop();
    this.diskRetryDelayMs = this.diskRetryDelayMs === 0 ? this.diskRetryDelayMinMs : Math.min(this.diskRetryDelayMaxMs, this.diskRetryDelayMs * 2);
    this.diskRetryTimer = this.env.timers.after(this.diskRetryDelayMs, this.retryPersist);
  }

  private readonly retryPersist = (): void => {
    this.diskRetryTimer = undefined;
    if (this.stopped) return;
    const ready = this.persistingReady;
    assert(ready !== undefined && this.persisting, "a persist retry with no Ready waiting");
    this.storage.persist(ready, ready.mustSync, this.onPersisted);
  };

  /** The first persist after a refused one went through: unfreeze and clear the alarm. */
  private spaceBack(): void {
    this.diskRetryDelayMs = 0;
    this.diskSpace.persistSucceeded();
    if (!this.ticks.armed) this.ticks.start();
  }

  private send(messages: readonly Message[]): void {
    for (let i = 0; i < messages.length; i += 1) {
      const message = messages[i]!;
      // However the core came to send it (a transfer, its own removal), a TimeoutNow lets the
      // target campaign through the voters' lease: this term's lease is void for good.
      if (message.type === "timeout-now") this.leaseRevokedTerm = Math.max(this.leaseRevokedTerm, message.term);
      else if (message.type === "snapshot") this.story.snapshotSent(message.to, message.snapshot.metadata.index, message.snapshot.data.length);
      this.raftChannel.send(message);
    }
  }

  private applyReady(ready: Ready): void {
    // docs/FAILPOINTS.md, raft.apply: only panic or crash act here (the Environment carries them out).
    if (ready.committedEntries.length > 0 && this.env.failpoint("raft.apply") !== undefined) assert(false, "raft.apply answers no verdict");
    if (ready.snapshot !== undefined) this.installSnapshot(ready.snapshot);
    const committedEntries = ready.committedEntries;
    for (let i = 0; i < committedEntries.length; i += 1) this.applyEntry(committedEntries[i]!);
    const readStates = ready.readStates;
    for (let i = 0; i < readStates.length; i += 1) {
      const context = readStates[i]!.context;
      if (context === this.renewalContext) {
        this.renewalContext = 0;
        this.renewLeaseFrom(this.renewalTerm, this.renewalStartUs);
        continue;
      }
      const read = this.reads.get(context);
      if (read === undefined) continue;
      read.readIndex = readStates[i]!.index;
      this.renewLeaseFrom(read.leaseTerm, read.leaseStartUs);
    }
    this.answerReads();
    if (ready.softState !== undefined && this.transfer !== undefined && ready.softState.leaderId === this.transfer.target) {
      this.finishTransfer({ status: "ok", leaderId: this.transfer.target });
    }
  }

  private countSoftState(soft: SoftState): void {
    this.story.roleChanged({
      previousRole: this.seenRole,
      role: soft.role,
      previousLeader: this.seenLeaderId,
      leader: soft.leaderId,
      term: this.core.currentTerm(),
      voters: this.core.status().confState.voters,
    });
    if (soft.role !== this.seenRole) {
      if (soft.role === "candidate" || (soft.role === "leader" && this.seenRole !== "candidate")) this.counters.campaigns += 1;
      if (soft.role === "leader") this.counters.electionsWon += 1;
    }
    if (soft.leaderId !== this.seenLeaderId && soft.leaderId !== 0) this.counters.leaderChanges += 1;
    this.seenRole = soft.role;
    this.seenLeaderId = soft.leaderId;
    assert(this.counters.electionsWon <= this.counters.campaigns, "won more elections than campaigned in");
  }

  private installSnapshot(snapshot: Snapshot): void {
    const { index } = snapshot.metadata;
    assert(index > this.applied, () => `snapshot at ${index} does not advance applied ${this.applied}`);
    this.machine.restore(snapshot.data);
    this.applied = index;
    this.snapshotIndex = index;
    const before = this.appliedConfState;
    this.appliedConfState = snapshot.metadata.confState;
    this.story.snapshotInstalled(index, snapshot.data.length, this.core.currentLeader());
    // A joiner's first snapshot is its first configuration, not a change to log.
    if (before.voters.length + before.learners.length > 0) this.membershipApplied(index, before, this.appliedConfState);
    // Commands waiting at covered indexes cannot be told apart from others' entries any more.
    for (const [pendingIndex, command] of this.commands) {
      if (pendingIndex > index) continue;
      this.deadlines.remove(command);
      this.commands.delete(pendingIndex);
      command.done({ status: "unknown", reason: "compacted" });
    }
    this.options.observer?.restored?.(snapshot);
  }

  private applyEntry(entry: Entry): void {
    if (entry.index !== this.applied + 1) assert(false, `applying ${entry.index} after ${this.applied}`);
    let result: unknown = undefined;
    if (entry.type === "conf-change") {
      const before = this.appliedConfState;
      this.appliedConfState = confStateAfterEntries(this.appliedConfState, [entry]);
      result = this.appliedConfState;
      this.membershipApplied(entry.index, before, this.appliedConfState);
    } else if (entry.data.length > 0) {
      result = this.machine.apply(entry.index, entry.data);
    }
    this.applied = entry.index;
    this.options.observer?.applied?.(entry, result);
    const command = this.commands.get(entry.index);
    if (command === undefined) return;
    this.commands.delete(entry.index);
    this.deadlines.remove(command);
    if (command.term === entry.term) {
      command.done({ status: "ok", index: entry.index, result });
    } else {
      // Another leader's entry took this slot: the proposal was truncated and is never applied.
      command.done({ status: "rejected", refusal: { code: "superseded", index: entry.index } });
    }
  }

  /** Logs a configuration change and keeps track of this node's own removal (and return). */
  private membershipApplied(index: number, before: ConfState, after: ConfState): void {
    if (this.story.membershipApplied(index, before, after)) {
      this.removedAt = index;
    } else if (this.removedAt !== 0 && isMember(after, this.env.nodeId)) {
      this.removedAt = 0;
      this.story.memberAgain(index);
    }
    assert(this.removedAt === 0 || !isMember(after, this.env.nodeId), "a removed node is not a member");
  }

  /** The index of the applied change that removed this node (it was a member and is not), or 0. */
  removedAtIndex(): number {
    return this.removedAt;
  }

  private answerReads(): void {
    if (this.reads.size === 0) return; // the common case after a Ready: no Map iterator
    for (const [context, read] of this.reads) {
      if (read.readIndex === 0 || (read.readIndex > this.applied && !this.bugs.has("read-before-applied"))) continue;
      this.reads.delete(context);
      this.deadlines.remove(read);
      this.options.observer?.readAnswered?.(read.readIndex);
      read.done({ status: "ok", index: read.readIndex, result: this.machine.query(read.query) });
    }
  }

  /**
   * Asks for a snapshot at the next opportunity even if fewer than snapshotEveryEntries were
   * applied: a leader that never compacted has nothing to send a joining node (docs/RAFT.md, Joining).
   * Added by the node runtime (src/shell/node/runtime.ts) for `cluster add-learner`.
   */
  requestSnapshot(): void {
    this.snapshotRequested = true;
  }

  private maybeSnapshot(): void {
    if (this.env.monotonic.nowUs() < this.snapshotRetryAtUs) return;
    // The failpoint (src/core/env/failpoints.ts) is evaluated only when there is something to snapshot.
    const requested = this.applied > this.snapshotIndex && (this.snapshotRequested || this.env.failpoint("raft.snapshot-early") !== undefined);
    if (!requested && this.applied < nextSnapshotIndex(this.snapshotIndex, this.env.nodeId, this.options.snapshotEveryEntries)) return;
    this.snapshotRequested = false;
    const index = this.applied;
    const term = this.core.termAt(index);
    assert(term !== undefined, () => `no term for applied index ${index}`);
    const snapshot: Snapshot = { metadata: { index, term, confState: this.appliedConfState }, data: this.machine.snapshot() };
    this.persisting = true;
    this.storage.saveSnapshot(snapshot, (error) => {
      if (this.stopped) return;
      if (error !== undefined && error.code === "no-space") {
        // Nothing changed on disk; the log just stays longer. Tried again after a retry delay at most.
        this.env.reached("replica/snapshot-refused-no-space");
        this.persisting = false;
        this.snapshotRequested ||= requested;
        this.snapshotRetryAtUs = this.env.monotonic.nowUs() + this.diskRetryDelayMaxMs * 1000;
        this.env.log.warn({ error: error.message }, "snapshot refused for want of space; compaction waits");
        return this.drive();
      }
      if (error !== undefined) return this.fail(error);
      this.persisting = false;
      this.snapshotIndex = index;
      this.story.snapshotTaken(index, snapshot.data.length);
      this.core.compact(index, snapshot.data);
      this.drive();
    });
  }

  private finishTransfer(outcome: TransferOutcome): void {
    const transfer = this.transfer;
    if (transfer === undefined) return;
    this.transfer = undefined;
    this.deadlines.remove(transfer);
    transfer.done(outcome);
  }

  private fail(error: StorageError | Error): void {
    this.env.log.error({ error: error.message }, "replica stopping after a storage failure");
    this.stop();
    this.options.onFatal?.(error);
  }
}

/**
 * The applied index at which a node whose last snapshot is at `snapshotIndex` takes its next:
 * the first index at least `every` past it on the node's grid, the indexes `phase + k * every`.
 * The phase is (nodeId - 1) steps of 0.618 * every (the golden ratio's fraction, so any number
 * of nodes spread out: ids 1, 2, 3 sit 0, 0.62 and 0.24 of an interval apart). Why: every node
 * applies the same entries, so with one threshold for all they would snapshot at the same entry,
 * and while a node serialises and writes its image it persists nothing; a leader whose followers
 * all stall at once cannot commit (on three real nodes those stalls made the 64-client p99).
 * Staggered, a quorum keeps moving while one follower snapshots. A node snapshots no sooner than
 * `every` entries after its last snapshot, and on its grid exactly every `every` entries; only
 * the first interval (from index 0, or from a snapshot installed from the leader) may reach
 * just under 2 * every, the most entries the log holds past its snapshot.
 */
export function nextSnapshotIndex(snapshotIndex: number, nodeId: NodeId, every: number): number {
  assert(Number.isSafeInteger(snapshotIndex) && snapshotIndex >= 0 && Number.isSafeInteger(nodeId) && nodeId >= 1, "snapshot grid inputs");
  assert(Number.isSafeInteger(every) && every >= 1 && every <= 67_108_864, () => `snapshot interval ${every} outside 1..2^26 (67,108,864)`);
  const step = Math.floor((every * 618) / 1000);
  const phase = (((nodeId - 1) % every) * step) % every;
  const earliest = snapshotIndex + every;
  const next = earliest + ((((phase - earliest) % every) + every) % every);
  assert(next >= earliest && next < earliest + every && (next - phase) % every === 0, "the next snapshot is on the grid, within one interval of the earliest");
  return next;
}

/**
 * The voters' promise behind the leader lease, in microseconds of each voter's monotonic clock.
 * With strictLeaderLease a voter ignores campaigns until electionTicks ticks have passed since it
 * heard from the leader; the first of them may come at once, and each next one no less than tickMs
 * of its monotonic clock after the previous (the tick timer is re-armed after each tick), so the
 * promise lasts at least electionTicks - 1 tick intervals. This relies on one core tick per tick
 * interval: a driver that ran several ticks back to back to catch up would break it.
 */
export function leaderLeasePromiseUs(options: Pick<ReplicaOptions, "tickMs" | "raft">): number {
  const tickUs = Math.floor(options.tickMs * 1000);
  const promiseUs = (options.raft.electionTicks - 1) * tickUs;
  assert(Number.isSafeInteger(promiseUs) && promiseUs > 0, "the leader lease promise must be a positive integer of microseconds");
  return promiseUs;
}
