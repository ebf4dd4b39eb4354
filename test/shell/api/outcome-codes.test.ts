// The outcome classes as codes: every "certainly not applied" reason maps to a code a client
// reads as not applied, every unknown outcome to deadline_exceeded, and the two never share a
// code; aborted (what the Connect client reports for a reset connection) is never answered by
// a node and reads as unknown.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { codeForNotApplied, OUTCOME_HEADER, outcomeClassOfCode, outcomeClassOfError, outcomeError } from "../../../src/shell/api/outcome-codes.ts";
import { NOT_APPLIED_REASONS, UNKNOWN_REASONS } from "../../../src/core/replica/request-types.ts";

describe("outcome codes", () => {
  test("not-applied reasons map to not-applied codes, never deadline_exceeded or aborted", () => {
    for (const reason of NOT_APPLIED_REASONS) {
      const code = codeForNotApplied(reason);
      assert.notEqual(code, Code.DeadlineExceeded, reason);
      assert.notEqual(code, Code.Aborted, reason);
      assert.equal(outcomeClassOfCode(code), "not-applied", reason);
      assert.equal(outcomeError({ status: "not-applied", reason, leaderHint: 0, detail: "d" }).code, code);
    }
  });

  test("every unknown outcome is deadline_exceeded, and reads back as unknown", () => {
    for (const reason of UNKNOWN_REASONS) {
      const error = outcomeError({ status: "unknown", reason, detail: "it may or may not have been applied" });
      assert.equal(error.code, Code.DeadlineExceeded, reason);
      assert.match(error.rawMessage, /^outcome unknown/);
      assert.equal(outcomeClassOfCode(error.code), "unknown");
    }
  });

  test("the Connect client's own connection errors: reset is unknown, refused is not applied", () => {
    assert.equal(outcomeClassOfCode(Code.Aborted), "unknown");
    assert.equal(outcomeClassOfCode(Code.Internal), "unknown");
    assert.equal(outcomeClassOfCode(Code.Unavailable), "not-applied");
  });

  test("a node's errors say their class in a header, and the client believes the header over the code", () => {
    for (const reason of NOT_APPLIED_REASONS) {
      const error = outcomeError({ status: "not-applied", reason, leaderHint: 0, detail: "d" });
      assert.equal(error.metadata.get(OUTCOME_HEADER), "not-applied", reason);
      assert.equal(outcomeClassOfError(error), "not-applied", reason);
    }
    for (const reason of UNKNOWN_REASONS) {
      const error = outcomeError({ status: "unknown", reason, detail: "d" });
      assert.equal(error.metadata.get(OUTCOME_HEADER), "unknown", reason);
      assert.equal(outcomeClassOfError(error), "unknown", reason);
    }
  });

  test("without the header, only a connection never made is not applied: the client library's unavailable after a timeout or a reset is unknown", () => {
    const made = (message: string, code: Code, cause?: unknown): ConnectError => new ConnectError(message, code, undefined, undefined, cause);
    assert.equal(outcomeClassOfError(made("connect ECONNREFUSED 127.0.0.1:8001", Code.Unavailable)), "not-applied");
    assert.equal(outcomeClassOfError(made("fetch failed", Code.Unavailable, Object.assign(new Error("x"), { code: "ENOTFOUND" }))), "not-applied");
    assert.equal(outcomeClassOfError(made("read ETIMEDOUT", Code.Unavailable)), "unknown");
    assert.equal(outcomeClassOfError(made("socket hang up", Code.Unavailable)), "unknown");
    assert.equal(outcomeClassOfError(made("read ECONNRESET", Code.Aborted)), "unknown");
    assert.equal(outcomeClassOfError(made("the operation timed out", Code.DeadlineExceeded)), "unknown");
    // A code that would mean "not applied" from a node, but made up by something else: not believed.
    assert.equal(outcomeClassOfError(made("bad gateway", Code.Unavailable)), "unknown");
  });

  test("retry answers name the leader and its address", () => {
    const error = outcomeError({ status: "not-applied", reason: "not-leader", leaderHint: 2, detail: "not the leader" }, (id) => `http://h:${id}`);
    assert.equal(error.code, Code.Unavailable);
    assert.match(error.rawMessage, /\[leader: node 2 at http:\/\/h:2\]/);
    const refused = outcomeError({ status: "not-applied", reason: "invalid-conf-change", leaderHint: 2, detail: "invalid membership change: x" });
    assert.equal(refused.rawMessage, "invalid membership change: x");
  });
});
