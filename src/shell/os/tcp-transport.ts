// The peer transport: the Transport's channels ("raft", "client", "agent") over TCP, as
// length-prefixed CRC32C frames (frame.ts). After the hello every frame carries one
// channel's message: a channel tag, then the channel's own bytes (channel-frame.ts); the
// transport never looks inside them. Each channel has at most one receiver.
//
// Connections. Exactly one connection carries traffic between two peers. A node
// sends on the established connection to a peer, whichever side dialed it, and
// dials only when it has none. When both sides dial at once and two connections
// end up established, both keep the one dialed by the LOWER node id and close the
// other; a node that sees a second connection dialed by the same side keeps the
// newer (the older is a half-dead leftover of a restart). Each side opens with a
// hello frame (wire version, cluster id, from, to) and checks the other's: a
// wrong cluster, wrong target id or a frame that is not a hello first closes the
// connection, so two clusters on one host never mix.
//
// Authentication (docs/SECURITY.md). With `tls`, the port speaks mutual TLS only: each side
// presents a certificate issued by the cluster's CA and naming its node id (a URI SAN
// blixard://node/<id>, src/shell/tls/node-identity.ts). A dialer checks that the server's
// certificate names the peer it meant to reach; both sides check that the hello's `from`
// equals the id in the other's certificate. So a connection without a valid certificate, or
// whose certificate names another node, is closed before any frame reaches a channel
// receiver, and no connection can claim (and so replace) another node's link. Without `tls`
// (--insecure) the hello is believed, as before.
//
// Before the hello. Until the peer's hello is verified a connection may carry frames of at
// most PRE_HELLO_FRAME_BYTES_MAX (4 KiB; a hello is under 200 bytes), and it must finish the
// TCP accept, the TLS handshake and the hello within ONE deadline (handshakeTimeoutMs) counted
// from accept (or from the dial), never extended by arriving bytes. At most
// MAX_PENDING_ACCEPTS accepted connections wait for their hello at once; more are closed at
// accept. Past the hello, the normal frame limit (maxFrameBytes) holds.
//
// Sending. send() never blocks and never throws for operating conditions: it
// frames the channel's bytes and appends them to the peer's queue, bounded in messages
// and bytes by the policy shared with the simulator (src/core/wire/peer-queue.ts); a
// full queue drops the message and counts it (send returns false), because Raft
// retransmits whatever matters and a forwarded client request times out. One queue per
// peer serves every channel, so the channels of a peer keep their relative order. Queued frames are written in one batch per event
// loop turn (one socket.write for many messages); while the socket pushes back,
// frames wait in the queue. A failed dial drops the queue: by the time the peer is
// back, those messages are stale and Raft resends what is needed.
//
// Reconnecting. After a failed dial or a lost connection the next dial waits an
// exponential backoff (initial, doubling, capped) with jitter (uniform in
// [delay/2, delay)), reset once a connection exchanges hellos.
//
// Receiving. A frame for a channel with no receiver on this node is dropped and counted
// (the connection stays: the peer is correct, this node just does not serve that channel).
// A receiver that answers "malformed" (bytes a correct peer could not have sent: a codec
// error, a message whose from/to do not match the connection) closes the connection, as
// does a bad frame (length, checksum, unknown channel tag); it is logged and counted and
// the node keeps running. A reply goes back with send(channel, from, ...): the peer's
// endpoint is its node id, whichever side dialed.
import net from "node:net";
import tls from "node:tls";
import { assert } from "../../core/assert.ts";
import { CHANNEL_NAMES, type ChannelName, type EndpointId, type Logger, type ReceiveVerdict, type Transport } from "../../core/env/environment.ts";
import type { NodeId } from "../../core/raft/types.ts";
import { CHANNEL_TAG_BYTES, decodeChannelPayload, encodeChannelFrame } from "../../core/wire/channel-frame.ts";
import { encodeHello, WIRE_VERSION, type Hello } from "../../core/wire/codec.ts";
import { PRE_HELLO_FRAME_BYTES_MAX, readHandshake } from "../../core/wire/peer-handshake.ts";
import { DEFAULT_MAX_FRAME_BYTES, encodeFrame, FrameDecoder } from "../../core/wire/frame.ts";
import { DEFAULT_PEER_QUEUE_LIMITS, PeerQueueBound, validatePeerQueueLimits, type PeerQueueLimits } from "../../core/wire/peer-queue.ts";
import { formatHostPort, parseHostPort } from "./address.ts";
import { nodeIdOfCertificate } from "../tls/node-identity.ts";

