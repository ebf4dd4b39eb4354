// The failpoint action language (src/core/failpoints/failpoint-spec.ts): fail-rs syntax, integer
// probabilities, one-line errors naming the column, and render/parse round trips for random specs.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  FAILPOINT_COUNT_MAX,
  FAILPOINT_SLEEP_MS_MAX,
  PARTS_PER_MILLION,
  parseFailpointActions,
  parseFailpointSpec,
  renderFailpointActions,
  renderFailpointSpec,
  type FailpointAction,
  type FailpointSetting,
  type FailpointTask,
} from "../../../src/core/failpoints/failpoint-spec.ts";

const ok = <T>(result: { ok: true; value: T } | { ok: false; error: string }): T => {
  if (!result.ok) assert.fail(result.error);
  return result.value;
};

describe("failpoint spec", () => {
  test("the fail-rs forms: probability, count, argument, chains", () => {
    assert.deepEqual(ok(parseFailpointActions("20%3*return(EIO)->off")), [
      { partsPerMillion: 200_000, count: 3, action: { kind: "return", arg: "EIO" } },
      { partsPerMillion: PARTS_PER_MILLION, count: undefined, action: { kind: "off" } },
    ]);
    assert.deepEqual(ok(parseFailpointActions("0.0001%sleep(50)")), [{ partsPerMillion: 1, count: undefined, action: { kind: "sleep", ms: 50 } }]);
    assert.deepEqual(ok(parseFailpointActions("return")), [{ partsPerMillion: PARTS_PER_MILLION, count: undefined, action: { kind: "return", arg: undefined } }]);
    assert.deepEqual(ok(parseFailpointActions("return(-250)")), [{ partsPerMillion: PARTS_PER_MILLION, count: undefined, action: { kind: "return", arg: "-250" } }]);
    for (const kind of ["crash", "pause", "panic", "print"]) assert.equal(ok(parseFailpointActions(kind))[0]!.action.kind, kind);
    assert.deepEqual(ok(parseFailpointActions("delay(7)"))[0]!.action, { kind: "delay", ms: 7 });
  });

  test("several points, as BLIXARD_FAILPOINTS gives them", () => {
    const settings = ok(parseFailpointSpec("storage.fsync.before=1%return(EIO);net.send=sleep(50);"));
    assert.deepEqual(
      settings.map((s) => [s.name, renderFailpointActions(s.tasks)]),
      [
        ["storage.fsync.before", "1%return(EIO)"],
        ["net.send", "sleep(50)"],
      ],
    );
    assert.deepEqual(ok(parseFailpointSpec("")), []);
  });

  test("a bad spec is one line naming the column and the wrong part", () => {
    const cases: [string, RegExp][] = [
      ["a=retrun(EIO)", /^column 3: unknown action "retrun"/],
      ["a=off;b=150%return", /^column 9: 150% is more than 100%/],
      ["a=sleep(x)", /^column 3: sleep needs whole milliseconds/],
      [`a=sleep(${FAILPOINT_SLEEP_MS_MAX + 1})`, /^column 3: sleep needs/],
      ["a=0*return", /^column 3: count 0 is outside/],
      [`a=${FAILPOINT_COUNT_MAX + 1}*return`, /^column 3: count/],
      ["a=off->", /^column 8: an empty action/],
      ["Bad=off", /^column 1: "Bad" is not a failpoint name/],
      ["a=off;a=return", /^column 7: failpoint a is named twice/],
      ["storage.fsync", /^column 1: "storage.fsync" is not NAME=ACTIONS/],
      ["a=crash(now)", /^column 3: crash takes no argument/],
      ["a=return(a>b)", /^column 10: argument "a>b"/],
      ["a=1.23456%off", /^column 3: "1.23456%" is not a percentage/],
    ];
    for (const [spec, expected] of cases) {
      const result = parseFailpointSpec(spec);
      assert.equal(result.ok, false, spec);
      if (!result.ok) {
        assert.match(result.error, expected, spec);
        assert.ok(!result.error.includes("\n"), "one line");
      }
    }
  });

  const arg = fc.option(fc.stringMatching(/^[A-Za-z0-9 _.,:+=-]{0,12}$/), { nil: undefined });
  const action: fc.Arbitrary<FailpointAction> = fc.oneof(
    fc.constantFrom<FailpointAction>({ kind: "off" }, { kind: "crash" }, { kind: "pause" }),
    fc.record({ kind: fc.constantFrom("return" as const, "panic" as const, "print" as const), arg }),
    fc.record({ kind: fc.constantFrom("sleep" as const, "delay" as const), ms: fc.integer({ min: 0, max: FAILPOINT_SLEEP_MS_MAX }) }),
  );
  const task: fc.Arbitrary<FailpointTask> = fc.record({
    partsPerMillion: fc.integer({ min: 0, max: PARTS_PER_MILLION }),
    count: fc.option(fc.integer({ min: 1, max: FAILPOINT_COUNT_MAX }), { nil: undefined }),
    action,
  }).map((t) => ({ ...t, action: { ...t.action } })); // plain objects: fast-check's records have no prototype
  const setting: fc.Arbitrary<FailpointSetting> = fc.record({ name: fc.stringMatching(/^[a-z][a-z0-9-]{0,6}([./][a-z0-9-]{1,6}){0,3}$/), tasks: fc.array(task, { minLength: 1, maxLength: 4 }) }).map((s) => ({ ...s }));

  test("property: a random spec renders and parses back to the same value", () => {
    fc.assert(
      fc.property(fc.uniqueArray(setting, { maxLength: 5, selector: (s) => s.name }), (settings) => {
        assert.deepEqual(ok(parseFailpointSpec(renderFailpointSpec(settings))), settings);
      }),
      { numRuns: 500 },
    );
  });
});
