import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { ClusterState } from "../../../src/core/cluster/cluster-state.ts";
import type { CommandEnvelope } from "../../../src/core/cluster/types.ts";
import { stateBytes } from "./fixtures.ts";
import { PREAMBLE, envelopeFor, stepArb, type Step } from "./random-commands.ts";

/** Runs the steps on a fresh state; returns the state and the log of envelopes it applied (index = position + 1). */
function run(steps: readonly Step[], onStep?: (state: ClusterState, before: string, ok: boolean, kind: string) => void): { state: ClusterState; log: CommandEnvelope[] } {
  const state = new ClusterState();
  const log: CommandEnvelope[] = [];
  for (const step of steps) {
    const e = envelopeFor(state, step);
    log.push(e);
    const before = onStep === undefined ? "" : stateBytes(state);
    const result = state.apply(log.length, e);
    onStep?.(state, before, result.status === "ok", e.body.kind);
  }
  return { state, log };
}

function replay(log: readonly CommandEnvelope[], from = 0, state = new ClusterState()): ClusterState {
  for (let i = from; i < log.length; i++) state.apply(i + 1, log[i]!);
  return state;
}

const stepsArb = fc.array(stepArb, { minLength: 10, maxLength: 80 }).map((steps) => [...PREAMBLE, ...steps]);

describe("cluster state properties", () => {
  test("random command sequences never break audit(), never lower a generation, and rejections change nothing", () => {
    let applied = 0;
    let rejected = 0;
    const okKinds = new Map<string, number>();
    fc.assert(
      fc.property(stepsArb, (steps) => {
        const generations = new Map<string, number>();
        run(steps, (state, before, ok, kind) => {
          assert.deepEqual(state.audit(), [], "audit after a step");
          if (ok) {
            applied++;
            okKinds.set(kind, (okKinds.get(kind) ?? 0) + 1);
          }
          else {
            rejected++;
            assert.equal(stateBytes(state), before, "a rejection changed the state");
          }
          for (const vm of state.vms()) {
            const key = `vm${vm.id}`;
            assert.ok(vm.generation >= (generations.get(key) ?? 0), `${key} generation went down`);
            generations.set(key, vm.generation);
          }
          for (const node of state.nodes()) {
            const key = `node${node.id}`;
            assert.ok(node.generation >= (generations.get(key) ?? 0) || node.generation === 1, `${key} generation went down`);
            generations.set(key, node.generation);
          }
        });
      }),
      { numRuns: 300 },
    );
    const kinds = [...okKinds].sort().map(([k, n]) => `${k} ${n}`).join(", ");
    assert.ok(applied > 3 * rejected / 4 && rejected > 100, `the generator exercises both paths (${applied} applied, ${rejected} rejected)`);
    assert.equal(okKinds.size, 17, `every command kind applied at least once: ${kinds}`);
  });

  test("snapshot -> restore -> snapshot gives the same bytes", () => {
    fc.assert(
      fc.property(stepsArb, (steps) => {
        const { state } = run(steps);
        const bytes = state.snapshot();
        const restored = new ClusterState();
        restored.restore(bytes);
        assert.deepEqual(restored.snapshot(), bytes);
        assert.deepEqual([...restored.vms()], [...state.vms()]);
        assert.deepEqual([...restored.nodes()], [...state.nodes()]);
        assert.deepEqual(restored.eventsAfter(0, 1_000_000), state.eventsAfter(0, 1_000_000));
      }),
      { numRuns: 200 },
    );
  });

  test("a state restored from a snapshot taken midway and fed the rest equals the state rebuilt by replaying the whole log", () => {
    fc.assert(
      fc.property(stepsArb, fc.nat(), (steps, cut) => {
        const { state, log } = run(steps);
        const at = cut % (log.length + 1);
        const midway = replay(log.slice(0, at));
        const restored = new ClusterState();
        restored.restore(midway.snapshot());
        replay(log, at, restored);
        const rebuilt = replay(log);
        assert.deepEqual(rebuilt.snapshot(), state.snapshot(), "replay is deterministic");
        assert.deepEqual(restored.snapshot(), rebuilt.snapshot());
      }),
      { numRuns: 200 },
    );
  });
});
