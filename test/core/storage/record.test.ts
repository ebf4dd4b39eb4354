import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { RECORD_HEADER_BYTES, RecordType, SECTOR_BYTES, encodeSingleRecord, readRecordAt, sealRecord } from "../../../src/core/storage/record.ts";
import { decodeHardStatePayload, decodeIdentityPayload, decodeSnapshotPayload, encodeHardStatePayload, encodeIdentityPayload, encodeSnapshotPayload } from "../../../src/core/storage/formats.ts";

function record(payload: Uint8Array, type: RecordType = RecordType.entry): Uint8Array {
  return encodeSingleRecord(type, payload);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

describe("record framing", () => {
  test("a sealed record reads back with its type and payload bounds", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.constantFrom(...Object.values(RecordType)), (payload, type) => {
        const bytes = record(payload, type);
        const read = readRecordAt(bytes, 0);
        assert.equal(read.kind, "record");
        if (read.kind !== "record") return;
        assert.equal(read.type, type);
        assert.deepEqual(bytes.subarray(read.payloadStart, read.end), payload);
        assert.equal(read.end, bytes.length);
      }),
      { numRuns: 200 },
    );
  });

  test("any single flipped bit of a record followed by another is corrupt, never torn", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 600 }), fc.nat(), fc.nat({ max: 7 }), (payload, at, bit) => {
        const bytes = concat(record(payload.map((b) => b | 1)), record(new Uint8Array([1, 2, 3])));
        const position = at % (RECORD_HEADER_BYTES + payload.length);
        bytes[position]! ^= 1 << bit;
        assert.equal(readRecordAt(bytes, 0).kind, "corrupt");
      }),
      { numRuns: 300 },
    );
  });

  test("what a crash leaves behind is torn: a cut-short header or payload, zeros, a zero-filled sector", () => {
    const full = record(new Uint8Array(1500).fill(9));
    for (const cut of [1, RECORD_HEADER_BYTES - 1, RECORD_HEADER_BYTES, RECORD_HEADER_BYTES + 1, full.length - 1]) {
      assert.equal(readRecordAt(full.subarray(0, cut), 0).kind, "torn", `cut at ${cut}`);
    }
    assert.equal(readRecordAt(new Uint8Array(64), 0).kind, "torn", "zero-filled space");
    const lostSector = full.slice();
    lostSector.fill(0, SECTOR_BYTES, 2 * SECTOR_BYTES);
    assert.equal(readRecordAt(concat(lostSector, record(new Uint8Array(4))), 0).kind, "torn", "a sector of the write never reached the disk");
  });

  test("hard state, identity and snapshot payloads round trip", () => {
    const hardState = { term: 2 ** 40, vote: 7, commit: 123456789 };
    const hs = encodeHardStatePayload(hardState);
    assert.deepEqual(decodeHardStatePayload(hs, 0, hs.length), hardState);
    const identity = { nodeId: 3, clusterId: "prod-éu", bootstrap: { voters: [1, 2, 3], learners: [9] } };
    const id = encodeIdentityPayload(identity);
    assert.deepEqual(decodeIdentityPayload(id, 0, id.length), identity);
    const snapshot = { metadata: { index: 99, term: 4, confState: { voters: [1], learners: [] } }, data: new Uint8Array([5, 6, 7]) };
    const snap = encodeSnapshotPayload(snapshot);
    const decoded = decodeSnapshotPayload(snap, 0, snap.length);
    assert.deepEqual(decoded.metadata, snapshot.metadata);
    assert.deepEqual([...decoded.data], [5, 6, 7]);
  });

  test("sealRecord refuses a payload that does not fit its buffer", () => {
    assert.throws(() => sealRecord(new Uint8Array(20), 0, RecordType.commit, 8, 0), /does not fit/);
  });

  test("a record is bound to its file offset: the same bytes elsewhere are corrupt", () => {
    const one = record(new Uint8Array([1, 2, 3]));
    const bytes = concat(new Uint8Array(RECORD_HEADER_BYTES + 5).fill(1), one);
    const read = readRecordAt(bytes, RECORD_HEADER_BYTES + 5);
    assert.equal(read.kind, "corrupt");
    const sealed = new Uint8Array(RECORD_HEADER_BYTES + 3);
    sealed.set([1, 2, 3], RECORD_HEADER_BYTES);
    sealRecord(sealed, 0, RecordType.entry, 3, 4096);
    assert.equal(readRecordAt(concat(new Uint8Array(4096).fill(1), sealed), 4096).kind, "record");
  });
});
