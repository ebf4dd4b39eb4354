// The VM registry model (src/core/check/models/vm-registry.ts): each of its rules on a small
// hand-made history in both directions (linearizable, and not), and a property: any history of
// users' operations on a real ClusterState, with the cluster's own changes (placements, agents'
// reports, removals) in between and some answers lost, is linearizable under it; with the state
// machine's compare on generations switched off (a planted bug), a lost update is not.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { buildHistory, checkHistory, type OpEvent } from "../../../../src/core/check/index.ts";
import { vmRegistryModel } from "../../../../src/core/check/models/vm-registry.ts";
import type { Value } from "../../../../src/core/check/value.ts";
import type { ClusterCommand, ClusterResult, VmRecord } from "../../../../src/core/cluster/types.ts";
import { Driver, spec } from "../../cluster/fixtures.ts";

type Outcome = "ok" | "fail" | "info";

/** Builds events for sequential or overlapping operations: [process, f, invokeValue, outcome, completeValue] at the given order. */
class Recorder {
  readonly events: OpEvent[] = [];
  private time = 0;

  invoke(process: number, f: string, key: string, value: Value): void {
    this.events.push({ process, type: "invoke", f, key, value, time: this.time++ });
  }

  complete(process: number, f: string, key: string, type: Outcome, value: Value): void {
    this.events.push({ process, type, f, key, value, time: this.time++ });
  }

  /** One operation that runs alone: invocation, then completion. */
  op(f: string, key: string, invokeValue: Value, type: Outcome, completeValue: Value): this {
    const process = this.events.length;
    this.invoke(process, f, key, invokeValue);
    this.complete(process, f, key, type, completeValue);
    return this;
  }

  verdict(): string {
    const history = buildHistory(this.events, { failSemantics: "no-effect" });
    return checkHistory(history, vmRegistryModel(), { stepLimit: 1_000_000 }).verdict;
  }
}

const K = "acme/web";

