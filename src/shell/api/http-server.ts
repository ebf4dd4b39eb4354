// One port for every API protocol: HTTP/1.1 (Connect JSON and binary, gRPC-Web;
// what curl speaks by default) and cleartext HTTP/2 with prior knowledge (gRPC,
// and Connect over h2c). Node's http2 server accepts HTTP/1.1 only over TLS, so
// the listener peeks at the first bytes: the HTTP/2 connection preface starts
// with "PRI * HTTP/2.0", which no HTTP/1.1 request line can. With `tls`, the same port
// speaks TLS instead, HTTP/2 or HTTP/1.1 by ALPN (tls-api-listener.ts).
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { Duplex } from "node:stream";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { ConnectRouter } from "@connectrpc/connect";
import { ListenError } from "../os/tcp-transport.ts";
import { formatHostPort, parseHostPort } from "../os/address.ts";
import { assert } from "../../core/assert.ts";
import { REQUEST_BYTES_MAX } from "../../core/replica/request-types.ts";
import { STRICT_UTF8 } from "./strict-utf8.ts";
import { createTlsApiServer, type ApiTls } from "./tls-api-listener.ts";
import { withConnectErrorBodies } from "./connect-error-body.ts";

export interface ApiServer {
  /** The bound "host:port". */
  readonly address: string;
  /** What the connection limits did so far (a live view, not a copy). */
  readonly stats: ApiServerStats;
  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then closes every connection. */
  close(graceMs?: number): Promise<void>;
}

/**
 * The limits that keep the API answering under hostile clients (docs/SECURITY.md, "Limits").
 * Each deadline runs on its own timer, whatever the client sends: a byte a second does not
 * extend it (Node's socket timeouts reset on every byte; its headersTimeout is checked only
 * every connectionsCheckingInterval and not for connections handed over by emit("connection")).
 */
export interface ApiServerLimits {
  /** From accept to the connection's first byte. */
  readonly firstByteTimeoutMs: number;
  /** HTTP/1.1: from the first byte of a connection to the first request's complete headers. */
  readonly headersTimeoutMs: number;
  /** HTTP/1.1 and HTTP/2: from a request's headers to the end of its body. */
  readonly bodyTimeoutMs: number;
  /**
   * HTTP/1.1: after a response, the next request's headers must be complete within
   * idleTimeoutMs + headersTimeoutMs. HTTP/2: a session with no open stream is closed after this.
   */
  readonly idleTimeoutMs: number;
  /** Open connections in all; the excess is closed at accept. */
  readonly connectionsMax: number;
  /** Open connections from one source address; the excess is closed at accept. */
  readonly connectionsPerSourceMax: number;
  /** HTTP/2 streams one session may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS). */
  readonly http2StreamsPerSessionMax: number;
  /**
   * HTTP/2 streams open across all sessions; the excess is refused (REFUSED_STREAM: never
   * processed, safe to retry). Each open stream may buffer one request body, so this and
   * connectionsMax together bound the request bytes held in memory.
   */
  readonly http2StreamsMax: number;
}

export const defaultApiServerLimits: ApiServerLimits = {
  firstByteTimeoutMs: 5_000,
  headersTimeoutMs: 5_000,
  bodyTimeoutMs: 10_000,
  idleTimeoutMs: 5_000,
  connectionsMax: 1_024,
  connectionsPerSourceMax: 256,
  http2StreamsPerSessionMax: 16,
  http2StreamsMax: 1_024,
};

/** Counters of the connection limits; `open` is the only one that goes down. */
export interface ApiServerStats {
  accepted: number;
  open: number;
  refusedConnectionsMax: number;
  refusedPerSourceMax: number;
  closedFirstByteTimeout: number;
  closedHeadersTimeout: number;
  closedBodyTimeout: number;
  closedIdleTimeout: number;
  refusedHttp2StreamsMax: number;
}

const HTTP2_PREFACE_START = "PRI ";

/** A request and its answer as both HTTP/1.1 and HTTP/2 (compatibility API) present them. */
export type AnyRequest = http.IncomingMessage | http2.Http2ServerRequest;
export type AnyResponse = http.ServerResponse | http2.Http2ServerResponse;

