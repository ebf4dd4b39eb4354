// VmService (proto/blixard/v1/vm.proto, docs/VM-API.md): the orchestrator's VMs through the one
// request path. Reads are linearizable cluster reads (ReadIndex on the leader) except the dry run
// of a spec that names no VM yet (planned against this node's applied state). Writes read the
// record first and submit with its generation; start, stop, delete and migrate retry a bounded
// number of times when the controller changed the record in between (stale-generation), unless
// the client passed its own expected generation (then a stale one is the client's answer).
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { assert } from "../../core/assert.ts";
import { CLUSTER_PAGE_MAX } from "../../core/cluster/cluster-read.ts";
import type { ClusterCommand, ClusterEvent, DesiredState, NodeId, VmPhase, VmRecord, VmSpec } from "../../core/cluster/types.ts";
import { schedule } from "../../core/scheduler/schedule.ts";
import { DEFAULT_SCHEDULER_OPTIONS, type ScheduleDecision } from "../../core/scheduler/scheduler-types.ts";
import type { Caller, Gatekeeper } from "../auth/gatekeeper.ts";
import { guardService } from "../auth/guarded-service.ts";
import { CONSOLE_READ_BYTES_MAX } from "../vm/node-vm-host.ts";
import { endpointUrl } from "./client.ts";
import {
  EvictionEntrySchema,
  FilterExclusionSchema,
  VmService,
  VmServicePlanResponseSchema,
  type VmRef,
  type VmServiceConsoleResponse,
  type VmServicePlanResponse,
  type VmServiceWatchResponse,
} from "./gen/blixard/v1/vm_pb.ts";
import { notAppliedError } from "./outcome-codes.ts";
import { REJECTION_HEADER } from "./vm-rejection-codes.ts";
import { eventToProto, specFromProto, vmToProto } from "./vm-proto.ts";
import { hypotheticalVm, HYPOTHETICAL_VM_ID, viewWithVm } from "./vm-plan-view.ts";
import { invalidIf, notFound, pause, signalOf, requireCount, requireRequestId, scopedFilter, scopedTenant, stepRequestId, VmApiCalls, type VmApiHost } from "./vm-api-calls.ts";
import { isDnsLabel } from "./vm-spec-input.ts";

/** Attempts of a write the service retries on stale-generation (the controller moved the record on). */
export const STALE_RETRIES_MAX = 5;
/** Cluster-read pages one List call scans at most (so a filter that matches little stays bounded). */
export const LIST_SCAN_PAGES_MAX = 20;
/** Restart: how long it waits for the stop by default, and at most. */
export const RESTART_STOP_TIMEOUT_MS_DEFAULT = 30_000;
export const RESTART_STOP_TIMEOUT_MS_MAX = 600_000;
/** Watch and console follow: how often they look again when caught up. */
export const STREAM_POLL_MS = 200;
/** A Watch or a followed Console ends after this long; the client resumes from the last index or offset. */
export const STREAM_DURATION_MS_MAX = 60 * 60 * 1000;
/** VM ids a tenant-scoped watch remembers the tenant of (the stream's own cache). */
const WATCH_TENANT_CACHE_MAX = 100_000;

const PHASES: readonly VmPhase[] = ["pending", "scheduled", "starting", "running", "stopping", "stopped", "failed", "deleting"];
const DNS_LABEL_MESSAGE = "must be a DNS label (RFC 1123: 1-63 lowercase letters, digits or '-', starting and ending with a letter or digit)";

function pageLimit(limit: number, field: string): number {
  invalidIf(limit > CLUSTER_PAGE_MAX ? `${field}: at most ${CLUSTER_PAGE_MAX}, got ${limit}` : undefined);
  return limit === 0 ? CLUSTER_PAGE_MAX : limit;
}

