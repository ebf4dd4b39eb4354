// The CLI's exit codes for API calls encode the outcome class: 1 when the request certainly had
// no effect, 3 when its outcome is unknown (deadline_exceeded from the node, or aborted: the
// Connect client's word for a connection reset after sending). A stub server answers each code,
// with the node's outcome header or without it: a code without the header was not said by a
// node (a proxy, the client library), so it proves nothing and reads as unknown.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import { codeToHttpStatus, errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { PutResponseSchema } from "../../../src/shell/api/gen/blixard/v1/kv_pb.ts";
import { EXIT_CONFLICT, EXIT_INVALID_INPUT, EXIT_NOT_APPLIED, EXIT_NOT_FOUND, EXIT_OUTCOME_UNKNOWN, EXIT_PERMISSION_DENIED, EXIT_UNAVAILABLE, runApiCall } from "../../../src/shell/cli/api-output.ts";
import { OUTCOME_HEADER } from "../../../src/shell/api/outcome-codes.ts";

describe("CLI exit codes by outcome class", () => {
  let server: http.Server;
  let endpoint: string;
  let answer: Code = Code.Unavailable;
  let header: string | undefined;

  before(async () => {
    server = http.createServer((request, response) => {
      request.resume();
      request.on("end", () => {
        const body = Buffer.from(errorToJsonBytes(new ConnectError("stub", answer), {}));
        const outcome: Record<string, string> = header === undefined ? {} : { [OUTCOME_HEADER]: header };
        response.writeHead(codeToHttpStatus(answer), { ...outcome, "content-type": "application/json", "content-length": body.length });
        response.end(body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.close();
    process.exitCode = 0;
  });

  for (const [code, said, exit] of [
    [Code.Unavailable, "not-applied", EXIT_UNAVAILABLE],
    [Code.ResourceExhausted, "not-applied", EXIT_NOT_APPLIED],
    [Code.FailedPrecondition, "not-applied", EXIT_CONFLICT],
    [Code.AlreadyExists, "not-applied", EXIT_CONFLICT],
    [Code.InvalidArgument, "not-applied", EXIT_INVALID_INPUT],
    [Code.NotFound, "not-applied", EXIT_NOT_FOUND],
    [Code.PermissionDenied, "not-applied", EXIT_PERMISSION_DENIED],
    [Code.Unauthenticated, "not-applied", EXIT_PERMISSION_DENIED],
    [Code.DeadlineExceeded, "unknown", EXIT_OUTCOME_UNKNOWN],
    [Code.Unavailable, undefined, EXIT_OUTCOME_UNKNOWN],
    [Code.ResourceExhausted, undefined, EXIT_OUTCOME_UNKNOWN],
    [Code.DeadlineExceeded, undefined, EXIT_OUTCOME_UNKNOWN],
    [Code.Aborted, undefined, EXIT_OUTCOME_UNKNOWN],
  ] as const) {
    test(`${Code[code]} ${said === undefined ? "without the outcome header" : `saying ${said}`} exits ${exit}`, async () => {
      answer = code;
      header = said;
      process.exitCode = 0;
      const write = process.stderr.write.bind(process.stderr);
      let stderr = "";
      process.stderr.write = ((chunk: string) => {
        stderr += chunk;
        return true;
      }) as typeof process.stderr.write;
      try {
        await runApiCall({ endpoint, output: "table", timeoutMs: "5000" }, PutResponseSchema, (clients) => clients.kv.put({ key: "k", value: "v" }), () => "");
      } finally {
        process.stderr.write = write;
      }
      assert.equal(process.exitCode, exit, stderr);
      process.exitCode = 0;
      assert.match(stderr, new RegExp(`^blixard: ${Code[code]}: stub`));
      if (exit === EXIT_OUTCOME_UNKNOWN) assert.match(stderr, /outcome unknown/);
    });
  }
});
