// List-append transactions in the simulator (src/core/sim/transaction-history.ts): simulated
// clients run them through the production request path beside their register operations, and
// the Elle-style checker judges their history at the end of every run (Transaction Isolation).
// The planted bug read-only-txn-served-locally (src/core/replica/request-path.ts) answers
// read-only transactions from a node's applied state; only this check sees it.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { FAULT_PROFILES } from "../../../src/core/sim/fault-profile.ts";
import { seedFromNumber } from "../../../src/core/sim/seed.ts";
import { runSimulation, type SimulationOptions } from "../../../src/core/sim/simulation.ts";
import { PROPERTIES } from "../../../src/core/sim/properties.ts";
import { checkTransactions, TransactionHistory } from "../../../src/core/sim/transaction-history.ts";
import { defaultWorkloadOptions, TRANSACTION_WORKLOAD_MIX, Workload } from "../../../src/core/sim/workload.ts";
import { outcomeProblem, type ClientOperation } from "../../../src/core/sim/client-protocol.ts";
import { keyword, parseEdnHistory, writeEdnHistory, type OpEvent } from "../../../src/core/check/index.ts";
import { EventQueue } from "../../../src/core/sim/event-queue.ts";
import { History } from "../../../src/core/sim/history.ts";
import { Prng } from "../../../src/core/sim/prng.ts";
import type { ClientRequest } from "../../../src/core/replica/request-types.ts";
import { expectPlantedBugCaught } from "../../support/planted-bug-scan.ts";

function txnRun(seed: number, profile = "standard", durationMs = 20_000): SimulationOptions {
  return {
    seed: seedFromNumber(seed),
    nodeCount: 5,
    durationMs,
    profile: FAULT_PROFILES[profile]!,
    // Clients that wander (a load balancer in front): a transaction reaches followers too.
    workload: { ...defaultWorkloadOptions, clientCount: 6, thinkTimeMs: [0, 50], wanderProbability: 0.3, mix: TRANSACTION_WORKLOAD_MIX },
  };
}

function appendsAndReads(history: readonly OpEvent[]): { appends: number; nonEmptyReads: number } {
  let appends = 0;
  let nonEmptyReads = 0;
  for (const event of history) {
    if (event.type !== "ok") continue;
    for (const micro of event.value as ReadonlyArray<readonly [string, string, unknown]>) {
      if ((micro[0] as unknown) === keyword("append")) appends++;
      else if (Array.isArray(micro[2]) && micro[2].length > 0) nonEmptyReads++;
    }
  }
  return { appends, nonEmptyReads };
}

