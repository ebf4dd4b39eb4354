// The key-value service's Get (found, revisions), Delete, List and Watch on one in-process node:
// results, bad input named by field, the bounds, and the watch's blocking-query behaviour.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code } from "@connectrpc/connect";
import type { NodeRuntime } from "../../../src/shell/node/runtime.ts";
import { createApiClients, type ApiClients } from "../../../src/shell/api/client.ts";
import { KV_DELETE_PREFIX_KEYS_MAX } from "../../../src/core/replica/kv-state-machine.ts";
import { KV_LIST_LIMIT_MAX } from "../../../src/core/replica/request-types.ts";
import { WATCH_WAIT_MS_MAX } from "../../../src/shell/api/kv-watch.ts";
import { ADMIN_TOKEN } from "../../support/admin-token.ts";
import { startSingleNode } from "../../support/single-node.ts";
import { expectCode } from "../../support/expect-code.ts";


describe("kv service: revisions, delete, list, watch (one in-process node)", { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "blixard-kv-api-"));
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

  test("get tells absent from empty and reports create/mod revision and version", async () => {
    const absent = await clients.kv.get({ key: "rev/k" });
    assert.deepEqual([absent.found, absent.value, absent.createRevision, absent.modRevision, absent.version], [false, "", 0n, 0n, 0n]);
    const first = await clients.kv.put({ key: "rev/k", value: "" });
    const empty = await clients.kv.get({ key: "rev/k" });
    assert.deepEqual([empty.found, empty.value, empty.createRevision, empty.modRevision, empty.version], [true, "", first.index, first.index, 1n]);
    const second = await clients.kv.put({ key: "rev/k", value: "v" });
    const serializable = await clients.kv.get({ key: "rev/k", serializable: true });
    assert.deepEqual([serializable.found, serializable.value, serializable.createRevision, serializable.modRevision, serializable.version], [true, "v", first.index, second.index, 2n]);
  });

  test("compare-and-set with expect_absent creates only an absent key", async () => {
    const created = await clients.kv.compareAndSet({ key: "create/k", value: "", expectAbsent: true });
    assert.equal(created.succeeded, true);
    const again = await clients.kv.compareAndSet({ key: "create/k", value: "x", expectAbsent: true });
    assert.deepEqual([again.succeeded, again.current], [false, ""]);
    await expectCode(clients.kv.compareAndSet({ key: "create/k", expected: "y", value: "x", expectAbsent: true }), Code.InvalidArgument, /^expected: must be empty with expect_absent/);
  });

  test("delete: a key (deleted or not, with its revision), a prefix (bounded, says more remain), and the refusals", async () => {
    await clients.kv.put({ key: "del/a", value: "1" });
    const deleted = await clients.kv.delete({ key: "del/a" });
    assert.equal(deleted.deleted, 1n);
    assert.ok(deleted.index > 0n);
    assert.equal((await clients.kv.get({ key: "del/a" })).found, false);
    assert.equal((await clients.kv.delete({ key: "del/a" })).deleted, 0n);
    for (let i = 0; i < 3; i++) await clients.kv.put({ key: `del/p/${i}`, value: "x" });
    await clients.kv.put({ key: "del/q", value: "x" });
    const prefix = await clients.kv.delete({ key: "del/p/", prefix: true });
    assert.deepEqual([prefix.deleted, prefix.more], [3n, false]);
    assert.equal((await clients.kv.get({ key: "del/q" })).found, true);
    await expectCode(clients.kv.delete({ key: "", prefix: true }), Code.InvalidArgument, /^prefix: must not be empty/);
    await expectCode(clients.kv.delete({ key: "_", prefix: true }), Code.InvalidArgument, /^prefix: "_" would match keys reserved/);
    await expectCode(clients.kv.delete({ key: "_blixard/member/1" }), Code.InvalidArgument, /^key: keys starting with _blixard\/ are reserved/);
    await expectCode(clients.kv.delete({ key: "" }), Code.InvalidArgument, /^key: must not be empty/);
  });

  test("a prefix delete beyond its bound deletes the first keys and says more remain", async () => {
    const count = KV_DELETE_PREFIX_KEYS_MAX + 2;
    for (let i = 0; i < count; i++) await clients.kv.put({ key: `many/${String(i).padStart(4, "0")}`, value: "x" });
    const first = await clients.kv.delete({ key: "many/", prefix: true });
    assert.deepEqual([first.deleted, first.more], [BigInt(KV_DELETE_PREFIX_KEYS_MAX), true]);
    const second = await clients.kv.delete({ key: "many/", prefix: true });
    assert.deepEqual([second.deleted, second.more], [2n, false]);
  });

  test("list pages past one page, continue after the last key, never show tokens, and refuse bad limits and prefixes", async () => {
    for (let i = 0; i < 5; i++) await clients.kv.put({ key: `list/${i}`, value: `v${i}` });
    const page = await clients.kv.list({ prefix: "list/", limit: 2 });
    assert.deepEqual(
      page.entries.map((e) => [e.key, e.value]),
      [
        ["list/0", "v0"],
        ["list/1", "v1"],
      ],
    );
    assert.deepEqual([page.more, page.nextStartAfter], [true, "list/1"]);
    const rest = await clients.kv.list({ prefix: "list/", startAfter: page.nextStartAfter, keysOnly: true });
    assert.deepEqual(
      rest.entries.map((e) => [e.key, e.value, e.valueBytes]),
      [
        ["list/2", "", 2n],
        ["list/3", "", 2n],
        ["list/4", "", 2n],
      ],
    );
    assert.deepEqual([rest.more, rest.nextStartAfter], [false, ""]);
    assert.ok(rest.entries.every((e) => e.modRevision > 0n && e.version === 1n));
    // Every key: the address book is listed, the token book never (a token exists: the bootstrap one is not in the book, so make one).
    await clients.token.createToken({ role: "read-only" });
    const everything = await clients.kv.list({ prefix: "" });
    assert.ok(everything.entries.some((e) => e.key.startsWith("_blixard/member/")));
    assert.ok(!everything.entries.some((e) => e.key.startsWith("_blixard/token/")));
    await expectCode(clients.kv.list({ prefix: "_blixard/token/" }), Code.InvalidArgument, /^prefix: keys starting with _blixard\/token\/ are readable only through the token list/);
    await expectCode(clients.kv.list({ prefix: "list/", limit: KV_LIST_LIMIT_MAX + 1 }), Code.InvalidArgument, /^limit: must be 1\.\.1000/);
  });

  test("list pages stop at the byte bound: large values come in several pages, each within it", async () => {
    const value = "x".repeat(60 * 1024);
    for (let i = 0; i < 6; i++) await clients.kv.put({ key: `big/${i}`, value });
    const first = await clients.kv.list({ prefix: "big/" });
    assert.ok(first.entries.length >= 1 && first.entries.length < 6, `${first.entries.length} entries`);
    assert.equal(first.more, true);
    let seen = first.entries.length;
    let next = first.nextStartAfter;
    for (let pages = 0; pages < 6 && next !== ""; pages++) {
      const page = await clients.kv.list({ prefix: "big/", startAfter: next });
      seen += page.entries.length;
      next = page.nextStartAfter;
    }
    assert.equal(seen, 6);
  });

  test("watch: answers at once from an old revision, waits for a put made after it started, is empty at its deadline, and never repeats", async () => {
    const put1 = await clients.kv.put({ key: "w/a", value: "1" });
    const put2 = await clients.kv.put({ key: "w/b", value: "2" });
    await clients.kv.put({ key: "other", value: "x" });
    const old = await clients.kv.watch({ key: "w/", prefix: true, fromRevision: put1.index, waitMs: 5_000 });
    assert.deepEqual(
      old.events.map((e) => [e.type, e.key, e.value, e.revision]),
      [
        ["put", "w/a", "1", put1.index],
        ["put", "w/b", "2", put2.index],
      ],
    );
    // Waiting from the next revision: woken by a later delete, not by polling (the wait is long).
    const startedMs = Date.now();
    const waiting = clients.kv.watch({ key: "w/b", fromRevision: old.nextRevision, waitMs: 20_000 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const deleted = await clients.kv.delete({ key: "w/b" });
    const woken = await waiting;
    assert.ok(Date.now() - startedMs < 10_000, "answered when the change applied, not at the deadline");
    assert.deepEqual(
      woken.events.map((e) => [e.type, e.key, e.value, e.revision]),
      [["delete", "w/b", "", deleted.index]],
    );
    assert.equal(woken.nextRevision, deleted.index + 1n);
    const quiet = await clients.kv.watch({ key: "w/b", fromRevision: woken.nextRevision, waitMs: 200 });
    assert.deepEqual(quiet.events, []);
    assert.ok(quiet.nextRevision >= woken.nextRevision && quiet.currentRevision >= deleted.index);
    const fromNow = await clients.kv.watch({ key: "w/a", waitMs: 0 });
    assert.deepEqual(fromNow.events, []);
    assert.equal(fromNow.nextRevision, fromNow.currentRevision + 1n);
  });

  test("watch refuses bad input by field", async () => {
    await expectCode(clients.kv.watch({ key: "" }), Code.InvalidArgument, /^key: must not be empty/);
    await expectCode(clients.kv.watch({ key: "_blixard/token/", prefix: true }), Code.InvalidArgument, /^key: keys starting with _blixard\/token\//);
    await expectCode(clients.kv.watch({ key: "k", waitMs: WATCH_WAIT_MS_MAX + 1 }), Code.InvalidArgument, /^wait_ms: at most 60000/);
    await expectCode(clients.kv.watch({ key: "k", maxEvents: 1001 }), Code.InvalidArgument, /^max_events: at most 1000/);
    await expectCode(clients.kv.watch({ key: "k", fromRevision: 1n << 60n }), Code.InvalidArgument, /^from_revision: \d+ is out of range/);
    // A revision in the future is not an error: the watch waits for it (here: not at all).
    const future = await clients.kv.watch({ key: "k", fromRevision: 1n << 40n, waitMs: 0 });
    assert.deepEqual([future.events.length, future.nextRevision], [0, 1n << 40n]);
    await expectCode(clients.kv.list({ prefix: "", startAfter: "s".repeat(1025) }), Code.InvalidArgument, /^start_after: 1025 bytes exceeds/);
  });
});

describe("kv watch after a restart from a snapshot: older revisions are compacted", { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "blixard-kv-compacted-"));
  let node: NodeRuntime | undefined;
  after(async () => {
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a watch from revision 1 answers FailedPrecondition naming the oldest available revision", async () => {
    node = await startSingleNode(dir, { snapshotEveryEntries: 4 });
    let clients = createApiClients(`http://${node.apiAddress}`, { token: ADMIN_TOKEN.text });
    for (let i = 0; i < 12; i++) await clients.kv.put({ key: `c/${i}`, value: "x" });
    // Before the restart this node applied its whole log: revision 1 is still answerable.
    assert.ok((await clients.kv.watch({ key: "c/", prefix: true, fromRevision: 1n })).events.length > 0);
    await node.stop();
    node = await startSingleNode(dir, { snapshotEveryEntries: 4 });
    clients = createApiClients(`http://${node.apiAddress}`, { token: ADMIN_TOKEN.text });
    await expectCode(clients.kv.watch({ key: "c/", prefix: true, fromRevision: 1n }), Code.FailedPrecondition, /^revision 1 has been compacted; the oldest available is \d+/);
    // The values and revisions came back with the snapshot.
    const got = await clients.kv.get({ key: "c/0" });
    assert.deepEqual([got.found, got.version], [true, 1n]);
    assert.ok(got.modRevision > 0n);
  });
});
