// How each history format reads :fail, :info, timeouts and nil (docs/CHECKER.md, "What each
// format's words mean"): one small hand-made history per rule in each direction (linearizable and
// not), and properties: every format's writer and reader round-trip, and the verdict does not change.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  buildHistory,
  checkHistory,
  checkText,
  createModel,
  kvModel,
  parseEdnHistory,
  parseJepsenLog,
  parseJsonl,
  valueKey,
  writeEdnHistory,
  writeJepsenLog,
  writeJsonl,
  type FailSemantics,
  type OpEvent,
  type Value,
} from "../../../src/core/check/index.ts";
import { linearizableKvHistory } from "./generate.ts";

/** Jepsen log lines (tabs) from [process, type, f, value] rows. */
function jepsenLog(rows: ReadonlyArray<readonly [number, string, string, string]>): string {
  return rows.map(([process, type, f, value]) => `INFO  jepsen.util - ${process}\t:${type}\t:${f}\t${value}`).join("\n") + "\n";
}

function edn(rows: ReadonlyArray<readonly [number, string, string, string]>): string {
  return rows.map(([process, type, f, value]) => `{:process ${process}, :type :${type}, :f :${f}, :value ${value}}`).join("\n") + "\n";
}

function verdict(text: string, model: "cas-register" | "kv", initial?: Value): string {
  return checkText(text, "rules", { model, ...(initial !== undefined ? { initial } : {}) }).result.verdict;
}

describe("Jepsen log lines (Jepsen's etcd test, Porcupine's etcd model)", () => {
  test("fields may be separated by any whitespace, as Porcupine's parser takes them", () => {
    const tabs = "INFO  jepsen.util - 3\t:invoke\t:cas\t[2 4]\nINFO  jepsen.util - 3\t:fail\t:cas\t[2 4]\n";
    const spaces = "INFO jepsen.util -   3  :invoke :cas  [2 4]\nINFO  jepsen.util - 3 :fail\t:cas [2 4]   \n";
    const tuple = (events: OpEvent[]): string[] => events.map((e) => `${String(e.process)} ${e.type} ${e.f} ${valueKey(e.value)}`);
    assert.deepEqual(tuple(parseJepsenLog(spaces, "spaces.log")), tuple(parseJepsenLog(tabs, "tabs.log")));
    assert.equal(checkText(spaces, "spaces.log", { model: "cas-register" }).format, "jepsen-log", "detected with spaces too");
  });

  test("the register starts absent: a read of nil means absent", () => {
    assert.equal(verdict(jepsenLog([[0, "invoke", "read", "nil"], [0, "ok", "read", "nil"]]), "cas-register"), "ok");
    const readNilAfterWrite = jepsenLog([[1, "invoke", "write", "3"], [1, "ok", "write", "3"], [0, "invoke", "read", "nil"], [0, "ok", "read", "nil"]]);
    assert.equal(verdict(readNilAfterWrite, "cas-register"), "illegal", "after a write, nil is not a read of anything");
    assert.equal(verdict(readNilAfterWrite, "cas-register", 0), "ok", "--initial 0: Knossos' reading, nil is an unknown read");
  });

  test("a cas against the absent register fails: :fail :cas is a failed compare", () => {
    const casOnAbsent = (type: string): string => jepsenLog([[2, "invoke", "cas", "[0 4]"], [2, type, "cas", "[0 4]"]]);
    assert.equal(verdict(casOnAbsent("fail"), "cas-register"), "ok");
    assert.equal(verdict(casOnAbsent("ok"), "cas-register"), "illegal", "nothing to compare with");
    assert.equal(verdict(casOnAbsent("fail"), "cas-register", 0), "illegal", "from 0, a cas [0 4] cannot fail its compare");
    const afterWrite = (type: string): string => jepsenLog([[1, "invoke", "write", "3"], [1, "ok", "write", "3"], [2, "invoke", "cas", "[3 4]"], [2, type, "cas", "[3 4]"]]);
    assert.equal(verdict(afterWrite("ok"), "cas-register"), "ok");
    assert.equal(verdict(afterWrite("fail"), "cas-register"), "illegal", "the compare held, so it cannot have failed");
  });

  test(":fail :read :timed-out and :info are unknown; any other :fail had no effect", () => {
    const timedOutRead = jepsenLog([[1, "invoke", "write", "3"], [1, "ok", "write", "3"], [0, "invoke", "read", "nil"], [0, "fail", "read", ":timed-out"]]);
    assert.equal(verdict(timedOutRead, "cas-register"), "ok", "an unknown read constrains nothing");
    const infoWrite = (type: string, value: string): string => jepsenLog([[1, "invoke", "write", "3"], [1, type, "write", value], [0, "invoke", "read", "nil"], [0, "ok", "read", "3"]]);
    assert.equal(verdict(infoWrite("info", ":timed-out"), "cas-register"), "ok", "a timed-out write may have applied");
    assert.equal(verdict(infoWrite("fail", "3"), "cas-register"), "illegal", "a failed write never applied");
    assert.equal(verdict(infoWrite("fail", ":timed-out"), "cas-register"), "ok", ":fail with :timed-out is unknown");
  });
});

