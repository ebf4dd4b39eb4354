// A set: `add x` and `read` (ok value: the whole set, as an EDN set or vector). Elements
// are interned; the state's hash is the XOR of its elements' hashes.
import type { Operation } from "../history.ts";
import type { Model, Prepared } from "../model.ts";
import { Interner, badOperation, mix32 } from "../model.ts";
import type { Value } from "../value.ts";
import { EdnSet, showValue, valueKey } from "../value.ts";

export interface SetState {
  readonly members: ReadonlySet<number>;
  readonly hash: number;
}
export interface SetInput {
  readonly add: boolean;
  readonly element: number;
  readonly read: ReadonlySet<number>;
  readonly readHash: number;
}

export function setModel(): Model<SetState, SetInput, null> {
  const elements = new Interner();
  const none: ReadonlySet<number> = new Set();
  return {
    name: "set",
    prepare(op: Operation): Prepared<SetInput, null> {
      if (op.f === "add") return { input: { add: true, element: elements.id(valueKey(op.invokeValue)), read: none, readHash: 0 }, output: null };
      if (op.f !== "read") badOperation(`unknown operation :${op.f} (expected add or read)`);
      if (op.status !== "ok" || op.completeValue === null) return "drop";
      const value = op.completeValue;
      const items: readonly Value[] | undefined = value instanceof EdnSet ? value.items : Array.isArray(value) ? (value as readonly Value[]) : undefined;
      if (items === undefined) badOperation(`read of a set must return a set or vector, found ${showValue(value)}`);
      const read = new Set(items.map((item) => elements.id(valueKey(item))));
      let readHash = 0;
      for (const e of read) readHash ^= mix32(e);
      return { input: { add: false, element: 0, read, readHash }, output: null };
    },
    init: () => ({ members: new Set(), hash: 0 }),
    step(state, input) {
      if (input.add) {
        if (state.members.has(input.element)) return state;
        const members = new Set(state.members);
        members.add(input.element);
        return { members, hash: state.hash ^ mix32(input.element) };
      }
      if (input.readHash !== state.hash || input.read.size !== state.members.size) return undefined;
      for (const e of input.read) if (!state.members.has(e)) return undefined;
      return state;
    },
    isReadOnly: (input) => !input.add,
    hash: (state) => state.hash,
    equal(a, b) {
      if (a.hash !== b.hash || a.members.size !== b.members.size) return false;
      for (const e of a.members) if (!b.members.has(e)) return false;
      return true;
    },
    describeOperation: (input) => (input.add ? `add ${elements.text(input.element)}` : `read #{${[...input.read].map((e) => elements.text(e)).sort().join(" ")}}`),
    describeState: (state) => `#{${[...state.members].map((e) => elements.text(e)).sort().join(" ")}}`,
  };
}
