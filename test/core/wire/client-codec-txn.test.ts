// The client channel carries append, read-list and txn requests and their results: they
// round-trip, truncated or flipped bytes are error values, and the txn limits hold on this
// path as on Connect (a frame over a limit is refused by the decoder, naming it).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { decodeClientFrame, encodeClientFrame, type ClientFrame } from "../../../src/core/wire/client-codec.ts";
import { validateRequest, type ClientRequest, type RequestResult } from "../../../src/core/replica/request-types.ts";
import { KV_TXN_COMPARES_MAX, KV_TXN_OPS_MAX, type KvCompare, type KvTxnOp, type KvTxnOpResult } from "../../../src/core/replica/kv-txn.ts";
import { ByteWriter } from "../../../src/core/wire/bytes.ts";

const key = fc.string({ minLength: 1, maxLength: 12 });
const text = fc.string({ maxLength: 20, unit: "grapheme" });
const revision = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const compare: fc.Arbitrary<KvCompare> = fc.oneof(
  fc.record({ target: fc.constant("value" as const), key, op: fc.constantFrom("==" as const, "!=" as const), value: text }),
  fc.record({ target: fc.constantFrom("version" as const, "mod-revision" as const, "create-revision" as const), key, op: fc.constantFrom("==" as const, "!=" as const, "<" as const, ">" as const), number: revision }),
  fc.record({ target: fc.constant("exists" as const), key, exists: fc.boolean() }),
);
const op: fc.Arbitrary<KvTxnOp> = fc.oneof(
  fc.record({ op: fc.constantFrom("put" as const, "append" as const), key, value: text }),
  fc.record({ op: fc.constantFrom("delete" as const, "get" as const, "read-list" as const), key }),
);
const request: fc.Arbitrary<ClientRequest> = fc.oneof(
  fc.record({ kind: fc.constant("append" as const), key, value: text }),
  fc.record({ kind: fc.constant("read-list" as const), key }),
  fc.record({ kind: fc.constant("txn" as const), txn: fc.record({ compares: fc.array(compare, { maxLength: 4 }), success: fc.array(op, { maxLength: 4 }), failure: fc.array(op, { maxLength: 4 }) }) }),
);
const opResult: fc.Arbitrary<KvTxnOpResult> = fc.oneof(
  fc.constant({ op: "put" as const }),
  fc.record({ op: fc.constant("append" as const), length: fc.nat(1024) }),
  fc.record({ op: fc.constant("delete" as const), deleted: fc.nat(1) }),
  fc.record({ op: fc.constant("get" as const), found: fc.boolean(), value: text, createRevision: revision, modRevision: revision, version: revision }),
  fc.record({ op: fc.constant("read-list" as const), found: fc.boolean(), list: fc.array(text, { maxLength: 5 }) }),
);
const result: fc.Arbitrary<RequestResult> = fc.oneof(
  fc.record({ kind: fc.constant("append" as const), length: fc.nat(1024), index: revision }),
  fc.record({ kind: fc.constant("read-list" as const), found: fc.boolean(), list: fc.array(text, { maxLength: 5 }), index: revision, createRevision: revision, modRevision: revision, version: revision }),
  fc.record({ kind: fc.constant("txn" as const), succeeded: fc.boolean(), results: fc.array(opResult, { maxLength: 6 }), index: revision }),
);
const frame: fc.Arbitrary<ClientFrame> = fc.oneof(
  fc.record({ kind: fc.constant("request" as const), origin: fc.nat(), requestId: fc.integer({ min: 1 }), hops: fc.nat(1), request }),
  fc.record({ kind: fc.constant("outcome" as const), origin: fc.nat(), requestId: fc.integer({ min: 1 }), outcome: fc.record({ status: fc.constant("ok" as const), result, servedBy: fc.integer({ min: 1, max: 9 }) }) }),
);

describe("client codec: append, read-list, txn", () => {
  test("every frame round-trips", () => {
    fc.assert(fc.property(frame, (f) => assert.deepEqual(decodeClientFrame(encodeClientFrame(f)), { ok: true, frame: JSON.parse(JSON.stringify(f)) as ClientFrame })), { numRuns: 500 });
  });

  test("a truncated or flipped frame is an error value or another well-formed frame, never a throw", () => {
    fc.assert(
      fc.property(frame, fc.nat(), fc.nat(255), (f, at, bits) => {
        const bytes = encodeClientFrame(f);
        assert.equal(decodeClientFrame(bytes.subarray(0, at % bytes.length)).ok, false);
        const flipped = Uint8Array.from(bytes);
        flipped[at % bytes.length]! ^= bits | 1;
        decodeClientFrame(flipped);
      }),
      { numRuns: 500 },
    );
  });

  test("the decoder refuses a txn past its compare or operation limit, naming it; validateRequest names the same limits as Connect", () => {
    const tooMany = (compares: number, ops: number): Uint8Array => {
      const writer = new ByteWriter(64);
      writer.u8(1); // request frame
      writer.uvarint(1);
      writer.uvarint(1);
      writer.u8(0);
      writer.u8(16); // txn
      writer.uvarint(compares);
      for (let i = 0; i < compares; i++) {
        writer.u8(4); // exists
        writer.string("k");
        writer.u8(1);
      }
      writer.uvarint(ops);
      for (let i = 0; i < ops; i++) {
        writer.u8(1); // delete
        writer.string("k");
      }
      writer.uvarint(0);
      return writer.finish();
    };
    assert.equal(decodeClientFrame(tooMany(1, 1)).ok, true);
    assert.match(JSON.stringify(decodeClientFrame(tooMany(KV_TXN_COMPARES_MAX + 1, 0))), /65 compares exceed 64/);
    assert.match(JSON.stringify(decodeClientFrame(tooMany(0, KV_TXN_OPS_MAX + 1))), /65 success operations exceed 64/);
    const reserved: ClientRequest = { kind: "txn", txn: { compares: [], success: [{ op: "put", key: "_blixard/x", value: "" }], failure: [] } };
    assert.match(validateRequest(reserved) ?? "", /^success\[0\]\.key: keys starting with _blixard\/ are reserved/);
  });
});
