// A counter: `add n` (or `incr`, adding 1) and `read` (ok value: the count). Starts at 0.
import type { Operation } from "../history.ts";
import type { Model, Prepared } from "../model.ts";
import { badOperation, mix32 } from "../model.ts";
import { showValue } from "../value.ts";

export interface CounterInput {
  readonly read: boolean;
  /** add: the amount; read: the value read. */
  readonly amount: number;
}

export function counterModel(): Model<number, CounterInput, null> {
  return {
    name: "counter",
    prepare(op: Operation): Prepared<CounterInput, null> {
      switch (op.f) {
        case "incr":
          return { input: { read: false, amount: 1 }, output: null };
        case "add": {
          const amount = op.invokeValue === null ? 1 : op.invokeValue;
          if (typeof amount !== "number") badOperation(`add needs a number, found ${showValue(amount)}`);
          return { input: { read: false, amount }, output: null };
        }
        case "read": {
          if (op.status !== "ok" || op.completeValue === null) return "drop";
          if (typeof op.completeValue !== "number") badOperation(`read of a counter must return a number, found ${showValue(op.completeValue)}`);
          return { input: { read: true, amount: op.completeValue }, output: null };
        }
        default:
          return badOperation(`unknown operation :${op.f} (expected add, incr or read)`);
      }
    },
    init: () => 0,
    step: (state, input) => (input.read ? (state === input.amount ? state : undefined) : state + input.amount),
    isReadOnly: (input) => input.read,
    hash: (state) => mix32(Math.round(state) | 0),
    equal: (a, b) => a === b,
    describeOperation: (input) => (input.read ? `read ${input.amount}` : `add ${input.amount}`),
    describeState: (state) => String(state),
  };
}
