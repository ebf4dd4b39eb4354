import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { AssertionFailure } from "../../../src/core/assert.ts";
import { applyConfChange, confStateAfterEntries, decodeConfChange, encodeConfChange, tryDecodeConfChange, validateConfChange } from "../../../src/core/raft/conf-change.ts";
import type { ConfChange } from "../../../src/core/raft/types.ts";

describe("conf-change encoding", () => {
  test("decode(encode(change)) is the change, for any type and node id", () => {
    fc.assert(
      fc.property(fc.constantFrom("add-learner" as const, "promote" as const, "remove" as const), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), (type, nodeId) => {
        const change: ConfChange = { type, nodeId };
        assert.deepEqual(decodeConfChange(encodeConfChange(change)), change);
      }),
    );
  });

  test("malformed data is reported by tryDecode and asserted by decode", () => {
    assert.equal(tryDecodeConfChange(new Uint8Array(3)).ok, false);
    assert.equal(tryDecodeConfChange(new Uint8Array([9, 0, 0, 0, 0, 0, 0, 0, 1])).ok, false);
    assert.equal(tryDecodeConfChange(new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0, 0])).ok, false, "node id 0");
    assert.throws(() => decodeConfChange(new Uint8Array(2)), AssertionFailure);
  });

  test("decoding works on a view into a larger buffer", () => {
    const bytes = new Uint8Array(20);
    bytes.set(encodeConfChange({ type: "promote", nodeId: 77 }), 5);
    assert.deepEqual(decodeConfChange(bytes.subarray(5, 14)), { type: "promote", nodeId: 77 });
  });
});

describe("conf-change transitions", () => {
  const conf = { voters: [1, 2, 3], learners: [4] };

  test("add-learner, promote and remove keep the lists sorted and disjoint", () => {
    assert.deepEqual(applyConfChange(conf, { type: "add-learner", nodeId: 5 }), { voters: [1, 2, 3], learners: [4, 5] });
    assert.deepEqual(applyConfChange(conf, { type: "promote", nodeId: 4 }), { voters: [1, 2, 3, 4], learners: [] });
    assert.deepEqual(applyConfChange(conf, { type: "remove", nodeId: 2 }), { voters: [1, 3], learners: [4] });
    assert.deepEqual(applyConfChange(conf, { type: "remove", nodeId: 4 }), { voters: [1, 2, 3], learners: [] });
  });

  test("invalid changes say why", () => {
    const cases: [ConfChange, RegExp][] = [
      [{ type: "add-learner", nodeId: 2 }, /already a voter/],
      [{ type: "add-learner", nodeId: 4 }, /already a learner/],
      [{ type: "promote", nodeId: 2 }, /not a learner/],
      [{ type: "remove", nodeId: 9 }, /not a member/],
      [{ type: "add-learner", nodeId: -1 }, /positive integer/],
    ];
    for (const [change, reason] of cases) {
      const result = validateConfChange(conf, change);
      assert.ok(!result.ok && reason.test(result.reason), `${change.type} ${change.nodeId}`);
      assert.throws(() => applyConfChange(conf, change), AssertionFailure);
    }
    const single = validateConfChange({ voters: [1], learners: [] }, { type: "remove", nodeId: 1 });
    assert.ok(!single.ok && /last voter/.test(single.reason));
  });

  test("confStateAfterEntries folds the conf-change entries of a log", () => {
    const entry = (index: number, change: ConfChange) => ({ term: 1, index, type: "conf-change" as const, data: encodeConfChange(change) });
    const log = [
      entry(1, { type: "add-learner", nodeId: 5 }),
      { term: 1, index: 2, type: "normal" as const, data: new Uint8Array(3) },
      entry(3, { type: "promote", nodeId: 5 }),
      entry(4, { type: "remove", nodeId: 1 }),
    ];
    assert.deepEqual(confStateAfterEntries({ voters: [1, 2, 3], learners: [] }, log), { voters: [2, 3, 5], learners: [] });
  });
});
