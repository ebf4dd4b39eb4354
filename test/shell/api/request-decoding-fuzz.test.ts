// A fast-check fuzz of the API's request decoding, in process: the Connect unary fast path
// (src/shell/api/connect-unary.ts) over the real service implementations, and the client
// channel's codec (decodeClientFrame). Well over 100,000 generated inputs in all, mostly
// mutations of valid requests so that they reach past the first byte. No input may crash
// (throw, reject, or leave a request unanswered), every answer is a clean status, and every
// request the services hand to the request path is valid by the core's own rules.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import type http from "node:http";
import fc from "fast-check";
import { create, toBinary } from "@bufbuild/protobuf";
import { createConnectUnaryHandler } from "../../../src/shell/api/connect-unary.ts";
import { createNodeServices, servicePairs } from "../../../src/shell/api/services.ts";
import { Gatekeeper } from "../../../src/shell/auth/gatekeeper.ts";
import { authorizationHeader, newToken } from "../../../src/shell/auth/bearer-token.ts";
import { AddLearnerRequestSchema, PromoteRequestSchema } from "../../../src/shell/api/gen/blixard/v1/cluster_pb.ts";
import { CompareAndSetRequestSchema, GetRequestSchema, PutRequestSchema } from "../../../src/shell/api/gen/blixard/v1/kv_pb.ts";
import type { NodeRuntime } from "../../../src/shell/node/runtime.ts";
import { okOutcome, resultKindFor, validateRequest, type ClientRequest, type RequestOutcome, type RequestResult } from "../../../src/core/replica/request-types.ts";
import { decodeClientFrame, encodeClientFrame } from "../../../src/core/wire/client-codec.ts";
import { systemMonotonicClock, systemWallClock } from "../../../src/shell/os/system-environment.ts";

const FAST_PATH_RUNS = 30_000;
/** The Authorization header every fuzzed request carries (set by the fast-path test). */
let adminAuthorization = "";
const CODEC_RUNS = 75_000;

/** An ok result of the kind a request expects. */
function resultFor(request: ClientRequest): RequestResult {
  switch (resultKindFor(request.kind)) {
    case "get":
      return { kind: "get", value: "", index: 1, found: false, createRevision: 0, modRevision: 0, version: 0 };
    case "delete":
      return { kind: "delete", deleted: 0, more: false, index: 1 };
    case "list":
      return { kind: "list", entries: [], more: false, index: 1 };
    case "put":
      return { kind: "put", index: 1 };
    case "cas":
      return { kind: "cas", swapped: false, current: "", index: 1 };
    case "membership":
      return { kind: "membership", index: 1, confState: { voters: [1], learners: [] } };
    case "transfer":
      return { kind: "transfer", leaderId: 1 };
    case "append":
      return { kind: "append", length: 1, index: 1 };
    case "read-list":
      return { kind: "read-list", found: false, list: [], index: 1, createRevision: 0, modRevision: 0, version: 0 };
    case "txn":
      return { kind: "txn", succeeded: true, results: [], index: 1 };
    case "cluster":
    case "cluster-read":
      return assert.fail(`the kv and cluster services never send a ${request.kind} request`);
  }
}

/** A one-voter runtime that answers every request ok, after checking the services validated it. */
function stubRuntime(handedOn: string[]): NodeRuntime {
  const stub = {
    nodeId: 1,
    clusterId: "c-fuzz",
    peerAddress: "127.0.0.1:1",
    apiAddress: "127.0.0.1:2",
    submit(request: ClientRequest): Promise<RequestOutcome> {
      const problem = validateRequest(request);
      if (problem !== undefined) handedOn.push(`${JSON.stringify(request).slice(0, 200)}: ${problem}`);
      return Promise.resolve(okOutcome(resultFor(request), 1));
    },
    status: () => ({
      raft: { role: "leader", leaderId: 1, applied: 1, lastIndex: 1, hardState: { term: 1, vote: 1, commit: 1 }, confState: { voters: [1], learners: [] } },
      pendingCommands: 0,
      pendingReads: 0,
      stopped: false,
      leaseReads: 0,
    }),
    clocks: { wall: systemWallClock, monotonic: systemMonotonicClock },
    memberAddresses: () => undefined,
    peerAddressOf: () => undefined,
    clientsFor: () => assert.fail("a local-only fuzz never fans out"),
    // A watch answers at once (one change ready), so no fuzzed wait_ms makes the fuzz wait.
    kvWatchSource: () => ({
      changes: { newestRevision: 1, read: (from: number) => ({ status: "ok", changes: [{ type: "put", key: "k", value: "v", revision: from }], nextRevision: from + 1 }) },
      onChange: () => () => {},
      appliedIndex: () => 1,
    }),
  };
  return stub as unknown as NodeRuntime;
}

interface Answer {
  readonly served: boolean;
  readonly status: number;
  readonly body: string;
}

