// What the VM, node and tenant services share: the cluster reads and commands through the one
// request path, refusals as Connect errors, the tenant scoping of a caller, and the checks of
// the fields every write carries (request id, expected generation).
//
// Tenant scoping (docs/VM-API.md, "Roles"): a tenant token acts for its own tenant only. Its
// tenant is forced onto every spec and filter; a request that NAMES another tenant is refused
// PermissionDenied (the caller asked for something its token may never do, and learns nothing
// by it: the answer is the same whether that tenant exists or not); a VM of another tenant
// reached by id is NotFound (it is invisible to the caller, as if absent).
import { Code, type HandlerContext } from "@connectrpc/connect";
import { assert } from "../../core/assert.ts";
import type { ClusterRead, ClusterReadAnswer } from "../../core/cluster/cluster-read.ts";
import { validateEnvelope } from "../../core/cluster/command-codec.ts";
import { CLUSTER_LIMITS, type ClusterCommand, type ClusterOkDetail, type ClusterView, type NodeId, type VmRecord, type VmSpec } from "../../core/cluster/types.ts";
import type { ClientRequest, RequestOutcome, RequestResult } from "../../core/replica/request-types.ts";
import type { Caller } from "../auth/gatekeeper.ts";
import type { ApiClients } from "./client.ts";
import { endpointUrl } from "./client.ts";
import { notAppliedError, outcomeError } from "./outcome-codes.ts";
import { apiFieldPath, rejectionError } from "./vm-rejection-codes.ts";
import type { NodeVmHost } from "../vm/node-vm-host.ts";

/** The tenant a spec or filter without one means, for callers that are not tenant tokens. */
export const DEFAULT_TENANT = "default";

/**
 * A client's request id, at most this many bytes: the service appends a suffix of its own to
 * each command of a multi-step call (":stop", ":start", "#2" for a retry), and the envelope
 * holds at most CLUSTER_LIMITS.requestIdBytesMax.
 */
export const API_REQUEST_ID_BYTES_MAX = 48;
const REQUEST_ID_SUFFIX_BYTES_MAX = CLUSTER_LIMITS.requestIdBytesMax - API_REQUEST_ID_BYTES_MAX;

/** What the services need of the node they run in (NodeRuntime has all of it). */
export interface VmApiHost {
  readonly nodeId: NodeId;
  submit(request: ClientRequest): Promise<RequestOutcome>;
  /** The applied state (serializable); its appliedIndex is that of the last CLUSTER command, not of the log. */
  readonly clusterView: ClusterView;
  /** raft.applied: the log index this node has applied (every kind of entry). */
  status(): { readonly raft: { readonly applied: number } };
  readonly vmHost: NodeVmHost | undefined;
  memberAddresses(id: NodeId): { readonly api: string } | undefined;
  clientsFor(endpoint: string): ApiClients;
}

export function invalidIf(problem: string | undefined): void {
  if (problem !== undefined) throw notAppliedError(problem, Code.InvalidArgument);
}

export function permissionDenied(message: string): never {
  throw notAppliedError(message, Code.PermissionDenied);
}

export function notFound(message: string): never {
  throw notAppliedError(message, Code.NotFound);
}

export function requireRequestId(requestId: string): string {
  invalidIf(Buffer.byteLength(requestId, "utf8") > API_REQUEST_ID_BYTES_MAX ? `request_id: at most ${API_REQUEST_ID_BYTES_MAX} bytes` : undefined);
  return requestId;
}

/** The request id of one step of a call ("" stays "": no idempotency asked for). */
export function stepRequestId(requestId: string, suffix: string): string {
  if (requestId === "") return "";
  assert(Buffer.byteLength(suffix, "utf8") <= REQUEST_ID_SUFFIX_BYTES_MAX, "a step suffix fits the envelope's request id");
  return `${requestId}${suffix}`;
}

export function requireCount(value: bigint, field: string): number {
  invalidIf(value > BigInt(Number.MAX_SAFE_INTEGER) ? `${field}: at most ${Number.MAX_SAFE_INTEGER}, got ${value}` : undefined);
  return Number(value);
}

/** The tenant a caller acts for given the tenant its request names ("" = none named). */
export function scopedTenant(caller: Caller, named: string): string {
  if (caller.role !== "tenant") return named === "" ? DEFAULT_TENANT : named;
  if (named !== "" && named !== caller.tenant) permissionDenied(`a tenant token of ${JSON.stringify(caller.tenant)} may not act for tenant ${JSON.stringify(named)}`);
  return caller.tenant;
}

/** The tenant filter of a list or watch: "" (all) for other roles, the caller's own for a tenant token. */
export function scopedFilter(caller: Caller, named: string): string {
  if (caller.role !== "tenant") return named;
  return scopedTenant(caller, named);
}

/** Whether the caller may see this VM at all. */
export function visibleTo(caller: Caller, vm: VmRecord): boolean {
  return caller.role !== "tenant" || vm.spec.tenant === caller.tenant;
}

