import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Cluster } from "./harness.ts";

describe("raw node smoke", () => {
  test("three nodes elect a leader and replicate", () => {
    const c = new Cluster({ voters: [1, 2, 3] });
    const leader = c.electLeader();
    assert.ok(c.propose(leader, "x=1"));
    c.stabilize();
    c.tickAll(2);
    c.stabilize();
    for (const id of c.ids()) assert.deepEqual(c.node(id).appliedData, ["x=1"]);
  });

  test("single voter elects itself on campaign", () => {
    const c = new Cluster({ voters: [1] });
    c.core(1).campaign();
    c.processReady(1);
    assert.equal(c.core(1).status().role, "leader");
    assert.ok(c.propose(1, "a"));
    c.processReady(1);
    c.processReady(1);
    assert.deepEqual(c.node(1).appliedData, ["a"]);
  });
});
