import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { ClusterCommand, RejectionCode, VmRecord } from "../../../src/core/cluster/types.ts";
import { CLUSTER_LIMITS } from "../../../src/core/cluster/types.ts";
import { Driver, bigQuota, pool, registration, spec, stateBytes } from "./fixtures.ts";

/** Applies a command that must be rejected with `code`, and checks that nothing changed. */
function rejects(d: Driver, body: ClusterCommand, code: RejectionCode, messagePart?: string, requestId = ""): string {
  const before = stateBytes(d.state);
  const result = d.run(body, requestId);
  assert.equal(result.status, "rejected", `${body.kind} should be rejected ${code}`);
  assert.ok(result.status === "rejected");
  assert.equal(result.code, code, result.message);
  if (messagePart !== undefined) assert.ok(result.message.includes(messagePart), result.message);
  assert.equal(stateBytes(d.state), before, "a rejection changed the state");
  assert.deepEqual(d.state.audit(), []);
  return result.message;
}

function vm(d: Driver, id: number): VmRecord {
  const record = d.state.vm(id);
  assert.ok(record !== undefined, `vm ${id} exists`);
  return record;
}

/** A VM created, placed on node 1 and reported running. */
function runningVm(d: Driver, name: string, overrides: Parameters<typeof spec>[1] = {}, nodeId = 1): number {
  const id = d.create(spec(name, overrides));
  assert.ok(d.place(id, nodeId), `${name} placed`);
  d.report(nodeId, id, "starting");
  d.report(nodeId, id, "running");
  assert.equal(vm(d, id).phase, "running");
  return id;
}

