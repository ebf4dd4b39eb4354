// The registry's fail-rs semantics (src/core/failpoints/failpoint-registry.ts): counts spent
// deterministically, a lost draw passes to the next task, off stops the chain, the same seed
// gives the same firings, and an empty registry draws nothing.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Random } from "../../../src/core/env/environment.ts";
import { FailpointRegistry } from "../../../src/core/failpoints/failpoint-registry.ts";
import { parseFailpointActions } from "../../../src/core/failpoints/failpoint-spec.ts";
import { Prng } from "../../../src/core/sim/prng.ts";
import { seedFromNumber } from "../../../src/core/sim/seed.ts";

const noRandom: Random = {
  intBelow: () => assert.fail("drew randomness"),
  float: () => assert.fail("drew randomness"),
};

function registry(random: Random, name: string, actions: string): FailpointRegistry {
  const parsed = parseFailpointActions(actions);
  assert.ok(parsed.ok);
  const r = new FailpointRegistry(random);
  r.set({ name, tasks: parsed.value });
  return r;
}

describe("failpoint registry", () => {
  test("a count spends one per evaluation, then the chain moves on", () => {
    const r = registry(noRandom, "p", "2*return(EIO)->1*sleep(5)->off");
    const kinds = Array.from({ length: 5 }, () => r.evaluate("p")?.kind);
    assert.deepEqual(kinds, ["return", "return", "sleep", undefined, undefined]);
    assert.deepEqual(r.list(), [{ name: "p", tasks: r.list()[0]!.tasks, remaining: [0, 0, undefined], evaluated: 5, fired: 3 }]);
    assert.equal(r.evaluate("other"), undefined, "a point not set does nothing");
  });

  test("probabilities: the same seed fires the same evaluations, about as often as asked", () => {
    const firings = (seed: number) => {
      const r = registry(Prng.stream(seedFromNumber(seed), "failpoints"), "p", "25%return->print(miss)");
      return Array.from({ length: 4_000 }, () => r.evaluate("p")?.kind);
    };
    const first = firings(1);
    assert.deepEqual(firings(1), first);
    const returns = first.filter((k) => k === "return").length;
    assert.ok(returns > 800 && returns < 1_200, `${returns} of 4000 at 25%`);
    assert.equal(first.filter((k) => k === "print").length, 4_000 - returns, "a lost draw passes to the next task");
  });

  test("off: no randomness drawn, nothing fires; clear and set tell listeners", () => {
    const r = new FailpointRegistry(noRandom);
    assert.equal(r.activeCount, 0);
    assert.equal(r.evaluate("p"), undefined);
    let changes = 0;
    const stop = r.onChange(() => changes++);
    const parsed = parseFailpointActions("0%return");
    assert.ok(parsed.ok);
    r.set({ name: "p", tasks: parsed.value });
    assert.equal(r.evaluate("p"), undefined, "0% never fires and draws nothing");
    assert.equal(r.clear("p"), true);
    assert.equal(r.clear("p"), false);
    stop();
    r.set({ name: "p", tasks: parsed.value });
    assert.equal(changes, 2);
  });
});
