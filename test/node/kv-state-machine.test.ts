import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { KvStateMachine, decodeKvCommand, encodeKvCommand, validateKvCommand, type KvCommand } from "../../src/node/kv-state-machine.ts";

const key = fc.string({ minLength: 1, maxLength: 8 });
const value = fc.string({ maxLength: 16 });
const command: fc.Arbitrary<KvCommand> = fc.oneof(
  fc.record({ op: fc.constant("put" as const), key, value }, { noNullPrototype: true }),
  fc.record({ op: fc.constant("cas" as const), key, expected: value, value }, { noNullPrototype: true }),
);

describe("kv state machine", () => {
  test("commands survive encoding", () => {
    fc.assert(fc.property(command, (c) => assert.deepEqual(decodeKvCommand(encodeKvCommand(c)), c)));
  });

  test("an absent key reads as the empty string, and cas from it creates the key", () => {
    const kv = new KvStateMachine();
    assert.equal(kv.query({ key: "a" }), "");
    assert.deepEqual(kv.apply(1, encodeKvCommand({ op: "cas", key: "a", expected: "x", value: "y" })), { op: "cas", swapped: false, current: "" });
    assert.deepEqual(kv.apply(2, encodeKvCommand({ op: "cas", key: "a", expected: "", value: "y" })), { op: "cas", swapped: true, current: "y" });
    assert.equal(kv.query({ key: "a" }), "y");
  });

  test("applying the same commands gives the same snapshot bytes, and restore reproduces the state", () => {
    fc.assert(
      fc.property(fc.array(command, { maxLength: 40 }), (commands) => {
        const a = new KvStateMachine();
        const b = new KvStateMachine();
        commands.forEach((c, i) => {
          assert.deepEqual(a.apply(i + 1, encodeKvCommand(c)), b.apply(i + 1, encodeKvCommand(c)));
        });
        const restored = new KvStateMachine();
        restored.restore(a.snapshot());
        assert.deepEqual(restored.snapshot(), b.snapshot());
        for (const c of commands) assert.equal(restored.query({ key: c.key }), a.query({ key: c.key }));
      }),
    );
  });

  test("invalid commands are named before they reach the log", () => {
    assert.match(validateKvCommand({ op: "put", key: "", value: "v" }) ?? "", /^key:/);
    assert.match(validateKvCommand({ op: "put", key: "k".repeat(2000), value: "v" }) ?? "", /^key: 2000 bytes/);
    assert.match(validateKvCommand({ op: "cas", key: "k", expected: "e".repeat(70000), value: "" }) ?? "", /^expected:/);
    assert.equal(validateKvCommand({ op: "put", key: "k", value: "v" }), undefined);
  });
});
