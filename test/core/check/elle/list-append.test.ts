// The Elle-style list-append checker (src/core/check/elle/list-append.ts): one hand-made EDN
// history per anomaly, each found and named, with the strongest model it leaves; properties:
// serial executions have no anomaly, and a planted anomaly (a read that misses a write) is found.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { buildHistory, parseEdnHistory, writeEdnHistory, type OpEvent } from "../../../../src/core/check/index.ts";
import { checkListAppend, type AnomalyType, type ListAppendResult } from "../../../../src/core/check/elle/list-append.ts";
import { keyword } from "../../../../src/core/check/value.ts";

function check(edn: string): ListAppendResult {
  return checkListAppend(buildHistory(parseEdnHistory(edn, "elle.edn"), { failSemantics: "no-effect" }));
}

/** Sequential transactions: each invoked and completed before the next (process p, micro-ops at ok). */
function serial(...txns: ReadonlyArray<readonly [number, string, string?]>): string {
  // [process, ok value, type (default ok)]; the invocation carries the same micro-ops with reads nil.
  return txns
    .map(([process, value, type]) => {
      const invoke = value.replace(/\[:r (\S+) \[[^\]]*\]\]/g, "[:r $1 nil]");
      return `{:process ${process}, :type :invoke, :f :txn, :value ${invoke}}\n{:process ${process}, :type :${type ?? "ok"}, :f :txn, :value ${value}}`;
    })
    .join("\n");
}

/** Two transactions invoked together, then completed together (concurrent). */
function concurrent(a: string, b: string): string {
  const nil = (v: string): string => v.replace(/\[:r (\S+) \[[^\]]*\]\]/g, "[:r $1 nil]");
  return [
    `{:process 0, :type :invoke, :f :txn, :value ${nil(a)}}`,
    `{:process 1, :type :invoke, :f :txn, :value ${nil(b)}}`,
    `{:process 0, :type :ok, :f :txn, :value ${a}}`,
    `{:process 1, :type :ok, :f :txn, :value ${b}}`,
  ].join("\n");
}

function assertAnomaly(result: ListAppendResult, type: AnomalyType, strongest: string): void {
  assert.ok((result.counts[type] ?? 0) > 0, `${type} found: ${JSON.stringify(result.anomalies, null, 1)}`);
  const anomaly = result.anomalies.find((a) => a.type === type)!;
  assert.ok(anomaly.explanation.length > 0 && anomaly.operations.length > 0, "explained, naming its transactions");
  assert.equal(result.strongestModel, strongest, JSON.stringify(result.counts));
}

describe("list-append: each anomaly, found and named", () => {
  test("a serial history is strict serializable", () => {
    const result = check(serial([0, "[[:append x 1] [:r x [1]]]"], [1, "[[:append x 2] [:r y nil]]"], [0, "[[:r x [1 2]] [:append y 1]]"], [1, "[[:r y [1]]]"]));
    assert.deepEqual(result.anomalies, []);
    assert.equal(result.strongestModel, "strict-serializable");
    assert.equal(result.transactions, 4);
  });

  test("G0: write cycle (two keys appended in opposite orders)", () => {
    const history = [
      concurrent("[[:append x 1] [:append y 2]]", "[[:append x 2] [:append y 1]]"),
      serial([2, "[[:r x [1 2]] [:r y [1 2]]]"]),
    ].join("\n");
    const result = check(history);
    assertAnomaly(result, "G0", "none");
    assert.match(result.anomalies.find((a) => a.type === "G0")!.explanation.join("\n"), /\(ww\)/);
  });

  test("G1a: aborted read", () => {
    const result = check(serial([0, "[[:append x 1]]", "fail"], [1, "[[:r x [1]]]"]));
    assertAnomaly(result, "G1a", "read-uncommitted");
  });

  test("G1b: intermediate read", () => {
    const history = concurrent("[[:append x 1] [:append x 2]]", "[[:r x [1]]]");
    assertAnomaly(check(history), "G1b", "read-uncommitted");
  });

  test("G1c: circular information flow (ww and wr)", () => {
    // T0 appends x 1 and reads y [1]; T1 appends y 1 and reads x [1]... each saw the other's write.
    const history = concurrent("[[:append x 1] [:r y [1]]]", "[[:append y 1] [:r x [1]]]");
    assertAnomaly(check(history), "G1c", "read-uncommitted");
  });

  test("G-single: read skew (one anti-dependency)", () => {
    // T2 sees T1's y but not its x: x's next version after [] is T1's.
    const history = [serial([0, "[[:append x 0] [:append y 0]]"]), concurrent("[[:append x 1] [:append y 1]]", "[[:r x [0]] [:r y [0 1]]]"), serial([5, "[[:r x [0 1]]]"])].join("\n");
    assertAnomaly(check(history), "G-single", "read-committed");
  });

  test("G2: write skew (two anti-dependencies)", () => {
    const history = [concurrent("[[:r x []] [:append y 1]]", "[[:r y []] [:append x 1]]"), serial([2, "[[:r x [1]] [:r y [1]]]"])].join("\n");
    assertAnomaly(check(history), "G2", "snapshot-isolation");
  });

  test("realtime: a read that misses a write completed before it began (G-single-realtime: serializable, not strict)", () => {
    const result = check(serial([0, "[[:append x 1]]"], [1, "[[:r x []]]"]));
    assertAnomaly(result, "G-single-realtime", "serializable");
  });

  test("internal: a transaction does not see its own append", () => {
    assertAnomaly(check(serial([0, "[[:append x 1] [:r x []]]"])), "internal", "read-uncommitted");
  });

  test("duplicate elements, garbage reads and incompatible orders", () => {
    assertAnomaly(check(serial([0, "[[:append x 1]]"], [1, "[[:r x [1 1]]]"])), "duplicate-elements", "none");
    assertAnomaly(check(serial([0, "[[:append x 1]]"], [1, "[[:r x [1 9]]]"])), "garbage-read", "none");
    assertAnomaly(check(concurrent("[[:append x 1] [:r x [2 1]]]", "[[:append x 2] [:r x [1 2]]]")), "incompatible-order", "none");
  });

  test("bad input names what is wrong", () => {
    assert.throws(() => check(serial([0, "[[:put x 1]]"])), /unknown micro-op :put/);
    assert.throws(() => check(serial([0, "[[:append x]]"])), /expected \[:append k v\] or \[:r k list\]/);
    assert.throws(() => check('{:process 0, :type :invoke, :f :read, :value nil}\n{:process 0, :type :ok, :f :read, :value 1}'), /unknown operation :read \(expected :txn\)/);
  });

  test("EDN transaction histories round-trip with the same result", () => {
    const history = [concurrent("[[:r x []] [:append y 1]]", "[[:r y []] [:append x 1]]"), serial([2, "[[:r x [1]] [:r y [1]]]"])].join("\n");
    const events = parseEdnHistory(history, "a.edn");
    const again = parseEdnHistory(writeEdnHistory(events), "b.edn");
    assert.deepEqual(check(writeEdnHistory(again)).counts, check(history).counts);
  });
});