describe("the VM registry model", () => {
  test("a create is seen by later reads, with its id, generation, desired state and spec", () => {
    const good = new Recorder().op("vm-create", K, ["s1", "running"], "ok", ["ok", 7, 1]).op("vm-read", K, null, "ok", [7, 3, "running", "running", "s1"]);
    assert.equal(good.verdict(), "ok", "the cluster may have moved the generation on (scheduled, started)");
    assert.equal(new Recorder().op("vm-create", K, ["s1", "running"], "ok", ["ok", 7, 1]).op("vm-read", K, null, "ok", null).verdict(), "illegal", "a created VM is not absent");
    assert.equal(new Recorder().op("vm-create", K, ["s1", "running"], "ok", ["ok", 7, 1]).op("vm-read", K, null, "ok", [7, 2, "stopped", "pending", "s1"]).verdict(), "illegal", "only users change desired");
    assert.equal(new Recorder().op("vm-create", K, ["s1", "running"], "ok", ["ok", 7, 1]).op("vm-read", K, null, "ok", [7, 2, "running", "pending", "s2"]).verdict(), "illegal", "only users change the spec");
    assert.equal(new Recorder().op("vm-create", K, ["s1", "running"], "ok", ["ok", 7, 1]).op("vm-read", K, null, "ok", [8, 2, "running", "pending", "s1"]).verdict(), "illegal", "a VM keeps its id");
    assert.equal(new Recorder().op("vm-read", K, null, "ok", [7, 1, "running", "pending", "s1"]).verdict(), "illegal", "nothing was created");
  });

  test("a generation never goes back, and a change against g leaves g or g + 1", () => {
    const base = (): Recorder => new Recorder().op("vm-create", K, ["s1", "running"], "ok", ["ok", 7, 1]).op("vm-read", K, null, "ok", [7, 5, "running", "running", "s1"]);
    assert.equal(base().op("vm-read", K, null, "ok", [7, 4, "running", "running", "s1"]).verdict(), "illegal", "a stale read");
    assert.equal(base().op("vm-set-desired", K, [7, 5, "stopped"], "ok", ["ok", 6]).op("vm-read", K, null, "ok", [7, 8, "stopped", "stopped", "s1"]).verdict(), "ok");
    assert.equal(base().op("vm-set-desired", K, [7, 4, "stopped"], "ok", ["ok", 5]).verdict(), "illegal", "a compare against a generation already gone succeeded");
    assert.equal(base().op("vm-set-desired", K, [7, 5, "stopped"], "ok", ["ok", 7]).verdict(), "illegal", "one change moved the generation by two: the compare was skipped");
    assert.equal(base().op("vm-set-desired", K, [7, 5, "stopped"], "ok", ["rejected", "stale-generation"]).verdict(), "ok", "the cluster may have moved it on");
    assert.equal(base().op("vm-set-desired", K, [7, 0, "stopped"], "ok", ["ok", 9]).verdict(), "ok", "generation 0 asks for no compare");
    assert.equal(base().op("vm-set-desired", K, [7, 0, "stopped"], "ok", ["rejected", "stale-generation"]).verdict(), "illegal", "no compare, no stale generation");
  });

  test("two users racing on one generation: only one compare-and-set can win", () => {
    const race = new Recorder();
    race.op("vm-create", K, ["s1", "running"], "ok", ["ok", 7, 1]);
    race.invoke(100, "vm-update", K, [7, 1, "s2"]);
    race.invoke(101, "vm-update", K, [7, 1, "s3"]);
    race.complete(100, "vm-update", K, "ok", ["ok", 2]);
    race.complete(101, "vm-update", K, "ok", ["rejected", "stale-generation"]);
    assert.equal(race.verdict(), "ok");
    const lostUpdate = new Recorder();
    lostUpdate.op("vm-create", K, ["s1", "running"], "ok", ["ok", 7, 1]);
    lostUpdate.invoke(100, "vm-update", K, [7, 1, "s2"]);
    lostUpdate.invoke(101, "vm-update", K, [7, 1, "s3"]);
    lostUpdate.complete(100, "vm-update", K, "ok", ["ok", 2]);
    lostUpdate.complete(101, "vm-update", K, "ok", ["ok", 3]);
    assert.equal(lostUpdate.verdict(), "illegal", "both won against generation 1");
  });

  test("a deleted VM reads as deleting or absent, and is then gone for good; its name may be taken again", () => {
    const deleted = (): Recorder => new Recorder().op("vm-create", K, ["s1", "running"], "ok", ["ok", 7, 1]).op("vm-delete", K, [7, 1], "ok", ["ok", 2]);
    assert.equal(deleted().op("vm-read", K, null, "ok", [7, 3, "running", "deleting", "s1"]).op("vm-read", K, null, "ok", null).verdict(), "ok");
    assert.equal(deleted().op("vm-read", K, null, "ok", [7, 3, "running", "running", "s1"]).verdict(), "illegal", "a deleted VM is only ever deleting");
    assert.equal(deleted().op("vm-read", K, null, "ok", null).op("vm-read", K, null, "ok", [7, 3, "running", "deleting", "s1"]).verdict(), "illegal", "gone, then back");
    assert.equal(deleted().op("vm-create", K, ["s2", "stopped"], "ok", ["ok", 12, 1]).op("vm-read", K, null, "ok", [12, 1, "stopped", "stopped", "s2"]).verdict(), "ok");
    assert.equal(deleted().op("vm-create", K, ["s2", "stopped"], "ok", ["ok", 5, 1]).verdict(), "illegal", "a later VM of a name has a larger id");
    assert.equal(new Recorder().op("vm-read", K, null, "ok", [7, 1, "running", "deleting", "s1"]).verdict(), "illegal", "only a user's delete makes a VM deleting");
  });

  test("what a refusal says: a taken name, a free one, a gone VM, a present one", () => {
    const created = (): Recorder => new Recorder().op("vm-create", K, ["s1", "running"], "ok", ["ok", 7, 1]);
    assert.equal(created().op("vm-create", K, ["s2", "running"], "ok", ["rejected", "already-exists"]).verdict(), "ok");
    assert.equal(new Recorder().op("vm-create", K, ["s2", "running"], "ok", ["rejected", "already-exists"]).verdict(), "illegal", "nothing holds the name");
    assert.equal(created().op("vm-create", K, ["s2", "running"], "ok", ["rejected", "quota-exceeded"]).verdict(), "illegal", "a quota refusal passed the name check");
    assert.equal(created().op("vm-delete", K, [7, 1], "ok", ["rejected", "not-found"]).verdict(), "illegal", "the VM is there");
    assert.equal(created().op("vm-delete", K, [7, 1], "ok", ["ok", 1]).op("vm-set-desired", K, [7, 2, "stopped"], "ok", ["rejected", "not-found"]).verdict(), "ok");
    assert.equal(new Recorder().op("vm-update", K, [7, 1, "s2"], "ok", ["rejected", "stale-generation"]).verdict(), "illegal", "no such VM to be stale");
    assert.equal(created().op("vm-migrate", K, [7, 1, 9], "ok", ["rejected", "not-found"]).verdict(), "ok", "may name the target node");
  });

  test("not applied means not applied; unknown may go either way", () => {
    const created = (): Recorder => new Recorder().op("vm-create", K, ["s1", "running"], "ok", ["ok", 7, 1]);
    assert.equal(created().op("vm-set-desired", K, [7, 1, "stopped"], "fail", null).op("vm-read", K, null, "ok", [7, 2, "stopped", "stopped", "s1"]).verdict(), "illegal", "told not applied, yet applied");
    assert.equal(created().op("vm-set-desired", K, [7, 1, "stopped"], "info", null).op("vm-read", K, null, "ok", [7, 2, "stopped", "stopped", "s1"]).verdict(), "ok");
    assert.equal(created().op("vm-set-desired", K, [7, 1, "stopped"], "info", null).op("vm-read", K, null, "ok", [7, 2, "running", "running", "s1"]).verdict(), "ok");
    assert.equal(new Recorder().op("vm-create", K, ["s1", "running"], "info", null).op("vm-read", K, null, "ok", [7, 4, "running", "running", "s1"]).verdict(), "ok", "a lost answer to a create that applied");
    assert.equal(new Recorder().op("vm-create", K, ["s1", "running"], "fail", null).op("vm-read", K, null, "ok", [7, 4, "running", "running", "s1"]).verdict(), "illegal");
  });

  test("bad operations are bad input, naming what is wrong", () => {
    assert.throws(() => new Recorder().op("vm-create", K, ["s1"], "ok", ["ok", 7, 1]).verdict(), /vm-create's invocation: expected an array of 2/);
    assert.throws(() => new Recorder().op("vm-resize", K, [7], "ok", ["ok", 2]).verdict(), /unknown operation :vm-resize/);
    assert.throws(() => new Recorder().op("vm-read", K, null, "ok", [7, -1, "running", "running", "s"]).verdict(), /generation: expected a non-negative integer/);
  });
});

// ---- the property: real cluster state, users and the cluster interleaved --------------------

const NAMES = ["a", "b"] as const;
type Step =
  | { readonly who: "user"; readonly op: "read" | "create" | "stop" | "start" | "update" | "delete" | "migrate"; readonly name: number; readonly stale: boolean; readonly answer: "ok" | "info" | "fail" }
  | { readonly who: "cluster"; readonly op: "place" | "report-running" | "report-stopped" | "fail"; readonly name: number };

const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    who: fc.constant("user" as const),
    op: fc.constantFrom("read", "create", "stop", "start", "update", "delete", "migrate"),
    name: fc.nat(NAMES.length - 1),
    stale: fc.boolean(),
    answer: fc.constantFrom("ok", "ok", "ok", "info", "fail"),
  }),
  fc.record({ who: fc.constant("cluster" as const), op: fc.constantFrom("place", "report-running", "report-stopped", "fail"), name: fc.nat(NAMES.length - 1) }),
);