describe("list-append transactions in simulation", () => {
  test("clean runs under the standard and leader-churn faults are strict serializable, and the registers beside them linearizable", () => {
    for (const [seed, profile] of [[1, "standard"], [2, "leader-churn"]] as const) {
      const result = runSimulation(txnRun(seed, profile));
      assert.equal(result.failure, undefined, `seed ${seed}: ${result.failure?.property}: ${result.failure?.message}`);
      const transactions = result.transactions;
      assert.ok(transactions !== undefined, "the run checked its transactions");
      assert.equal(transactions.strongestModel, "strict-serializable");
      assert.deepEqual(transactions.counts, {});
      assert.ok(transactions.transactions > 50, `seed ${seed}: only ${transactions.transactions} transactions`);
      const { appends, nonEmptyReads } = appendsAndReads(transactions.history);
      assert.ok(appends > 0 && nonEmptyReads > 0, `seed ${seed}: appends ${appends}, reads that saw elements ${nonEmptyReads}`);
      assert.equal(result.linearizability.verdict, "ok");
    }
  });

  test("a run without transactions in its mix records none, and one seed reproduces a run with them", () => {
    const plain = runSimulation({ ...txnRun(3), workload: { ...defaultWorkloadOptions } });
    assert.equal(plain.transactions, undefined);
    const first = runSimulation(txnRun(3, "standard", 5_000));
    const second = runSimulation(txnRun(3, "standard", 5_000));
    assert.equal(first.traceHash, second.traceHash);
    assert.deepEqual(first.transactions, second.transactions);
  });

  test("planted bug read-only-txn-served-locally -> Transaction Isolation", () => {
    assert.match(PROPERTIES["Transaction Isolation"], /^the list-append transactions' history is strict serializable/);
    expectPlantedBugCaught({
      bug: "read-only-txn-served-locally",
      seeds: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
      property: "Transaction Isolation",
      run: (seed, bugOn) => runSimulation({ ...txnRun(seed), ...(bugOn ? { requestPathPlantedBugs: new Set(["read-only-txn-served-locally"] as const) } : {}) }),
      // A read from the past: the list it returned lacks an append that completed before the read began.
      checkFailure: (failure) => assert.match(failure.message, /not strict serializable .*realtime.*\(rt\)/),
      checkBugOff: (result, seed) => assert.equal(result.transactions?.strongestModel, "strict-serializable", `bug off, seed ${seed}`),
    });
  });

  test("the recorded history is Jepsen EDN: written and read back, the checker's verdict is the same", () => {
    const result = runSimulation(txnRun(4, "standard", 5_000));
    const history = result.transactions!.history;
    const back = parseEdnHistory(writeEdnHistory(history), "txns.edn");
    assert.equal(back.length, history.length);
    const again = checkTransactions(back);
    assert.equal(again.strongestModel, result.transactions!.strongestModel);
    assert.equal(again.transactions, result.transactions!.transactions);
  });
});

describe("the transaction history", () => {
  test("an illegal history is named with its anomaly: a read that misses an append completed before it", () => {
    const history = new TransactionHistory(100, 4);
    history.invoke(0, [{ f: "append", key: "l0", value: "a" }], 1);
    history.complete(0, "ok", [{ f: "append", key: "l0", value: "a" }], 2);
    history.invoke(1, [{ f: "r", key: "l0" }], 3);
    history.complete(1, "ok", [{ f: "r", key: "l0", list: [] }], 4);
    const summary = checkTransactions(history.events);
    assert.notEqual(summary.strongestModel, "strict-serializable");
    assert.match(summary.firstAnomaly ?? "", /realtime/);
  });

  test("a fail never committed and an info may have: an info's append read later is legal, a fail's is an aborted read (G1a)", () => {
    for (const [type, legal] of [["info", true], ["fail", false]] as const) {
      const history = new TransactionHistory(100, 4);
      history.invoke(0, [{ f: "append", key: "l0", value: "a" }], 1);
      history.complete(0, type, undefined, 2);
      history.invoke(1, [{ f: "r", key: "l0" }], 3);
      history.complete(1, "ok", [{ f: "r", key: "l0", list: ["a"] }], 4);
      const summary = checkTransactions(history.events);
      assert.equal(summary.strongestModel === "strict-serializable", legal, `${type}: ${JSON.stringify(summary)}`);
      if (!legal) assert.ok(summary.counts.G1a !== undefined, JSON.stringify(summary.counts));
    }
  });

  test("the history refuses what a client cannot do (programmer errors), and stops taking invocations before it is full", () => {
    const history = new TransactionHistory(6, 2);
    assert.throws(() => history.complete(0, "info", undefined, 1), /never invoked/);
    assert.throws(() => history.invoke(0, [], 1), /without micro-operations/);
    history.invoke(0, [{ f: "r", key: "l0" }], 1);
    assert.throws(() => history.invoke(0, [{ f: "r", key: "l0" }], 2), /already has a transaction outstanding/);
    assert.throws(() => history.complete(0, "ok", [{ f: "r", key: "l1", list: [] }], 2), /another micro-op/);
    history.complete(0, "ok", [{ f: "r", key: "l0", list: [] }], 2);
    history.invoke(1, [{ f: "r", key: "l0" }], 3);
    assert.equal(history.acceptsInvocations, true);
    history.complete(1, "info", undefined, 4);
    assert.equal(history.acceptsInvocations, false, "the reserve keeps room for pending completions");
  });
});

describe("Client Protocol: transactions", () => {
  const txn: ClientOperation = { f: "txn", micro: [{ f: "append", key: "l0", value: "c0-1" }, { f: "r", key: "l1" }] };
  const ok = (results: unknown[], succeeded = true) => ({ status: "ok" as const, servedBy: 1, result: { kind: "txn" as const, succeeded, results: results as never, index: 3 } });

  test("a result per micro-op, of its own kind, passes; anything else is named", () => {
    assert.equal(outcomeProblem(txn, ok([{ op: "append", length: 1 }, { op: "read-list", found: false, list: [] }])), undefined);
    assert.match(outcomeProblem(txn, ok([{ op: "append", length: 1 }]))!, /2 micro-ops got 1 results/);
    assert.match(outcomeProblem(txn, ok([{ op: "append", length: 1 }, { op: "put" }]))!, /micro-op 2 \(read-list\) got a put result/);
    assert.match(outcomeProblem(txn, ok([{ op: "append", length: 1 }, { op: "read-list", found: false, list: [] }], false))!, /compares failed/);
    assert.match(outcomeProblem(txn, { status: "ok", servedBy: 1, result: { kind: "put", index: 1 } })!, /a txn got ok with a put result/);
  });

  test("the workload reports a malformed transaction answer as a violation and records nothing for it", () => {
    const queue = new EventQueue(10_000);
    const transactions = new TransactionHistory(1_000, 4);
    const sent: Array<{ from: number; requestId: number; request: ClientRequest }> = [];
    const violations: string[] = [];
    const workload = new Workload(
      queue,
      Prng.stream(seedFromNumber(1), "workload"),
      new History(1_000, 4),
      [1, 2, 3],
      4,
      { ...defaultWorkloadOptions, clientCount: 1, mix: { get: 0, put: 0, cas: 0, txn: 1 } },
      (from, _to, requestId, request) => sent.push({ from, requestId, request }),
      () => {},
      (message) => violations.push(message),
      transactions,
    );
    workload.start(Number.MAX_SAFE_INTEGER);
    while (sent.length === 0 && queue.runNext());
    const { from, requestId, request } = sent[0]!;
    assert.equal(request.kind, "txn");
    workload.receive(from, requestId, ok([]));
    assert.equal(violations.length, 1);
    assert.match(violations[0]!, /client 0 .*micro-ops got 0 results/);
    assert.equal(transactions.events.length, 1, "only the invocation");
  });
});
