// A small deterministic network of RawNodes for the core's tests: a message queue, drop and
// partition helpers, crash/restart from each node's "disk" at any point of the Ready loop, and
// a driver loop that follows the Ready contract (send the early messages, persist, send the
// rest, apply, advance). Safety is checked after every step: Election Safety, Log Matching,
// and that committed entries never change.

import { AssertionFailure } from "../../../src/core/assert.ts";
import { confStateAfterEntries } from "../../../src/core/raft/conf-change.ts";
import { RawNode } from "../../../src/core/raft/raw-node.ts";
import type { Random } from "../../../src/core/env/environment.ts";
import { Prng } from "../../../src/core/sim/prng.ts";
import { seedFromNumber } from "../../../src/core/sim/seed.ts";
import type { ConfChange, ConfState, Entry, ProposeResult, HardState, Message, NodeId, PlantedBug, RaftConfig, ReadState, Ready, Snapshot } from "../../../src/core/raft/types.ts";

export class SafetyViolation extends Error {
  constructor(
    readonly property: string,
    message: string,
  ) {
    super(`${property}: ${message}`);
    this.name = "SafetyViolation";
  }
}

/**
 * A node's randomness: a stream of the project's one PRNG family (xoshiro128**, src/core/sim/prng.ts),
 * derived from a number (each node incarnation gets its own: seed * 1000 + id, then + 7919 per restart).
 */
export function seededRandom(seed: number): Random {
  return Prng.stream(seedFromNumber(seed), "raft-harness");
}

export interface Disk {
  hardState: HardState;
  snapshot: Snapshot | undefined;
  entries: Entry[];
}

export interface SimNode {
  readonly id: NodeId;
  core: RawNode | undefined; // undefined while crashed
  readonly disk: Disk;
  readonly bootstrapConf: ConfState;
  appliedIndex: number;
  appliedConf: ConfState;
  /** Data of applied normal entries, in order (the "state machine"). */
  appliedData: string[];
  readStates: ReadState[];
  randomSeed: number;
  /** A Ready taken but not carried out yet (its fsync is "slow"): inputs keep arriving meanwhile. */
  held: Ready | undefined;
}

/** Where in its Ready loop a node crashes (see Cluster.crash). */
export type CrashPoint = "between-readies" | "before-persist" | "after-persist";

export interface ClusterOptions {
  readonly voters: readonly NodeId[];
  readonly learners?: readonly NodeId[];
  /** Nodes that exist but start with an empty membership (they join later). */
  readonly joiners?: readonly NodeId[];
  readonly seed?: number;
  readonly config?: Partial<Omit<RaftConfig, "id" | "random">>;
  readonly plantedBugs?: readonly PlantedBug[];
  /** Check safety after every step (default true). */
  readonly checkSafety?: boolean;
  /**
   * The driver-side planted bug `vote-before-persist`, in this harness: every message of a
   * Ready leaves before its persist, votes and acknowledgements included.
   */
  readonly sendEverythingEarly?: boolean;
}

export const defaultConfig: Omit<RaftConfig, "id" | "random"> = {
  electionTicks: 10,
  heartbeatTicks: 1,
  preVote: false,
  checkQuorum: false,
  maxMessageBytes: 1024 * 1024,
  maxInflightMessages: 256,
  maxInflightBytes: 16 * 1024 * 1024,
  maxUncommittedBytes: 16 * 1024 * 1024,
  maxPendingReads: 64,
};

const MAX_QUEUED_MESSAGES = 10_000;
const MAX_STABILIZE_DELIVERIES = 5_000;

