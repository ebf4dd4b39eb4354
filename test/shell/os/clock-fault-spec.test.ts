// The clock points' language (src/shell/os/clock-fault-spec.ts) and how a node's failpoints take
// it (src/shell/node/node-failpoints.ts): what each argument means, one line for every refusal
// (a drift beyond the bound above all), a round trip of every change through its rendering, and
// BLIXARD_FAILPOINTS and `list` with clock points beside ordinary ones.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { CLOCK_DRIFT_BOUND_PPM, silentLogger } from "../../../src/core/env/environment.ts";
import { parseFailpointActions, renderFailpointActions } from "../../../src/core/failpoints/failpoint-spec.ts";
import { CLOCK_OFFSET_MS_MAX, CLOCK_STROBE_DURATION_MS_MAX, CLOCK_STROBE_PERIOD_MS_MAX, clockChangeOf, renderMonotonicArg, renderWallArg, type ClockChange, type WallClockChange } from "../../../src/shell/os/clock-fault-spec.ts";
import { NodeClocks } from "../../../src/shell/os/node-clocks.ts";
import { NodeFailpoints, parseNodeFailpoints, parsePointActions } from "../../../src/shell/node/node-failpoints.ts";

function change(name: string, actions: string): ClockChange | string {
  const tasks = parseFailpointActions(actions);
  assert.ok(tasks.ok, tasks.ok ? "" : tasks.error);
  const result = clockChangeOf({ name, tasks: tasks.value });
  return result.ok ? result.value : result.error;
}

describe("the clock points' arguments", () => {
  test("each form says what it sets", () => {
    assert.deepEqual(change("clock.wall", "return(offset:-30000)"), { point: "clock.wall", change: { kind: "offset", offsetMs: -30_000, strobe: undefined } });
    assert.deepEqual(change("clock.wall", "return(bump:+5000)"), { point: "clock.wall", change: { kind: "bump", deltaMs: 5_000 } });
    assert.deepEqual(change("clock.wall", "return(strobe:60000,100,5000)"), { point: "clock.wall", change: { kind: "strobe", strobe: { deltaMs: 60_000, periodMs: 100, durationMs: 5_000 } } });
    assert.deepEqual(change("clock.wall", "return(offset:7 strobe:-1,1,1)"), { point: "clock.wall", change: { kind: "offset", offsetMs: 7, strobe: { deltaMs: -1, periodMs: 1, durationMs: 1 } } });
    assert.deepEqual(change("clock.monotonic", "return(drift:-100000)"), { point: "clock.monotonic", change: { kind: "drift", ppm: -CLOCK_DRIFT_BOUND_PPM } });
    assert.deepEqual(change("clock.monotonic", "return(drift:+100000)"), { point: "clock.monotonic", change: { kind: "drift", ppm: CLOCK_DRIFT_BOUND_PPM } });
  });

  test("a drift beyond the bound is refused, naming the bound and why it holds", () => {
    assert.equal(
      change("clock.monotonic", "return(drift:+100001)"),
      "clock.monotonic: drift +100001 ppm is beyond the drift bound of 100000 ppm either way (CLOCK_DRIFT_BOUND_PPM, docs/CLOCKS.md): every lease assumes no monotonic clock is further off",
    );
    assert.match(change("clock.monotonic", "return(drift:-2000000)") as string, /drift -2000000 ppm is beyond the drift bound/);
  });

  test("everything else is one line naming what is wrong", () => {
    const cases: [string, string, RegExp][] = [
      ["clock.wall", "1%return(offset:5)", /^clock\.wall takes exactly one return\(offset:MS\).*without a probability, a count or a chain/],
      ["clock.wall", "2*return(offset:5)", /without a probability, a count or a chain/],
      ["clock.wall", "return(offset:5)->off", /without a probability, a count or a chain/],
      ["clock.wall", "off", /clear it to take the fault away/],
      ["clock.wall", "crash", /takes exactly one/],
      ["clock.wall", "return", /takes exactly one/],
      ["clock.monotonic", "sleep(5)", /^clock\.monotonic takes exactly one return\(drift:PPM\)/],
      ["clock.wall", "return(offset:5s)", /^clock\.wall: offset "5s" is not a whole number of milliseconds/],
      ["clock.wall", `return(offset:${CLOCK_OFFSET_MS_MAX + 1})`, /offset \+2592000001 ms is beyond 2592000000 ms \(30 days\) either way/],
      ["clock.wall", "return(bump:-2592000001)", /bump -2592000001 ms is beyond/],
      ["clock.wall", "return(strobe:5,0,10)", /strobe period "0" must be whole milliseconds 1\.\.60000/],
      ["clock.wall", `return(strobe:5,${CLOCK_STROBE_PERIOD_MS_MAX + 1},10)`, /strobe period/],
      ["clock.wall", `return(strobe:5,10,${CLOCK_STROBE_DURATION_MS_MAX + 1})`, /strobe duration "3600001" must be whole milliseconds 1\.\.3600000/],
      ["clock.wall", "return(strobe:5,10)", /strobe "5,10" is not DELTA_MS,PERIOD_MS,DURATION_MS/],
      ["clock.wall", "return(bump:5 strobe:1,1,1)", /only offset:MS may be followed by a strobe/],
      ["clock.wall", "return(offset:5 bump:1)", /after an offset only a strobe may follow/],
      ["clock.wall", "return(drift:5)", /"drift:5" is not return\(offset:MS\)/],
      ["clock.monotonic", "return(offset:5)", /"offset:5" is not return\(drift:PPM\)/],
      ["clock.monotonic", "return(drift:1.5)", /is not return\(drift:PPM\)/],
    ];
    for (const [name, actions, pattern] of cases) {
      const result = change(name, actions);
      assert.equal(typeof result, "string", `${name}=${actions} was accepted`);
      assert.match(result as string, pattern, `${name}=${actions}`);
      assert.doesNotMatch(result as string, /\n/);
    }
  });

  test("property: every change renders to an argument that parses back to it", () => {
    const ms = fc.integer({ min: -CLOCK_OFFSET_MS_MAX, max: CLOCK_OFFSET_MS_MAX });
    const strobe = fc.record({ deltaMs: ms, periodMs: fc.integer({ min: 1, max: CLOCK_STROBE_PERIOD_MS_MAX }), durationMs: fc.integer({ min: 1, max: CLOCK_STROBE_DURATION_MS_MAX }) });
    const wall: fc.Arbitrary<WallClockChange> = fc.oneof(
      fc.record({ kind: fc.constant("offset" as const), offsetMs: ms, strobe: fc.option(strobe, { nil: undefined }) }),
      fc.record({ kind: fc.constant("bump" as const), deltaMs: ms }),
      fc.record({ kind: fc.constant("strobe" as const), strobe }),
    );
    fc.assert(
      fc.property(wall, fc.integer({ min: -CLOCK_DRIFT_BOUND_PPM, max: CLOCK_DRIFT_BOUND_PPM }), (w, ppm) => {
        const zeroed = (n: number): number => n + 0;
        const normal = JSON.parse(JSON.stringify(w, (_, v: unknown) => (typeof v === "number" ? zeroed(v) : v))) as WallClockChange;
        assert.deepEqual(change("clock.wall", `return(${renderWallArg(w)})`), { point: "clock.wall", change: w.kind === "offset" && w.strobe === undefined ? { ...normal, strobe: undefined } : normal });
        assert.deepEqual(change("clock.monotonic", `return(${renderMonotonicArg({ kind: "drift", ppm })})`), { point: "clock.monotonic", change: { kind: "drift", ppm: zeroed(ppm) } });
      }),
      { numRuns: 300 },
    );
  });
});

