// The API listener's connection limits (src/shell/api/http-server.ts) against hostile clients
// on one in-process node with short deadlines: each deadline holds although the client trickles
// bytes, the caps refuse the excess at accept and count it, HTTP/2 sessions are bounded, and
// under a flood of idle, slow-header and slow-body connections a well-behaved client from another
// address still gets its answers within its normal timeout.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../../../src/core/env/environment.ts";
import { NodeRuntime } from "../../../src/shell/node/runtime.ts";
import { defaultApiServerLimits, startApiServer, type ApiServer, type ApiServerLimits, type ApiServerStats } from "../../../src/shell/api/http-server.ts";
import { KvService } from "../../../src/shell/api/gen/blixard/v1/kv_pb.ts";
import { waitUntil } from "../../support/wait-until.ts";
import { ADMIN_HEADERS, BOOTSTRAP_TOKENS } from "../../support/admin-token.ts";

const LIMITS: ApiServerLimits = {
  firstByteTimeoutMs: 400,
  headersTimeoutMs: 400,
  bodyTimeoutMs: 400,
  idleTimeoutMs: 300,
  connectionsMax: 600,
  connectionsPerSourceMax: 200,
  http2StreamsPerSessionMax: 4,
  http2StreamsMax: 64,
};
/** Slack for timers on a shared, loaded machine: a deadline must fire before deadline + this. */
const SLACK_MS = 1_500;
/** What a well-behaved client allows for an answer (the CLI's default is 10 s). */
const GOOD_CLIENT_TIMEOUT_MS = 3_000;

interface Raw {
  readonly socket: net.Socket;
  /** Resolves with the milliseconds from connect to close. */
  readonly closed: Promise<number>;
  /** Whether any byte came back before the close. */
  received: boolean;
}

function rawConnect(port: number, localAddress = "127.0.0.1"): Raw {
  const socket = net.connect({ host: "127.0.0.1", port, localAddress });
  const start = Date.now();
  const raw: Raw = {
    socket,
    received: false,
    closed: new Promise((resolve) => socket.once("close", () => resolve(Date.now() - start))),
  };
  socket.on("data", () => (raw.received = true));
  socket.on("error", () => {});
  return raw;
}

/** Writes one byte of `text` every `everyMs` until the socket closes; a trickle that would reset any per-byte timeout. */
function trickle(socket: net.Socket, text: string, everyMs: number): void {
  let at = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || at >= text.length) return clearInterval(timer);
    socket.write(text[at++]!);
  }, everyMs);
  socket.once("close", () => clearInterval(timer));
}

/** A well-behaved Connect JSON call from `localAddress`, with its own timeout. */
function goodCall(port: number, localAddress: string, path: string, body: object): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const request = http.request(
      { host: "127.0.0.1", port, localAddress, method: "POST", path, agent: false, timeout: GOOD_CLIENT_TIMEOUT_MS, headers: { ...ADMIN_HEADERS, "content-type": "application/json", "content-length": Buffer.byteLength(payload) } },
      (response) => {
        let text = "";
        response.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body: text }));
      },
    );
    request.on("timeout", () => request.destroy(new Error(`no answer within ${GOOD_CLIENT_TIMEOUT_MS} ms`)));
    request.on("error", reject);
    request.end(payload);
  });
}