describe("cluster state: nodes", () => {
  test("register gives epoch 1, state ready, and is idempotent for the same registration", () => {
    const d = Driver.withNodes(0);
    const detail = d.ok({ kind: "node-register", node: registration(7) });
    assert.ok(detail.kind === "node");
    assert.equal(detail.node.lease.epoch, 1);
    assert.equal(detail.node.state, "ready");
    assert.equal(detail.node.generation, 1);
    const before = stateBytes(d.state);
    d.ok({ kind: "node-register", node: registration(7) });
    assert.equal(stateBytes(d.state), before);
  });

  test("a live node re-registering with new capacity updates it only if its vms still fit", () => {
    const d = Driver.withNodes(1);
    runningVm(d, "a", { resources: { vcpus: 6, memoryMib: 1024, diskGib: 10 } });
    rejects(d, { kind: "node-register", node: registration(1, { capacity: { vcpus: 4, memoryMib: 16_384, diskGib: 100 } }) }, "no-capacity", "vcpus");
    const detail = d.ok({ kind: "node-register", node: registration(1, { capacity: { vcpus: 16, memoryMib: 16_384, diskGib: 100 } }) });
    assert.ok(detail.kind === "node");
    assert.equal(detail.node.capacity.vcpus, 16);
    assert.equal(detail.node.lease.epoch, 1);
    assert.equal(detail.node.generation, 3, "placement then update");
  });

  test("heartbeat renews the lease at its index; wrong epoch or unknown node is refused", () => {
    const d = Driver.withNodes(1);
    d.ok({ kind: "node-heartbeat", nodeId: 1, epoch: 1 });
    assert.equal(d.state.node(1)!.lease.renewedIndex, d.index);
    rejects(d, { kind: "node-heartbeat", nodeId: 1, epoch: 2 }, "stale-epoch", "epoch");
    rejects(d, { kind: "node-heartbeat", nodeId: 9, epoch: 1 }, "not-found", "node 9");
  });

  test("set-state changes ready/cordoned/draining, not for a down node", () => {
    const d = Driver.withNodes(1);
    d.ok({ kind: "node-set-state", nodeId: 1, state: "cordoned" });
    assert.equal(d.state.node(1)!.state, "cordoned");
    d.ok({ kind: "node-set-state", nodeId: 1, state: "draining" });
    assert.equal(d.state.node(1)!.state, "draining");
    d.ok({ kind: "node-declare-down", nodeId: 1, epoch: 1, renewedIndex: d.state.node(1)!.lease.renewedIndex });
    rejects(d, { kind: "node-set-state", nodeId: 1, state: "ready" }, "conflict", "down");
    rejects(d, { kind: "node-set-state", nodeId: 4, state: "ready" }, "not-found");
  });

  test("declare-down fences every vm on the node at once and a new registration gets epoch + 1", () => {
    const d = Driver.withNodes(2);
    const a = runningVm(d, "a");
    const b = d.create(spec("b"));
    d.place(b, 1);
    const c = d.create(spec("c"));
    d.place(c, 1);
    d.ok({ kind: "vm-set-desired", vmId: c, expectedGeneration: 0, desired: "stopped" });
    const e = d.create(spec("e"));
    d.place(e, 1);
    d.ok({ kind: "vm-delete", vmId: e, expectedGeneration: 0 });
    assert.equal(vm(d, e).phase, "deleting");
    const tokenBefore = vm(d, a).token;
    const lease = d.state.node(1)!.lease;
    rejects(d, { kind: "node-declare-down", nodeId: 1, epoch: 2, renewedIndex: lease.renewedIndex }, "stale-epoch", "epoch");
    rejects(d, { kind: "node-declare-down", nodeId: 1, epoch: 1, renewedIndex: lease.renewedIndex - 1 }, "stale-epoch", "renewedIndex");
    d.ok({ kind: "node-declare-down", nodeId: 1, epoch: 1, renewedIndex: lease.renewedIndex });
    const node = d.state.node(1)!;
    assert.equal(node.state, "down");
    assert.equal(node.lease.epoch, 1, "the epoch stays until the node registers again");
    assert.deepEqual(node.allocated, { vcpus: 0, memoryMib: 0, diskGib: 0 });
    assert.deepEqual([...d.state.vmsOnNode(1)], []);
    assert.equal(vm(d, a).phase, "pending");
    assert.equal(vm(d, a).nodeId, 0);
    assert.equal(vm(d, a).token.placement, tokenBefore.placement + 1);
    assert.equal(vm(d, b).phase, "pending");
    assert.equal(vm(d, c).phase, "stopped");
    assert.equal(d.state.vm(e), undefined, "a deleting vm goes when its node is down");
    const fenced = d.state.eventsAfter(d.index - 1, 100).events.filter((ev) => ev.kind === "vm-fenced").map((ev) => ev.vmId);
    assert.deepEqual(fenced, [a, b, c, e]);
    rejects(d, { kind: "node-declare-down", nodeId: 1, epoch: 1, renewedIndex: lease.renewedIndex }, "conflict", "already down");
    rejects(d, { kind: "node-heartbeat", nodeId: 1, epoch: 1 }, "stale-epoch", "register again");
    rejects(d, { kind: "vm-observed", nodeId: 1, epoch: 1, reports: [] }, "stale-epoch");
    const again = d.ok({ kind: "node-register", node: registration(1) });
    assert.ok(again.kind === "node");
    assert.equal(again.node.lease.epoch, 2);
    assert.equal(again.node.state, "ready");
    assert.deepEqual(d.state.audit(), []);
  });

  test("remove only with no vms assigned; a removed node that registers again never reuses its epoch", () => {
    const d = Driver.withNodes(1);
    const a = runningVm(d, "a");
    rejects(d, { kind: "node-remove", nodeId: 1 }, "conflict", "vms assigned");
    rejects(d, { kind: "node-remove", nodeId: 3 }, "not-found");
    d.ok({ kind: "vm-set-desired", vmId: a, expectedGeneration: 0, desired: "stopped" });
    d.report(1, a, "stopped");
    d.ok({ kind: "node-remove", nodeId: 1 });
    assert.equal(d.state.node(1), undefined);
    const again = d.ok({ kind: "node-register", node: registration(1) });
    assert.ok(again.kind === "node");
    assert.equal(again.node.lease.epoch, 2);
  });

  test("nodes iterate in ascending id order whatever the registration order", () => {
    const d = Driver.withNodes(0);
    for (const id of [5, 2, 9, 1]) d.ok({ kind: "node-register", node: registration(id) });
    assert.deepEqual([...d.state.nodes()].map((n) => n.id), [1, 2, 5, 9]);
  });
});

