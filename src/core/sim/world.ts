// The simulated world: one event queue and virtual clock, N hosts (each with its own drifting
// clock, random stream and SimDisk), the SimNetwork between hosts and clients, and the
// processes that run on hosts. A host process sees exactly one Environment
// (src/core/env/environment.ts), built here: the host's clocks, the process's timers, the
// host's disk, and a transport carrying every channel's bytes over the simulated network
// (the host transport, below).
//
// Nothing here knows what runs on a host: the cluster (cluster.ts) starts and stops processes,
// the simulation (simulation.ts) decides what a failure is. Every event that runs host code
// goes through runOnHost() (or deliverToHost() for the most frequent one, a peer message): it
// holds the event back while the host is paused or its CPU is busy, folds it into the trace
// hash, turns a throw inside host code into a reported failure, and runs the per-step checks.
//
// The host transport. A process sends on any channel (Transport.send): raft to other hosts,
// client to hosts and client endpoints; the bytes travel the SimNetwork with their size, so
// the frame limit, the per-link queue bound and the link's bandwidth apply as over TCP, and
// send returns what the network says (false: certainly never left). At a host the bytes go
// to the process's receiver for that channel; with none (down, still opening its storage,
// or not serving that channel) they are dropped and counted, as the TCP transport drops a
// frame for a channel without a receiver. At a client endpoint they go to the receiver the
// simulated clients registered with receiveAtClients(); clients send with sendFromClient().

import { FailpointDisk } from "../failpoints/failpoint-disk.ts";
import { assert } from "../assert.ts";
import type { ChannelName, EndpointId, Environment, Failpoint, Logger, ReceiveVerdict } from "../env/environment.ts";
import { CHANNEL_NAMES, silentLogger } from "../env/environment.ts";
import type { CoverageHook } from "../env/coverage-points.ts";
import type { NodeId } from "../raft/types.ts";
import { CHANNEL_TAGS } from "../wire/channel-frame.ts";
import { EventQueue, type EventTarget } from "./event-queue.ts";
import type { FaultProfile } from "./fault-profile.ts";
import { SimNetwork, type LinkProfile, type NetworkLimits } from "./network.ts";
import { Prng } from "./prng.ts";
import type { Seed } from "./seed.ts";
import { SimClock, SimTimers, drawClockDriftPpm } from "./sim-clock.ts";
import { SimDisk } from "./sim-disk.ts";
import { SimTrace, TRACE } from "./trace.ts";

/** One channel message in flight: the channel's own bytes (the raft channel: the wire codec's), exactly as over TCP. */
export interface ChannelBytes {
  readonly channel: ChannelName;
  readonly bytes: Uint8Array;
}

type ChannelReceiver = (from: EndpointId, bytes: Uint8Array) => ReceiveVerdict;
/** The simulated clients' side of a channel: bytes from `from` arrived at client endpoint `to`. */
export type ClientEndpointReceiver = (from: EndpointId, to: EndpointId, bytes: Uint8Array) => void;

/** What the host transport dropped at arrival because nobody receives that channel there. */
export type ChannelDropCounts = Record<ChannelName, number>;

/** One run of a process on a host, from start to crash (or refusal to start). */
export interface HostProcess {
  readonly host: SimHost;
  /** 1 for the first start, +1 per restart. */
  readonly number: number;
  readonly timers: SimTimers;
  readonly env: Environment;
  alive: boolean;
  /** The raft channel's receiver, set by the process (the replica's RaftChannel): the hot path, kept apart. */
  raftReceiver: ChannelReceiver | undefined;
  /** The other channels' receivers, set by the process. */
  readonly receivers: Map<ChannelName, ChannelReceiver>;
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
  /** The frame limit and the per-link queue bound (the TCP transport's, src/core/wire). */
  readonly networkLimits: NetworkLimits;
  readonly timersPerHostMax: number;
  /** CPU time every event costs its host (FaultProfile.cpuEventUs). */
  readonly cpuEventUs: number;
  /** Each host's Environment.failpoint (the run's driver's, or noFailpoints). */
  readonly failpointFor: (hostId: NodeId) => Failpoint;
  /** Every host process's Environment.reached (the run's coverage counter, or noCoverage). */
  readonly reached: CoverageHook;
  /** The corruption consent: may these bytes of this host's disk be corrupted? */
  readonly mayCorrupt: (hostId: NodeId, name: string, offset: number, length: number) => boolean;
  /** Receives one line per event when set (--trace). */
  readonly traceLines: ((line: string) => void) | undefined;
}

