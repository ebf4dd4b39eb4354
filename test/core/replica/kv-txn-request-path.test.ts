// append, read-list and txn through the request path: a follower forwards them over the client
// channel, the leader serves them with their revision, a refused txn is not-applied with no
// effect, a malformed one is not-applied invalid naming the field, and the largest txn answer
// fits a client frame.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { PathCluster } from "./path-cluster.ts";
import { KV_VALUE_BYTES_MAX } from "../../../src/core/replica/kv-state-machine.ts";
import { KV_TXN_OPS_MAX, KV_TXN_READS_MAX } from "../../../src/core/replica/kv-txn.ts";
import { okOutcome } from "../../../src/core/replica/request-types.ts";
import { CLIENT_FRAME_BYTES_MAX, encodeClientFrame } from "../../../src/core/wire/client-codec.ts";

describe("kv lists and txns through the request path", () => {
  test("a follower forwards append, read-list and txn; the leader serves them at one revision each", () => {
    const cluster = new PathCluster([1, 2, 3]);
    const leader = cluster.leader();
    const follower = cluster.follower(leader);
    const appended = cluster.outcomeOf(follower, { kind: "append", key: "h", value: "1" });
    assert.ok(appended.status === "ok" && appended.result.kind === "append", JSON.stringify(appended));
    assert.equal(appended.servedBy, leader);
    const txn = cluster.outcomeOf(follower, {
      kind: "txn",
      txn: { compares: [{ target: "version", key: "h", op: "==", number: 1 }], success: [{ op: "append", key: "h", value: "2" }, { op: "read-list", key: "h" }], failure: [] },
    });
    assert.ok(txn.status === "ok" && txn.result.kind === "txn", JSON.stringify(txn));
    assert.equal(txn.result.succeeded, true);
    assert.ok(txn.result.index > appended.result.index);
    assert.deepEqual(txn.result.results, [{ op: "append", length: 2 }, { op: "read-list", found: true, list: ["1", "2"] }]);
    const read = cluster.outcomeOf(follower, { kind: "read-list", key: "h" });
    assert.ok(read.status === "ok" && read.result.kind === "read-list");
    assert.deepEqual([read.result.list, read.result.modRevision, read.result.version], [["1", "2"], txn.result.index, 2]);
  });

  test("a txn refused part way is not-applied wrong-kind and wrote nothing; a malformed one is invalid naming the field", () => {
    const cluster = new PathCluster([1, 2, 3]);
    const leader = cluster.leader();
    const follower = cluster.follower(leader);
    cluster.outcomeOf(follower, { kind: "put", key: "v", value: "x" });
    const refused = cluster.outcomeOf(follower, { kind: "txn", txn: { compares: [], success: [{ op: "put", key: "n", value: "1" }, { op: "append", key: "v", value: "y" }], failure: [] } });
    assert.ok(refused.status === "not-applied" && refused.reason === "wrong-kind", JSON.stringify(refused));
    const gone = cluster.outcomeOf(follower, { kind: "get", key: "n" });
    assert.ok(gone.status === "ok" && gone.result.kind === "get" && !gone.result.found);
    const malformed = cluster.outcomeOf(follower, { kind: "txn", txn: { compares: [], success: [], failure: [{ op: "delete", key: "_blixard/members/1" }] } });
    assert.ok(malformed.status === "not-applied" && malformed.reason === "invalid", JSON.stringify(malformed));
    assert.match(malformed.detail, /^failure\[0\]\.key: keys starting with _blixard\/ are reserved/);
  });

  test("the largest txn answer (8 reads of 64 KiB, the rest deletes) encodes within CLIENT_FRAME_BYTES_MAX", () => {
    const big = "v".repeat(KV_VALUE_BYTES_MAX);
    const results = [
      ...Array.from({ length: KV_TXN_READS_MAX }, () => ({ op: "get" as const, found: true, value: big, createRevision: 1, modRevision: 1, version: 1 })),
      ...Array.from({ length: KV_TXN_OPS_MAX - KV_TXN_READS_MAX }, () => ({ op: "delete" as const, deleted: 1 })),
    ];
    const bytes = encodeClientFrame({ kind: "outcome", origin: 1, requestId: 1, outcome: okOutcome({ kind: "txn", succeeded: true, results, index: 1 }, 1) });
    assert.ok(bytes.length <= CLIENT_FRAME_BYTES_MAX, `${bytes.length} > ${CLIENT_FRAME_BYTES_MAX}`);
  });
});