describe("cluster state: vms", () => {
  test("create: id is the index, pending, usage counted, name unique per tenant", () => {
    const d = Driver.withNodes(1);
    d.ok({ kind: "tenant-set", name: "other", quota: bigQuota });
    const id = d.create(spec("a"));
    assert.equal(id, d.index);
    assert.equal(vm(d, id).phase, "pending");
    assert.equal(vm(d, id).generation, 1);
    assert.deepEqual(d.state.tenant("acme")!.usage, { vms: 1, resources: { vcpus: 2, memoryMib: 1024, diskGib: 10 } });
    rejects(d, { kind: "vm-create", spec: spec("a"), desired: "running" }, "already-exists", "spec.name");
    d.create(spec("a", { tenant: "other" }));
    assert.equal(d.state.vmByName("other", "a")!.spec.tenant, "other");
    const stopped = d.create(spec("s"), "stopped");
    assert.equal(vm(d, stopped).phase, "stopped");
  });

  test("create: a missing tenant, a quota passed, an invalid spec are refused", () => {
    const d = Driver.withNodes(1);
    rejects(d, { kind: "vm-create", spec: spec("a", { tenant: "nobody" }), desired: "running" }, "not-found", "spec.tenant");
    d.ok({ kind: "tenant-set", name: "small", quota: { vmsMax: 1, vcpusMax: 4, memoryMibMax: 4096, diskGibMax: 100, vmsPerNodeMax: 1 } });
    rejects(d, { kind: "vm-create", spec: spec("a", { tenant: "small", resources: { vcpus: 5, memoryMib: 1, diskGib: 0 } }), desired: "running" }, "quota-exceeded", "vcpusMax");
    d.create(spec("a", { tenant: "small" }));
    rejects(d, { kind: "vm-create", spec: spec("b", { tenant: "small" }), desired: "running" }, "quota-exceeded", "vmsMax");
    const message = rejects(d, { kind: "vm-create", spec: spec("c", { resources: { vcpus: 0, memoryMib: 1, diskGib: 0 } }), desired: "running" }, "invalid");
    assert.equal(message, "body.spec.resources.vcpus: must be an integer 1..1024, got 0");
  });

  test("create: a spec no registered node could ever hold is created pending with a reason", () => {
    const d = Driver.withNodes(2);
    const id = d.create(spec("huge", { resources: { vcpus: 64, memoryMib: 1024, diskGib: 1 } }));
    assert.equal(vm(d, id).phase, "pending");
    assert.match(vm(d, id).reason, /no registered node could ever hold 64 vcpus/);
    assert.equal(vm(d, d.create(spec("fine"))).reason, "");
  });

  test("update: compare-and-set on the generation, quota recheck on growth, name and tenant fixed", () => {
    const d = Driver.withNodes(1);
    d.ok({ kind: "tenant-set", name: "acme", quota: { ...bigQuota, vcpusMax: 4 } });
    const id = d.create(spec("a"));
    rejects(d, { kind: "vm-update", vmId: id, expectedGeneration: 7, spec: spec("a") }, "stale-generation", "generation 1");
    rejects(d, { kind: "vm-update", vmId: id, expectedGeneration: 1, spec: spec("a", { resources: { vcpus: 5, memoryMib: 1, diskGib: 1 } }) }, "quota-exceeded", "vcpusMax");
    rejects(d, { kind: "vm-update", vmId: id, expectedGeneration: 1, spec: spec("b") }, "invalid", "spec.name");
    rejects(d, { kind: "vm-update", vmId: 99, expectedGeneration: 1, spec: spec("a") }, "not-found");
    const detail = d.ok({ kind: "vm-update", vmId: id, expectedGeneration: 1, spec: spec("a", { resources: { vcpus: 4, memoryMib: 512, diskGib: 1 } }) });
    assert.ok(detail.kind === "vm");
    assert.equal(detail.vm.generation, 2);
    assert.deepEqual(d.state.tenant("acme")!.usage.resources, { vcpus: 4, memoryMib: 512, diskGib: 1 });
  });

  test("update: resizing an assigned vm is a conflict", () => {
    const d = Driver.withNodes(1);
    const id = runningVm(d, "a");
    rejects(d, { kind: "vm-update", vmId: id, expectedGeneration: 0, spec: spec("a", { resources: { vcpus: 1, memoryMib: 1, diskGib: 1 } }) }, "conflict", "spec.resources");
    d.ok({ kind: "vm-update", vmId: id, expectedGeneration: 0, spec: spec("a", { kernelCmdline: "quiet" }) });
  });

  test("set-desired: stopped stops a running vm through stopping; running brings a stopped one back to pending", () => {
    const d = Driver.withNodes(1);
    const id = runningVm(d, "a");
    d.ok({ kind: "vm-set-desired", vmId: id, expectedGeneration: vm(d, id).generation, desired: "stopped" });
    assert.equal(vm(d, id).phase, "stopping");
    d.report(1, id, "running");
    assert.equal(vm(d, id).phase, "stopping", "still running: stays stopping");
    d.report(1, id, "stopped");
    assert.equal(vm(d, id).phase, "stopped");
    assert.equal(vm(d, id).nodeId, 0);
    assert.deepEqual(d.state.node(1)!.allocated, { vcpus: 0, memoryMib: 0, diskGib: 0 });
    d.ok({ kind: "vm-set-desired", vmId: id, expectedGeneration: 0, desired: "running" });
    assert.equal(vm(d, id).phase, "pending");
    rejects(d, { kind: "vm-set-desired", vmId: id, expectedGeneration: 1, desired: "stopped" }, "stale-generation");
  });

  test("delete: an unassigned vm goes at once, releasing usage and addresses; an assigned one waits for its agent", () => {
    const d = Driver.withNodes(1);
    d.ok({ kind: "ip-pool-create", pool: pool("net", "10.0.0.0/29", "10.0.0.1") });
    const nic = [{ mode: "user" as const, ipPool: "net", portForwards: [] }];
    const a = d.create(spec("a", { interfaces: nic }));
    assert.equal(vm(d, a).addresses[0]!.address, "10.0.0.2");
    d.ok({ kind: "vm-delete", vmId: a, expectedGeneration: 1 });
    assert.equal(d.state.vm(a), undefined);
    assert.equal(d.state.tenant("acme")!.usage.vms, 0);
    const b = runningVm(d, "b", { interfaces: nic });
    assert.equal(vm(d, b).addresses[0]!.address, "10.0.0.2", "the released address is the lowest free again");
    rejects(d, { kind: "vm-delete", vmId: b, expectedGeneration: 1 }, "stale-generation");
    d.ok({ kind: "vm-delete", vmId: b, expectedGeneration: 0 });
    assert.equal(vm(d, b).phase, "deleting");
    assert.equal(d.state.tenant("acme")!.usage.vms, 1, "usage held until it is gone");
    rejects(d, { kind: "vm-set-desired", vmId: b, expectedGeneration: 0, desired: "stopped" }, "conflict", "deleting");
    d.report(1, b, "exited");
    assert.equal(d.state.vm(b), undefined);
    assert.equal(d.state.tenant("acme")!.usage.vms, 0);
    rejects(d, { kind: "vm-delete", vmId: b, expectedGeneration: 0 }, "not-found");
  });

  test("migrate: a running vm stops, then is pending with its target remembered", () => {
    const d = Driver.withNodes(2);
    const id = runningVm(d, "a");
    rejects(d, { kind: "vm-migrate", vmId: id, expectedGeneration: 0, targetNodeId: 5 }, "not-found", "targetNodeId");
    rejects(d, { kind: "vm-migrate", vmId: id, expectedGeneration: 0, targetNodeId: 1 }, "conflict", "already runs");
    d.ok({ kind: "vm-migrate", vmId: id, expectedGeneration: 0, targetNodeId: 2 });
    assert.equal(vm(d, id).phase, "stopping");
    assert.equal(vm(d, id).migrateTargetNodeId, 2);
    rejects(d, { kind: "vm-migrate", vmId: id, expectedGeneration: 0, targetNodeId: 2 }, "conflict", "only a running vm");
    d.report(1, id, "stopped");
    assert.equal(vm(d, id).phase, "pending");
    assert.equal(vm(d, id).migrateTargetNodeId, 2);
    assert.ok(d.place(id, 2));
    assert.equal(vm(d, id).migrateTargetNodeId, undefined);
    assert.equal(vm(d, id).token.placement, 3, "placement 1, unassign bump 2, new placement 3");
  });

  test("fail: the controller fails a pending vm; an assigned one stays assigned until stopped", () => {
    const d = Driver.withNodes(1);
    const p = d.create(spec("p"));
    d.ok({ kind: "vm-fail", vmId: p, expectedGeneration: 0, reason: "unplaceable" });
    assert.equal(vm(d, p).phase, "failed");
    rejects(d, { kind: "vm-fail", vmId: p, expectedGeneration: 0, reason: "again" }, "conflict", "failed");
    const r = runningVm(d, "r");
    d.ok({ kind: "vm-fail", vmId: r, expectedGeneration: 0, reason: "crash loop" });
    assert.equal(vm(d, r).nodeId, 1);
    rejects(d, { kind: "vm-set-desired", vmId: r, expectedGeneration: 0, desired: "running" }, "conflict", "still being stopped");
    d.report(1, r, "stopped");
    assert.equal(vm(d, r).phase, "failed");
    assert.equal(vm(d, r).nodeId, 0);
    d.ok({ kind: "vm-set-desired", vmId: r, expectedGeneration: 0, desired: "running" });
    assert.equal(vm(d, r).phase, "pending");
  });
});

