// The token book's records: every valid record round-trips byte for byte; malformed, oversized
// or inconsistent records read as absent (never throw); a presented hash is accepted only when
// it matches and the token has not expired at the given wall-clock instant.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { checkPresentedToken, decodeTokenRecord, encodeTokenRecord, TOKEN_KEY_PREFIX, tokenKey, validateTokenRecord, type TokenRecord } from "../../../src/core/replica/token-book.ts";
import { tokenRecord } from "../../support/token-arbitraries.ts";

const base: TokenRecord = { id: "0123456789abcdef", role: "operator", tenant: "", hashHex: "a".repeat(64), createdAtMs: 1_000, expiresAtMs: 0 };

describe("token book", () => {
  test("records live under the reserved token prefix", () => {
    assert.equal(tokenKey(base.id), `${TOKEN_KEY_PREFIX}${base.id}`);
    assert.ok(TOKEN_KEY_PREFIX.startsWith("_blixard/"));
  });

  test("every valid record round-trips, and equal records encode equally", () => {
    fc.assert(
      fc.property(tokenRecord, (record) => {
        assert.equal(validateTokenRecord(record), undefined);
        const encoded = encodeTokenRecord(record);
        assert.deepEqual(decodeTokenRecord(encoded), record);
        assert.equal(encodeTokenRecord(decodeTokenRecord(encoded)!), encoded);
      }),
      { numRuns: 1_000 },
    );
  });

  test("inconsistent records are invalid, naming the field", () => {
    const cases: Array<[Partial<TokenRecord>, RegExp]> = [
      [{ id: "XYZ" }, /^token id/],
      [{ role: "root" as TokenRecord["role"] }, /^role/],
      [{ role: "tenant", tenant: "" }, /^tenant: a tenant token names/],
      [{ role: "tenant", tenant: "Acme!" }, /^tenant/],
      [{ role: "admin", tenant: "acme" }, /^tenant: only a tenant token/],
      [{ hashHex: "A".repeat(64) }, /^hash/],
      [{ createdAtMs: 0 }, /^created at/],
      [{ expiresAtMs: 500 }, /^expires at: must be after/],
      [{ expiresAtMs: 1.5 }, /^expires at/],
    ];
    for (const [change, pattern] of cases) assert.match(validateTokenRecord({ ...base, ...change }) ?? "valid", pattern, JSON.stringify(change));
  });

  test("anything that is not an encoded record reads as absent, never throws", () => {
    for (const text of ["", "{", "null", "[]", "42", '{"id":"0123456789abcdef"}', `${encodeTokenRecord(base)} `.repeat(40)]) assert.equal(decodeTokenRecord(text), undefined, text);
    fc.assert(fc.property(fc.string({ maxLength: 600 }), (text) => void decodeTokenRecord(text)), { numRuns: 2_000 });
    // A record whose fields are individually fine but inconsistent is absent too.
    assert.equal(decodeTokenRecord(encodeTokenRecord(base).replace('"tenant":""', '"tenant":"acme"')), undefined);
  });

  test("a presented hash: unknown, wrong secret, expired at the instant of expiry, else ok", () => {
    const expiring: TokenRecord = { ...base, expiresAtMs: 2_000 };
    assert.deepEqual(checkPresentedToken(undefined, base.hashHex, 0), { ok: false, reason: "unknown" });
    assert.deepEqual(checkPresentedToken(base, "b".repeat(64), 0), { ok: false, reason: "wrong-secret" });
    assert.deepEqual(checkPresentedToken(base, base.hashHex.slice(1), 0), { ok: false, reason: "wrong-secret" });
    assert.deepEqual(checkPresentedToken(expiring, base.hashHex, 1_999), { ok: true, record: expiring });
    assert.deepEqual(checkPresentedToken(expiring, base.hashHex, 2_000), { ok: false, reason: "expired" });
    assert.deepEqual(checkPresentedToken(base, base.hashHex, Number.MAX_SAFE_INTEGER), { ok: true, record: base });
  });
});
