// ticksUntilDue() and tickBy(): what lets a driver arm one timer for the core's next deadline
// instead of ticking every interval (docs/RAFT.md, Ticks). Two clusters run the same random
// schedule from the same seed; one ticks one tick at a time, the other with tickBy. They must
// stay identical, and ticks before ticksUntilDue() must have no visible effect.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { Cluster } from "./harness.ts";
import type { NodeId } from "../../../src/core/raft/types.ts";

const SEED = 20261201;

type Command =
  | { readonly kind: "tick"; readonly node: number; readonly times: number }
  | { readonly kind: "deliver"; readonly position: number }
  | { readonly kind: "drop"; readonly position: number }
  | { readonly kind: "propose"; readonly node: number }
  | { readonly kind: "read"; readonly node: number }
  | { readonly kind: "transfer"; readonly node: number; readonly target: number }
  | { readonly kind: "crash"; readonly node: number }
  | { readonly kind: "restart"; readonly node: number };

function commands(nodeCount: number): fc.Arbitrary<Command[]> {
  const node = fc.integer({ min: 1, max: nodeCount });
  const position = fc.nat({ max: 20 });
  const command = fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant("tick" as const), node, times: fc.integer({ min: 1, max: 30 }) }) },
    { weight: 10, arbitrary: fc.record({ kind: fc.constant("deliver" as const), position }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("drop" as const), position }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("propose" as const), node }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("read" as const), node }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("transfer" as const), node, target: node }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("crash" as const), node }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("restart" as const), node }) },
  );
  return fc.array(command, { minLength: 20, maxLength: 150 });
}

/** Everything observable of a cluster: every node's status and next deadline, and the network. */
function observe(c: Cluster): string {
  const nodes = c.ids().map((id) =>
    c.up(id) ? { status: c.core(id).status(), due: c.core(id).ticksUntilDue(), contact: c.core(id).ticksSinceLeaderContact(), reads: c.node(id).readStates } : "down",
  );
  return JSON.stringify({ nodes, queue: c.queue });
}

function run(c: Cluster, command: Command, batched: boolean): void {
  switch (command.kind) {
    case "tick": {
      if (!c.up(command.node)) return;
      const core = c.core(command.node);
      if (batched) {
        core.tickBy(command.times);
      } else {
        const due = core.ticksUntilDue();
        const quietBefore = !core.hasReady();
        for (let i = 0; i < command.times; i += 1) {
          core.tick();
          // Ticks before the deadline only count: no output, and the deadline comes one tick closer.
          if (i + 1 < due) {
            assert.equal(core.ticksUntilDue(), due - i - 1, "a quiet tick brings the deadline one tick closer");
            if (quietBefore) assert.ok(!core.hasReady(), `tick ${i + 1} of ${due - 1} quiet ones produced output`);
          }
        }
      }
      c.processReady(command.node);
      return;
    }
    case "deliver":
      if (c.queue.length > 0) c.deliver(command.position % c.queue.length);
      return;
    case "drop":
      if (c.queue.length > 0) c.drop(command.position % c.queue.length);
      return;
    case "propose":
      if (c.up(command.node) && c.core(command.node).status().role === "leader") c.propose(command.node, "x");
      return;
    case "read":
      if (c.up(command.node)) c.readIndex(command.node);
      return;
    case "transfer":
      if (c.up(command.node) && c.core(command.node).status().role === "leader") {
        c.core(command.node).transferLeadership(command.target as NodeId);
        c.processReady(command.node);
      }
      return;
    case "crash":
      c.crash(command.node);
      return;
    case "restart":
      c.restart(command.node);
      return;
  }
}

describe("ticks", () => {
  for (const [name, config] of [
    ["plain", { preVote: false, checkQuorum: false, heartbeatTicks: 1 }],
    ["PreVote and CheckQuorum", { preVote: true, checkQuorum: true, heartbeatTicks: 2 }],
    ["strict leader lease", { preVote: true, checkQuorum: true, strictLeaderLease: true, heartbeatTicks: 2 }],
  ] as const) {
    test(`tickBy(n) is n ticks, and ticks before ticksUntilDue() only count (${name})`, () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 1000 }), commands(3), (seed, schedule) => {
          const single = new Cluster({ voters: [1, 2, 3], seed, config });
          const batched = new Cluster({ voters: [1, 2, 3], seed, config });
          for (const command of schedule) {
            run(single, command, false);
            run(batched, command, true);
            assert.equal(observe(batched), observe(single), `after ${JSON.stringify(command)}`);
          }
        }),
        { seed: SEED, numRuns: 150 },
      );
    });
  }

  test("a follower's deadline is its randomized election timeout; a leader's its next heartbeat", () => {
    const c = new Cluster({ voters: [1, 2, 3], config: { heartbeatTicks: 3, electionTicks: 10 } });
    const due = c.core(1).ticksUntilDue();
    assert.ok(due >= 10 && due < 20, `follower deadline ${due} within [10, 20)`);
    c.core(1).tickBy(due - 1);
    c.processReady(1);
    assert.equal(c.core(1).status().role, "follower");
    assert.equal(c.core(1).ticksUntilDue(), 1);
    c.core(1).tickBy(1);
    assert.equal(c.core(1).status().role, "candidate");
    c.stabilize();
    assert.equal(c.leader(), 1);
    assert.equal(c.core(1).ticksUntilDue(), 3, "the first heartbeat is heartbeatTicks after election");
    c.core(1).tickBy(2);
    assert.ok(!c.core(1).hasReady(), "no heartbeat before heartbeatTicks");
    c.core(1).tickBy(1);
    assert.ok(c.core(1).hasReady(), "the heartbeat is due");
  });
});
