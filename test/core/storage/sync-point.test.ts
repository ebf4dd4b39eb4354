// The sync point slots: encoding, and which combinations of the two slots a crash can leave
// (read as a sync point or none) versus damage (read as corrupt).

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { SEGMENT_DATA_START, SYNC_POINT_SLOT_OFFSETS, encodeSyncPoint, readSyncPoint, readSyncPointSlot, syncPointSlotOffset } from "../../../src/core/storage/sync-point.ts";

function segment(slots: { seq?: number; end?: number; damage?: boolean; tornAt?: number }[]): Uint8Array {
  const bytes = new Uint8Array(SEGMENT_DATA_START + 64);
  slots.forEach((slot, i) => {
    if (slot.seq === undefined) return;
    const encoded = encodeSyncPoint({ seq: slot.seq, end: slot.end ?? SEGMENT_DATA_START + 10 * slot.seq });
    const offset = syncPointSlotOffset(slot.seq);
    assert.equal(offset, SYNC_POINT_SLOT_OFFSETS[i]);
    bytes.set(slot.tornAt === undefined ? encoded : encoded.subarray(0, slot.tornAt), offset);
    if (slot.damage === true) bytes[offset + 13]! ^= 0x10;
  });
  return bytes;
}

describe("sync points", () => {
  test("a slot round-trips, is bound to its offset, and a flipped bit or a cut-short slot is bad", () => {
    const bytes = segment([{}, { seq: 3, end: 500 }]);
    assert.deepEqual(readSyncPointSlot(bytes, SYNC_POINT_SLOT_OFFSETS[1]), { kind: "valid", point: { seq: 3, end: 500 } });
    assert.deepEqual(readSyncPointSlot(bytes, SYNC_POINT_SLOT_OFFSETS[0]), { kind: "empty" });
    const moved = new Uint8Array(bytes.length);
    moved.set(bytes.subarray(SYNC_POINT_SLOT_OFFSETS[1], SYNC_POINT_SLOT_OFFSETS[1] + 32), SYNC_POINT_SLOT_OFFSETS[0]);
    assert.equal(readSyncPointSlot(moved, SYNC_POINT_SLOT_OFFSETS[0]).kind, "bad", "a slot copied to the other offset fails its check");
    assert.equal(readSyncPointSlot(segment([{}, { seq: 3, damage: true }]), SYNC_POINT_SLOT_OFFSETS[1]).kind, "bad");
    assert.equal(readSyncPointSlot(bytes.subarray(0, SYNC_POINT_SLOT_OFFSETS[1] + 20), SYNC_POINT_SLOT_OFFSETS[1]).kind, "bad");
  });

  test("crash states read as a sync point or none; damage that no crash leaves is corrupt", () => {
    assert.equal(readSyncPoint(segment([{}, {}])), undefined, "nothing synced yet");
    assert.deepEqual(readSyncPoint(segment([{}, { seq: 1, end: 200 }])), { seq: 1, end: 200 });
    assert.equal(readSyncPoint(segment([{}, { seq: 1, tornAt: 20 }])), undefined, "the first sync point torn");
    assert.deepEqual(readSyncPoint(segment([{ seq: 4, end: 400 }, { seq: 3, end: 300 }])), { seq: 4, end: 400 });
    assert.deepEqual(readSyncPoint(segment([{ seq: 4, end: 400 }, { seq: 5, tornAt: 10 }])), { seq: 4, end: 400 }, "the newer one torn");
    assert.deepEqual(readSyncPoint(segment([{ seq: 6, tornAt: 30 }, { seq: 5, end: 500 }])), { seq: 5, end: 500 });
    for (const [what, bytes] of [
      ["both damaged", segment([{ seq: 2, damage: true }, { seq: 3, damage: true }])],
      ["slot 0 damaged beside an empty slot 1", segment([{ seq: 2, damage: true }, {}])],
      ["slot 0 written while slot 1 is empty", segment([{ seq: 2 }, {}])],
    ] as const) {
      const read = readSyncPoint(bytes);
      assert.ok(read !== undefined && "corrupt" in read, what);
    }
  });
});
