// An Elle-style checker for list-append histories (Kingsbury and Alvaro, "Elle: Inferring
// Isolation Anomalies from Experimental Observations", VLDB 2020). Each operation is a
// transaction (f :txn) whose value is a list of micro-operations:
//   [:append k v]   appends v to the list at key k (values appended to one key are unique);
//   [:r k list]     reads the whole list at k (nil or [] when empty; nil at invocation).
// Because a read returns the whole list, the order of every key's versions can be inferred:
// every read must be a prefix of the longest one (else: incompatible-order), and that longest
// read orders the appends it holds. From the orders, the dependency graph between committed (ok)
// and possibly committed (info) transactions:
//   ww  T1 appended the version right before T2's append to the same key;
//   wr  T2 read a list whose last element T1 appended;
//   rw  T1 read a list that lacks the next version, which T2 appended (an anti-dependency);
//   rt  T1 completed before T2 was invoked (real time; for strict serializability).
// Cycles are found per strongly connected component and named as Adya does: G0 (ww only), G1c
// (ww and wr), G-single (exactly one rw), G2 (rw, more than one), each with "-realtime" when the
// cycle needs a real-time edge. Non-cyclic anomalies: G1a (aborted read: a read saw a failed
// transaction's append), G1b (intermediate read: a read saw a transaction's append to a key that
// was not its last to that key), internal (a transaction's read disagrees with its own earlier
// reads and appends), duplicate-elements, garbage-read (an element nobody appended), and
// incompatible-order. The result names the strongest consistency model the history satisfies.
import { assert } from "../../assert.ts";
import type { History, Operation } from "../history.ts";
import { badOperation } from "../model.ts";
import { isKeyword, showValue, valueKey, type Value } from "../value.ts";
import { DependencyGraph, RT, RW, WR, WW } from "./dependency-graph.ts";

export type AnomalyType =
  | "G0"
  | "G1a"
  | "G1b"
  | "G1c"
  | "G-single"
  | "G2"
  | "G0-realtime"
  | "G1c-realtime"
  | "G-single-realtime"
  | "G2-realtime"
  | "internal"
  | "duplicate-elements"
  | "garbage-read"
  | "incompatible-order";

export type ConsistencyModel = "strict-serializable" | "serializable" | "snapshot-isolation" | "read-committed" | "read-uncommitted" | "none";

/** Strongest first. */
export const CONSISTENCY_MODELS: readonly ConsistencyModel[] = ["strict-serializable", "serializable", "snapshot-isolation", "read-committed", "read-uncommitted", "none"];

/** The anomalies each model rules out (each model also rules out those of the models below it). */
const RULED_OUT: Readonly<Record<Exclude<ConsistencyModel, "none">, readonly AnomalyType[]>> = {
  "read-uncommitted": ["G0", "duplicate-elements", "garbage-read", "incompatible-order"],
  "read-committed": ["G1a", "G1b", "G1c", "internal"],
  "snapshot-isolation": ["G-single"],
  serializable: ["G2"],
  "strict-serializable": ["G0-realtime", "G1c-realtime", "G-single-realtime", "G2-realtime"],
};

export interface Anomaly {
  readonly type: AnomalyType;
  /** History operation ids of the transactions involved, in the order of the explanation. */
  readonly operations: readonly number[];
  /** One line per step, e.g. "op 3 appended 2 to key x right after op 1's 1 (ww)". */
  readonly explanation: readonly string[];
}

export interface ListAppendResult {
  readonly transactions: number;
  readonly anomalies: readonly Anomaly[];
  /** Counts by type (every anomaly found, though `anomalies` keeps at most ANOMALIES_KEPT_PER_TYPE of each). */
  readonly counts: Readonly<Partial<Record<AnomalyType, number>>>;
  readonly strongestModel: ConsistencyModel;
}

