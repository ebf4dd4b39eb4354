// TLS on the client API: one port, HTTP/2 and HTTP/1.1 chosen by ALPN (gRPC and Connect over h2,
// Connect JSON and binary, gRPC-Web and curl over HTTP/1.1). The server certificate is the
// node's (issued by the cluster's CA, naming the node's hosts). Client certificates are
// optional; a client that presents one must present one the CA issued, or the connection is
// closed (tokens, docs/SECURITY.md, are the other way to say who a client is). A plaintext
// request to this port is answered with one clear error, in Connect's JSON error form, that
// names https:// instead of a TLS alert the client cannot read.
import http from "node:http";
import http2 from "node:http2";
import type net from "node:net";
import type tls from "node:tls";
import type { Duplex } from "node:stream";
import type { TlsCredentials } from "../os/tcp-transport.ts";

/** Where the API server gets its certificate; `onReload` hands it each new one (rotation without a restart). */
export interface ApiTls {
  readonly current: () => TlsCredentials;
  readonly onReload: (listener: (credentials: TlsCredentials) => void) => void;
}

/** The first byte of every TLS connection: a handshake record. */
const TLS_HANDSHAKE_RECORD = 0x16;

const PLAINTEXT_REFUSAL_BODY = JSON.stringify({
  code: "failed_precondition",
  message: "this API port speaks TLS only: use https:// (and --ca with the cluster's CA certificate), not http://",
});
const PLAINTEXT_REFUSAL =
  // blixard-outcome: the request was never read, so it certainly had no effect (outcome-codes.ts).
  "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nblixard-outcome: not-applied\r\nconnection: close\r\n" +
  `content-length: ${Buffer.byteLength(PLAINTEXT_REFUSAL_BODY)}\r\n\r\n${PLAINTEXT_REFUSAL_BODY}`;

export interface TlsApiServer {
  /** Takes an accepted socket whose first chunk was read (`first`): TLS goes on, plaintext is refused. */
  accept(socket: net.Socket, first: Buffer, replay: (socket: net.Socket, first: Buffer) => Duplex): void;
  readonly server: http2.Http2SecureServer;
}

/** The API server's limits over TLS (http-server.ts): a total handshake deadline, then the plaintext deadlines. */
export interface TlsApiHooks {
  /** The whole TLS handshake, from the first byte: never extended by bytes. */
  readonly handshakeTimeoutMs: number;
  /** A connection finished its handshake (its request deadlines start). */
  readonly secured: (socket: tls.TLSSocket) => void;
  /** An HTTP/1.1 request over TLS arrived (its body deadline starts). */
  readonly request: (request: http.IncomingMessage, response: http.ServerResponse) => void;
  /** An HTTP/2 session over TLS began (sessions have their own deadlines). */
  readonly session: (session: http2.Http2Session) => void;
}

export function createTlsApiServer(
  tlsSource: ApiTls,
  handler: (request: http.IncomingMessage | http2.Http2ServerRequest, response: http.ServerResponse | http2.Http2ServerResponse) => void,
  fastPath: ((request: http.IncomingMessage, response: http.ServerResponse) => boolean) | undefined,
  sessions: Set<http2.Http2Session>,
  hooks: TlsApiHooks,
): TlsApiServer {
  const server = http2.createSecureServer(
    { ...tlsSource.current().options, allowHTTP1: true, requestCert: true, rejectUnauthorized: false, handshakeTimeout: hooks.handshakeTimeoutMs },
    (request, response) => {
      if (request.httpVersionMajor === 1) hooks.request(request as unknown as http.IncomingMessage, response as unknown as http.ServerResponse);
      // With allowHTTP1, HTTP/1.1 requests arrive as http.IncomingMessage: the unary fast path covers those.
      if (fastPath !== undefined && request.httpVersionMajor === 1 && fastPath(request as unknown as http.IncomingMessage, response as unknown as http.ServerResponse)) return;
      handler(request, response);
    },
  );
  tlsSource.onReload((credentials) => server.setSecureContext(credentials.options));
  server.on("secureConnection", (socket: tls.TLSSocket) => {
    // Optional client certificates: none is fine, one the CA did not issue is not.
    const presented = Object.keys(socket.getPeerCertificate()).length > 0;
    if (presented && !socket.authorized) {
      socket.destroy();
      return;
    }
    hooks.secured(socket);
  });
  server.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
    hooks.session(session);
  });
  server.on("tlsClientError", () => undefined); // a failed handshake closes its socket; nothing to keep
  return {
    server,
    accept(socket, first, replay) {
      if (first[0] !== TLS_HANDSHAKE_RECORD) {
        socket.end(PLAINTEXT_REFUSAL);
        return;
      }
      // The TLS server reads the socket's native handle, which would skip the chunk already read.
      server.emit("connection", replay(socket, first));
    },
  };
}