describe("Jepsen EDN (Knossos)", () => {
  test("the register starts at 0 and a read of nil matches any state", () => {
    const rows = [[1, "invoke", "write", "3"], [1, "ok", "write", "3"], [0, "invoke", "read", "nil"], [0, "ok", "read", "nil"]] as const;
    assert.equal(verdict(edn(rows), "cas-register"), "ok");
    assert.equal(verdict(edn([[0, "invoke", "read", "nil"], [0, "ok", "read", "1"]]), "cas-register"), "illegal", "0, not 1");
    assert.equal(verdict(edn(rows), "cas-register", null), "illegal", "--initial nil: Jepsen's etcd reading");
  });

  test(":fail had no effect (a cas too), :info may have", () => {
    const failedCas = edn([[2, "invoke", "cas", "[0 4]"], [2, "fail", "cas", "[0 4]"], [0, "invoke", "read", "nil"], [0, "ok", "read", "0"]]);
    assert.equal(verdict(failedCas, "cas-register"), "ok", "in Knossos' files a failed cas just did not happen");
    const appliedAfterFail = edn([[2, "invoke", "write", "4"], [2, "fail", "write", "4"], [0, "invoke", "read", "nil"], [0, "ok", "read", "4"]]);
    assert.equal(verdict(appliedAfterFail, "cas-register"), "illegal");
    const info = edn([[2, "invoke", "write", "4"], [2, "info", "write", "4"], [0, "invoke", "read", "nil"], [0, "ok", "read", "4"]]);
    assert.equal(verdict(info, "cas-register"), "ok");
  });
});

describe("Blixard JSON lines (the simulator's key-value histories)", () => {
  const line = (process: number, type: string, f: string, value: unknown): string => JSON.stringify({ process, type, f, key: "k", value, time: 1 });
  test('every key starts as "", a failed cas failed its compare, info is unknown', () => {
    assert.equal(verdict([line(0, "invoke", "get", null), line(0, "ok", "get", "")].join("\n"), "kv"), "ok");
    assert.equal(verdict([line(0, "invoke", "cas", ["", "a"]), line(0, "fail", "cas", ["", "a"])].join("\n"), "kv"), "illegal", 'the key was "", the compare held');
    assert.equal(verdict([line(0, "invoke", "cas", ["x", "a"]), line(0, "fail", "cas", ["x", "a"])].join("\n"), "kv"), "ok");
    const infoPut = [line(0, "invoke", "put", "a"), line(0, "info", "put", "a"), line(1, "invoke", "get", null), line(1, "ok", "get", "a")].join("\n");
    assert.equal(verdict(infoPut, "kv"), "ok");
    assert.equal(verdict(infoPut.replace('"info"', '"fail"'), "kv"), "illegal", "a failed put never applied");
  });
});

// ---- round trips -----------------------------------------------------------------------

