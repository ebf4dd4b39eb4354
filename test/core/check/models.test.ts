// Each model on small hand-written histories, info semantics, budgets and scheduling.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { buildHistory, checkHistory, checkText, createModel, kvModel } from "../../../src/core/check/index.ts";
import type { HistoryEvent, ModelName, OpEvent, Value } from "../../../src/core/check/index.ts";
import { keyword } from "../../../src/core/check/index.ts";

/** Events from compact rows: [process, type, f, value]. */
function events(rows: Array<[number, OpEvent["type"], string, Value]>): OpEvent[] {
  return rows.map(([process, type, f, value]) => ({ process, type, f, value }));
}

function verdict(model: ModelName, rows: Array<[number, OpEvent["type"], string, Value]>): string {
  return checkHistory(buildHistory(events(rows)), createModel(model)).verdict;
}

describe("models", () => {
  test("register: a read sees the last write, concurrent writes may be ordered either way", () => {
    assert.equal(verdict("register", [[0, "invoke", "write", 1], [1, "invoke", "write", 2], [0, "ok", "write", 1], [1, "ok", "write", 2], [2, "invoke", "read", null], [2, "ok", "read", 1]]), "ok");
    assert.equal(verdict("register", [[0, "invoke", "write", 1], [0, "ok", "write", 1], [1, "invoke", "write", 2], [1, "ok", "write", 2], [2, "invoke", "read", null], [2, "ok", "read", 1]]), "illegal");
  });

  test("cas-register: an info cas may or may not have taken effect", () => {
    const base: Array<[number, OpEvent["type"], string, Value]> = [[0, "invoke", "cas", [0, 5]], [0, "info", "cas", [0, 5]]];
    assert.equal(verdict("cas-register", [...base, [1, "invoke", "read", null], [1, "ok", "read", 5]]), "ok");
    assert.equal(verdict("cas-register", [...base, [1, "invoke", "read", null], [1, "ok", "read", 0]]), "ok");
    assert.equal(verdict("cas-register", [...base, [1, "invoke", "read", null], [1, "ok", "read", 7]]), "illegal");
    // Once seen, the effect cannot be undone.
    assert.equal(verdict("cas-register", [...base, [1, "invoke", "read", null], [1, "ok", "read", 5], [1, "invoke", "read", null], [1, "ok", "read", 0]]), "illegal");
  });

  test("multi-register: transactions read and write several registers atomically", () => {
    const txn = (...micro: Array<[string, string, Value]>): Value => micro.map(([f, k, v]) => [keyword(f), keyword(k), v]);
    const ok = [
      [0, "invoke", "txn", txn(["write", "x", 1], ["write", "y", 1])],
      [0, "ok", "txn", txn(["write", "x", 1], ["write", "y", 1])],
      [1, "invoke", "txn", txn(["read", "x", null], ["read", "y", null])],
      [1, "ok", "txn", txn(["read", "x", 1], ["read", "y", 1])],
    ] as Array<[number, OpEvent["type"], string, Value]>;
    assert.equal(verdict("multi-register", ok), "ok");
    const torn = ok.slice(0, 3).concat([[1, "ok", "txn", txn(["read", "x", 1], ["read", "y", 0])]]);
    assert.equal(verdict("multi-register", torn), "illegal");
  });

  test("set: a read returns exactly the elements added before it", () => {
    assert.equal(verdict("set", [[0, "invoke", "add", 1], [0, "ok", "add", 1], [1, "invoke", "add", 2], [2, "invoke", "read", null], [2, "ok", "read", [1]], [1, "ok", "add", 2]]), "ok");
    assert.equal(verdict("set", [[0, "invoke", "add", 1], [0, "ok", "add", 1], [2, "invoke", "read", null], [2, "ok", "read", [2]]]), "illegal");
  });

  test("counter: reads see the sum of the adds before them", () => {
    assert.equal(verdict("counter", [[0, "invoke", "add", 2], [1, "invoke", "read", null], [1, "ok", "read", 2], [0, "ok", "add", 2]]), "ok");
    assert.equal(verdict("counter", [[0, "invoke", "add", 2], [0, "ok", "add", 2], [1, "invoke", "read", null], [1, "ok", "read", 1]]), "illegal");
  });

  test("mutex: two holders at once are impossible", () => {
    assert.equal(verdict("mutex", [[0, "invoke", "acquire", null], [0, "ok", "acquire", null], [0, "invoke", "release", null], [1, "invoke", "acquire", null], [0, "ok", "release", null], [1, "ok", "acquire", null]]), "ok");
    assert.equal(verdict("mutex", [[0, "invoke", "acquire", null], [0, "ok", "acquire", null], [1, "invoke", "acquire", null], [1, "ok", "acquire", null]]), "illegal");
  });

  test("kv: every key starts empty; put, append, cas and get per key", () => {
    const e: HistoryEvent[] = [
      { process: 0, type: "invoke", f: "get", key: "a", value: null, time: 1 },
      { process: 0, type: "ok", f: "get", key: "a", value: "", time: 2 },
      { process: 0, type: "invoke", f: "append", key: "a", value: "x", time: 3 },
      { process: 0, type: "ok", f: "append", key: "a", value: "x", time: 4 },
      { process: 1, type: "invoke", f: "cas", key: "a", value: ["x", "y"], time: 5 },
      { process: 1, type: "ok", f: "cas", key: "a", value: ["x", "y"], time: 6 },
      { process: 0, type: "invoke", f: "put", key: "b", value: "z", time: 7 },
      { process: 0, type: "ok", f: "put", key: "b", value: "z", time: 8 },
      { process: 1, type: "invoke", f: "get", key: "a", value: null, time: 9 },
      { process: 1, type: "ok", f: "get", key: "a", value: "y", time: 10 },
    ];
    const history = buildHistory(e, { failSemantics: "compare-failed" });
    const result = checkHistory(history, kvModel());
    assert.equal(result.verdict, "ok");
    assert.equal(result.partitions.length, 2);
    const a = result.partitions.find((p) => p.label === "a")!;
    assert.deepEqual(a.linearization, [0, 1, 2, 4]);
  });
});

