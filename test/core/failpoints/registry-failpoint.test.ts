// The Environment's hook over a registry (src/core/failpoints/registry-failpoint.ts) and the
// catalogue's rules (src/core/env/failpoints.ts): nothing set is undefined without a lookup;
// return and sleep become verdicts; print, panic and crash go to the effects and never reach
// the code; pause resumes when its own point changes; and every setting is checked against
// what the point accepts, on every path, before anything is set.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Random } from "../../../src/core/env/environment.ts";
import { FAILPOINT_NAMES, FAILPOINTS, failpointActionProblem } from "../../../src/core/env/failpoints.ts";
import { FailpointRegistry } from "../../../src/core/failpoints/failpoint-registry.ts";
import { parseFailpointActions, parseFailpointSpec } from "../../../src/core/failpoints/failpoint-spec.ts";
import { checkedFailpointSettings, registryFailpoint, type FailpointEffects } from "../../../src/core/failpoints/registry-failpoint.ts";
import { parseNodeFailpoints, parsePointActions } from "../../../src/shell/node/node-failpoints.ts";

const noRandom: Random = {
  intBelow: () => assert.fail("drew randomness"),
  float: () => assert.fail("drew randomness"),
};

class Stopped extends Error {}

function recordingEffects(): { effects: FailpointEffects; seen: string[] } {
  const seen: string[] = [];
  return {
    seen,
    effects: {
      print: (name, message) => void seen.push(`print ${name} ${message}`),
      panic: (name, message) => {
        seen.push(`panic ${name} ${message}`);
        throw new Stopped();
      },
      crash: (name) => {
        seen.push(`crash ${name}`);
        throw new Stopped();
      },
    },
  };
}

function setPoint(registry: FailpointRegistry, name: string, actions: string): void {
  const parsed = parsePointActions(name, actions);
  assert.ok(parsed.ok, parsed.ok ? "" : parsed.error);
  registry.set(parsed.value);
}

describe("registryFailpoint", () => {
  test("nothing set: undefined, no lookup, no randomness", () => {
    const registry = new FailpointRegistry(noRandom);
    const hook = registryFailpoint(registry, recordingEffects().effects);
    for (const name of FAILPOINT_NAMES) assert.equal(hook(name), undefined);
    assert.deepEqual(registry.list(), []);
  });

  test("return and sleep are verdicts; off and print are nothing; panic and crash go to the effects", () => {
    const registry = new FailpointRegistry(noRandom);
    const { effects, seen } = recordingEffects();
    const hook = registryFailpoint(registry, effects);
    setPoint(registry, "storage.fsync", "1*return(EIO)->1*sleep(7)->1*print(hello)->off");
    assert.deepEqual(hook("storage.fsync"), { kind: "return", arg: "EIO" });
    assert.deepEqual(hook("storage.fsync"), { kind: "delay", ms: 7 });
    assert.equal(hook("storage.fsync"), undefined);
    assert.equal(hook("storage.fsync"), undefined);
    assert.deepEqual(seen, ["print storage.fsync hello"]);
    setPoint(registry, "raft.apply", "panic(boom)");
    assert.throws(() => hook("raft.apply"), Stopped);
    setPoint(registry, "raft.persist", "crash");
    assert.throws(() => hook("raft.persist"), Stopped);
    assert.deepEqual(seen.slice(1), ["panic raft.apply boom", "crash raft.persist"]);
    assert.equal(hook("net.send"), undefined, "a point not set does nothing");
  });

  test("pause resumes when its own point is changed or cleared, not another", () => {
    const registry = new FailpointRegistry(noRandom);
    const hook = registryFailpoint(registry, recordingEffects().effects);
    setPoint(registry, "vm.start", "pause");
    const verdict = hook("vm.start");
    assert.equal(verdict?.kind, "pause");
    let resumed = 0;
    if (verdict?.kind === "pause") verdict.resume(() => resumed++);
    setPoint(registry, "vm.stop", "off");
    assert.equal(resumed, 0);
    registry.clear("vm.start");
    assert.equal(resumed, 1);
    setPoint(registry, "vm.start", "off");
    assert.equal(resumed, 1, "resumed once");
  });

  test("an action a point refuses, set behind the checks' back, is a programmer error at evaluation", () => {
    const registry = new FailpointRegistry(noRandom);
    const hook = registryFailpoint(registry, recordingEffects().effects);
    const parsed = parseFailpointActions("return");
    assert.ok(parsed.ok);
    registry.set({ name: "raft.apply", tasks: parsed.value });
    assert.throws(() => hook("raft.apply"), /refuses/);
  });
});

describe("the catalogue's rules", () => {
  test("every point: off, print, panic and crash; return only with an error path; sleep only where it waits; pause only at async points", () => {
    for (const name of FAILPOINT_NAMES) {
      const info = FAILPOINTS[name];
      for (const kind of ["off", "crash"] as const) assert.equal(failpointActionProblem(name, { kind }), undefined);
      assert.equal(failpointActionProblem(name, { kind: "panic", arg: undefined }), undefined);
      assert.equal(failpointActionProblem(name, { kind: "return", arg: "EIO" }) === undefined, info.returns !== undefined, name);
      assert.equal(failpointActionProblem(name, { kind: "sleep", ms: 1 }) === undefined, info.waits !== undefined, name);
      assert.equal(failpointActionProblem(name, { kind: "pause" }) === undefined, info.waits === "async", name);
      // The simulator's own action is one the point accepts.
      assert.equal(failpointActionProblem(name, info.simulated), undefined, `${name}: simulated ${info.simulated.kind}`);
    }
    assert.match(failpointActionProblem("storage.fsnc", { kind: "off" })!, /no failpoint "storage\.fsnc"/);
  });

  test("checked settings: the first point or action refused is named; a good spec passes whole", () => {
    const good = parseFailpointSpec("storage.fsync=1%return(EIO);net.send=sleep(50)");
    assert.ok(good.ok);
    assert.ok(checkedFailpointSettings(good.value).ok);
    const cases: [string, RegExp][] = [
      ["storage.fsync=1%return(EIO);raft.apply=return", /raft\.apply takes no return/],
      ["raft.persist=sleep(5)", /raft\.persist takes no sleep/],
      ["net.send=pause", /net\.send takes no pause/],
      ["no.such=off", /no failpoint "no\.such"/],
      ["storage.fsync=1%retur(EIO)", /^column 17: unknown action "retur"/],
    ];
    for (const [spec, pattern] of cases) {
      const parsed = parseNodeFailpoints(spec);
      assert.ok(!parsed.ok, spec);
      assert.match(parsed.error, pattern, spec);
    }
    assert.deepEqual(parseNodeFailpoints(""), { ok: true, value: [] });
  });

  test("docs/FAILPOINTS.md has a row for every point, and no row for a point that is not catalogued", () => {
    const doc = readFileSync(resolve(import.meta.dirname, "../../../docs/FAILPOINTS.md"), "utf8");
    const rows = [...doc.matchAll(/^\| `([a-z][a-z0-9.-]*)` \|/gm)].map((m) => m[1]).filter((name) => name.includes("."));
    assert.deepEqual(rows, [...FAILPOINT_NAMES]);
  });
});
