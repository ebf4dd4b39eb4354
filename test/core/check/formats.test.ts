// Parsers and writers: EDN, Jepsen log lines, Blixard JSON lines; errors name file:line:column.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  BadInputError,
  EdnMap,
  EdnSet,
  EdnTagged,
  Keyword,
  buildHistory,
  checkText,
  detectFormat,
  parseEdnHistory,
  parseJepsenLog,
  parseJsonl,
  readEdnForms,
  valueKey,
  writeEdnHistory,
  writeJepsenLog,
  writeJsonl,
} from "../../../src/core/check/index.ts";
import type { HistoryEvent } from "../../../src/core/check/index.ts";

function badInput(fn: () => unknown): BadInputError {
  try {
    fn();
  } catch (error) {
    if (error instanceof BadInputError) return error;
    throw error;
  }
  assert.fail("expected BadInputError");
}

describe("EDN reader", () => {
  test("reads scalars, collections, comments, discards and tagged literals", () => {
    const forms = readEdnForms(
      `; comment\n{:a 1, :b -2.5 :c "s\\n\\"q\\"" :d nil :e true :f [1 (2 3)] :g #{:x} :h \\a :i #inst "2020" :j 12N :k foo/bar} #_ {:skipped 1} [:z]`,
      "t.edn",
    );
    assert.equal(forms.length, 2);
    const map = forms[0].value as EdnMap;
    assert.ok(map instanceof EdnMap);
    assert.equal(map.getKeyword("a"), 1);
    assert.equal(map.getKeyword("b"), -2.5);
    assert.equal(map.getKeyword("c"), 's\n"q"');
    assert.equal(map.getKeyword("d"), null);
    assert.equal(map.getKeyword("e"), true);
    assert.equal(valueKey(map.getKeyword("f")!), "[1 [2 3]]");
    assert.ok(map.getKeyword("g") instanceof EdnSet);
    assert.ok(map.getKeyword("i") instanceof EdnTagged);
    assert.equal(map.getKeyword("j"), 12);
    assert.equal(forms[0].line, 2);
    assert.deepEqual(forms[1].elementPlaces, [{ line: 2, column: 125 }]);
  });

  test("names line and column of a malformed form", () => {
    const cases: Array<[string, number, number, RegExp]> = [
      ['{:a 1}\n{:a "unterminated}', 2, 5, /unterminated string/],
      ["[1 2\n 3", 1, 1, /unclosed '\['/],
      ["{:a 1 :b}", 1, 1, /even number/],
      ["{:a 1}}", 1, 7, /unexpected '\}'/],
      ["\n\n   [1 2.3.4]", 3, 7, /bad number/],
      ["#foo", 1, 1, /expected a form after tag/],
    ];
    for (const [text, line, column, reason] of cases) {
      const error = badInput(() => readEdnForms(text, "x.edn"));
      assert.equal(error.file, "x.edn");
      assert.deepEqual([error.line, error.column], [line, column], text);
      assert.match(error.message, reason);
      assert.ok(error.message.startsWith(`x.edn:${line}:${column}: `));
    }
  });
});