/** Feeds one request through the fast path with in-memory request and response objects. */
function feed(handler: ReturnType<typeof createConnectUnaryHandler>, path: string, contentType: string, body: Uint8Array): Promise<Answer> {
  return new Promise((resolve, reject) => {
    // The fast path subscribes to data, end and error at once: an emitter that emits the body
    // right after is all a request needs to be (cheaper than a stream, so more runs fit).
    const request = Object.assign(new EventEmitter(), {
      method: "POST",
      url: path,
      headers: { "content-type": contentType, authorization: adminAuthorization } as http.IncomingHttpHeaders,
    });
    let status = 0;
    let headersSent = false;
    const response = {
      get headersSent() {
        return headersSent;
      },
      writeHead(code: number) {
        assert.equal(headersSent, false, "headers written twice");
        status = code;
        headersSent = true;
        return this;
      },
      end(payload?: Uint8Array) {
        resolve({ served: true, status, body: payload === undefined ? "" : Buffer.from(payload).toString("utf8") });
      },
      destroy() {
        reject(new Error("the fast path destroyed a response to a complete request"));
      },
    };
    const served = handler(request as unknown as http.IncomingMessage, response as unknown as http.ServerResponse);
    if (!served) return resolve({ served: false, status: 0, body: "" });
    if (body.length > 0) request.emit("data", Buffer.from(body));
    request.emit("end");
  });
}

const METHODS: Array<[string, "json" | "proto"]> = [];
for (const service of ["blixard.v1.KvService/Get", "blixard.v1.KvService/Put", "blixard.v1.KvService/CompareAndSet", "blixard.v1.ClusterService/Status", "blixard.v1.ClusterService/AddLearner", "blixard.v1.ClusterService/Promote", "blixard.v1.ClusterService/Remove", "blixard.v1.ClusterService/TransferLeader"]) {
  METHODS.push([`/${service}`, "json"], [`/${service}`, "proto"]);
}

/** Valid requests of every kind as seeds, binary and JSON, for the mutations to start from. */
const text = fc.oneof(fc.string({ maxLength: 20 }), fc.string({ unit: "binary", maxLength: 20 }), fc.constantFrom("", "x\uFFFD", "x\ud800", "__blixard/member/1", "k".repeat(1_025)));
const nodeIdValue = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
/** [path, binary body] pairs: each seed goes to the method it is a request of. */
const seedRequest: fc.Arbitrary<[string, Uint8Array]> = fc.oneof(
  fc.record({ key: text, serializable: fc.boolean() }).map((m) => ["/blixard.v1.KvService/Get", toBinary(GetRequestSchema, create(GetRequestSchema, m))] as [string, Uint8Array]),
  fc.record({ key: text, value: text }).map((m) => ["/blixard.v1.KvService/Put", toBinary(PutRequestSchema, create(PutRequestSchema, m))] as [string, Uint8Array]),
  fc.record({ key: text, expected: text, value: text }).map((m) => ["/blixard.v1.KvService/CompareAndSet", toBinary(CompareAndSetRequestSchema, create(CompareAndSetRequestSchema, m))] as [string, Uint8Array]),
  fc
    .record({ nodeId: nodeIdValue, peerAddress: fc.oneof(text, fc.constant("127.0.0.1:7001")), apiAddress: text, addressesOnly: fc.boolean() })
    .map((m) => ["/blixard.v1.ClusterService/AddLearner", toBinary(AddLearnerRequestSchema, create(AddLearnerRequestSchema, m))] as [string, Uint8Array]),
  fc.tuple(fc.constantFrom("Promote", "Remove"), nodeIdValue).map(([method, nodeId]) => [`/blixard.v1.ClusterService/${method}`, toBinary(PromoteRequestSchema, create(PromoteRequestSchema, { nodeId }))] as [string, Uint8Array]),
);
const seedMessage = seedRequest.map(([, body]) => body);
const jsonBody = fc.oneof(
  fc.json().map((json) => new TextEncoder().encode(json)),
  fc.record({ key: text, value: text, expected: text }, { requiredKeys: [] }).map((m) => new TextEncoder().encode(JSON.stringify(m))),
  fc.record({ nodeId: fc.oneof(fc.bigInt().map(String), fc.integer()), peerAddress: text }, { requiredKeys: [] }).map((m) => new TextEncoder().encode(JSON.stringify(m))),
);
/** Flips, inserts and deletes bytes of `bytes` (a mutation keeps most of a valid prefix). */
const mutated = (bytes: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> =>
  fc.tuple(bytes, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom("flip", "insert", "delete")), { maxLength: 4 })).map(([original, edits]) => {
    const out = [...original];
    for (const [at, byte, kind] of edits) {
      const i = out.length === 0 ? 0 : at % (out.length + (kind === "insert" ? 1 : 0));
      if (kind === "insert") out.splice(i, 0, byte);
      else if (out.length > 0 && kind === "delete") out.splice(i % out.length, 1);
      else if (out.length > 0) out[i % out.length] = byte;
    }
    return Uint8Array.from(out);
  });
