import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { TcpTransport, ListenError, type TcpTransportOptions } from "../../../src/shell/os/tcp-transport.ts";
import { encodeFrame } from "../../../src/core/wire/frame.ts";
import { CHANNEL_TAGS, encodeChannelFrame } from "../../../src/core/wire/channel-frame.ts";
import { decodePeerPayload, encodeHello, encodeMessage, WIRE_VERSION } from "../../../src/core/wire/codec.ts";
import { silentLogger, type ReceiveVerdict } from "../../../src/core/env/environment.ts";
import type { Message, NodeId } from "../../../src/core/raft/types.ts";
import { waitUntil } from "../../support/wait-until.ts";

const DEADLINE_MS = 5_000;

const waitFor = (what: string, condition: () => boolean): Promise<void> => waitUntil(what, condition, DEADLINE_MS, 5);

interface TestNode {
  readonly id: NodeId;
  readonly transport: TcpTransport;
  /** What the raft channel's receiver accepted (decoded and validated, as the replica's RaftChannel does). */
  readonly received: Message[];
  address: string;
}

/** The raft channel's receiver in miniature: decode, validate, check from/to against the connection. */
function raftReceiver(self: NodeId, received: Message[]): (from: NodeId, bytes: Uint8Array) => ReceiveVerdict {
  return (from, bytes) => {
    const decoded = decodePeerPayload(bytes);
    if (!decoded.ok || decoded.payload.kind !== "message") return "malformed";
    const message = decoded.payload.message;
    if (message.from !== from || message.to !== self) return "malformed";
    received.push(message);
    return "ok";
  };
}

/** Sends one Raft message through the Transport interface, as the replica's RaftChannel does. */
function sendRaft(node: TestNode, message: Message): boolean {
  assert.equal(message.from, node.id);
  return node.transport.send("raft", message.to, encodeMessage(message));
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
    log: silentLogger,
    backoffInitialMs: 10,
    backoffMaxMs: 50,
    ...overrides,
  });
  open.push(transport);
  transport.receive("raft", raftReceiver(id, received));
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
    for (let i = 1; i <= 500; i++) sendRaft(a, heartbeat(1, 2, i));
    await waitFor("500 messages at b", () => b.received.length === 500);
    assert.deepEqual(
      b.received.map((m) => (m.type === "heartbeat" ? m.commit : -1)),
      Array.from({ length: 500 }, (_, i) => i + 1),
    );
    sendRaft(b, heartbeat(2, 1, 7));
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
    sendRaft(a, heartbeat(1, 2, 1));
    sendRaft(b, heartbeat(2, 1, 1));
    // Messages in flight on the connection that loses may be lost (delivery is best effort): resend until both arrive.
    const deadline = Date.now() + DEADLINE_MS;
    while (a.received.length === 0 || b.received.length === 0) {
      assert.ok(Date.now() < deadline, "timed out waiting for both first messages");
      await new Promise((resolve) => setTimeout(resolve, 10));
      if (a.received.length === 0) sendRaft(b, heartbeat(2, 1, 1));
      if (b.received.length === 0) sendRaft(a, heartbeat(1, 2, 1));
    }
    // Afterwards exactly one connection remains and traffic keeps flowing both ways.
    for (let i = 2; i <= 50; i++) {
      sendRaft(a, heartbeat(1, 2, i));
      sendRaft(b, heartbeat(2, 1, i));
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
    // A raft-channel frame whose bytes do not decode: the raft receiver says "malformed".
    const garbage = encodeFrame(new Uint8Array([CHANNEL_TAGS.raft, 2, 99, 1, 1, 1]));
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
    sendRaft(b, heartbeat(2, 1, 42));
    await waitFor("message after garbage", () => a.received.some((m) => m.type === "heartbeat" && m.commit === 42));
  });

  test("a peer of another cluster is refused at hello", async () => {
    const addresses = new Map<NodeId, string>();
    const a = await startNode(1, addresses);
    const stranger = await startNode(2, addresses, { clusterId: "other-cluster" });
    sendRaft(stranger, heartbeat(2, 1, 1));
    await waitFor("hello rejected", () => a.transport.stats().rejectedHellos >= 1);
    assert.equal(a.received.length, 0);
  });

  test("a full queue drops and counts instead of growing", async () => {
    const addresses = new Map<NodeId, string>();
    addresses.set(2, "127.0.0.1:1"); // nothing listens there: messages can only queue
    const a = await startNode(1, addresses, { queueLimits: { messagesMax: 10, bytesMax: 1024 * 1024 } });
    for (let i = 0; i < 100; i++) sendRaft(a, heartbeat(1, 2, i));
    const stats = a.transport.stats().peers[0]!;
    assert.ok(stats.queuedMessages <= 10);
    assert.ok(stats.droppedMessages >= 90, `dropped ${stats.droppedMessages}`);
  });

  test("a restarted peer is reached again (reconnect with backoff)", async () => {
    const addresses = new Map<NodeId, string>();
    const a = await startNode(1, addresses);
    let b = await startNode(2, addresses);
    sendRaft(a, heartbeat(1, 2, 1));
    await waitFor("first message", () => b.received.length === 1);
    const bAddress = b.address;
    await b.transport.close();
    // Sends while b is down are dropped or queued; none crash.
    for (let i = 0; i < 20; i++) sendRaft(a, heartbeat(1, 2, 100 + i));
    b = await startNode(2, addresses, { listen: bAddress });
    const deadline = Date.now() + DEADLINE_MS;
    let n = 200;
    while (b.received.length === 0) {
      assert.ok(Date.now() < deadline, "timed out waiting for reconnect");
      sendRaft(a, heartbeat(1, 2, n++));
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.ok(a.transport.stats().peers[0]!.dials >= 2);
  });

  test("a port in use is a ListenError with a one-line message", async () => {
    const addresses = new Map<NodeId, string>();
    const a = await startNode(1, addresses);
    const clash = new TcpTransport({ nodeId: 5, clusterId: "x", listen: a.address, resolve: () => undefined, log: silentLogger });
    await assert.rejects(clash.listen(), (error: unknown) => error instanceof ListenError && error.code === "EADDRINUSE" && !error.message.includes("\n"));
    await clash.close();
  });
});

