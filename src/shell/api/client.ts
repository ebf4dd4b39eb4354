// Typed clients of a node's API (Connect protocol over HTTP/1.1 or h2c, or either over TLS),
// used by the CLI, by nodes forwarding to their leader, by the e2e tests and by the benchmark.
// With `tls`, the server's certificate must chain to the given CA (the cluster's): the system's
// trust store is not used, since a cluster CA is never in it.
import http from "node:http";
import https from "node:https";
import type net from "node:net";
import { createClient, type Client, type Transport } from "@connectrpc/connect";
import { createFailoverTransport, FAILOVER_ENDPOINTS_MAX } from "./failover-transport.ts";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ClusterService } from "./gen/blixard/v1/cluster_pb.ts";
import { KvService } from "./gen/blixard/v1/kv_pb.ts";
import { TokenService } from "./gen/blixard/v1/token_pb.ts";
import { VmService } from "./gen/blixard/v1/vm_pb.ts";
import { NodeService } from "./gen/blixard/v1/node_pb.ts";
import { TenantService } from "./gen/blixard/v1/tenant_pb.ts";
import { FailpointService } from "./gen/blixard/v1/failpoint_pb.ts";

export interface ApiClients {
  readonly url: string;
  readonly kv: Client<typeof KvService>;
  readonly cluster: Client<typeof ClusterService>;
  readonly token: Client<typeof TokenService>;
  readonly vm: Client<typeof VmService>;
  readonly node: Client<typeof NodeService>;
  readonly tenant: Client<typeof TenantService>;
  readonly failpoint: Client<typeof FailpointService>;
}

export interface ApiClientOptions {
  readonly timeoutMs?: number;
  /** "1.1" (default) or "2" (h2c with prior knowledge: one multiplexed connection). */
  readonly httpVersion?: "1.1" | "2";
  /** Extra headers on every request (nodes mark forwarded requests). */
  readonly headers?: Record<string, string>;
  /** A bearer token sent on every request (docs/SECURITY.md). */
  readonly token?: string;
  /** Verify the server against this CA (PEM) and optionally present a client certificate; implies https. */
  readonly tls?: ClientTls;
}

export interface ClientTls {
  readonly caPem: string;
  readonly certPem?: string;
  readonly keyPem?: string;
}

/**
 * An HTTP/1.1 agent whose sockets send at once (TCP_NODELAY). A request's body and the chunked
 * encoding's last chunk leave as separate small writes; with Nagle's algorithm the second waits
 * for the ACK of the first, which the server delays by ~40 ms: every call took 45 ms instead of 5.
 */
function noDelayAgent(tls: ClientTls | undefined): http.Agent {
  const agent = tls === undefined ? new http.Agent({ keepAlive: true }) : new https.Agent({ keepAlive: true, ca: tls.caPem, cert: tls.certPem, key: tls.keyPem });
  const createConnection = (agent as unknown as { createConnection: (...args: unknown[]) => net.Socket }).createConnection.bind(agent);
  (agent as unknown as { createConnection: (...args: unknown[]) => net.Socket }).createConnection = (...args: unknown[]) => {
    const socket = createConnection(...args);
    socket.setNoDelay(true);
    return socket;
  };
  return agent;
}

/** "host:port" or a URL -> a base URL ("http://host:port", or "https://" for a bare address with `scheme`). */
export function endpointUrl(endpoint: string, scheme: "http" | "https" = "http"): string {
  const trimmed = endpoint.trim();
  return /^https?:\/\//.test(trimmed) ? trimmed.replace(/\/+$/, "") : `${scheme}://${trimmed}`;
}

function endpointTransport(endpoint: string, options: ApiClientOptions): { readonly url: string; readonly transport: Transport } {
  const clientTls = options.tls;
  const url = endpointUrl(endpoint, clientTls === undefined ? "http" : "https");
  if (clientTls !== undefined && url.startsWith("http://")) throw new Error(`${url} is plaintext http:// but a CA was given: use https://`);
  const headers = options.token === undefined || options.token === "" ? options.headers : { ...options.headers, authorization: `Bearer ${options.token}` };
  const tlsOptions = clientTls === undefined ? {} : { ca: clientTls.caPem, cert: clientTls.certPem, key: clientTls.keyPem };
  const versioned =
    (options.httpVersion ?? "1.1") === "1.1"
      ? { httpVersion: "1.1" as const, nodeOptions: { ...tlsOptions, agent: noDelayAgent(clientTls) } }
      : { httpVersion: "2" as const, ...(clientTls === undefined ? {} : { nodeOptions: tlsOptions }) };
  const transport = createConnectTransport({
    baseUrl: url,
    ...versioned,
    defaultTimeoutMs: options.timeoutMs ?? 10_000,
    interceptors:
      headers === undefined
        ? []
        : [
            (next) => (request) => {
              for (const [name, value] of Object.entries(headers)) request.header.set(name, value);
              return next(request);
            },
          ],
  });
  return { url, transport };
}

/**
 * Clients of one endpoint, or of several members of one cluster: then a call whose connection is
 * refused goes to the next one (failover-transport.ts). `url` names the first.
 */
export function createApiClients(endpoints: string | readonly string[], options: ApiClientOptions = {}): ApiClients {
  const list = typeof endpoints === "string" ? [endpoints] : endpoints;
  if (list.length === 0 || list.length > FAILOVER_ENDPOINTS_MAX) throw new Error(`give 1 to ${FAILOVER_ENDPOINTS_MAX} endpoints`);
  const transports = list.map((endpoint) => endpointTransport(endpoint, options));
  const url = transports[0]!.url;
  const transport = transports.length === 1 ? transports[0]!.transport : createFailoverTransport(transports.map((t) => t.transport));
  return {
    url,
    kv: createClient(KvService, transport),
    cluster: createClient(ClusterService, transport),
    token: createClient(TokenService, transport),
    vm: createClient(VmService, transport),
    node: createClient(NodeService, transport),
    tenant: createClient(TenantService, transport),
    failpoint: createClient(FailpointService, transport),
  };
}
