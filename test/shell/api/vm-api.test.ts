// The VM, node and tenant services on real in-process clusters (one node, and three), through
// the same clients the CLI uses. No agents run here, so no node registers and every VM stays
// pending (or stopped): create, get, list, start, stop, restart, delete and plan on such VMs;
// the refusals as their Connect codes with the field named; tenant isolation; the watch stream.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { silentLogger } from "../../../src/core/env/environment.ts";
import type { NodeId } from "../../../src/core/raft/types.ts";
import { NodeRuntime } from "../../../src/shell/node/runtime.ts";
import { createApiClients, type ApiClients } from "../../../src/shell/api/client.ts";
import { OUTCOME_HEADER } from "../../../src/shell/api/outcome-codes.ts";
import { REJECTION_HEADER } from "../../../src/shell/api/vm-rejection-codes.ts";
import { specToProto } from "../../../src/shell/api/vm-proto.ts";
import { specFromDocument } from "../../../src/shell/api/vm-spec-input.ts";
import { QuotaSchema } from "../../../src/shell/api/gen/blixard/v1/tenant_pb.ts";
import type { VmSpec } from "../../../src/core/cluster/types.ts";
import { waitUntil } from "../../support/wait-until.ts";
import { ADMIN_TOKEN, BOOTSTRAP_TOKENS } from "../../support/admin-token.ts";
import { freePort } from "../../e2e/process-cluster.ts";
import { startSingleNode } from "../../support/single-node.ts";

function spec(name: string, fields: Record<string, unknown> = {}): VmSpec {
  const parsed = specFromDocument({ name, resources: { vcpus: 1, memoryMib: 128 }, ...fields });
  assert.ok(parsed.ok, parsed.ok ? "" : parsed.error);
  return parsed.spec;
}

const quota = (vmsMax: number) => create(QuotaSchema, { vmsMax: BigInt(vmsMax), vcpusMax: 64n, memoryMibMax: 65_536n, diskGibMax: 1_000n, vmsPerNodeMax: 100n });

async function expectCode(call: Promise<unknown>, code: Code, pattern: RegExp, rejection?: string): Promise<void> {
  await assert.rejects(call, (error: unknown) => {
    const connect = ConnectError.from(error);
    assert.equal(Code[connect.code], Code[code], connect.rawMessage);
    assert.match(connect.rawMessage, pattern);
    assert.equal(connect.metadata.get(OUTCOME_HEADER), "not-applied", connect.rawMessage);
    if (rejection !== undefined) assert.equal(connect.metadata.get(REJECTION_HEADER), rejection);
    return true;
  });
}