describe("a node's failpoints with clock points", () => {
  test("BLIXARD_FAILPOINTS takes clock points beside ordinary ones, and refuses a bad one by its point", () => {
    const both = parseNodeFailpoints("storage.fsync=delay(5);clock.wall=return(offset:+60000);clock.monotonic=return(drift:-20000)");
    assert.ok(both.ok, both.ok ? "" : both.error);
    assert.deepEqual(both.value.map((s) => s.name), ["storage.fsync", "clock.wall", "clock.monotonic"]);
    const beyond = parseNodeFailpoints("clock.monotonic=return(drift:+200000)");
    assert.ok(!beyond.ok && /drift \+200000 ppm is beyond the drift bound/.test(beyond.error), JSON.stringify(beyond));
    const ordinary = parseNodeFailpoints("clock.wall=return(offset:1);raft.apply=return");
    assert.ok(!ordinary.ok && /raft\.apply takes no return/.test(ordinary.error), JSON.stringify(ordinary));
    assert.ok(!parseNodeFailpoints("clock.walls=return(offset:1)").ok);
  });

  test("set changes the node's clocks, list shows each clock's state now beside the registry's points, clear takes it away", () => {
    const clocks = new NodeClocks();
    const initial = parseNodeFailpoints("clock.wall=return(offset:+60000)");
    assert.ok(initial.ok);
    const failpoints = new NodeFailpoints(silentLogger, undefined, initial.value, clocks);
    assert.ok(clocks.wall.nowMs() - Date.now() >= 59_000, "the initial offset is in force from the start");
    const set = (name: string, actions: string): string | undefined => {
      const setting = parsePointActions(name, actions);
      assert.ok(setting.ok, setting.ok ? "" : setting.error);
      return failpoints.set(setting.value);
    };
    assert.equal(set("clock.wall", "return(bump:-90000)"), undefined);
    assert.equal(set("clock.monotonic", "return(drift:+30000)"), undefined);
    assert.equal(set("net.send", "sleep(5)"), undefined);
    assert.ok(clocks.wall.nowMs() - Date.now() <= -29_000);
    assert.equal(clocks.driftPpm, 30_000);
    assert.deepEqual(
      failpoints.list().map((p) => [p.name, renderFailpointActions(p.tasks)]),
      [["clock.monotonic", "return(drift:+30000)"], ["clock.wall", "return(offset:-30000)"], ["net.send", "sleep(5)"]],
    );
    assert.equal(failpoints.activeCount, 1, "the clock points never make the core's hook leave its one branch");
    assert.match(set("clock.wall", `return(bump:-${CLOCK_OFFSET_MS_MAX})`) ?? "", /would leave the offset at -2592030000 ms/);
    assert.equal(failpoints.clear("clock.wall"), true);
    assert.equal(failpoints.clear("clock.monotonic"), true);
    assert.equal(failpoints.clear("clock.wall"), false);
    assert.equal(clocks.driftPpm, 0);
    assert.ok(Math.abs(clocks.wall.nowMs() - Date.now()) < 1_000);
    assert.deepEqual(failpoints.list().map((p) => p.name), ["net.send"]);
  });
});