describe("search results and budgets", () => {
  const hard = (() => {
    // Many concurrent puts to one key and a final read that none of them explains: every
    // order of the puts must be tried (each could be the last), about 2^16 configurations.
    const e: HistoryEvent[] = [];
    for (let p = 0; p < 16; p += 1) e.push({ process: p, type: "invoke", f: "put", key: "h", value: `v${p}`, time: p });
    for (let p = 0; p < 16; p += 1) e.push({ process: p, type: "ok", f: "put", key: "h", value: `v${p}`, time: 100 + p });
    e.push({ process: 99, type: "invoke", f: "get", key: "h", value: null, time: 200 });
    e.push({ process: 99, type: "ok", f: "get", key: "h", value: "nope", time: 201 });
    return e;
  })();

  test("a step budget gives unknown, with what was explored", () => {
    const result = checkHistory(buildHistory(hard), kvModel(), { stepLimit: 5000 });
    assert.equal(result.verdict, "unknown");
    assert.match(result.reason ?? "", /step budget/);
    assert.equal(result.steps, 5000);
    assert.ok(result.partitions[0].cacheEntries > 0);
    assert.ok((result.partitions[0].longest ?? []).length > 0);
  });

  test("a memory budget gives unknown instead of running out of memory", () => {
    const result = checkHistory(buildHistory(hard), kvModel(), { memoryBudgetBytes: 200_000 });
    assert.equal(result.verdict, "unknown");
    assert.match(result.reason ?? "", /memory budget/);
  });

  test("an illegal small partition is found while a hard one is still running", () => {
    // Larger than the hard partition (so it is scheduled after it) but easy.
    const small: HistoryEvent[] = [];
    for (let i = 0; i < 20; i += 1) {
      small.push({ process: 50, type: "invoke", f: "put", key: "s", value: String(i), time: 300 + 4 * i });
      small.push({ process: 50, type: "ok", f: "put", key: "s", value: String(i), time: 301 + 4 * i });
    }
    small.push({ process: 50, type: "invoke", f: "get", key: "s", value: null, time: 400 });
    small.push({ process: 50, type: "ok", f: "get", key: "s", value: "impossible", time: 401 });
    const result = checkHistory(buildHistory([...hard, ...small]), kvModel(), { sliceSteps: 100 });
    assert.equal(result.verdict, "illegal");
    assert.equal(result.illegalPartition, "s");
    assert.deepEqual(result.partitions.map((p) => p.label), ["h", "s"]);
    assert.equal(result.partitions.find((p) => p.label === "h")?.status, "not-checked");
  });

  test("an illegal history reports its longest partial linearization and the stuck operations", () => {
    const { result, history } = checkText(
      `{:process 0, :type :invoke, :f :write, :value 1}\n{:process 0, :type :ok, :f :write, :value 1}\n{:process 1, :type :invoke, :f :read, :value nil}\n{:process 1, :type :ok, :f :read, :value 2}\n`,
      "s.edn",
      { model: "register" },
    );
    assert.equal(result.verdict, "illegal");
    const p = result.partitions[0];
    assert.deepEqual(p.longest, [[0]]);
    assert.deepEqual(p.stuck, [{ operationId: 1, reason: "not-allowed" }]);
    assert.equal(history.operations[1].invokeLine, 3);
  });

  test("verdicts are deterministic for the same input and budget", () => {
    const a = checkHistory(buildHistory(hard), kvModel(), { stepLimit: 3000 });
    const b = checkHistory(buildHistory(hard), kvModel(), { stepLimit: 3000 });
    assert.deepEqual({ ...a, elapsedMs: 0 }, { ...b, elapsedMs: 0 });
  });
});

