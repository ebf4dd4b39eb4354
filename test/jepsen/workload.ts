// The clients: each runs one operation at a time against a random node, with a bounded timeout,
// and records the invocation and the completion's outcome class (ok; fail = certainly not
// applied, from the node's `blixard-outcome: not-applied`; info = unknown). Two workloads:
// - registers: get / put / cas on REGISTER_KEYS string registers at a time (checked for
//   linearizability per key with the kv model, whose initial "" is an absent key);
// - list-append transactions: etcd-style Txn requests of 1 to TXN_MICRO_OPS_MAX appends and
//   reads over LIST_KEYS keys at a time (checked by the Elle-style checker); values are unique
//   per run.
// Keys rotate as Jepsen's independent keys and Elle's max-writes-per-key do: a register key
// retires after REGISTER_OPS_PER_KEY operations and a list key after LIST_APPENDS_PER_KEY
// appends, and a fresh key takes its slot. Without it a long run's lists grow without bound
// (every read returns the whole list: memory quadratic in the run's length, and reads that pass
// the transaction's size limit) and one register's search space grows with every unknown
// outcome left open to the end.
import { ConnectError } from "@connectrpc/connect";
import { outcomeClassOfError } from "../../src/shell/api/outcome-codes.ts";
import { keyword, type Value } from "../../src/core/check/value.ts";
import type { HistoryRecorder, Outcome } from "./history-recorder.ts";
import type { NodeProcesses } from "./node-processes.ts";
import type { Random } from "./random.ts";

export const REGISTER_KEYS = 4;
export const LIST_KEYS = 8;
export const REGISTER_OPS_PER_KEY = 256;
export const LIST_APPENDS_PER_KEY = 64;
/** Keys of each kind one run may use (both kinds together stay under the node's KV_KEYS_MAX). */
export const KEYS_PER_KIND_MAX = 40_000;
export const TXN_MICRO_OPS_MAX = 4;
/** Process id of the harness's own setup and final reads. */
export const HARNESS_PROCESS = 0;

export const registerKey = (i: number): string => `jepsen/r${i}`;
export const listKey = (k: number): string => `jepsen/l${k}`;

/** `slots` keys in use at a time; a key retires after `usesPerKey` uses and the next id takes its slot. */
class RotatingKeys {
  private readonly slots: number[];
  private readonly uses: number[];
  private next: number;

  constructor(slots: number, private readonly usesPerKey: number) {
    this.slots = Array.from({ length: slots }, (_, i) => i);
    this.uses = this.slots.map(() => 0);
    this.next = slots;
  }

  /** Every key id handed out so far, in order (the final reads cover them all). */
  get used(): number[] {
    return Array.from({ length: this.next }, (_, i) => i);
  }

  /** The key in slot `slot`, counting one use of it (a use may retire it for the next caller). */
  take(slot: number): number {
    if (this.uses[slot]! >= this.usesPerKey) {
      if (this.next >= KEYS_PER_KIND_MAX) throw new Error(`more than ${KEYS_PER_KIND_MAX} keys of one kind`);
      this.slots[slot] = this.next++;
      this.uses[slot] = 0;
    }
    this.uses[slot]! += 1;
    return this.slots[slot]!;
  }

  /** The key in slot `slot`, without counting a use. */
  peek(slot: number): number {
    return this.slots[slot]!;
  }
}

/** The run's key space: which register and list keys the clients use now, and every key used. */
export class KeySpace {
  readonly registers = new RotatingKeys(REGISTER_KEYS, REGISTER_OPS_PER_KEY);
  readonly lists = new RotatingKeys(LIST_KEYS, LIST_APPENDS_PER_KEY);
}

export interface WorkloadContext {
  readonly history: HistoryRecorder;
  readonly keys: KeySpace;
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
  const key = registerKey(ctx.keys.registers.take(random.below(REGISTER_KEYS)));
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
    const expected = seen.get(key) ?? "";
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

export function randomTxn(random: Random, keys: KeySpace): MicroOp[] {
  const count = 1 + random.below(TXN_MICRO_OPS_MAX);
  const ops: MicroOp[] = [];
  for (let i = 0; i < count; i += 1) {
    const slot = random.below(LIST_KEYS);
    ops.push(random.below(2) === 0 ? ["append", keys.lists.take(slot), nextAppendValue++] : ["r", keys.lists.peek(slot), null]);
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
    else await txnOp(ctx, process, node, randomTxn(random, ctx.keys));
  }
}