/** What the world asks of whoever runs it. */
export interface WorldHooks {
  /** True once the run has failed: no more host code runs. */
  stopped(): boolean;
  /** Host code threw (an assertion failure, or any other error). */
  threw(host: SimHost, error: unknown): void;
  /** Host code ran one event: check what must hold after every step. */
  afterStep(host: SimHost): void;
  /** A raft-channel message leaves a host (before the network sees it). */
  raftSent(host: SimHost, to: EndpointId, bytes: Uint8Array): void;
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

export class World implements HostWorld {
  readonly queue: EventQueue;
  readonly trace: SimTrace;
  /** Every message of a run is one channel's bytes. */
  readonly network: SimNetwork<ChannelBytes>;
  /** Channel messages that arrived where nobody receives their channel (a process down or starting, a channel not served). */
  readonly droppedWithoutReceiver: ChannelDropCounts = { raft: 0, client: 0, agent: 0 };
  readonly hosts: SimHost[] = [];
  readonly hostIds: NodeId[] = [];
  /** Endpoint of client i is firstClientEndpoint + i (hosts are 1..hostCount). */
  readonly firstClientEndpoint: number;
  private readonly timersPerHostMax: number;
  private readonly cpuEventUs: number;
  /** Host i's failpoint hook at index i - 1. */
  private readonly failpoints: Failpoint[] = [];
  private readonly reached: CoverageHook;
  private readonly hooks: WorldHooks;
  private readonly clientReceivers = new Map<ChannelName, ClientEndpointReceiver>();