/** Upper bound on distinct peers one transport keeps state for (a cluster is far smaller). */
export const MAX_PEERS = 1_024;
/** Upper bound on accepted connections still waiting for their hello. */
export const MAX_PENDING_ACCEPTS = 256;
export { PRE_HELLO_FRAME_BYTES_MAX };
/** Default for the one deadline from accept (or dial) to a verified hello, TLS handshake included. */
export const HANDSHAKE_TIMEOUT_MS_DEFAULT = 3_000;

/** Where the transport gets its TLS credentials: called per connection, so a reload (rotation) takes effect at the next one. */
export interface PeerTls {
  /** The node's current credentials (the CA it trusts, its certificate and key); `version` grows on every reload. */
  readonly current: () => TlsCredentials;
}

export interface TlsCredentials {
  readonly version: number;
  readonly options: tls.SecureContextOptions;
  readonly context: tls.SecureContext;
}

export interface TcpTransportOptions {
  readonly nodeId: NodeId;
  readonly clusterId: string;
  /** Where to listen for peers, e.g. "127.0.0.1:7001". Port 0 picks a free port (tests). */
  readonly listen: string;
  /** The peer address ("host:port") of a node, or undefined when not known (yet). */
  readonly resolve: (peer: NodeId) => string | undefined;
  readonly log: Logger;
  /** The per-peer send queue's bound (default: the one the simulator uses too). */
  readonly queueLimits?: PeerQueueLimits;
  /** Upper bound on one channel message's bytes (what send() is handed). */
  readonly maxFrameBytes?: number;
  /** Upper bound on bytes handed to one socket.write. */
  readonly maxBatchBytes?: number;
  readonly backoffInitialMs?: number;
  readonly backoffMaxMs?: number;
  /** Uniform in [0, 1), for backoff jitter. */
  readonly random?: () => number;
  /** Mutual TLS on every connection; undefined means --insecure (plain TCP, the hello believed). */
  readonly tls?: PeerTls | undefined;
  /** One deadline from accept (or dial) to the peer's verified hello, TLS handshake included. */
  readonly handshakeTimeoutMs?: number;
}

export interface PeerLinkStats {
  readonly peer: NodeId;
  readonly connected: boolean;
  readonly queuedMessages: number;
  readonly queuedBytes: number;
  readonly sentMessages: number;
  /** socket.write calls that carried them: fewer than sentMessages when batching works. */
  readonly sentBatches: number;
  /** Every message to this peer that never left: queue full, frame limit, failed dial, unknown address. */
  readonly droppedMessages: number;
  /** Of those, the ones the queue bound refused. */
  readonly droppedQueueFull: number;
  readonly receivedMessages: number;
  readonly dials: number;
}

export interface TransportStats {
  readonly peers: readonly PeerLinkStats[];
  readonly malformedFrames: number;
  /** Frames for a channel that has no receiver on this node: dropped, the connection kept. */
  readonly framesWithoutReceiver: Readonly<Record<ChannelName, number>>;
  readonly rejectedHellos: number;
  readonly acceptedConnections: number;
  /** Connections closed because their peer's certificate was missing, invalid or named no (or another) node. */
  readonly rejectedCertificates: number;
  /** Connections closed because the handshake (TLS and hello) missed its deadline. */
  readonly handshakeTimeouts: number;
  /** Accepted connections closed at once because MAX_PENDING_ACCEPTS were already waiting for their hello. */
  readonly refusedPendingFull: number;
}

/** A listen failure the caller reports as one line (e.g. the port is in use). */
export class ListenError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ListenError";
  }
}

