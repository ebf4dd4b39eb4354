// Who holds which bearer token: the token book, kept in the replicated key-value map under
// reserved keys "_blixard/token/<id>" (like the address book), so every node learns a new or
// revoked token through the log (and from a snapshot), with no second protocol. Written only by
// the admin requests token-create and token-revoke of the request path; kv put refuses reserved
// keys, and kv get refuses this prefix (the list goes through the admin-only token list).
//
// The core never sees a secret. A token is "blx_<id>_<secret>": the id is public (it names the
// record, the list shows it, revoke takes it), the secret is 256 random bits that only the
// holder knows. The shell hashes the secret (SHA-256, node:crypto) and the book stores the hash
// as opaque lowercase hex; authenticating compares hashes. Stamps are wall-clock milliseconds
// chosen by the node that served the create: data in the command, the same on every replica.
// Expiry is judged by the caller's wall clock (handed in), as certificates are: a node's clock
// error shortens or lengthens a token's life by that much (docs/SECURITY.md).

import { assert } from "../assert.ts";
import { RESERVED_KEY_PREFIX } from "./address-book.ts";

export const TOKEN_KEY_PREFIX = `${RESERVED_KEY_PREFIX}token/`;

/** Roles, most powerful first (docs/SECURITY.md, "Tokens and roles"). */
export const ROLES = ["admin", "operator", "tenant", "read-only"] as const;
export type Role = (typeof ROLES)[number];

/** Token ids: 16 lowercase hex digits (64 random bits; ids are public, collisions only make a create fail). */
const TOKEN_ID = /^[0-9a-f]{16}$/;
/** SHA-256 as 64 lowercase hex digits. */
const TOKEN_HASH = /^[0-9a-f]{64}$/;
/** Tenant names as the orchestrator spells them: lowercase letters, digits and '-', 1 to 63. */
const TENANT_NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/** Stamps are wall-clock milliseconds since 1970 (0 for "no expiry"); below 2^53. */
const STAMP_MS_MAX = Number.MAX_SAFE_INTEGER;
/** Upper bound on an encoded record (fits the client frame with room to spare). */
export const TOKEN_RECORD_BYTES_MAX = 512;
/** Upper bound on the tokens a list answers with (the map holds at most KV_KEYS_MAX keys in all). */
export const TOKENS_LISTED_MAX = 10_000;

export interface TokenRecord {
  readonly id: string;
  readonly role: Role;
  /** The tenant a tenant token acts for; "" for every other role. */
  readonly tenant: string;
  /** SHA-256 of the secret, lowercase hex. */
  readonly hashHex: string;
  readonly createdAtMs: number;
  /** 0: never expires. */
  readonly expiresAtMs: number;
}

export function tokenKey(id: string): string {
  return `${TOKEN_KEY_PREFIX}${id}`;
}

export function isTokenId(id: string): boolean {
  return TOKEN_ID.test(id);
}

export function isRole(text: string): text is Role {
  return (ROLES as readonly string[]).includes(text);
}

/** Why a record is not well formed, or undefined. */
export function validateTokenRecord(record: TokenRecord): string | undefined {
  if (!TOKEN_ID.test(record.id)) return "token id: must be 16 lowercase hex digits";
  if (!isRole(record.role)) return `role: must be one of ${ROLES.join(", ")}`;
  if (record.role === "tenant" && !TENANT_NAME.test(record.tenant)) return "tenant: a tenant token names its tenant (lowercase letters, digits and '-', 1 to 63)";
  if (record.role !== "tenant" && record.tenant !== "") return `tenant: only a tenant token names a tenant, not a ${record.role} token`;
  if (!TOKEN_HASH.test(record.hashHex)) return "hash: must be SHA-256 as 64 lowercase hex digits";
  if (!isStamp(record.createdAtMs) || record.createdAtMs === 0) return "created at: must be a positive whole number of milliseconds";
  if (!isStamp(record.expiresAtMs)) return "expires at: must be a whole number of milliseconds (0: never)";
  if (record.expiresAtMs !== 0 && record.expiresAtMs <= record.createdAtMs) return "expires at: must be after the creation stamp";
  return undefined;
}

function isStamp(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0 && value <= STAMP_MS_MAX;
}

/** Fixed field order, so equal records give equal bytes on every replica. */
export function encodeTokenRecord(record: TokenRecord): string {
  const invalid = validateTokenRecord(record);
  assert(invalid === undefined, () => `invalid token record: ${invalid}`);
  const text = JSON.stringify({ id: record.id, role: record.role, tenant: record.tenant, hash: record.hashHex, created: record.createdAtMs, expires: record.expiresAtMs });
  assert(text.length <= TOKEN_RECORD_BYTES_MAX, "a valid token record fits its byte limit");
  return text;
}

/** Parses a record written by encodeTokenRecord; anything else (including "": revoked) reads as absent. */
export function decodeTokenRecord(value: string): TokenRecord | undefined {
  if (value === "" || value.length > TOKEN_RECORD_BYTES_MAX) return undefined;
  let parsed: { id?: unknown; role?: unknown; tenant?: unknown; hash?: unknown; created?: unknown; expires?: unknown };
  try {
    parsed = JSON.parse(value) as typeof parsed;
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null) return undefined;
  const { id, role, tenant, hash, created, expires } = parsed;
  if (typeof id !== "string" || typeof role !== "string" || typeof tenant !== "string" || typeof hash !== "string") return undefined;
  if (typeof created !== "number" || typeof expires !== "number" || !isRole(role)) return undefined;
  const record: TokenRecord = { id, role, tenant, hashHex: hash, createdAtMs: created, expiresAtMs: expires };
  if (validateTokenRecord(record) !== undefined) return undefined;
  // Only the one encoding encodeTokenRecord writes: JSON with extra whitespace or another spelling of
  // a number is another byte string for the same record, and a frame must re-encode to its own bytes.
  return encodeTokenRecord(record) === value ? record : undefined;
}

export type TokenVerdict =
  | { readonly ok: true; readonly record: TokenRecord }
  /** Unknown, revoked, wrong secret or expired: the caller answers Unauthenticated with the reason. */
  | { readonly ok: false; readonly reason: "unknown" | "wrong-secret" | "expired" };

/**
 * Whether the presented secret's hash matches the record and the token is still valid at
 * `wallNowMs`. The comparison visits every character whatever the mismatch, so its time does
 * not say how much of a guessed hash was right.
 */
export function checkPresentedToken(record: TokenRecord | undefined, presentedHashHex: string, wallNowMs: number): TokenVerdict {
  if (record === undefined) return { ok: false, reason: "unknown" };
  if (!hashesEqual(record.hashHex, presentedHashHex)) return { ok: false, reason: "wrong-secret" };
  if (record.expiresAtMs !== 0 && wallNowMs >= record.expiresAtMs) return { ok: false, reason: "expired" };
  return { ok: true, record };
}

function hashesEqual(stored: string, presented: string): boolean {
  if (stored.length !== presented.length) return false;
  let difference = 0;
  for (let i = 0; i < stored.length; i++) difference |= stored.charCodeAt(i) ^ presented.charCodeAt(i);
  return difference === 0;
}