  constructor(options: WorldOptions, hooks: WorldHooks) {
    assert(Number.isSafeInteger(options.hostCount) && options.hostCount >= 1, "host count out of range");
    this.hooks = hooks;
    this.timersPerHostMax = options.timersPerHostMax;
    assert(Number.isSafeInteger(options.cpuEventUs) && options.cpuEventUs >= 0, "event cost must be a non-negative integer");
    this.cpuEventUs = options.cpuEventUs;
    this.reached = options.reached;
    const profile = options.profile;
    const seed = options.seed;
    this.queue = new EventQueue(options.eventQueueMax);
    this.trace = new SimTrace(this.queue, options.traceLines);
    for (let id = 1; id <= options.hostCount; id++) {
      this.hostIds.push(id);
      this.failpoints.push(options.failpointFor(id));
    }
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
    this.network = new SimNetwork<ChannelBytes>(
      this.queue,
      Prng.stream(seed, "network"),
      endpointCount,
      clientLink,
      options.networkLimits,
      (from, to, payload) => this.deliver(from, to, payload),
      (payload) => payload.bytes.length,
    );
    const [bandwidthMin, bandwidthMax] = profile.linkBandwidthBytesPerSecond;
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
          // Drawn last and only from a real range, so a profile of one bandwidth keeps every other link draw.
          bandwidthBytesPerSecond: bandwidthMax > bandwidthMin ? linkRandom.intBetween(bandwidthMin, bandwidthMax) : bandwidthMin,
        });
      }
    }

    const clockRandom = Prng.stream(seed, "clocks");
    for (const id of this.hostIds) {
      // A queue event on the host's disk target (no closure per disk completion); the host is hosts[id - 1],
      // pushed below, before any disk operation can run.
      const diskEvents: EventTarget = { fire: (_code, callback) => this.runOnHost(this.hosts[id - 1]!, TRACE.disk, 0, callback as () => void) };
      const offsetUs = clockRandom.intBetween(-profile.clockOffsetMaxMs * 1000, profile.clockOffsetMaxMs * 1000);
      const driftPpm = drawClockDriftPpm(clockRandom, profile.clockDriftMaxPpm, profile.clockDriftAtBound === true);
      const disk = new SimDisk({
        random: Prng.stream(seed, `disk-${id}`),
        location: `sim host ${id}`,
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
    const failpoint = this.failpoints[host.id - 1]!;
    const env: Environment = {
      nodeId: host.id,
      monotonic: host.clock,
      wall: host.clock,
      timers,
      random: host.random,
      // The storage failpoints (docs/FAILPOINTS.md) wrap the host's disk for this process: its delays die with its timers.
      disk: new FailpointDisk(host.disk, failpoint, timers),
      transport: {
        send: (channel, to, bytes) => this.sendFromHost(process!, channel, to, bytes),
        receive: (channel, handler) => {
          assert(CHANNEL_NAMES.includes(channel), () => `no channel ${String(channel)}`);
          if (channel === "raft") {
            assert(process!.raftReceiver === undefined, "a second receiver for the raft channel");
            process!.raftReceiver = handler;
            return;
          }
          assert(!process!.receivers.has(channel), () => `a second receiver for the ${channel} channel`);
          process!.receivers.set(channel, handler);
        },
      },
      log: silentLogger as Logger,
      failpoint,
      reached: this.reached,
    };
    process = { host, number, timers, env, alive: true, raftReceiver: undefined, receivers: new Map() };
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
    this.trace.event(TRACE.deliver, host.id, bytes[1] ?? 0, 0);
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

  /** Sets the simulated clients' one receiver of a channel: bytes that arrive at any client endpoint on it. */
  receiveAtClients(channel: ChannelName, receiver: ClientEndpointReceiver): void {
    assert(channel !== "raft", "clients do not speak the raft channel");
    assert(!this.clientReceivers.has(channel), () => `a second client receiver for the ${channel} channel`);
    this.clientReceivers.set(channel, receiver);
  }

  /** A simulated client sends channel bytes to a host; false when they certainly never left (frame limit, queue bound). */
  sendFromClient(channel: ChannelName, fromEndpoint: EndpointId, toHost: NodeId, bytes: Uint8Array): boolean {
    assert(channel !== "raft", "clients do not speak the raft channel");
    if (!(fromEndpoint >= this.firstClientEndpoint && toHost >= 1 && toHost <= this.hosts.length)) assert(false, `client endpoint ${fromEndpoint} sent to ${toHost}`);
    return this.network.send(fromEndpoint, toHost, { channel, bytes }, false);
  }

  private sendFromHost(process: HostProcess, channel: ChannelName, to: EndpointId, bytes: Uint8Array): boolean {
    if (!process.alive) return false;
    const host = process.host;
    // Checks as `if (!...) assert(false, ...)`: no message closure per message sent.
    if (channel === "raft") {
      if (!(to >= 1 && to <= this.hosts.length && to !== host.id)) assert(false, `node ${host.id} sent a raft message to endpoint ${to}`);
      this.hooks.raftSent(host, to, bytes);
    } else {
      if (!CHANNEL_NAMES.includes(channel)) assert(false, `no channel ${String(channel)}`);
      if (!(to >= 1 && to <= this.network.endpointCount && to !== host.id)) assert(false, `node ${host.id} sent on the ${channel} channel to endpoint ${to}`);
    }
    // Only the raft channel may be duplicated: the others ride a connection (a duplicated forward would apply twice).
    return this.network.send(host.id, to, { channel, bytes }, channel === "raft");
  }

  private deliver(from: EndpointId, to: EndpointId, payload: ChannelBytes): void {
    const channel = payload.channel;
    if (to >= this.firstClientEndpoint) {
      const receiver = this.clientReceivers.get(channel);
      if (receiver === undefined) {
        this.droppedWithoutReceiver[channel]++;
        return;
      }
      this.trace.event(TRACE.deliver, to, CHANNEL_TAGS[channel], 0);
      receiver(from, to, payload.bytes);
      return;
    }
    const host = this.hosts[to - 1]!;
    const process = host.process;
    // Down, or still opening its storage (receivers are set when the replica is built), or not serving the channel: lost.
    const receiver = channel === "raft" ? process?.raftReceiver : process?.receivers.get(channel);
    if (process === undefined || receiver === undefined) {
      this.droppedWithoutReceiver[channel]++;
      return;
    }
    if (channel === "raft") this.trace.raftBytes(from, to, payload.bytes);
    this.deliverToHost(host, process, receiver, from, payload.bytes);
  }
}
