// The clients: each runs one operation at a time against a random node, with a bounded timeout,
// and records the invocation and the completion's outcome class (ok; fail = certainly not
// applied, from the node's `blixard-outcome: not-applied`; info = unknown). Two workloads:
// - registers: get / put / cas on REGISTER_KEYS string registers (checked for linearizability
//   per key with the kv model; every key is put to "0" before the clients start, so a read of an
//   absent key is an anomaly, not the model's initial "");
// - list-append transactions: etcd-style Txn requests of 1 to TXN_MICRO_OPS_MAX appends and
//   reads over LIST_KEYS keys (checked by the Elle-style checker); values are unique per run.
import { ConnectError } from "@connectrpc/connect";
import { outcomeClassOfError } from "../../src/shell/api/outcome-codes.ts";
import { keyword, type Value } from "../../src/core/check/value.ts";
import type { HistoryRecorder, Outcome } from "./history-recorder.ts";
import type { NodeProcesses } from "./node-processes.ts";
import type { Random } from "./random.ts";

export const REGISTER_KEYS = 4;
export const LIST_KEYS = 8;
export const TXN_MICRO_OPS_MAX = 4;
/** Process id of the harness's own setup and final reads. */
export const HARNESS_PROCESS = 0;

export const registerKey = (i: number): string => `jepsen/r${i}`;
export const listKey = (k: number): string => `jepsen/l${k}`;

export interface WorkloadContext {
  readonly history: HistoryRecorder;
  readonly nodes: NodeProcesses;
  readonly timeoutMs: number;
  /** Node ids clients may talk to (members that run). */
  targets(): number[];
}

/** The outcome class of a failed call, as the node classified it. */
export function outcomeOf(error: unknown): { readonly outcome: Outcome; readonly message: string } {
  const connect = ConnectError.from(error);
  return { outcome: outcomeClassOfError(connect) === "not-applied" ? "fail" : "info", message: connect.rawMessage.split("\n")[0]!.slice(0, 200) };
}

let nextAppendValue = 1;

export type MicroOp = readonly ["append", number, number] | readonly ["r", number, readonly number[] | null];

export function microOpsValue(ops: readonly MicroOp[]): Value {
  return ops.map(([f, k, v]) => [keyword(f), k, v === null ? null : Array.isArray(v) ? [...(v as number[])] : (v as number)]);
}

/** One register operation on `node`, recorded. */
export async function registerOp(ctx: WorkloadContext, process: number, node: number, random: Random, seen: Map<string, string>): Promise<void> {
  const key = registerKey(random.below(REGISTER_KEYS));
  const kv = ctx.nodes.client(node, ctx.timeoutMs).kv;
  const choice = random.below(3);
  if (choice === 0) {
    ctx.history.invoke(process, "get", key, null);
    try {
      const response = await kv.get({ key });
      const value = response.found ? response.value : "";
      seen.set(key, value);
      ctx.history.complete(process, "ok", "get", key, value);
    } catch (error) {
      // A read that did not answer changed nothing; either class leaves it unconstrained.
      const { outcome, message } = outcomeOf(error);
      ctx.history.complete(process, outcome, "get", key, null, message);
    }
  } else if (choice === 1) {
    const value = `${process}.${nextAppendValue++}`;
    ctx.history.invoke(process, "put", key, value);
    try {
      await kv.put({ key, value });
      ctx.history.complete(process, "ok", "put", key, value);
    } catch (error) {
      const { outcome, message } = outcomeOf(error);
      ctx.history.complete(process, outcome, "put", key, value, message);
    }
  } else {
    const expected = seen.get(key) ?? "0";
    const value = `${process}.${nextAppendValue++}`;
    ctx.history.invoke(process, "cas", key, [expected, value]);
    try {
      const response = await kv.compareAndSet({ key, expected, value });
      // A completed cas whose compare failed is :fail (compare-failed, as Jepsen's etcd test).
      ctx.history.complete(process, response.succeeded ? "ok" : "fail", "cas", key, [expected, value]);
      if (response.succeeded) seen.set(key, value);
    } catch (error) {
      const { outcome, message } = outcomeOf(error);
      // A not-applied cas is recorded as info: in these histories a :fail cas means "its compare
      // failed" (it observed another value), which a cas that never ran did not.
      ctx.history.complete(process, outcome === "fail" ? "info" : outcome, "cas", key, [expected, value], message);
    }
  }
}

/** Runs `ops` as one Txn on `node` and records it as a :txn; returns the completed micro-ops, or undefined. */
export async function txnOp(ctx: WorkloadContext, process: number, node: number, ops: readonly MicroOp[]): Promise<MicroOp[] | undefined> {
  ctx.history.invoke(process, "txn", undefined, microOpsValue(ops));
  const success = ops.map(([f, k, v]) => (f === "append" ? { op: "append", key: listKey(k), value: String(v) } : { op: "read-list", key: listKey(k), value: "" }));
  try {
    const response = await ctx.nodes.client(node, ctx.timeoutMs).kv.txn({ compare: [], success, failure: [] });
    const done = ops.map((op, i): MicroOp => (op[0] === "append" ? op : ["r", op[1], (response.results[i]?.list ?? []).map(Number)]));
    ctx.history.complete(process, "ok", "txn", undefined, microOpsValue(done));
    return done;
  } catch (error) {
    const { outcome, message } = outcomeOf(error);
    ctx.history.complete(process, outcome, "txn", undefined, microOpsValue(ops), message);
    return undefined;
  }
}

export function randomTxn(random: Random): MicroOp[] {
  const count = 1 + random.below(TXN_MICRO_OPS_MAX);
  const ops: MicroOp[] = [];
  for (let i = 0; i < count; i += 1) {
    const k = random.below(LIST_KEYS);
    ops.push(random.below(2) === 0 ? ["append", k, nextAppendValue++] : ["r", k, null]);
  }
  return ops;
}

/** One client: operations until `stop()` says so; half registers, half transactions. */
export async function runClient(ctx: WorkloadContext, process: number, random: Random, stop: () => boolean): Promise<void> {
  const seen = new Map<string, string>();
  while (!stop() && !ctx.history.full) {
    const targets = ctx.targets();
    if (targets.length === 0) {
      await new Promise((r) => setTimeout(r, 50));
      continue;
    }
    const node = targets[random.below(targets.length)]!;
    if (random.below(2) === 0) await registerOp(ctx, process, node, random, seen);
    else await txnOp(ctx, process, node, randomTxn(random));
  }
}
