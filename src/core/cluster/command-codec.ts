// The bytes of a cluster command, as proposed to Raft and sent by clients: canonical JSON
// (canonical-json.ts) in UTF-8, fields in schema order, so the same envelope always gives the
// same bytes. The decoder takes untrusted bytes and never throws: oversized, invalid UTF-8,
// not JSON, or not a valid command (validateEnvelope) each give a one-line error.

import { writeCanonical } from "./canonical-json.ts";
import { validateEnvelope } from "./command-validation.ts";
import { envelopeSchema } from "./schemas.ts";
import { CLUSTER_LIMITS, type CommandEnvelope } from "./types.ts";
import { assert } from "../assert.ts";

export { validateEnvelope };

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The canonical bytes of an envelope of the right shape (the proposer validates it first; a wrong shape is a programmer error). */
export function encodeEnvelope(envelope: CommandEnvelope): Uint8Array {
  const bytes = encoder.encode(writeCanonical(envelope, envelopeSchema));
  assert(bytes.length > 0, "encoded command is empty");
  return bytes;
}

/** The envelope in `bytes`, valid by validateEnvelope, or why not. */
export function decodeEnvelope(bytes: Uint8Array): CommandEnvelope | { readonly error: string } {
  if (bytes.length > CLUSTER_LIMITS.commandBytesMax) {
    return { error: `command: ${bytes.length} bytes exceeds the limit of ${CLUSTER_LIMITS.commandBytesMax}` };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(bytes));
  } catch (error) {
    const what = error instanceof TypeError ? "not valid UTF-8" : "not valid JSON";
    return { error: `command: ${what}` };
  }
  const invalid = validateEnvelope(parsed as CommandEnvelope);
  if (invalid !== undefined) return { error: invalid };
  return parsed as CommandEnvelope;
}

export function isDecodeError(decoded: CommandEnvelope | { readonly error: string }): decoded is { readonly error: string } {
  return Object.hasOwn(decoded, "error");
}
