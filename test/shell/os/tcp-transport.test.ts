import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { TcpTransport, ListenError, type TcpTransportOptions } from "../../../src/shell/os/tcp-transport.ts";
import { encodeFrame } from "../../../src/core/wire/frame.ts";
import { encodeHello, WIRE_VERSION } from "../../../src/core/wire/codec.ts";
import { silentLogger } from "../../../src/core/env/environment.ts";
import type { Message, NodeId } from "../../../src/core/raft/types.ts";
import { waitUntil } from "../../support/wait-until.ts";

const DEADLINE_MS = 5_000;

const waitFor = (what: string, condition: () => boolean): Promise<void> => waitUntil(what, condition, DEADLINE_MS, 5);

interface TestNode {
  readonly id: NodeId;
  readonly transport: TcpTransport;
  readonly received: Message[];
  address: string;
}

const open: TcpTransport[] = [];
after(async () => {
  await Promise.all(open.map((t) => t.close()));
});

async function startNode(id: NodeId, addresses: Map<NodeId, string>, overrides: Partial<TcpTransportOptions> = {}): Promise<TestNode> {
  const received: Message[] = [];
  const transport = new TcpTransport({
    nodeId: id,
    clusterId: "test-cluster",
    listen: overrides.listen ?? "127.0.0.1:0",
    resolve: (peer) => addresses.get(peer),
    onMessage: (message) => received.push(message),
    log: silentLogger,
    backoffInitialMs: 10,
    backoffMaxMs: 50,
    ...overrides,
  });
  open.push(transport);
  const address = await transport.listen();
  addresses.set(id, address);
  return { id, transport, received, address };
}

function heartbeat(from: NodeId, to: NodeId, commit: number): Message {
  return { type: "heartbeat", from, to, term: 1, commit, readContext: 0 };
}