describe("VM API on one in-process node", { timeout: 90_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "blixard-vm-api-"));
  let node: NodeRuntime;
  let admin: ApiClients;
  let acme: ApiClients;
  let readOnly: ApiClients;

  before(async () => {
    node = await startSingleNode(dir);
    const url = `http://${node.apiAddress}`;
    admin = createApiClients(url, { token: ADMIN_TOKEN.text });
    acme = createApiClients(url, { token: (await admin.token.createToken({ role: "tenant", tenant: "acme" })).token });
    readOnly = createApiClients(url, { token: (await admin.token.createToken({ role: "read-only" })).token });
    for (const tenant of ["acme", "other"]) await admin.tenant.setQuota({ tenant, quota: quota(10) });
    await admin.tenant.setQuota({ tenant: "tiny", quota: quota(1) });
  });
  after(async () => {
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("create, get by name and by id, list: the VM stays pending with no nodes", async () => {
    const created = await admin.vm.create({ spec: specToProto(spec("web", { tenant: "acme" })) });
    assert.equal(created.vm?.phase, "pending");
    assert.equal(created.vm?.desired, "running");
    assert.ok(created.index > 0n);
    const byName = await admin.vm.get({ vm: { tenant: "acme", name: "web" } });
    assert.equal(byName.vm?.id, created.vm?.id);
    const byId = await admin.vm.get({ vm: { id: created.vm!.id } });
    assert.equal(byId.vm?.spec?.name, "web");
    assert.equal(byId.vm?.spec?.resources?.memoryMib, 128n);
    const listed = await admin.vm.list({ tenant: "acme" });
    assert.deepEqual(
      listed.vms.map((vm) => vm.spec?.name),
      ["web"],
    );
    assert.deepEqual((await admin.vm.list({ tenant: "acme", phase: "running" })).vms, []);
  });

  test("refusals: AlreadyExists, InvalidArgument naming the field, NotFound, quota ResourceExhausted", async () => {
    await admin.vm.create({ spec: specToProto(spec("dup", { tenant: "other" })) });
    await expectCode(admin.vm.create({ spec: specToProto(spec("dup", { tenant: "other" })) }), Code.AlreadyExists, /spec\.name/, "already-exists");
    const zeroMemory = specToProto(spec("zero", { tenant: "other" }));
    zeroMemory.resources!.memoryMib = 0n;
    await expectCode(admin.vm.create({ spec: zeroMemory }), Code.InvalidArgument, /^invalid: spec\.resources\.memoryMib/, "invalid");
    await expectCode(admin.vm.create({ spec: { ...specToProto(spec("ok", { tenant: "other" })), name: "Not_DNS" } }), Code.InvalidArgument, /^spec\.name: must be a DNS label/);
    await expectCode(admin.vm.create({ spec: specToProto(spec("x", { tenant: "nobody" })) }), Code.NotFound, /spec\.tenant/, "not-found");
    await expectCode(admin.vm.get({ vm: { tenant: "other", name: "absent" } }), Code.NotFound, /not found/);
    await expectCode(admin.vm.get({ vm: { id: 999_999n } }), Code.NotFound, /not found/);
    await admin.vm.create({ spec: specToProto(spec("one", { tenant: "tiny" })) });
    await expectCode(admin.vm.create({ spec: specToProto(spec("two", { tenant: "tiny" })) }), Code.ResourceExhausted, /quota\.vmsMax/, "quota-exceeded");
  });

  test("stop, start, restart and delete a pending VM; a stale expected generation is FailedPrecondition", async () => {
    const { vm } = await admin.vm.create({ spec: specToProto(spec("cycle", { tenant: "other" })) });
    const stopped = await admin.vm.stop({ vm: { tenant: "other", name: "cycle" } });
    assert.equal(stopped.vm?.phase, "stopped");
    assert.equal(stopped.vm?.desired, "stopped");
    const started = await admin.vm.start({ vm: { id: vm!.id } });
    assert.equal(started.vm?.phase, "pending");
    const restarted = await admin.vm.restart({ vm: { tenant: "other", name: "cycle" } });
    assert.equal(restarted.vm?.phase, "pending");
    assert.ok(restarted.vm!.generation > started.vm!.generation);
    await expectCode(admin.vm.stop({ vm: { id: vm!.id }, expectedGeneration: vm!.generation }), Code.FailedPrecondition, /stale-generation/, "stale-generation");
    await admin.vm.delete({ vm: { id: vm!.id } });
    await expectCode(admin.vm.get({ vm: { id: vm!.id } }), Code.NotFound, /not found/);
  });

  test("a request id makes a retried create take effect once", async () => {
    const first = await admin.vm.create({ spec: specToProto(spec("once", { tenant: "other" })), requestId: "create-once-1" });
    const again = await admin.vm.create({ spec: specToProto(spec("once", { tenant: "other" })), requestId: "create-once-1" });
    assert.equal(again.vm?.id, first.vm?.id);
    await expectCode(admin.vm.create({ spec: specToProto(spec("once", { tenant: "other" })), requestId: "x".repeat(49) }), Code.InvalidArgument, /^request_id/);
  });

  test("plan: an existing pending VM and a new spec are unplaceable with no nodes; a new spec cannot be committed", async () => {
    const existing = await admin.vm.plan({ spec: specToProto(spec("web", { tenant: "acme" })) });
    assert.equal(existing.decision, "unplaceable");
    assert.ok(existing.vmId > 0n);
    assert.ok(existing.checkIndex > 0n);
    const fresh = await admin.vm.plan({ spec: specToProto(spec("not-yet", { tenant: "acme" })) });
    assert.equal(fresh.decision, "unplaceable");
    assert.equal(fresh.vmId, 0n);
    await expectCode(admin.vm.plan({ spec: specToProto(spec("not-yet", { tenant: "acme" })), commit: true }), Code.FailedPrecondition, /does not exist/);
    await expectCode(admin.vm.plan({ spec: specToProto(spec("web", { tenant: "acme" })), commit: true }), Code.FailedPrecondition, /nothing to commit/);
  });

  test("list pages with a cursor", async () => {
    for (const name of ["page-a", "page-b", "page-c"]) await admin.vm.create({ spec: specToProto(spec(name, { tenant: "acme" })) });
    const names: string[] = [];
    let cursor = 0n;
    for (let page = 0; page < 10; page++) {
      const listed = await admin.vm.list({ tenant: "acme", limit: 1, cursor });
      assert.ok(listed.vms.length <= 1);
      names.push(...listed.vms.map((vm) => vm.spec!.name));
      cursor = listed.nextCursor;
      if (cursor === 0n) break;
    }
    assert.deepEqual(names.filter((n) => n.startsWith("page-")), ["page-a", "page-b", "page-c"]);
    assert.equal(cursor, 0n);
  });

  test("a tenant token sees and touches only its own tenant's VMs", async () => {
    const { vm: theirs } = await admin.vm.create({ spec: specToProto(spec("secret", { tenant: "other" })) });
    const own = await acme.vm.create({ spec: specToProto(spec("mine")) });
    assert.equal(own.vm?.spec?.tenant, "acme", "the token's tenant is forced onto the spec");
    const listed = await acme.vm.list({});
    assert.ok(listed.vms.length > 0 && listed.vms.every((vm) => vm.spec?.tenant === "acme"));
    await expectCode(acme.vm.list({ tenant: "other" }), Code.PermissionDenied, /may not act for tenant "other"/);
    await expectCode(acme.vm.get({ vm: { tenant: "other", name: "secret" } }), Code.PermissionDenied, /tenant/);
    await expectCode(acme.vm.get({ vm: { id: theirs!.id } }), Code.NotFound, /not found/);
    await expectCode(acme.vm.stop({ vm: { id: theirs!.id } }), Code.NotFound, /not found/);
    await expectCode(acme.vm.delete({ vm: { id: theirs!.id } }), Code.NotFound, /not found/);
    await expectCode(acme.vm.create({ spec: specToProto(spec("sneaky", { tenant: "other" })) }), Code.PermissionDenied, /tenant/);
    await expectCode(acme.tenant.getQuota({ tenant: "other" }), Code.PermissionDenied, /tenant/);
    assert.equal((await acme.tenant.usage({})).tenant?.name, "acme");
    const events = await acme.vm.events({});
    assert.ok(events.events.length > 0);
    assert.ok(events.events.every((event) => event.vmId !== theirs!.id && event.vmId !== 0n), "no other tenant's or node events");
    await expectCode(readOnly.vm.stop({ vm: { id: own.vm!.id } }), Code.PermissionDenied, /read-only/);
    assert.equal((await readOnly.vm.get({ vm: { id: theirs!.id } })).vm?.spec?.name, "secret");
  });

  test("watch streams the create's event, and tells where it is", async () => {
    const from = (await admin.vm.events({ afterIndex: 0n })).nextAfterIndex;
    const abort = new AbortController();
    const stream = admin.vm.watch({ afterIndex: 0n }, { signal: abort.signal, timeoutMs: 20_000 });
    const seen: string[] = [];
    const created = admin.vm.create({ spec: specToProto(spec("watched", { tenant: "acme" })) });
    try {
      for await (const message of stream) {
        seen.push(...message.events.map((event) => `${event.kind} ${event.detail}`));
        if (seen.some((line) => line.startsWith("vm-created acme/watched"))) break;
      }
    } finally {
      abort.abort();
    }
    await created;
    assert.ok(seen.some((line) => line.startsWith("vm-created acme/watched")), seen.join("\n"));
    assert.ok(from > 0n);
  });

  test("tenant quota and usage; nodes: none registered", async () => {
    const usage = await admin.tenant.usage({ tenant: "tiny" });
    assert.equal(usage.tenant?.usage?.vms, 1n);
    assert.equal(usage.tenant?.usage?.resources?.memoryMib, 128n);
    assert.equal(usage.tenant?.quota?.vmsMax, 1n);
    await expectCode(admin.tenant.getQuota({ tenant: "nobody" }), Code.NotFound, /does not exist/);
    assert.deepEqual((await admin.node.list({})).nodes, []);
    await expectCode(admin.node.get({ nodeId: 7n }), Code.NotFound, /not registered/);
    await expectCode(admin.node.cordon({ nodeId: 7n }), Code.NotFound, /node/, "not-found");
    await expectCode(admin.node.get({ nodeId: 0n }), Code.InvalidArgument, /^node_id/);
  });

  test("console: a VM never placed has none", async () => {
    await expectCode(
      (async () => {
        for await (const _chunk of admin.vm.console({ vm: { tenant: "acme", name: "web" } })) break;
      })(),
      Code.NotFound,
      /never been placed/,
    );
  });
});

