// Real processes: flip a byte inside a follower's write-ahead log (before its tail) and
// restart it. The storage policy (docs/ARCHITECTURE.md) is that the node refuses to
// start with a clear one-line error; the cluster's data stays correct meanwhile.
// Garbage on a peer port closes that connection; the node keeps running.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { ProcessCluster, waitFor } from "./process-cluster.ts";
import { encodeFrame } from "../../src/core/wire/frame.ts";

describe("three node processes: bad bytes on disk and on the wire", { timeout: 120_000 }, () => {
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

  test("garbage on a peer port closes that connection, is logged, and the node keeps running", async () => {
    const running = cluster.runningIds();
    const target = running[0]!;
    const [host, port] = cluster.nodes.get(target)!.peer.split(":");
    for (const bytes of [Buffer.from("GET / HTTP/1.1\r\n\r\n"), Buffer.from(encodeFrame(new Uint8Array([2, 99, 1, 1, 1])))]) {
      const socket = net.connect({ host: host!, port: Number(port) });
      socket.on("error", () => {});
      socket.resume();
      const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
      socket.write(bytes);
      await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error("peer port kept a garbage connection open")), 10_000))]);
    }
    // The cluster runs over mutual TLS: garbage fails the TLS handshake (a plaintext cluster would log a malformed frame).
    await waitFor("a failed-handshake or malformed-frame warning in the log", 5_000, () => (/peer TLS handshake failed|malformed frame from peer/.test(cluster.log(target)) ? true : undefined));
    await cluster.waitForLeader(running, 10_000);
    await cluster.put("after-garbage", "fine", 10_000, running);
    assert.equal(await cluster.get(target, "after-garbage"), "fine");
  });
});
