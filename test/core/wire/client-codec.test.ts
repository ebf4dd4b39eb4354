// The client channel's codec: every request and outcome round-trips; decoding random,
// truncated, extended or flipped bytes returns an error value (never throws, never accepts
// trailing garbage), and the size limits hold.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { CLIENT_FRAME_BYTES_MAX, decodeClientFrame, encodeClientFrame, type ClientFrame } from "../../../src/core/wire/client-codec.ts";
import { NOT_APPLIED_REASONS, UNKNOWN_REASONS, type ClientRequest, type RequestOutcome, type RequestResult } from "../../../src/core/replica/request-types.ts";
import { KV_VALUE_BYTES_MAX } from "../../../src/core/replica/kv-state-machine.ts";
import { lowerHex, tokenRecord } from "../../support/token-arbitraries.ts";

const id = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });
const index = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const text = fc.string({ maxLength: 40, unit: "grapheme" });
const key = fc.string({ minLength: 1, maxLength: 20 });
const sortedIds = fc.uniqueArray(fc.integer({ min: 1, max: 1000 }), { maxLength: 7 }).map((ids) => [...ids].sort((a, b) => a - b));

const request: fc.Arbitrary<ClientRequest> = fc.oneof(
  key.map((k) => ({ kind: "get" as const, key: k })),
  key.map((k) => ({ kind: "get-local" as const, key: k })),
  fc.record({ kind: fc.constant("put" as const), key, value: text }),
  fc.record({ kind: fc.constant("cas" as const), key, expected: text, value: text }),
  fc.record({ kind: fc.constant("delete" as const), key, prefix: fc.boolean() }),
  fc.record({ kind: fc.constant("create" as const), key, value: text }),
  fc.record({ kind: fc.constant("list" as const), prefix: text, startAfter: text, limit: fc.integer({ min: 1, max: 1000 }), keysOnly: fc.boolean() }),
  fc.record({ kind: fc.constant("add-learner" as const), nodeId: id, peer: text, api: text, addressesOnly: fc.boolean() }),
  fc.record({ kind: fc.constant("promote" as const), nodeId: id }),
  fc.record({ kind: fc.constant("remove" as const), nodeId: id }),
  fc.record({ kind: fc.constant("transfer-leader" as const), targetId: id }),
  tokenRecord.map((record) => ({ kind: "token-create" as const, record })),
  lowerHex(16).map((tokenId) => ({ kind: "token-revoke" as const, id: tokenId })),
);

const result: fc.Arbitrary<RequestResult> = fc.oneof(
  fc.oneof(
    fc.record({ kind: fc.constant("get" as const), value: text, index, found: fc.constant(true), createRevision: index, modRevision: index, version: index }),
    fc.record({ kind: fc.constant("get" as const), value: fc.constant(""), index, found: fc.constant(false), createRevision: fc.constant(0), modRevision: fc.constant(0), version: fc.constant(0) }),
  ),
  fc.record({ kind: fc.constant("delete" as const), deleted: fc.nat({ max: 256 }), more: fc.boolean(), index }),
  fc.uniqueArray(fc.record({ key, value: text, valueBytes: index, createRevision: index, modRevision: index, version: index }), { selector: (e) => e.key, maxLength: 5 }).chain((entries) =>
    fc.record({ kind: fc.constant("list" as const), entries: fc.constant([...entries].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))), more: fc.boolean(), index }),
  ),
  fc.record({ kind: fc.constant("put" as const), index }),
  fc.record({ kind: fc.constant("cas" as const), swapped: fc.boolean(), current: text, index }),
  fc.record({ kind: fc.constant("membership" as const), index, confState: fc.record({ voters: sortedIds, learners: sortedIds }) }),
  fc.record({ kind: fc.constant("transfer" as const), leaderId: id }),
);

const outcome: fc.Arbitrary<RequestOutcome> = fc.oneof(
  fc.tuple(result, id).map(([r, servedBy]) => ({ status: "ok" as const, result: r, servedBy })),
  fc.record({ status: fc.constant("not-applied" as const), reason: fc.constantFrom(...NOT_APPLIED_REASONS), leaderHint: fc.nat({ max: 1000 }), detail: text }),
  fc.record({ status: fc.constant("unknown" as const), reason: fc.constantFrom(...UNKNOWN_REASONS), detail: text }),
);

const origin = fc.integer({ min: 0, max: 0xffff_ffff });
const frame: fc.Arbitrary<ClientFrame> = fc.oneof(
  fc.record({ kind: fc.constant("request" as const), origin, requestId: id, hops: fc.integer({ min: 0, max: 1 }), request }),
  fc.record({ kind: fc.constant("outcome" as const), origin, requestId: id, outcome }),
);

