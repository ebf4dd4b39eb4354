// The VM API once a node is registered (by a node-register command submitted here, since no
// agent runs in these tests): a plan that places a VM and its commit, the node-state commands,
// a migrate the state refuses, and the console stream, read from a stand-in for the node's
// vmHost (the real one is the lead's runtime wiring) through the service's own handler; and the
// planted bug tenant-scope-ignored, which the tenant isolation check must catch.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import type { NodeRegistration } from "../../../src/core/cluster/types.ts";
import { NodeRuntime } from "../../../src/shell/node/runtime.ts";
import { createApiClients, type ApiClients } from "../../../src/shell/api/client.ts";
import { specToProto } from "../../../src/shell/api/vm-proto.ts";
import { specFromDocument } from "../../../src/shell/api/vm-spec-input.ts";
import { createVmService, type VmServicePlantedBug } from "../../../src/shell/api/vm-service.ts";
import { Gatekeeper } from "../../../src/shell/auth/gatekeeper.ts";
import { QuotaSchema, TenantServiceGetQuotaRequestSchema, type TenantServiceGetQuotaResponse } from "../../../src/shell/api/gen/blixard/v1/tenant_pb.ts";
import { createVmTenantService } from "../../../src/shell/api/vm-tenant-service.ts";
import {
  VmServiceConsoleRequestSchema,
  VmServiceGetRequestSchema,
  VmServiceListRequestSchema,
  type VmServiceConsoleResponse,
  type VmServiceGetResponse,
  type VmServiceListResponse,
} from "../../../src/shell/api/gen/blixard/v1/vm_pb.ts";
import type { ConsoleChunk, NodeVmHost } from "../../../src/shell/vm/node-vm-host.ts";
import { ADMIN_HEADERS, ADMIN_TOKEN, BOOTSTRAP_TOKENS } from "../../support/admin-token.ts";
import { startSingleNode } from "../../support/single-node.ts";

const REGISTRATION: NodeRegistration = {
  id: 1,
  address: "",
  capacity: { vcpus: 8, memoryMib: 8_192, diskGib: 100 },
  overcommit: { cpuPermille: 1000, memoryPermille: 1000, diskPermille: 1000, reserve: { vcpus: 0, memoryMib: 0, diskGib: 0 } },
  labels: [],
  features: [],
  topology: { datacenter: "", zone: "", rack: "" },
};

/** A console.log that grows when the test says so. */
class GrowingConsole implements NodeVmHost {
  readonly description = "test console";
  text = "";
  readConsole(vmId: number, offset: number, bytesMax: number): ConsoleChunk | undefined {
    if (vmId !== this.vmId) return undefined;
    const bytes = Buffer.from(this.text, "utf8");
    const piece = bytes.subarray(offset, Math.min(bytes.length, offset + bytesMax));
    return { text: piece.toString("utf8"), nextOffset: offset + piece.length, sizeBytes: bytes.length };
  }
  constructor(public vmId: number) {}
}