/** Runs steps against a real ClusterState, recording the users' operations as the workload does; returns the verdict. */
function runSteps(steps: readonly Step[], driver: Driver): string {
  const recorder = new Recorder();
  let specCounter = 0;
  const lastSeen = new Map<string, number>();
  const vmOf = (name: string): VmRecord | undefined => driver.state.vmByName("acme", name);
  const answerOf = (body: ClusterCommand, result: ClusterResult): Value => {
    if (result.status === "rejected") return ["rejected", result.code];
    assert.ok(result.detail.kind === "vm");
    return body.kind === "vm-create" ? ["ok", result.detail.vm.id, result.detail.vm.generation] : ["ok", result.detail.vm.generation];
  };
  for (const step of steps) {
    const name = NAMES[step.name]!;
    const key = `acme/${name}`;
    const vm = vmOf(name);
    if (step.who === "cluster") {
      if (vm === undefined) continue;
      if (step.op === "place" && vm.phase === "pending") driver.place(vm.id, 1);
      else if (step.op === "report-running" && (vm.phase === "scheduled" || vm.phase === "starting")) driver.report(1, vm.id, "running");
      else if (step.op === "report-stopped" && vm.nodeId !== 0 && (vm.phase === "stopping" || vm.phase === "deleting")) driver.report(1, vm.id, "stopped");
      else if (step.op === "fail" && vm.phase === "running") driver.run({ kind: "vm-fail", vmId: vm.id, expectedGeneration: vm.generation, reason: "test" });
      continue;
    }
    if (step.op === "read") {
      recorder.op("vm-read", key, null, "ok", vm === undefined ? null : [vm.id, vm.generation, vm.desired, vm.phase, `s${vm.spec.kernelCmdline}`]);
      continue;
    }
    let body: ClusterCommand;
    let invokeValue: Value;
    if (step.op === "create") {
      const cmdline = `c${specCounter++}`;
      body = { kind: "vm-create", spec: spec(name, { kernelCmdline: cmdline, resources: { vcpus: 1, memoryMib: 256, diskGib: 1 } }), desired: "running" };
      invokeValue = [`s${cmdline}`, "running"];
    } else {
      if (vm === undefined) continue;
      // A stale user uses the generation it saw last (maybe long gone); the others the current one.
      const g = step.stale ? (lastSeen.get(key) ?? vm.generation) : vm.generation;
      if (step.op === "stop" || step.op === "start") {
        const desired = step.op === "stop" ? "stopped" : "running";
        body = { kind: "vm-set-desired", vmId: vm.id, expectedGeneration: g, desired };
        invokeValue = [vm.id, g, desired];
      } else if (step.op === "update") {
        const cmdline = `u${specCounter++}`;
        body = { kind: "vm-update", vmId: vm.id, expectedGeneration: g, spec: { ...vm.spec, kernelCmdline: cmdline } };
        invokeValue = [vm.id, g, `s${cmdline}`];
      } else if (step.op === "delete") {
        body = { kind: "vm-delete", vmId: vm.id, expectedGeneration: g };
        invokeValue = [vm.id, g];
      } else {
        body = { kind: "vm-migrate", vmId: vm.id, expectedGeneration: g, targetNodeId: 0 };
        invokeValue = [vm.id, g, 0];
      }
      lastSeen.set(key, vm.generation);
    }
    const f = body.kind === "vm-create" ? "vm-create" : body.kind;
    if (step.answer === "fail") {
      recorder.op(f, key, invokeValue, "fail", null); // certainly not applied: never sent
      continue;
    }
    const result = driver.run(body);
    recorder.op(f, key, invokeValue, step.answer, step.answer === "info" ? null : answerOf(body, result));
  }
  return recorder.verdict();
}

describe("the VM registry model against the real cluster state", () => {
  test("users' operations with the cluster's own changes in between are always linearizable", () => {
    fc.assert(
      fc.property(fc.array(stepArbitrary, { minLength: 1, maxLength: 60 }), (steps) => {
        assert.equal(runSteps(steps, Driver.withNodes(2)), "ok");
      }),
      { numRuns: 300 },
    );
  });

  test("with the compare on generations skipped (planted generation-not-compared), a stale user's change is caught", () => {
    const steps: Step[] = [
      { who: "user", op: "create", name: 0, stale: false, answer: "ok" },
      { who: "user", op: "stop", name: 0, stale: false, answer: "ok" }, // remembers generation 1
      { who: "user", op: "update", name: 0, stale: true, answer: "ok" }, // against generation 1, now 2
    ];
    assert.equal(runSteps(steps, Driver.withNodes(2)), "ok", "the compare refuses the stale update");
    assert.equal(runSteps(steps, Driver.withNodes(2, new Set(["generation-not-compared"]))), "illegal");
  });
});
