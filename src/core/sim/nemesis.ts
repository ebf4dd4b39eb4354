// The nemesis: injects the faults of a profile on a schedule drawn from the "faults"
// PRNG stream (and nothing else), so the same seed and profile give the same faults,
// and the workload's randomness never shifts when a fault kind is added.
// At most one partition is active at a time; crashes respect the profile's bound on
// nodes down; everything heals at profile.healAtFraction of the run.
// A crash is of one of two kinds (CrashKind), drawn by the profile's crashKindWeights: a
// process kill (every write the process made survives) or a host crash (unsynced writes lost
// or torn). Both count as "crash" faults; crashKinds counts them apart.
// Every step is drawn as a concrete event (fault-schedule.ts) and then inflicted by the one apply
// path; the steps are recorded, and a schedule given instead of the PRNG is replayed through it.

import { assert } from "../assert.ts";
import type { CrashKind } from "../env/environment.ts";
import type { NodeId } from "../raft/types.ts";
import type { EventQueue } from "./event-queue.ts";
import { CRASH_KINDS, FAULT_KINDS, PARTITION_SHAPES, type FaultKind, type FaultProfile, type PartitionShape } from "./fault-profile.ts";
import type { LinkProfile, SimNetwork } from "./network.ts";
import type { Prng } from "./prng.ts";
import { FAULT_SCHEDULE_EVENTS_MAX, validateFaultSchedule, type FaultEvent, type FaultSchedule } from "./fault-schedule.ts";

export interface NemesisTarget {
  readonly nodeIds: readonly NodeId[];
  isUp(nodeId: NodeId): boolean;
  crash(nodeId: NodeId, kind: CrashKind): void;
  restart(nodeId: NodeId): void;
  jumpClock(nodeId: NodeId, deltaUs: number): void;
  /** Freezes a running node until `untilUs`: it handles nothing meanwhile, then its backlog in order. */
  pause(nodeId: NodeId, untilUs: number): void;
  /** Fills a node's disk: from now on only `slackBytes` more fit. */
  fillDisk(nodeId: NodeId, slackBytes: number): void;
  /** Gives a filled disk its space back. */
  freeDisk(nodeId: NodeId): void;
  /** The node that currently leads in the highest term, or 0. */
  leaderId(): NodeId;
  /** The network between nodes (node endpoints are their ids). */
  readonly network: SimNetwork<unknown>;
  /** Something for the trace: the nemesis acted. */
  note(kind: FaultKind, detail: number): void;
}

export type FaultCounts = Record<FaultKind, number>;
export type CrashKindCounts = Record<CrashKind, number>;

/** Stable numbers for the trace (a crash note's detail is code * 1000 + node). */
export const CRASH_KIND_CODES: Readonly<Record<CrashKind, number>> = { "host-crash": 0, "process-kill": 1 };

export class Nemesis {
  readonly counts: FaultCounts = { partition: 0, crash: 0, "clock-jump": 0, clog: 0, "loss-burst": 0, pause: 0, "disk-full": 0 };
  /** Nodes whose disk is full now, ascending. */
  private fullDisks: NodeId[] = [];
  /** The crash faults by kind: they sum to counts.crash. */
  readonly crashKinds: CrashKindCounts = { "process-kill": 0, "host-crash": 0 };
  private readonly totalWeight: number;
  private blockedLinks: Array<[NodeId, NodeId]> = [];
  private partitionGeneration = 0;
  private readonly lossBursts = new Map<string, LinkProfile>();
  private healed = false;
  /** Every step taken, as drawn or replayed (fault-schedule.ts). */
  private readonly recorded: FaultEvent[] = [];

  /** With `replay`, the nemesis draws nothing and inflicts that schedule's events instead (fault-schedule.ts). */
  constructor(
    private readonly queue: EventQueue,
    private readonly random: Prng,
    private readonly profile: FaultProfile,
    private readonly target: NemesisTarget,
    private readonly replay?: FaultSchedule,
  ) {
    this.totalWeight = FAULT_KINDS.reduce((sum, kind) => sum + profile.weights[kind], 0);
    if (replay !== undefined) validateFaultSchedule(replay, target.nodeIds.length);
  }