/** Explanations kept per anomaly type (counts stay exact). */
export const ANOMALIES_KEPT_PER_TYPE = 8;
/** Micro-operations in one transaction; more is refused as bad input. */
export const MICRO_OPS_PER_TXN_MAX = 10_000;
/** Appends to one key that no read saw, ordered after the versions read (more are left unordered). */
const UNSEEN_APPENDS_PER_KEY_MAX = 64;
/** G-single searches tried per component before a cycle with rw edges is reported as G2. */
const SINGLE_RW_SEARCHES_MAX = 2_000;

type MicroOp = { readonly f: "append"; readonly key: string; readonly keyText: string; readonly value: string; readonly valueText: string } | { readonly f: "r"; readonly key: string; readonly keyText: string; readonly list: readonly string[] | undefined; readonly listText: readonly string[] };

interface Txn {
  readonly op: Operation;
  /** Invocation's micro-ops (appends are known there); completion's for ok (reads known). */
  readonly micro: readonly MicroOp[];
}

function microOpName(value: Value): "append" | "r" | undefined {
  const name = isKeyword(value) ? value.name : typeof value === "string" ? value : undefined;
  return name === "append" ? "append" : name === "r" || name === "read" ? "r" : undefined;
}

function readMicroOps(value: Value, op: Operation): MicroOp[] {
  if (!Array.isArray(value)) badOperation(`op ${op.id}: a :txn's value must be a list of micro-operations, found ${showValue(value)}`);
  const list = value as readonly Value[];
  if (list.length > MICRO_OPS_PER_TXN_MAX) badOperation(`op ${op.id}: ${list.length} micro-operations exceed the limit of ${MICRO_OPS_PER_TXN_MAX}`);
  return list.map((micro, i) => {
    if (!Array.isArray(micro) || micro.length !== 3) badOperation(`op ${op.id}, micro-op ${i + 1}: expected [:append k v] or [:r k list], found ${showValue(micro as Value)}`);
    const [f, key, argument] = micro as unknown as readonly [Value, Value, Value];
    const name = microOpName(f);
    if (name === undefined) badOperation(`op ${op.id}, micro-op ${i + 1}: unknown micro-op ${showValue(f)} (expected :append or :r)`);
    if (name === "append") {
      if (argument === null || Array.isArray(argument)) badOperation(`op ${op.id}, micro-op ${i + 1}: an append needs one value, found ${showValue(argument)}`);
      return { f: "append", key: valueKey(key), keyText: showValue(key), value: valueKey(argument), valueText: showValue(argument) };
    }
    if (argument !== null && !Array.isArray(argument)) badOperation(`op ${op.id}, micro-op ${i + 1}: a read's value is a list or nil, found ${showValue(argument)}`);
    const elements = argument === null ? undefined : (argument as readonly Value[]);
    return { f: "r", key: valueKey(key), keyText: showValue(key), list: elements?.map(valueKey), listText: elements?.map(showValue) ?? [] };
  });
}

