// `blixard tenant quota set|get` and `blixard tenant usage`: tenants' quotas (set: admin) and what
// their VMs use, through a node's TenantService (docs/VM-API.md). A tenant must exist (quota set)
// before it can create VMs. Exit codes as `blixard vm` (api-output.ts).
import { randomUUID } from "node:crypto";
import type { Command } from "commander";
import { create } from "@bufbuild/protobuf";
import { QuotaSchema, TenantServiceGetQuotaResponseSchema, TenantServiceSetQuotaResponseSchema, TenantServiceUsageResponseSchema, type TenantRecord } from "../api/gen/blixard/v1/tenant_pb.ts";
import { addApiOptions, formatTable, runApiCall, type ApiCommandOptions } from "./api-output.ts";
import { UsageError } from "./usage-error.ts";

function count(text: string, flag: string): bigint {
  if (!/^\d+$/.test(text) || BigInt(text) > BigInt(Number.MAX_SAFE_INTEGER)) throw new UsageError(`${flag}: "${text}" is not a non-negative integer`);
  return BigInt(text);
}

/** Quota and usage side by side. */
export function tenantTable(tenant: TenantRecord | undefined): string {
  if (tenant === undefined) return "";
  const q = tenant.quota;
  const u = tenant.usage;
  return `tenant ${tenant.name}\n${formatTable(
    ["", "USED", "QUOTA"],
    [
      ["vms", String(u?.vms ?? 0n), String(q?.vmsMax ?? 0n)],
      ["vcpus", String(u?.resources?.vcpus ?? 0n), String(q?.vcpusMax ?? 0n)],
      ["memory MiB", String(u?.resources?.memoryMib ?? 0n), String(q?.memoryMibMax ?? 0n)],
      ["disk GiB", String(u?.resources?.diskGib ?? 0n), String(q?.diskGibMax ?? 0n)],
      ["vms per node", "-", String(q?.vmsPerNodeMax ?? 0n)],
    ],
  )}`;
}

const example = (command: Command, text: string): Command => command.addHelpText("after", `\nExample:\n  $ ${text}`);

export function registerTenantCommand(program: Command): void {
  const tenant = example(program.command("tenant").description("tenants' quotas and usage"), "blixard tenant quota set acme --vms 10 --vcpus 16 --memory 16384");
  const quota = example(tenant.command("quota").description("set or read a tenant's quota"), "blixard tenant quota get acme");

  example(
    addApiOptions(quota.command("set <tenant>").description("create the tenant or replace its quota (admin)"))
      .requiredOption("--vms <N>", "VMs at most")
      .requiredOption("--vcpus <N>", "vCPUs at most, summed over its VMs")
      .requiredOption("--memory <MIB>", "memory at most (MiB), summed")
      .option("--disk <GIB>", "disk at most (GiB), summed", "0")
      .option("--vms-per-node <N>", "VMs of this tenant on one node at most (default: --vms)")
      .option("--request-id <ID>", "idempotency key (default: a fresh random one)"),
    "blixard tenant quota set acme --vms 10 --vcpus 16 --memory 16384 --disk 100",
  ).action((name: string, options: ApiCommandOptions & { vms: string; vcpus: string; memory: string; disk: string; vmsPerNode?: string; requestId?: string }) => {
    const vmsMax = count(options.vms, "--vms");
    const value = create(QuotaSchema, {
      vmsMax,
      vcpusMax: count(options.vcpus, "--vcpus"),
      memoryMibMax: count(options.memory, "--memory"),
      diskGibMax: count(options.disk, "--disk"),
      vmsPerNodeMax: options.vmsPerNode === undefined ? vmsMax : count(options.vmsPerNode, "--vms-per-node"),
    });
    return runApiCall(options, TenantServiceSetQuotaResponseSchema, (c) => c.tenant.setQuota({ tenant: name, quota: value, requestId: options.requestId ?? randomUUID() }), (r) => `${tenantTable(r.tenant)}\n(index ${r.index})`);
  });

  example(addApiOptions(quota.command("get [tenant]").description("a tenant's quota and usage (a tenant token: its own)")), "blixard tenant quota get acme -o yaml").action(
    (name: string | undefined, options: ApiCommandOptions) =>
      runApiCall(options, TenantServiceGetQuotaResponseSchema, (c) => c.tenant.getQuota({ tenant: name ?? "" }), (r) => tenantTable(r.tenant)),
  );

  example(addApiOptions(tenant.command("usage [tenant]").description("what a tenant's VMs use, against its quota")), "blixard tenant usage acme").action(
    (name: string | undefined, options: ApiCommandOptions) => runApiCall(options, TenantServiceUsageResponseSchema, (c) => c.tenant.usage({ tenant: name ?? "" }), (r) => tenantTable(r.tenant)),
  );
}
