import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { decodePayload, encodeHello, encodeMessage, WIRE_VERSION } from "../../../src/core/wire/codec.ts";
import { encodeFrame, FrameDecoder, FRAME_HEADER_BYTES } from "../../../src/core/wire/frame.ts";
import type { Entry, Message } from "../../../src/core/raft/types.ts";

const id = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });
const smallId = fc.integer({ min: 1, max: 1000 });
const counter = fc.oneof(fc.nat({ max: 1000 }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }));
const data = fc.uint8Array({ maxLength: 64 });

const header = fc.record({ from: id, to: id, term: counter });

function entriesFrom(prevLogIndex: number): fc.Arbitrary<Entry[]> {
  return fc.array(fc.record({ term: fc.integer({ min: 1, max: 1e9 }), type: fc.constantFrom("normal" as const, "conf-change" as const), data }), { maxLength: 8 }).map((raw) =>
    raw.map((entry, i) => ({ ...entry, index: prevLogIndex + 1 + i })),
  );
}

const sortedIds = fc.uniqueArray(smallId, { maxLength: 7 }).map((ids) => [...ids].sort((a, b) => a - b));

export const messageArbitrary: fc.Arbitrary<Message> = fc.oneof(
  fc.record({ h: header, preVote: fc.boolean(), lastLogIndex: counter, lastLogTerm: counter, leaderTransfer: fc.boolean() }).map(
    ({ h, ...rest }) => ({ type: "vote-request" as const, ...h, ...rest }),
  ),
  fc.record({ h: header, preVote: fc.boolean(), granted: fc.boolean() }).map(({ h, ...rest }) => ({ type: "vote-response" as const, ...h, ...rest })),
  fc
    .record({ h: header, prevLogIndex: fc.nat({ max: 1e12 }), prevLogTerm: counter, commit: counter, readContext: counter })
    .chain(({ h, ...rest }) => entriesFrom(rest.prevLogIndex).map((entries) => ({ type: "append" as const, ...h, ...rest, entries }))),
  fc.record({ h: header, success: fc.boolean(), index: counter, conflictTerm: counter, conflictIndex: counter, readContext: counter }).map(({ h, ...rest }) => ({
    type: "append-response" as const,
    ...h,
    ...rest,
  })),
  fc.record({ h: header, commit: counter, readContext: counter }).map(({ h, ...rest }) => ({ type: "heartbeat" as const, ...h, ...rest })),
  fc.record({ h: header, readContext: counter }).map(({ h, ...rest }) => ({ type: "heartbeat-response" as const, ...h, ...rest })),
  fc
    .record({ h: header, index: counter, term: counter, members: sortedIds, split: fc.nat(), data: fc.uint8Array({ maxLength: 256 }) })
    .map(({ h, index, term, members, split, data: snapshotData }) => {
      const cut = members.length === 0 ? 0 : split % (members.length + 1);
      const voters = members.slice(0, cut);
      const learners = members.slice(cut);
      return { type: "snapshot" as const, ...h, snapshot: { metadata: { index, term, confState: { voters, learners } }, data: snapshotData } };
    }),
  header.map((h) => ({ type: "timeout-now" as const, ...h })),
);