describe("cluster state: placements-commit", () => {
  test("places, skips what no longer applies, and rechecks capacity against the current state", () => {
    const d = Driver.withNodes(2);
    const ids = [1, 2, 3, 4, 5].map((i) => d.create(spec(`v${i}`, { resources: { vcpus: 3, memoryMib: 1024, diskGib: 1 } })));
    const placements = ids.map((vmId) => ({ vmId, expectedGeneration: 1, nodeId: 1 }));
    const detail = d.ok({ kind: "placements-commit", checkIndex: 0, placements, evictions: [] });
    assert.ok(detail.kind === "placements");
    assert.deepEqual(detail.placed, ids.slice(0, 2), "8 vcpus hold two vms of 3");
    assert.deepEqual(detail.skipped, ids.slice(2));
    const placedVm = vm(d, ids[0]!);
    assert.equal(placedVm.phase, "scheduled");
    assert.deepEqual(placedVm.token, { nodeId: 1, epoch: 1, placement: 1 });
    assert.deepEqual(d.state.node(1)!.allocated, { vcpus: 6, memoryMib: 2048, diskGib: 2 });
    assert.deepEqual([...d.state.vmsOnNode(1)].map((v) => v.id), ids.slice(0, 2));
  });

  test("skips a wrong generation, an assigned vm, a node not ready, a constraint, hard anti-affinity, vmsPerNodeMax", () => {
    const d = Driver.withNodes(3);
    d.ok({ kind: "node-set-state", nodeId: 2, state: "cordoned" });
    d.ok({ kind: "tenant-set", name: "acme", quota: { ...bigQuota, vmsPerNodeMax: 2 } });
    const group = { group: "db", mode: "hard" as const, weight: 0, maxPerNode: 1 };
    const a = d.create(spec("a", { antiAffinity: group }));
    const b = d.create(spec("b", { antiAffinity: group }));
    const c = d.create(spec("c", { constraints: [{ kind: "feature", feature: "gpu" }] }));
    const e = d.create(spec("e"));
    const f = d.create(spec("f"));
    const g = d.create(spec("g"));
    const detail = d.ok({
      kind: "placements-commit",
      checkIndex: 0,
      placements: [
        { vmId: a, expectedGeneration: 1, nodeId: 1 },
        { vmId: b, expectedGeneration: 1, nodeId: 1 },
        { vmId: c, expectedGeneration: 1, nodeId: 3 },
        { vmId: e, expectedGeneration: 2, nodeId: 3 },
        { vmId: f, expectedGeneration: 1, nodeId: 2 },
        { vmId: g, expectedGeneration: 1, nodeId: 1 },
        { vmId: e, expectedGeneration: 1, nodeId: 9 },
      ].slice(0, 6),
      evictions: [],
    });
    assert.ok(detail.kind === "placements");
    assert.deepEqual(detail.placed, [a, g]);
    assert.deepEqual(detail.skipped, [b, c, e, f]);
    const h = d.create(spec("h"));
    const second = d.ok({ kind: "placements-commit", checkIndex: 0, placements: [{ vmId: h, expectedGeneration: 1, nodeId: 1 }, { vmId: a, expectedGeneration: vm(d, a).generation, nodeId: 3 }], evictions: [] });
    assert.ok(second.kind === "placements");
    assert.deepEqual(second.skipped, [h, a], "vmsPerNodeMax 2 reached on node 1; a is assigned already");
  });

  test("checkIndex: a plan touching a vm or node changed after it is refused stale-plan", () => {
    const d = Driver.withNodes(2);
    const a = d.create(spec("a"));
    const planIndex = d.index;
    d.ok({ kind: "node-heartbeat", nodeId: 1, epoch: 1 });
    const plan = { kind: "placements-commit" as const, checkIndex: planIndex, placements: [{ vmId: a, expectedGeneration: 1, nodeId: 1 }], evictions: [] };
    const b = d.create(spec("b"));
    d.place(b, 1);
    rejects(d, plan, "stale-plan", "node 1 changed");
    rejects(d, { ...plan, checkIndex: d.index + 1 }, "invalid", "checkIndex");
    const detail = d.ok({ ...plan, checkIndex: d.index, placements: [{ vmId: a, expectedGeneration: 1, nodeId: 2 }] });
    assert.ok(detail.kind === "placements");
    assert.deepEqual(detail.placed, [a], "heartbeats do not make a plan stale");
    rejects(d, { kind: "placements-commit", checkIndex: planIndex, placements: [{ vmId: a, expectedGeneration: 1, nodeId: 2 }], evictions: [] }, "stale-plan", "vm");
  });

  test("eviction: only a lower-priority preemptible assigned vm; it stays allocated until stopped, then is pending", () => {
    const d = Driver.withNodes(1);
    const low = runningVm(d, "low", { preemptible: true, priority: 10, resources: { vcpus: 6, memoryMib: 1024, diskGib: 1 } });
    const keep = runningVm(d, "keep", { preemptible: false, priority: 10, resources: { vcpus: 1, memoryMib: 1, diskGib: 0 } });
    const high = d.create(spec("high", { priority: 500, resources: { vcpus: 6, memoryMib: 1024, diskGib: 1 } }));
    const equal = d.create(spec("equal", { priority: 10 }));
    const first = d.ok({ kind: "placements-commit", checkIndex: 0, placements: [], evictions: [{ vmId: low, expectedGeneration: vm(d, low).generation, forVmId: equal }] });
    assert.ok(first.kind === "placements");
    assert.deepEqual(first.skipped, [low], "never evicts an equal priority");
    const detail = d.ok({
      kind: "placements-commit",
      checkIndex: 0,
      placements: [{ vmId: high, expectedGeneration: 1, nodeId: 1 }],
      evictions: [
        { vmId: low, expectedGeneration: vm(d, low).generation, forVmId: high },
        { vmId: keep, expectedGeneration: vm(d, keep).generation, forVmId: high },
      ],
    });
    assert.ok(detail.kind === "placements");
    assert.deepEqual(detail.evicted, [low]);
    assert.deepEqual(detail.skipped, [keep, high], "keep is not preemptible; high does not fit until low has stopped");
    assert.equal(vm(d, low).phase, "stopping");
    assert.equal(vm(d, low).reason, `evicted for vm ${high}`);
    assert.equal(d.state.node(1)!.allocated.vcpus, 7, "the evictee stays allocated until it stopped");
    d.report(1, low, "stopped");
    assert.equal(vm(d, low).phase, "pending");
    assert.equal(d.state.node(1)!.allocated.vcpus, 1);
    assert.ok(d.place(high, 1));
    assert.deepEqual(d.state.audit(), []);
  });

  test("a duplicate vm in one batch is invalid", () => {
    const d = Driver.withNodes(1);
    const a = d.create(spec("a"));
    rejects(d, { kind: "placements-commit", checkIndex: 0, placements: [{ vmId: a, expectedGeneration: 1, nodeId: 1 }, { vmId: a, expectedGeneration: 1, nodeId: 1 }], evictions: [] }, "invalid", "appears twice");
  });
});

