// Knossos' multi-register: `txn` operations whose value is a vector of micro-operations
// `[:read k v]` and `[:write k v]`, applied atomically in order. A read of nil matches any
// value; registers start at the initial value (0, or per key from a map). The state is an
// array of interned values indexed by interned register names; it is not partitioned,
// because a transaction may touch several registers.
import type { Operation } from "../history.ts";
import type { Model, Prepared } from "../model.ts";
import { Interner, badOperation, mix32 } from "../model.ts";
import type { Value } from "../value.ts";
import { EdnMap, Keyword, EdnSymbol, showValue, valueKey } from "../value.ts";

export interface MicroOperation {
  readonly write: boolean;
  readonly register: number;
  /** Interned value; 0 for a read whose value is unknown. */
  readonly value: number;
}
export type MultiRegisterState = readonly number[];

/** Operations per transaction: bounded so a bad input cannot make steps arbitrarily slow. */
const TXN_MICRO_OPERATIONS_MAX = 10_000;

export function multiRegisterModel(options: { readonly initial?: Value } = {}): Model<MultiRegisterState, readonly MicroOperation[], null> {
  const values = new Interner();
  const registers = new Interner();
  const initialByRegister = new Map<number, number>();
  const initialAll = options.initial instanceof EdnMap ? values.id(valueKey(0)) : values.id(valueKey(options.initial ?? 0));
  if (options.initial instanceof EdnMap) {
    for (const [k, v] of options.initial.entries) initialByRegister.set(registers.id(valueKey(k)), values.id(valueKey(v)));
  }
  const initialOf = (register: number): number => initialByRegister.get(register) ?? initialAll;
  const valueAt = (state: MultiRegisterState, register: number): number => (register < state.length ? state[register] : initialOf(register));

  return {
    name: "multi-register",
    prepare(op: Operation): Prepared<readonly MicroOperation[], null> {
      if (op.f !== "txn") badOperation(`unknown operation :${op.f} (expected txn)`);
      const source = op.status === "ok" ? op.completeValue : op.invokeValue;
      if (!Array.isArray(source)) badOperation(`txn needs a vector of [:read k v] or [:write k v], found ${showValue(source)}`);
      const micro = source as readonly Value[];
      if (micro.length > TXN_MICRO_OPERATIONS_MAX) badOperation(`txn has ${micro.length} micro-operations, more than ${TXN_MICRO_OPERATIONS_MAX}`);
      const ops: MicroOperation[] = [];
      for (const m of micro) {
        if (!Array.isArray(m) || m.length !== 3) badOperation(`bad micro-operation ${showValue(m)} (expected [:read k v] or [:write k v])`);
        const [f, k, v] = m as readonly Value[];
        const name = f instanceof Keyword || f instanceof EdnSymbol ? f.name : typeof f === "string" ? f : "";
        if (name !== "read" && name !== "write") badOperation(`unknown micro-operation ${showValue(f)} (expected :read or :write)`);
        const register = registers.id(valueKey(k));
        if (name === "read") {
          // An unknown read (nil, or any read of an info transaction) constrains nothing.
          if (v === null || op.status !== "ok") continue;
          ops.push({ write: false, register, value: values.id(valueKey(v)) });
        } else {
          ops.push({ write: true, register, value: values.id(valueKey(v)) });
        }
      }
      if (ops.length === 0) return "drop";
      return { input: ops, output: null };
    },
    init: () => [],
    step(state, input) {
      let next: number[] | undefined;
      for (const m of input) {
        const current = next !== undefined ? valueAt(next, m.register) : valueAt(state, m.register);
        if (!m.write) {
          if (current !== m.value) return undefined;
          continue;
        }
        if (current === m.value) continue;
        if (next === undefined) next = state.slice();
        while (next.length <= m.register) next.push(initialOf(next.length));
        next[m.register] = m.value;
      }
      return next ?? state;
    },
    isReadOnly: (input) => input.every((m) => !m.write),
    hash(state) {
      let h = 0;
      for (let r = 0; r < state.length; r += 1) {
        if (state[r] !== initialOf(r)) h ^= mix32(Math.imul(r + 1, 0x9e3779b1) ^ state[r]);
      }
      return h;
    },
    equal(a, b) {
      const n = Math.max(a.length, b.length);
      for (let r = 0; r < n; r += 1) if (valueAt(a, r) !== valueAt(b, r)) return false;
      return true;
    },
    describeOperation(input) {
      return `txn [${input.map((m) => `[${m.write ? ":write" : ":read"} ${registers.text(m.register)} ${values.text(m.value)}]`).join(" ")}]`;
    },
    describeState(state) {
      const parts: string[] = [];
      for (let r = 1; r < registers.size; r += 1) {
        parts.push(`${registers.text(r)} ${values.text(valueAt(state, r))}`);
      }
      return `{${parts.join(", ")}}`;
    },
  };
}
