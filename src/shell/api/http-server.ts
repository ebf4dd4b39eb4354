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
import { createTlsApiServer, type ApiTls } from "./tls-api-listener.ts";

export interface ApiServer {
  /** The bound "host:port". */
  readonly address: string;
  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then closes every connection. */
  close(graceMs?: number): Promise<void>;
}

const HTTP2_PREFACE_START = "PRI ";
/** Upper bound on one request message (a kv value is at most 64 KiB). */
const MAX_REQUEST_BYTES = 4 * 1024 * 1024;
/** Upper bound on open client connections. */
const MAX_CONNECTIONS = 4_096;

/** `fastPath` serves what it covers (HTTP/1.1 only) and returns false to leave a request to connect-node. */
export function startApiServer(
  listen: string,
  routes: (router: ConnectRouter) => void,
  fastPath?: (request: http.IncomingMessage, response: http.ServerResponse) => boolean,
  tls?: ApiTls,
): Promise<ApiServer> {
  const { host, port } = parseHostPort(listen);
  const handler = connectNodeAdapter({ routes, readMaxBytes: MAX_REQUEST_BYTES });
  const http1 = http.createServer(fastPath === undefined ? handler : (request, response) => void (fastPath(request, response) || handler(request, response)));
  const h2c = http2.createServer({}, handler);
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.Http2Session>();
  h2c.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
  });
  const secure = tls === undefined ? undefined : createTlsApiServer(tls, handler, fastPath, sessions);
  const listener = net.createServer((socket) => {
    sockets.add(socket);
    // Responses are small and latency-bound: no Nagle delay (http.Server would set this itself
    // for connections it accepts, but these arrive through emit("connection")).
    socket.setNoDelay(true);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    socket.once("data", (chunk: Buffer) => {
      socket.pause();
      if (secure !== undefined) {
        secure.accept(socket, chunk, replayingStream);
      } else if (chunk.subarray(0, HTTP2_PREFACE_START.length).toString("latin1") === HTTP2_PREFACE_START) {
        // The http2 server reads from the socket's native handle, which would skip the bytes
        // already read: it gets a stream that replays them, then relays the socket.
        h2c.emit("connection", replayingStream(socket, chunk));
      } else {
        socket.unshift(chunk);
        http1.emit("connection", socket);
      }
      socket.resume();
    });
  });
  listener.maxConnections = MAX_CONNECTIONS;
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
