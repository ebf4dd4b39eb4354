// TenantService (proto/blixard/v1/tenant.proto, docs/VM-API.md): quotas (tenant-set, admin
// only) and usage. A tenant token reads its own tenant only.
//
// The cluster reads have no tenant read, so GetQuota and Usage are made linearizable by hand:
// a cluster read (ReadIndex on the leader) returns the index it was answered at, and the tenant
// record is read from this node's applied state once it has applied that index (a bounded wait).
import { Code } from "@connectrpc/connect";
import { assert } from "../../core/assert.ts";
import type { TenantRecord } from "../../core/cluster/types.ts";
import type { Caller, Gatekeeper } from "../auth/gatekeeper.ts";
import { guardService } from "../auth/guarded-service.ts";
import { TenantService } from "./gen/blixard/v1/tenant_pb.ts";
import { notAppliedError } from "./outcome-codes.ts";
import { notFound, pause, signalOf, requireRequestId, scopedTenant, VmApiCalls, type VmApiHost } from "./vm-api-calls.ts";
import { quotaFromProto, tenantToProto } from "./vm-proto.ts";

/** How long a tenant read waits for this node to apply the read index. */
export const TENANT_READ_CATCH_UP_MS_MAX = 5_000;
const CATCH_UP_POLL_MS = 10;

export function createVmTenantService(host: VmApiHost, gate: Gatekeeper) {
  const calls = new VmApiCalls(host);

  async function readTenant(caller: Caller, named: string, signal: AbortSignal): Promise<{ tenant: TenantRecord; index: number }> {
    const name = scopedTenant(caller, named);
    const { index } = await calls.read({ what: "nodes", afterId: 0, limit: 1 });
    const deadline = Date.now() + TENANT_READ_CATCH_UP_MS_MAX;
    // The log's applied index (the cluster state's own appliedIndex only moves with cluster commands).
    while (host.status().raft.applied < index) {
      if (Date.now() >= deadline || signal.aborted) throw notAppliedError(`node ${host.nodeId} has not applied index ${index} within ${TENANT_READ_CATCH_UP_MS_MAX} ms: try another node`, Code.Unavailable);
      await pause(CATCH_UP_POLL_MS, signal);
    }
    const tenant = host.clusterView.tenant(name);
    if (tenant === undefined) notFound(`tenant ${JSON.stringify(name)} does not exist (an admin creates it: blixard tenant quota set)`);
    assert(tenant.name === name, "the tenant read is the one asked for");
    return { tenant, index };
  }

  return guardService(TenantService, gate, {
    async setQuota(request, caller, context) {
      const name = scopedTenant(caller, request.tenant);
      const requestId = requireRequestId(request.requestId);
      const { index } = await calls.command({ kind: "tenant-set", name, quota: quotaFromProto(request.quota) }, requestId);
      // The leader applied it; read it back (with its usage) once this node has too.
      const { tenant } = await readTenant(caller, name, signalOf(context));
      return { tenant: tenantToProto(tenant), index: BigInt(index) };
    },
    async getQuota(request, caller, context) {
      const { tenant, index } = await readTenant(caller, request.tenant, signalOf(context));
      return { tenant: tenantToProto(tenant), index: BigInt(index) };
    },
    async usage(request, caller, context) {
      const { tenant, index } = await readTenant(caller, request.tenant, signalOf(context));
      return { tenant: tenantToProto(tenant), index: BigInt(index) };
    },
  });
}