function parseLabelFilter(text: string): { key: string; value: string } | undefined {
  if (text === "") return undefined;
  const at = text.indexOf("=");
  invalidIf(at <= 0 ? `label: "${text.slice(0, 80)}" is not key=value` : undefined);
  return { key: text.slice(0, at), value: text.slice(at + 1) };
}

function planResponse(decision: ScheduleDecision, checkIndex: number, vmId: number): VmServicePlanResponse {
  const base = { checkIndex: BigInt(checkIndex), decision: decision.kind, vmId: BigInt(vmId) };
  switch (decision.kind) {
    case "placed":
      return create(VmServicePlanResponseSchema, { ...base, nodeId: BigInt(decision.nodeId), score: BigInt(Math.max(0, Math.trunc(decision.score))), explanation: `fits on node ${decision.nodeId}` });
    case "preempting":
      return create(VmServicePlanResponseSchema, {
        ...base,
        nodeId: BigInt(decision.nodeId),
        explanation: decision.explanation,
        evictions: decision.evictions.map((e) => create(EvictionEntrySchema, { vmId: BigInt(e.vmId), expectedGeneration: BigInt(e.expectedGeneration), forVmId: BigInt(e.forVmId) })),
      });
    case "unplaceable":
      return create(VmServicePlanResponseSchema, {
        ...base,
        explanation: decision.explanation,
        exclusions: decision.exclusions.map((x) => create(FilterExclusionSchema, { filter: x.filter, nodes: x.nodes })),
      });
  }
}

/** The spec of a create or plan, with the caller's tenant forced on it and the name checked. */
function scopedSpec(caller: Caller, spec: VmSpec): VmSpec {
  const tenant = scopedTenant(caller, spec.tenant);
  invalidIf(!isDnsLabel(spec.name) ? `spec.name: ${DNS_LABEL_MESSAGE}` : undefined);
  return { ...spec, tenant };
}

function isStale(error: unknown): boolean {
  return error instanceof ConnectError && error.metadata.get(REJECTION_HEADER) === "stale-generation";
}

/**
 * Test harness only (docs/PLANTED-BUGS.md); production never sets any. tenant-scope-ignored: the
 * handlers forget the caller's tenant (a tenant token acts like an operator within the methods its
 * role may call), the classic multi-tenant bug; the tenant isolation test must catch it.
 */
export type VmServicePlantedBug = "tenant-scope-ignored";

export interface VmServiceOptions {
  readonly plantedBugs?: ReadonlySet<VmServicePlantedBug>;
}

/** The handlers with every tenant caller seen as an operator (the planted bug). */
function withoutTenantScope<H extends object>(handlers: H): H {
  const unscoped = (caller: Caller): Caller => (caller.role === "tenant" ? { ...caller, role: "operator", tenant: "" } : caller);
  return Object.fromEntries(
    Object.entries(handlers).map(([name, handler]) => [name, (request: unknown, caller: Caller, context: HandlerContext) => (handler as (r: unknown, c: Caller, x: HandlerContext) => unknown)(request, unscoped(caller), context)]),
  ) as H;
}

