// Test helpers: histories produced by a real sequential execution with random
// overlapping intervals, and a brute-force permutation checker for small histories.
import fc from "fast-check";
import type { HistoryEvent, KvFunction, Model, OpEvent, History } from "../../../src/core/check/index.ts";
import { buildHistory } from "../../../src/core/check/index.ts";

/** Drives a key-value store: each step invokes, applies (the linearization point) or completes. */
export interface KvRunOptions {
  readonly processes: number;
  readonly operations: number;
  readonly keys: readonly string[];
  /** Probability that an applied operation never completes (stays open, info). */
  readonly openRate: number;
}

interface Pending {
  process: number;
  f: KvFunction;
  key: string;
  value: string | null | readonly [string, string];
  applied: boolean;
  result: "ok" | "fail";
  read: string | null;
}

/** A fast-check arbitrary of linearizable key-value histories (Blixard JSON-lines events). */
export function linearizableKvHistory(options: KvRunOptions): fc.Arbitrary<HistoryEvent[]> {
  return fc.array(fc.nat(1 << 30), { minLength: options.operations * 4, maxLength: options.operations * 4 }).map((choices) => runKv(options, choices));
}

function runKv(options: KvRunOptions, choices: readonly number[]): HistoryEvent[] {
  const store = new Map<string, string>();
  const events: HistoryEvent[] = [];
  const pending = new Map<number, Pending>();
  const idle: number[] = Array.from({ length: options.processes }, (_, i) => i);
  let nextProcess = options.processes;
  let invoked = 0;
  let time = 0;
  let c = 0;
  const pick = (n: number): number => (choices[c++ % choices.length] + c) % n;
  const words = ["a", "b", "c"];
  for (let guard = 0; guard < options.operations * 20 && (invoked < options.operations || pending.size > 0); guard += 1) {
    time += 1 + pick(5);
    const action = pick(3);
    if (action === 0 && invoked < options.operations && idle.length > 0) {
      const process = idle.splice(pick(idle.length), 1)[0];
      const f = (["get", "put", "append", "cas"] as const)[pick(4)];
      const key = options.keys[pick(options.keys.length)];
      const value = f === "get" ? null : f === "cas" ? ([pick(2) === 0 ? "" : words[pick(3)], words[pick(3)]] as const) : words[pick(3)];
      pending.set(process, { process, f, key, value, applied: false, result: "ok", read: null });
      events.push({ process, type: "invoke", f, key, value, time });
      invoked += 1;
    } else if (action === 1) {
      const candidates = [...pending.values()].filter((p) => !p.applied);
      if (candidates.length === 0) continue;
      const op = candidates[pick(candidates.length)];
      op.applied = true;
      const current = store.get(op.key) ?? "";
      if (op.f === "get") op.read = current;
      else if (op.f === "put") store.set(op.key, op.value as string);
      else if (op.f === "append") store.set(op.key, current + (op.value as string));
      else {
        const [expected, swap] = op.value as readonly [string, string];
        if (current === expected) store.set(op.key, swap);
        else op.result = "fail";
      }
    } else {
      const candidates = [...pending.values()].filter((p) => p.applied);
      if (candidates.length === 0) continue;
      const op = candidates[pick(candidates.length)];
      pending.delete(op.process);
      if (pick(100) < options.openRate * 100) {
        // Never completes: the process is retired, as Jepsen does after a timeout.
        idle.push(nextProcess);
        nextProcess += 1;
        continue;
      }
      events.push({ process: op.process, type: op.result, f: op.f, key: op.key, value: op.f === "get" ? op.read : op.value, time });
      idle.push(op.process);
    }
  }
  // Operations invoked but never applied stay open too: they had no effect, which an open operation allows.
  return events;
}

/** Brute force: tries every order of the required operations with any subset of the optional ones. */
export function bruteForceLinearizable<S, I, O>(history: History, model: Model<S, I, O>): boolean {
  const ops: Array<{ input: I; output: O; call: number; ret: number; required: boolean }> = [];
  for (const op of history.operations) {
    if (op.status === "fail") continue;
    const prepared = model.prepare(op);
    if (prepared === "drop") continue;
    ops.push({ ...prepared, call: op.invokeIndex, ret: op.completeIndex, required: op.status !== "info" });
  }
  const used = new Array<boolean>(ops.length).fill(false);
  const search = (state: S, placed: number[]): boolean => {
    if (ops.every((op, i) => used[i] || !op.required)) return true;
    for (let i = 0; i < ops.length; i += 1) {
      if (used[i]) continue;
      // i can go next only if every unplaced operation that returned before i's call is... none.
      if (ops.some((other, j) => !used[j] && j !== i && other.ret < ops[i].call)) continue;
      const next = model.step(state, ops[i].input, ops[i].output);
      if (next === undefined) continue;
      used[i] = true;
      placed.push(i);
      if (search(next, placed)) return true;
      placed.pop();
      used[i] = false;
    }
    return false;
  };
  return search(model.init(), []);
}

/** Random small histories over one register (not necessarily linearizable), as EDN-like events. */
export function randomRegisterHistory(): fc.Arbitrary<History> {
  const op = fc.record({
    process: fc.nat(3),
    f: fc.constantFrom("read", "write", "cas"),
    a: fc.nat(2),
    b: fc.nat(2),
    outcome: fc.constantFrom("ok", "ok", "ok", "fail", "info", "open"),
    delay: fc.nat(3),
  });
  return fc.array(op, { minLength: 1, maxLength: 7 }).map((specs) => {
    // Lay out invocations and completions: each spec invokes, then completes `delay` slots later.
    const events: OpEvent[] = [];
    const busyUntil = new Map<number, number>();
    const queue: Array<{ at: number; event: OpEvent }> = [];
    let slot = 0;
    for (const spec of specs) {
      let process = spec.process;
      while ((busyUntil.get(process) ?? -1) >= slot) process += 4;
      const value = spec.f === "read" ? null : spec.f === "write" ? spec.a : [spec.a, spec.b];
      queue.push({ at: slot * 10, event: { process, type: "invoke", f: spec.f, value } });
      const end = slot + spec.delay;
      if (spec.outcome === "open") busyUntil.set(process, Infinity);
      else {
        busyUntil.set(process, end);
        const completionValue = spec.f === "read" ? spec.a : value;
        queue.push({ at: end * 10 + 5, event: { process, type: spec.outcome as "ok" | "fail" | "info", f: spec.f, value: completionValue } });
      }
      slot += 1;
    }
    queue.sort((x, y) => x.at - y.at);
    for (const q of queue) events.push(q.event);
    return buildHistory(events, { failSemantics: "compare-failed" });
  });
}
