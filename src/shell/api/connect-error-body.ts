// The answers connect-node gives without a body (an unknown path: 404, a GET on a procedure: 405,
// no or a wrong content type: 415, a body too large: 413) get a Connect error body here:
// {"code":"...","message":"..."} as application/json, as every other error of the API has
// (docs/OPERATIONS.md, "Errors over HTTP"). Without it `curl -d '{"key":"k"}' .../KvService/Get`
// (no content type) prints nothing at all.
//
// The codes follow the Connect protocol's mapping of HTTP statuses where it has one (404:
// unimplemented); 405 is unimplemented too (the procedure exists, not over that method); 415 is
// invalid_argument (the request is wrong, not the server); 413 resource_exhausted.
import type http from "node:http";
import type http2 from "node:http2";

type AnyResponse = http.ServerResponse | http2.Http2ServerResponse;

/** The content types a procedure accepts over the Connect protocol (gRPC and gRPC-Web have their own). */
export const CONNECT_CONTENT_TYPES = ["application/json", "application/proto"] as const;

/** The Connect error body for an HTTP status that connect-node answers empty, or undefined when it is not one of those. */
export function connectErrorBodyFor(status: number, method: string, path: string, contentType: string | undefined): { readonly code: string; readonly message: string } | undefined {
  const shownPath = path.slice(0, PATH_SHOWN_CHARS_MAX);
  switch (status) {
    case 404:
      return { code: "unimplemented", message: `no such procedure: ${shownPath} (the API's procedures are POST /blixard.v1.<Service>/<Method>, docs/OPERATIONS.md)` };
    case 405:
      return { code: "unimplemented", message: `${method.slice(0, 16)} is not allowed on ${shownPath}: procedures take POST` };
    case 415: {
      const given = contentType === undefined || contentType === "" ? "no content type" : `content type "${contentType.slice(0, 100)}"`;
      return { code: "invalid_argument", message: `unsupported media type: ${given}; send content-type: ${CONNECT_CONTENT_TYPES.join(" or ")} (or gRPC, gRPC-Web)` };
    }
    case 413:
      return { code: "resource_exhausted", message: "request body too large" };
    default:
      return undefined;
  }
}
const PATH_SHOWN_CHARS_MAX = 200;

/**
 * Makes `response` carry a Connect error body when connect-node answers one of the statuses above
 * without a content type (its empty answers). Anything else passes through untouched.
 */
export function withConnectErrorBodies(request: { readonly method?: string; readonly url?: string; readonly headers: Record<string, string | string[] | undefined> }, response: AnyResponse): void {
  const writeHead = response.writeHead.bind(response) as (status: number, headers?: Record<string, unknown>) => AnyResponse;
  (response as { writeHead: unknown }).writeHead = (status: number, ...rest: unknown[]): AnyResponse => {
    const headers = rest.find((value) => typeof value === "object" && value !== null) as Record<string, unknown> | undefined;
    const hasContentType = headers !== undefined && Object.keys(headers).some((name) => name.toLowerCase() === "content-type");
    const contentType = request.headers["content-type"];
    const body = hasContentType || response.headersSent ? undefined : connectErrorBodyFor(status, request.method ?? "", (request.url ?? "").split("?", 1)[0]!, Array.isArray(contentType) ? contentType[0] : contentType);
    if (body === undefined) return (writeHead as (...args: unknown[]) => AnyResponse)(status, ...rest);
    const payload = Buffer.from(JSON.stringify(body));
    writeHead(status, { ...(headers ?? {}), "content-type": "application/json", "content-length": payload.length });
    // connect-node ends the response right after writeHead: the body goes out first.
    (response as http.ServerResponse).write(payload);
    return response;
  };
}
