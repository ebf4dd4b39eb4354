// Bearer tokens as text: "blx_<id>_<secret>", where the id (16 hex digits, 64 random bits) is
// public and names the record in the token book (src/core/replica/token-book.ts), and the
// secret is 256 random bits (43 base64url characters) that only the holder knows. The book
// stores SHA-256 of the secret. A plain hash is enough, and a slow password hash would only cost
// CPU on every request: the secret is random and 256 bits long, so there is no dictionary to try
// and a preimage search is out of reach (docs/SECURITY.md).
import { createHash, randomBytes } from "node:crypto";

const TOKEN_TEXT = /^blx_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const SECRET_BYTES = 32;
const ID_BYTES = 8;
/** Longer Authorization headers are refused before any parsing. */
export const AUTHORIZATION_HEADER_BYTES_MAX = 256;

export interface PresentedToken {
  readonly id: string;
  /** SHA-256 of the secret, lowercase hex: what the book compares. */
  readonly hashHex: string;
}

export interface NewToken extends PresentedToken {
  /** The whole bearer token, to hand to its holder once. */
  readonly text: string;
}

export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}

/** A fresh token from the operating system's random source. */
export function newToken(): NewToken {
  const id = randomBytes(ID_BYTES).toString("hex");
  const secret = randomBytes(SECRET_BYTES).toString("base64url");
  const text = `blx_${id}_${secret}`;
  if (!TOKEN_TEXT.test(text)) throw new Error("a new token does not match the token syntax");
  return { id, hashHex: hashSecret(secret), text };
}

/** The id and secret hash of a token's text, or undefined when it is not a Blixard token. */
export function parseToken(text: string): PresentedToken | undefined {
  const match = TOKEN_TEXT.exec(text);
  if (match === null) return undefined;
  return { id: match[1]!, hashHex: hashSecret(match[2]!) };
}

/** "Bearer <token>" -> the token's text, or an error message (the caller answers Unauthenticated). */
export function bearerFromHeader(header: string | null | undefined): { readonly text: string } | { readonly error: string } {
  if (header === null || header === undefined || header === "") {
    return { error: "no bearer token: pass --token, set BLIXARD_TOKEN or use a context (docs/SECURITY.md, \"Tokens and roles\")" };
  }
  if (header.length > AUTHORIZATION_HEADER_BYTES_MAX) return { error: `the authorization header is longer than ${AUTHORIZATION_HEADER_BYTES_MAX} characters` };
  const match = /^Bearer +(\S+)$/i.exec(header.trim());
  if (match === null) return { error: 'the authorization header is not "Bearer <token>"' };
  return { text: match[1]! };
}

/** The header value that carries a token. */
export function authorizationHeader(tokenText: string): string {
  return `Bearer ${tokenText}`;
}
