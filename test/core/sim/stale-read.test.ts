import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { History, historyToJsonLines } from "../../../src/core/sim/history.ts";
import { StaleReadChecker } from "../../../src/core/sim/stale-read.ts";
import { checkKvEvents } from "../../../src/core/check/check-text.ts";
import { parseJsonl } from "../../../src/core/check/formats/jsonl.ts";

function run(build: (h: History) => void): Array<string | undefined> {
  const history = new History(1000, 10);
  build(history);
  const checker = new StaleReadChecker();
  return history.events.map((event) => checker.observe(event));
}

function problems(build: (h: History) => void): string[] {
  return run(build).filter((p): p is string => p !== undefined);
}

describe("no stale read (register check)", () => {
  test("a read after an acknowledged write that returns the older value is stale", () => {
    const found = problems((h) => {
      h.invoke(0, "put", "k", "a", 0);
      h.complete(0, "ok", "a", 10);
      h.invoke(0, "put", "k", "b", 20);
      h.complete(0, "ok", "b", 30);
      h.invoke(1, "get", "k", null, 40);
      h.complete(1, "ok", "a", 50);
    });
    assert.equal(found.length, 1);
    assert.match(found[0]!, /older than "b"/);
  });

  test("reading the initial value after an acknowledged write is stale", () => {
    const found = problems((h) => {
      h.invoke(0, "put", "k", "a", 0);
      h.complete(0, "ok", "a", 10);
      h.invoke(1, "get", "k", null, 11);
      h.complete(1, "ok", "", 12);
    });
    assert.equal(found.length, 1);
  });

  test("concurrent writes may be read in either order", () => {
    const found = problems((h) => {
      h.invoke(0, "put", "k", "a", 0);
      h.invoke(1, "put", "k", "b", 5);
      h.complete(0, "ok", "a", 10);
      h.complete(1, "ok", "b", 12);
      h.invoke(2, "get", "k", null, 20);
      h.complete(2, "ok", "a", 25);
    });
    assert.deepEqual(found, []);
  });

  test("a read concurrent with a write may return the old value", () => {
    const found = problems((h) => {
      h.invoke(0, "put", "k", "a", 0);
      h.complete(0, "ok", "a", 10);
      h.invoke(1, "get", "k", null, 20);
      h.invoke(0, "put", "k", "b", 21);
      h.complete(0, "ok", "b", 30);
      h.complete(1, "ok", "a", 40);
    });
    assert.deepEqual(found, []);
  });

  test("values of info writes and successful cas count; values of failed cas never appear", () => {
    assert.deepEqual(
      problems((h) => {
        h.invoke(0, "put", "k", "a", 0);
        h.complete(0, "info", "a", 10);
        h.invoke(1, "cas", "k", ["a", "b"], 20);
        h.complete(1, "ok", ["a", "b"], 30);
        h.invoke(2, "get", "k", null, 40);
        h.complete(2, "ok", "b", 50);
      }),
      [],
    );
    const found = problems((h) => {
      h.invoke(1, "cas", "k", ["x", "b"], 20);
      h.complete(1, "fail", ["x", "b"], 30);
      h.invoke(2, "get", "k", null, 40);
      h.complete(2, "ok", "b", 50);
    });
    assert.equal(found.length, 1);
    assert.match(found[0]!, /cas that failed/);
  });

  test("keys are independent, and a value never written is reported", () => {
    const found = problems((h) => {
      h.invoke(0, "put", "k1", "a", 0);
      h.complete(0, "ok", "a", 10);
      h.invoke(1, "get", "k2", null, 20);
      h.complete(1, "ok", "", 30);
      h.invoke(1, "get", "k2", null, 40);
      h.complete(1, "ok", "a", 50);
    });
    assert.equal(found.length, 1);
    assert.match(found[0]!, /no operation wrote/);
  });
});

