// A node removed from a real three-node cluster (loopback TCP, the Connect API) stops serving as
// if it were a member: its status says "removed from the cluster at index N", /readyz is not
// ready for that reason, and requests to it are refused as not applied ("this node was removed
// from the cluster; contact a member"), through the API and the CLI (exit 9, unavailable),
// instead of "no leader is known; retry shortly" or a forward to its old leader.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { InProcessCluster } from "../support/in-process-cluster.ts";
import { waitUntil } from "../support/wait-until.ts";
import { runCli } from "../support/run-cli.ts";
import { EXIT_UNAVAILABLE } from "../../src/shell/cli/api-output.ts";

async function errorOf(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (error) {
    return ConnectError.from(error);
  }
  assert.fail("the call succeeded");
}

describe("a removed node", { timeout: 120_000 }, () => {
  let dir: string;
  let cluster: InProcessCluster;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "blixard-removed-"));
    cluster = await InProcessCluster.start(dir);
  });
  after(async () => {
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("remove node 3, then ask node 3: status, /readyz, the API and the CLI all say it was removed", async () => {
    let leader = await cluster.waitForLeader();
    if (leader === 3) {
      await cluster.client(3).cluster.transferLeader({ targetId: 1n });
      await waitUntil("node 1 to lead", () => cluster.nodes.get(1)!.status().raft.role === "leader", 20_000);
      leader = 1;
    }
    await cluster.client(leader).kv.put({ key: "k", value: "before" });
    const removal = await cluster.client(leader).cluster.remove({ nodeId: 3n });
    const index = Number(removal.index);
    const node3 = cluster.nodes.get(3)!;
    await waitUntil("node 3 to apply its removal", () => node3.status().removedAtIndex !== 0, 10_000);
    assert.equal(node3.status().removedAtIndex, index);
    // It still knows its old leader: before, it would have forwarded to it.
    assert.notEqual(node3.status().raft.leaderId, 0);

    const status = await cluster.client(3).cluster.status({ localOnly: true });
    assert.equal(status.nodes[0]!.role, "removed");
    assert.deepEqual(status.nodes[0]!.alarms, [`removed from the cluster at index ${index}`]);

    const ready = await fetch(`http://${node3.apiAddress}/readyz`);
    assert.equal(ready.status, 503);
    assert.match(await ready.text(), new RegExp(`node 3 was removed from the cluster at index ${index}`));

    const message = `this node (3) was removed from the cluster at index ${index}; contact a member`;
    for (const call of [cluster.client(3).kv.put({ key: "k", value: "after" }), cluster.client(3).kv.get({ key: "k" }), cluster.client(3).kv.get({ key: "k", serializable: true })]) {
      const error = await errorOf(call);
      assert.equal(error.code, Code.Unavailable);
      assert.equal(error.rawMessage, message);
    }
    // The write went nowhere: the members still hold the old value.
    assert.equal((await cluster.client(leader).kv.get({ key: "k" })).value, "before");

    const endpoint = `http://${node3.apiAddress}`;
    const get = await runCli(["kv", "get", "k", "--endpoint", endpoint]);
    assert.equal(get.code, EXIT_UNAVAILABLE, get.stderr);
    assert.equal(get.stderr, `blixard: Unavailable: ${message}\n`);
    const table = await runCli(["cluster", "status", "--endpoint", endpoint]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, new RegExp(`^3\\s+removed\\s`, "m"));
    assert.match(table.stdout, new RegExp(`ALARM node 3: removed from the cluster at index ${index}`));
    const wait = await runCli(["cluster", "wait", "--timeout", "1", "--endpoint", endpoint]);
    assert.equal(wait.code, EXIT_UNAVAILABLE, wait.stdout);
    assert.match(wait.stderr, new RegExp(`removed from the cluster at index ${index}`));
  });
});
