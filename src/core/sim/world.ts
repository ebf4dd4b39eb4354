// The simulated world: one event queue and virtual clock, N hosts (each with its own drifting
// clock, random stream and SimDisk), the SimNetwork between hosts and clients, and the
// processes that run on hosts. A host process sees exactly one Environment
// (src/core/env/environment.ts), built here: the host's clocks, the process's timers, the
// host's disk, and a transport carrying the raft channel's bytes over the simulated network.
//
// Nothing here knows what runs on a host: the cluster (cluster.ts) starts and stops processes,
// the simulation (simulation.ts) decides what a failure is. Every event that runs host code
// goes through runOnHost() (or deliverToHost() for the most frequent one, a peer message): it
// holds the event back while the host is paused or its CPU is busy, folds it into the trace
// hash, turns a throw inside host code into a reported failure, and runs the per-step checks.

import { assert } from "../assert.ts";
import type { ChannelName, EndpointId, Environment, Logger, ReceiveVerdict } from "../env/environment.ts";
import { noFailpoints, silentLogger } from "../env/environment.ts";
import type { NodeId } from "../raft/types.ts";
import { EventQueue, type EventTarget } from "./event-queue.ts";
import type { FaultProfile } from "./fault-profile.ts";
import { SimNetwork, type LinkProfile } from "./network.ts";
import { Prng } from "./prng.ts";
import type { Seed } from "./seed.ts";
import { SimClock, SimTimers } from "./sim-clock.ts";
import { SimDisk } from "./sim-disk.ts";
import { SimTrace, TRACE } from "./trace.ts";

/** Peer Raft messages travel as the wire codec's bytes (the raft channel), exactly as over TCP. */
export interface RaftBytes {
  readonly type: "raft";
  readonly bytes: Uint8Array;
}

type ChannelReceiver = (from: EndpointId, bytes: Uint8Array) => ReceiveVerdict;

/** One run of a process on a host, from start to crash (or refusal to start). */
export interface HostProcess {
  readonly host: SimHost;
  /** 1 for the first start, +1 per restart. */
  readonly number: number;
  readonly timers: SimTimers;
  readonly env: Environment;
  alive: boolean;
  /** The raft channel's receiver, set by the process (the replica's RaftChannel). */
  raftReceiver: ChannelReceiver | undefined;
}

export interface SimHost {
  readonly id: NodeId;
  readonly clock: SimClock;
  readonly random: Prng;
  readonly disk: SimDisk;
  /** The process running now, if any. */
  process: HostProcess | undefined;
  /** While true time is below this, the host is frozen: its events wait (in order) until then. */
  pausedUntilUs: number;
  /** While true time is below this, the host's CPU is busy (applying entries): its events wait (in order). */
  busyUntilUs: number;
}

export interface WorldOptions {
  readonly seed: Seed;
  readonly hostCount: number;
  readonly clientCount: number;
  readonly profile: FaultProfile;
  readonly eventQueueMax: number;
  readonly inFlightPerLinkMax: number;
  readonly timersPerHostMax: number;
  /** CPU time every event costs its host (FaultProfile.cpuEventUs). */
  readonly cpuEventUs: number;
  /** The corruption consent: may these bytes of this host's disk be corrupted? */
  readonly mayCorrupt: (hostId: NodeId, name: string, offset: number, length: number) => boolean;
  /** Receives one line per event when set (--trace). */
  readonly traceLines: ((line: string) => void) | undefined;
}

/** What the world asks of whoever runs it. */
export interface WorldHooks<Payload> {
  /** True once the run has failed: no more host code runs. */
  stopped(): boolean;
  /** Host code threw (an assertion failure, or any other error). */
  threw(host: SimHost, error: unknown): void;
  /** Host code ran one event: check what must hold after every step. */
  afterStep(host: SimHost): void;
  /** A raft-channel message leaves a host (before the network sees it). */
  raftSent(host: SimHost, to: EndpointId, bytes: Uint8Array): void;
  /** A message other than the raft channel's arrived at an endpoint. */
  deliver(from: EndpointId, to: EndpointId, payload: Payload): void;
}

/** What the cluster uses of the world: hosts, their processes, time and the trace (not the network's payloads). */
export interface HostWorld {
  readonly queue: EventQueue;
  readonly trace: SimTrace;
  readonly hosts: readonly SimHost[];
  readonly hostIds: readonly NodeId[];
  startProcess(host: SimHost, number: number): HostProcess;
  endProcess(host: SimHost): HostProcess;
  chargeCpu(host: SimHost, costUs: number): void;
  runOnHost(host: SimHost, kind: number, detail: number, action: () => void, process?: HostProcess): void;
}