interface Connection {
  /** What frames travel on: the TLS socket, or the TCP socket itself without TLS. */
  readonly socket: net.Socket;
  /** The node id the peer's verified certificate names (undefined without TLS). */
  readonly certifiedPeer: NodeId | undefined;
  /** The TCP socket under `socket` (the same socket without TLS): admission and the deadline count it. */
  readonly rawSocket: net.Socket;
  /** A dial's one handshake deadline (accepted sockets have theirs in `handshaking`), cleared at the verified hello. */
  handshakeTimer: NodeJS.Timeout | undefined;
  /** The node that dialed: this node for dials, the peer (known at its hello) for accepted connections. */
  dialer: NodeId;
  readonly decoder: FrameDecoder;
  /** Known from the start for dialed connections, from the hello for accepted ones. */
  peer: NodeId | undefined;
  helloReceived: boolean;
  /** Registered as the peer's connection (or as its duplicate awaiting resolution). */
  established: boolean;
  closed: boolean;
  writable: boolean;
}

interface PeerLink {
  readonly peer: NodeId;
  connection: Connection | undefined;
  dialing: Connection | undefined;
  retryTimer: NodeJS.Timeout | undefined;
  backoffMs: number;
  queue: Uint8Array[];
  /** The shared policy's accounting of `queue` (messages and wire bytes). */
  readonly bound: PeerQueueBound;
  flushScheduled: boolean;
  sentMessages: number;
  sentBatches: number;
  droppedMessages: number;
  receivedMessages: number;
  dials: number;
  /** Dropped messages not yet reported in a log line (one line per burst, not per message). */
  unreportedDrops: number;
}

type ChannelReceiver = (from: EndpointId, bytes: Uint8Array) => ReceiveVerdict;

export class TcpTransport implements Transport {
  private readonly receivers = new Map<ChannelName, ChannelReceiver>();
  private readonly framesWithoutReceiver: Record<ChannelName, number> = { raft: 0, client: 0, agent: 0 };
  private readonly options: Required<Omit<TcpTransportOptions, "tls">> & { readonly tls: PeerTls | undefined };
  private readonly links = new Map<NodeId, PeerLink>();
  private readonly accepted = new Set<Connection>();
  /** Accepted TCP sockets still before their verified hello (TLS handshake included), with their deadline. */
  private readonly handshaking = new Map<net.Socket, NodeJS.Timeout>();
  /** The same sockets by "address|port", to find the TCP socket under a TLS socket. */
  private readonly handshakingByRemote = new Map<string, net.Socket>();
  private server: net.Server | undefined;
  private closed = false;
  private malformedFrames = 0;
  private rejectedHellos = 0;
  private acceptedConnections = 0;
  private rejectedCertificates = 0;
  private handshakeTimeouts = 0;
  private refusedPendingFull = 0;
  private boundAddress: string | undefined;

  constructor(options: TcpTransportOptions) {
    this.options = {
      queueLimits: DEFAULT_PEER_QUEUE_LIMITS,
      maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
      maxBatchBytes: 4 * 1024 * 1024,
      backoffInitialMs: 50,
      backoffMaxMs: 2_000,
      random: Math.random,
      tls: undefined,
      handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS_DEFAULT,
      ...options,
    };
    assert(Number.isSafeInteger(options.nodeId) && options.nodeId >= 1, "node id must be a positive integer");
    validatePeerQueueLimits(this.options.queueLimits);
    assert(Number.isSafeInteger(this.options.maxFrameBytes) && this.options.maxFrameBytes > 0, "the frame limit must be a positive integer");
    assert(this.options.backoffInitialMs > 0 && this.options.backoffMaxMs >= this.options.backoffInitialMs, "bad backoff bounds");
    assert(Number.isSafeInteger(this.options.handshakeTimeoutMs) && this.options.handshakeTimeoutMs > 0, "the handshake timeout must be a positive integer");
  }

