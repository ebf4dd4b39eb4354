// Where members listen: peer (Raft transport) and API addresses. The book is kept in
// the replicated key-value map itself, under reserved keys "_blixard/member/<id>",
// so every node learns a joining member's addresses through the log (and from a
// snapshot), with no second protocol. The bootstrap members' peer addresses also come
// from --initial-cluster, so the cluster can elect its first leader before any record exists.
import type { NodeId } from "../raft/types.ts";

export const RESERVED_KEY_PREFIX = "_blixard/";
const MEMBER_KEY_PREFIX = `${RESERVED_KEY_PREFIX}member/`;

export interface MemberAddresses {
  readonly peer: string;
  readonly api: string;
}

export function memberKey(id: NodeId): string {
  return `${MEMBER_KEY_PREFIX}${id}`;
}

export function encodeMemberAddresses(addresses: MemberAddresses): string {
  return JSON.stringify({ peer: addresses.peer, api: addresses.api });
}

/** Parses a record written by encodeMemberAddresses; anything else reads as absent. */
export function decodeMemberAddresses(value: string): MemberAddresses | undefined {
  if (value === "") return undefined;
  try {
    const parsed = JSON.parse(value) as { peer?: unknown; api?: unknown };
    if (typeof parsed.peer !== "string" || typeof parsed.api !== "string") return undefined;
    return { peer: parsed.peer, api: parsed.api };
  } catch {
    return undefined;
  }
}
