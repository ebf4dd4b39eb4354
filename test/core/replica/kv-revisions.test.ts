// Revisions, deletes, list pages and the snapshot formats of the key-value state machine,
// checked against a plain model (etcd's rules: create/mod revision, version since creation).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  KvStateMachine,
  KV_DELETE_PREFIX_KEYS_MAX,
  decodeKvCommand,
  encodeKvCommand,
  type KvCommand,
  type KvEntry,
} from "../../../src/core/replica/kv-state-machine.ts";
import { NodeStateMachine } from "../../../src/core/replica/node-state-machine.ts";

const key = fc.constantFrom("a", "ab", "abc", "b", "ba", "c", "é");
const value = fc.constantFrom("", "x", "y", "zz");
const command: fc.Arbitrary<KvCommand> = fc.oneof(
  fc.record({ op: fc.constant("put" as const), key, value }, { noNullPrototype: true }),
  fc.record({ op: fc.constant("cas" as const), key, expected: value, value }, { noNullPrototype: true }),
  fc.record({ op: fc.constant("delete" as const), key }, { noNullPrototype: true }),
  fc.record({ op: fc.constant("create" as const), key, value }, { noNullPrototype: true }),
  fc.record({ op: fc.constant("delete-prefix" as const), key: fc.constantFrom("a", "b", "é"), keysMax: fc.integer({ min: 1, max: 3 }) }, { noNullPrototype: true }),
);

/** The model: a map of entries, applied by the rules in docs/OPERATIONS.md. */
function modelApply(model: Map<string, KvEntry>, index: number, c: KvCommand): void {
  const stored = model.get(c.key);
  switch (c.op) {
    case "delete":
      model.delete(c.key);
      return;
    case "delete-prefix": {
      const keys = [...model.keys()].filter((k) => k.startsWith(c.key)).sort();
      for (const k of keys.slice(0, c.keysMax)) model.delete(k);
      return;
    }
    case "cas":
    case "create":
    case "put":
      // A cas whose compare fails, or a create of a present key, changes nothing; otherwise it is a write like a put.
      if (c.op === "cas" && (stored?.value ?? "") !== c.expected) return;
      if (c.op === "create" && stored !== undefined) return;
      model.set(c.key, { value: c.value, valueBytes: Buffer.byteLength(c.value), createRevision: stored?.createRevision ?? index, modRevision: index, version: (stored?.version ?? 0) + 1 });
      return;
  }
}

/** The first snapshot format (before revisions): count u32, then key and value, each u32 length + UTF-8. */
function oldFormatSnapshot(entries: ReadonlyArray<readonly [string, string]>): Uint8Array {
  const encoder = new TextEncoder();
  const parts: number[] = [];
  const u32 = (n: number): void => void parts.push(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff);
  u32(entries.length);
  for (const [k, v] of [...entries].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    for (const text of [k, v]) {
      const bytes = encoder.encode(text);
      u32(bytes.length);
      parts.push(...bytes);
    }
  }
  return Uint8Array.from(parts);
}

