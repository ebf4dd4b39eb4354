// `blixard kv append|read-list|txn` against one in-process node: the list read back whole, a
// txn's success and else branches (both exit 0, the else branch said so), -o json, a refused
// operation (exit 1, nothing written) a bad file (exit 2) and a bad field (exit 8, named).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NodeRuntime } from "../../../src/shell/node/runtime.ts";
import { createApiClients, type ApiClients } from "../../../src/shell/api/client.ts";
import { ADMIN_TOKEN } from "../../support/admin-token.ts";
import { runCli } from "../../support/run-cli.ts";
import { startSingleNode } from "../../support/single-node.ts";

describe("blixard kv append, read-list, txn", { timeout: 180_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "blixard-kv-txn-cli-"));
  let node: NodeRuntime;
  let clients: ApiClients;
  let endpoint: string;
  const blixard = (...args: string[]) => runCli([...args, endpoint]);

  before(async () => {
    node = await startSingleNode(dir);
    endpoint = `--endpoint=http://${node.apiAddress}`;
    clients = createApiClients(`http://${node.apiAddress}`, { token: ADMIN_TOKEN.text });
  });
  after(async () => {
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("append then read-list returns the whole list; an absent list is exit 6; appending to a value is exit 7 (FailedPrecondition)", async () => {
    const first = await blixard("kv", "append", "hist/1", "a b");
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /^OK \(length 1, index \d+\)\n$/);
    assert.equal((await blixard("kv", "append", "hist/1", "c")).code, 0);
    const read = await blixard("kv", "read-list", "hist/1");
    assert.deepEqual([read.code, read.stdout], [0, '"a b"\n"c"\n']);
    const json = await blixard("kv", "read-list", "hist/1", "-o", "json");
    assert.deepEqual(JSON.parse(json.stdout).list, ["a b", "c"]);
    const absent = await blixard("kv", "read-list", "hist/none");
    assert.deepEqual([absent.code, absent.stderr], [6, "key hist/none holds no list\n"]);
    await clients.kv.put({ key: "hist/value", value: "x" });
    const refused = await blixard("kv", "append", "hist/value", "y");
    assert.equal(refused.code, 7);
    assert.match(refused.stderr, /holds a value/);
  });

  test("txn --file: the success branch, then the else branch (exit 0, said so), -o json shows the branch and reads", async () => {
    await clients.kv.put({ key: "tx/a", value: "1" });
    const file = join(dir, "txn.yaml");
    writeFileSync(
      file,
      [
        "compare:",
        '  - { key: tx/a, target: value, op: "==", value: "1" }',
        "  - { key: tx/b, target: exists, exists: false }",
        "success:",
        '  - { op: put, key: tx/b, value: "2" }',
        '  - { op: append, key: tx/l, value: "x" }',
        "  - { op: get, key: tx/b }",
        "failure:",
        "  - { op: get, key: tx/b }",
        "",
      ].join("\n"),
    );
    const ran = await blixard("kv", "txn", "--file", file);
    assert.equal(ran.code, 0, ran.stderr);
    assert.match(ran.stdout, /^success branch ran: every compare held \(index \d+\)\n/);
    assert.match(ran.stdout, /get +"2" \(mod revision \d+, version 1\)/);
    const otherwise = await blixard("kv", "txn", "--file", file, "-o", "json");
    assert.equal(otherwise.code, 0, otherwise.stderr);
    const answer = JSON.parse(otherwise.stdout);
    assert.equal(answer.succeeded, false);
    assert.deepEqual([answer.results.length, answer.results[0].op, answer.results[0].value], [1, "get", "2"]);
    const table = await blixard("kv", "txn", "--file", file);
    assert.match(table.stdout, /^else branch ran: a compare did not hold/);
  });

  test("txn: a refused operation writes nothing (exit 7); a bad file is exit 2, a bad field is exit 8 (InvalidArgument) naming it", async () => {
    const refusedFile = join(dir, "refused.yaml");
    writeFileSync(refusedFile, 'success:\n  - { op: put, key: tx/new, value: "1" }\n  - { op: append, key: tx/a, value: "x" }\n');
    const refused = await blixard("kv", "txn", "--file", refusedFile);
    assert.equal(refused.code, 7);
    assert.match(refused.stderr, /tx\/a: holds a value/);
    assert.equal((await clients.kv.get({ key: "tx/new" })).found, false);
    const notYaml = join(dir, "bad.yaml");
    writeFileSync(notYaml, "- just a list\n");
    const bad = await blixard("kv", "txn", "--file", notYaml);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /a transaction is a map/);
    const badOp = join(dir, "bad-op.yaml");
    writeFileSync(badOp, "success:\n  - { op: increment, key: k }\n");
    const named = await blixard("kv", "txn", "--file", badOp);
    assert.equal(named.code, 8);
    assert.match(named.stderr, /success\[0\]\.op: must be one of/);
  });
});
