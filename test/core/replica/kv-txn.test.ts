import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  KV_LIST_BYTES_MAX,
  KV_LIST_ENTRIES_MAX,
  KvStateMachine,
  decodeKvCommand,
  encodeKvCommand,
  validateKvCommand,
  type KvCommand,
  type KvPlantedBug,
  type KvResult,
} from "../../../src/core/replica/kv-state-machine.ts";
import { KV_TXN_COMPARES_MAX, KV_TXN_OPS_MAX, KV_TXN_READS_MAX, KV_TXN_TEXT_BYTES_MAX, type KvCompare, type KvTxn, type KvTxnOp, type KvTxnOpResult } from "../../../src/core/replica/kv-txn.ts";

// A sequential model written apart from the state machine: a map of plain records, and a txn
// applied to a copy that is kept only when every operation applied.
interface ModelEntry {
  readonly value: string;
  readonly list: readonly string[] | undefined;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
}
type Model = Map<string, ModelEntry>;
type OpOutcome = KvTxnOpResult | { readonly op: "rejected"; readonly reason: string };

function modelOp(model: Model, op: KvTxnOp, index: number): OpOutcome {
  const entry = model.get(op.key);
  switch (op.op) {
    case "get":
      return entry === undefined
        ? { op: "get", found: false, value: "", createRevision: 0, modRevision: 0, version: 0 }
        : { op: "get", found: true, value: entry.value, createRevision: entry.createRevision, modRevision: entry.modRevision, version: entry.version };
    case "read-list":
      return entry?.list === undefined ? { op: "read-list", found: false, list: [] } : { op: "read-list", found: true, list: entry.list };
    case "delete":
      return { op: "delete", deleted: model.delete(op.key) ? 1 : 0 };
    case "put":
      if (entry?.list !== undefined) return { op: "rejected", reason: "wrong-kind" };
      model.set(op.key, { value: op.value, list: undefined, createRevision: entry?.createRevision ?? index, modRevision: index, version: (entry?.version ?? 0) + 1 });
      return { op: "put" };
    case "append": {
      if (entry !== undefined && entry.list === undefined) return { op: "rejected", reason: "wrong-kind" };
      const list = [...(entry?.list ?? []), op.value];
      if (list.length > KV_LIST_ENTRIES_MAX || new TextEncoder().encode(list.join("")).length > KV_LIST_BYTES_MAX) return { op: "rejected", reason: "list-full" };
      model.set(op.key, { value: "", list, createRevision: entry?.createRevision ?? index, modRevision: index, version: (entry?.version ?? 0) + 1 });
      return { op: "append", length: list.length };
    }
  }
}

function modelHolds(model: Model, compare: KvCompare): boolean {
  const entry = model.get(compare.key);
  if (compare.target === "exists") return compare.exists === (entry !== undefined);
  if (compare.target === "value") return entry !== undefined && entry.list === undefined && (compare.op === "==") === (entry.value === compare.value);
  const actual = entry === undefined ? 0 : compare.target === "version" ? entry.version : compare.target === "mod-revision" ? entry.modRevision : entry.createRevision;
  return { "==": actual === compare.number, "!=": actual !== compare.number, "<": actual < compare.number, ">": actual > compare.number }[compare.op];
}

/** The model's answer to a command, and the model after it. */
function modelApply(model: Model, command: KvCommand, index: number): [KvResult | { op: "rejected"; reason: string }, Model] {
  if (command.op === "txn") {
    const succeeded = command.txn.compares.every((compare) => modelHolds(model, compare));
    const copy: Model = new Map(model);
    const results: KvTxnOpResult[] = [];
    for (const op of succeeded ? command.txn.success : command.txn.failure) {
      const outcome = modelOp(copy, op, index);
      if (outcome.op === "rejected") return [outcome, model];
      results.push(outcome);
    }
    return [{ op: "txn", succeeded, results }, copy];
  }
  assert(command.op === "put" || command.op === "append" || command.op === "delete");
  const copy: Model = new Map(model);
  const outcome = modelOp(copy, command, index);
  if (outcome.op === "rejected") return [outcome, model];
  if (outcome.op === "delete") return [{ op: "delete", deleted: outcome.deleted, more: false }, copy];
  if (outcome.op === "append") return [outcome, copy];
  assert(outcome.op === "put", "a plain command is a put, an append or a delete");
  return [{ op: "put" }, copy];
}