const anyBody = fc.oneof(fc.uint8Array({ maxLength: 64 }), mutated(seedMessage), mutated(jsonBody), jsonBody);
/** Half the inputs are a method's own request (valid, or mutated a little), half anything at any method. */
const input: fc.Arbitrary<[string, "json" | "proto", Uint8Array]> = fc.oneof(
  seedRequest.map(([path, body]) => [path, "proto", body] as [string, "json" | "proto", Uint8Array]),
  fc.tuple(seedRequest, fc.nat()).chain(([[path, body]]) => mutated(fc.constant(body)).map((m) => [path, "proto", m] as [string, "json" | "proto", Uint8Array])),
  fc.tuple(fc.constantFrom(...METHODS), anyBody).map(([[path, encoding], body]) => [path, encoding, body] as [string, "json" | "proto", Uint8Array]),
);

const CLEAN_ERROR_CODES = new Set(["invalid_argument", "resource_exhausted"]);

describe("request decoding fuzz", { timeout: 120_000 }, () => {
  test(`the fast path over the real services: ${FAST_PATH_RUNS} inputs, each answered 200 or with a clean error`, async () => {
    const handedOn: string[] = [];
    // An admin's bootstrap token on every request: the fuzz is about decoding, past the gate.
    const admin = newToken();
    const gate = new Gatekeeper({ tokenRecord: () => undefined }, { bootstrapTokens: [admin] });
    const services = createNodeServices(stubRuntime(handedOn), gate);
    const handler = createConnectUnaryHandler(servicePairs(services), (method, authorization) => gate.admit(method, authorization));
    adminAuthorization = authorizationHeader(admin.text);
    const seen = { ok: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(input, async ([path, encoding, body]) => {
        const answer = await feed(handler, path, encoding === "json" ? "application/json" : "application/proto", body);
        assert.equal(answer.served, true, "a covered method and content type is served by the fast path");
        if (answer.status === 200) {
          seen.ok++;
          return;
        }
        const error = JSON.parse(answer.body) as { code?: string; message?: string };
        assert.ok(CLEAN_ERROR_CODES.has(error.code ?? ""), `status ${answer.status}: ${answer.body}`);
        assert.equal(typeof error.message, "string");
        seen.refused++;
      }),
      { numRuns: FAST_PATH_RUNS, seed: 12 },
    );
    assert.deepEqual(handedOn, [], "the services handed the request path a request the core calls invalid");
    // Both sides were reached: a fuzz that refuses everything at the first byte tests nothing.
    assert.ok(seen.ok > FAST_PATH_RUNS / 20 && seen.refused > FAST_PATH_RUNS / 20, JSON.stringify(seen));
  });

  test(`decodeClientFrame: ${CODEC_RUNS} inputs, each a frame or an error value, never a throw`, () => {
    const request = fc.oneof(
      fc.record({ kind: fc.constant("get" as const), key: fc.string({ maxLength: 20 }) }),
      fc.record({ kind: fc.constant("put" as const), key: fc.string({ maxLength: 20 }), value: fc.string({ maxLength: 40 }) }),
      fc.record({ kind: fc.constant("cas" as const), key: fc.string({ maxLength: 20 }), expected: fc.string({ maxLength: 20 }), value: fc.string({ maxLength: 20 }) }),
      fc.record({ kind: fc.constant("add-learner" as const), nodeId: fc.integer({ min: 1, max: 1_000 }), peer: fc.string({ maxLength: 20 }), api: fc.string({ maxLength: 20 }), addressesOnly: fc.boolean() }),
      fc.record({ kind: fc.constant("transfer-leader" as const), targetId: fc.integer({ min: 1, max: 1_000 }) }),
    );
    const frame = fc
      .record({ origin: fc.integer({ min: 0, max: 0xffff_ffff }), requestId: fc.integer({ min: 1, max: 2 ** 40 }), hops: fc.integer({ min: 0, max: 1 }), request })
      .map((f) => encodeClientFrame({ kind: "request", ...f }));
    const seen = { ok: 0, refused: 0 };
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 64 }), frame, mutated(frame)), (bytes) => {
        const decoded = decodeClientFrame(bytes);
        if (decoded.ok) {
          seen.ok++;
          // What decodes re-encodes to the same bytes: no input is silently rewritten.
          assert.deepEqual(encodeClientFrame(decoded.frame), bytes);
        } else {
          seen.refused++;
          assert.equal(typeof decoded.error, "string");
          assert.ok(decoded.error.length > 0 && decoded.error.length < 1_000);
        }
      }),
      { numRuns: CODEC_RUNS, seed: 13 },
    );
    assert.ok(seen.ok > CODEC_RUNS / 20 && seen.refused > CODEC_RUNS / 20, JSON.stringify(seen));
  });
});
