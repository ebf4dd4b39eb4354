// "Client Protocol": simulated clients get the request path's outcomes as client-codec bytes;
// the codec refuses malformed bytes (test/core/wire/client-codec.test.ts), and the workload
// checks that an ok carries the result of its operation's own kind before it reads a field, so
// a node or client path that answers with the wrong shape is a named failure with its seed,
// never a TypeError inside src/core/sim.

import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { outcomeProblem, type ClientOperation } from "../../../src/core/sim/client-protocol.ts";
import type { ClientRequest, RequestOutcome } from "../../../src/core/replica/request-types.ts";
import { EventQueue } from "../../../src/core/sim/event-queue.ts";
import { History, type HistoryEvent } from "../../../src/core/sim/history.ts";
import { Prng } from "../../../src/core/sim/prng.ts";
import { seedFromNumber } from "../../../src/core/sim/seed.ts";
import { Workload, defaultWorkloadOptions } from "../../../src/core/sim/workload.ts";

const get: ClientOperation = { f: "get", key: "k0" };
const put: ClientOperation = { f: "put", key: "k0", value: "c0-1" };
const cas: ClientOperation = { f: "cas", key: "k0", expected: "", value: "c0-2" };

describe("Client Protocol: outcome shapes", () => {
  test("well-formed outcomes pass", () => {
    assert.equal(outcomeProblem(get, { status: "ok", result: { kind: "get", value: "", index: 1, found: false, createRevision: 0, modRevision: 0, version: 0 }, servedBy: 1 }), undefined);
    assert.equal(outcomeProblem(put, { status: "ok", result: { kind: "put", index: 1 }, servedBy: 1 }), undefined);
    assert.equal(outcomeProblem(cas, { status: "ok", result: { kind: "cas", swapped: false, current: "x", index: 1 }, servedBy: 1 }), undefined);
    assert.equal(outcomeProblem(cas, { status: "not-applied", reason: "not-leader", leaderHint: 0, detail: "" }), undefined);
    assert.equal(outcomeProblem(put, { status: "unknown", reason: "timeout", detail: "" }), undefined);
  });

  test("an ok of another operation's kind is named", () => {
    const bad: Array<[ClientOperation, RequestOutcome]> = [
      [get, { status: "ok", result: { kind: "put", index: 1 }, servedBy: 1 }],
      [put, { status: "ok", result: { kind: "get", value: "c0-1", index: 1, found: true, createRevision: 1, modRevision: 1, version: 1 }, servedBy: 1 }],
      [cas, { status: "ok", result: { kind: "put", index: 1 }, servedBy: 1 }],
      [put, { status: "ok", result: { kind: "membership", index: 1, confState: { voters: [1], learners: [] } }, servedBy: 1 }],
    ];
    for (const [operation, outcome] of bad) assert.ok(outcomeProblem(operation, outcome) !== undefined, JSON.stringify(outcome));
  });

  test("the workload reports a malformed outcome as a violation and never throws", () => {
    const queue = new EventQueue(10_000);
    const history = new History(1_000, 4);
    const sent: Array<{ from: number; requestId: number; request: ClientRequest }> = [];
    const violations: string[] = [];
    const workload = new Workload(
      queue,
      Prng.stream(seedFromNumber(1), "workload"),
      history,
      [1, 2, 3],
      4,
      { ...defaultWorkloadOptions, clientCount: 1 },
      (from, _to, requestId, request) => sent.push({ from, requestId, request }),
      () => {},
      (message) => violations.push(message),
    );
    workload.start(Number.MAX_SAFE_INTEGER);
    while (sent.length === 0 && queue.runNext());
    assert.equal(sent.length, 1);
    const { from, requestId, request } = sent[0]!;
    // A result of the wrong kind for the operation: what a read's string would be confused with.
    const wrong: RequestOutcome =
      request.kind === "get" ? { status: "ok", result: { kind: "put", index: 1 }, servedBy: 1 } : { status: "ok", result: { kind: "get", value: "x", index: 1, found: true, createRevision: 1, modRevision: 1, version: 1 }, servedBy: 1 };
    assert.doesNotThrow(() => workload.receive(from, requestId, wrong));
    assert.equal(violations.length, 1);
    assert.match(violations[0]!, /client 0/);
  });

  test("a client goes next to the node that served its ok (the leader), as it follows a refusal's hint", () => {
    const queue = new EventQueue(10_000);
    const sent: Array<{ from: number; to: number; requestId: number; request: ClientRequest }> = [];
    const workload = new Workload(
      queue,
      Prng.stream(seedFromNumber(1), "workload"),
      new History(1_000, 4),
      [1, 2, 3],
      4,
      { ...defaultWorkloadOptions, clientCount: 1, wanderProbability: 0 },
      (from, to, requestId, request) => sent.push({ from, to, requestId, request }),
      () => {},
      (message) => assert.fail(message),
    );
    workload.start(Number.MAX_SAFE_INTEGER);
    let previous: number | undefined;
    for (const servedBy of [3, 2, 3]) {
      const count = sent.length;
      while (sent.length === count && queue.runNext());
      const { from, to, requestId, request } = sent.at(-1)!;
      if (previous !== undefined) assert.equal(to, previous, "the request went to the node that served the previous ok");
      const result =
        request.kind === "get"
          ? { kind: "get" as const, value: "", index: 1, found: false, createRevision: 0, modRevision: 0, version: 0 }
          : request.kind === "put"
            ? { kind: "put" as const, index: 1 }
            : { kind: "cas" as const, swapped: false, current: "", index: 1 };
      previous = servedBy;
      workload.receive(from, requestId, { status: "ok", result, servedBy });
    }
  });

  test("an operation answered in time leaves no deadline event per operation; one without an answer ends exactly at its deadline", () => {
    const queue = new EventQueue(10_000);
    const sent: Array<{ from: number; requestId: number; request: ClientRequest }> = [];
    const events: HistoryEvent[] = [];
    const options = { ...defaultWorkloadOptions, clientCount: 1, wanderProbability: 0 };
    const workload = new Workload(
      queue,
      Prng.stream(seedFromNumber(2), "workload"),
      new History(1_000, 4),
      [1, 2, 3],
      4,
      options,
      (from, _to, requestId, request) => sent.push({ from, requestId, request }),
      (event) => events.push(event),
      (message) => assert.fail(message),
    );
    workload.start(Number.MAX_SAFE_INTEGER);
    for (let i = 0; i < 30; i++) {
      const count = sent.length;
      while (sent.length === count && queue.runNext());
      const { from, requestId, request } = sent.at(-1)!;
      // Answered at once (ok for a read, unknown for a write: either ends the operation), well before its deadline.
      if (request.kind !== "get") workload.receive(from, requestId, { status: "unknown", reason: "stopped", detail: "" });
      else workload.receive(from, requestId, { status: "ok", result: { kind: "get", value: "", index: 1, found: false, createRevision: 0, modRevision: 0, version: 0 }, servedBy: 1 });
      // The next operation's think timer and at most the one deadline event armed for an earlier operation.
      assert.ok(queue.size <= 2, `${queue.size} events queued after operation ${i}`);
    }
    const count = sent.length;
    while (sent.length === count && queue.runNext());
    const invokedAt = events.at(-1)!;
    assert.equal(invokedAt.type, "invoke");
    while (events.length === 0 || events.at(-1)!.type === "invoke") assert.ok(queue.runNext());
    assert.equal(events.at(-1)!.time, invokedAt.time + options.operationTimeoutMs * 1000, "the unanswered operation ended exactly at its deadline");
  });
});