export function data(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

export function text(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}

export class Cluster {
  readonly nodes = new Map<NodeId, SimNode>();
  /** Messages sent and not yet delivered, in send order. */
  queue: Message[] = [];
  /** Every message that left a Ready (for counting), cleared by the tests that count. */
  sent: Message[] = [];
  private readonly cut = new Set<string>();
  private readonly holding = new Set<NodeId>();
  /** Drop messages matching this filter when they are sent. */
  dropFilter: ((m: Message) => boolean) | undefined;
  /** Sees every message that leaves a Ready, before the drop filter (tests validate them). */
  onSend: ((m: Message) => void) | undefined;
  readonly config: Omit<RaftConfig, "id" | "random">;
  private readonly checkSafety: boolean;
  private readonly sendEverythingEarly: boolean;
  // Safety checker state.
  private readonly leaderOfTerm = new Map<number, NodeId>();
  private readonly committedEntries = new Map<number, { term: number; data: string; type: string }>();
  /** Index -> the lowest current term of a node seen holding it as committed: leaders of later terms must have it. */
  private readonly committedByTerm = new Map<number, number>();
  /** The term in which each node's log was last checked for Leader Completeness. */
  private readonly completenessCheckedTerm = new Map<NodeId, number>();
  private readonly checkedCommit = new Map<NodeId, number>();
  private maxCommitSeen = 0;
  private nextReadContext = 1;
  /** Read context -> the highest commit index anywhere when the read was requested. */
  private readonly readFloor = new Map<number, number>();

  constructor(options: ClusterOptions) {
    const seed = options.seed ?? 1;
    this.config = { ...defaultConfig, ...options.config, plantedBugs: new Set(options.plantedBugs ?? []) };
    this.checkSafety = options.checkSafety ?? true;
    this.sendEverythingEarly = options.sendEverythingEarly ?? false;
    const bootstrap: ConfState = { voters: [...options.voters].sort((a, b) => a - b), learners: [...(options.learners ?? [])].sort((a, b) => a - b) };
    const all = [...options.voters, ...(options.learners ?? []), ...(options.joiners ?? [])].sort((a, b) => a - b);
    for (const id of all) {
      const joiner = options.joiners?.includes(id) ?? false;
      const conf: ConfState = joiner ? { voters: [], learners: [] } : bootstrap;
      const node: SimNode = {
        id,
        core: undefined,
        disk: { hardState: { term: 0, vote: 0, commit: 0 }, snapshot: undefined, entries: [] },
        bootstrapConf: conf,
        appliedIndex: 0,
        appliedConf: conf,
        appliedData: [],
        readStates: [],
        randomSeed: seed * 1000 + id,
        held: undefined,
      };
      this.nodes.set(id, node);
      this.start(node);
    }
  }

  private start(node: SimNode): void {
    const recoveredConf = node.disk.snapshot?.metadata.confState ?? node.bootstrapConf;
    node.core = new RawNode(
      { ...this.config, id: node.id, random: seededRandom(node.randomSeed) },
      { hardState: node.disk.hardState, snapshot: node.disk.snapshot, entries: [...node.disk.entries], confState: recoveredConf },
    );
    node.randomSeed += 7919;
    // The state machine restarts from the snapshot; the core hands out the committed entries after it.
    node.appliedIndex = node.disk.snapshot?.metadata.index ?? 0;
    node.appliedConf = recoveredConf;
    node.appliedData = node.disk.snapshot === undefined ? [] : text(node.disk.snapshot.data).split("\n").filter((x) => x.length > 0);
    this.checkedCommit.set(node.id, 0);
  }

  node(id: NodeId): SimNode {
    const node = this.nodes.get(id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  core(id: NodeId): RawNode {
    const core = this.node(id).core;
    if (core === undefined) throw new Error(`node ${id} is down`);
    return core;
  }

  ids(): NodeId[] {
    return [...this.nodes.keys()];
  }

  up(id: NodeId): boolean {
    return this.node(id).core !== undefined;
  }

  // ------------------------------------------------------------ faults

  partition(...groups: NodeId[][]): void {
    this.cut.clear();
    for (const a of this.ids()) {
      for (const b of this.ids()) {
        if (a === b) continue;
        const ga = groups.findIndex((g) => g.includes(a));
        const gb = groups.findIndex((g) => g.includes(b));
        if (ga !== gb) this.cut.add(`${a}-${b}`);
      }
    }
  }

  isolate(id: NodeId): void {
    this.partition([id], this.ids().filter((x) => x !== id));
  }

  heal(): void {
    this.cut.clear();
  }

  /** Cut one direction only. */
  cutLink(from: NodeId, to: NodeId): void {
    this.cut.add(`${from}-${to}`);
  }

  /**
   * Stops `id`, losing its volatile state, at one of the points of its Ready loop:
   * - "between-readies": nothing of a pending Ready happens (a Ready it holds has sent its
   *   early messages already and its persist never completes);
   * - "before-persist": it takes its pending Ready, sends the messages that may precede
   *   persistence, and crashes before the persist completes;
   * - "after-persist": it takes its pending Ready, sends the early messages and persists, but
   *   crashes before sending the rest, applying or advancing.
   */
  crash(id: NodeId, point: CrashPoint = "between-readies"): void {
    const node = this.node(id);
    if (point !== "between-readies" && node.core !== undefined) {
      let rd = node.held;
      if (rd === undefined && node.core.hasReady()) {
        rd = node.core.ready();
        this.sendEarly(rd);
      }
      if (rd !== undefined && point === "after-persist") this.persist(node, rd);
    }
    node.held = undefined;
    this.holding.delete(id);
    node.core = undefined;
    this.queue = this.queue.filter((m) => m.to !== id);
  }

  restart(id: NodeId): void {
    const node = this.node(id);
    if (node.core !== undefined) return;
    this.start(node);
    this.check();
  }

  // ------------------------------------------------------------ driving

  tick(id: NodeId, times = 1): void {
    for (let i = 0; i < times; i += 1) {
      const core = this.node(id).core;
      if (core === undefined) return;
      core.tick();
      this.processReady(id);
    }
  }

  tickAll(times = 1): void {
    for (let i = 0; i < times; i += 1) for (const id of this.ids()) this.tick(id);
  }

  /** Delivers the message at `position` in the queue (dropped if its link is cut or its target is down). */
  deliver(position = 0): Message | undefined {
    const message = this.queue.splice(position, 1)[0];
    if (message === undefined) return undefined;
    const target = this.nodes.get(message.to)?.core;
    if (target === undefined || this.cut.has(`${message.from}-${message.to}`)) return message;
    target.step(message);
    this.processReady(message.to);
    return message;
  }

  /**
   * Delivers the message at `position`, then crashes its target at `point` of the Ready that
   * the message produced (for "before-persist": its early messages left, its persist did not).
   */
  deliverAndCrash(position: number, point: CrashPoint): void {
    const message = this.queue.splice(position, 1)[0];
    if (message === undefined) return;
    const target = this.nodes.get(message.to);
    if (target?.core === undefined || this.cut.has(`${message.from}-${message.to}`)) return;
    target.core.step(message);
    this.crash(message.to, point);
  }

  /** Delivers a copy of the message at `position` and leaves it queued (the network duplicated it). */
  deliverDuplicate(position = 0): void {
    const message = this.queue[position];
    if (message === undefined) return;
    const target = this.nodes.get(message.to)?.core;
    if (target === undefined || this.cut.has(`${message.from}-${message.to}`)) return;
    target.step(message);
    this.processReady(message.to);
  }

  /**
   * Asks `id` for a read point. The answer must not be older than anything committed anywhere
   * before the request (no stale read), which processReady checks when the ReadState arrives.
   */
  readIndex(id: NodeId): boolean {
    const context = this.nextReadContext++;
    const refusal = this.core(id).readIndex(context);
    if (refusal !== undefined) return false;
    this.readFloor.set(context, this.maxCommitSeen);
    this.processReady(id);
    return true;
  }

  /** Drops the message at `position` in the queue. */
  drop(position = 0): void {
    this.queue.splice(position, 1);
  }

  /**
   * Delivers until no message is left; false if the bound was reached first (a livelock, which
   * is not a safety violation: the caller decides whether it matters).
   */
  stabilize(): boolean {
    for (const id of this.ids()) this.processReady(id);
    for (let delivered = 0; this.queue.length > 0; delivered += 1) {
      if (delivered >= MAX_STABILIZE_DELIVERIES) return false;
      this.deliver(0);
    }
    return true;
  }

  /** Runs the Ready loop of `id` once, if it has a Ready: persist, send, apply, advance. */
  /**
   * From now on, `id` takes its next Ready and holds it (as if its fsync were slow) until
   * release(id); messages keep arriving in between, as they do for a real driver.
   */
  hold(id: NodeId): void {
    if (this.up(id)) this.holding.add(id);
  }

  /** Carries out the Ready `id` holds, then goes back to carrying out Readys at once. */
  release(id: NodeId): void {
    this.holding.delete(id);
    const node = this.node(id);
    const held = node.held;
    if (held === undefined || node.core === undefined) return;
    node.held = undefined;
    this.carryOut(node, held);
    this.processReady(id);
  }

  processReady(id: NodeId): void {
    const node = this.node(id);
    const core = node.core;
    if (core === undefined || node.held !== undefined || !core.hasReady()) return;
    const rd = core.ready();
    // 1. the messages that may precede persistence leave at once, even while the fsync is slow.
    this.sendEarly(rd);
    if (this.holding.has(id)) {
      node.held = rd;
      return;
    }
    this.carryOut(node, rd);
  }

  /** Steps 2 to 5 of the Ready contract; the early messages have left already. */
  private carryOut(node: SimNode, rd: Ready): void {
    const core = node.core!;
    // 2. persist: snapshot, entries, hard state.
    this.persist(node, rd);
    // 3. send the rest.
    if (!this.sendEverythingEarly) this.sendAll(rd.messages);
    // 4. apply, 5. advance.
    this.apply(node, rd);
    core.advance();
    this.check();
  }

  private sendEarly(rd: Ready): void {
    this.sendAll(rd.messagesBeforePersist);
    if (this.sendEverythingEarly) this.sendAll(rd.messages);
  }

  private sendAll(messages: readonly Message[]): void {
    for (const message of messages) {
      this.onSend?.(message);
      this.sent.push(message);
      if (this.dropFilter?.(message) === true) continue;
      if (this.queue.length >= MAX_QUEUED_MESSAGES) this.queue.shift();
      this.queue.push(message);
    }
  }

  private persist(node: SimNode, rd: Ready): void {
    const disk = node.disk;
    if (rd.snapshot !== undefined) {
      const s = rd.snapshot.metadata;
      const position = disk.entries.findIndex((e) => e.index === s.index);
      disk.entries = position >= 0 && disk.entries[position]!.term === s.term ? disk.entries.slice(position + 1) : [];
      disk.snapshot = rd.snapshot;
    }
    if (rd.entries.length > 0) {
      const first = rd.entries[0]!.index;
      const base = disk.snapshot?.metadata.index ?? 0;
      disk.entries = disk.entries.slice(0, Math.max(0, first - base - 1));
      if ((disk.entries.at(-1)?.index ?? base) !== first - 1) throw new Error(`node ${node.id}: persisted entries would have a gap before ${first}`);
      disk.entries.push(...rd.entries);
    }
    if (rd.hardState !== undefined) disk.hardState = rd.hardState;
  }

  private apply(node: SimNode, rd: Ready): void {
    const id = node.id;
    if (rd.snapshot !== undefined) {
      node.appliedIndex = rd.snapshot.metadata.index;
      node.appliedConf = rd.snapshot.metadata.confState;
      node.appliedData = text(rd.snapshot.data).split("\n").filter((x) => x.length > 0);
    }
    for (const entry of rd.committedEntries) {
      if (entry.index !== node.appliedIndex + 1) throw new SafetyViolation("apply-order", `node ${id} applies ${entry.index} after ${node.appliedIndex}`);
      node.appliedIndex = entry.index;
      if (entry.type === "conf-change") node.appliedConf = confStateAfterEntries(node.appliedConf, [entry]);
      else if (entry.data.length > 0) node.appliedData.push(text(entry.data));
      this.checkCommitted(id, entry);
    }
    for (const read of rd.readStates) {
      const floor = this.readFloor.get(read.context);
      if (this.checkSafety && floor !== undefined && read.index < floor) {
        throw new SafetyViolation("no-stale-read", `node ${id} answers read ${read.context} at ${read.index}, but ${floor} was committed before it was asked`);
      }
      this.readFloor.delete(read.context);
    }
    node.readStates.push(...rd.readStates);
  }

  /** The application snapshots its state at its applied index and tells the core. */
  compact(id: NodeId): void {
    const node = this.node(id);
    const core = this.core(id);
    const index = node.appliedIndex;
    if (index <= core.status().snapshotIndex) return;
    const term = core.termAt(index)!;
    const snapshotData = data(node.appliedData.join("\n"));
    node.disk.snapshot = { metadata: { index, term, confState: node.appliedConf }, data: snapshotData };
    node.disk.entries = node.disk.entries.filter((e) => e.index > index);
    core.compact(index, snapshotData);
    this.check();
  }

  // ------------------------------------------------------------ observation

  leader(): NodeId | undefined {
    let best: { id: NodeId; term: number } | undefined;
    for (const node of this.nodes.values()) {
      const s = node.core?.status();
      if (s?.role === "leader" && (best === undefined || s.hardState.term > best.term)) best = { id: node.id, term: s.hardState.term };
    }
    return best?.id;
  }

  /** Ticks everyone until some node leads (bounded). */
  electLeader(maxTicks = 500): NodeId {
    for (let i = 0; i < maxTicks; i += 1) {
      this.stabilize();
      const leader = this.leader();
      if (leader !== undefined) return leader;
      this.tickAll();
    }
    throw new Error("no leader elected");
  }

  /** Ticks everyone and delivers everything until `done()` holds (bounded); false if it never did. */
  runUntil(done: () => boolean, maxTicks = 500): boolean {
    for (let i = 0; i < maxTicks; i += 1) {
      this.stabilize();
      if (done()) return true;
      this.tickAll();
    }
    this.stabilize();
    return done();
  }

  proposeConfChange(id: NodeId, change: ConfChange): ProposeResult {
    const result = this.core(id).proposeConfChange(change);
    this.processReady(id);
    return result;
  }

  propose(id: NodeId, payload: string): boolean {
    const result = this.core(id).propose(data(payload));
    this.processReady(id);
    return result.ok;
  }

  // ------------------------------------------------------------ safety

  private checkCommitted(id: NodeId, entry: Entry): void {
    if (!this.checkSafety) return;
    const known = this.committedEntries.get(entry.index);
    const value = { term: entry.term, data: text(entry.data), type: entry.type };
    if (known === undefined) this.committedEntries.set(entry.index, value);
    else if (known.term !== value.term || known.data !== value.data || known.type !== value.type) {
      throw new SafetyViolation("state-machine-safety", `node ${id} commits ${JSON.stringify(value)} at ${entry.index}, earlier ${JSON.stringify(known)}`);
    }
  }

  /** Election Safety, Log Matching, committed entries never change. */
  check(): void {
    if (!this.checkSafety) return;
    const live = [...this.nodes.values()].filter((n) => n.core !== undefined);
    for (const node of live) {
      const s = node.core!.status();
      if (s.role === "leader") {
        const other = this.leaderOfTerm.get(s.hardState.term);
        if (other !== undefined && other !== node.id) throw new SafetyViolation("election-safety", `nodes ${other} and ${node.id} both lead term ${s.hardState.term}`);
        this.leaderOfTerm.set(s.hardState.term, node.id);
        if (this.completenessCheckedTerm.get(node.id) !== s.hardState.term) {
          this.completenessCheckedTerm.set(node.id, s.hardState.term);
          this.checkLeaderCompleteness(node);
        }
      }
      // Committed entries never change: every node's committed prefix agrees with what any node committed.
      const from = Math.max(this.checkedCommit.get(node.id) ?? 0, s.firstIndex - 1) + 1;
      for (let index = from; index <= s.hardState.commit; index += 1) {
        const entry = node.core!.entryAt(index);
        if (entry !== undefined) this.checkCommitted(node.id, entry);
        const term = this.committedByTerm.get(index);
        if (term === undefined || s.hardState.term < term) this.committedByTerm.set(index, s.hardState.term);
      }
      this.checkedCommit.set(node.id, s.hardState.commit);
      this.maxCommitSeen = Math.max(this.maxCommitSeen, s.hardState.commit);
    }
    for (let i = 0; i < live.length; i += 1) {
      for (let j = i + 1; j < live.length; j += 1) this.checkLogMatching(live[i]!, live[j]!);
    }
  }

  /** Leader Completeness: a leader holds every entry committed in an earlier term. */
  private checkLeaderCompleteness(node: SimNode): void {
    const s = node.core!.status();
    for (const [index, committedTerm] of this.committedByTerm) {
      if (committedTerm >= s.hardState.term || index <= s.snapshotIndex) continue;
      const known = this.committedEntries.get(index);
      const entry = node.core!.entryAt(index);
      if (entry === undefined || (known !== undefined && (entry.term !== known.term || text(entry.data) !== known.data))) {
        throw new SafetyViolation("leader-completeness", `leader ${node.id} of term ${s.hardState.term} lacks entry ${index} committed by term ${committedTerm}`);
      }
    }
  }

  private checkLogMatching(a: SimNode, b: SimNode): void {
    const ca = a.core!;
    const cb = b.core!;
    const sa = ca.status();
    const sb = cb.status();
    const low = Math.max(sa.firstIndex, sb.firstIndex);
    const high = Math.min(sa.lastIndex, sb.lastIndex);
    // If two logs hold an entry with the same index and term, they are identical up to it.
    for (let index = high; index >= low; index -= 1) {
      const ea = ca.entryAt(index)!;
      const eb = cb.entryAt(index)!;
      if (ea.term !== eb.term) continue;
      if (text(ea.data) !== text(eb.data) || ea.type !== eb.type) {
        throw new SafetyViolation("log-matching", `nodes ${a.id} and ${b.id} hold different entries at ${index} in term ${ea.term}`);
      }
      if (index > low && ca.termAt(index - 1) !== cb.termAt(index - 1)) {
        throw new SafetyViolation("log-matching", `nodes ${a.id} and ${b.id} agree at ${index} (term ${ea.term}) but not at ${index - 1}`);
      }
    }
  }
}

/** True when `error` is what a safety check or a core assertion reports. */
export function isSafetyFailure(error: unknown): boolean {
  return error instanceof SafetyViolation || error instanceof AssertionFailure;
}
