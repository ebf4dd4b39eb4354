// A few replicas with their request paths (and, when asked, membership agents) on the
// simulator's parts (event queue, clocks, SimDisk), with a hand-driven transport of both the
// raft and client channels that tests can cut, refuse or black-hole. Shared by the request
// path and membership agent tests.
import { runQueueUntil } from "../../support/simulated-time.ts";
import assert from "node:assert/strict";
import type { ChannelName, EndpointId, Environment, ReceiveVerdict, Timers } from "../../../src/core/env/environment.ts";
import { noCoverage } from "../../../src/core/env/coverage-points.ts";
import { noFailpoints, silentLogger } from "../../../src/core/env/environment.ts";
import { Replica, defaultRaftTuning, type ReplicaOptions } from "../../../src/core/replica/replica.ts";
import { NodeStateMachine, type NodeQuery, type NodeQueryResult, type NodeResult } from "../../../src/core/replica/node-state-machine.ts";
import { RequestPath, type RequestPathOptions } from "../../../src/core/replica/request-path.ts";
import type { ClientRequest, RequestOutcome } from "../../../src/core/replica/request-types.ts";
import type { ConfState, NodeId } from "../../../src/core/raft/types.ts";
import { RaftStorage } from "../../../src/core/storage/raft-storage.ts";
import { StorageError } from "../../../src/core/storage/storage-error.ts";
import { EventQueue } from "../../../src/core/sim/event-queue.ts";
import { Prng } from "../../../src/core/sim/prng.ts";
import { seedFromNumber } from "../../../src/core/sim/seed.ts";
import { SimClock, SimTimers } from "../../../src/core/sim/sim-clock.ts";
import { SimDisk } from "../../../src/core/sim/sim-disk.ts";

export const replicaOptions: ReplicaOptions = {
  tickMs: 10,
  raft: defaultRaftTuning,
  snapshotEveryEntries: 1_000,
  maxPendingRequests: 100,
  requestTimeoutMs: 500,
};

export const pathOptions: RequestPathOptions = { forwardTimeoutMs: 800, forwardsPendingMax: 8, sweepIntervalMs: 50 };

/** The test's own client endpoint (not a node). */
export const CLIENT = 100;

type Receiver = (from: EndpointId, bytes: Uint8Array) => ReceiveVerdict;

export class PathCluster {
  readonly queue = new EventQueue(1_000_000);
  readonly replicas = new Map<NodeId, Replica<NodeResult, NodeQuery, NodeQueryResult>>();
  readonly paths = new Map<NodeId, RequestPath>();
  readonly machines = new Map<NodeId, NodeStateMachine>();
  readonly envs = new Map<NodeId, Environment>();
  private readonly receivers = new Map<string, Receiver>();
  private readonly timers = new Map<NodeId, SimTimers>();
  /** Directed links ("from>to") on which sends are refused at once (send returns false). */
  readonly refused = new Set<string>();
  /** Directed links on which client-channel bytes are accepted and then lost. */
  readonly blackHoled = new Set<string>();
  /** Nodes cut off entirely (both channels, both directions; sends still return true). */
  readonly isolated = new Set<NodeId>();
  /** Timers the request paths armed (the sweep), counted per node. */
  readonly pathTimersArmed = new Map<NodeId, number>();
  /** Frames the test client received. */
  readonly clientInbox: Array<{ from: EndpointId; bytes: Uint8Array }> = [];
  private readonly seed = seedFromNumber(11);

  private readonly options: RequestPathOptions;
  /** The bootstrap voters (`ids` unless given): other nodes start as non-members, as a joining node does. */
  readonly voters: readonly NodeId[];

  constructor(
    readonly ids: readonly NodeId[],
    options: Partial<RequestPathOptions> = {},
    voters: readonly NodeId[] = ids,
  ) {
    this.options = { ...pathOptions, ...options };
    this.voters = voters;
    this.receivers.set(`${CLIENT}/client`, (from, bytes) => {
      this.clientInbox.push({ from, bytes });
      return "ok";
    });
    for (const id of ids) this.start(id);
  }

