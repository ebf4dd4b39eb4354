// Who a certificate names. A node's certificate carries its node id as a URI subject
// alternative name `blixard://node/<id>` (and CN `blixard-node-<id>` for people); a client's
// carries `blixard://client/<name>`. The transport trusts the URI, never the CN: the URI has
// one exact, parseable form, and a CA issues it only through `blixard ca issue`.
import type { PeerCertificate } from "node:tls";
import type { NodeId } from "../../core/raft/types.ts";

export const NODE_URI_PREFIX = "blixard://node/";
export const CLIENT_URI_PREFIX = "blixard://client/";
/** A client name: what `ca issue --client` accepts (and what a CN may hold without escaping). */
export const CLIENT_NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export function nodeUri(nodeId: NodeId): string {
  if (!Number.isSafeInteger(nodeId) || nodeId < 1) throw new Error(`node id ${nodeId} is not a positive integer`);
  return `${NODE_URI_PREFIX}${nodeId}`;
}

export function clientUri(name: string): string {
  if (!CLIENT_NAME_PATTERN.test(name)) throw new Error(`client name "${name}": use 1 to 64 letters, digits, '.', '_' or '-'`);
  return `${CLIENT_URI_PREFIX}${name}`;
}

/** The URIs in Node's `subjectaltname` text ("DNS:a, IP Address:1.2.3.4, URI:blixard://node/1"). */
export function subjectAltUris(subjectaltname: string | undefined): string[] {
  if (subjectaltname === undefined || subjectaltname === "") return [];
  const uris: string[] = [];
  // Node quotes (JSON-escapes) a name that holds a comma or quote; such a name is never ours.
  for (const part of subjectaltname.split(", ")) if (part.startsWith("URI:")) uris.push(part.slice("URI:".length));
  return uris;
}

/**
 * The node id a (verified) peer certificate names, or an error text: exactly one node URI, in
 * canonical decimal form (no sign, no leading zero), a safe positive integer.
 */
export function nodeIdOfCertificate(certificate: PeerCertificate | undefined): { ok: true; nodeId: NodeId } | { ok: false; error: string } {
  if (certificate === undefined || Object.keys(certificate).length === 0) return { ok: false, error: "no certificate presented" };
  const nodeUris = subjectAltUris(certificate.subjectaltname).filter((uri) => uri.startsWith(NODE_URI_PREFIX));
  if (nodeUris.length !== 1) return { ok: false, error: `the certificate names ${nodeUris.length} node ids (expected one ${NODE_URI_PREFIX}<id> URI)` };
  const text = nodeUris[0]!.slice(NODE_URI_PREFIX.length);
  if (!/^[1-9][0-9]{0,15}$/.test(text) || !Number.isSafeInteger(Number(text))) return { ok: false, error: `the certificate's node id "${text}" is not a positive integer` };
  return { ok: true, nodeId: Number(text) };
}