describe("kv revisions", () => {
  test("delete commands survive encoding", () => {
    fc.assert(fc.property(command, (c) => assert.deepEqual(decodeKvCommand(encodeKvCommand(c)), c)));
  });

  test("property: revisions, versions, deletes and found follow the model; a replay and a restored snapshot are equal, byte for byte", () => {
    fc.assert(
      fc.property(fc.array(command, { maxLength: 40 }), fc.nat({ max: 40 }), (commands, cut) => {
        const kv = new KvStateMachine();
        const model = new Map<string, KvEntry>();
        commands.forEach((c, i) => {
          kv.apply(i + 1, encodeKvCommand(c));
          modelApply(model, i + 1, c);
        });
        for (const k of ["a", "ab", "abc", "b", "ba", "c", "é"]) assert.deepEqual(kv.entry(k), model.get(k), k);
        // A replica restored from a snapshot taken midway, then fed the rest, equals the one that replayed everything.
        const early = new KvStateMachine();
        const at = Math.min(cut, commands.length);
        commands.slice(0, at).forEach((c, i) => early.apply(i + 1, encodeKvCommand(c)));
        const restored = new KvStateMachine();
        restored.restore(early.snapshot());
        commands.slice(at).forEach((c, i) => restored.apply(at + i + 1, encodeKvCommand(c)));
        assert.deepEqual(restored.snapshot(), kv.snapshot());
      }),
      { numRuns: 300 },
    );
  });

  test("an empty value is a stored value: found, with revisions; a delete makes it absent again and a new put starts at version 1", () => {
    const kv = new KvStateMachine();
    kv.apply(3, encodeKvCommand({ op: "put", key: "k", value: "" }));
    assert.deepEqual(kv.entry("k"), { value: "", valueBytes: 0, createRevision: 3, modRevision: 3, version: 1 });
    kv.apply(5, encodeKvCommand({ op: "put", key: "k", value: "v" }));
    assert.deepEqual(kv.entry("k"), { value: "v", valueBytes: 1, createRevision: 3, modRevision: 5, version: 2 });
    assert.deepEqual(kv.apply(6, encodeKvCommand({ op: "delete", key: "k" })), { op: "delete", deleted: 1, more: false });
    assert.equal(kv.entry("k"), undefined);
    assert.deepEqual(kv.apply(7, encodeKvCommand({ op: "delete", key: "k" })), { op: "delete", deleted: 0, more: false });
    kv.apply(8, encodeKvCommand({ op: "cas", key: "k", expected: "", value: "w" }));
    assert.deepEqual(kv.entry("k"), { value: "w", valueBytes: 1, createRevision: 8, modRevision: 8, version: 1 });
  });

  test("create writes only an absent key: an empty value is present, so a create over it fails; a cas from \"\" matches both", () => {
    const kv = new KvStateMachine();
    assert.deepEqual(kv.apply(1, encodeKvCommand({ op: "create", key: "k", value: "" })), { op: "cas", swapped: true, current: "" });
    assert.deepEqual(kv.apply(2, encodeKvCommand({ op: "create", key: "k", value: "v" })), { op: "cas", swapped: false, current: "" });
    assert.deepEqual(kv.apply(3, encodeKvCommand({ op: "cas", key: "k", expected: "", value: "w" })), { op: "cas", swapped: true, current: "w" });
    assert.deepEqual(kv.entry("k"), { value: "w", valueBytes: 1, createRevision: 1, modRevision: 3, version: 2 });
  });

  test("a prefix delete removes at most its bound, the first keys in key order, and says more remain", () => {
    const kv = new KvStateMachine();
    const count = KV_DELETE_PREFIX_KEYS_MAX + 3;
    for (let i = 0; i < count; i++) kv.apply(i + 1, encodeKvCommand({ op: "put", key: `p/${String(i).padStart(4, "0")}`, value: "v" }));
    kv.apply(count + 1, encodeKvCommand({ op: "put", key: "q", value: "v" }));
    const first = kv.apply(count + 2, encodeKvCommand({ op: "delete-prefix", key: "p/", keysMax: KV_DELETE_PREFIX_KEYS_MAX }));
    assert.deepEqual(first, { op: "delete", deleted: KV_DELETE_PREFIX_KEYS_MAX, more: true });
    assert.equal(kv.entry("p/0000"), undefined);
    assert.ok(kv.entry(`p/${String(count - 1).padStart(4, "0")}`) !== undefined);
    const second = kv.apply(count + 3, encodeKvCommand({ op: "delete-prefix", key: "p/", keysMax: KV_DELETE_PREFIX_KEYS_MAX }));
    assert.deepEqual(second, { op: "delete", deleted: 3, more: false });
    assert.equal(kv.size, 1);
  });

  test("list pages: key order, limit, start after, a byte bound that still returns one entry, keys only with sizes, hidden keys left out", () => {
    const kv = new KvStateMachine();
    ["b", "a", "c", "ab", "_blixard/token/x"].forEach((k, i) => kv.apply(i + 1, encodeKvCommand({ op: "put", key: k, value: k.repeat(3) })));
    const page = kv.list({ prefix: "", startAfter: "", limit: 2, keysOnly: false, bytesMax: 1_000, hidden: (k) => k.startsWith("_blixard/token/") });
    assert.deepEqual(
      page.entries.map((e) => [e.key, e.value]),
      [
        ["a", "aaa"],
        ["ab", "ababab"],
      ],
    );
    assert.equal(page.more, true);
    const rest = kv.list({ prefix: "", startAfter: "ab", limit: 10, keysOnly: true, bytesMax: 1_000, hidden: (k) => k.startsWith("_blixard/token/") });
    assert.deepEqual(
      rest.entries.map((e) => [e.key, e.value, e.valueBytes, e.modRevision]),
      [
        ["b", "", 3, 1],
        ["c", "", 3, 3],
      ],
    );
    assert.equal(rest.more, false);
    const tiny = kv.list({ prefix: "a", startAfter: "", limit: 10, keysOnly: false, bytesMax: 1 });
    assert.deepEqual(
      tiny.entries.map((e) => e.key),
      ["a"],
    );
    assert.equal(tiny.more, true);
  });

  test("a snapshot in the first format (before revisions) restores: values kept, revisions and versions 0", () => {
    const kv = new KvStateMachine();
    kv.restore(oldFormatSnapshot([
      ["k", "v"],
      ["empty", ""],
      ["é", "ü"],
    ]));
    assert.deepEqual(kv.entry("k"), { value: "v", valueBytes: 1, createRevision: 0, modRevision: 0, version: 0 });
    assert.deepEqual(kv.entry("empty"), { value: "", valueBytes: 0, createRevision: 0, modRevision: 0, version: 0 });
    assert.equal(kv.query({ key: "é" }), "ü");
    // The next write counts on from the unknown version.
    kv.apply(9, encodeKvCommand({ op: "put", key: "k", value: "w" }));
    assert.deepEqual(kv.entry("k"), { value: "w", valueBytes: 1, createRevision: 0, modRevision: 9, version: 1 });
    // And it is written back in the current format, which restores to the same state.
    const again = new KvStateMachine();
    again.restore(kv.snapshot());
    assert.deepEqual(again.snapshot(), kv.snapshot());
  });

  test("a node snapshot whose kv part is in the first format restores through NodeStateMachine", () => {
    const current = new NodeStateMachine();
    const bytes = current.snapshot();
    const kvLength = new DataView(bytes.buffer).getUint32(0, true);
    const cluster = bytes.subarray(4 + kvLength);
    const oldKv = oldFormatSnapshot([["greeting", "hello"]]);
    const old = new Uint8Array(4 + oldKv.length + cluster.length);
    new DataView(old.buffer).setUint32(0, oldKv.length, true);
    old.set(oldKv, 4);
    old.set(cluster, 4 + oldKv.length);
    const node = new NodeStateMachine();
    node.restore(old);
    assert.equal(node.value("greeting"), "hello");
    assert.deepEqual(node.entry("greeting"), { value: "hello", valueBytes: 5, createRevision: 0, modRevision: 0, version: 0 });
  });
});