  /** Starts accepting peers; resolves with the bound "host:port", rejects with a ListenError. */
  listen(): Promise<string> {
    assert(this.server === undefined, "listen called twice");
    const { host, port } = parseHostPort(this.options.listen);
    const peerTls = this.options.tls;
    let server: net.Server;
    if (peerTls === undefined) {
      server = net.createServer((socket) => {
        if (this.admit(socket)) this.accept(socket, socket, undefined);
      });
    } else {
      // The CA check is OpenSSL's (rejectUnauthorized); the node id check is ours, at secureConnection.
      let credentials = peerTls.current();
      const tlsServer = tls.createServer({ ...credentials.options, requestCert: true, rejectUnauthorized: true, handshakeTimeout: this.options.handshakeTimeoutMs });
      // Runs before the TLS server wraps the socket: each connection gets the credentials current
      // at its accept (rotation without a restart), and the admission check runs first.
      tlsServer.prependListener("connection", (socket: net.Socket) => {
        const latest = peerTls.current();
        if (latest.version !== credentials.version) {
          credentials = latest;
          tlsServer.setSecureContext(latest.options);
        }
        this.admit(socket);
      });
      tlsServer.on("secureConnection", (socket: tls.TLSSocket) => this.acceptTls(socket));
      tlsServer.on("tlsClientError", (error, socket) => {
        this.rejectedCertificates += 1;
        this.options.log.warn({ remote: `${socket.remoteAddress}:${socket.remotePort}`, error: error.message.split("\n")[0] }, "peer TLS handshake failed: closing the connection");
      });
      server = tlsServer;
    }
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once("error", (error: NodeJS.ErrnoException) => {
        const code = error.code ?? "EOTHER";
        const reason = code === "EADDRINUSE" ? "address already in use" : error.message;
        reject(new ListenError(code, `cannot listen for peers on ${this.options.listen}: ${reason}`));
      });
      server.listen({ host, port }, () => {
        const address = server.address();
        assert(address !== null && typeof address === "object", "server has no address after listen");
        this.boundAddress = formatHostPort({ host, port: address.port });
        server.on("error", (error) => this.options.log.error({ error: error.message }, "peer listener error"));
        resolve(this.boundAddress);
      });
    });
  }

  get address(): string | undefined {
    return this.boundAddress;
  }

  /** Transport: sets a channel's one receiver; it decodes and validates the channel's bytes itself. */
  receive(channel: ChannelName, handler: ChannelReceiver): void {
    assert(CHANNEL_NAMES.includes(channel), () => `no channel ${String(channel)}`);
    assert(!this.receivers.has(channel), () => `a second receiver for the ${channel} channel`);
    this.receivers.set(channel, handler);
  }

  /** Transport: queues one channel message for `to`; false when it certainly never left (closed, too large, queue full, no address). */
  send(channel: ChannelName, to: EndpointId, payload: Uint8Array): boolean {
    if (this.closed) return false;
    assert(CHANNEL_NAMES.includes(channel), () => `no channel ${String(channel)}`);
    assert(Number.isSafeInteger(to) && to >= 1 && to !== this.options.nodeId, () => `node ${this.options.nodeId} sends to endpoint ${to}`);
    const link = this.link(to);
    if (payload.length > this.options.maxFrameBytes) {
      this.options.log.error({ peer: to, channel, sizeBytes: payload.length, limitBytes: this.options.maxFrameBytes }, "message exceeds the frame limit: dropped");
      this.drop(link, 1, "message exceeds the frame limit");
      return false;
    }
    const frame = encodeChannelFrame(channel, payload, this.options.maxFrameBytes);
    if (!link.bound.tryAdmit(frame.length)) {
      this.drop(link, 1, "send queue full");
      return false;
    }
    link.queue.push(frame);
    if (link.connection !== undefined) {
      this.scheduleFlush(link);
      return true;
    }
    this.maybeDial(link);
    // A dial that could not even start (no address, a bad one) discarded the queue, this message with it.
    return link.queue.length > 0;
  }

  stats(): TransportStats {
    const peers = [...this.links.values()]
      .sort((a, b) => a.peer - b.peer)
      .map((link) => {
        assert(link.queue.length === link.bound.queuedMessages, "a peer's queue and its bound disagree");
        return {
          peer: link.peer,
          connected: link.connection !== undefined,
          queuedMessages: link.bound.queuedMessages,
          queuedBytes: link.bound.queuedBytes,
          sentMessages: link.sentMessages,
          sentBatches: link.sentBatches,
          droppedMessages: link.droppedMessages,
          droppedQueueFull: link.bound.droppedMessages,
          receivedMessages: link.receivedMessages,
          dials: link.dials,
        };
      });
    return {
      peers,
      malformedFrames: this.malformedFrames,
      framesWithoutReceiver: { ...this.framesWithoutReceiver },
      rejectedHellos: this.rejectedHellos,
      acceptedConnections: this.acceptedConnections,
      rejectedCertificates: this.rejectedCertificates,
      handshakeTimeouts: this.handshakeTimeouts,
      refusedPendingFull: this.refusedPendingFull,
    };
  }

  /** Stops listening, flushes what sockets already accepted, closes every connection. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    const sockets: net.Socket[] = [];
    for (const link of this.links.values()) {
      if (link.retryTimer !== undefined) clearTimeout(link.retryTimer);
      link.retryTimer = undefined;
      for (const connection of [link.connection, link.dialing]) if (connection !== undefined) sockets.push(connection.socket);
    }
    for (const connection of this.accepted) sockets.push(connection.socket);
    for (const [raw, timer] of this.handshaking) {
      clearTimeout(timer);
      sockets.push(raw);
    }
    for (const socket of sockets) socket.end();
    // end() lets written frames reach the peer; a peer that does not close its side in time is cut off.
    const forceTimer = setTimeout(() => {
      for (const socket of sockets) socket.destroy();
    }, 200);
    const server = this.server;
    return new Promise((resolve) => {
      const finish = (): void => {
        clearTimeout(forceTimer);
        for (const socket of sockets) socket.destroy();
        resolve();
      };
      if (server === undefined || !server.listening) return finish();
      server.close(finish);
    });
  }

  private link(peer: NodeId): PeerLink {
    let link = this.links.get(peer);
    if (link === undefined) {
      // Sends come from the core (members only); hellos beyond the limit are refused before this.
      assert(this.links.size < MAX_PEERS, () => `more than ${MAX_PEERS} peers`);
      link = {
        peer,
        connection: undefined,
        dialing: undefined,
        retryTimer: undefined,
        backoffMs: this.options.backoffInitialMs,
        queue: [],
        bound: new PeerQueueBound(this.options.queueLimits),
        flushScheduled: false,
        sentMessages: 0,
        sentBatches: 0,
        droppedMessages: 0,
        receivedMessages: 0,
        dials: 0,
        unreportedDrops: 0,
      };
      this.links.set(peer, link);
    }
    return link;
  }

  private drop(link: PeerLink, count: number, reason: string): void {
    if (count === 0) return;
    link.droppedMessages += count;
    if (link.unreportedDrops === 0) {
      this.options.log.debug({ peer: link.peer, reason, droppedTotal: link.droppedMessages }, "dropping messages to peer");
    }
    link.unreportedDrops += count;
  }

  private maybeDial(link: PeerLink): void {
    if (this.closed || link.connection !== undefined || link.dialing !== undefined || link.retryTimer !== undefined) return;
    const address = this.options.resolve(link.peer);
    if (address === undefined) {
      this.drop(link, link.queue.length, "peer address unknown");
      this.clearQueue(link);
      return;
    }
    let target: { host: string; port: number };
    try {
      target = parseHostPort(address);
    } catch (error) {
      this.options.log.warn({ peer: link.peer, address, error: (error as Error).message }, "bad peer address");
      this.drop(link, link.queue.length, "bad peer address");
      this.clearQueue(link);
      return;
    }
    link.dials += 1;
    const peerTls = this.options.tls;
    const expected = link.peer;
    const socket =
      peerTls === undefined
        ? net.connect({ host: target.host, port: target.port })
        : tls.connect({
            host: target.host,
            port: target.port,
            secureContext: peerTls.current().context,
            ...(net.isIP(target.host) === 0 ? { servername: target.host } : {}),
            // The chain is OpenSSL's check (rejectUnauthorized); who the server is, is ours: the node dialed.
            checkServerIdentity: (_host, certificate) => {
              const identity = nodeIdOfCertificate(certificate);
              const error = !identity.ok ? identity.error : identity.nodeId !== expected ? `dialed node ${expected} but its certificate names node ${identity.nodeId}` : undefined;
              if (error === undefined) return undefined;
              this.rejectedCertificates += 1;
              this.options.log.warn({ peer: expected, error }, "rejecting peer connection: wrong certificate");
              return new Error(error);
            },
          });
    const connection = this.newConnection(socket, socket, this.options.nodeId, link.peer, peerTls === undefined ? undefined : expected);
    link.dialing = connection;
    // One deadline from the dial to the peer's hello (TCP connect and TLS handshake included).
    connection.handshakeTimer = setTimeout(() => {
      this.handshakeTimeouts += 1;
      socket.destroy(new Error("handshake timeout"));
    }, this.options.handshakeTimeoutMs);
    socket.once(peerTls === undefined ? "connect" : "secureConnect", () => {
      if (connection.closed) return;
      socket.write(encodeFrame(this.hello(link.peer), this.options.maxFrameBytes));
      link.dialing = undefined;
      this.establish(link, connection);
    });
  }

  private hello(peer: NodeId): Uint8Array {
    const hello: Hello = { kind: "hello", version: WIRE_VERSION, clusterId: this.options.clusterId, from: this.options.nodeId, to: peer };
    return encodeHello(hello);
  }

  /**
   * Admits an accepted TCP socket into the handshake phase, or closes it: the node is closing,
   * or MAX_PENDING_ACCEPTS sockets already wait for their hello. Starts its one deadline.
   */
  private admit(socket: net.Socket): boolean {
    if (this.closed) {
      socket.destroy();
      return false;
    }
    if (this.handshaking.size >= MAX_PENDING_ACCEPTS) {
      this.refusedPendingFull += 1;
      socket.destroy();
      return false;
    }
    this.acceptedConnections += 1;
    const remote = remoteKey(socket);
    const timer = setTimeout(() => {
      // The deadline counts from accept and is never reset by bytes (a trickle cannot extend it).
      this.handshakeTimeouts += 1;
      this.options.log.warn({ remote, timeoutMs: this.options.handshakeTimeoutMs }, "peer handshake missed its deadline: closing the connection");
      socket.destroy();
    }, this.options.handshakeTimeoutMs);
    this.handshaking.set(socket, timer);
    this.handshakingByRemote.set(remote, socket);
    socket.once("close", () => this.endHandshake(socket));
    socket.on("error", () => socket.destroy());
    assert(this.handshaking.size <= MAX_PENDING_ACCEPTS, "pending accepts over their bound");
    return true;
  }

  /** The socket finished its handshake (a verified hello) or closed: its deadline no longer applies. */
  private endHandshake(socket: net.Socket): void {
    const timer = this.handshaking.get(socket);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.handshaking.delete(socket);
    const remote = remoteKey(socket);
    if (this.handshakingByRemote.get(remote) === socket) this.handshakingByRemote.delete(remote);
  }

  /** A TLS connection whose certificate chains to the CA: it must name exactly one node id. */
  private acceptTls(socket: tls.TLSSocket): void {
    const raw = this.handshakingByRemote.get(remoteKey(socket));
    if (raw === undefined || this.closed) {
      // Its TCP socket already closed (deadline) or the node is closing.
      socket.destroy();
      return;
    }
    // The TLS server closes unauthorized peers itself (rejectUnauthorized); checked again rather
    // than asserted, since a crash here would be a remote kill switch.
    const identity = socket.authorized ? nodeIdOfCertificate(socket.getPeerCertificate()) : { ok: false as const, error: `certificate not verified: ${String(socket.authorizationError)}` };
    if (!identity.ok) {
      this.rejectedCertificates += 1;
      this.options.log.warn({ remote: remoteKey(socket), error: identity.error }, "rejecting peer connection: certificate names no node");
      socket.destroy();
      raw.destroy();
      return;
    }
    this.accept(socket, raw, identity.nodeId);
  }

  private accept(socket: net.Socket, raw: net.Socket, certifiedPeer: NodeId | undefined): void {
    // The deadline set at admit() still runs on `raw`; a verified hello ends it (onHello).
    const connection = this.newConnection(socket, raw, 0, undefined, certifiedPeer);
    this.accepted.add(connection);
  }

  private newConnection(socket: net.Socket, rawSocket: net.Socket, dialer: NodeId, peer: NodeId | undefined, certifiedPeer: NodeId | undefined): Connection {
    const connection: Connection = {
      socket,
      rawSocket,
      certifiedPeer,
      handshakeTimer: undefined,
      dialer,
      // Small until the peer's hello is verified; then a channel tag and at most maxFrameBytes of the channel's bytes.
      decoder: new FrameDecoder(PRE_HELLO_FRAME_BYTES_MAX),
      peer,
      helloReceived: false,
      established: false,
      closed: false,
      writable: true,
    };
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 1_000);
    socket.on("data", (chunk: Buffer) => this.onData(connection, chunk));
    socket.on("drain", () => {
      connection.writable = true;
      if (connection.peer !== undefined) {
        const link = this.links.get(connection.peer);
        if (link !== undefined && link.connection === connection) this.scheduleFlush(link);
      }
    });
    socket.on("error", (error) => {
      this.options.log.debug({ peer: connection.peer, error: error.message }, "peer connection error");
    });
    socket.on("close", () => this.onClose(connection));
    return connection;
  }

  private onData(connection: Connection, chunk: Buffer): void {
    if (connection.closed || this.closed) return;
    let bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (!connection.helloReceived) {
      // The hello under the small pre-hello limit (src/core/wire/peer-handshake.ts), one frame only.
      const verdict = readHandshake(connection.decoder, bytes, {
        localNodeId: this.options.nodeId,
        clusterId: this.options.clusterId,
        certifiedPeer: connection.certifiedPeer,
        dialedPeer: connection.dialer === this.options.nodeId ? connection.peer : undefined,
      });
      if (verdict.kind === "incomplete") return;
      if (verdict.kind === "refused") {
        if (verdict.malformed) return this.malformed(connection, verdict.reason);
        this.rejectedHellos += 1;
        this.options.log.warn({ remote: remoteKey(connection.socket), reason: verdict.reason }, "rejecting peer connection");
        this.closeConnection(connection);
        return;
      }
      this.onHello(connection, verdict.hello);
      if (connection.closed || !connection.helloReceived) return;
      // The chunk is in the decoder already: what followed the hello is read below, under the normal limit.
      bytes = new Uint8Array(0);
    }
    const result = connection.decoder.push(bytes);
    if (!result.ok) return this.malformed(connection, result.error);
    this.deliver(connection, result.payloads);
  }

  /** Hands frames of a connection past its verified hello to their channels' receivers. */
  private deliver(connection: Connection, payloads: readonly Uint8Array[]): void {
    assert(connection.helloReceived, "frames delivered before the hello");
    for (const bytes of payloads) {
      if (connection.closed) return;
      const peer = connection.peer;
      assert(peer !== undefined, "a connection past its hello knows its peer");
      const framed = decodeChannelPayload(bytes);
      if (!framed.ok) return this.malformed(connection, framed.error);
      const receiver = this.receivers.get(framed.channel);
      if (receiver === undefined) {
        // A correct peer may speak a channel this node does not serve (yet): drop, count, keep the connection.
        if (this.framesWithoutReceiver[framed.channel] === 0) this.options.log.warn({ peer, channel: framed.channel }, "dropping frames for a channel without a receiver");
        this.framesWithoutReceiver[framed.channel] += 1;
        continue;
      }
      this.link(peer).receivedMessages += 1;
      // The receiver decodes and validates (the raft channel: decodePeerPayload and the from/to check).
      if (receiver(peer, framed.bytes) === "malformed") return this.malformed(connection, `the ${framed.channel} channel refused a message`);
    }
  }

  /** A hello that readHandshake accepted: registers the connection as the peer's link. */
  private onHello(connection: Connection, hello: Hello): void {
    assert(!connection.helloReceived, "a second hello on one connection");
    if (!this.links.has(hello.from) && this.links.size >= MAX_PEERS) {
      this.rejectedHellos += 1;
      this.options.log.warn({ peer: hello.from, limit: MAX_PEERS }, "rejecting peer connection: too many peers");
      this.closeConnection(connection);
      return;
    }
    connection.helloReceived = true;
    // Verified: the handshake deadline and the small frame limit end here.
    this.endHandshake(connection.rawSocket);
    clearTimeout(connection.handshakeTimer);
    connection.handshakeTimer = undefined;
    connection.decoder.setLimit(this.options.maxFrameBytes + CHANNEL_TAG_BYTES);
    const link = this.link(hello.from);
    link.backoffMs = this.options.backoffInitialMs;
    if (connection.peer === undefined) {
      // Accepted connection: answer with our hello, then it carries traffic both ways.
      connection.peer = hello.from;
      connection.dialer = hello.from;
      this.accepted.delete(connection);
      connection.socket.write(encodeFrame(this.hello(hello.from), this.options.maxFrameBytes));
      this.establish(link, connection);
    }
  }

  /** Registers an established connection, resolving duplicates by the rule in the header comment. */
  private establish(link: PeerLink, connection: Connection): void {
    connection.established = true;
    const current = link.connection;
    if (current !== undefined && current !== connection) {
      const lower = Math.min(this.options.nodeId, link.peer);
      let keep: Connection;
      if (current.dialer === connection.dialer) keep = connection;
      else keep = connection.dialer === lower ? connection : current;
      const drop = keep === connection ? current : connection;
      link.connection = keep;
      this.options.log.debug({ peer: link.peer, keptDialer: keep.dialer }, "closing duplicate peer connection");
      this.closeConnection(drop);
    } else {
      link.connection = connection;
    }
    if (link.unreportedDrops > 0) {
      this.options.log.info({ peer: link.peer, dropped: link.unreportedDrops }, "peer connected after dropping messages");
      link.unreportedDrops = 0;
    }
    this.scheduleFlush(link);
  }

  private scheduleFlush(link: PeerLink): void {
    if (link.flushScheduled) return;
    link.flushScheduled = true;
    setImmediate(() => {
      link.flushScheduled = false;
      this.flush(link);
    });
  }

  private flush(link: PeerLink): void {
    const connection = link.connection;
    if (this.closed || connection === undefined || connection.closed) return;
    while (link.queue.length > 0 && connection.writable) {
      let batchBytes = 0;
      let count = 0;
      while (count < link.queue.length && (count === 0 || batchBytes + link.queue[count]!.length <= this.options.maxBatchBytes)) {
        batchBytes += link.queue[count]!.length;
        count += 1;
      }
      const batch = Buffer.allocUnsafe(batchBytes);
      let offset = 0;
      for (let i = 0; i < count; i++) {
        batch.set(link.queue[i]!, offset);
        offset += link.queue[i]!.length;
      }
      assert(offset === batchBytes, "batch size mismatch");
      link.queue.splice(0, count);
      link.bound.release(count, batchBytes);
      link.sentMessages += count;
      link.sentBatches += 1;
      connection.writable = connection.socket.write(batch);
    }
  }

  private clearQueue(link: PeerLink): void {
    link.queue = [];
    link.bound.releaseAll();
  }

  private malformed(connection: Connection, error: string): void {
    this.malformedFrames += 1;
    this.options.log.warn({ peer: connection.peer, remote: `${connection.socket.remoteAddress}:${connection.socket.remotePort}`, error }, "malformed frame from peer: closing the connection");
    this.closeConnection(connection);
  }

  private closeConnection(connection: Connection): void {
    if (connection.closed) return;
    connection.closed = true;
    connection.socket.destroy();
    this.detach(connection);
  }

  private onClose(connection: Connection): void {
    connection.closed = true;
    this.detach(connection);
  }

  private detach(connection: Connection): void {
    this.accepted.delete(connection);
    clearTimeout(connection.handshakeTimer);
    connection.handshakeTimer = undefined;
    if (connection.peer === undefined) return;
    const link = this.links.get(connection.peer);
    if (link === undefined) return;
    let lost = false;
    if (link.dialing === connection) {
      link.dialing = undefined;
      lost = true;
      // The dial failed: what waited for it is stale by the time the peer is back.
      this.drop(link, link.queue.length, "dial failed");
      this.clearQueue(link);
    }
    if (link.connection === connection) {
      link.connection = undefined;
      lost = true;
    }
    if (lost && !this.closed) this.scheduleRetry(link);
  }

  private scheduleRetry(link: PeerLink): void {
    if (link.retryTimer !== undefined) return;
    const delayMs = Math.floor(link.backoffMs / 2 + this.options.random() * (link.backoffMs / 2));
    link.backoffMs = Math.min(link.backoffMs * 2, this.options.backoffMaxMs);
    link.retryTimer = setTimeout(() => {
      link.retryTimer = undefined;
      // Dial again only if there is something to say; the next send() dials otherwise.
      if (link.queue.length > 0) this.maybeDial(link);
    }, delayMs);
  }
}

/** "address|port" of a socket's remote end: unique among one listener's live connections. */
function remoteKey(socket: net.Socket): string {
  return `${socket.remoteAddress ?? "?"}|${socket.remotePort ?? 0}`;
}