// ---- properties -------------------------------------------------------------------------

/** A serial execution of random transactions over a few keys, as events (each txn completes before the next). */
const serialExecution = fc.array(fc.array(fc.record({ append: fc.boolean(), key: fc.nat(2) }), { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 25 }).map((txns) => {
  const lists: number[][] = [[], [], []];
  let next = 1;
  const events: OpEvent[] = [];
  txns.forEach((micros, i) => {
    const invoke: unknown[] = [];
    const done: unknown[] = [];
    for (const m of micros) {
      if (m.append) {
        const v = next++;
        lists[m.key]!.push(v);
        invoke.push([keyword("append"), m.key, v]);
        done.push([keyword("append"), m.key, v]);
      } else {
        invoke.push([keyword("r"), m.key, null]);
        done.push([keyword("r"), m.key, [...lists[m.key]!]]);
      }
    }
    events.push({ process: i % 3, type: "invoke", f: "txn", value: invoke as never });
    events.push({ process: i % 3, type: "ok", f: "txn", value: done as never });
  });
  return events;
});

describe("list-append properties", () => {
  test("serial executions have no anomaly", () => {
    fc.assert(
      fc.property(serialExecution, (events) => {
        const result = checkListAppend(buildHistory(events, { failSemantics: "no-effect" }));
        assert.deepEqual(result.counts, {});
        assert.equal(result.strongestModel, "strict-serializable");
      }),
      { numRuns: 300, seed: 5 },
    );
  });

  test("a planted anomaly is found: a read that misses the last append before it", () => {
    fc.assert(
      fc.property(serialExecution, fc.nat(), (events, which) => {
        // A completed read whose list is non-empty loses its last element: it missed a write that completed before it.
        const candidates = events.flatMap((e, i) => (e.type === "ok" ? [i] : [])).filter((i) => (events[i]!.value as unknown as unknown[][]).some((m) => (m[0] as { name: string }).name === "r" && (m[2] as number[]).length > 0));
        fc.pre(candidates.length > 0);
        const at = candidates[which % candidates.length]!;
        const value = (events[at]!.value as unknown as unknown[][]).map((m) => [...m]);
        const read = value.find((m) => (m[0] as { name: string }).name === "r" && (m[2] as number[]).length > 0)!;
        read[2] = (read[2] as number[]).slice(0, -1);
        const mutated = events.map((e, i) => (i === at ? { ...e, value: value as never } : e));
        const result = checkListAppend(buildHistory(mutated, { failSemantics: "no-effect" }));
        assert.notEqual(result.strongestModel, "strict-serializable", "the stale read is an anomaly");
      }),
      { numRuns: 300, seed: 6 },
    );
  });
});