describe("API connection limits", { timeout: 90_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "blixard-limits-"));
  let node: NodeRuntime;
  let port: number;
  let stats: () => Readonly<ApiServerStats>;

  before(async () => {
    node = await NodeRuntime.start({ security: "insecure", bootstrapTokens: BOOTSTRAP_TOKENS,
      nodeId: 1,
      peerListen: "127.0.0.1:0",
      apiListen: "127.0.0.1:0",
      dataDir: join(dir, "node-1"),
      initialCluster: new Map([[1, "127.0.0.1:0"]]),
      log: silentLogger,
      tickMs: 20,
      apiLimits: LIMITS,
    });
    port = Number(node.apiAddress.split(":").pop());
    stats = () => node.apiStats()!;
    await waitUntil("leadership", () => node.status().raft.role === "leader");
  });
  after(async () => {
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a connection that never sends a byte is closed at the first-byte deadline", async () => {
    const before = stats().closedFirstByteTimeout;
    const raw = rawConnect(port);
    const elapsedMs = await raw.closed;
    assert.ok(elapsedMs >= LIMITS.firstByteTimeoutMs - 50 && elapsedMs < LIMITS.firstByteTimeoutMs + SLACK_MS, `closed after ${elapsedMs} ms`);
    assert.equal(stats().closedFirstByteTimeout, before + 1);
  });

  test("headers trickled a byte at a time are cut at the headers deadline, not reset by each byte", async () => {
    const before = stats().closedHeadersTimeout;
    const raw = rawConnect(port);
    trickle(raw.socket, `POST /blixard.v1.KvService/Get HTTP/1.1\r\nHost: x\r\nAuthorization: ${ADMIN_HEADERS.authorization}\r\nX-Padding: ` + "a".repeat(10_000), 20);
    const elapsedMs = await raw.closed;
    assert.ok(elapsedMs < LIMITS.firstByteTimeoutMs + LIMITS.headersTimeoutMs + SLACK_MS, `closed after ${elapsedMs} ms`);
    assert.equal(stats().closedHeadersTimeout, before + 1);
  });

  test("a body trickled a byte at a time is cut at the body deadline (fast path and connect-node)", async () => {
    for (const contentType of ["application/json", "application/grpc-web+json"]) {
      const before = stats().closedBodyTimeout;
      const raw = rawConnect(port);
      raw.socket.write(`POST /blixard.v1.KvService/Get HTTP/1.1\r\nHost: x\r\nAuthorization: ${ADMIN_HEADERS.authorization}\r\nContent-Type: ${contentType}\r\nContent-Length: 100000\r\n\r\n`);
      // gRPC-Web frames its message: a flag byte and a 4-byte length (within the request limit), then the message.
      if (contentType.startsWith("application/grpc-web")) raw.socket.write(Uint8Array.from([0, 0, 0x01, 0x86, 0x9b]));
      trickle(raw.socket, "{" + " ".repeat(99_990), 20);
      const elapsedMs = await raw.closed;
      assert.ok(elapsedMs < LIMITS.bodyTimeoutMs + SLACK_MS, `${contentType}: closed after ${elapsedMs} ms`);
      assert.equal(stats().closedBodyTimeout, before + 1, contentType);
    }
  });

  test("after a response, the next request's headers on a kept-alive connection are under a deadline too", async () => {
    const before = stats().closedHeadersTimeout;
    const raw = rawConnect(port);
    const body = JSON.stringify({ key: "k" });
    raw.socket.write(`POST /blixard.v1.KvService/Get HTTP/1.1\r\nHost: x\r\nAuthorization: ${ADMIN_HEADERS.authorization}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    await waitUntil("the first answer", () => raw.received, 5_000);
    trickle(raw.socket, `POST /blixard.v1.KvService/Get HTTP/1.1\r\nHost: x\r\nAuthorization: ${ADMIN_HEADERS.authorization}\r\nX-Padding: ` + "a".repeat(10_000), 20);
    const elapsedMs = await raw.closed;
    assert.ok(elapsedMs < LIMITS.idleTimeoutMs + LIMITS.headersTimeoutMs + SLACK_MS + 1_000, `closed after ${elapsedMs} ms`);
    // Node's own keep-alive timeout may close it first (it resets per byte; ours does not): either way it is closed.
    assert.ok(stats().closedHeadersTimeout >= before);
  });

  test("HTTP/2: the session advertises its stream limit, and an idle session is closed although it pings", async () => {
    const before = stats().closedIdleTimeout;
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", () => {});
    const start = Date.now();
    await new Promise<void>((resolve) => session.once("remoteSettings", () => resolve()));
    assert.equal(session.remoteSettings.maxConcurrentStreams, LIMITS.http2StreamsPerSessionMax);
    const pinger = setInterval(() => {
      if (!session.destroyed) session.ping(() => {});
    }, 50);
    await new Promise<void>((resolve) => session.once("close", () => resolve()));
    clearInterval(pinger);
    const elapsedMs = Date.now() - start;
    assert.ok(elapsedMs < LIMITS.idleTimeoutMs + SLACK_MS, `closed after ${elapsedMs} ms`);
    assert.equal(stats().closedIdleTimeout, before + 1);
  });

  test("HTTP/2: a stream whose body trickles is cancelled at the body deadline; the session stays for its other streams", async () => {
    const before = stats().closedBodyTimeout;
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", () => {});
    const slow = session.request({ ":method": "POST", ":path": "/blixard.v1.KvService/Get", "content-type": "application/json", authorization: ADMIN_HEADERS.authorization! });
    slow.on("error", () => {});
    slow.write("{");
    const start = Date.now();
    await new Promise<void>((resolve) => slow.once("close", () => resolve()));
    const elapsedMs = Date.now() - start;
    assert.ok(elapsedMs < LIMITS.bodyTimeoutMs + SLACK_MS, `cancelled after ${elapsedMs} ms`);
    assert.equal(stats().closedBodyTimeout, before + 1);
    const good = session.request({ ":method": "POST", ":path": "/blixard.v1.KvService/Get", "content-type": "application/json", authorization: ADMIN_HEADERS.authorization! });
    let status = 0;
    good.on("response", (headers) => (status = Number(headers[":status"])));
    good.resume();
    good.end(JSON.stringify({ key: "k" }));
    await new Promise<void>((resolve) => good.once("close", () => resolve()));
    assert.equal(status, 200);
    session.close();
  });

  test("under a flood of idle, slow-header and slow-body connections, a well-behaved client still gets answers", async () => {
    await waitUntil("no connection open", () => stats().open === 0, 5_000);
    const refusedBefore = stats().refusedPerSourceMax;
    // 2,000 connections from one source (the fd limit here is 20,000; the test holds at most
    // 2 x 2,000 descriptors), of which the cap keeps 200 at a time: idle ones, slow headers and
    // slow bodies. The deadlines free slots that later connections of the flood take again.
    const flood: Raw[] = [];
    for (let i = 0; i < 2_000; i++) {
      const raw = rawConnect(port, "127.0.0.9");
      if (i % 3 === 1) trickle(raw.socket, "POST /blixard.v1.KvService/Get HTTP/1.1\r\nHost: x\r\nAuthorization: ${ADMIN_HEADERS.authorization}\r\nX-P: " + "a".repeat(5_000), 100);
      if (i % 3 === 2) {
        raw.socket.write("POST /blixard.v1.KvService/Put HTTP/1.1\r\nHost: x\r\nAuthorization: ${ADMIN_HEADERS.authorization}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n");
        trickle(raw.socket, "{" + " ".repeat(9_999), 100);
      }
      flood.push(raw);
    }
    try {
      // The cap is full and excess is being refused: the flood is on.
      await waitUntil("the flood at the per-source cap", () => stats().open >= LIMITS.connectionsPerSourceMax && stats().refusedPerSourceMax > refusedBefore, 20_000);
      const latenciesMs: number[] = [];
      for (let i = 0; i < 20; i++) {
        const start = Date.now();
        const answer = await goodCall(port, "127.0.0.2", i % 2 === 0 ? "/blixard.v1.KvService/Put" : "/blixard.v1.KvService/Get", i % 2 === 0 ? { key: `good-${i}`, value: "v" } : { key: `good-${i - 1}` });
        latenciesMs.push(Date.now() - start);
        assert.equal(answer.status, 200, answer.body);
      }
      assert.ok(Math.max(...latenciesMs) < GOOD_CLIENT_TIMEOUT_MS, `latencies ${latenciesMs.join(",")}`);
      console.log(`flood: good-client latencies ms ${latenciesMs.join(",")}; stats ${JSON.stringify(stats())}`);
    } finally {
      for (const raw of flood) raw.socket.destroy();
    }
    await Promise.all(flood.map((raw) => raw.closed));
    await waitUntil("the flood gone", () => stats().open === 0, 10_000);
  });
});

describe("API connection caps (deadlines long enough to hold connections while they are counted)", { timeout: 60_000 }, () => {
  const CAP_LIMITS: ApiServerLimits = { ...defaultApiServerLimits, firstByteTimeoutMs: 30_000, connectionsMax: 60, connectionsPerSourceMax: 20, http2StreamsMax: 3 };
  let server: ApiServer;
  let capPort: number;
  const capStats = (): Readonly<ApiServerStats> => server.stats;

  before(async () => {
    server = await startApiServer("127.0.0.1:0", (router) => router.service(KvService, { get: async () => ({ value: "", index: 0n }) }), undefined, CAP_LIMITS);
    capPort = Number(server.address.split(":").pop());
  });
  after(async () => {
    await server?.close(0);
  });

  test("connections over the per-source cap are closed at accept and counted; another source still gets through", async () => {
    const before = capStats().refusedPerSourceMax;
    const held = Array.from({ length: CAP_LIMITS.connectionsPerSourceMax }, () => rawConnect(capPort, "127.0.0.5"));
    await waitUntil("the held connections accepted", () => capStats().open >= CAP_LIMITS.connectionsPerSourceMax, 5_000);
    const excess = Array.from({ length: 20 }, () => rawConnect(capPort, "127.0.0.5"));
    const excessElapsed = await Promise.all(excess.map((raw) => raw.closed));
    assert.ok(Math.max(...excessElapsed) < 1_000, `the excess was closed after up to ${Math.max(...excessElapsed)} ms, not at accept`);
    assert.equal(capStats().refusedPerSourceMax, before + 20);
    const answer = await goodCall(capPort, "127.0.0.2", "/blixard.v1.KvService/Get", { key: "k" });
    assert.equal(answer.status, 200, answer.body);
    for (const raw of held) raw.socket.destroy();
    await Promise.all(held.map((raw) => raw.closed));
  });

  test("connections over the total cap are closed at accept and counted", async () => {
    await waitUntil("no connection open", () => capStats().open === 0, 5_000);
    const before = capStats().refusedConnectionsMax;
    const sources = CAP_LIMITS.connectionsMax / CAP_LIMITS.connectionsPerSourceMax;
    const held = Array.from({ length: CAP_LIMITS.connectionsMax }, (_, i) => rawConnect(capPort, `127.0.1.${1 + (i % sources)}`));
    await waitUntil("the total cap reached", () => capStats().open === CAP_LIMITS.connectionsMax, 5_000);
    const excess = rawConnect(capPort, "127.0.2.1");
    const elapsedMs = await excess.closed;
    assert.ok(elapsedMs < 1_000, `closed after ${elapsedMs} ms`);
    assert.equal(capStats().refusedConnectionsMax, before + 1);
    for (const raw of held) raw.socket.destroy();
    await Promise.all(held.map((raw) => raw.closed));
  });


  test("HTTP/2 streams over the total cap are refused (REFUSED_STREAM: never processed) and counted", async () => {
    const before = capStats().refusedHttp2StreamsMax;
    const sessions = [http2.connect(`http://127.0.0.1:${capPort}`), http2.connect(`http://127.0.0.1:${capPort}`)];
    const streams: http2.ClientHttp2Stream[] = [];
    for (let i = 0; i < CAP_LIMITS.http2StreamsMax + 1; i++) {
      const session = sessions[i % sessions.length]!;
      session.on("error", () => {});
      const stream = session.request({ ":method": "POST", ":path": "/blixard.v1.KvService/Get", "content-type": "application/json", authorization: ADMIN_HEADERS.authorization! });
      stream.on("error", () => {});
      stream.write("{");
      streams.push(stream);
      // One at a time, so which stream is the excess is known.
      await waitUntil("the stream open on the server", () => stream.id !== undefined, 5_000);
      await new Promise((r) => setTimeout(r, 50));
    }
    const last = streams[streams.length - 1]!;
    await new Promise<void>((resolve) => (last.closed ? resolve() : last.once("close", () => resolve())));
    assert.equal(last.rstCode, http2.constants.NGHTTP2_REFUSED_STREAM);
    assert.equal(capStats().refusedHttp2StreamsMax, before + 1);
    assert.ok(streams.slice(0, -1).every((stream) => !stream.closed), "the streams within the cap stay open");
    for (const session of sessions) session.destroy();
  });
});