describe("cluster state: agent reports", () => {
  test("scheduled -> starting -> running; reports of an older placement or another node are ignored", () => {
    const d = Driver.withNodes(2);
    const id = d.create(spec("a"));
    d.place(id, 1);
    d.report(1, id, "starting");
    assert.equal(vm(d, id).phase, "starting");
    const before = vm(d, id);
    d.report(1, id, "running", before.token.placement + 5);
    d.report(2, id, "running");
    assert.equal(vm(d, id).generation, before.generation, "ignored reports change nothing");
    d.report(1, id, "running");
    assert.equal(vm(d, id).phase, "running");
    assert.equal(vm(d, id).observed.phase, "running");
    assert.equal(vm(d, id).observed.index, d.index);
    rejects(d, { kind: "vm-observed", nodeId: 1, epoch: 3, reports: [] }, "stale-epoch", "epoch");
    rejects(d, { kind: "vm-observed", nodeId: 8, epoch: 1, reports: [] }, "not-found");
  });

  test("restart policy: always restarts, on-failure restarts a crash but not an exit, never fails and releases", () => {
    const d = Driver.withNodes(1);
    const always = runningVm(d, "always", { restartPolicy: "always" });
    d.report(1, always, "exited");
    assert.equal(vm(d, always).phase, "starting");
    assert.equal(vm(d, always).restarts, 1);
    const onFailure = runningVm(d, "onf", { restartPolicy: "on-failure" });
    d.report(1, onFailure, "crashed");
    assert.equal(vm(d, onFailure).restarts, 1);
    d.report(1, onFailure, "running");
    d.report(1, onFailure, "exited");
    assert.equal(vm(d, onFailure).phase, "failed");
    assert.equal(vm(d, onFailure).nodeId, 0);
    const never = runningVm(d, "never", { restartPolicy: "never" });
    d.report(1, never, "unhealthy");
    assert.equal(vm(d, never).phase, "running", "unhealthy but running, and never restarted");
    d.report(1, never, "crashed");
    assert.equal(vm(d, never).phase, "failed");
    assert.match(vm(d, never).reason, /crashed on node 1; restart policy never/);
    assert.deepEqual(d.state.node(1)!.allocated, vm(d, always).spec.resources);
    assert.deepEqual(d.state.audit(), []);
  });
});