describe("Jepsen EDN histories", () => {
  test("a vector of maps and one map per line read the same", () => {
    const vector = `[{:process 0, :type :invoke, :f :cas, :value [1 2]}\n {:process 0, :type :ok, :f :cas, :value [1 2]}]`;
    const lines = `{:process 0, :type :invoke, :f :cas, :value [1 2]}\n{:process 0, :type :ok, :f :cas, :value [1 2]}\n`;
    const a = parseEdnHistory(vector, "a.edn");
    const b = parseEdnHistory(lines, "b.edn");
    assert.equal(a.length, 2);
    assert.deepEqual(a.map((e) => [e.process, e.type, e.f, valueKey(e.value), e.line]), b.map((e) => [e.process, e.type, e.f, valueKey(e.value), e.line]));
  });

  test("writer output reads back to the same events", () => {
    const events = parseEdnHistory(`{:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"}\n{:process :nemesis, :type :info, :f :start, :value nil}\n`, "k.edn");
    const again = parseEdnHistory(writeEdnHistory(events), "k2.edn");
    assert.deepEqual(again.map((e) => [e.process, e.type, e.f, e.key, valueKey(e.value)]), events.map((e) => [e.process, e.type, e.f, e.key, valueKey(e.value)]));
  });

  test("nemesis events are skipped", () => {
    const history = buildHistory(parseEdnHistory(`{:process :nemesis, :type :info, :f :start}\n{:process 1, :type :invoke, :f :read, :value nil}\n{:process 1, :type :ok, :f :read, :value 0}`, "n.edn"));
    assert.equal(history.operations.length, 1);
    assert.equal(history.skippedEventCount, 1);
  });

  test("a map without :type, or with an unknown one, is named with its place", () => {
    const error = badInput(() => parseEdnHistory(`{:process 0, :type :invoke, :f :read}\n  {:process 0, :f :read}`, "m.edn"));
    assert.equal(error.message, "m.edn:2:3: operation has no :type");
    const unknown = badInput(() => parseEdnHistory(`{:process 0, :type :done, :f :read}`, "m.edn"));
    assert.match(unknown.message, /^m\.edn:1:1: unknown :type :done/);
  });
});

describe("history building", () => {
  test("a completion without an invocation is malformed, with its line", () => {
    const error = badInput(() => buildHistory(parseEdnHistory(`{:process 0, :type :invoke, :f :read}\n{:process 0, :type :ok, :f :read, :value 1}\n{:process 0, :type :ok, :f :read, :value 1}`, "c.edn"), { file: "c.edn" }));
    assert.match(error.message, /^c\.edn:3:1: completion \(ok read\) of process 0 without an open invocation/);
  });

  test("two open invocations on one process are malformed, with the line", () => {
    const error = badInput(() => buildHistory(parseEdnHistory(`{:process 0, :type :invoke, :f :read}\n{:process 0, :type :invoke, :f :write, :value 1}`, "d.edn"), { file: "d.edn" }));
    assert.match(error.message, /^d\.edn:2:1: process 0 invokes write while its read invoked at line 1 is still open/);
  });

  test("an unknown operation name is named, with the line", () => {
    const error = badInput(() => checkText(`{:process 0, :type :invoke, :f :frobnicate, :value 1}\n{:process 0, :type :ok, :f :frobnicate, :value 1}`, "u.edn", { model: "cas-register" }));
    assert.match(error.message, /^u\.edn:1: unknown operation :frobnicate \(expected read, write or cas\)/);
  });

  test("fail semantics: no-effect drops a failed cas, compare-failed keeps it as an observation", () => {
    const text = `{:process 0, :type :invoke, :f :cas, :value [0 1]}\n{:process 0, :type :fail, :f :cas, :value [0 1]}`;
    // The register starts at 0, so a cas from 0 cannot have failed its compare.
    assert.equal(checkText(text, "f.edn", { model: "cas-register", failSemantics: "no-effect" }).result.verdict, "ok");
    assert.equal(checkText(text, "f.edn", { model: "cas-register", failSemantics: "compare-failed" }).result.verdict, "illegal");
  });
});