describe("peer codec", () => {
  test("every message survives encode then decode unchanged", () => {
    fc.assert(
      fc.property(messageArbitrary, (message) => {
        const decoded = decodePayload(encodeMessage(message));
        assert.ok(decoded.ok, decoded.ok ? "" : decoded.error);
        assert.deepEqual(decoded.payload, { kind: "message", message });
      }),
      { numRuns: 2000 },
    );
  });

  test("hello survives encode then decode", () => {
    const hello = { kind: "hello" as const, version: WIRE_VERSION, clusterId: "c-0123abcd", from: 3, to: 1 };
    const decoded = decodePayload(encodeHello(hello));
    assert.deepEqual(decoded, { ok: true, payload: hello });
  });

  test("the encoding is compact: a heartbeat takes a handful of bytes", () => {
    const bytes = encodeMessage({ type: "heartbeat", from: 1, to: 2, term: 7, commit: 1234, readContext: 0 });
    assert.ok(bytes.length <= 10, `heartbeat took ${bytes.length} bytes`);
  });

  test("every truncation of a valid payload is an error value, never a throw", () => {
    fc.assert(
      fc.property(messageArbitrary, fc.nat(), (message, cut) => {
        const bytes = encodeMessage(message);
        const length = cut % bytes.length;
        const decoded = decodePayload(bytes.subarray(0, length));
        assert.equal(decoded.ok, false);
      }),
      { numRuns: 1000 },
    );
  });

  test("trailing bytes are rejected", () => {
    const bytes = encodeMessage({ type: "timeout-now", from: 1, to: 2, term: 3 });
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    const decoded = decodePayload(longer);
    assert.equal(decoded.ok, false);
    assert.match(decoded.ok ? "" : decoded.error, /trailing/);
  });

  test("random bytes decode to a message or an error, never a crash", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const decoded = decodePayload(bytes);
        if (decoded.ok && decoded.payload.kind === "message") {
          // Whatever decodes must be a well-formed message that re-encodes to the same bytes.
          assert.deepEqual(encodeMessage(decoded.payload.message), bytes);
        }
      }),
      { numRuns: 5000 },
    );
  });

  test("specific malformations are named", () => {
    const cases: Array<[Uint8Array, RegExp]> = [
      [new Uint8Array([9]), /unknown payload kind/],
      [new Uint8Array([2, 99, 1, 2, 3]), /unknown message type/],
      [new Uint8Array([2, 8, 0, 2, 3]), /node id must be positive/],
      [new Uint8Array([2, 2, 1, 2, 3, 4]), /unknown flag bits/],
      [new Uint8Array([2, 8, 1, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), /varint/],
    ];
    for (const [bytes, pattern] of cases) {
      const decoded = decodePayload(bytes);
      assert.equal(decoded.ok, false);
      assert.match(decoded.ok ? "" : decoded.error, pattern);
    }
  });

  test("non-contiguous entries are rejected", () => {
    const message: Message = {
      type: "append",
      from: 1,
      to: 2,
      term: 2,
      prevLogIndex: 4,
      prevLogTerm: 1,
      commit: 4,
      entries: [{ term: 2, index: 6, type: "normal", data: new Uint8Array() }],
      readContext: 0,
    };
    // encodeMessage does not check contiguity (the core never produces this); decoding must.
    const decoded = decodePayload(encodeMessage(message));
    assert.equal(decoded.ok, false);
    assert.match(decoded.ok ? "" : decoded.error, /expected 5/);
  });
});

describe("frames", () => {
  test("frames split at any points reassemble in order", () => {
    fc.assert(
      fc.property(fc.array(messageArbitrary, { minLength: 1, maxLength: 10 }), fc.array(fc.nat(), { maxLength: 20 }), (messages, cuts) => {
        const stream = Buffer.concat(messages.map((m) => encodeFrame(encodeMessage(m))));
        const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
        const decoder = new FrameDecoder();
        const received: Message[] = [];
        let start = 0;
        for (const point of [...points, stream.length]) {
          const result = decoder.push(stream.subarray(start, point));
          assert.ok(result.ok);
          for (const payload of result.payloads) {
            const decoded = decodePayload(payload);
            assert.ok(decoded.ok && decoded.payload.kind === "message");
            received.push(decoded.payload.message);
          }
          start = point;
        }
        assert.deepEqual(received, messages);
        assert.equal(decoder.pendingBytes, 0);
      }),
      { numRuns: 500 },
    );
  });

  test("a flipped bit anywhere in a frame is detected", () => {
    fc.assert(
      fc.property(messageArbitrary, fc.nat(), fc.integer({ min: 0, max: 7 }), (message, at, bit) => {
        const frame = encodeFrame(encodeMessage(message));
        const position = at % frame.length;
        frame[position]! ^= 1 << bit;
        const result = new FrameDecoder().push(frame);
        if (position < 4) {
          // A corrupted length either waits for bytes that never come or fails the checksum or limit.
          assert.ok(!result.ok || result.payloads.length === 0);
        } else {
          assert.equal(result.ok, false);
        }
      }),
      { numRuns: 1000 },
    );
  });

  test("an oversized length is refused before buffering the payload", () => {
    const decoder = new FrameDecoder(1024);
    const header = new Uint8Array(FRAME_HEADER_BYTES);
    new DataView(header.buffer).setUint32(0, 1025, false);
    const result = decoder.push(header);
    assert.equal(result.ok, false);
    assert.match(result.ok ? "" : result.error, /exceeds limit 1024/);
  });
});
