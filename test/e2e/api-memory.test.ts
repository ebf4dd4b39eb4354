// Resident memory of a real `blixard node` under many slow hostile API connections stays under
// a stated bound: every per-connection and per-request buffer has a limit (docs/SECURITY.md,
// "Limits"). The attack fills the node's whole connection table (1,024, from four source
// addresses at the per-source cap of 256) with the costliest connections there are: bodies
// sent up to just below the request limit and never finished (the server buffers each until
// its body deadline), headers sent up to just below the header limit and never finished, and
// idle connections; each closed one is reopened at once, for longer than every deadline.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createApiClients } from "../../src/shell/api/client.ts";
import { defaultApiServerLimits } from "../../src/shell/api/http-server.ts";
import { REQUEST_BYTES_MAX } from "../../src/core/replica/request-types.ts";
import { freePort, waitFor } from "./process-cluster.ts";
import { ADMIN_TOKEN, BOOTSTRAP_TOKEN_FLAG } from "../support/admin-token.ts";

const BIN = resolve(import.meta.dirname, "../../bin/blixard.js");
/** The stated bound: about 3x the node's resident size at rest plus its worst case of buffered requests (1,024 x ~150 KiB). */
const RSS_BYTES_MAX = 450 * 1024 * 1024;
/** Longer than the longest deadline (the 10 s body deadline), so every kind of slot is recycled at least once. */
const ATTACK_MS = 14_000;
const SOURCES = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"];

function residentBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  assert.ok(match !== null, "VmRSS in /proc/<pid>/status");
  return Number(match[1]) * 1024;
}

describe("API memory under slow hostile connections", { timeout: 120_000, skip: process.platform !== "linux" }, () => {
  const dir = mkdtempSync(join(tmpdir(), "blixard-memory-"));
  const sockets = new Set<net.Socket>();
  let stopAttack = false;
  let child: ReturnType<typeof spawn> | undefined;
  after(() => {
    stopAttack = true;
    for (const socket of sockets) socket.destroy();
    child?.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  test(`resident memory stays under ${RSS_BYTES_MAX / 1024 / 1024} MiB with the connection table full of slow requests`, async () => {
    const peer = `127.0.0.1:${await freePort()}`;
    const apiPort = await freePort();
    const api = `127.0.0.1:${apiPort}`;
    child = spawn(process.execPath, [BIN, "node", "--id", "1", "--peer-listen", peer, "--api-listen", api, "--data-dir", join(dir, "n1"), "--initial-cluster", `1=${peer}`, "--log-level", "warn", "--insecure", ...BOOTSTRAP_TOKEN_FLAG], { stdio: "ignore" });
    const pid = child.pid!;
    const clients = createApiClients(api, { timeoutMs: 3_000, token: ADMIN_TOKEN.text });
    await waitFor("the node to accept a write", 30_000, async () => ((await clients.kv.put({ key: "k", value: "v" })).index > 0n ? true : undefined));
    const restBytes = residentBytes(pid);

    const bodyHead = `POST /blixard.v1.KvService/Put HTTP/1.1\r\nHost: x\r\nContent-Type: application/proto\r\nContent-Length: ${REQUEST_BYTES_MAX}\r\n\r\n`;
    const almostBody = Buffer.alloc(REQUEST_BYTES_MAX - 1, 0x61);
    const almostHeaders = `POST /blixard.v1.KvService/Put HTTP/1.1\r\nHost: x\r\nX-Padding: ${"a".repeat(15 * 1024)}`;
    let opened = 0;
    const attack = (source: string, kind: number): void => {
      if (stopAttack) return;
      const socket = net.connect({ host: "127.0.0.1", port: apiPort, localAddress: source });
      sockets.add(socket);
      opened++;
      socket.on("error", () => {});
      socket.on("connect", () => {
        if (kind === 0) socket.write(bodyHead + almostBody.toString("latin1"));
        else if (kind === 1) socket.write(almostHeaders);
      });
      socket.once("close", () => {
        sockets.delete(socket);
        // Reopened at once, with a short pause when refused so the loop does not spin.
        setTimeout(() => attack(source, kind), 50);
      });
    };
    const perSource = defaultApiServerLimits.connectionsPerSourceMax;
    for (const source of SOURCES) for (let i = 0; i < perSource; i++) attack(source, i % 4 === 3 ? 2 : i % 2);

    let peakBytes = restBytes;
    const start = Date.now();
    while (Date.now() - start < ATTACK_MS) {
      peakBytes = Math.max(peakBytes, residentBytes(pid));
      await new Promise((r) => setTimeout(r, 100));
    }
    const goodStart = Date.now();
    // The attack held the whole table (four sources x 256 = 1,024 = the total cap), so only memory is
    // judged here; a well-behaved client during a flood is test/shell/api/connection-limits.test.ts.
    stopAttack = true;
    for (const socket of sockets) socket.destroy();
    await waitFor("the node to answer after the attack", 10_000, async () => ((await clients.kv.get({ key: "k" })).value === "v" ? true : undefined));
    const afterBytes = residentBytes(pid);
    console.log(
      `api memory: rest ${(restBytes / 1048576).toFixed(1)} MiB, peak ${(peakBytes / 1048576).toFixed(1)} MiB under ${opened} hostile connections in ${ATTACK_MS} ms, ` +
        `${(afterBytes / 1048576).toFixed(1)} MiB after; answered ${Date.now() - goodStart} ms after the attack stopped`,
    );
    assert.ok(opened > SOURCES.length * perSource, "the attack reopened connections the deadlines closed");
    assert.ok(peakBytes < RSS_BYTES_MAX, `peak resident ${peakBytes} bytes exceeds the bound ${RSS_BYTES_MAX}`);
    child.kill("SIGTERM");
  });
});
