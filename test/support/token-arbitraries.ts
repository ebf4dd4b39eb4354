// fast-check arbitraries of token book records, for the token book's and the client codec's tests.
import fc from "fast-check";
import { ROLES, type TokenRecord } from "../../src/core/replica/token-book.ts";

export const lowerHex = (length: number): fc.Arbitrary<string> => fc.string({ unit: fc.constantFrom(..."0123456789abcdef"), minLength: length, maxLength: length });
const tenant = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,20}[a-z0-9])?$/);

/** Valid records: a tenant only on tenant tokens, expiry 0 or after creation. */
export const tokenRecord: fc.Arbitrary<TokenRecord> = fc
  .record({ id: lowerHex(16), role: fc.constantFrom(...ROLES), tenant, hashHex: lowerHex(64), createdAtMs: fc.integer({ min: 1, max: 2 ** 45 }), lifeMs: fc.integer({ min: 0, max: 2 ** 40 }) })
  .map(({ id, role, tenant, hashHex, createdAtMs, lifeMs }) => ({ id, role, tenant: role === "tenant" ? tenant : "", hashHex, createdAtMs, expiresAtMs: lifeMs === 0 ? 0 : createdAtMs + lifeMs }));