export class VmApiCalls {
  constructor(readonly host: VmApiHost) {}

  /** A leader's API URL for error messages, or "". */
  private whereIs = (id: NodeId): string => {
    const api = this.host.memberAddresses(id)?.api;
    return api !== undefined && api !== "" ? endpointUrl(api) : "";
  };

  private async call<Kind extends RequestResult["kind"]>(request: ClientRequest, kind: Kind): Promise<Extract<RequestResult, { kind: Kind }>> {
    const outcome = await this.host.submit(request);
    if (outcome.status !== "ok") throw outcomeError(outcome, this.whereIs);
    assert(outcome.result.kind === kind, () => `a ${request.kind} request got a ${outcome.result.kind} result`);
    return outcome.result as Extract<RequestResult, { kind: Kind }>;
  }

  /** A linearizable read of the cluster state: its answer and the index it was answered at. */
  async read<What extends ClusterRead["what"]>(read: Extract<ClusterRead, { what: What }>): Promise<{ answer: Extract<ClusterReadAnswer, { what: What }>; index: number }> {
    const result = await this.call({ kind: "cluster-read", read }, "cluster-read");
    assert(result.answer.what === read.what, "a cluster read is answered in kind");
    return { answer: result.answer as Extract<ClusterReadAnswer, { what: What }>, index: result.index };
  }

  /**
   * Submits one command; its ok detail and index, or the refusal as an error (and a command
   * that the validation refuses before it is proposed, as InvalidArgument naming the field).
   */
  async command(body: ClusterCommand, requestId: string): Promise<{ detail: ClusterOkDetail; index: number }> {
    const envelope = { stampUs: Date.now() * 1000, requestId, body };
    const invalid = validateEnvelope(envelope);
    if (invalid !== undefined) throw rejectionError("invalid", invalid);
    const result = await this.call({ kind: "cluster", envelope }, "cluster");
    if (result.result.status === "rejected") throw rejectionError(result.result.code, result.result.message);
    return { detail: result.result.detail, index: result.index };
  }

  /** Why a create of this spec would be refused by the command validation ("spec.<field>: ..."), or undefined. */
  validateCreate(spec: VmSpec): string | undefined {
    const invalid = validateEnvelope({ stampUs: 0, requestId: "", body: { kind: "vm-create", spec, desired: "running" } });
    return invalid === undefined ? undefined : apiFieldPath(invalid);
  }

  /** A command whose ok detail is a VM. */
  async vmCommand(body: ClusterCommand, requestId: string): Promise<{ vm: VmRecord; index: number }> {
    const { detail, index } = await this.command(body, requestId);
    assert(detail.kind === "vm", () => `${body.kind} answers a vm, got ${detail.kind}`);
    return { vm: detail.vm, index };
  }

  /** The VM a caller names (by id, or by tenant and name), or NotFound. */
  async resolveVm(caller: Caller, ref: { tenant: string; name: string; id: bigint } | undefined): Promise<{ vm: VmRecord; index: number }> {
    const id = requireCount(ref?.id ?? 0n, "vm.id");
    const name = ref?.name ?? "";
    if (id === 0) {
      invalidIf(name === "" ? "vm: give a name (vm.name) or an id (vm.id)" : undefined);
      const tenant = scopedTenant(caller, ref?.tenant ?? "");
      invalidIf(name.length > CLUSTER_LIMITS.nameBytesMax ? `vm.name: at most ${CLUSTER_LIMITS.nameBytesMax} characters` : undefined);
      invalidIf(tenant.length > CLUSTER_LIMITS.nameBytesMax ? `vm.tenant: at most ${CLUSTER_LIMITS.nameBytesMax} characters` : undefined);
      const { answer, index } = await this.read({ what: "vm", tenant, name });
      if (answer.vm === null) notFound(`vm ${tenant}/${name} not found`);
      return { vm: answer.vm, index };
    }
    const tenant = caller.role === "tenant" ? scopedTenant(caller, ref?.tenant ?? "") : (ref?.tenant ?? "");
    const { answer, index } = await this.read({ what: "vms", tenant, afterId: id - 1, limit: 1 });
    const vm = answer.vms[0];
    if (vm === undefined || vm.id !== id || (name !== "" && vm.spec.name !== name) || !visibleTo(caller, vm)) notFound(`vm ${id} not found`);
    return { vm, index };
  }
}

const NEVER_ABORTED = new AbortController().signal;

/**
 * The call's abort signal. The unary fast path (connect-unary.ts) hands handlers a context with
 * the request headers only: there a call is never cancelled early, and its own deadlines bound it.
 */
export function signalOf(context: Pick<HandlerContext, "signal"> | Pick<HandlerContext, "requestHeader">): AbortSignal {
  return (context as Partial<HandlerContext>).signal ?? NEVER_ABORTED;
}

/** Sleeps ms, or less when the signal aborts (then resolves at once). */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