export class World<Payload extends { readonly type: string }> implements HostWorld {
  readonly queue: EventQueue;
  readonly trace: SimTrace;
  readonly network: SimNetwork<RaftBytes | Payload>;
  readonly hosts: SimHost[] = [];
  readonly hostIds: NodeId[] = [];
  /** Endpoint of client i is firstClientEndpoint + i (hosts are 1..hostCount). */
  readonly firstClientEndpoint: number;
  private readonly timersPerHostMax: number;
  private readonly cpuEventUs: number;
  private readonly hooks: WorldHooks<Payload>;

  constructor(options: WorldOptions, hooks: WorldHooks<Payload>) {
    assert(Number.isSafeInteger(options.hostCount) && options.hostCount >= 1, "host count out of range");
    this.hooks = hooks;
    this.timersPerHostMax = options.timersPerHostMax;
    assert(Number.isSafeInteger(options.cpuEventUs) && options.cpuEventUs >= 0, "event cost must be a non-negative integer");
    this.cpuEventUs = options.cpuEventUs;
    const profile = options.profile;
    const seed = options.seed;
    this.queue = new EventQueue(options.eventQueueMax);
    this.trace = new SimTrace(this.queue, options.traceLines);
    for (let id = 1; id <= options.hostCount; id++) this.hostIds.push(id);
    this.firstClientEndpoint = options.hostCount + 1;
    const endpointCount = options.hostCount + options.clientCount;

    // Links: every host-to-host link draws its own latency distribution from the "network/links" stream.
    const linkRandom = Prng.stream(seed, "network/links");
    const clientLink: LinkProfile = {
      latencyMinUs: 100,
      latencyTailMeanUs: 200,
      latencyMaxUs: 10_000,
      lossProbability: profile.lossProbability / 2,
      duplicateProbability: 0, // clients speak over a connection: loss means a timeout, never a duplicate
      reorder: false,
    };
    this.network = new SimNetwork<RaftBytes | Payload>(
      this.queue,
      Prng.stream(seed, "network"),
      endpointCount,
      clientLink,
      options.inFlightPerLinkMax,
      (from, to, payload) => this.deliver(from, to, payload),
    );
    for (const from of this.hostIds) {
      for (const to of this.hostIds) {
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

    const clockRandom = Prng.stream(seed, "clocks");
    for (const id of this.hostIds) {
      // A queue event on the host's disk target (no closure per disk completion); the host is hosts[id - 1],
      // pushed below, before any disk operation can run.
      const diskEvents: EventTarget = { fire: (_code, callback) => this.runOnHost(this.hosts[id - 1]!, TRACE.disk, 0, callback as () => void) };
      const offsetUs = clockRandom.intBetween(-profile.clockOffsetMaxMs * 1000, profile.clockOffsetMaxMs * 1000);
      const driftPpm = clockRandom.intBetween(-profile.clockDriftMaxPpm, profile.clockDriftMaxPpm);
      const disk = new SimDisk({
        random: Prng.stream(seed, `disk-${id}`),
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
          mayCorrupt: (name, offset, length) => options.mayCorrupt(id, name, offset, length),
        },
      });
      assert(this.hosts.length === id - 1, "hosts are numbered 1..N in order");
      this.hosts.push({
        id,
        clock: new SimClock(this.queue, offsetUs, driftPpm),
        random: Prng.stream(seed, `node-${id}/raft`),
        disk,
        process: undefined,
        pausedUntilUs: 0,
        busyUntilUs: 0,
      });
    }
  }

  host(id: NodeId): SimHost {
    const host = this.hosts[id - 1];
    assert(host !== undefined && host.id === id, () => `no host ${id}`);
    return host;
  }

  /** Starts a process on a host that runs none: its Environment, timers and raft channel. */
  startProcess(host: SimHost, number: number): HostProcess {
    assert(host.process === undefined, () => `host ${host.id} started a second process`);
    let process: HostProcess | undefined = undefined;
    const timers = new SimTimers(this.queue, host.clock, (callback) => this.runOnHost(host, TRACE.timer, 0, callback, process), this.timersPerHostMax);
    const env: Environment = {
      nodeId: host.id,
      monotonic: host.clock,
      wall: host.clock,
      timers,
      random: host.random,
      disk: host.disk,
      transport: {
        send: (channel, to, bytes) => this.sendFromHost(process!, channel, to, bytes),
        receive: (channel, handler) => {
          assert(channel === "raft", () => `the simulator carries no ${channel} channel to nodes yet`);
          assert(process!.raftReceiver === undefined, "a second receiver for the raft channel");
          process!.raftReceiver = handler;
        },
      },
      log: silentLogger as Logger,
      failpoint: noFailpoints,
    };
    process = { host, number, timers, env, alive: true, raftReceiver: undefined };
    host.process = process;
    return process;
  }

  /** The process dies at once (a crash, or a refusal to start): nothing it armed fires, nothing it sends leaves. */
  endProcess(host: SimHost): HostProcess {
    const process = host.process;
    assert(process !== undefined, () => `host ${host.id} has no process to end`);
    process.alive = false;
    host.process = undefined;
    host.busyUntilUs = 0; // the work it was doing died with it
    host.pausedUntilUs = 0;
    process.timers.shutdown();
    return process;
  }

  /**
   * The host's CPU works for `costUs` more (after what it is already busy with): its next events
   * wait, in order, until it is done. Charged by the code that models the work (apply, per event).
   */
  chargeCpu(host: SimHost, costUs: number): void {
    assert(Number.isSafeInteger(costUs) && costUs >= 0, "CPU cost must be a non-negative integer of microseconds");
    host.busyUntilUs = Math.max(host.busyUntilUs, this.queue.timeUs) + costUs;
  }

  /** Freezes a host until `untilUs` (true time): its events wait, in order. */
  pause(host: SimHost, untilUs: number): void {
    host.pausedUntilUs = Math.max(host.pausedUntilUs, untilUs);
  }

  /** Runs host code for one event: pause, trace, throw capture, per-step checks. */
  runOnHost(host: SimHost, kind: number, detail: number, action: () => void, process: HostProcess | undefined = host.process): void {
    if (this.hooks.stopped()) return;
    if (process !== undefined && !process.alive) return;
    const heldUntilUs = host.pausedUntilUs > host.busyUntilUs ? host.pausedUntilUs : host.busyUntilUs;
    if (heldUntilUs > this.queue.timeUs) {
      // Frozen or busy: the event waits; re-queued in arrival order, so the backlog runs in order when the host is free.
      this.queue.at(heldUntilUs, () => this.runOnHost(host, kind, detail, action, process));
      return;
    }
    this.trace.event(kind, host.id, detail, 0);
    if (this.cpuEventUs !== 0) this.chargeCpu(host, this.cpuEventUs);
    try {
      action();
    } catch (error) {
      this.hooks.threw(host, error);
      return;
    }
    this.hooks.afterStep(host);
  }

  /**
   * runOnHost for the most frequent event, a peer message, without a closure per message
   * (the same checks in the same order; a closure only when a pause defers the message).
   */
  private deliverToHost(host: SimHost, process: HostProcess, receiver: ChannelReceiver, from: EndpointId, bytes: Uint8Array): void {
    if (this.hooks.stopped() || !process.alive) return;
    const heldUntilUs = host.pausedUntilUs > host.busyUntilUs ? host.pausedUntilUs : host.busyUntilUs;
    if (heldUntilUs > this.queue.timeUs) {
      this.queue.at(heldUntilUs, () => this.deliverToHost(host, process, receiver, from, bytes));
      return;
    }
    this.trace.event(TRACE.deliver, host.id, bytes[1]!, 0);
    if (this.cpuEventUs !== 0) this.chargeCpu(host, this.cpuEventUs);
    try {
      // A correct node never sends what its peer must refuse: a malformed message here is a codec or core bug.
      if (receiver(from, bytes) === "malformed") assert(false, `node ${host.id} refused a message from node ${from} as malformed`);
    } catch (error) {
      this.hooks.threw(host, error);
      return;
    }
    this.hooks.afterStep(host);
  }

  private sendFromHost(process: HostProcess, channel: ChannelName, to: EndpointId, bytes: Uint8Array): boolean {
    if (!process.alive) return false;
    const host = process.host;
    assert(channel === "raft", () => `node ${host.id} sent on the ${channel} channel, which the simulator does not carry yet`);
    assert(to >= 1 && to <= this.hosts.length && to !== host.id, () => `node ${host.id} sent to endpoint ${to}`);
    this.hooks.raftSent(host, to, bytes);
    this.network.send(host.id, to, { type: "raft", bytes });
    return true;
  }

  private deliver(from: EndpointId, to: EndpointId, payload: RaftBytes | Payload): void {
    if (isRaftBytes(payload)) {
      const host = this.hosts[to - 1]!;
      const process = host.process;
      // Down, or still opening its storage (the receiver is set when the replica is built): the message is lost.
      if (process?.raftReceiver === undefined) return;
      this.trace.raftBytes(from, to, payload.bytes);
      this.deliverToHost(host, process, process.raftReceiver, from, payload.bytes);
      return;
    }
    this.hooks.deliver(from, to, payload);
  }
}

function isRaftBytes(payload: { readonly type: string }): payload is RaftBytes {
  switch (payload.type) {
    case "raft":
      return true;
    default:
      return false;
  }
}

