// KvService/Append, ReadList and Txn on one in-process node: results, the branch that ran,
// the wrong-kind refusal, and bad input named by field (limits the same as the core's).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code } from "@connectrpc/connect";
import type { NodeRuntime } from "../../../src/shell/node/runtime.ts";
import { createApiClients, type ApiClients } from "../../../src/shell/api/client.ts";
import { KV_TXN_COMPARES_MAX, KV_TXN_OPS_MAX } from "../../../src/core/replica/kv-txn.ts";
import { ADMIN_TOKEN } from "../../support/admin-token.ts";
import { startSingleNode } from "../../support/single-node.ts";
import { expectCode } from "../../support/expect-code.ts";


describe("kv service: append, read-list, txn (one in-process node)", { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "blixard-kv-txn-api-"));
  let node: NodeRuntime;
  let clients: ApiClients;

  before(async () => {
    node = await startSingleNode(dir);
    clients = createApiClients(`http://${node.apiAddress}`, { token: ADMIN_TOKEN.text });
  });
  after(async () => {
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("append grows a list that read-list returns whole; the other kind of write is refused with FailedPrecondition", async () => {
    const first = await clients.kv.append({ key: "l/1", value: "a" });
    const second = await clients.kv.append({ key: "l/1", value: "b" });
    assert.deepEqual([first.length, second.length], [1n, 2n]);
    assert.ok(second.index > first.index);
    const read = await clients.kv.readList({ key: "l/1" });
    assert.deepEqual([read.list, read.found, read.createRevision, read.modRevision, read.version], [["a", "b"], true, first.index, second.index, 2n]);
    const absent = await clients.kv.readList({ key: "l/none" });
    assert.deepEqual([absent.list, absent.found], [[], false]);
    await expectCode(clients.kv.put({ key: "l/1", value: "x" }), Code.FailedPrecondition, /wrong kind of entry: l\/1: holds a list/);
    await clients.kv.put({ key: "l/v", value: "x" });
    await expectCode(clients.kv.append({ key: "l/v", value: "y" }), Code.FailedPrecondition, /l\/v: holds a value/);
    await expectCode(clients.kv.append({ key: "_blixard/x", value: "y" }), Code.InvalidArgument, /^key: keys starting with _blixard\/ are reserved/);
  });

  test("a txn runs its success branch when the compares hold, else its failure branch, atomically at one revision", async () => {
    await clients.kv.put({ key: "t/a", value: "1" });
    const request = {
      compare: [{ key: "t/a", target: "value", op: "==", value: "1" }, { key: "t/b", target: "exists", exists: false }],
      success: [{ op: "put", key: "t/b", value: "2" }, { op: "append", key: "t/l", value: "x" }, { op: "get", key: "t/b" }, { op: "read-list", key: "t/l" }],
      failure: [{ op: "get", key: "t/b" }],
    };
    const ran = await clients.kv.txn(request);
    assert.equal(ran.succeeded, true);
    assert.deepEqual(ran.results.map((r) => r.op), ["put", "append", "get", "read-list"]);
    assert.deepEqual([ran.results[2]!.value, ran.results[2]!.modRevision, ran.results[3]!.list], ["2", ran.index, ["x"]]);
    const again = await clients.kv.txn(request);
    assert.equal(again.succeeded, false);
    assert.deepEqual([again.results.length, again.results[0]!.value, again.results[0]!.modRevision], [1, "2", ran.index]);
    // A refused operation undoes the whole txn: t/c is not written.
    await expectCode(clients.kv.txn({ success: [{ op: "put", key: "t/c", value: "1" }, { op: "put", key: "t/l", value: "no" }] }), Code.FailedPrecondition, /t\/l: holds a list/);
    assert.equal((await clients.kv.get({ key: "t/c" })).found, false);
  });

  test("a txn's bad input is refused with InvalidArgument naming the field or the limit", async () => {
    await expectCode(clients.kv.txn({ compare: [{ key: "k", target: "size", op: "==" }] }), Code.InvalidArgument, /^compare\[0\]\.target: must be one of/);
    await expectCode(clients.kv.txn({ compare: [{ key: "k", target: "value", op: "<", value: "1" }] }), Code.InvalidArgument, /^compare\[0\]\.op: a value compare is == or !=/);
    await expectCode(clients.kv.txn({ success: [{ op: "increment", key: "k" }] }), Code.InvalidArgument, /^success\[0\]\.op: must be one of/);
    await expectCode(clients.kv.txn({ failure: [{ op: "put", key: "", value: "" }] }), Code.InvalidArgument, /^failure\[0\]\.key: must not be empty/);
    await expectCode(clients.kv.txn({ success: [{ op: "delete", key: "_blixard/members/1" }] }), Code.InvalidArgument, /^success\[0\]\.key: keys starting with _blixard\/ are reserved/);
    await expectCode(clients.kv.txn({ success: [{ op: "get", key: "_blixard/token/x" }] }), Code.InvalidArgument, /^success\[0\]\.key: keys starting with _blixard\/token\/ are readable only/);
    await expectCode(clients.kv.txn({ compare: Array.from({ length: KV_TXN_COMPARES_MAX + 1 }, () => ({ key: "k", target: "exists", exists: true })) }), Code.InvalidArgument, /^compare: 65 clauses exceeds the limit of 64/);
    await expectCode(clients.kv.txn({ success: Array.from({ length: KV_TXN_OPS_MAX + 1 }, () => ({ op: "delete", key: "k" })) }), Code.InvalidArgument, /^success: 65 operations exceeds the limit of 64/);
    await expectCode(clients.kv.txn({ success: Array.from({ length: 9 }, () => ({ op: "get", key: "k" })) }), Code.InvalidArgument, /^success: 9 reads exceeds the limit of 8/);
  });
});