describe("cluster state: tenants and pools", () => {
  test("a quota below usage is allowed, blocks growth, and is not an audit failure", () => {
    const d = Driver.withNodes(1);
    d.create(spec("a"));
    d.create(spec("b"));
    d.ok({ kind: "tenant-set", name: "acme", quota: { ...bigQuota, vmsMax: 1 } });
    assert.deepEqual(d.state.audit(), []);
    rejects(d, { kind: "vm-create", spec: spec("c"), desired: "running" }, "quota-exceeded", "vmsMax 1");
  });

  test("tenant-remove only without vms; unknown tenant is not-found", () => {
    const d = Driver.withNodes(0);
    const id = d.create(spec("a"));
    rejects(d, { kind: "tenant-remove", name: "acme" }, "conflict", "1 vms");
    rejects(d, { kind: "tenant-remove", name: "ghost" }, "not-found");
    d.ok({ kind: "vm-delete", vmId: id, expectedGeneration: 0 });
    d.ok({ kind: "tenant-remove", name: "acme" });
    assert.equal(d.state.tenant("acme"), undefined);
  });

  test("pools: exists, overlapping, exhausted, unknown pool, remove only when nothing is held", () => {
    const d = Driver.withNodes(0);
    d.ok({ kind: "ip-pool-create", pool: pool("net", "10.0.0.0/30", "10.0.0.1") });
    rejects(d, { kind: "ip-pool-create", pool: pool("net", "10.9.0.0/30", "10.9.0.1") }, "already-exists");
    rejects(d, { kind: "ip-pool-create", pool: pool("other", "10.0.0.0/24", "10.0.0.1") }, "conflict", "overlaps");
    rejects(d, { kind: "ip-pool-create", pool: pool("bad", "10.0.0.1/24", "10.0.0.1") }, "invalid", "host bits");
    const nic = (ipPool: string) => [{ mode: "user" as const, ipPool, portForwards: [] }];
    const a = d.create(spec("a", { interfaces: nic("net") }));
    assert.deepEqual(vm(d, a).addresses, [{ pool: "net", address: "10.0.0.2", mac: "02:00:0a:00:00:02" }]);
    rejects(d, { kind: "vm-create", spec: spec("b", { interfaces: nic("net") }), desired: "running" }, "pool-exhausted", "interfaces[0]");
    rejects(d, { kind: "vm-create", spec: spec("b", { interfaces: nic("ghost") }), desired: "running" }, "not-found", "ipPool");
    rejects(d, { kind: "ip-pool-remove", name: "net" }, "conflict", "held");
    rejects(d, { kind: "ip-pool-remove", name: "ghost" }, "not-found");
    d.ok({ kind: "vm-delete", vmId: a, expectedGeneration: 0 });
    d.ok({ kind: "ip-pool-remove", name: "net" });
  });

  test("an interface that cannot get an address rolls back the addresses taken for earlier interfaces", () => {
    const d = Driver.withNodes(0);
    d.ok({ kind: "ip-pool-create", pool: pool("big", "10.1.0.0/24", "10.1.0.1") });
    d.ok({ kind: "ip-pool-create", pool: pool("tiny", "10.2.0.0/30", "10.2.0.1", ["10.2.0.2"]) });
    const nics = [
      { mode: "user" as const, ipPool: "big", portForwards: [] },
      { mode: "user" as const, ipPool: "tiny", portForwards: [] },
    ];
    rejects(d, { kind: "vm-create", spec: spec("a", { interfaces: nics }), desired: "running" }, "pool-exhausted", "interfaces[1]");
    const id = d.create(spec("b", { interfaces: [nics[0]!] }));
    assert.equal(vm(d, id).addresses[0]!.address, "10.1.0.2");
  });
});