/** What the listener does around Connect, on every protocol (HTTP/1.1, h2c, TLS). */
export interface ApiServerHooks {
  /** Serves the plain HTTP paths it covers (/healthz, /readyz, /metrics: src/shell/api/probes.ts); false leaves the request to Connect. */
  readonly plainPaths?: (request: AnyRequest, response: AnyResponse) => boolean;
  /** Told of every request once its answer is done or abandoned: its path, HTTP status and duration. */
  readonly onRequestDone?: (path: string, httpStatus: number, durationSeconds: number) => void;
}

/** `fastPath` serves what it covers (HTTP/1.1 only) and returns false to leave a request to connect-node. */
export function startApiServer(
  listen: string,
  routes: (router: ConnectRouter) => void,
  fastPath?: (request: http.IncomingMessage, response: http.ServerResponse) => boolean,
  limits: ApiServerLimits = defaultApiServerLimits,
  tls?: ApiTls,
  hooks: ApiServerHooks = {},
): Promise<ApiServer> {
  assert(limits.connectionsPerSourceMax >= 1 && limits.connectionsPerSourceMax <= limits.connectionsMax, "per-source cap must be within the total cap");
  assert(limits.firstByteTimeoutMs > 0 && limits.headersTimeoutMs > 0 && limits.bodyTimeoutMs > 0 && limits.idleTimeoutMs > 0, "every deadline is positive");
  const { host, port } = parseHostPort(listen);
  // A fatal decoder for JSON bodies: invalid UTF-8 is refused (invalid_argument), never rewritten to U+FFFD.
  const jsonOptions: Parameters<typeof connectNodeAdapter>[0]["jsonOptions"] = { textDecoder: STRICT_UTF8 } as never;
  const connectHandler = connectNodeAdapter({ routes, readMaxBytes: REQUEST_BYTES_MAX, jsonOptions });
  // Over TLS an HTTP/1.1 request may pass through both the fast path and the handler: it is seen once.
  const seen = new WeakSet<AnyRequest>();
  /** Observes a request and serves it when it is a plain path; true when served. */
  const front = (request: AnyRequest, response: AnyResponse): boolean => {
    if (seen.has(request)) return false;
    seen.add(request);
    const onRequestDone = hooks.onRequestDone;
    if (onRequestDone !== undefined) {
      const startNs = process.hrtime.bigint();
      const path = (request.url ?? "").split("?", 1)[0]!;
      response.once("close", () => onRequestDone(path, response.statusCode, Number(process.hrtime.bigint() - startNs) / 1e9));
    }
    return hooks.plainPaths?.(request, response) ?? false;
  };
  const handler = (request: http.IncomingMessage | http2.Http2ServerRequest, response: http.ServerResponse | http2.Http2ServerResponse): void => {
    if (front(request, response)) return;
    // connect-node's 404, 405, 415 and 413 have no body: they get a Connect error body (connect-error-body.ts).
    withConnectErrorBodies(request, response);
    void connectHandler(request as never, response as never);
  };
  const fastPathFront = (request: http.IncomingMessage, response: http.ServerResponse): boolean => front(request, response) || (fastPath?.(request, response) ?? false);
  const stats: ApiServerStats = {
    accepted: 0,
    open: 0,
    refusedConnectionsMax: 0,
    refusedPerSourceMax: 0,
    closedFirstByteTimeout: 0,
    closedHeadersTimeout: 0,
    closedBodyTimeout: 0,
    closedIdleTimeout: 0,
    refusedHttp2StreamsMax: 0,
  };
  const deadlines = new WeakMap<net.Socket, SocketDeadline>();
  const serveHttp1 = (request: http.IncomingMessage, response: http.ServerResponse): void => {
    deadlines.get(request.socket)?.onRequest(request, response);
    if (!fastPathFront(request, response)) handler(request, response);
  };
  const http1 = http.createServer({ maxHeaderSize: HTTP1_HEADER_BYTES_MAX }, serveHttp1);
  http1.keepAliveTimeout = limits.idleTimeoutMs;
  const h2c = http2.createServer(
    {
      settings: { maxConcurrentStreams: limits.http2StreamsPerSessionMax, maxHeaderListSize: HTTP1_HEADER_BYTES_MAX },
      maxSessionMemory: HTTP2_SESSION_MEMORY_MB_MAX,
      maxHeaderListPairs: HTTP2_HEADER_PAIRS_MAX,
    },
    handler,
  );
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.Http2Session>();
  const http2Streams = { open: 0 };
  h2c.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
    watchHttp2Session(session, limits, stats, http2Streams);
  });
  const openPerSource = new Map<string, number>();
  const secure =
    tls === undefined
      ? undefined
      : createTlsApiServer(tls, handler, fastPathFront, sessions, {
          handshakeTimeoutMs: limits.headersTimeoutMs,
          // After the handshake, the TLS socket is under the same deadlines as a plaintext one: its first
          // request's headers, then each body, then the next headers (HTTP/2 sessions: watchHttp2Session).
          secured: (socket) => {
            const deadline = new SocketDeadline(socket, limits, stats, "headers");
            deadlines.set(socket, deadline);
            socket.once("close", () => deadline.clear());
          },
          request: (request, response) => deadlines.get(request.socket)?.onRequest(request, response),
          session: (session) => {
            deadlines.get(session.socket as net.Socket)?.clear();
            watchHttp2Session(session, limits, stats, http2Streams);
          },
        });
  const listener = net.createServer((socket) => {
    const source = socket.remoteAddress ?? "";
    const fromSource = openPerSource.get(source) ?? 0;
    // Refused at accept, before a byte is read or a timer armed: the cheapest answer to a flood.
    if (stats.open >= limits.connectionsMax || fromSource >= limits.connectionsPerSourceMax) {
      if (stats.open >= limits.connectionsMax) stats.refusedConnectionsMax++;
      else stats.refusedPerSourceMax++;
      socket.destroy();
      return;
    }
    stats.accepted++;
    stats.open++;
    openPerSource.set(source, fromSource + 1);
    sockets.add(socket);
    // Responses are small and latency-bound: no Nagle delay (http.Server would set this itself
    // for connections it accepts, but these arrive through emit("connection")).
    socket.setNoDelay(true);
    const deadline = new SocketDeadline(socket, limits, stats);
    deadlines.set(socket, deadline);
    socket.on("close", () => {
      deadline.clear();
      sockets.delete(socket);
      stats.open--;
      const left = (openPerSource.get(source) ?? 1) - 1;
      if (left === 0) openPerSource.delete(source);
      else openPerSource.set(source, left);
      assert(stats.open >= 0 && openPerSource.size <= stats.open, "connection counts went negative");
    });
    socket.on("error", () => socket.destroy());
    socket.once("data", (chunk: Buffer) => {
      socket.pause();
      if (secure !== undefined) {
        // The TLS layer takes it from here: its handshake has its own total deadline, then the request deadlines.
        deadline.clear();
        secure.accept(socket, chunk, replayingStream);
      } else if (chunk.subarray(0, HTTP2_PREFACE_START.length).toString("latin1") === HTTP2_PREFACE_START) {
        // HTTP/2's own deadlines are per session and per stream (watchHttp2Session).
        deadline.clear();
        // The http2 server reads from the socket's native handle, which would skip the bytes
        // already read: it gets a stream that replays them, then relays the socket.
        h2c.emit("connection", replayingStream(socket, chunk));
      } else {
        deadline.awaitHeaders(limits.headersTimeoutMs);
        socket.unshift(chunk);
        http1.emit("connection", socket);
      }
      socket.resume();
    });
  });
  return new Promise((resolve, reject) => {
    listener.once("error", (error: NodeJS.ErrnoException) => {
      const code = error.code ?? "EOTHER";
      reject(new ListenError(code, `cannot listen for API requests on ${listen}: ${code === "EADDRINUSE" ? "address already in use" : error.message}`));
    });
    listener.listen({ host, port }, () => {
      const bound = listener.address();
      const address = formatHostPort({ host, port: typeof bound === "object" && bound !== null ? bound.port : port });
      resolve({
        address,
        stats,
        close: (graceMs = 1_000) =>
          new Promise<void>((done) => {
            listener.close(() => done());
            http1.closeIdleConnections();
            for (const session of sessions) session.close();
            const force = setTimeout(() => {
              for (const socket of sockets) socket.destroy();
            }, graceMs);
            force.unref();
            if (sockets.size === 0) clearTimeout(force);
          }),
      });
    });
  });
}