  /** Schedules the faults until `healAtUs`, when everything is healed. */
  start(healAtUs: number): void {
    this.queue.at(healAtUs, () => this.healAll());
    if (this.replay !== undefined) return this.replayFrom(0, healAtUs);
    if (this.totalWeight === 0) return;
    this.scheduleNext(healAtUs);
  }

  get isHealed(): boolean {
    return this.healed;
  }

  /** The steps taken so far: replaying them reproduces this run. */
  get schedule(): FaultSchedule {
    return this.recorded;
  }

  private scheduleNext(healAtUs: number): void {
    const [min, max] = this.profile.nemesisIntervalMs;
    const delayUs = this.random.intBetween(min * 1000, max * 1000);
    if (this.queue.timeUs + delayUs >= healAtUs) return;
    this.queue.after(delayUs, () => {
      if (this.healed) return;
      this.apply(this.draw(this.drawKind()));
      this.scheduleNext(healAtUs);
    });
  }

  /** The replayed steps are scheduled one from the previous, as the drawn ones were, so ties in the queue fall the same way. */
  private replayFrom(index: number, healAtUs: number): void {
    const schedule = this.replay!;
    let next = index;
    while (next < schedule.length && schedule[next]!.atUs < this.queue.timeUs) next++;
    if (next >= schedule.length || schedule[next]!.atUs >= healAtUs) return;
    const event = schedule[next]!;
    this.queue.at(event.atUs, () => {
      if (this.healed) return;
      this.apply(event);
      this.replayFrom(next + 1, healAtUs);
    });
  }

  private drawKind(): FaultKind {
    let draw = this.random.intBelow(this.totalWeight);
    for (const kind of FAULT_KINDS) {
      const weight = this.profile.weights[kind];
      if (draw < weight) return kind;
      draw -= weight;
    }
    assert(false, "fault weights do not cover the draw");
  }

  /** Draws one step's fault, concretely: the same draws, in the same order, as the nemesis has always made. */
  private draw(kind: FaultKind): FaultEvent {
    const atUs = this.queue.timeUs;
    const none: FaultEvent = { atUs, kind: "none" };
    const ids = this.target.nodeIds;
    switch (kind) {
      case "partition": {
        if (ids.length < 2) return none;
        const shape = this.drawShape();
        const blocked: Array<[NodeId, NodeId]> = [];
        const node = this.victim(ids);
        if (shape === "isolate" || shape === "minority") {
          // Symmetric: one node isolated, or a minority (containing the victim) cut from the rest.
          const size = shape === "isolate" ? 1 : 1 + this.random.intBelow(Math.max(1, Math.floor((ids.length - 1) / 2)));
          const side = [node, ...this.shuffled(ids.filter((id) => id !== node)).slice(0, size - 1)];
          for (const a of side) for (const b of ids) if (!side.includes(b)) blocked.push([a, b], [b, a]);
        } else if (shape === "deaf") {
          // Asymmetric: the node can send but not receive.
          for (const other of ids) if (other !== node) blocked.push([other, node]);
        } else {
          // Asymmetric: the node can receive but not send.
          for (const other of ids) if (other !== node) blocked.push([node, other]);
        }
        const [min, max] = this.profile.partitionDurationMs;
        return { atUs, kind, shape, node, blocked, durationUs: this.random.intBetween(min * 1000, max * 1000) };
      }
      case "crash": {
        const up = ids.filter((id) => this.target.isUp(id));
        if (ids.length - up.length >= this.maxDown() || up.length === 0) return none;
        const node = this.victim(up);
        const crashKind = this.drawCrashKind();
        const [min, max] = this.profile.crashDowntimeMs;
        return { atUs, kind, node, crashKind, downtimeUs: this.random.intBetween(min * 1000, max * 1000) };
      }
      case "clock-jump": {
        const node = this.random.pick(ids);
        const maxUs = this.profile.clockJumpMaxMs * 1000;
        return { atUs, kind, node, deltaUs: this.random.intBetween(-maxUs, maxUs) };
      }
      case "clog": {
        if (ids.length < 2) return none;
        const node = this.victim(ids);
        const [min, max] = this.profile.clogDurationMs;
        const durationUs = this.random.intBetween(min * 1000, max * 1000);
        // Either all of a node's outbound links, or all its inbound ones.
        return { atUs, kind, node, durationUs, outbound: this.random.chance(0.5) };
      }
      case "loss-burst": {
        const node = this.victim(ids);
        const [min, max] = this.profile.lossBurstDurationMs;
        return { atUs, kind, node, durationUs: this.random.intBetween(min * 1000, max * 1000) };
      }
      case "pause": {
        const up = ids.filter((id) => this.target.isUp(id));
        if (up.length === 0) return none;
        const node = this.victim(up);
        const [min, max] = this.profile.pauseDurationMs;
        return { atUs, kind, node, durationUs: this.random.intBetween(min * 1000, max * 1000) };
      }
      case "disk-full": {
        const candidates = ids.filter((id) => !this.fullDisks.includes(id));
        if (candidates.length === 0) return none;
        const node = this.victim(candidates);
        const [slackMin, slackMax] = this.profile.diskFullSlackBytes;
        const slackBytes = this.random.intBetween(slackMin, slackMax);
        const [min, max] = this.profile.diskFullDurationMs;
        return { atUs, kind, node, slackBytes, durationUs: this.random.intBetween(min * 1000, max * 1000) };
      }
    }
  }