export function createVmService(host: VmApiHost, gate: Gatekeeper, options: VmServiceOptions = {}) {
  const calls = new VmApiCalls(host);
  const scoped = options.plantedBugs?.has("tenant-scope-ignored") === true ? withoutTenantScope : <H>(handlers: H): H => handlers;

  /**
   * A write against the VM's current generation: reads it, submits `body(vm, generation)`, and
   * on stale-generation reads again (at most STALE_RETRIES_MAX attempts) unless the client gave
   * its own expected generation. Each attempt has its own request id (a refused command is not
   * remembered by id, an applied one is: a retried call is applied once).
   */
  async function writeVm(
    caller: Caller,
    ref: VmRef | undefined,
    expectedGeneration: bigint,
    requestId: string,
    body: (vm: VmRecord, generation: number) => ClusterCommand,
  ): Promise<{ vm: VmRecord; index: number }> {
    const expected = requireCount(expectedGeneration, "expected_generation");
    requireRequestId(requestId);
    for (let attempt = 1; ; attempt++) {
      const { vm } = await calls.resolveVm(caller, ref);
      try {
        return await calls.vmCommand(body(vm, expected !== 0 ? expected : vm.generation), attempt === 1 ? requestId : stepRequestId(requestId, `#${attempt}`));
      } catch (error) {
        if (!isStale(error) || expected !== 0 || attempt >= STALE_RETRIES_MAX) throw error;
      }
    }
  }

  const setDesired = (caller: Caller, ref: VmRef | undefined, expectedGeneration: bigint, requestId: string, desired: DesiredState) =>
    writeVm(caller, ref, expectedGeneration, requestId, (vm, generation) => ({ kind: "vm-set-desired", vmId: vm.id, expectedGeneration: generation, desired }));

  /** The node whose files hold a VM's console: where it is, else where it last was. */
  const consoleNodeOf = (vm: VmRecord): NodeId => (vm.nodeId !== 0 ? vm.nodeId : vm.token.nodeId);

  async function* consoleHere(vm: VmRecord, offset: number, follow: boolean, signal: AbortSignal): AsyncGenerator<VmServiceConsoleResponse> {
    const vmHost = host.vmHost;
    if (vmHost === undefined) throw notAppliedError(`node ${host.nodeId} runs no VMs (no VM backend): no console here`, Code.FailedPrecondition);
    const deadline = Date.now() + STREAM_DURATION_MS_MAX;
    let position = offset;
    while (!signal.aborted && Date.now() < deadline) {
      const chunk = vmHost.readConsole(vm.id, position, CONSOLE_READ_BYTES_MAX);
      if (chunk === undefined) notFound(`node ${host.nodeId} has no console for vm ${vm.id}`);
      assert(chunk.nextOffset >= position, "a console read never goes back");
      if (chunk.text !== "" || (!follow && chunk.nextOffset >= chunk.sizeBytes)) {
        yield { $typeName: "blixard.v1.VmServiceConsoleResponse", text: chunk.text, nextOffset: BigInt(chunk.nextOffset), sizeBytes: BigInt(chunk.sizeBytes), nodeId: BigInt(host.nodeId) };
      }
      position = chunk.nextOffset;
      if (position >= chunk.sizeBytes) {
        if (!follow) return;
        await pause(STREAM_POLL_MS, signal);
      }
    }
  }

  return guardService(VmService, gate, scoped({
    async create(request, caller) {
      const requestId = requireRequestId(request.requestId);
      const spec = scopedSpec(caller, specFromProto(request.spec));
      const { vm, index } = await calls.vmCommand({ kind: "vm-create", spec, desired: request.createStopped ? "stopped" : "running" }, requestId);
      return { vm: vmToProto(vm), index: BigInt(index) };
    },

    async plan(request, caller) {
      const requestId = requireRequestId(request.requestId);
      const spec = scopedSpec(caller, specFromProto(request.spec));
      const existing = (await calls.read({ what: "vm", tenant: spec.tenant, name: spec.name })).answer.vm;
      if (existing === null) {
        if (request.commit) throw notAppliedError(`vm ${spec.tenant}/${spec.name} does not exist: create it (a plan of a new spec cannot be committed)`, Code.FailedPrecondition);
        // The same checks a create would meet first, naming the field.
        const invalid = calls.validateCreate(spec);
        invalidIf(invalid);
        const view = viewWithVm(host.clusterView, hypotheticalVm(spec));
        const plan = schedule(view, [HYPOTHETICAL_VM_ID], DEFAULT_SCHEDULER_OPTIONS);
        return planResponse(plan.decisions[0]!, plan.appliedIndex, 0);
      }
      const { answer } = await calls.read({ what: "plan", vmIds: [existing.id] });
      const response = planResponse(answer.plan.decisions[0]!, answer.checkIndex, existing.id);
      if (!request.commit) return response;
      if (answer.plan.placements.length === 0 && answer.plan.evictions.length === 0) {
        throw notAppliedError(`vm ${existing.id}: nothing to commit (${response.decision}: ${response.explanation})`, Code.FailedPrecondition);
      }
      const { detail, index } = await calls.command({ kind: "placements-commit", checkIndex: answer.checkIndex, placements: answer.plan.placements, evictions: answer.plan.evictions }, requestId);
      assert(detail.kind === "placements", "placements-commit answers placements");
      return { ...response, committed: true, commitIndex: BigInt(index), placed: detail.placed.map(BigInt), skipped: detail.skipped.map(BigInt) };
    },

    async get(request, caller) {
      const { vm, index } = await calls.resolveVm(caller, request.vm);
      return { vm: vmToProto(vm), index: BigInt(index) };
    },

    async list(request, caller) {
      const tenant = scopedFilter(caller, request.tenant);
      const nodeId = requireCount(request.nodeId, "node_id");
      invalidIf(request.phase !== "" && !(PHASES as readonly string[]).includes(request.phase) ? `phase: one of ${PHASES.join(", ")}` : undefined);
      const label = parseLabelFilter(request.label);
      const limit = pageLimit(request.limit, "limit");
      const matches = (vm: VmRecord): boolean =>
        (nodeId === 0 || vm.nodeId === nodeId) &&
        (request.phase === "" || vm.phase === request.phase) &&
        (label === undefined || vm.spec.constraints.some((c) => c.kind === "label" && c.key === label.key && c.value === label.value));
      const vms: VmRecord[] = [];
      let afterId = requireCount(request.cursor, "cursor");
      let index = 0;
      let more = true;
      for (let page = 0; page < LIST_SCAN_PAGES_MAX && more && vms.length < limit; page++) {
        const read = await calls.read({ what: "vms", tenant, afterId, limit: CLUSTER_PAGE_MAX });
        index = read.index;
        more = read.answer.more;
        for (const vm of read.answer.vms) {
          afterId = vm.id;
          if (!matches(vm)) continue;
          vms.push(vm);
          if (vms.length === limit) {
            // Stopped inside the page: the rest of it is the next page's.
            more = more || vm.id !== read.answer.vms[read.answer.vms.length - 1]!.id;
            break;
          }
        }
      }
      return { vms: vms.map(vmToProto), nextCursor: more ? BigInt(afterId) : 0n, index: BigInt(index) };
    },

    async start(request, caller) {
      const { vm, index } = await setDesired(caller, request.vm, request.expectedGeneration, request.requestId, "running");
      return { vm: vmToProto(vm), index: BigInt(index) };
    },

    async stop(request, caller) {
      const { vm, index } = await setDesired(caller, request.vm, request.expectedGeneration, request.requestId, "stopped");
      return { vm: vmToProto(vm), index: BigInt(index) };
    },

    async restart(request, caller, context: HandlerContext) {
      const timeoutMs = request.stopTimeoutMs === 0 ? RESTART_STOP_TIMEOUT_MS_DEFAULT : request.stopTimeoutMs;
      invalidIf(timeoutMs > RESTART_STOP_TIMEOUT_MS_MAX ? `stop_timeout_ms: at most ${RESTART_STOP_TIMEOUT_MS_MAX}` : undefined);
      requireRequestId(request.requestId);
      const stopped = await setDesired(caller, request.vm, request.expectedGeneration, stepRequestId(request.requestId, ":stop"), "stopped");
      // The agent stops it; the record says when (stopped, or failed when it can never run).
      const ref = { $typeName: "blixard.v1.VmRef", tenant: stopped.vm.spec.tenant, name: stopped.vm.spec.name, id: BigInt(stopped.vm.id) } as const;
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const { vm } = await calls.resolveVm(caller, ref);
        // Desired running again: someone started it since, or this is a retry of a restart whose
        // start was applied (its stop step answered the first result and changed nothing).
        if (vm.phase === "stopped" || vm.phase === "failed" || vm.desired === "running") break;
        if (Date.now() >= deadline || signalOf(context).aborted) {
          throw notAppliedError(`vm ${vm.id} did not stop within ${timeoutMs} ms (it is ${vm.phase}, desired stopped): start it when it has stopped`, Code.FailedPrecondition);
        }
        await pause(STREAM_POLL_MS, signalOf(context));
      }
      const { vm, index } = await setDesired(caller, ref, 0n, stepRequestId(request.requestId, ":start"), "running");
      return { vm: vmToProto(vm), index: BigInt(index) };
    },

    async delete(request, caller) {
      const { vm, index } = await writeVm(caller, request.vm, request.expectedGeneration, request.requestId, (current, generation) => ({ kind: "vm-delete", vmId: current.id, expectedGeneration: generation }));
      return { vm: vmToProto(vm), index: BigInt(index) };
    },

    async migrate(request, caller) {
      const targetNodeId = requireCount(request.targetNodeId, "target_node_id");
      const { vm, index } = await writeVm(caller, request.vm, request.expectedGeneration, request.requestId, (current, generation) => ({
        kind: "vm-migrate",
        vmId: current.id,
        expectedGeneration: generation,
        targetNodeId,
      }));
      return { vm: vmToProto(vm), index: BigInt(index) };
    },

    async *watch(request, caller, context: HandlerContext): AsyncGenerator<VmServiceWatchResponse> {
      const vmId = requireCount(request.vmId, "vm_id");
      const filter = eventFilter(calls, caller, vmId);
      let afterIndex = requireCount(request.afterIndex, "after_index");
      // A page may end inside an index (several events share one): then the next read starts
      // before that index again and skips the events of it already sent.
      let skip = 0;
      const deadline = Date.now() + STREAM_DURATION_MS_MAX;
      let first = true;
      while (!signalOf(context).aborted && Date.now() < deadline) {
        const { answer } = await calls.read({ what: "events", afterIndex, limit: CLUSTER_PAGE_MAX });
        const page = answer.events;
        const fresh = page.slice(skip);
        let truncated = answer.truncated;
        if (page.length === CLUSTER_PAGE_MAX && fresh.length === 0) {
          // One index holds more than a page of events: the cluster read has no sequence cursor,
          // so the rest of that index cannot be reached. Say so, and go on after it.
          afterIndex = page[0]!.index;
          skip = 0;
          truncated = true;
        } else if (page.length > 0) {
          const lastIndex = page[page.length - 1]!.index;
          const ofLast = page.filter((event) => event.index === lastIndex).length;
          if (page.length < CLUSTER_PAGE_MAX) {
            afterIndex = lastIndex;
            skip = 0;
          } else if (ofLast < page.length) {
            afterIndex = page[page.length - ofLast - 1]!.index;
            skip = ofLast;
          } else {
            skip = page.length;
          }
        }
        assert(skip <= CLUSTER_PAGE_MAX, "a watch skips at most one page");
        const visible = (await filter(fresh)).map(eventToProto);
        if (first || visible.length > 0 || truncated) {
          yield { $typeName: "blixard.v1.VmServiceWatchResponse", events: visible, truncated, index: BigInt(afterIndex) };
          first = false;
        }
        if (fresh.length === 0 && !truncated) await pause(STREAM_POLL_MS, signalOf(context));
      }
    },

    async *console(request, caller, context: HandlerContext): AsyncGenerator<VmServiceConsoleResponse> {
      const offset = requireCount(request.offset, "offset");
      const { vm } = await calls.resolveVm(caller, request.vm);
      const nodeId = consoleNodeOf(vm);
      if (nodeId === 0) notFound(`vm ${vm.id} has never been placed on a node: it has no console yet`);
      if (nodeId === host.nodeId || request.localOnly) {
        yield* consoleHere(vm, offset, request.follow, signalOf(context));
        return;
      }
      // The member book first (what the node announced); a node this one has not heard from yet
      // is found by the address it registered with.
      let api = host.memberAddresses(nodeId)?.api ?? "";
      if (api === "") api = (await calls.read({ what: "node", nodeId })).answer.node?.address ?? "";
      if (api === "") throw notAppliedError(`vm ${vm.id} is on node ${nodeId}, whose API address is not known`, Code.Unavailable);
      // On the caller's behalf, with the caller's token: the VM's node checks it too.
      const remote = host.clientsFor(endpointUrl(api)).vm.console(
        { vm: { id: BigInt(vm.id), tenant: vm.spec.tenant, name: vm.spec.name }, offset: BigInt(offset), follow: request.follow, localOnly: true },
        { signal: signalOf(context), timeoutMs: STREAM_DURATION_MS_MAX, headers: { authorization: caller.authorization } },
      );
      for await (const chunk of remote) yield chunk;
    },

    async events(request, caller) {
      const vmId = requireCount(request.vmId, "vm_id");
      const limit = pageLimit(request.limit, "limit");
      const afterIndex = requireCount(request.afterIndex, "after_index");
      const { answer } = await calls.read({ what: "events", afterIndex, limit });
      const page = answer.events;
      const { nextAfterIndex, cut } = nextPageAfter(page, limit, afterIndex);
      const visible = await eventFilter(calls, caller, vmId)(page);
      return { events: visible.map(eventToProto), truncated: answer.truncated || cut, nextAfterIndex: BigInt(nextAfterIndex) };
    },
  }));
}