/** Node's default; a request line and headers larger than this are refused (431). */
const HTTP1_HEADER_BYTES_MAX = 16 * 1024;
/** Header fields in one HTTP/2 request. */
const HTTP2_HEADER_PAIRS_MAX = 64;
/** nghttp2's own buffers per session (Node's default is 10). */
const HTTP2_SESSION_MEMORY_MB_MAX = 2;

/**
 * The one deadline an HTTP/1.1 connection is under at any time: the first byte, then the
 * headers, then the body; after a response, the next request's headers. While a request is
 * being served (its body read, its answer not yet written) no deadline runs: the request
 * path's own timeout bounds that.
 */
class SocketDeadline {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly socket: net.Socket,
    private readonly limits: ApiServerLimits,
    private readonly stats: ApiServerStats,
    /** "first-byte" for an accepted socket; "headers" for a TLS socket just past its handshake. */
    start: "first-byte" | "headers" = "first-byte",
  ) {
    if (start === "first-byte") this.arm(limits.firstByteTimeoutMs, "closedFirstByteTimeout");
    else this.awaitHeaders(limits.headersTimeoutMs);
  }

  awaitHeaders(timeoutMs: number): void {
    this.arm(timeoutMs, "closedHeadersTimeout");
  }

  onRequest(request: http.IncomingMessage, response: http.ServerResponse): void {
    this.arm(this.limits.bodyTimeoutMs, "closedBodyTimeout");
    // A body read to its end, or an answer written without it, ends the body deadline.
    let bodyDone = false;
    const endBody = (): void => {
      if (bodyDone) return;
      bodyDone = true;
      this.clear();
    };
    request.once("end", endBody);
    response.once("finish", () => {
      endBody();
      if (!this.socket.destroyed) this.awaitHeaders(this.limits.idleTimeoutMs + this.limits.headersTimeoutMs);
    });
  }

  clear(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(timeoutMs: number, counter: "closedFirstByteTimeout" | "closedHeadersTimeout" | "closedBodyTimeout"): void {
    assert(timeoutMs > 0, "a deadline is positive");
    this.clear();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.stats[counter]++;
      this.socket.destroy();
    }, timeoutMs);
  }
}