describe("cluster state: idempotency, events, limits", () => {
  test("a retried request id returns the first result and changes nothing; a rejection is not recorded", () => {
    const d = Driver.withNodes(1);
    const first = d.run({ kind: "vm-create", spec: spec("a"), desired: "running" }, "req-1");
    const before = stateBytes(d.state);
    const again = d.run({ kind: "vm-create", spec: spec("a"), desired: "running" }, "req-1");
    assert.deepEqual(again, first);
    assert.equal(stateBytes(d.state), before);
    assert.equal([...d.state.vms()].length, 1);
    rejects(d, { kind: "vm-create", spec: spec("a"), desired: "running" }, "already-exists", undefined, "req-2");
    d.ok({ kind: "vm-create", spec: spec("b"), desired: "running" }, "req-2");
  });

  test("request ids are forgotten oldest first past requestIdsRetainedMax", () => {
    const d = Driver.withNodes(0);
    const max = CLUSTER_LIMITS.requestIdsRetainedMax;
    for (let i = 0; i <= max; i++) d.ok({ kind: "tenant-set", name: "t", quota: bigQuota }, `r${i}`);
    const recorded = JSON.parse(new TextDecoder().decode(d.state.snapshot())).requests as { requestId: string }[];
    assert.equal(recorded.length, max);
    assert.equal(recorded[0]!.requestId, "r1");
  });

  test("events carry the index, a sequence within it and the stamp; eventsAfter pages them", () => {
    const d = Driver.withNodes(1);
    const a = d.create(spec("a"));
    const b = d.create(spec("b"));
    const commitIndex = d.index + 1;
    d.ok({ kind: "placements-commit", checkIndex: 0, placements: [{ vmId: a, expectedGeneration: 1, nodeId: 1 }, { vmId: b, expectedGeneration: 1, nodeId: 1 }], evictions: [] });
    const { events, truncated } = d.state.eventsAfter(commitIndex - 1, 10);
    assert.equal(truncated, false);
    assert.deepEqual(events.map((e) => [e.index, e.sequence, e.kind, e.vmId]), [
      [commitIndex, 0, "vm-scheduled", a],
      [commitIndex, 1, "vm-scheduled", b],
    ]);
    assert.equal(events[0]!.stampUs, (commitIndex - 1) * 10);
    assert.equal(d.state.eventsAfter(0, 2).events.length, 2);
    assert.equal(d.state.eventsAfter(d.index, 10).events.length, 0);
  });

  test("the event ring drops the oldest past eventsRetainedMax and says so", () => {
    const d = Driver.withNodes(0);
    const max = CLUSTER_LIMITS.eventsRetainedMax;
    for (let i = 0; i < max + 5; i++) d.ok({ kind: "tenant-set", name: "t", quota: bigQuota });
    const all = d.state.eventsAfter(0, max * 2);
    assert.equal(all.events.length, max);
    assert.equal(all.truncated, true);
    assert.equal(d.state.eventsAfter(d.index - 3, 10).truncated, false);
  });

  test("limit-exceeded: pools past ipPoolsMax", () => {
    const d = Driver.withNodes(0);
    for (let i = 0; i < CLUSTER_LIMITS.ipPoolsMax; i++) {
      d.ok({ kind: "ip-pool-create", pool: pool(`p${i}`, `10.${i}.0.0/30`, `10.${i}.0.1`) });
    }
    rejects(d, { kind: "ip-pool-create", pool: pool("one-more", "11.0.0.0/30", "11.0.0.1") }, "limit-exceeded", "ipPoolsMax");
  });

  test("limit-exceeded: nodes past nodesMax", () => {
    const d = Driver.withNodes(0);
    for (let id = 1; id <= CLUSTER_LIMITS.nodesMax; id++) d.ok({ kind: "node-register", node: registration(id) });
    rejects(d, { kind: "node-register", node: registration(CLUSTER_LIMITS.nodesMax + 1) }, "limit-exceeded", "nodesMax");
  });

  test("generations only grow, also across a node's down and registration", () => {
    const d = Driver.withNodes(1);
    const id = runningVm(d, "a");
    const seen: number[] = [vm(d, id).generation];
    d.ok({ kind: "node-declare-down", nodeId: 1, epoch: 1, renewedIndex: d.state.node(1)!.lease.renewedIndex });
    seen.push(vm(d, id).generation);
    const nodeGeneration = d.state.node(1)!.generation;
    d.ok({ kind: "node-register", node: registration(1) });
    assert.ok(d.state.node(1)!.generation > nodeGeneration);
    d.place(id, 1);
    seen.push(vm(d, id).generation);
    assert.deepEqual([...seen].sort((x, y) => x - y), seen);
    assert.equal(new Set(seen).size, seen.length);
  });
});
