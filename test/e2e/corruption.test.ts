// Real processes: flip a byte inside a follower's write-ahead log (before its tail) and
// restart it. The storage policy (docs/ARCHITECTURE.md) is that the node refuses to
// start with a clear one-line error; the cluster's data stays correct meanwhile.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ProcessCluster, waitFor } from "./process-cluster.ts";

describe("three node processes: a corrupt log", { timeout: 120_000 }, () => {
  const cluster = new ProcessCluster("corruption");

  before(async () => {
    await cluster.bootstrap([1, 2, 3]);
  });
  after(async () => {
    await cluster.cleanup();
  });

  test("a flipped byte in a follower's log is detected at restart; the cluster's data stays correct", async () => {
    const leader = await cluster.waitForLeader([1, 2, 3], 30_000);
    const written = new Map<string, string>();
    for (let i = 0; i < 100; i++) {
      await cluster.put(`key-${i}`, `value-${i}-${"x".repeat(40)}`);
      written.set(`key-${i}`, `value-${i}-${"x".repeat(40)}`);
    }
    const follower = [1, 2, 3].find((id) => id !== leader)!;
    const target = (await cluster.localStatus(leader)).commit;
    await waitFor(`node ${follower} to apply ${target}`, 10_000, async () => ((await cluster.localStatus(follower)).applied >= target ? true : undefined));
    assert.equal(await cluster.stop(follower, "SIGTERM"), 0, "graceful shutdown exits 0");

    const dataDir = cluster.nodes.get(follower)!.dataDir;
    const segment = readdirSync(dataDir).filter((name) => name.startsWith("wal-")).sort()[0]!;
    const path = join(dataDir, segment);
    const bytes = readFileSync(path);
    assert.ok(bytes.length > 4_000, `segment is only ${bytes.length} bytes`);
    const at = Math.floor(bytes.length / 3);
    bytes[at]! ^= 0x40;
    writeFileSync(path, bytes);

    cluster.start(follower);
    const code = await cluster.exited(follower, 30_000);
    assert.equal(code, 1, "a node with a corrupt log must refuse to start");
    const log = cluster.log(follower);
    const errorLine = log.split("\n").find((line) => line.startsWith("blixard node:"));
    assert.ok(errorLine !== undefined && /corrupt/.test(errorLine), `no one-line corruption error in:\n${log.slice(-2_000)}`);

    // The two healthy nodes still hold every acknowledged write, and still accept writes.
    const healthy = [1, 2, 3].filter((id) => id !== follower);
    await cluster.waitForLeader(healthy, 10_000);
    for (const id of healthy) {
      for (const [key, value] of written) assert.equal(await cluster.get(id, key), value);
    }
    await cluster.put("after-corruption", "ok", 10_000, healthy);
    for (const id of healthy) assert.equal(await cluster.get(id, "after-corruption"), "ok");
  });
});