  /** Starts a node (with a fresh disk); a node not among the voters starts with an empty membership. */
  start(id: NodeId): void {
    const options = this.options;
    const clock = new SimClock(this.queue, 0, 0);
    const timers = new SimTimers(this.queue, clock, (callback) => callback(), 10_000);
    this.timers.set(id, timers);
    const disk = new SimDisk({ random: Prng.stream(this.seed, `disk-${id}`), schedule: (ms, cb) => this.queue.after(Math.round(ms * 1000), cb) });
    const env: Environment = {
      nodeId: id,
      monotonic: clock,
      wall: clock,
      timers,
      random: Prng.stream(this.seed, `node-${id}`),
      disk,
      transport: {
        send: (channel, to, bytes) => this.send(id, channel, to, bytes),
        receive: (channel, handler) => {
          assert.ok(!this.receivers.has(`${id}/${channel}`), "one receiver per channel");
          this.receivers.set(`${id}/${channel}`, handler);
        },
      },
      log: silentLogger,
      failpoint: noFailpoints,
      reached: noCoverage,
    };
    const bootstrap: ConfState = this.voters.includes(id) ? { voters: [...this.voters], learners: [] } : { voters: [], learners: [] };
    let storage: RaftStorage | undefined;
    RaftStorage.open(disk, { nodeId: id, clusterId: "test" }, bootstrap, {}, (result) => {
      assert.ok(!(result instanceof StorageError), String(result));
      storage = result;
    });
    this.runUntil(() => storage !== undefined, 1_000);
    const machine = new NodeStateMachine();
    const replica = new Replica(env, storage!, machine, replicaOptions);
    // The path arms its timers through a counting wrapper: the sweep is the only timer it uses.
    const countingTimers: Timers = {
      after: (delayMs, callback) => {
        this.pathTimersArmed.set(id, (this.pathTimersArmed.get(id) ?? 0) + 1);
        return timers.after(delayMs, callback);
      },
      cancel: (handle) => timers.cancel(handle),
    };
    const path = new RequestPath({ ...env, timers: countingTimers }, replica, machine, options);
    this.replicas.set(id, replica);
    this.paths.set(id, path);
    this.machines.set(id, machine);
    this.envs.set(id, env);
    replica.start();
  }

  private send(from: NodeId, channel: ChannelName, to: EndpointId, bytes: Uint8Array): boolean {
    const link = `${from}>${to}`;
    if (this.refused.has(link)) return false;
    if (channel === "client" && this.blackHoled.has(link)) return true;
    if (this.isolated.has(from) || this.isolated.has(to as NodeId)) return true;
    const copy = new Uint8Array(bytes);
    this.queue.after(1_000, () => {
      if (this.isolated.has(from) || this.isolated.has(to as NodeId)) return;
      const receiver = this.receivers.get(`${to}/${channel}`);
      if (receiver === undefined) return;
      if (to !== CLIENT && this.replicas.get(to as NodeId)?.isStopped === true) return;
      assert.equal(receiver(from, copy), "ok", `node ${to} refused a ${channel} frame from ${from}`);
    });
    return true;
  }

  /** Stops a node as a kill would: replica, path and timers; nothing more leaves it. */
  crash(id: NodeId): void {
    this.isolated.add(id);
    this.paths.get(id)!.stop();
    this.replicas.get(id)!.stop();
    this.timers.get(id)!.shutdown();
  }

  runUntil(condition: () => boolean, budgetMs: number): void {
    runQueueUntil(this.queue, condition, budgetMs);
  }

  runFor(ms: number): void {
    const endUs = this.queue.timeUs + ms * 1000;
    while (this.queue.peekTimeUs() !== undefined && this.queue.peekTimeUs()! <= endUs) this.queue.runNext();
  }

  leader(): NodeId {
    this.runUntil(() => this.voters.some((id) => this.replicas.get(id)!.core.currentRole() === "leader"), 5_000);
    const leader = this.voters.find((id) => this.replicas.get(id)!.core.currentRole() === "leader")!;
    // Every follower knows it (so they forward rather than answer no-leader).
    this.runUntil(() => this.voters.every((id) => this.isolated.has(id) || this.replicas.get(id)!.core.currentLeader() === leader), 5_000);
    return leader;
  }

  follower(leader: NodeId): NodeId {
    return this.voters.find((id) => id !== leader && !this.isolated.has(id))!;
  }

  /** Submits through a node's path; returns a reader of the outcome (undefined while pending). */
  submit(id: NodeId, request: ClientRequest): () => RequestOutcome | undefined {
    let outcome: RequestOutcome | undefined;
    this.paths.get(id)!.submit(request, (o) => {
      assert.equal(outcome, undefined, "one outcome per request");
      outcome = o;
    });
    return () => outcome;
  }

  /** Submits and runs until the outcome is known. */
  outcomeOf(id: NodeId, request: ClientRequest, budgetMs = 3_000): RequestOutcome {
    const outcome = this.submit(id, request);
    this.runUntil(() => outcome() !== undefined, budgetMs);
    return outcome()!;
  }

  /** The test client sends a raw frame to a node's client channel. */
  clientSends(to: NodeId, bytes: Uint8Array): ReceiveVerdict {
    return this.clientSendsAs(CLIENT, to, bytes);
  }

  /** A raw frame handed to a node's client channel as if it came from `from`. */
  clientSendsAs(from: EndpointId, to: NodeId, bytes: Uint8Array): ReceiveVerdict {
    return this.receivers.get(`${to}/client`)!(from, bytes);
  }
}

