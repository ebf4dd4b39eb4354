// The check the API tests make of a refused call: its Connect code, its message, and the outcome
// header the node sets (a client library never makes it up): "unknown" for a deadline, else
// "not-applied".
import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { OUTCOME_HEADER } from "../../src/shell/api/outcome-codes.ts";

export async function expectCode(call: Promise<unknown>, code: Code, pattern: RegExp): Promise<void> {
  await assert.rejects(call, (error: unknown) => {
    const connect = ConnectError.from(error);
    assert.equal(Code[connect.code], Code[code], connect.rawMessage);
    assert.match(connect.rawMessage, pattern);
    assert.equal(connect.metadata.get(OUTCOME_HEADER), code === Code.DeadlineExceeded ? "unknown" : "not-applied", connect.rawMessage);
    return true;
  });
}