describe("Jepsen log lines", () => {
  const log = [
    "INFO  jepsen.core - Running test",
    "INFO  jepsen.util - 3\t:invoke\t:cas\t[0 4]",
    "INFO  jepsen.util - 1\t:invoke\t:read\tnil",
    "INFO  jepsen.util - 3\t:fail\t:cas\t[0 4]",
    "INFO  jepsen.util - 1\t:fail\t:read\t:timed-out",
    "INFO  jepsen.util - :nemesis\t:info\t:start\tnil",
    "INFO  jepsen.util - 2\t:invoke\t:write\t3",
    "INFO  jepsen.util - 2\t:ok\t:write\t3",
    "",
  ].join("\n");

  test("parses process, type, f and an EDN value; other lines are ignored", () => {
    const events = parseJepsenLog(log, "etcd.log");
    assert.equal(events.length, 7);
    assert.deepEqual([events[0].process, events[0].type, events[0].f, valueKey(events[0].value), events[0].line], [3, "invoke", "cas", "[0 4]", 2]);
    assert.ok(events[3].value instanceof Keyword);
    assert.equal(events[4].process, "nemesis");
    assert.equal(detectFormat(log), "jepsen-log");
  });

  test("a failed cas is a failed compare and a timed-out read is unknown", () => {
    // From 0 (--initial 0) a cas from 0 that failed its compare is impossible; from absent (this format's default) it fails.
    assert.equal(checkText(log, "etcd.log", { model: "cas-register", initial: 0 }).result.verdict, "illegal");
    assert.equal(checkText(log, "etcd.log", { model: "cas-register" }).result.verdict, "ok");
    const fixed = log.replace("[0 4]", "[1 4]").replace("[0 4]", "[1 4]");
    assert.equal(checkText(fixed, "etcd.log", { model: "cas-register", initial: 0 }).result.verdict, "ok");
  });

  test("writer output reads back", () => {
    const events = parseJepsenLog(log, "etcd.log");
    const again = parseJepsenLog(writeJepsenLog(events), "again.log");
    assert.deepEqual(again.map((e) => [e.process, e.type, e.f, valueKey(e.value)]), events.map((e) => [e.process, e.type, e.f, valueKey(e.value)]));
  });

  test("a malformed value names line and column", () => {
    const error = badInput(() => parseJepsenLog("INFO  jepsen.util - 3\t:invoke\t:cas\t[0 4", "bad.log"));
    assert.equal(error.line, 1);
    assert.equal(error.column, 36);
    assert.match(error.message, /unclosed/);
  });
});

describe("Blixard JSON lines", () => {
  const events: HistoryEvent[] = [
    { process: 3, type: "invoke", f: "cas", key: "k2", value: ["", "b"], time: 1234567 },
    { process: 1, type: "invoke", f: "get", key: "k2", value: null, time: 1234570 },
    { process: 3, type: "ok", f: "cas", key: "k2", value: ["", "b"], time: 1234580 },
    { process: 1, type: "ok", f: "get", key: "k2", value: "b", time: 1234590 },
    { process: 2, type: "invoke", f: "append", key: "k1", value: "x", time: 1234600 },
    { process: 2, type: "info", f: "append", key: "k1", value: "x", time: 1234700 },
  ];

  test("writes the documented shape, one event per line, and reads it back", () => {
    const text = writeJsonl(events);
    assert.equal(text.split("\n")[0], '{"process":3,"type":"invoke","f":"cas","key":"k2","value":["","b"],"time":1234567}');
    const again = parseJsonl(text, "run.jsonl");
    assert.deepEqual(
      again.map(({ line: _line, ...rest }) => rest),
      events,
    );
    assert.equal(detectFormat(text), "jsonl");
    assert.equal(checkText(text, "run.jsonl", { model: "kv" }).result.verdict, "ok");
  });

  test("malformed JSON names line and column", () => {
    const text = writeJsonl(events.slice(0, 1)) + '{"process":1,"type":"invoke" "f":"get"}\n';
    const error = badInput(() => parseJsonl(text, "run.jsonl"));
    assert.deepEqual([error.line, error.column], [2, 30]);
    assert.match(error.message, /^run\.jsonl:2:30: malformed JSON: expected ',' or '\}'/);
  });

  test("a bad field is named", () => {
    const error = badInput(() => parseJsonl('{"process":1,"type":"invoke","f":"incr","key":"a","value":null,"time":1}', "run.jsonl"));
    assert.match(error.message, /^run\.jsonl:1:30: unknown operation "incr"/);
    const time = badInput(() => parseJsonl('{"process":1,"type":"invoke","f":"get","key":"a","value":null,"time":1.5}', "run.jsonl"));
    assert.match(time.message, /"time" must be an integer/);
  });
});
