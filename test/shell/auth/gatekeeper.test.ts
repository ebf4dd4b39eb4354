// The gatekeeper on its own: every way a token can be bad is Unauthenticated (unknown, revoked
// and wrong secret in the same words), a valid token without the role is PermissionDenied, a
// method missing from the table is refused, expiry follows the injected wall clock, and the
// bootstrap token is an admin. The role table's coverage check fails on a missing or stray row.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import type { TokenRecord } from "../../../src/core/replica/token-book.ts";
import { Gatekeeper, type Caller } from "../../../src/shell/auth/gatekeeper.ts";
import { authorizationHeader, bearerFromHeader, newToken, parseToken } from "../../../src/shell/auth/bearer-token.ts";
import { assertTableCovers, METHOD_ROLES } from "../../../src/shell/auth/method-roles.ts";
import { NODE_SERVICES } from "../../../src/shell/api/services.ts";
import { KvService } from "../../../src/shell/api/gen/blixard/v1/kv_pb.ts";

const GET = "blixard.v1.KvService/Get";
const PUT = "blixard.v1.KvService/Put";

function refusal(result: Caller | ConnectError): { code: string; message: string } {
  assert.ok(result instanceof ConnectError, `expected a refusal, got ${JSON.stringify(result)}`);
  return { code: Code[result.code], message: result.rawMessage };
}

describe("gatekeeper", () => {
  const readOnly = newToken();
  const expiring = newToken();
  const bootstrap = newToken();
  const book = new Map<string, TokenRecord>([
    [readOnly.id, { id: readOnly.id, role: "read-only", tenant: "", hashHex: readOnly.hashHex, createdAtMs: 1_000, expiresAtMs: 0 }],
    [expiring.id, { id: expiring.id, role: "operator", tenant: "", hashHex: expiring.hashHex, createdAtMs: 1_000, expiresAtMs: 5_000 }],
  ]);
  let nowMs = 2_000;
  const gate = new Gatekeeper({ tokenRecord: (id) => book.get(id) }, { bootstrapTokens: [bootstrap], wallNowMs: () => nowMs });

  test("no, malformed or foreign tokens are Unauthenticated", () => {
    for (const header of [undefined, null, "", "Basic abc", "Bearer", "Bearer not-a-token", `Bearer ${readOnly.text}x`, `Bearer ${"x".repeat(300)}`]) {
      assert.equal(refusal(gate.admit(GET, header)).code, "Unauthenticated", String(header));
    }
  });

  test("unknown, revoked and wrong-secret tokens answer alike; expired ones say so", () => {
    const unknown = newToken();
    const wrongSecret = `${readOnly.text.slice(0, 21)}${"A".repeat(43)}`;
    assert.ok(parseToken(wrongSecret)?.id === readOnly.id);
    const answers = [unknown.text, wrongSecret].map((text) => refusal(gate.admit(GET, authorizationHeader(text))));
    assert.deepEqual(answers, [
      { code: "Unauthenticated", message: "unknown or revoked token" },
      { code: "Unauthenticated", message: "unknown or revoked token" },
    ]);
    assert.ok(!(gate.admit(GET, authorizationHeader(expiring.text)) instanceof ConnectError));
    nowMs = 5_000;
    assert.deepEqual(refusal(gate.admit(GET, authorizationHeader(expiring.text))), { code: "Unauthenticated", message: `token ${expiring.id} has expired` });
    nowMs = 2_000;
    // Revoked: the record is gone from the book.
    book.delete(readOnly.id);
    assert.deepEqual(refusal(gate.admit(GET, authorizationHeader(readOnly.text))), { code: "Unauthenticated", message: "unknown or revoked token" });
    book.set(readOnly.id, { id: readOnly.id, role: "read-only", tenant: "", hashHex: readOnly.hashHex, createdAtMs: 1_000, expiresAtMs: 0 });
  });

  test("a valid token without the role is PermissionDenied; with it, the caller", () => {
    const caller = gate.admit(GET, authorizationHeader(readOnly.text));
    assert.ok(!(caller instanceof ConnectError));
    assert.deepEqual({ ...caller, authorization: "" }, { tokenId: readOnly.id, role: "read-only", tenant: "", authorization: "" });
    assert.deepEqual(refusal(gate.admit(PUT, authorizationHeader(readOnly.text))), { code: "PermissionDenied", message: `a read-only token may not call ${PUT} (allowed: admin, operator)` });
    assert.equal(refusal(gate.admit("blixard.v1.VmService/Teleport", authorizationHeader(bootstrap.text))).code, "PermissionDenied");
  });

  test("the bootstrap token is an admin", () => {
    for (const method of Object.keys(METHOD_ROLES)) assert.ok(!(gate.admit(method, authorizationHeader(bootstrap.text)) instanceof ConnectError), method);
  });

  test("the role table covers exactly the served methods: a missing or stray row fails", () => {
    assertTableCovers(NODE_SERVICES);
    const missing = Object.fromEntries(Object.entries(METHOD_ROLES).filter(([key]) => key !== PUT));
    assert.throws(() => assertTableCovers(NODE_SERVICES, missing), /KvService\/Put has no row/);
    assert.throws(() => assertTableCovers([KvService]), /ClusterService\/Status, which no service serves/);
    assert.throws(() => assertTableCovers(NODE_SERVICES, { ...METHOD_ROLES, [GET]: ["read-only"] }), /admin may do everything/);
  });

  test("bearer headers: the token is taken from 'Bearer <token>' only", () => {
    assert.deepEqual(bearerFromHeader(`bearer  ${readOnly.text}`), { text: readOnly.text });
    assert.ok("error" in bearerFromHeader(`Bearer ${readOnly.text} extra`));
    assert.equal(parseToken(readOnly.text)?.hashHex, readOnly.hashHex);
    assert.notEqual(newToken().text, newToken().text);
  });
});
