// Registers: `read`, `write`, and, for the compare-and-set register, `cas [expected new]`. A cas
// that completed with compare-failed observed a state other than `expected`; an info cas may
// have swapped. Values are interned to integers so the state is one number.
// Two readings of nil, chosen by the initial value:
// - a value (Knossos; default 0): a read of nil is a read whose value is unknown, so it matches
//   any state (it is dropped);
// - nil (Jepsen's etcd test, Porcupine's etcd model): the register starts absent; a read of nil
//   means "absent" and matches only the absent register, and a cas against an absent register
//   fails (its compare never holds, whatever it expected).
import type { Operation } from "../history.ts";
import type { Model, Prepared } from "../model.ts";
import { Interner, badOperation, mix32 } from "../model.ts";
import type { Value } from "../value.ts";
import { valueKey } from "../value.ts";

const READ = 0;
const WRITE = 1;
const CAS = 2;

/** kind: READ, WRITE or CAS; a: read value / written value / expected; b: new value for CAS. */
export interface RegisterInput {
  readonly kind: number;
  readonly a: number;
  readonly b: number;
}
/** For CAS: 1 swapped, 0 compare failed, -1 unknown. Unused otherwise. */
export type RegisterOutput = number;

export interface RegisterOptions {
  /** Initial value; Knossos' register tests start at 0. null: absent (Jepsen's etcd semantics, above). */
  readonly initial?: Value;
  /** Whether `cas` is allowed (the cas-register model). */
  readonly withCas?: boolean;
}

export function registerModel(options: RegisterOptions = {}): Model<number, RegisterInput, RegisterOutput> {
  const values = new Interner();
  const startsAbsent = options.initial === null;
  const initial = values.id(valueKey(options.initial === undefined ? 0 : options.initial));
  /** With startsAbsent: the absent register (nil's id; no write stores nil in an etcd register). */
  const absent = startsAbsent ? initial : -1;
  const withCas = options.withCas ?? false;
  const expected = withCas ? "read, write or cas" : "read or write";
  return {
    name: withCas ? "cas-register" : "register",
    prepare(op: Operation): Prepared<RegisterInput, RegisterOutput> {
      switch (op.f) {
        case "read": {
          if (op.status !== "ok" || (op.completeValue === null && !startsAbsent)) return "drop";
          return { input: { kind: READ, a: values.id(valueKey(op.completeValue)), b: 0 }, output: 0 };
        }
        case "write":
          return { input: { kind: WRITE, a: values.id(valueKey(op.invokeValue)), b: 0 }, output: 0 };
        case "cas": {
          if (!withCas) break;
          const pair = op.invokeValue;
          if (!Array.isArray(pair) || pair.length !== 2) badOperation(`cas needs [expected new], found ${valueKey(pair)}`);
          const [from, to] = pair as readonly Value[];
          const output = op.status === "ok" ? 1 : op.status === "compare-failed" ? 0 : -1;
          return { input: { kind: CAS, a: values.id(valueKey(from)), b: values.id(valueKey(to)) }, output };
        }
        default:
          break;
      }
      return badOperation(`unknown operation :${op.f} (expected ${expected})`);
    },
    init: () => initial,
    step(state, input, output) {
      if (input.kind === READ) return input.a === state ? state : undefined;
      if (input.kind === WRITE) return input.a;
      if (output === 0) return state !== input.a || state === absent ? state : undefined;
      return state === input.a && state !== absent ? input.b : undefined;
    },
    isReadOnly: (input, output) => input.kind === READ || (input.kind === CAS && output === 0),
    hash: (state) => mix32(state),
    equal: (a, b) => a === b,
    describeOperation(input, output) {
      if (input.kind === READ) return `read ${values.text(input.a)}`;
      if (input.kind === WRITE) return `write ${values.text(input.a)}`;
      const result = output === 1 ? "" : output === 0 ? " (compare failed)" : " (unknown)";
      return `cas ${values.text(input.a)} -> ${values.text(input.b)}${result}`;
    },
    describeState: (state) => (state === absent ? "absent" : values.text(state)),
  };
}