/** A raw socket that has said hello to `address` as node `from`; `closed` resolves when the transport closes it. */
async function helloSocket(address: string, from: NodeId, to: NodeId): Promise<{ socket: net.Socket; closed: Promise<void>; isClosed: () => boolean }> {
  const [host, port] = [address.split(":")[0]!, Number(address.split(":")[1])];
  const socket = net.connect({ host, port });
  let closedFlag = false;
  const closed = new Promise<void>((resolve) =>
    socket.on("close", () => {
      closedFlag = true;
      resolve();
    }),
  );
  socket.on("error", () => {});
  socket.resume();
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  socket.write(encodeFrame(encodeHello({ kind: "hello", version: WIRE_VERSION, clusterId: "test-cluster", from, to })));
  return { socket, closed, isClosed: () => closedFlag };
}

describe("tcp transport channels", () => {
  test("raft and client share one connection, each reaches its own receiver, and a reply goes back to `from` on the same channel", async () => {
    const addresses = new Map<NodeId, string>();
    const a = await startNode(1, addresses);
    const b = await startNode(2, addresses);
    const requestsAtB: Array<{ from: NodeId; text: string }> = [];
    const repliesAtA: Array<{ from: NodeId; text: string }> = [];
    b.transport.receive("client", (from, bytes) => {
      const text = Buffer.from(bytes).toString("utf8");
      requestsAtB.push({ from, text });
      // The forwarding node's reply path: the same channel, to the endpoint the request came from.
      assert.equal(b.transport.send("client", from, new TextEncoder().encode(`reply to ${text}`)), true);
      return "ok";
    });
    a.transport.receive("client", (from, bytes) => {
      repliesAtA.push({ from, text: Buffer.from(bytes).toString("utf8") });
      return "ok";
    });
    for (let i = 1; i <= 20; i++) {
      sendRaft(a, heartbeat(1, 2, i));
      assert.equal(a.transport.send("client", 2, new TextEncoder().encode(`request ${i}`)), true);
    }
    await waitFor("20 replies at a", () => repliesAtA.length === 20);
    assert.deepEqual(
      b.received.map((m) => (m.type === "heartbeat" ? m.commit : -1)),
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    assert.deepEqual(requestsAtB.map((r) => r.text), Array.from({ length: 20 }, (_, i) => `request ${i + 1}`));
    assert.ok(requestsAtB.every((r) => r.from === 1));
    assert.deepEqual(repliesAtA.map((r) => r.text), Array.from({ length: 20 }, (_, i) => `reply to request ${i + 1}`));
    assert.ok(repliesAtA.every((r) => r.from === 2));
    // One connection carried all of it: b answered on the one a dialed.
    assert.equal(b.transport.stats().peers.find((p) => p.peer === 1)!.dials, 0);
    assert.equal(a.transport.stats().peers.find((p) => p.peer === 2)!.dials, 1);
    assert.equal(b.transport.stats().peers.find((p) => p.peer === 1)!.receivedMessages, 40);
  });

  test("a frame for a channel without a receiver is dropped and counted; the connection stays", async () => {
    const addresses = new Map<NodeId, string>();
    const a = await startNode(1, addresses);
    const b = await startNode(2, addresses);
    // b serves no client channel.
    for (let i = 0; i < 3; i++) assert.equal(a.transport.send("client", 2, new Uint8Array([1, 2, 3])), true);
    sendRaft(a, heartbeat(1, 2, 9));
    await waitFor("the raft message after the unserved ones", () => b.received.length === 1);
    assert.equal(b.transport.stats().framesWithoutReceiver.client, 3);
    assert.equal(b.transport.stats().malformedFrames, 0);
    assert.equal(a.transport.stats().peers[0]!.dials, 1);
    sendRaft(a, heartbeat(1, 2, 10));
    await waitFor("a second raft message on the same connection", () => b.received.length === 2);
    assert.equal(a.transport.stats().peers[0]!.dials, 1, "the connection was never closed");
  });

  test("an unknown channel tag closes the connection and is counted", async () => {
    const addresses = new Map<NodeId, string>();
    const a = await startNode(1, addresses);
    const raw = await helloSocket(a.address, 9, 1);
    raw.socket.write(encodeFrame(new Uint8Array([0x7f, 1, 2, 3])));
    await raw.closed;
    assert.equal(a.transport.stats().malformedFrames, 1);
  });

  test("a receiver's malformed verdict closes the connection; an unserved channel on the same connection did not", async () => {
    const addresses = new Map<NodeId, string>();
    const a = await startNode(1, addresses);
    let agentFrames = 0;
    a.transport.receive("agent", (_from, bytes) => {
      agentFrames++;
      return bytes[0] === 0 ? "malformed" : "ok";
    });
    const raw = await helloSocket(a.address, 9, 1);
    raw.socket.write(encodeChannelFrame("client", new Uint8Array([5]), 1024));
    raw.socket.write(encodeChannelFrame("agent", new Uint8Array([1]), 1024));
    await waitFor("the agent frame", () => agentFrames === 1);
    assert.equal(raw.isClosed(), false);
    raw.socket.write(encodeChannelFrame("agent", new Uint8Array([0]), 1024));
    await raw.closed;
    assert.equal(agentFrames, 2);
    assert.equal(a.transport.stats().malformedFrames, 1);
    assert.equal(a.transport.stats().framesWithoutReceiver.client, 1);
  });

  test("a second receiver for one channel is a programmer error", async () => {
    const addresses = new Map<NodeId, string>();
    const a = await startNode(1, addresses);
    assert.throws(() => a.transport.receive("raft", () => "ok"), /second receiver/);
  });

  test("a peer of the previous wire version is refused at hello", async () => {
    const addresses = new Map<NodeId, string>();
    const a = await startNode(1, addresses);
    const [host, port] = [a.address.split(":")[0]!, Number(a.address.split(":")[1])];
    const socket = net.connect({ host, port });
    const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
    socket.on("error", () => {});
    socket.resume();
    socket.write(encodeFrame(encodeHello({ kind: "hello", version: WIRE_VERSION - 1, clusterId: "test-cluster", from: 9, to: 1 })));
    await closed;
    assert.equal(a.transport.stats().rejectedHellos, 1);
  });
});

describe("tcp transport limits", () => {
  test("the queue's byte bound drops and counts too, and send says so", async () => {
    const addresses = new Map<NodeId, string>();
    addresses.set(2, "127.0.0.1:1"); // nothing listens there: messages can only queue
    const a = await startNode(1, addresses, { queueLimits: { messagesMax: 1000, bytesMax: 1000 } });
    const results: boolean[] = [];
    for (let i = 0; i < 10; i++) results.push(a.transport.send("client", 2, new Uint8Array(200)));
    const stats = a.transport.stats().peers[0]!;
    // Each message is 209 wire bytes (8 frame header, 1 channel tag, 200): four fit in 1000.
    assert.deepEqual(results, [true, true, true, true, false, false, false, false, false, false]);
    assert.equal(stats.queuedBytes, 4 * 209);
    assert.equal(stats.droppedQueueFull, 6);
  });

  test("a send to a peer with no known address says it never left", async () => {
    const addresses = new Map<NodeId, string>();
    const a = await startNode(1, addresses);
    assert.equal(a.transport.send("raft", 3, encodeMessage(heartbeat(1, 3, 1))), false);
    assert.equal(a.transport.stats().peers[0]!.droppedMessages, 1);
  });

  test("a message larger than the frame limit is dropped and counted, not a crash", async () => {
    const addresses = new Map<NodeId, string>();
    const a = await startNode(1, addresses, { maxFrameBytes: 1024 });
    const b = await startNode(2, addresses, { maxFrameBytes: 1024 });
    sendRaft(a, { type: "snapshot", from: 1, to: 2, term: 1, snapshot: { metadata: { index: 5, term: 1, confState: { voters: [1, 2], learners: [] } }, data: new Uint8Array(4096) } });
    assert.equal(a.transport.stats().peers[0]!.droppedMessages, 1);
    sendRaft(a, heartbeat(1, 2, 1));
    await waitFor("a normal message after the oversized one", () => b.received.length === 1);
  });
});