/** Register events in real-time order: reads (nil at invoke, a value or nil at ok), writes, cas; ok, fail, info or open. */
const registerEvents: fc.Arbitrary<OpEvent[]> = fc
  .array(
    fc.record({
      f: fc.constantFrom("read", "write", "cas"),
      a: fc.nat(3),
      b: fc.nat(3),
      readNil: fc.boolean(),
      outcome: fc.constantFrom("ok", "ok", "fail", "info", "open"),
      delay: fc.nat(3),
    }),
    { minLength: 1, maxLength: 9 },
  )
  .map((specs) => {
    const queue: Array<{ at: number; event: OpEvent }> = [];
    const busyUntil = new Map<number, number>();
    specs.forEach((spec, slot) => {
      let process = 0;
      while ((busyUntil.get(process) ?? -1) >= slot) process += 1;
      const value: Value = spec.f === "read" ? null : spec.f === "write" ? spec.a : [spec.a, spec.b];
      queue.push({ at: slot * 10, event: { process, type: "invoke", f: spec.f, value } });
      if (spec.outcome === "open") {
        busyUntil.set(process, Infinity);
        return;
      }
      busyUntil.set(process, slot + spec.delay);
      const completion: Value = spec.f === "read" ? (spec.readNil ? null : spec.a) : value;
      queue.push({ at: (slot + spec.delay) * 10 + 5, event: { process, type: spec.outcome as "ok" | "fail" | "info", f: spec.f, value: completion } });
    });
    return queue.sort((x, y) => x.at - y.at).map((q) => q.event);
  });

const shape = (events: readonly OpEvent[]): string[] => events.map((e) => `${String(e.process)}|${e.type}|${e.f}|${valueKey(e.value)}`);

function registerVerdict(events: readonly OpEvent[], failSemantics: FailSemantics, initial: Value): string {
  return checkHistory(buildHistory(events, { failSemantics }), createModel("cas-register", { initial })).verdict;
}

describe("writers and readers round-trip, and the verdict does not change", () => {
  test("Jepsen log lines (register starts absent)", () => {
    fc.assert(
      fc.property(registerEvents, (events) => {
        const text = writeJepsenLog(events);
        const again = parseJepsenLog(text, "again.log");
        assert.deepEqual(shape(again), shape(events));
        assert.equal(checkText(text, "again.log", { model: "cas-register" }).result.verdict, registerVerdict(events, "compare-failed", null));
      }),
      { numRuns: 300, seed: 11 },
    );
  });

  test("Jepsen EDN (register starts at 0)", () => {
    fc.assert(
      fc.property(registerEvents, (events) => {
        const text = writeEdnHistory(events);
        const again = parseEdnHistory(text, "again.edn");
        assert.deepEqual(shape(again), shape(events));
        assert.equal(checkText(text, "again.edn", { model: "cas-register" }).result.verdict, registerVerdict(events, "no-effect", 0));
      }),
      { numRuns: 300, seed: 12 },
    );
  });

  test("Blixard JSON lines (key-value), a read mutated or not", () => {
    fc.assert(
      fc.property(linearizableKvHistory({ processes: 3, operations: 12, keys: ["x", "y"], openRate: 0.1 }), fc.nat(), fc.boolean(), (events, which, mutate) => {
        const reads = events.map((e, i) => (e.f === "get" && e.type === "ok" ? i : -1)).filter((i) => i >= 0);
        const at = mutate && reads.length > 0 ? reads[which % reads.length] : -1;
        const history = events.map((e, i) => (i === at ? { ...e, value: "never-written" } : e));
        const text = writeJsonl(history);
        const again = parseJsonl(text, "again.jsonl");
        assert.deepEqual(shape(again), shape(history));
        const expected = checkHistory(buildHistory(history, { failSemantics: "compare-failed" }), kvModel()).verdict;
        assert.equal(checkText(text, "again.jsonl", { model: "kv" }).result.verdict, expected);
      }),
      { numRuns: 200, seed: 13 },
    );
  });
});
