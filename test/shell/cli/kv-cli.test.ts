// `blixard kv get|delete|list|watch` against one in-process node: absent versus empty (exit 6
// versus 0), delete, list following pages, watch receiving a change made after it started and
// changes from an old revision, and a compacted revision (exit 7).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NodeRuntime } from "../../../src/shell/node/runtime.ts";
import { createApiClients, type ApiClients } from "../../../src/shell/api/client.ts";
import { ADMIN_TOKEN } from "../../support/admin-token.ts";
import { runCli } from "../../support/run-cli.ts";
import { startSingleNode } from "../../support/single-node.ts";

describe("blixard kv get, delete, list, watch", { timeout: 180_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "blixard-kv-cli-"));
  let node: NodeRuntime;
  let clients: ApiClients;
  let endpoint: string;
  const blixard = (...args: string[]) => runCli([...args, endpoint]);

  before(async () => {
    node = await startSingleNode(dir, { snapshotEveryEntries: 1_000_000 });
    endpoint = `--endpoint=http://${node.apiAddress}`;
    clients = createApiClients(`http://${node.apiAddress}`, { token: ADMIN_TOKEN.text });
  });
  after(async () => {
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("get: an absent key is one line on stderr and exit 6; an empty value prints an empty line, exit 0; -o json shows found and revisions", async () => {
    const absent = await blixard("kv", "get", "nothing-here");
    assert.deepEqual([absent.code, absent.stdout, absent.stderr], [6, "", "key nothing-here not found\n"]);
    const absentJson = await blixard("kv", "get", "nothing-here", "-o", "json");
    assert.equal(absentJson.code, 6);
    assert.equal(JSON.parse(absentJson.stdout).found, false);
    const put = await clients.kv.put({ key: "empty", value: "" });
    const empty = await blixard("kv", "get", "empty");
    assert.deepEqual([empty.code, empty.stdout, empty.stderr], [0, "\n", ""]);
    const yaml = await blixard("kv", "get", "empty", "-o", "yaml");
    assert.equal(yaml.code, 0);
    assert.match(yaml.stdout, /found: true/);
    assert.match(yaml.stdout, new RegExp(`modRevision: "${put.index}"`));
    assert.match(yaml.stdout, /version: "1"/);
  });

  test("put --create-only writes an absent key and exits 7 on an existing one (even an empty one)", async () => {
    const created = await blixard("kv", "put", "once", "", "--create-only");
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /^OK \(index \d+\)\n$/);
    const again = await blixard("kv", "put", "once", "x", "--create-only");
    assert.equal(again.code, 7);
    assert.match(again.stdout, /^FAILED: once exists \(value "", index \d+\)\n$/);
  });

  test("delete: a key, then absent; a prefix; a refused prefix is exit 1 with the field named", async () => {
    await clients.kv.put({ key: "gone", value: "x" });
    const deleted = await blixard("kv", "delete", "gone");
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.match(deleted.stdout, /^gone deleted \(index \d+\)\n$/);
    assert.equal((await blixard("kv", "get", "gone")).code, 6);
    const again = await blixard("kv", "delete", "gone");
    assert.match(again.stdout, /^gone not found, nothing deleted/);
    for (const k of ["d/1", "d/2"]) await clients.kv.put({ key: k, value: "x" });
    const prefix = await blixard("kv", "delete", "d/", "--prefix");
    assert.match(prefix.stdout, /^2 keys starting with d\/ deleted \(index \d+\)\n$/);
    const refused = await blixard("kv", "delete", "_", "--prefix");
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /InvalidArgument: prefix: "_" would match keys reserved/);
  });

  test("list follows pages past one page (1000 keys) up to --limit, prints a table or JSON, and says where to continue", async () => {
    // 1005 keys: more than one page of 1000.
    for (let batch = 0; batch < 1005; batch += 100) {
      const keys = Array.from({ length: Math.min(100, 1005 - batch) }, (_, j) => batch + j);
      await Promise.all(keys.map((i) => clients.kv.put({ key: `l/${String(i).padStart(4, "0")}`, value: i === 0 ? "line\nbreak" : `v${i}` })));
    }
    const all = await blixard("kv", "list", "--prefix", "l/", "--limit", "2000", "-o", "json");
    assert.equal(all.code, 0, all.stderr);
    const parsed = JSON.parse(all.stdout) as { entries: Array<{ key: string }>; more: boolean };
    assert.equal(parsed.entries.length, 1005);
    assert.equal(parsed.more, false);
    assert.equal(new Set(parsed.entries.map((e) => e.key)).size, 1005);
    const table = await blixard("kv", "list", "--prefix", "l/", "--limit", "3");
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trimEnd().split("\n");
    assert.match(lines[0]!, /^KEY\s+VALUE\s+MOD_REVISION$/);
    assert.match(lines[1]!, /^l\/0000\s+\(10 bytes\)\s+\d+$/);
    assert.match(lines[2]!, /^l\/0001\s+v1\s+\d+$/);
    assert.equal(lines.length, 4);
    assert.equal(table.stderr, "more keys remain after l/0002: continue with --start-after l/0002\n");
    const keysOnly = await blixard("kv", "list", "--prefix", "l/", "--start-after", "l/1003", "--keys-only");
    assert.match(keysOnly.stdout, /^KEY\s+SIZE\s+MOD_REVISION\nl\/1004\s+\(5 bytes\)\s+\d+\n$/);
  });

  test("watch prints changes from an old revision in order, and a put made after it started", async () => {
    const first = await clients.kv.put({ key: "wc/a", value: "1" });
    await clients.kv.delete({ key: "wc/a" });
    const watching = runCli(["kv", "watch", "--prefix", "wc/", "--rev", String(first.index), "--count", "3", endpoint]);
    // The third change is made after the watch started (it may also start a moment later: it reads from --rev either way).
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const later = await clients.kv.put({ key: "wc/b", value: "two words" });
    const watched = await watching;
    assert.equal(watched.code, 0, watched.stderr);
    assert.deepEqual(watched.stdout.trimEnd().split("\n"), [`PUT wc/a "1" (revision ${first.index})`, `DELETE wc/a (revision ${first.index + 1n})`, `PUT wc/b "two words" (revision ${later.index})`]);
  });

  test("watch from now ends at --timeout-ms with nothing printed; one key ignores the others", async () => {
    const quiet = await blixard("kv", "watch", "wq/none", "--timeout-ms", "500", "-o", "json");
    assert.deepEqual([quiet.code, quiet.stdout], [0, ""]);
    const usage = await blixard("kv", "watch", "k", "--prefix", "p");
    assert.equal(usage.code, 2);
  });
});

describe("blixard kv watch from a compacted revision", { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "blixard-kv-cli-compacted-"));
  let node: NodeRuntime | undefined;
  after(async () => {
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("exits 7 naming the oldest available revision", async () => {
    node = await startSingleNode(dir, { snapshotEveryEntries: 4 });
    const clients = createApiClients(`http://${node.apiAddress}`, { token: ADMIN_TOKEN.text });
    for (let i = 0; i < 10; i++) await clients.kv.put({ key: `c/${i}`, value: "x" });
    await node.stop();
    node = await startSingleNode(dir, { snapshotEveryEntries: 4 });
    const compacted = await runCli(["kv", "watch", "--prefix", "c/", "--rev", "1", "--count", "1", `--endpoint=http://${node.apiAddress}`]);
    assert.equal(compacted.code, 7, compacted.stderr);
    assert.match(compacted.stderr, /^blixard: revision 1 has been compacted; the oldest available is \d+/);
  });
});