describe("tcp transport on loopback", () => {
  test("messages flow both ways over one connection, in order", async () => {
    const addresses = new Map<NodeId, string>();
    const a = await startNode(1, addresses);
    const b = await startNode(2, addresses);
    for (let i = 1; i <= 500; i++) a.transport.sendMessage(heartbeat(1, 2, i));
    await waitFor("500 messages at b", () => b.received.length === 500);
    assert.deepEqual(
      b.received.map((m) => (m.type === "heartbeat" ? m.commit : -1)),
      Array.from({ length: 500 }, (_, i) => i + 1),
    );
    b.transport.sendMessage(heartbeat(2, 1, 7));
    await waitFor("reply at a", () => a.received.length === 1);
    // b answered on the connection a dialed: b never dialed.
    assert.equal(b.transport.stats().peers.find((p) => p.peer === 1)!.dials, 0);
    assert.equal(a.transport.stats().peers.find((p) => p.peer === 2)!.dials, 1);
    // Batching: 500 messages queued in one turn go out in far fewer writes; sent counts all.
    const stats = a.transport.stats().peers[0]!;
    assert.equal(stats.sentMessages, 500);
    assert.ok(stats.sentBatches <= 5, `500 messages queued in one turn took ${stats.sentBatches} writes`);
  });

  test("simultaneous dials converge on the connection dialed by the lower id", async () => {
    const addresses = new Map<NodeId, string>();
    const a = await startNode(1, addresses);
    const b = await startNode(2, addresses);
    a.transport.sendMessage(heartbeat(1, 2, 1));
    b.transport.sendMessage(heartbeat(2, 1, 1));
    // Messages in flight on the connection that loses may be lost (delivery is best effort): resend until both arrive.
    const deadline = Date.now() + DEADLINE_MS;
    while (a.received.length === 0 || b.received.length === 0) {
      assert.ok(Date.now() < deadline, "timed out waiting for both first messages");
      await new Promise((resolve) => setTimeout(resolve, 10));
      if (a.received.length === 0) b.transport.sendMessage(heartbeat(2, 1, 1));
      if (b.received.length === 0) a.transport.sendMessage(heartbeat(1, 2, 1));
    }
    // Afterwards exactly one connection remains and traffic keeps flowing both ways.
    for (let i = 2; i <= 50; i++) {
      a.transport.sendMessage(heartbeat(1, 2, i));
      b.transport.sendMessage(heartbeat(2, 1, i));
    }
    await waitFor("last messages", () => a.received.some((m) => m.type === "heartbeat" && m.commit === 50) && b.received.some((m) => m.type === "heartbeat" && m.commit === 50));
    assert.ok(a.transport.stats().peers[0]!.connected && b.transport.stats().peers[0]!.connected);
  });

  test("a malformed frame closes that connection, is counted, and the node keeps working", async () => {
    const addresses = new Map<NodeId, string>();
    const a = await startNode(1, addresses);
    const b = await startNode(2, addresses);
    const [host, port] = [a.address.split(":")[0]!, Number(a.address.split(":")[1])];
    const socket = net.connect({ host, port });
    const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
    socket.on("error", () => {});
    socket.resume();
    socket.write(encodeFrame(encodeHello({ kind: "hello", version: WIRE_VERSION, clusterId: "test-cluster", from: 9, to: 1 })));
    const garbage = encodeFrame(new Uint8Array([2, 99, 1, 1, 1]));
    socket.write(garbage);
    await closed;
    assert.equal(a.transport.stats().malformedFrames, 1);
    // A frame with a bad checksum.
    const socket2 = net.connect({ host, port });
    const closed2 = new Promise<void>((resolve) => socket2.on("close", () => resolve()));
    socket2.on("error", () => {});
    socket2.resume();
    const bad = encodeFrame(encodeHello({ kind: "hello", version: WIRE_VERSION, clusterId: "test-cluster", from: 9, to: 1 }));
    bad[bad.length - 1]! ^= 0xff;
    socket2.write(bad);
    await closed2;
    assert.equal(a.transport.stats().malformedFrames, 2);
    // The node still talks to its real peer.
    b.transport.sendMessage(heartbeat(2, 1, 42));
    await waitFor("message after garbage", () => a.received.some((m) => m.type === "heartbeat" && m.commit === 42));
  });

  test("a peer of another cluster is refused at hello", async () => {
    const addresses = new Map<NodeId, string>();
    const a = await startNode(1, addresses);
    const stranger = await startNode(2, addresses, { clusterId: "other-cluster" });
    stranger.transport.sendMessage(heartbeat(2, 1, 1));
    await waitFor("hello rejected", () => a.transport.stats().rejectedHellos >= 1);
    assert.equal(a.received.length, 0);
  });

  test("a full queue drops and counts instead of growing", async () => {
    const addresses = new Map<NodeId, string>();
    addresses.set(2, "127.0.0.1:1"); // nothing listens there: messages can only queue
    const a = await startNode(1, addresses, { maxQueueMessages: 10 });
    for (let i = 0; i < 100; i++) a.transport.sendMessage(heartbeat(1, 2, i));
    const stats = a.transport.stats().peers[0]!;
    assert.ok(stats.queuedMessages <= 10);
    assert.ok(stats.droppedMessages >= 90, `dropped ${stats.droppedMessages}`);
  });

  test("a restarted peer is reached again (reconnect with backoff)", async () => {
    const addresses = new Map<NodeId, string>();
    const a = await startNode(1, addresses);
    let b = await startNode(2, addresses);
    a.transport.sendMessage(heartbeat(1, 2, 1));
    await waitFor("first message", () => b.received.length === 1);
    const bAddress = b.address;
    await b.transport.close();
    // Sends while b is down are dropped or queued; none crash.
    for (let i = 0; i < 20; i++) a.transport.sendMessage(heartbeat(1, 2, 100 + i));
    b = await startNode(2, addresses, { listen: bAddress });
    const deadline = Date.now() + DEADLINE_MS;
    let n = 200;
    while (b.received.length === 0) {
      assert.ok(Date.now() < deadline, "timed out waiting for reconnect");
      a.transport.sendMessage(heartbeat(1, 2, n++));
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.ok(a.transport.stats().peers[0]!.dials >= 2);
  });

  test("a port in use is a ListenError with a one-line message", async () => {
    const addresses = new Map<NodeId, string>();
    const a = await startNode(1, addresses);
    const clash = new TcpTransport({ nodeId: 5, clusterId: "x", listen: a.address, resolve: () => undefined, onMessage: () => {}, log: silentLogger });
    await assert.rejects(clash.listen(), (error: unknown) => error instanceof ListenError && error.code === "EADDRINUSE" && !error.message.includes("\n"));
    await clash.close();
  });
});

describe("tcp transport limits", () => {
  test("a message larger than the frame limit is dropped and counted, not a crash", async () => {
    const addresses = new Map<NodeId, string>();
    const a = await startNode(1, addresses, { maxFrameBytes: 1024 });
    const b = await startNode(2, addresses, { maxFrameBytes: 1024 });
    a.transport.sendMessage({ type: "snapshot", from: 1, to: 2, term: 1, snapshot: { metadata: { index: 5, term: 1, confState: { voters: [1, 2], learners: [] } }, data: new Uint8Array(4096) } });
    assert.equal(a.transport.stats().peers[0]!.droppedMessages, 1);
    a.transport.sendMessage(heartbeat(1, 2, 1));
    await waitFor("a normal message after the oversized one", () => b.received.length === 1);
  });
});