const key = fc.constantFrom("a", "b", "c", "d");
const value = fc.constantFrom("", "x", "y", "é");
const txnOp: fc.Arbitrary<KvTxnOp> = fc.oneof(
  fc.record({ op: fc.constant("put" as const), key, value }, { noNullPrototype: true }),
  fc.record({ op: fc.constant("append" as const), key, value }, { noNullPrototype: true }),
  fc.record({ op: fc.constant("delete" as const), key }, { noNullPrototype: true }),
  fc.record({ op: fc.constant("get" as const), key }, { noNullPrototype: true }),
  fc.record({ op: fc.constant("read-list" as const), key }, { noNullPrototype: true }),
);
const compare: fc.Arbitrary<KvCompare> = fc.oneof(
  fc.record({ target: fc.constant("value" as const), key, op: fc.constantFrom("==" as const, "!=" as const), value }, { noNullPrototype: true }),
  fc.record({ target: fc.constantFrom("version" as const, "mod-revision" as const, "create-revision" as const), key, op: fc.constantFrom("==" as const, "!=" as const, "<" as const, ">" as const), number: fc.nat(6) }, { noNullPrototype: true }),
  fc.record({ target: fc.constant("exists" as const), key, exists: fc.boolean() }, { noNullPrototype: true }),
);
const txn: fc.Arbitrary<KvTxn> = fc.record(
  { compares: fc.array(compare, { maxLength: 3 }), success: fc.array(txnOp, { maxLength: 4 }), failure: fc.array(txnOp, { maxLength: 4 }) },
  { noNullPrototype: true },
).filter((t) => t.success.filter((op) => op.op === "get" || op.op === "read-list").length <= KV_TXN_READS_MAX);
const command: fc.Arbitrary<KvCommand> = fc.oneof(
  fc.record({ op: fc.constant("put" as const), key, value }, { noNullPrototype: true }),
  fc.record({ op: fc.constant("append" as const), key, value }, { noNullPrototype: true }),
  fc.record({ op: fc.constant("delete" as const), key }, { noNullPrototype: true }),
  fc.record({ op: fc.constant("txn" as const), key: fc.constant("" as const), txn }, { noNullPrototype: true }),
);

/** The machine's state in the model's terms. */
function stateOf(kv: KvStateMachine): Model {
  const state: Model = new Map();
  for (const k of ["a", "b", "c", "d"]) {
    const entry = kv.entry(k);
    if (entry !== undefined) state.set(k, { value: entry.value, list: entry.list, createRevision: entry.createRevision, modRevision: entry.modRevision, version: entry.version });
  }
  return state;
}

/** Whether every command answers as the model does and leaves the model's state. */
function matchesModel(commands: readonly KvCommand[], bugs: ReadonlySet<KvPlantedBug>): boolean {
  const kv = new KvStateMachine(bugs);
  let model: Model = new Map();
  for (const [i, c] of commands.entries()) {
    const actual = kv.apply(i + 1, encodeKvCommand(c));
    const [expected, next] = modelApply(model, c, i + 1);
    model = next;
    const actualComparable = actual.op === "rejected" ? { op: "rejected", reason: actual.reason } : actual;
    try {
      assert.deepEqual(actualComparable, expected);
      assert.deepEqual(stateOf(kv), model);
    } catch {
      return false;
    }
  }
  return true;
}