/** Checks a list-append history. Throws ModelInputError (bad input) for malformed transactions. */
export function checkListAppend(history: History): ListAppendResult {
  // ---- transactions: ok and info are (possibly) committed; fail never committed -------------
  const committed: Txn[] = [];
  const failed: Txn[] = [];
  for (const op of history.operations) {
    if (op.f !== "txn") badOperation(`op ${op.id}: unknown operation :${op.f} (expected :txn)`);
    const micro = readMicroOps(op.status === "ok" ? op.completeValue : op.invokeValue, op);
    if (op.status === "fail") failed.push({ op, micro });
    else committed.push({ op, micro });
  }
  const anomalies = new AnomalyLog();
  const node = new Map<number, number>(); // operation id -> node
  committed.forEach((txn, i) => node.set(txn.op.id, i));

  // ---- who appended what ------------------------------------------------------------------
  /** key -> value -> [writer op id, was it the writer's last append to that key] */
  const writers = new Map<string, Map<string, { readonly opId: number; readonly last: boolean; readonly failed: boolean }>>();
  const keyText = new Map<string, string>();
  const valueText = new Map<string, string>();
  for (const [txns, isFailed] of [
    [committed, false],
    [failed, true],
  ] as const) {
    for (const txn of txns) {
      const lastAppend = new Map<string, string>();
      for (const micro of txn.micro) if (micro.f === "append") lastAppend.set(micro.key, micro.value);
      for (const micro of txn.micro) {
        if (micro.f !== "append") continue;
        keyText.set(micro.key, micro.keyText);
        valueText.set(`${micro.key}\u0000${micro.value}`, micro.valueText);
        const byValue = writers.get(micro.key) ?? new Map();
        writers.set(micro.key, byValue);
        // Values appended to a key are unique in a list-append test; a repeat keeps the first writer.
        if (!byValue.has(micro.value)) byValue.set(micro.value, { opId: txn.op.id, last: lastAppend.get(micro.key) === micro.value, failed: isFailed });
      }
    }
  }
  const show = (key: string, value: string): string => valueText.get(`${key}\u0000${value}`) ?? value;
  const showKey = (key: string): string => keyText.get(key) ?? key;

  // ---- reads: internal consistency, duplicates, garbage, aborted and intermediate reads -----
  /** key -> the reads of it by ok transactions: [reader op id, list]. */
  const reads = new Map<string, Array<{ readonly opId: number; readonly list: readonly string[] }>>();
  for (const txn of committed) {
    if (txn.op.status !== "ok") continue;
    const known = new Map<string, string[] | undefined>(); // what this txn must see next at a key: undefined = not yet known
    const ownAppends = new Map<string, string[]>();
    for (const micro of txn.micro) {
      if (micro.f === "append") {
        const expected = known.get(micro.key);
        if (expected !== undefined) expected.push(micro.value);
        const own = ownAppends.get(micro.key) ?? [];
        own.push(micro.value);
        ownAppends.set(micro.key, own);
        continue;
      }
      const list = micro.list ?? [];
      const expected = known.get(micro.key);
      const own = ownAppends.get(micro.key) ?? [];
      const internalProblem =
        expected !== undefined ? !sameList(expected, list) : own.length > 0 && !sameList(own, list.slice(list.length - own.length));
      if (internalProblem) {
        const wanted = expected !== undefined ? `[${expected.map((v) => show(micro.key, v)).join(" ")}]` : `a list ending in its own appends [${own.map((v) => show(micro.key, v)).join(" ")}]`;
        anomalies.add("internal", [txn.op.id], [`op ${txn.op.id} read key ${showKey(micro.key)} = [${micro.listText.join(" ")}], but its own earlier reads and appends say ${wanted}`]);
      }
      known.set(micro.key, [...list]);
      if (new Set(list).size !== list.length) {
        anomalies.add("duplicate-elements", [txn.op.id], [`op ${txn.op.id} read key ${showKey(micro.key)} = [${micro.listText.join(" ")}], which holds an element twice`]);
      }
      const byValue = writers.get(micro.key);
      for (const value of list) {
        const writer = byValue?.get(value);
        if (writer === undefined) {
          anomalies.add("garbage-read", [txn.op.id], [`op ${txn.op.id} read ${show(micro.key, value)} in key ${showKey(micro.key)}, which no transaction appended`]);
        } else if (writer.failed) {
          anomalies.add("G1a", [txn.op.id, writer.opId], [`op ${txn.op.id} read ${show(micro.key, value)} in key ${showKey(micro.key)}, appended by op ${writer.opId}, which failed (an aborted read)`]);
        }
      }
      const last = list[list.length - 1];
      const lastWriter = last === undefined ? undefined : byValue?.get(last);
      if (lastWriter !== undefined && !lastWriter.last && lastWriter.opId !== txn.op.id) {
        anomalies.add("G1b", [txn.op.id, lastWriter.opId], [`op ${txn.op.id} read key ${showKey(micro.key)} ending in ${show(micro.key, last!)}, an intermediate append of op ${lastWriter.opId} (it appended to that key again later)`]);
      }
      // Only what the transaction saw of others: its own appends at the end are not evidence of order among others.
      const external = own.length > 0 && sameList(own, list.slice(list.length - own.length)) ? list.slice(0, list.length - own.length) : list;
      const keyReads = reads.get(micro.key) ?? [];
      keyReads.push({ opId: txn.op.id, list: external });
      reads.set(micro.key, keyReads);
    }
  }

  // ---- version orders: the longest read, every other read a prefix of it -------------------
  const orders = new Map<string, readonly string[]>();
  for (const [key, keyReads] of [...reads].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    let longest = keyReads[0]!;
    for (const read of keyReads) if (read.list.length > longest.list.length) longest = read;
    for (const read of keyReads) {
      if (!isPrefix(read.list, longest.list)) {
        anomalies.add("incompatible-order", [read.opId, longest.opId], [
          `op ${read.opId} read key ${showKey(key)} = [${read.list.map((v) => show(key, v)).join(" ")}] and op ${longest.opId} read [${longest.list.map((v) => show(key, v)).join(" ")}]: neither is a prefix of the other`,
        ]);
      }
    }
    orders.set(key, longest.list);
  }

  // ---- the dependency graph ------------------------------------------------------------------
  const n = committed.length;
  const completedOrder = committed.filter((t) => t.op.status === "ok").sort((a, b) => a.op.completeIndex - b.op.completeIndex);
  // Nodes: transactions 0..n-1, then one real-time chain node per completed transaction (see rt below).
  const graph = new DependencyGraph(n + completedOrder.length);
  // Per edge, the first reason found, as a function: explanations are built only for the cycles reported.
  const why: Array<Map<number, () => string>> = Array.from({ length: n }, () => new Map());
  const opOf = (v: number): number => committed[v]!.op.id;
  const edge = (from: number, to: number, kind: number, reason: () => string): void => {
    if (from === to) return;
    graph.add(from, to, kind);
    const label = to * 16 + kind;
    const reasons = why[from]!;
    if (!reasons.has(label)) reasons.set(label, reason);
  };
  for (const [key, order] of orders) {
    const byValue = writers.get(key) ?? new Map<string, { readonly opId: number; readonly last: boolean; readonly failed: boolean }>();
    const writerNode = (value: string): number | undefined => {
      const writer = byValue.get(value);
      return writer === undefined || writer.failed ? undefined : node.get(writer.opId);
    };
    for (let i = 0; i + 1 < order.length; i++) {
      const a = writerNode(order[i]!);
      const b = writerNode(order[i + 1]!);
      if (a !== undefined && b !== undefined) edge(a, b, WW, () => `op ${opOf(b)} appended ${show(key, order[i + 1]!)} to key ${showKey(key)} right after op ${opOf(a)}'s ${show(key, order[i]!)} (ww)`);
    }
    // A committed append no read saw comes after every version read (a read sees a whole prefix):
    // after the last one in ww, and after every read that saw the whole order in rw.
    const inOrder = new Set(order);
    const unseen: Array<{ readonly value: string; readonly node: number }> = [];
    for (const [value, writer] of byValue) {
      if (inOrder.has(value) || writer.failed || unseen.length >= UNSEEN_APPENDS_PER_KEY_MAX) continue;
      const w = node.get(writer.opId);
      if (w !== undefined && committed[w]!.op.status === "ok") unseen.push({ value, node: w });
    }
    const lastWriter = order.length === 0 ? undefined : writerNode(order[order.length - 1]!);
    for (const later of unseen) {
      if (lastWriter !== undefined) edge(lastWriter, later.node, WW, () => `op ${opOf(later.node)} appended ${show(key, later.value)} to key ${showKey(key)}, which no read saw, so after op ${opOf(lastWriter)}'s ${show(key, order[order.length - 1]!)} (ww)`);
    }
    for (const read of reads.get(key)!) {
      const reader = node.get(read.opId)!;
      const m = read.list.length;
      if (m === order.length && isPrefix(read.list, order)) {
        for (const later of unseen) edge(reader, later.node, RW, () => `op ${read.opId} read key ${showKey(key)} = [${read.list.map((v) => show(key, v)).join(" ")}], without ${show(key, later.value)}, which op ${opOf(later.node)} appended and no read saw (rw)`);
      }
      const seen = (): string => `[${read.list.map((v) => show(key, v)).join(" ")}]`;
      if (m > 0) {
        const w = writerNode(read.list[m - 1]!);
        if (w !== undefined) edge(w, reader, WR, () => `op ${read.opId} read key ${showKey(key)} = ${seen()}, ending in op ${opOf(w)}'s append (wr)`);
      }
      if (m < order.length && isPrefix(read.list, order)) {
        const w = writerNode(order[m]!);
        if (w !== undefined) edge(reader, w, RW, () => `op ${read.opId} read key ${showKey(key)} = ${seen()}, without ${show(key, order[m]!)}, which op ${opOf(w)} appended next (rw)`);
      }
    }
  }
  // Real time, in linear size: transaction -> its chain node; chain nodes in completion order; the
  // chain node of the last transaction completed before T's invocation -> T. So T1 reaches T2
  // through chain nodes exactly when T1 completed before T2 was invoked.
  completedOrder.forEach((txn, k) => {
    graph.add(node.get(txn.op.id)!, n + k, RT);
    if (k > 0) graph.add(n + k - 1, n + k, RT);
  });
  const completeIndexes = completedOrder.map((t) => t.op.completeIndex);
  for (const txn of committed) {
    const k = lastBelow(completeIndexes, txn.op.invokeIndex);
    if (k >= 0) graph.add(n + k, node.get(txn.op.id)!, RT);
  }

  // ---- cycles --------------------------------------------------------------------------------
  const explain = (cycle: readonly number[]): { operations: number[]; explanation: string[] } => {
    // cycle: nodes v0 -> v1 -> ... -> v0 (last equals first); chain nodes collapse into one rt step.
    const txnsOnly: number[] = [];
    const lines: string[] = [];
    let i = 0;
    while (i < cycle.length - 1) {
      const from = cycle[i]!;
      assert(from < n, "a cycle's explanation starts each step at a transaction");
      let j = i + 1;
      while (cycle[j]! >= n) j++;
      const to = cycle[j]!;
      txnsOnly.push(opOf(from));
      if (j > i + 1) lines.push(`op ${opOf(from)} completed before op ${opOf(to)} was invoked (rt)`);
      else {
        const kinds = graph.kinds(from, to);
        const kind = [WW, WR, RW].find((k) => (kinds & k) !== 0 && why[from]!.has(to * 16 + k));
        assert(kind !== undefined, () => `the cycle's edge ${from} -> ${to} has a recorded reason`);
        lines.push(why[from]!.get(to * 16 + kind)!());
      }
      i = j;
    }
    return { operations: txnsOnly, explanation: lines };
  };
  const rotateToTransaction = (cycle: number[]): number[] => {
    const start = cycle.findIndex((v) => v < n);
    assert(start >= 0, "a cycle holds a transaction");
    const open = cycle.slice(0, -1);
    const rotated = [...open.slice(start), ...open.slice(0, start)];
    return [...rotated, rotated[0]!];
  };
  const findCycle = (allowed: number, within: ReadonlySet<number>): number[] | undefined => {
    for (const component of graph.cyclicComponents(allowed, within)) {
      const members = new Set(component);
      const start = component.find((v) => v < n) ?? component[0]!;
      for (const [successor, kinds] of graph.successors(start)) {
        if ((kinds & allowed) === 0 || !members.has(successor)) continue;
        const back = graph.shortestPath(successor, start, allowed, members);
        if (back !== undefined) return rotateToTransaction([start, ...back]);
      }
    }
    return undefined;
  };
  const findSingleRw = (extra: number, within: ReadonlySet<number>): number[] | undefined => {
    let tries = 0;
    for (const a of within) {
      if (a >= n) continue;
      for (const [b, kinds] of graph.successors(a)) {
        if ((kinds & RW) === 0 || !within.has(b)) continue;
        if (++tries > SINGLE_RW_SEARCHES_MAX) return undefined;
        const back = graph.shortestPath(b, a, WW | WR | extra, within);
        if (back !== undefined) return rotateToTransaction([a, ...back]);
      }
    }
    return undefined;
  };
  const classify = (within: ReadonlySet<number>, extra: number, suffix: "" | "-realtime"): void => {
    const g0 = findCycle(WW | extra, within);
    if (g0 !== undefined) return add(`G0${suffix}` as AnomalyType, g0);
    const g1c = findCycle(WW | WR | extra, within);
    if (g1c !== undefined) return add(`G1c${suffix}` as AnomalyType, g1c);
    const single = findSingleRw(extra, within);
    if (single !== undefined) return add(`G-single${suffix}` as AnomalyType, single);
    const g2 = findCycle(WW | WR | RW | extra, within);
    if (g2 !== undefined) return add(`G2${suffix}` as AnomalyType, g2);
  };
  const add = (type: AnomalyType, cycle: number[]): void => {
    const { operations, explanation } = explain(cycle);
    anomalies.add(type, operations, explanation);
  };
  const nonRealtime = graph.cyclicComponents(WW | WR | RW);
  const explained = new Set<number>();
  for (const component of nonRealtime) {
    classify(new Set(component), 0, "");
    for (const v of component) explained.add(v);
  }
  for (const component of graph.cyclicComponents(WW | WR | RW | RT)) {
    // A component that holds a cycle without real time was named above; the rest need rt.
    if (component.some((v) => explained.has(v))) continue;
    classify(new Set(component), RT, "-realtime");
  }

  const counts = anomalies.counts;
  let strongest: ConsistencyModel = "strict-serializable";
  for (const model of ["strict-serializable", "serializable", "snapshot-isolation", "read-committed", "read-uncommitted"] as const) {
    const violated = CONSISTENCY_MODELS.slice(CONSISTENCY_MODELS.indexOf(model))
      .filter((m): m is Exclude<ConsistencyModel, "none"> => m !== "none")
      .some((m) => RULED_OUT[m].some((type) => (counts[type] ?? 0) > 0));
    if (!violated) {
      strongest = model;
      break;
    }
    strongest = CONSISTENCY_MODELS[CONSISTENCY_MODELS.indexOf(model) + 1]!;
  }
  assert((strongest === "strict-serializable") === (anomalies.list.length === 0), "a history has anomalies exactly when it is not strictly serializable");
  return { transactions: committed.length + failed.length, anomalies: anomalies.list, counts, strongestModel: strongest };
}

class AnomalyLog {
  readonly list: Anomaly[] = [];
  readonly counts: Partial<Record<AnomalyType, number>> = {};
  add(type: AnomalyType, operations: readonly number[], explanation: readonly string[]): void {
    assert(explanation.length > 0, "an anomaly is explained");
    const seen = this.counts[type] ?? 0;
    this.counts[type] = seen + 1;
    if (seen < ANOMALIES_KEPT_PER_TYPE) this.list.push({ type, operations, explanation });
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function isPrefix(prefix: readonly string[], list: readonly string[]): boolean {
  return prefix.length <= list.length && prefix.every((v, i) => v === list[i]);
}

/** The largest k with sorted[k] < bound, or -1. */
function lastBelow(sorted: readonly number[], bound: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (sorted[mid]! < bound) low = mid + 1;
    else high = mid;
  }
  return low - 1;
}
