import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { createHash } from "node:crypto";
import { KvStateMachine, decodeKvCommand, encodeKvCommand, validateKvCommand, type KvCommand } from "../../../src/core/replica/kv-state-machine.ts";

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

  test("snapshot bytes are pinned: ASCII, multi-byte and long texts, lists and revisions", () => {
    // The image is written in place from measured lengths; these bytes were produced by the
    // earlier encode-each-text writer, so a change of format or a mis-measured text shows here.
    const kv = new KvStateMachine();
    const commands: KvCommand[] = [
      { op: "put", key: "b", value: "plain" },
      { op: "put", key: "a\u00e9", value: "\u65e5\u672c\u{1f600}".repeat(30) },
      { op: "put", key: "c", value: "x".repeat(200) },
      { op: "append", key: "list", value: "one" },
      { op: "append", key: "list", value: "\u00fc" },
      { op: "put", key: "b", value: "" },
    ];
    commands.forEach((c, i) => kv.apply(i + 1, encodeKvCommand(c)));
    const image = kv.snapshot();
    assert.equal(image.length, 666);
    assert.equal(createHash("sha256").update(image).digest("hex"), "58e01f124c6ea61b435480426228fa960720161e23056bc60529c7853d700a21");
    const restored = new KvStateMachine();
    restored.restore(image);
    assert.deepEqual(restored.snapshot(), image);
  });

  test("invalid commands are named before they reach the log", () => {
    assert.match(validateKvCommand({ op: "put", key: "", value: "v" }) ?? "", /^key:/);
    assert.match(validateKvCommand({ op: "put", key: "k".repeat(2000), value: "v" }) ?? "", /^key: 2000 bytes/);
    assert.match(validateKvCommand({ op: "cas", key: "k", expected: "e".repeat(70000), value: "" }) ?? "", /^expected:/);
    assert.equal(validateKvCommand({ op: "put", key: "k", value: "v" }), undefined);
  });

  test("the byte format is the plain TextEncoder layout for any text (ASCII fast path or not), and decodes back", () => {
    const encoder = new TextEncoder();
    // The layout as first written, with TextEncoder for every string: the fast paths must not change a byte.
    const reference = (c: Extract<KvCommand, { op: "put" | "cas" }>): Uint8Array => {
      const key = encoder.encode(c.key);
      const parts = c.op === "put" ? [encoder.encode(c.value)] : [encoder.encode(c.expected), encoder.encode(c.value)];
      const bytes = new Uint8Array(3 + key.length + parts.reduce((sum, part) => sum + 4 + part.length, 0));
      const view = new DataView(bytes.buffer);
      bytes[0] = c.op === "put" ? 1 : 2;
      view.setUint16(1, key.length, true);
      bytes.set(key, 3);
      let offset = 3 + key.length;
      for (const part of parts) {
        view.setUint32(offset, part.length, true);
        bytes.set(part, offset + 4);
        offset += 4 + part.length;
      }
      return bytes;
    };
    const anyText = fc.oneof(fc.string({ unit: "binary", maxLength: 80 }), fc.string({ unit: "grapheme", maxLength: 80 }), fc.string({ maxLength: 100 }));
    const anyCommand: fc.Arbitrary<Extract<KvCommand, { op: "put" | "cas" }>> = fc.oneof(
      fc.record({ op: fc.constant("put" as const), key: anyText.filter((k) => k.length > 0), value: anyText }, { noNullPrototype: true }),
      fc.record({ op: fc.constant("cas" as const), key: anyText.filter((k) => k.length > 0), expected: anyText, value: anyText }, { noNullPrototype: true }),
    );
    fc.assert(
      fc.property(anyCommand, (c) => {
        const bytes = encodeKvCommand(c);
        assert.deepEqual(bytes, reference(c));
        const decoder = new TextDecoder();
        const roundTrip = (text: string): string => decoder.decode(encoder.encode(text));
        const expected: KvCommand = c.op === "put" ? { op: "put", key: roundTrip(c.key), value: roundTrip(c.value) } : { op: "cas", key: roundTrip(c.key), expected: roundTrip(c.expected), value: roundTrip(c.value) };
        assert.deepEqual(decodeKvCommand(bytes), expected);
      }),
      { numRuns: 500 },
    );
  });
});