  private maxDown(): number {
    const ids = this.target.nodeIds;
    return this.profile.maxCrashed === "minority" ? Math.floor((ids.length - 1) / 2) : ids.length;
  }

  /**
   * Inflicts one step's fault, drawn or replayed: the one path both take. A replayed event that no
   * longer applies (its node down, beyond the crash bound, its disk full already) is recorded as "none".
   */
  private apply(event: FaultEvent): void {
    assert(event.atUs === this.queue.timeUs, "a fault step runs at its time");
    const ids = this.target.nodeIds;
    const applies =
      event.kind === "none" ||
      (ids.includes(event.node) &&
        (event.kind === "crash"
          ? this.target.isUp(event.node) && ids.filter((id) => !this.target.isUp(id)).length < this.maxDown()
          : event.kind === "pause"
            ? this.target.isUp(event.node)
            : event.kind === "disk-full"
              ? !this.fullDisks.includes(event.node)
              : true));
    if (!applies) {
      this.recorded.push({ atUs: event.atUs, kind: "none" });
      return;
    }
    assert(this.recorded.length < FAULT_SCHEDULE_EVENTS_MAX, "fault schedule longer than its bound");
    this.recorded.push(event);
    switch (event.kind) {
      case "none":
        return;
      case "partition": {
        this.healPartition();
        const blocked = event.blocked.filter(([from, to]) => ids.includes(from) && ids.includes(to)).map(([from, to]): [NodeId, NodeId] => [from, to]);
        for (const [from, to] of blocked) this.target.network.setBlocked(from, to, true);
        this.blockedLinks = blocked;
        const generation = ++this.partitionGeneration;
        this.counts.partition++;
        this.target.note("partition", PARTITION_SHAPES.indexOf(event.shape) * 100 + event.node);
        this.queue.after(event.durationUs, () => {
          if (generation === this.partitionGeneration) this.healPartition();
        });
        return;
      }
      case "crash": {
        const node = event.node;
        this.target.crash(node, event.crashKind);
        this.counts.crash++;
        this.crashKinds[event.crashKind]++;
        assert(this.crashKinds["process-kill"] + this.crashKinds["host-crash"] === this.counts.crash, "crash kinds do not sum to the crashes");
        this.target.note("crash", CRASH_KIND_CODES[event.crashKind] * 1000 + node);
        this.queue.after(event.downtimeUs, () => {
          if (!this.target.isUp(node)) this.target.restart(node);
        });
        return;
      }
      case "clock-jump":
        this.target.jumpClock(event.node, event.deltaUs);
        this.counts["clock-jump"]++;
        this.target.note("clock-jump", event.node);
        return;
      case "clog": {
        const untilUs = this.queue.timeUs + event.durationUs;
        for (const other of ids) {
          if (other === event.node) continue;
          if (event.outbound) this.target.network.clog(event.node, other, untilUs);
          else this.target.network.clog(other, event.node, untilUs);
        }
        this.counts.clog++;
        this.target.note("clog", event.node);
        return;
      }
      case "loss-burst": {
        const links: Array<[NodeId, NodeId]> = [];
        for (const other of ids) if (other !== event.node) links.push([event.node, other], [other, event.node]);
        for (const [from, to] of links) {
          const key = `${from}>${to}`;
          const original = this.lossBursts.get(key) ?? this.target.network.link(from, to);
          this.lossBursts.set(key, original);
          this.target.network.setLink(from, to, { ...original, lossProbability: Math.max(original.lossProbability, this.profile.lossBurstProbability) });
        }
        this.counts["loss-burst"]++;
        this.target.note("loss-burst", event.node);
        this.queue.after(event.durationUs, () => {
          for (const [from, to] of links) this.restoreLink(from, to);
        });
        return;
      }
      case "pause":
        this.target.pause(event.node, this.queue.timeUs + event.durationUs);
        this.counts.pause++;
        this.target.note("pause", event.node);
        return;
      case "disk-full": {
        const node = event.node;
        this.target.fillDisk(node, event.slackBytes);
        this.fullDisks = [...this.fullDisks, node].sort((a, b) => a - b);
        this.counts["disk-full"]++;
        this.target.note("disk-full", node);
        this.queue.after(event.durationUs, () => this.freeDisk(node));
        return;
      }
    }
  }