describe("info operations and reports", () => {
  test("a process may invoke again after an info completion; the info operation stays open", () => {
    const history = buildHistory(
      events([
        [0, "invoke", "write", 3],
        [0, "info", "write", 3],
        [0, "invoke", "read", null],
        [0, "ok", "read", 0],
        [1, "invoke", "read", null],
        [1, "ok", "read", 3],
      ]),
    );
    assert.equal(history.operations[0].status, "info");
    assert.equal(history.operations[0].completeIndex, Infinity);
    // The write took effect after the first read and before the second.
    assert.equal(checkHistory(history, createModel("register")).verdict, "ok");
  });

  test("the HTML report renders unknown results too", async () => {
    const { renderHtmlReport } = await import("../../../src/core/check/index.ts");
    const e: HistoryEvent[] = [];
    for (let p = 0; p < 16; p += 1) e.push({ process: p, type: "invoke", f: "put", key: "h", value: `v${p}`, time: p });
    for (let p = 0; p < 16; p += 1) e.push({ process: p, type: "ok", f: "put", key: "h", value: `v${p}`, time: 100 + p });
    e.push({ process: 99, type: "invoke", f: "get", key: "h", value: null, time: 200 });
    e.push({ process: 99, type: "ok", f: "get", key: "h", value: "nope", time: 201 });
    const history = buildHistory(e);
    const model = kvModel();
    const result = checkHistory(history, model, { stepLimit: 2000 });
    assert.equal(result.verdict, "unknown");
    const html = renderHtmlReport(history, model, result);
    assert.match(html, /why unknown/);
    assert.match(html, /Longest partial linearization/);
    assert.doesNotMatch(html, /https?:\/\//);
  });
});

describe("long histories", () => {
  test("a long sequential history is checked in one step per operation", () => {
    // 20,000 operations on one key: one partition whose sets span 625 words; the cache
    // keeps only each set's window, and the lookahead scans skip the done prefix.
    const e: HistoryEvent[] = [];
    for (let i = 0; i < 10_000; i += 1) {
      e.push({ process: 0, type: "invoke", f: "append", key: "k", value: i % 2 === 0 ? "a" : "b", time: 4 * i });
      e.push({ process: 0, type: "ok", f: "append", key: "k", value: i % 2 === 0 ? "a" : "b", time: 4 * i + 1 });
      e.push({ process: 1, type: "invoke", f: "get", key: "k", value: null, time: 4 * i + 2 });
      e.push({ process: 1, type: "ok", f: "get", key: "k", value: "ab".repeat(Math.floor((i + 1) / 2)) + (i % 2 === 0 ? "a" : ""), time: 4 * i + 3 });
    }
    const result = checkHistory(buildHistory(e), kvModel());
    assert.equal(result.verdict, "ok");
    assert.equal(result.steps, 20_000);
    assert.equal(result.partitions[0].linearization?.length, 20_000);
  });
});

describe("open operations at the end", () => {
  test("an operation invoked after an open one, with nothing completing after it, is still checked", () => {
    // The open write's return sorts after every position, including later invocations.
    const rows: Array<[number, OpEvent["type"], string, Value]> = [
      [0, "invoke", "write", 1],
      [1, "invoke", "read", null],
      [1, "ok", "read", 1],
      [2, "invoke", "write", 2],
    ];
    assert.equal(verdict("register", rows), "ok");
    assert.equal(verdict("register", [...rows, [3, "invoke", "read", null], [3, "ok", "read", 0]]), "illegal");
  });
});
