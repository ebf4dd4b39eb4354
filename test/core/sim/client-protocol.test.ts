// "Client Protocol": the workload checks the shape of every reply before it reads a field, so a
// node, codec or client path that answers with the wrong shape is a named failure with its seed,
// never a TypeError inside src/core/sim. The planted shapes below are what the check must catch.

import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { clientReplyProblem, type ClientOperation, type ClientReply, type ClientRequest } from "../../../src/core/sim/client-protocol.ts";
import { EventQueue } from "../../../src/core/sim/event-queue.ts";
import { History } from "../../../src/core/sim/history.ts";
import { Prng } from "../../../src/core/sim/prng.ts";
import { seedFromNumber } from "../../../src/core/sim/seed.ts";
import { Workload, defaultWorkloadOptions } from "../../../src/core/sim/workload.ts";

const get: ClientOperation = { f: "get", key: "k0" };
const put: ClientOperation = { f: "put", key: "k0", value: "c0-1" };
const cas: ClientOperation = { f: "cas", key: "k0", expected: "", value: "c0-2" };

describe("Client Protocol: reply shapes", () => {
  test("well-formed replies pass", () => {
    assert.equal(clientReplyProblem(get, { type: "client-reply", requestId: 1, outcome: { status: "ok", value: "", swapped: false } }), undefined);
    assert.equal(clientReplyProblem(put, { type: "client-reply", requestId: 1, outcome: { status: "ok", value: "c0-1", swapped: true } }), undefined);
    assert.equal(clientReplyProblem(cas, { type: "client-reply", requestId: 1, outcome: { status: "ok", value: "x", swapped: false } }), undefined);
    assert.equal(clientReplyProblem(cas, { type: "client-reply", requestId: 1, outcome: { status: "rejected", leaderHint: 0, reason: "not-leader" } }), undefined);
    assert.equal(clientReplyProblem(put, { type: "client-reply", requestId: 1, outcome: { status: "unknown", reason: "timeout" } }), undefined);
  });

  test("every malformed shape is named", () => {
    const bad: Array<[ClientOperation, unknown]> = [
      [get, undefined],
      [get, { requestId: "1", outcome: { status: "ok", value: "", swapped: false } }],
      [get, { requestId: 1 }],
      [get, { requestId: 1, outcome: { status: "ok", value: undefined, swapped: false } }],
      [get, { requestId: 1, outcome: { status: "ok", value: { op: "put" }, swapped: false } }],
      [put, { requestId: 1, outcome: { status: "ok", value: "other", swapped: true } }],
      [cas, { requestId: 1, outcome: { status: "ok", value: "x", swapped: "yes" } }],
      [cas, { requestId: 1, outcome: { status: "ok", value: "x", swapped: true } }],
      [get, { requestId: 1, outcome: { status: "rejected", leaderHint: -1, reason: "r" } }],
      [get, { requestId: 1, outcome: { status: "done" } }],
    ];
    for (const [operation, reply] of bad) assert.ok(clientReplyProblem(operation, reply) !== undefined, JSON.stringify(reply));
  });

  test("the workload reports a malformed reply as a violation and never throws", () => {
    const queue = new EventQueue(10_000);
    const history = new History(1_000, 4);
    const sent: Array<{ from: number; request: ClientRequest }> = [];
    const violations: string[] = [];
    const workload = new Workload(
      queue,
      Prng.stream(seedFromNumber(1), "workload"),
      history,
      [1, 2, 3],
      4,
      { ...defaultWorkloadOptions, clientCount: 1 },
      (from, _to, request) => sent.push({ from, request }),
      () => {},
      (message) => violations.push(message),
    );
    workload.start(Number.MAX_SAFE_INTEGER);
    while (sent.length === 0 && queue.runNext());
    assert.equal(sent.length, 1);
    const request = sent[0]!.request;
    // The value a put or cas result would carry where a read's string belongs: the TypeError case from the issue.
    const reply = { type: "client-reply", requestId: request.requestId, outcome: { status: "ok", value: { op: "put" }, swapped: false } } as unknown as ClientReply;
    assert.doesNotThrow(() => workload.receive(sent[0]!.from, reply));
    assert.equal(violations.length, 1);
    assert.match(violations[0]!, /client 0/);
  });
});