  /** A node to hurt: the leader with the profile's probability (when there is one), else any of `candidates`. */
  private victim(candidates: readonly NodeId[]): NodeId {
    if (this.random.chance(this.profile.targetLeaderProbability)) {
      const leader = this.target.leaderId();
      if (leader !== 0 && candidates.includes(leader)) return leader;
    }
    return this.random.pick(candidates);
  }

  private drawShape(): PartitionShape {
    const weights = this.profile.partitionShapeWeights;
    let draw = this.random.intBelow(PARTITION_SHAPES.reduce((sum, shape) => sum + weights[shape], 0));
    for (const shape of PARTITION_SHAPES) {
      if (draw < weights[shape]) return shape;
      draw -= weights[shape];
    }
    assert(false, "partition shape weights do not cover the draw");
  }

  private healPartition(): void {
    for (const [from, to] of this.blockedLinks) this.target.network.setBlocked(from, to, false);
    this.blockedLinks = [];
    this.partitionGeneration++;
  }

  /** Draws only when both kinds are possible, so a profile of one kind keeps its schedule. */
  private drawCrashKind(): CrashKind {
    const weights = this.profile.crashKindWeights;
    const total = CRASH_KINDS.reduce((sum, kind) => sum + weights[kind], 0);
    assert(total > 0, "a crash with no crash kind weighted");
    for (const kind of CRASH_KINDS) if (weights[kind] === total) return kind;
    let draw = this.random.intBelow(total);
    for (const kind of CRASH_KINDS) {
      if (draw < weights[kind]) return kind;
      draw -= weights[kind];
    }
    assert(false, "crash kind weights do not cover the draw");
  }

  private freeDisk(node: NodeId): void {
    if (!this.fullDisks.includes(node)) return;
    this.fullDisks = this.fullDisks.filter((id) => id !== node);
    this.target.freeDisk(node);
  }

  private restoreLink(from: NodeId, to: NodeId): void {
    const key = `${from}>${to}`;
    const original = this.lossBursts.get(key);
    if (original === undefined) return;
    this.lossBursts.delete(key);
    this.target.network.setLink(from, to, original);
  }

  private healAll(): void {
    this.healed = true;
    this.healPartition();
    this.target.network.healAll();
    for (const key of [...this.lossBursts.keys()].sort()) {
      const [from, to] = key.split(">").map(Number) as [number, number];
      this.restoreLink(from, to);
    }
    for (const node of [...this.fullDisks]) this.freeDisk(node);
    for (const id of this.target.nodeIds) if (!this.target.isUp(id)) this.target.restart(id);
  }

  private shuffled(ids: readonly NodeId[]): NodeId[] {
    const copy = [...ids];
    for (let i = copy.length - 1; i > 0; i--) {
      const j = this.random.intBelow(i + 1);
      [copy[i], copy[j]] = [copy[j]!, copy[i]!];
    }
    return copy;
  }
}
