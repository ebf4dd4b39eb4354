// kv delete, list and get's found through the request path: served by the leader, forwarded by a
// follower over the client channel (so the codec carries them), refused when malformed, and a
// token revoke that now deletes its record.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { TOKEN_KEY_PREFIX } from "../../../src/core/replica/token-book.ts";
import { PathCluster } from "./path-cluster.ts";
import { encodeKvCommand, KV_KEY_BYTES_MAX, KV_VALUE_BYTES_MAX, KvStateMachine } from "../../../src/core/replica/kv-state-machine.ts";
import { KV_LIST_LIMIT_MAX, KV_LIST_PAGE_BYTES_MAX, okOutcome } from "../../../src/core/replica/request-types.ts";
import { CLIENT_FRAME_BYTES_MAX, decodeClientFrame, encodeClientFrame } from "../../../src/core/wire/client-codec.ts";

describe("kv through the request path", () => {
  test("a follower forwards delete and list; get answers found and the revisions; list never shows token records", () => {
    const cluster = new PathCluster([1, 2, 3]);
    const leader = cluster.leader();
    const follower = cluster.follower(leader);
    const put = cluster.outcomeOf(follower, { kind: "put", key: "p/a", value: "" });
    assert.ok(put.status === "ok" && put.result.kind === "put");
    cluster.outcomeOf(follower, { kind: "put", key: "p/b", value: "2" });
    const get = cluster.outcomeOf(follower, { kind: "get", key: "p/a" });
    assert.ok(get.status === "ok" && get.result.kind === "get");
    assert.deepEqual([get.result.found, get.result.value, get.result.createRevision, get.result.modRevision, get.result.version], [true, "", put.result.index, put.result.index, 1]);
    const record = { id: "0123456789abcdef", role: "read-only", tenant: "", hashHex: "a".repeat(64), createdAtMs: 1, expiresAtMs: 0 } as const;
    const created = cluster.outcomeOf(follower, { kind: "token-create", record });
    assert.equal(created.status, "ok", JSON.stringify(created));
    const page = cluster.outcomeOf(follower, { kind: "list", prefix: "", startAfter: "", limit: 1, keysOnly: false });
    assert.ok(page.status === "ok" && page.result.kind === "list");
    assert.equal(page.servedBy, leader);
    assert.equal(page.result.entries.length, 1);
    assert.equal(page.result.more, true);
    const all = cluster.outcomeOf(follower, { kind: "list", prefix: "", startAfter: "", limit: 1000, keysOnly: true });
    assert.ok(all.status === "ok" && all.result.kind === "list");
    assert.ok(all.result.entries.some((e) => e.key === "p/a") && !all.result.entries.some((e) => e.key.startsWith(TOKEN_KEY_PREFIX)));
    assert.equal(all.result.more, false);
    const deleted = cluster.outcomeOf(follower, { kind: "delete", key: "p/", prefix: true });
    assert.ok(deleted.status === "ok" && deleted.result.kind === "delete");
    assert.deepEqual([deleted.result.deleted, deleted.result.more], [2, false]);
    const absent = cluster.outcomeOf(follower, { kind: "get", key: "p/a" });
    assert.ok(absent.status === "ok" && absent.result.kind === "get" && !absent.result.found);
    // Revoking deletes the record (it no longer exists, not even as ""); revoking again is ok with index 0.
    const revoked = cluster.outcomeOf(follower, { kind: "token-revoke", id: record.id });
    assert.ok(revoked.status === "ok" && revoked.result.kind === "put" && revoked.result.index > 0);
    cluster.runUntil(() => cluster.machines.get(leader)!.entry(`${TOKEN_KEY_PREFIX}${record.id}`) === undefined, 1_000);
    const again = cluster.outcomeOf(follower, { kind: "token-revoke", id: record.id });
    assert.ok(again.status === "ok" && again.result.kind === "put");
  });

  test("malformed kv requests are not-applied invalid, naming the field", () => {
    const cluster = new PathCluster([1, 2, 3]);
    const leader = cluster.leader();
    const cases: Array<[Parameters<typeof cluster.outcomeOf>[1], RegExp]> = [
      [{ kind: "delete", key: "", prefix: true }, /^prefix: must not be empty/],
      [{ kind: "delete", key: "_blix", prefix: true }, /would match keys reserved/],
      [{ kind: "delete", key: "_blixard/member/1", prefix: false }, /reserved for the cluster/],
      [{ kind: "list", prefix: "", startAfter: "", limit: 0, keysOnly: false }, /^limit: must be 1\.\.1000/],
      [{ kind: "list", prefix: "", startAfter: "", limit: 1001, keysOnly: false }, /^limit: must be 1\.\.1000/],
      [{ kind: "list", prefix: TOKEN_KEY_PREFIX, startAfter: "", limit: 1, keysOnly: false }, /^prefix: keys starting with _blixard\/token\//],
      [{ kind: "list", prefix: "k".repeat(1025), startAfter: "", limit: 1, keysOnly: false }, /^prefix: 1025 bytes exceeds/],
    ];
    for (const [request, pattern] of cases) {
      const outcome = cluster.outcomeOf(leader, request);
      assert.ok(outcome.status === "not-applied" && outcome.reason === "invalid", JSON.stringify(outcome));
      assert.match(outcome.detail, pattern);
    }
  });
});

describe("a list page fits a client frame", () => {
  test("the largest page (keys and values at their limits, up to the page's byte bound) encodes within CLIENT_FRAME_BYTES_MAX", () => {
    const kv = new KvStateMachine();
    // Non-ASCII keys and values at their byte limits: 3 UTF-8 bytes per character.
    const keyChars = Math.floor(KV_KEY_BYTES_MAX / 3) - 2;
    const value = "€".repeat(Math.floor(KV_VALUE_BYTES_MAX / 3));
    for (let i = 0; i < 40; i++) kv.apply(i + 1, encodeKvCommand({ op: "put", key: `${String(i).padStart(2, "0")}${"é".repeat(keyChars)}`, value }));
    for (let i = 0; i < 1000; i++) kv.apply(100 + i, encodeKvCommand({ op: "put", key: `z${String(i).padStart(4, "0")}${"ü".repeat(keyChars)}`, value: "" }));
    for (const [startAfter, keysOnly] of [["", false], ["", true], ["z", false]] as const) {
      const page = kv.list({ prefix: "", startAfter, limit: KV_LIST_LIMIT_MAX, keysOnly, bytesMax: KV_LIST_PAGE_BYTES_MAX });
      assert.ok(page.entries.length >= 1 && page.more);
      const bytes = encodeClientFrame({ kind: "outcome", origin: 1, requestId: 1, outcome: okOutcome({ kind: "list", entries: page.entries, more: page.more, index: 1 }, 1) });
      assert.ok(bytes.length <= CLIENT_FRAME_BYTES_MAX, `${bytes.length} bytes`);
      const decoded = decodeClientFrame(bytes);
      assert.ok(decoded.ok, decoded.ok ? "" : decoded.error);
    }
  });
});
