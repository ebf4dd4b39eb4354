// The peer transport over mutual TLS, in process: who may connect, what reaches the Raft
// receiver, the pre-hello frame limit and the one handshake deadline, and rotation.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import tls from "node:tls";
import { TcpTransport, PRE_HELLO_FRAME_BYTES_MAX, type PeerTls, type TcpTransportOptions, type TlsCredentials } from "../../../src/shell/os/tcp-transport.ts";
import { createCertificateAuthority, issueCertificate, type CertificateAndKey } from "../../../src/shell/tls/certificate-authority.ts";
import { credentialsOf } from "../../../src/shell/tls/tls-directory.ts";
import { decodePeerPayload, encodeMessage } from "../../../src/core/wire/codec.ts";
import { silentLogger, type ReceiveVerdict } from "../../../src/core/env/environment.ts";
import type { Message, NodeId } from "../../../src/core/raft/types.ts";
import { waitUntil } from "../../support/wait-until.ts";
import { attack, concatBytes, forgedAppend, forgedHeartbeat, helloFrame } from "../../support/peer-attacker.ts";

const DEADLINE_MS = 5_000;
const HANDSHAKE_TIMEOUT_MS = 400;
const CLUSTER = "tls-cluster";
const waitFor = (what: string, condition: () => boolean): Promise<void> => waitUntil(what, condition, DEADLINE_MS, 5);

interface TestNode {
  readonly id: NodeId;
  readonly transport: TcpTransport;
  readonly received: Message[];
  readonly address: string;
  credentials: TlsCredentials;
}

let ca: CertificateAndKey;
let rogueCa: CertificateAndKey;
const certificates = new Map<NodeId, CertificateAndKey>();
const open: TcpTransport[] = [];

before(async () => {
  ca = await createCertificateAuthority();
  rogueCa = await createCertificateAuthority("Not the cluster's CA");
  for (const id of [1, 2, 3]) certificates.set(id, await issueCertificate(ca, { kind: "node", nodeId: id, hosts: ["127.0.0.1"] }));
});
after(async () => {
  await Promise.all(open.map((t) => t.close()));
});

function credentialsFor(certificate: CertificateAndKey, version = 1): TlsCredentials {
  return credentialsOf({ caPem: ca.certPem, certPem: certificate.certPem, keyPem: certificate.keyPem }, version);
}

async function startNode(id: NodeId, addresses: Map<NodeId, string>, overrides: Partial<TcpTransportOptions> = {}): Promise<TestNode> {
  const received: Message[] = [];
  const node = { credentials: credentialsFor(certificates.get(id)!) } as { credentials: TlsCredentials };
  const peerTls: PeerTls = { current: () => node.credentials };
  const transport = new TcpTransport({
    nodeId: id,
    clusterId: CLUSTER,
    listen: "127.0.0.1:0",
    resolve: (peer) => addresses.get(peer),
    log: silentLogger,
    backoffInitialMs: 10,
    backoffMaxMs: 50,
    tls: peerTls,
    handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
    ...overrides,
  });
  open.push(transport);
  transport.receive("raft", (from, bytes): ReceiveVerdict => {
    const decoded = decodePeerPayload(bytes);
    if (!decoded.ok || decoded.payload.kind !== "message") return "malformed";
    if (decoded.payload.message.from !== from || decoded.payload.message.to !== id) return "malformed";
    received.push(decoded.payload.message);
    return "ok";
  });
  const address = await transport.listen();
  addresses.set(id, address);
  return Object.assign(node, { id, transport, received, address });
}

function heartbeat(from: NodeId, to: NodeId, commit: number): Message {
  return { type: "heartbeat", from, to, term: 1, commit, readContext: 0 };
}