describe("VM API on three in-process nodes", { timeout: 90_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "blixard-vm-api-3-"));
  const nodes: NodeRuntime[] = [];
  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  test("writes through a follower are forwarded; reads on any node see them", async () => {
    const ids: NodeId[] = [1, 2, 3];
    const peers = new Map<NodeId, string>();
    for (const id of ids) peers.set(id, `127.0.0.1:${await freePort()}`);
    for (const id of ids) {
      nodes.push(
        await NodeRuntime.start({
          nodeId: id,
          security: "insecure",
          peerListen: peers.get(id)!,
          apiListen: "127.0.0.1:0",
          dataDir: join(dir, `node-${id}`),
          initialCluster: peers,
          log: silentLogger,
          tickMs: 20,
          bootstrapTokens: BOOTSTRAP_TOKENS,
        }),
      );
    }
    await waitUntil("a leader", () => nodes.some((n) => n.status().raft.role === "leader"), 20_000);
    const follower = nodes.find((n) => n.status().raft.role !== "leader")!;
    const other = nodes.find((n) => n !== follower && n.status().raft.role !== "leader")!;
    const viaFollower = createApiClients(`http://${follower.apiAddress}`, { token: ADMIN_TOKEN.text });
    const viaOther = createApiClients(`http://${other.apiAddress}`, { token: ADMIN_TOKEN.text });
    await viaFollower.tenant.setQuota({ tenant: "acme", quota: quota(5) });
    const created = await viaFollower.vm.create({ spec: specToProto(spec("spread", { tenant: "acme" })) });
    assert.equal(created.vm?.phase, "pending");
    assert.equal((await viaOther.vm.get({ vm: { tenant: "acme", name: "spread" } })).vm?.id, created.vm?.id);
    assert.equal((await viaOther.tenant.usage({ tenant: "acme" })).tenant?.usage?.vms, 1n);
    const stopped = await viaOther.vm.stop({ vm: { id: created.vm!.id } });
    assert.equal(stopped.vm?.phase, "stopped");
    await viaFollower.vm.delete({ vm: { id: created.vm!.id } });
    await expectCode(viaOther.vm.get({ vm: { id: created.vm!.id } }), Code.NotFound, /not found/);

    // A VM placed on the other follower: its console is asked of that node, with the caller's
    // token. No VM backend runs there, and the answer says so: the call went to that node.
    const registered = await follower.submit({
      kind: "cluster",
      envelope: {
        stampUs: 0,
        requestId: "",
        body: {
          kind: "node-register",
          node: {
            id: other.nodeId,
            address: other.apiAddress,
            capacity: { vcpus: 4, memoryMib: 4_096, diskGib: 10 },
            overcommit: { cpuPermille: 1000, memoryPermille: 1000, diskPermille: 1000, reserve: { vcpus: 0, memoryMib: 0, diskGib: 0 } },
            labels: [],
            features: [],
            topology: { datacenter: "", zone: "", rack: "" },
          },
        },
      },
    });
    assert.equal(registered.status, "ok");
    await viaFollower.vm.create({ spec: specToProto(spec("elsewhere", { tenant: "acme" })) });
    const plan = await viaFollower.vm.plan({ spec: specToProto(spec("elsewhere", { tenant: "acme" })), commit: true });
    assert.equal(plan.nodeId, BigInt(other.nodeId));
    assert.ok(plan.committed);
    await expectCode(
      (async () => {
        for await (const _chunk of viaFollower.vm.console({ vm: { tenant: "acme", name: "elsewhere" } })) break;
      })(),
      Code.FailedPrecondition,
      new RegExp(`^node ${other.nodeId} runs no VMs`),
    );
  });
});