/**
 * HTTP/2 deadlines: a session with no open stream is closed after idleTimeoutMs (PINGs or a
 * trickle of CONTINUATION frames do not extend it, unlike Http2Session.setTimeout), and each
 * stream's body must end within bodyTimeoutMs of its headers.
 */
function watchHttp2Session(session: http2.Http2Session, limits: ApiServerLimits, stats: ApiServerStats, streams: { open: number }): void {
  let openStreams = 0;
  let idle: NodeJS.Timeout | undefined;
  const armIdle = (): void => {
    idle = setTimeout(() => {
      stats.closedIdleTimeout++;
      session.destroy();
    }, limits.idleTimeoutMs);
  };
  armIdle();
  session.on("stream", (stream: http2.ServerHttp2Stream) => {
    if (streams.open >= limits.http2StreamsMax) {
      stats.refusedHttp2StreamsMax++;
      stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    streams.open++;
    openStreams++;
    assert(openStreams <= limits.http2StreamsPerSessionMax + 1, "more streams open than the session allows");
    clearTimeout(idle);
    const body = setTimeout(() => {
      stats.closedBodyTimeout++;
      stream.close(http2.constants.NGHTTP2_CANCEL);
    }, limits.bodyTimeoutMs);
    stream.once("end", () => clearTimeout(body));
    stream.once("close", () => {
      clearTimeout(body);
      streams.open--;
      openStreams--;
      assert(streams.open >= 0 && openStreams >= 0, "HTTP/2 stream counts went negative");
      if (openStreams === 0 && !session.destroyed) armIdle();
    });
  });
  session.once("close", () => clearTimeout(idle));
}

/** A duplex that first yields `first`, then everything `socket` reads; writes go to `socket`. */
function replayingStream(socket: net.Socket, first: Buffer): Duplex {
  const stream = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      socket.write(chunk, callback);
    },
    final(callback) {
      socket.end();
      callback();
    },
    destroy(error, callback) {
      socket.destroy();
      callback(error);
    },
  });
  stream.push(first);
  socket.on("data", (data: Buffer) => {
    if (!stream.push(data)) socket.pause();
  });
  socket.on("end", () => stream.push(null));
  socket.on("close", () => stream.destroy());
  return stream;
}
