// Who is calling, and may they: the check every API call passes before anything else, on every
// path (connect-node for Connect, gRPC and gRPC-Web; the unary fast path; the status fan-out
// between nodes carries the caller's own token). It authenticates the bearer token against the
// token book as applied on this node (plus the bootstrap tokens given by flag), then looks the
// method up in the one role table (method-roles.ts).
//   no token, a malformed one, an unknown, revoked, wrong or expired one  -> Unauthenticated
//   a valid token whose role the method does not allow                    -> PermissionDenied
// Both are "certainly not applied" (the outcome header says so). Unknown, revoked and wrong
// secret answer alike, so a caller cannot learn which token ids exist.
import { Code, type ConnectError } from "@connectrpc/connect";
import { checkPresentedToken, type Role, type TokenRecord } from "../../core/replica/token-book.ts";
import { notAppliedError } from "../api/outcome-codes.ts";
import { bearerFromHeader, parseToken, type PresentedToken } from "./bearer-token.ts";
import { METHOD_ROLES, rolesFor } from "./method-roles.ts";

/** The authenticated caller a handler receives. */
export interface Caller {
  readonly tokenId: string;
  readonly role: Role;
  /** The tenant a tenant token acts for ("" for other roles): tenant-scoped handlers filter by it. */
  readonly tenant: string;
  /** The Authorization header it came with, for calls this node makes on its behalf (the status fan-out). */
  readonly authorization: string;
}

export interface TokenLookup {
  /** The book's record for a token id as applied on this node, or undefined (unknown or revoked). */
  tokenRecord(id: string): TokenRecord | undefined;
}

export interface GatekeeperOptions {
  /** Admin tokens given to the node by flag (--bootstrap-token-hash): valid while the flag is given. */
  readonly bootstrapTokens?: readonly PresentedToken[];
  /** The wall clock, for expiry (tests pass their own). */
  readonly wallNowMs?: () => number;
  readonly table?: Readonly<Record<string, readonly Role[]>>;
  /** Test harness only (docs/PLANTED-BUGS.md); production never sets any. */
  readonly plantedBugs?: ReadonlySet<GatekeeperPlantedBug>;
}

/**
 * authenticate-without-authorize: a valid token of any role may call any method (the classic
 * bug of checking who is calling but not what they may do); the role matrix test catches it.
 */
export type GatekeeperPlantedBug = "authenticate-without-authorize";

/** Bootstrap tokens carry this creation stamp: they were made outside the cluster. */
const BOOTSTRAP_CREATED_AT_MS = 1;

export class Gatekeeper {
  private readonly bootstrap: ReadonlyMap<string, TokenRecord>;
  private readonly wallNowMs: () => number;
  private readonly table: Readonly<Record<string, readonly Role[]>>;
  private readonly skipAuthorization: boolean;

  constructor(
    private readonly lookup: TokenLookup,
    options: GatekeeperOptions = {},
  ) {
    this.bootstrap = new Map(
      (options.bootstrapTokens ?? []).map((token) => [token.id, { id: token.id, role: "admin", tenant: "", hashHex: token.hashHex, createdAtMs: BOOTSTRAP_CREATED_AT_MS, expiresAtMs: 0 }] as const),
    );
    this.wallNowMs = options.wallNowMs ?? Date.now;
    this.table = options.table ?? METHOD_ROLES;
    this.skipAuthorization = options.plantedBugs?.has("authenticate-without-authorize") === true;
  }

  /** The caller of `method` ("<package.Service>/<Method>") with this Authorization header, or the error to answer. */
  admit(method: string, authorization: string | null | undefined): Caller | ConnectError {
    const bearer = bearerFromHeader(authorization);
    if ("error" in bearer) return notAppliedError(bearer.error, Code.Unauthenticated);
    const presented = parseToken(bearer.text);
    if (presented === undefined) return notAppliedError('the bearer token is not a Blixard token ("blx_<id>_<secret>")', Code.Unauthenticated);
    const record = this.bootstrap.get(presented.id) ?? this.lookup.tokenRecord(presented.id);
    const verdict = checkPresentedToken(record, presented.hashHex, this.wallNowMs());
    if (!verdict.ok) {
      const why = verdict.reason === "expired" ? `token ${presented.id} has expired` : "unknown or revoked token";
      return notAppliedError(why, Code.Unauthenticated);
    }
    const roles = rolesFor(method, this.table);
    const caller: Caller = { tokenId: verdict.record.id, role: verdict.record.role, tenant: verdict.record.tenant, authorization: authorization! };
    if (this.skipAuthorization) return caller;
    if (roles === undefined) return notAppliedError(`${method} is not in the role table: refused`, Code.PermissionDenied);
    if (!roles.includes(caller.role)) return notAppliedError(`a ${caller.role} token may not call ${method} (allowed: ${roles.join(", ")})`, Code.PermissionDenied);
    return caller;
  }
}