describe("history", () => {
  test("writes the JSON-lines format the checker reads", () => {
    const history = new History(100, 2);
    history.invoke(3, "cas", "k2", ["a", "b"], 1234567);
    history.complete(3, "info", ["a", "b"], 1234999);
    history.invoke(4, "get", "k1", null, 1);
    history.complete(4, "ok", "x", 2);
    assert.equal(
      historyToJsonLines(history.events),
      [
        '{"process":3,"type":"invoke","f":"cas","key":"k2","value":["a","b"],"time":1234567}',
        '{"process":3,"type":"info","f":"cas","key":"k2","value":["a","b"],"time":1234999}',
        '{"process":4,"type":"invoke","f":"get","key":"k1","value":null,"time":1}',
        '{"process":4,"type":"ok","f":"get","key":"k1","value":"x","time":2}',
        "",
      ].join("\n"),
    );
  });

  test("a process never invokes after an info, and the history is bounded", () => {
    const history = new History(6, 2);
    history.invoke(0, "put", "k", "a", 0);
    history.complete(0, "info", "a", 1);
    assert.throws(() => history.invoke(0, "put", "k", "b", 2));
    history.invoke(1, "put", "k", "b", 2);
    history.complete(1, "ok", "b", 3);
    assert.equal(history.acceptsInvocations, false);
  });

  describe("deletes", () => {
    test("a read of \"\" after an acknowledged delete is fresh; after a write acknowledged since, it is stale", () => {
      const found = run((h) => {
        h.invoke(0, "put", "k", "a", 0);
        h.complete(0, "ok", "a", 10);
        h.invoke(0, "delete", "k", null, 20);
        h.complete(0, "ok", null, 30);
        h.invoke(1, "get", "k", null, 40);
        h.complete(1, "ok", "", 50);
        h.invoke(0, "put", "k", "b", 60);
        h.complete(0, "ok", "b", 70);
        h.invoke(1, "get", "k", null, 80);
        h.complete(1, "ok", "", 90);
      });
      assert.deepEqual(found.slice(0, 6), [undefined, undefined, undefined, undefined, undefined, undefined]);
      assert.match(found[9]!, /get k invoked at 80us returned "" although "b" was acknowledged before it and invoked after the last delete was acknowledged \(at 30us\)/);
    });

    test("a delete overwrites: the value it deleted, read after it was acknowledged, is stale", () => {
      const found = problems((h) => {
        h.invoke(0, "put", "k", "a", 0);
        h.complete(0, "ok", "a", 10);
        h.invoke(0, "delete", "k", null, 20);
        h.complete(0, "ok", null, 30);
        h.invoke(1, "get", "k", null, 40);
        h.complete(1, "ok", "a", 50);
      });
      assert.equal(found.length, 1);
      assert.match(found[0]!, /returned "a" \(acknowledged at 10us\), older than a delete/);
    });

    test("a delete of unknown outcome, or one still running, may explain \"\" at any later read; a failed one never does", () => {
      const unknown = problems((h) => {
        h.invoke(0, "put", "k", "a", 0);
        h.complete(0, "ok", "a", 10);
        h.invoke(2, "delete", "k", null, 15);
        h.complete(2, "info", null, 16);
        h.invoke(1, "get", "k", null, 40);
        h.complete(1, "ok", "", 50);
      });
      assert.deepEqual(unknown, []);
      const running = problems((h) => {
        h.invoke(0, "put", "k", "a", 0);
        h.complete(0, "ok", "a", 10);
        h.invoke(2, "delete", "k", null, 45);
        h.invoke(1, "get", "k", null, 40);
        h.complete(1, "ok", "", 50);
      });
      assert.deepEqual(running, []);
      const failed = problems((h) => {
        h.invoke(0, "put", "k", "a", 0);
        h.complete(0, "ok", "a", 10);
        h.invoke(2, "delete", "k", null, 15);
        h.complete(2, "fail", null, 16);
        h.invoke(1, "get", "k", null, 40);
        h.complete(1, "ok", "", 50);
      });
      assert.equal(failed.length, 1);
      assert.match(failed[0]!, /returned "" although "a" was acknowledged before it/);
    });

    test("the linearizability checker reads a delete as the key becoming \"\" again (kv model)", () => {
      const history = new History(1000, 10);
      history.invoke(0, "put", "k", "a", 0);
      history.complete(0, "ok", "a", 10);
      history.invoke(0, "delete", "k", null, 20);
      history.complete(0, "ok", null, 30);
      history.invoke(1, "get", "k", null, 40);
      history.complete(1, "ok", "", 50);
      const good = checkKvEvents(parseJsonl(historyToJsonLines(history.events), "h.jsonl"), { file: "h.jsonl" });
      assert.equal(good.verdict, "ok");
      history.invoke(1, "get", "k", null, 60);
      history.complete(1, "ok", "a", 70);
      const bad = checkKvEvents(parseJsonl(historyToJsonLines(history.events), "h.jsonl"), { file: "h.jsonl" });
      assert.equal(bad.verdict, "illegal");
    });
  });
});