/**
 * Where the next page of events starts. A full page may end inside an index (several events share
 * one): the next page then starts before that index, so its events come again (a client sees the
 * ones it has twice, never misses one). A full page of ONE index cannot be continued by index (the
 * cluster read has no sequence cursor): the next page starts after it, and `cut` says events were skipped.
 */
export function nextPageAfter(page: readonly ClusterEvent[], limit: number, afterIndex: number): { nextAfterIndex: number; cut: boolean } {
  assert(page.length <= limit, "a page holds at most its limit");
  if (page.length === 0) return { nextAfterIndex: afterIndex, cut: false };
  const lastIndex = page[page.length - 1]!.index;
  if (page.length < limit) return { nextAfterIndex: lastIndex, cut: false };
  let before = afterIndex;
  for (const event of page) if (event.index < lastIndex) before = event.index;
  return before > afterIndex ? { nextAfterIndex: before, cut: false } : { nextAfterIndex: lastIndex, cut: true };
}

/**
 * What events a caller may see: of one VM when vmId != 0; a tenant token only its own VMs'
 * (never node or tenant events). A VM's tenant is looked up in this node's applied state and
 * remembered, and learned from vm-created events ("tenant/name ...") for VMs since deleted.
 */
function eventFilter(calls: VmApiCalls, caller: Caller, vmId: number): (events: readonly ClusterEvent[]) => Promise<ClusterEvent[]> {
  const tenantOf = new Map<number, string>();
  return async (events) => {
    const byVm = vmId === 0 ? events : events.filter((event) => event.vmId === vmId);
    if (caller.role !== "tenant") return [...byVm];
    const visible: ClusterEvent[] = [];
    for (const event of byVm) {
      if (event.vmId === 0) continue;
      let tenant = tenantOf.get(event.vmId);
      if (tenant === undefined) {
        const vm = calls.host.clusterView.vm(event.vmId);
        tenant = vm !== undefined ? vm.spec.tenant : event.kind === "vm-created" ? event.detail.split("/")[0]! : "";
        if (tenantOf.size >= WATCH_TENANT_CACHE_MAX) tenantOf.clear();
        if (tenant !== "") tenantOf.set(event.vmId, tenant);
      }
      if (tenant === caller.tenant) visible.push(event);
    }
    return visible;
  };
}