describe("tcp transport over mutual TLS", () => {
  test("two nodes with certificates from the cluster's CA exchange messages both ways", async () => {
    const addresses = new Map<NodeId, string>();
    const a = await startNode(1, addresses);
    const b = await startNode(2, addresses);
    for (let i = 1; i <= 100; i++) a.transport.send("raft", 2, encodeMessage(heartbeat(1, 2, i)));
    await waitFor("100 messages at b", () => b.received.length === 100);
    b.transport.send("raft", 1, encodeMessage(heartbeat(2, 1, 7)));
    await waitFor("the reply at a", () => a.received.length === 1);
    assert.equal(a.transport.stats().rejectedCertificates + b.transport.stats().rejectedCertificates, 0);
  });

  test("forged hellos (no TLS, no certificate, a certificate of another CA, a valid certificate of another node) never reach the receiver nor replace the real link", async () => {
    const addresses = new Map<NodeId, string>();
    const a = await startNode(1, addresses);
    const b = await startNode(2, addresses);
    a.transport.send("raft", 2, encodeMessage(heartbeat(1, 2, 1)));
    await waitFor("the real link 1 -> 2", () => b.received.length === 1);
    const dialsBefore = a.transport.stats().peers.find((p) => p.peer === 2)!.dials;
    const rogue = await issueCertificate(rogueCa, { kind: "node", nodeId: 1, hosts: ["127.0.0.1"] });
    const node3 = certificates.get(3)!;
    const attacks = [
      { name: "plain TCP", credentials: "plain" as const },
      { name: "TLS without a certificate", credentials: { caPem: ca.certPem } },
      { name: "a certificate naming node 1 from another CA", credentials: { certPem: rogue.certPem, keyPem: rogue.keyPem } },
      { name: "node 3's valid certificate, claiming node 1", credentials: { certPem: node3.certPem, keyPem: node3.keyPem } },
    ];
    for (const { name, credentials } of attacks) {
      for (const bytes of [forgedAppend(CLUSTER, 1, 2, 3, "forged"), forgedHeartbeat(CLUSTER, 1, 2)]) {
        const result = await attack(b.address, credentials, bytes, DEADLINE_MS);
        assert.ok(result.closedByPeer, `${name}: the connection stayed open`);
        assert.ok(result.elapsedMs < HANDSHAKE_TIMEOUT_MS, `${name}: closed only by the handshake deadline (${result.elapsedMs} ms), not at once`);
      }
    }
    const stats = b.transport.stats();
    assert.equal(b.received.length, 1, "a forged message reached the raft receiver");
    assert.ok(stats.rejectedCertificates >= 4, `${stats.rejectedCertificates} certificate rejections`);
    assert.ok(stats.rejectedHellos >= 2, `${stats.rejectedHellos} hello rejections (node 3 claiming node 1)`);
    // The real link is the same one: it still carries messages and a was never made to redial.
    a.transport.send("raft", 2, encodeMessage(heartbeat(1, 2, 2)));
    await waitFor("the real link still carries messages", () => b.received.length === 2);
    assert.equal(a.transport.stats().peers.find((p) => p.peer === 2)!.dials, dialsBefore);
  });

  test("a dial checks that the server's certificate names the node it meant to reach", async () => {
    const addresses = new Map<NodeId, string>();
    const a = await startNode(1, addresses);
    const c = await startNode(3, addresses);
    // Node 2's address points at node 3 (a stale address book, or a node impersonating another's address).
    addresses.set(2, c.address);
    a.transport.send("raft", 2, encodeMessage(heartbeat(1, 2, 1)));
    await waitFor("a refuses node 3's certificate when dialing node 2", () => a.transport.stats().rejectedCertificates >= 1);
    assert.equal(c.received.length, 0);
    assert.equal(a.transport.stats().peers.find((p) => p.peer === 2)!.connected, false);
  });

  test(`a 64 MiB frame before the hello is refused after its header (limit ${PRE_HELLO_FRAME_BYTES_MAX} bytes); so is an oversized hello`, async () => {
    const addresses = new Map<NodeId, string>();
    const b = await startNode(2, addresses);
    const node3 = certificates.get(3)!;
    const header = new Uint8Array(8);
    new DataView(header.buffer).setUint32(0, 64 * 1024 * 1024, false);
    const result = await attack(b.address, { certPem: node3.certPem, keyPem: node3.keyPem }, concatBytes([header, new Uint8Array(64 * 1024)]), DEADLINE_MS);
    assert.ok(result.closedByPeer, `the 64 MiB frame's connection stayed open (${result.elapsedMs} ms)`);
    const justOver = new Uint8Array(8);
    new DataView(justOver.buffer).setUint32(0, PRE_HELLO_FRAME_BYTES_MAX + 1, false);
    const second = await attack(b.address, { certPem: node3.certPem, keyPem: node3.keyPem }, justOver, DEADLINE_MS);
    assert.ok(second.closedByPeer, `the oversized hello's connection stayed open (${second.elapsedMs} ms)`);
    // Refused by the frame limit (counted as malformed), not by the handshake deadline.
    await waitFor("both counted as malformed", () => b.transport.stats().malformedFrames === 2);
    assert.equal(b.transport.stats().handshakeTimeouts, 0);
  });

  test("trickling connections are closed by the one handshake deadline, however steadily they send", async () => {
    const addresses = new Map<NodeId, string>();
    const b = await startNode(2, addresses);
    const node3 = certificates.get(3)!;
    const hello = helloFrame(CLUSTER, 3, 2);
    // One byte every 50 ms: the hello would take hello.length * 50 ms, far past the deadline, and no gap is long.
    assert.ok(hello.length * 50 > 2 * HANDSHAKE_TIMEOUT_MS, `a ${hello.length}-byte hello trickles for less than twice the deadline`);
    const results = await Promise.all([
      attack(b.address, { certPem: node3.certPem, keyPem: node3.keyPem }, hello, DEADLINE_MS, 50),
      // A TLS record header announcing 16 KiB, then its body a byte at a time: OpenSSL waits for the whole record.
      attack(b.address, "plain", concatBytes([new Uint8Array([0x16, 0x03, 0x01, 0x40, 0x00]), new Uint8Array(16_384)]), DEADLINE_MS, 50),
    ]);
    for (const result of results) {
      assert.ok(result.closedByPeer, "a trickler outlived the deadline");
      assert.ok(result.elapsedMs >= HANDSHAKE_TIMEOUT_MS - 50 && result.elapsedMs < HANDSHAKE_TIMEOUT_MS + 1_500, `closed after ${result.elapsedMs} ms`);
    }
    assert.equal(b.transport.stats().handshakeTimeouts, 2);
    assert.equal(b.received.length, 0);
  });

  test("rotation: new credentials are used by the next connection, without a restart", async () => {
    const addresses = new Map<NodeId, string>();
    const b = await startNode(2, addresses);
    const serialSeen = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const [host, port] = b.address.split(":");
        const node3 = certificates.get(3)!;
        const socket = tls.connect({ host: host!, port: Number(port), ca: ca.certPem, cert: node3.certPem, key: node3.keyPem, checkServerIdentity: () => undefined }, () => {
          resolve(socket.getPeerCertificate().serialNumber);
          socket.destroy();
        });
        socket.on("error", reject);
      });
    const first = await serialSeen();
    assert.equal(first, new X509Certificate(certificates.get(2)!.certPem).serialNumber);
    const renewed = await issueCertificate(ca, { kind: "node", nodeId: 2, hosts: ["127.0.0.1"] });
    b.credentials = credentialsFor(renewed, 2);
    assert.equal(await serialSeen(), new X509Certificate(renewed.certPem).serialNumber);
  });
});
