// Every public test vector's verdict (../shared/histories, see its README).
import { systemCheckResources } from "../../../src/shell/os/check-resources.ts";
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { checkText } from "../../../src/core/check/index.ts";
import type { ModelName } from "../../../src/core/check/index.ts";

const HISTORIES = path.resolve(import.meta.dirname, "../../../../shared/histories");

function verdictOf(file: string, model: ModelName, partition = true): string {
  const { result } = checkText(readFileSync(file, "utf8"), file, { model, partition, timeoutMs: 60_000, resources: systemCheckResources });
  return result.verdict;
}

function filesIn(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".edn"))
    .sort()
    .map((f) => path.join(dir, f));
}

describe("Knossos compare-and-set register vectors", () => {
  const good = filesIn(path.join(HISTORIES, "knossos/cas-register/good"));
  const bad = filesIn(path.join(HISTORIES, "knossos/cas-register/bad"));
  test("the vector sets are all there", () => {
    assert.equal(good.length, 113);
    assert.equal(bad.length, 7);
  });
  test("every good history is linearizable", () => {
    const wrong = good.filter((f) => verdictOf(f, "cas-register") !== "ok");
    assert.deepEqual(wrong, []);
  });
  test("every bad history is not linearizable", () => {
    const wrong = bad.filter((f) => verdictOf(f, "cas-register") !== "illegal");
    assert.deepEqual(wrong, []);
  });
});

describe("Knossos multi-register vector", () => {
  test("multi-register.edn is linearizable", () => {
    assert.equal(verdictOf(path.join(HISTORIES, "knossos/multi-register/good/multi-register.edn"), "multi-register"), "ok");
  });
});

describe("Porcupine key-value vectors", () => {
  for (const name of ["c01", "c10", "c50"]) {
    test(`${name} per key`, () => {
      assert.equal(verdictOf(path.join(HISTORIES, `porcupine-kv/${name}-ok.txt`), "kv"), "ok");
      assert.equal(verdictOf(path.join(HISTORIES, `porcupine-kv/${name}-bad.txt`), "kv"), "illegal");
    });
  }
  for (const name of ["c01", "c10"]) {
    test(`${name} as a whole map (no partitioning)`, () => {
      assert.equal(verdictOf(path.join(HISTORIES, `porcupine-kv/${name}-ok.txt`), "kv", false), "ok");
      assert.equal(verdictOf(path.join(HISTORIES, `porcupine-kv/${name}-bad.txt`), "kv", false), "illegal");
    });
  }
});