describe("client codec", () => {
  test("every frame round-trips", () => {
    fc.assert(
      fc.property(frame, (f) => {
        const decoded = decodeClientFrame(encodeClientFrame(f));
        assert.ok(decoded.ok, decoded.ok ? "" : decoded.error);
        assert.deepEqual(decoded.frame, plain(f));
      }),
      { numRuns: 2_000 },
    );
  });

  test("random bytes never throw", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const decoded = decodeClientFrame(bytes);
        if (decoded.ok) assert.deepEqual(decodeClientFrame(encodeClientFrame(decoded.frame)), decoded);
      }),
      { numRuns: 5_000 },
    );
  });

  test("every proper prefix and any trailing byte is an error", () => {
    fc.assert(
      fc.property(frame, fc.integer({ min: 0, max: 255 }), (f, extra) => {
        const bytes = encodeClientFrame(f);
        for (let cut = 0; cut < bytes.length; cut++) assert.equal(decodeClientFrame(bytes.subarray(0, cut)).ok, false, `prefix of ${cut} bytes accepted`);
        const longer = new Uint8Array(bytes.length + 1);
        longer.set(bytes);
        longer[bytes.length] = extra;
        assert.equal(decodeClientFrame(longer).ok, false);
      }),
      { numRuns: 300 },
    );
  });

  test("flipped bytes decode to an error or to a frame that re-encodes to the same bytes", () => {
    fc.assert(
      fc.property(frame, fc.nat(), fc.integer({ min: 1, max: 255 }), (f, at, mask) => {
        const bytes = new Uint8Array(encodeClientFrame(f));
        bytes[at % bytes.length]! ^= mask;
        const decoded = decodeClientFrame(bytes);
        if (decoded.ok) assert.deepEqual(encodeClientFrame(decoded.frame), bytes);
      }),
      { numRuns: 2_000 },
    );
  });

  test("limits: frame size, value size, hops, request id, member lists", () => {
    assert.match(errorOf(new Uint8Array(CLIENT_FRAME_BYTES_MAX + 1)), /exceeds/);
    const big = encodeClientFrame({ kind: "request", origin: 1, requestId: 1, hops: 0, request: { kind: "put", key: "k", value: "x".repeat(KV_VALUE_BYTES_MAX) } });
    assert.equal(decodeClientFrame(big).ok, true);
    // A value one byte over the limit (hand-built: the encoder would assert).
    const over = new Uint8Array(big.length + 1);
    over.set(big.subarray(0, 7));
    const valueLength = KV_VALUE_BYTES_MAX + 1;
    over.set([(valueLength & 0x7f) | 0x80, ((valueLength >> 7) & 0x7f) | 0x80, valueLength >> 14], 7);
    over.fill(0x78, 10);
    assert.match(errorOf(over), /value: length .* exceeds limit/);
    const request = encodeClientFrame({ kind: "request", origin: 1, requestId: 1, hops: 1, request: { kind: "get", key: "k" } });
    const hops = new Uint8Array(request);
    hops[3] = 2;
    assert.match(errorOf(hops), /hops 2/);
    const zeroId = new Uint8Array(request);
    zeroId[2] = 0;
    assert.match(errorOf(zeroId), /request id 0/);
    const unsorted = encodeClientFrame({ kind: "outcome", origin: 1, requestId: 1, outcome: { status: "ok", result: { kind: "membership", index: 1, confState: { voters: [1, 2], learners: [] } }, servedBy: 1 } });
    const swapped = new Uint8Array(unsorted);
    swapped[9] = 3; // voters [1, 3] is fine...
    assert.equal(decodeClientFrame(swapped).ok, true);
    swapped[8] = 4; // ...[4, 3] is not
    assert.match(errorOf(swapped), /not sorted/);
    const servedByZero = new Uint8Array(unsorted);
    servedByZero[4] = 0; // an ok outcome names the node that served it
    assert.match(errorOf(servedByZero), /served by: node id 0/);
  });

  test("a long detail is cut, not refused", () => {
    const bytes = encodeClientFrame({ kind: "outcome", origin: 1, requestId: 1, outcome: { status: "unknown", reason: "timeout", detail: "é".repeat(5_000) } });
    const decoded = decodeClientFrame(bytes);
    assert.ok(decoded.ok && decoded.frame.kind === "outcome" && decoded.frame.outcome.status === "unknown");
    assert.ok(decoded.frame.outcome.detail.length > 0 && decoded.frame.outcome.detail.length < 5_000);
  });
});

/** fast-check builds records without a prototype; the decoder builds plain objects. */
function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function errorOf(bytes: Uint8Array): string {
  const decoded = decodeClientFrame(bytes);
  assert.equal(decoded.ok, false, "expected a decode error");
  return decoded.ok ? "" : decoded.error;
}