describe("VM API with a registered node", { timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "blixard-vm-api-placed-"));
  let node: NodeRuntime;
  let admin: ApiClients;

  before(async () => {
    node = await startSingleNode(dir);
    admin = createApiClients(`http://${node.apiAddress}`, { token: ADMIN_TOKEN.text });
    const registered = await node.submit({ kind: "cluster", envelope: { stampUs: 0, requestId: "", body: { kind: "node-register", node: REGISTRATION } } });
    assert.ok(registered.status === "ok" && registered.result.kind === "cluster" && registered.result.result.status === "ok", JSON.stringify(registered));
    await admin.tenant.setQuota({ tenant: "acme", quota: create(QuotaSchema, { vmsMax: 10n, vcpusMax: 8n, memoryMibMax: 8_192n, diskGibMax: 100n, vmsPerNodeMax: 10n }) });
  });
  after(async () => {
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const spec = (name: string) => {
    const parsed = specFromDocument({ tenant: "acme", name, resources: { vcpus: 1, memoryMib: 512 } });
    assert.ok(parsed.ok);
    return specToProto(parsed.spec);
  };

  test("plan places a pending VM on the node, and its commit schedules it there", async () => {
    const dry = await admin.vm.plan({ spec: spec("not-created") });
    assert.equal(dry.decision, "placed");
    assert.equal(dry.nodeId, 1n);
    assert.equal(dry.vmId, 0n);
    const { vm } = await admin.vm.create({ spec: spec("placed"), createStopped: false });
    const plan = await admin.vm.plan({ spec: spec("placed"), commit: true, requestId: "plan-commit-1" });
    assert.equal(plan.decision, "placed");
    assert.equal(plan.vmId, vm!.id);
    assert.ok(plan.committed);
    assert.deepEqual(plan.placed, [vm!.id]);
    const after = (await admin.vm.get({ vm: { id: vm!.id } })).vm!;
    assert.equal(after.phase, "scheduled");
    // A tenant read on a node that has not applied the read index yet waits for it, with no abort signal (the fast path's context).
    let staleReads = 3;
    const lagging = () => (staleReads-- > 0 ? { raft: { applied: 0 } } : node.status());
    const tenants = createVmTenantService({ nodeId: 1, submit: node.submit.bind(node), clusterView: node.clusterView, status: lagging, vmHost: undefined, memberAddresses: node.memberAddresses.bind(node), clientsFor: node.clientsFor.bind(node) }, new Gatekeeper(node, { bootstrapTokens: BOOTSTRAP_TOKENS }));
    const quota = (await tenants.getQuota(create(TenantServiceGetQuotaRequestSchema, { tenant: "acme" }), { requestHeader: new Headers(ADMIN_HEADERS) } as unknown as HandlerContext)) as TenantServiceGetQuotaResponse;
    assert.equal(quota.tenant?.usage?.vms, 1n);
    assert.ok(staleReads < 0, "the read waited for the index");
    assert.equal(after.nodeId, 1n);
    assert.deepEqual(
      (await admin.vm.list({ nodeId: 1n })).vms.map((v) => v.id),
      [vm!.id],
    );
    // Only a running VM migrates: the state's refusal, as FailedPrecondition.
    await assert.rejects(admin.vm.migrate({ vm: { id: vm!.id } }), (error: unknown) => ConnectError.from(error).code === Code.FailedPrecondition && /only a running vm migrates/.test(ConnectError.from(error).rawMessage));
    // No agent stops it here: a restart gives up after its stop timeout, certain of what it did
    // (over the unary fast path, whose handler context has no abort signal).
    await assert.rejects(admin.vm.restart({ vm: { id: vm!.id }, stopTimeoutMs: 300 }), (error: unknown) => {
      const connect = ConnectError.from(error);
      assert.equal(Code[connect.code], "FailedPrecondition", connect.rawMessage);
      assert.match(connect.rawMessage, /did not stop within 300 ms \(it is stopping, desired stopped\)/);
      return true;
    });
    // This node runs no VM backend: its console says so.
    await assert.rejects(
      (async () => {
        for await (const _chunk of admin.vm.console({ vm: { id: vm!.id } })) break;
      })(),
      (error: unknown) => ConnectError.from(error).code === Code.FailedPrecondition && /runs no VMs/.test(ConnectError.from(error).rawMessage),
    );
  });

  test("cordon, drain and uncordon the node", async () => {
    assert.equal((await admin.node.cordon({ nodeId: 1n })).node?.state, "cordoned");
    assert.equal((await admin.vm.plan({ spec: spec("while-cordoned") })).decision, "unplaceable");
    assert.equal((await admin.node.drain({ nodeId: 1n })).node?.state, "draining");
    assert.equal((await admin.node.uncordon({ nodeId: 1n })).node?.state, "ready");
    const listed = await admin.node.list({});
    assert.deepEqual(
      listed.nodes.map((n) => [n.id, n.state, n.capacity?.memoryMib]),
      [[1n, "ready", 8_192n]],
    );
  });

  test("console: reads the node's log from an offset, and follows it as it grows", async () => {
    const { vm } = await admin.vm.get({ vm: { tenant: "acme", name: "placed" } });
    const consoleLog = new GrowingConsole(Number(vm!.id));
    consoleLog.text = "2026-01-01T00:00:00.000Z BLIXARD-READY vm=1\n";
    const service = createVmService(
      {
        nodeId: node.nodeId,
        submit: (request) => node.submit(request),
        clusterView: node.clusterView,
        status: () => node.status(),
        vmHost: consoleLog,
        memberAddresses: (id) => node.memberAddresses(id),
        clientsFor: (endpoint) => node.clientsFor(endpoint),
      },
      new Gatekeeper(node, { bootstrapTokens: BOOTSTRAP_TOKENS }),
    );
    const abort = new AbortController();
    const context = { requestHeader: new Headers(ADMIN_HEADERS), signal: abort.signal } as unknown as HandlerContext;
    const read = async (offset: bigint, follow: boolean, until: (text: string) => boolean): Promise<string> => {
      let text = "";
      const stream = service.console(create(VmServiceConsoleRequestSchema, { vm: { id: vm!.id }, offset, follow }), context) as AsyncIterable<VmServiceConsoleResponse>;
      for await (const chunk of stream) {
        text += chunk.text;
        if (until(text)) break;
      }
      return text;
    };
    assert.equal(await read(0n, false, () => false), consoleLog.text);
    assert.equal(await read(25n, false, () => false), "BLIXARD-READY vm=1\n");
    const followed = read(0n, true, (text) => text.includes("HEARTBEAT"));
    setTimeout(() => (consoleLog.text += "2026-01-01T00:00:00.200Z BLIXARD-HEARTBEAT vm=1 seq=1\n"), 300);
    assert.match(await followed, /BLIXARD-READY[\s\S]*BLIXARD-HEARTBEAT/);
    abort.abort();
  });

  test("planted bug tenant-scope-ignored: the tenant isolation check fires (and passes without it)", async () => {
    await admin.tenant.setQuota({ tenant: "other", quota: create(QuotaSchema, { vmsMax: 10n, vcpusMax: 8n, memoryMibMax: 8_192n, diskGibMax: 100n, vmsPerNodeMax: 10n }) });
    const { vm: theirs } = await admin.vm.create({ spec: { ...spec("theirs"), tenant: "other" } });
    const tenantToken = (await admin.token.createToken({ role: "tenant", tenant: "acme" })).token;
    const context = { requestHeader: new Headers({ authorization: `Bearer ${tenantToken}` }), signal: new AbortController().signal } as unknown as HandlerContext;
    /** What an acme token could see of tenant other's VM: every entry is an isolation violation. */
    const violations = async (plantedBugs: ReadonlySet<VmServicePlantedBug>): Promise<string[]> => {
      const host = { nodeId: node.nodeId, submit: node.submit.bind(node), clusterView: node.clusterView, status: () => node.status(), vmHost: undefined, memberAddresses: node.memberAddresses.bind(node), clientsFor: node.clientsFor.bind(node) };
      const service = createVmService(host, new Gatekeeper(node, { bootstrapTokens: BOOTSTRAP_TOKENS }), { plantedBugs });
      const found: string[] = [];
      try {
        const got = (await service.get(create(VmServiceGetRequestSchema, { vm: { id: theirs!.id } }), context)) as VmServiceGetResponse;
        found.push(`get by id answered ${got.vm?.spec?.tenant}/${got.vm?.spec?.name}`);
      } catch (error) {
        assert.equal(ConnectError.from(error).code, Code.NotFound);
      }
      const listed = (await service.list(create(VmServiceListRequestSchema, {}), context)) as VmServiceListResponse;
      for (const vm of listed.vms) if (vm.spec?.tenant !== "acme") found.push(`list showed ${vm.spec?.tenant}/${vm.spec?.name}`);
      return found;
    };
    assert.deepEqual(await violations(new Set()), []);
    const caught = await violations(new Set(["tenant-scope-ignored"]));
    assert.ok(caught.includes("get by id answered other/theirs"), caught.join("\n"));
    assert.ok(caught.includes("list showed other/theirs"), caught.join("\n"));
  });
});
