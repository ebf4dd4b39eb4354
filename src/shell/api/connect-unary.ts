// A lean server path for the most common call: a Connect-protocol unary request over
// HTTP/1.1 (what curl, the CLI and the benchmark send). connect-node handles every
// protocol through a general streaming machinery whose per-request cost (abort
// controllers, DOMExceptions, async iterables) dominated the leader's CPU under load
// (docs/BENCHMARKS.md). This path parses the body, calls the SAME service
// implementation, and writes the response or error exactly as the Connect protocol
// specifies (codes mapped to HTTP statuses, errors as {"code","message"} JSON), and
// honours the client's Connect-Timeout-Ms. Anything it does not cover (other protocols,
// HTTP/2, compression, GET requests, an unknown path) is left to connect-node.
import type http from "node:http";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { notAppliedError, unknownOutcomeError } from "./outcome-codes.ts";
import { REQUEST_BYTES_MAX } from "../../core/replica/request-types.ts";
import { STRICT_UTF8 } from "./strict-utf8.ts";
import { codeToHttpStatus, errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { create, fromBinary, fromJsonString, toBinary, toJsonString, type DescMessage, type DescService } from "@bufbuild/protobuf";

const CONTENT_TYPE = /^application\/(json|proto)(?:;\s*charset=utf-8)?$/i;

type UnaryImpl = (request: unknown, context: Pick<HandlerContext, "requestHeader">) => Promise<unknown>;

interface UnaryMethod {
  /** "<package.Service>/<Method>", the role table's key. */
  readonly key: string;
  readonly input: DescMessage;
  readonly output: DescMessage;
  readonly impl: UnaryImpl;
}

/** Returns a handler that serves what it covers and returns false for anything else. */
/** The gatekeeper's check on a method and an Authorization header: an error to answer, or a caller. */
export type Admit = (method: string, authorization: string | undefined) => ConnectError | object;

/**
 * `admit` runs on the headers before the body is read: a caller without a valid token or role
 * is answered at once (the implementations check again, so the connect-node path is covered too).
 */
export function createConnectUnaryHandler(
  services: ReadonlyArray<readonly [DescService, object]>,
  admit?: Admit,
): (request: http.IncomingMessage, response: http.ServerResponse) => boolean {
  const methods = new Map<string, UnaryMethod>();
  for (const [service, implementation] of services) {
    for (const method of service.methods) {
      const impl = (implementation as Record<string, unknown>)[method.localName];
      if (method.methodKind !== "unary" || typeof impl !== "function") continue;
      methods.set(`/${service.typeName}/${method.name}`, { key: `${service.typeName}/${method.name}`, input: method.input, output: method.output, impl: impl.bind(implementation) as UnaryImpl });
    }
  }
  return (request, response) => {
    if (request.method !== "POST" || request.url === undefined) return false;
    const method = methods.get(request.url);
    if (method === undefined) return false;
    const headers = request.headers;
    const contentType = headers["content-type"];
    const match = contentType === undefined ? null : CONTENT_TYPE.exec(contentType);
    if (match === null) return false;
    if (headers["content-encoding"] !== undefined || headers["connect-content-encoding"] !== undefined) return false;
    const timeoutHeader = headers["connect-timeout-ms"];
    if (timeoutHeader !== undefined && (typeof timeoutHeader !== "string" || !/^\d{1,10}$/.test(timeoutHeader))) return false;
    const protocolVersion = headers["connect-protocol-version"];
    if (protocolVersion !== undefined && protocolVersion !== "1") return false;
    const json = match[1]!.toLowerCase() === "json";
    if (admit !== undefined) {
      const authorization = headers.authorization;
      const admitted = admit(method.key, typeof authorization === "string" ? authorization : undefined);
      if (admitted instanceof ConnectError) {
        request.resume(); // the body is not read: drain it so the connection can be reused
        writeError(response, admitted);
        return true;
      }
    }
    serve(method, json, timeoutHeader === undefined ? undefined : Number(timeoutHeader), request, response);
    return true;
  };
}

function serve(method: UnaryMethod, json: boolean, timeoutMs: number | undefined, request: http.IncomingMessage, response: http.ServerResponse): void {
  const chunks: Buffer[] = [];
  let sizeBytes = 0;
  let refused = false;
  request.on("data", (chunk: Buffer) => {
    sizeBytes += chunk.length;
    if (sizeBytes > REQUEST_BYTES_MAX && !refused) {
      refused = true;
      writeError(response, notAppliedError(`message size ${sizeBytes} is larger than configured readMaxBytes ${REQUEST_BYTES_MAX}`, Code.ResourceExhausted));
    }
    if (!refused) chunks.push(chunk);
  });
  request.on("error", () => response.destroy());
  request.on("end", () => {
    if (refused) return;
    const body = Buffer.concat(chunks);
    let input: unknown;
    try {
      input = json ? fromJsonString(method.input, STRICT_UTF8.decode(body)) : fromBinary(method.input, body);
    } catch (error) {
      // The same words as connect-node, so both paths answer alike.
      const reason = (error as Error).message;
      const message = reason.startsWith("cannot decode") ? reason : `cannot decode message ${method.input.typeName} from ${json ? "JSON" : "binary"}: ${reason}`;
      writeError(response, notAppliedError(message, Code.InvalidArgument));
      return;
    }
    const requestHeader = new Headers();
    for (const [name, value] of Object.entries(request.headers)) {
      if (typeof value === "string") requestHeader.set(name, value);
    }
    // The client's deadline (Connect-Timeout-Ms): past it the answer is deadline_exceeded,
    // as connect-node gives; the operation itself may still complete (its outcome is unknown).
    let deadline: NodeJS.Timeout | undefined;
    if (timeoutMs !== undefined) {
      deadline = setTimeout(() => writeError(response, unknownOutcomeError("the operation timed out")), timeoutMs);
    }
    method.impl(input, { requestHeader }).then(
      (result) => {
        clearTimeout(deadline);
        if (response.headersSent) return;
        const message = create(method.output, result as never);
        const payload = json ? Buffer.from(toJsonString(method.output, message)) : Buffer.from(toBinary(method.output, message));
        response.writeHead(200, { "content-type": json ? "application/json" : "application/proto", "content-length": payload.length });
        response.end(payload);
      },
      (error: unknown) => {
        clearTimeout(deadline);
        if (!response.headersSent) writeError(response, ConnectError.from(error));
      },
    );
  });
}

function writeError(response: http.ServerResponse, error: ConnectError): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const payload = Buffer.from(errorToJsonBytes(error, {}));
  // The error's metadata travels as response headers (Connect's unary protocol), as connect-node sends it.
  const headers: Record<string, string | number> = {};
  error.metadata.forEach((value, name) => (headers[name] = value));
  response.writeHead(codeToHttpStatus(error.code), { ...headers, "content-type": "application/json", "content-length": payload.length });
  response.end(payload);
}
