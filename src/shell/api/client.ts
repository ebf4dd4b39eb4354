// Typed clients of a node's API (Connect protocol over HTTP/1.1 or h2c), used by the
// CLI, by nodes forwarding to their leader, by the e2e tests and by the benchmark.
import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ClusterService } from "./gen/blixard/v1/cluster_pb.ts";
import { KvService } from "./gen/blixard/v1/kv_pb.ts";
import { TokenService } from "./gen/blixard/v1/token_pb.ts";

export interface ApiClients {
  readonly url: string;
  readonly kv: Client<typeof KvService>;
  readonly cluster: Client<typeof ClusterService>;
  readonly token: Client<typeof TokenService>;
}

export interface ApiClientOptions {
  readonly timeoutMs?: number;
  /** "1.1" (default) or "2" (h2c with prior knowledge: one multiplexed connection). */
  readonly httpVersion?: "1.1" | "2";
  /** Extra headers on every request (nodes mark forwarded requests). */
  readonly headers?: Record<string, string>;
  /** A bearer token sent on every request (docs/SECURITY.md). */
  readonly token?: string;
}

/** "host:port" or a URL -> a base URL ("http://host:port"). */
export function endpointUrl(endpoint: string): string {
  const trimmed = endpoint.trim();
  return /^https?:\/\//.test(trimmed) ? trimmed.replace(/\/+$/, "") : `http://${trimmed}`;
}

export function createApiClients(endpoint: string, options: ApiClientOptions = {}): ApiClients {
  const url = endpointUrl(endpoint);
  const headers = options.token === undefined || options.token === "" ? options.headers : { ...options.headers, authorization: `Bearer ${options.token}` };
  const transport = createConnectTransport({
    baseUrl: url,
    httpVersion: options.httpVersion ?? "1.1",
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
  return { url, kv: createClient(KvService, transport), cluster: createClient(ClusterService, transport), token: createClient(TokenService, transport) };
}
