// Helpers for driving one RawNode by hand in unit tests: build a node from a recovered state,
// drain its Ready (persisting = acknowledging at once), and craft peer messages.

import { RawNode } from "../../../src/core/raft/raw-node.ts";
import type { ConfState, Entry, Message, NodeId, RaftConfig, Ready } from "../../../src/core/raft/types.ts";
import { defaultConfig, seededRandom } from "./harness.ts";

export interface NodeSpec {
  readonly id?: NodeId;
  readonly voters?: readonly NodeId[];
  readonly learners?: readonly NodeId[];
  readonly term?: number;
  readonly vote?: NodeId;
  readonly commit?: number;
  /** Terms of the recovered log's entries, from index 1. */
  readonly terms?: readonly number[];
  readonly config?: Partial<Omit<RaftConfig, "id" | "random">>;
  readonly seed?: number;
}

export function entries(fromIndex: number, terms: readonly number[], payload = ""): Entry[] {
  return terms.map((term, i) => ({ term, index: fromIndex + i, type: "normal" as const, data: new TextEncoder().encode(payload) }));
}

export function newNode(spec: NodeSpec = {}): RawNode {
  const id = spec.id ?? 1;
  const confState: ConfState = { voters: [...(spec.voters ?? [1, 2, 3])], learners: [...(spec.learners ?? [])] };
  const log = entries(1, spec.terms ?? []);
  const term = spec.term ?? Math.max(0, ...(spec.terms ?? []));
  return new RawNode(
    { ...defaultConfig, ...spec.config, id, random: seededRandom(spec.seed ?? id) },
    { hardState: { term, vote: spec.vote ?? 0, commit: spec.commit ?? 0 }, snapshot: undefined, entries: log, confState },
  );
}

/** Takes the pending Ready (if any) and acknowledges it as if persisted, sent and applied. */
export function drain(node: RawNode): Ready | undefined {
  if (!node.hasReady()) return undefined;
  const rd = node.ready();
  node.advance();
  return rd;
}

/** Both message groups of a Ready, early ones first (the order a driver sends them in). */
export function allMessages(rd: Ready): Message[] {
  return [...rd.messagesBeforePersist, ...rd.messages];
}

/** Drains every Ready until none is left and returns all their messages. */
export function drainMessages(node: RawNode): Message[] {
  const out: Message[] = [];
  for (let i = 0; i < 100 && node.hasReady(); i += 1) {
    out.push(...allMessages(drain(node)!));
  }
  return out;
}

export function sortByTo<M extends Message>(messages: M[]): M[] {
  return [...messages].sort((a, b) => a.to - b.to || a.type.localeCompare(b.type));
}

/** Campaigns and wins with grants from `granters` (default: every other voter). */
export function makeLeader(node: RawNode, granters?: readonly NodeId[]): void {
  node.campaign();
  const status = node.status();
  const voters = granters ?? status.confState.voters.filter((v) => v !== status.id);
  drainMessages(node);
  for (const from of voters) {
    if (node.status().role === "leader") break;
    node.step({ type: "vote-response", from, to: status.id, term: node.status().hardState.term, preVote: false, granted: true });
  }
  if (node.status().role !== "leader") throw new Error("makeLeader: not elected");
}

/** The answer of a follower that accepted `m` in full (echoing the read round it carried). */
export function acceptAndReply(m: Message): Message {
  if (m.type !== "append") throw new Error(`acceptAndReply: ${m.type}`);
  return { type: "append-response", from: m.to, to: m.from, term: m.term, success: true, index: m.prevLogIndex + m.entries.length, conflictTerm: 0, conflictIndex: 0, readContext: m.readContext };
}

/** Makes the leader's no-op committed: its followers acknowledge everything sent. */
export function commitNoop(node: RawNode): void {
  for (const m of drainMessages(node)) if (m.type === "append") node.step(acceptAndReply(m));
  drainMessages(node);
}

export function appendFrom(from: NodeId, to: NodeId, term: number, prevLogIndex: number, prevLogTerm: number, ents: Entry[], commit = 0): Message {
  return { type: "append", from, to, term, prevLogIndex, prevLogTerm, entries: ents, commit, readContext: 0 };
}
