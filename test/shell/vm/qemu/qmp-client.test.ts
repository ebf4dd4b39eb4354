// The QMP client against a fake QMP server on a unix socket (in a temp dir): greeting and
// qmp_capabilities, answers matched by id, error answers naming QMP's class, events delivered
// in order between answers, timeouts (and a late answer dropped, not given to the next request),
// the pending bound, the line bound, a closed connection, a socket that appears late; then one
// test against a real QEMU (paused microvm under TCG): query-status, cont/stop events, an unknown
// command, quit and its SHUTDOWN event.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { QmpClient, QmpError, QmpTransportError, type QmpEvent } from "../../../../src/shell/vm/qemu/qmp-client.ts";
import { waitUntil } from "../../../support/wait-until.ts";

const GREETING = { QMP: { version: { qemu: { major: 7, minor: 2, micro: 22 }, package: "fake" }, capabilities: ["oob"] } };

type Handler = (message: { execute: string; arguments?: Record<string, unknown>; id?: unknown }, reply: (value: unknown) => void, socket: Socket) => void;

/** A fake QMP server; `handler` answers every command after qmp_capabilities. */
async function fakeServer(path: string, handler: Handler, options: { greet?: boolean } = {}): Promise<Server> {
  const server = createServer((socket) => {
    if (options.greet !== false) socket.write(`${JSON.stringify(GREETING)}\r\n`);
    let buffer = "";
    socket.setEncoding("utf8");
    socket.on("error", () => undefined);
    socket.on("data", (chunk: string) => {
      buffer += chunk;
      for (let newline = buffer.indexOf("\n"); newline >= 0; newline = buffer.indexOf("\n")) {
        const message = JSON.parse(buffer.slice(0, newline));
        buffer = buffer.slice(newline + 1);
        const reply = (value: unknown): void => {
          socket.write(`${JSON.stringify(value)}\r\n`);
        };
        if (message.execute === "qmp_capabilities") reply({ return: {}, id: message.id });
        else handler(message, reply, socket);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return server;
}

describe("QMP client (fake server)", () => {
  let dir: string;
  const servers: Server[] = [];
  const clients: QmpClient[] = [];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "blixard-qmp-"));
  });
  after(() => {
    for (const client of clients) client.close();
    for (const server of servers) server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const serve = async (name: string, handler: Handler, options?: { greet?: boolean }): Promise<string> => {
    const path = join(dir, name);
    servers.push(await fakeServer(path, handler, options));
    return path;
  };
  const connect = async (path: string, options?: Parameters<typeof QmpClient.connect>[1]): Promise<QmpClient> => {
    const client = await QmpClient.connect(path, options);
    clients.push(client);
    return client;
  };

  test("greeting, capabilities, answers by id with arguments, errors naming the class, events in order", async () => {
    const path = await serve("a.sock", (message, reply) => {
      if (message.execute === "query-status") {
        reply({ event: "STOP", data: {}, timestamp: { seconds: 1, microseconds: 2 } });
        reply({ return: { status: "paused", running: false }, id: message.id });
      } else if (message.execute === "echo") {
        reply({ return: message.arguments, id: message.id });
      } else if (message.execute === "system_powerdown") {
        reply({ return: {}, id: message.id });
        reply({ event: "POWERDOWN", timestamp: { seconds: 3, microseconds: 0 } });
        reply({ event: "RESUME", timestamp: { seconds: 4, microseconds: 0 } });
        reply({ event: "SHUTDOWN", data: { guest: true, reason: "guest-shutdown" }, timestamp: { seconds: 5, microseconds: 0 } });
      } else {
        reply({ error: { class: "CommandNotFound", desc: `The command ${message.execute} has not been found` }, id: message.id });
      }
    });
    const events: QmpEvent[] = [];
    const client = await connect(path, { onEvent: (event) => events.push(event) });
    assert.equal(client.greeting?.version.qemu.major, 7);
    assert.deepEqual(await client.execute("query-status"), { status: "paused", running: false });
    assert.deepEqual(await client.execute("echo", { a: 1, b: "two" }), { a: 1, b: "two" });
    await assert.rejects(client.execute("no-such"), (error: unknown) => error instanceof QmpError && error.qmpClass === "CommandNotFound" && /QMP no-such: CommandNotFound: /.test(error.message));
    await client.execute("system_powerdown");
    await waitUntil("four events", () => events.length === 4, 2_000);
    assert.deepEqual(events.map((event) => event.event), ["STOP", "POWERDOWN", "RESUME", "SHUTDOWN"]);
    assert.deepEqual(events[3]!.data, { guest: true, reason: "guest-shutdown" });
    assert.deepEqual(events[0]!.timestamp, { seconds: 1, microseconds: 2 });
    assert.equal(client.pendingCount, 0);
  });

  test("a request times out; its late answer is dropped, the next request gets its own", async () => {
    let held: (() => void) | undefined;
    const path = await serve("b.sock", (message, reply) => {
      if (message.execute === "slow") held = () => reply({ return: "slow-answer", id: message.id });
      else reply({ return: `answer-${message.execute}`, id: message.id });
    });
    const client = await connect(path);
    const started = Date.now();
    await assert.rejects(client.execute("slow", undefined, 150), (error: unknown) => error instanceof QmpTransportError && /QMP slow: no answer within 150 ms/.test(error.message));
    assert.ok(Date.now() - started < 1_000, "the timeout fires on time");
    const next = client.execute("fast");
    held!();
    assert.equal(await next, "answer-fast");
    assert.equal(client.pendingCount, 0);
  });

  test("at most pendingMax requests wait at once", async () => {
    const path = await serve("c.sock", () => undefined);
    const client = await connect(path, { pendingMax: 2, timeoutMs: 2_000 });
    const first = client.execute("a");
    const second = client.execute("b");
    await assert.rejects(client.execute("c"), /QMP c: 2 requests already pending/);
    client.close();
    await assert.rejects(first, /closed/);
    await assert.rejects(second, /closed/);
  });

  test("a line over the bound closes the connection and fails what is pending", async () => {
    const path = await serve("d.sock", (message, reply) => reply({ return: "x".repeat(10_000), id: message.id }));
    let closedWith: QmpTransportError | undefined;
    const client = await connect(path, { lineBytesMax: 4_096, onClose: (error) => (closedWith = error) });
    await assert.rejects(client.execute("big"), /over 4096/);
    assert.match(closedWith?.message ?? "", /over 4096/);
    await assert.rejects(client.execute("after"), /over 4096/);
  });

  test("the server closing fails pending requests; no greeting times out", async () => {
    const path = await serve("e.sock", (_message, _reply, socket) => socket.destroy());
    const client = await connect(path);
    await assert.rejects(client.execute("anything"), /QMP connection closed/);
    const silent = await serve("f.sock", () => undefined, { greet: false });
    const started = Date.now();
    await assert.rejects(QmpClient.connect(silent, { timeoutMs: 150 }), /no greeting within 150 ms/);
    assert.ok(Date.now() - started < 1_000);
  });

  test("connect retries a socket that is not there yet, within connectRetryMs, then fails", async () => {
    const path = join(dir, "late.sock");
    const client = QmpClient.connect(path, { connectRetryMs: 3_000 });
    setTimeout(() => void serve("late.sock", (message, reply) => reply({ return: "late", id: message.id })), 100);
    const connected = await client;
    clients.push(connected);
    assert.equal(await connected.execute("x"), "late");
    const started = Date.now();
    await assert.rejects(QmpClient.connect(join(dir, "never.sock"), { connectRetryMs: 100 }), /QMP connect .*never\.sock/);
    assert.ok(Date.now() - started < 1_000);
  });
});

describe("QMP client (real QEMU)", () => {
  let dir: string;
  let qemu: ChildProcess | undefined;
  const available = spawnSync("qemu-system-x86_64", ["--version"]).status === 0;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "blixard-qmp-qemu-"));
  });
  after(() => {
    if (qemu?.pid !== undefined && qemu.exitCode === null) process.kill(qemu.pid, "SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  test("query-status, cont and stop with their events, an unknown command, quit and SHUTDOWN", { timeout: 30_000 }, async (t) => {
    if (!available) {
      t.skip("qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)");
      return;
    }
    const socketPath = join(dir, "qmp.sock");
    // Paused from the start (-S): no guest needed to talk to QMP.
    qemu = spawn("qemu-system-x86_64", ["-M", "microvm", "-accel", "tcg", "-m", "32", "-nodefaults", "-no-user-config", "-display", "none", "-S", "-qmp", `unix:${socketPath},server=on,wait=off`], { stdio: "ignore" });
    const exited = new Promise<number | null>((resolve) => qemu!.once("exit", (code) => resolve(code)));
    const events: string[] = [];
    const client = await QmpClient.connect(socketPath, { connectRetryMs: 10_000, timeoutMs: 5_000, onEvent: (event) => events.push(event.event) });
    try {
      assert.equal(client.greeting?.version.qemu.major, 7);
      const status = (await client.execute("query-status")) as { running: boolean; status: string };
      assert.equal(status.running, false);
      await client.execute("cont");
      await waitUntil("RESUME", () => events.includes("RESUME"), 5_000);
      assert.equal(((await client.execute("query-status")) as { running: boolean }).running, true);
      await client.execute("stop");
      await waitUntil("STOP", () => events.includes("STOP"), 5_000);
      await assert.rejects(client.execute("no-such-command"), (error: unknown) => error instanceof QmpError && error.qmpClass === "CommandNotFound");
      await client.execute("quit");
      assert.equal(await exited, 0);
      await waitUntil("SHUTDOWN", () => events.includes("SHUTDOWN"), 2_000);
    } finally {
      client.close();
    }
  });
});
