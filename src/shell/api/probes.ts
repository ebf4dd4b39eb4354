// The plain HTTP paths beside the Connect API, on the same listener and protocols (HTTP/1.1,
// h2c, TLS): GET /healthz, GET /readyz and GET /metrics (docs/OPERATIONS.md, "Health and metrics").
//
// /healthz and /readyz take no token: load balancers and orchestrators probe them without
// credentials, and they reveal only what a refused connection would (alive or not) and one line
// of why this node cannot serve. /metrics reveals more (terms, indexes, peers, VM counts, request
// rates), so it takes a bearer token allowed to call ClusterService/Status (admin, operator,
// read-only; not tenant): Prometheus sends one with `authorization: { credentials_file: ... }`.
import { Code, ConnectError } from "@connectrpc/connect";
import { assert } from "../../core/assert.ts";
import type { NodeId } from "../../core/raft/types.ts";
import type { ReplicaStatus } from "../../core/replica/replica.ts";
import type { AnyRequest, AnyResponse } from "./http-server.ts";

/** The paths served here; everything else goes to Connect (which answers 404 for unknown paths, as before). */
export const PROBE_PATHS = ["/healthz", "/readyz", "/metrics"] as const;

/** A node whose applied index is further than this behind the commit index it knows is not ready: it would serve stale reads slowly. */
export const READY_APPLY_LAG_ENTRIES_MAX = 1_000;

export type Readiness = { readonly ready: true } | { readonly ready: false; readonly reason: string };

/** Ready: running, a member (voter or learner) of the configuration it knows, a leader known, applied within READY_APPLY_LAG_ENTRIES_MAX of commit. */
export function readiness(nodeId: NodeId, stopped: boolean, status: ReplicaStatus): Readiness {
  assert(nodeId >= 1, "a node id is positive");
  const raft = status.raft;
  if (stopped || status.stopped) return { ready: false, reason: "the node is stopping" };
  if (status.removedAtIndex !== 0) return { ready: false, reason: `node ${nodeId} was removed from the cluster at index ${status.removedAtIndex}` };
  const { voters, learners } = raft.confState;
  if (!voters.includes(nodeId) && !learners.includes(nodeId)) {
    return { ready: false, reason: `node ${nodeId} is not a member of the cluster it knows (not yet joined, or removed)` };
  }
  if (raft.leaderId === 0) return { ready: false, reason: `no leader is known (term ${raft.hardState.term})` };
  const lag = raft.hardState.commit - raft.applied;
  assert(lag >= 0, "applied never passes commit");
  if (lag > READY_APPLY_LAG_ENTRIES_MAX) {
    return { ready: false, reason: `applied index ${raft.applied} is ${lag} entries behind commit index ${raft.hardState.commit} (at most ${READY_APPLY_LAG_ENTRIES_MAX})` };
  }
  return { ready: true };
}

export interface ProbeSources {
  readiness(): Readiness;
  /** The metrics in Prometheus' text format, and its content type. */
  metrics(): Promise<{ readonly contentType: string; readonly text: string }>;
  /** The gatekeeper's answer for /metrics: an error to answer, or any object for a caller let in. */
  admitMetrics(authorization: string | undefined): ConnectError | object;
}

/** The plain-path hook of startApiServer: serves PROBE_PATHS, returns false for everything else. */
export function createProbePaths(sources: ProbeSources): (request: AnyRequest, response: AnyResponse) => boolean {
  return (request, response) => {
    const path = (request.url ?? "").split("?", 1)[0];
    if (!(PROBE_PATHS as readonly string[]).includes(path ?? "")) return false;
    if (request.method !== "GET" && request.method !== "HEAD") {
      answerError(response, 405, "unimplemented", `${path} answers GET only`, { allow: "GET, HEAD" });
      return true;
    }
    if (path === "/healthz") {
      // Answering at all is the proof: the event loop ran this.
      answer(response, 200, "ok");
    } else if (path === "/readyz") {
      const verdict = sources.readiness();
      if (verdict.ready) answer(response, 200, "ok");
      else answerError(response, 503, "unavailable", `not ready: ${verdict.reason}`);
    } else {
      serveMetrics(sources, request, response);
    }
    return true;
  };
}

function serveMetrics(sources: ProbeSources, request: AnyRequest, response: AnyResponse): void {
  const header = request.headers.authorization;
  const admitted = sources.admitMetrics(Array.isArray(header) ? header[0] : header);
  if (admitted instanceof ConnectError) {
    if (admitted.code === Code.PermissionDenied) {
      answerError(response, 403, "permission_denied", "/metrics needs an admin, operator or read-only token");
    } else {
      answerError(response, 401, "unauthenticated", `/metrics needs a bearer token: ${admitted.rawMessage}`, { "www-authenticate": 'Bearer realm="blixard"' });
    }
    return;
  }
  sources.metrics().then(
    ({ contentType, text }) => {
      if (response.headersSent || response.destroyed) return;
      response.writeHead(200, { "content-type": contentType, "cache-control": "no-store" });
      response.end(text);
    },
    (error: unknown) => {
      if (!response.headersSent && !response.destroyed) answerError(response, 500, "internal", `cannot collect metrics: ${(error as Error).message}`);
    },
  );
}

/**
 * An error answer: a Connect error body, {"code","message"} as application/json, as every other
 * error of the API has (docs/OPERATIONS.md, "Errors over HTTP"); the status is what probes read.
 */
function answerError(response: AnyResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  assert(status >= 400 && code !== "", "an error answer has an error status and a Connect code");
  const payload = Buffer.from(JSON.stringify({ code, message }));
  response.writeHead(status, { "content-type": "application/json", "content-length": String(payload.length), "cache-control": "no-store", ...headers });
  response.end(payload);
}

/** One line of text and a newline: what curl and a probe's log show. */
function answer(response: AnyResponse, status: number, line: string, headers: Record<string, string> = {}): void {
  assert(!line.includes("\n"), "a probe answers one line");
  response.writeHead(status, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store", ...headers });
  response.end(`${line}\n`);
}