describe("kv lists and transactions", () => {
  test("append builds a list that a read returns whole, with revisions as the other writes", () => {
    const kv = new KvStateMachine();
    assert.deepEqual(kv.apply(1, encodeKvCommand({ op: "append", key: "l", value: "1" })), { op: "append", length: 1 });
    assert.deepEqual(kv.apply(2, encodeKvCommand({ op: "append", key: "l", value: "2" })), { op: "append", length: 2 });
    const entry = kv.entry("l");
    assert.deepEqual(entry?.list, ["1", "2"]);
    assert.equal(entry?.createRevision, 1);
    assert.equal(entry?.modRevision, 2);
    assert.equal(entry?.version, 2);
    assert.deepEqual(kv.changes.read(1, 2, () => true, { changesMax: 10, bytesMax: 1024 }), { status: "ok", changes: [{ type: "append", key: "l", value: "1", revision: 1 }, { type: "append", key: "l", value: "2", revision: 2 }], nextRevision: 3 });
  });

  test("a key holds a value or a list: writing the other kind is refused with no effect, a delete removes either", () => {
    const kv = new KvStateMachine();
    kv.apply(1, encodeKvCommand({ op: "put", key: "v", value: "x" }));
    kv.apply(2, encodeKvCommand({ op: "append", key: "l", value: "1" }));
    assert.equal((kv.apply(3, encodeKvCommand({ op: "append", key: "v", value: "1" })) as { reason: string }).reason, "wrong-kind");
    assert.equal((kv.apply(4, encodeKvCommand({ op: "put", key: "l", value: "x" })) as { reason: string }).reason, "wrong-kind");
    assert.equal((kv.apply(5, encodeKvCommand({ op: "cas", key: "l", expected: "", value: "x" })) as { reason: string }).reason, "wrong-kind");
    assert.equal(kv.entry("v")?.value, "x");
    assert.deepEqual(kv.entry("l")?.list, ["1"]);
    assert.deepEqual(kv.apply(6, encodeKvCommand({ op: "delete", key: "l" })), { op: "delete", deleted: 1, more: false });
    assert.deepEqual(kv.apply(7, encodeKvCommand({ op: "put", key: "l", value: "now a value" })), { op: "put" });
  });

  test("a list is bounded by elements and bytes, the same limit on append alone and inside a txn", () => {
    const kv = new KvStateMachine();
    for (let i = 1; i <= KV_LIST_ENTRIES_MAX; i++) kv.apply(i, encodeKvCommand({ op: "append", key: "l", value: "" }));
    const refused = kv.apply(KV_LIST_ENTRIES_MAX + 1, encodeKvCommand({ op: "append", key: "l", value: "" }));
    assert.equal(refused.op === "rejected" && refused.reason, "list-full");
    const inTxn = kv.apply(KV_LIST_ENTRIES_MAX + 2, encodeKvCommand({ op: "txn", key: "", txn: { compares: [], success: [{ op: "put", key: "p", value: "1" }, { op: "append", key: "l", value: "" }], failure: [] } }));
    assert.equal(inTxn.op === "rejected" && inTxn.reason, "list-full");
    assert.equal(kv.entry("p"), undefined, "the txn's put before the refused append was undone");
    const big = "b".repeat(KV_LIST_BYTES_MAX / 2);
    const bytes = new KvStateMachine();
    assert.equal(bytes.apply(1, encodeKvCommand({ op: "append", key: "l", value: big })).op, "append");
    assert.equal(bytes.apply(2, encodeKvCommand({ op: "append", key: "l", value: big })).op, "append");
    const over = bytes.apply(3, encodeKvCommand({ op: "append", key: "l", value: "b" }));
    assert.equal(over.op === "rejected" && over.reason, "list-full");
  });

  test("a txn runs the branch its compares choose and answers each operation", () => {
    const kv = new KvStateMachine();
    kv.apply(1, encodeKvCommand({ op: "put", key: "a", value: "1" }));
    const t: KvTxn = {
      compares: [{ target: "value", key: "a", op: "==", value: "1" }, { target: "exists", key: "b", exists: false }],
      success: [{ op: "put", key: "b", value: "2" }, { op: "get", key: "b" }, { op: "append", key: "l", value: "x" }, { op: "read-list", key: "l" }],
      failure: [{ op: "get", key: "a" }],
    };
    assert.deepEqual(kv.apply(2, encodeKvCommand({ op: "txn", key: "", txn: t })), {
      op: "txn",
      succeeded: true,
      results: [{ op: "put" }, { op: "get", found: true, value: "2", createRevision: 2, modRevision: 2, version: 1 }, { op: "append", length: 1 }, { op: "read-list", found: true, list: ["x"] }],
    });
    assert.deepEqual(kv.apply(3, encodeKvCommand({ op: "txn", key: "", txn: t })), {
      op: "txn",
      succeeded: false,
      results: [{ op: "get", found: true, value: "1", createRevision: 1, modRevision: 1, version: 1 }],
    });
  });

  test("a txn equals its sequential model (fast-check), and restore from a snapshot carries the lists", () => {
    fc.assert(
      fc.property(fc.array(command, { maxLength: 30 }), (commands) => {
        assert.ok(matchesModel(commands, new Set()));
        const kv = new KvStateMachine();
        commands.forEach((c, i) => kv.apply(i + 1, encodeKvCommand(c)));
        const restored = new KvStateMachine();
        restored.restore(kv.snapshot());
        assert.deepEqual(stateOf(restored), stateOf(kv));
        assert.deepEqual(restored.snapshot(), kv.snapshot());
      }),
      { numRuns: 300 },
    );
  });

  test("planted bug txn-not-atomic: the model test finds a txn that kept part of its writes", () => {
    const found = fc.check(fc.property(fc.array(command, { maxLength: 30 }), (commands) => matchesModel(commands, new Set<KvPlantedBug>(["txn-not-atomic"]))), { numRuns: 2000, seed: 11 });
    assert.equal(found.failed, true, "the model comparison must fire on the planted bug");
  });

  test("a map without lists still snapshots in format 2 (readable by the previous version); with a list, format 3", () => {
    const kv = new KvStateMachine();
    kv.apply(1, encodeKvCommand({ op: "put", key: "a", value: "1" }));
    assert.equal(new DataView(kv.snapshot().buffer).getUint32(4, true), 2);
    kv.apply(2, encodeKvCommand({ op: "append", key: "l", value: "1" }));
    assert.equal(new DataView(kv.snapshot().buffer).getUint32(4, true), 3);
  });

  test("txn and append commands survive encoding", () => {
    fc.assert(fc.property(command, (c) => assert.deepEqual(decodeKvCommand(encodeKvCommand(c)), c)));
  });

  test("a txn past a limit is refused naming it", () => {
    const getA: KvTxnOp = { op: "get", key: "a" };
    const putA: KvTxnOp = { op: "put", key: "a", value: "" };
    const exists: KvCompare = { target: "exists", key: "a", exists: true };
    const txnCommand = (t: KvTxn): KvCommand => ({ op: "txn", key: "", txn: t });
    assert.match(validateKvCommand(txnCommand({ compares: Array(KV_TXN_COMPARES_MAX + 1).fill(exists), success: [], failure: [] })) ?? "", /^compare: 65 clauses exceeds the limit of 64/);
    assert.match(validateKvCommand(txnCommand({ compares: [], success: Array(KV_TXN_OPS_MAX + 1).fill(putA), failure: [] })) ?? "", /^success: 65 operations exceeds the limit of 64/);
    assert.match(validateKvCommand(txnCommand({ compares: [], success: [], failure: Array(KV_TXN_READS_MAX + 1).fill(getA) })) ?? "", /^failure: 9 reads exceeds the limit of 8/);
    const half = "v".repeat(KV_TXN_TEXT_BYTES_MAX / 2);
    assert.match(validateKvCommand(txnCommand({ compares: [], success: [{ op: "put", key: "a", value: half }], failure: [{ op: "put", key: "b", value: half }] })) ?? "", /^txn: \d+ bytes of keys and values exceeds the limit of 131072/);
    assert.match(validateKvCommand(txnCommand({ compares: [], success: [{ op: "put", key: "", value: "" }], failure: [] })) ?? "", /^success\[0\]\.key: must not be empty/);
    assert.match(validateKvCommand(txnCommand({ compares: [{ target: "version", key: "a", op: "<", number: -1 }], success: [], failure: [] })) ?? "", /^compare\[0\]: version must be a non-negative integer/);
  });
});
