// What a model is: a sequential specification that the checker replays operations against.
// A new model is a few lines: prepare (read an operation), init, step, hash and equal (or
// use `keyedModel` to derive them from a canonical key), partition, describe.
import type { Operation } from "./history.ts";

/** Thrown by Model.prepare for an operation the model cannot read; reported as bad input with the line. */
export class ModelInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ModelInputError";
  }
}

export function badOperation(reason: string): never {
  throw new ModelInputError(reason);
}

/** An operation in the model's terms; "drop" means it constrains nothing (a read with unknown result). */
export type Prepared<Input, Output> = { readonly input: Input; readonly output: Output } | "drop";

export interface Model<State, Input, Output> {
  readonly name: string;
  /**
   * Reads a history operation (its f, key, values and status) into the model's input and
   * output. Called only for ok, compare-failed and info operations (fail ones are dropped).
   * For info operations the output is unknown: the model encodes that in Output, and its
   * step must then accept any result.
   */
  prepare(op: Operation): Prepared<Input, Output>;
  init(): State;
  /** The state after the operation, or undefined when the output is impossible in `state`. */
  step(state: State, input: Input, output: Output): State | undefined;
  /** A 32-bit hash; equal states must have equal hashes. */
  hash(state: State): number;
  equal(a: State, b: State): boolean;
  /**
   * True when the operation never changes any state (a read, a failed compare): its step
   * returns the same state or rejects. The search may then linearize it greedily, and
   * skips the alternatives. Optional: absent means no operation is treated so.
   */
  isReadOnly?(input: Input, output: Output): boolean;
  /**
   * Optional lookahead for a read-only operation that `state` rejects: false when no
   * sequence of operations for which `resets` is false can take `state` to one that
   * accepts it (for the kv model: appends only extend a value, so a read of a value that
   * does not start with the current one can never succeed). The search then abandons the
   * configuration, unless an operation that resets could still come before the read.
   */
  mayLaterAccept?(state: State, input: Input, output: Output): boolean;
  /** With mayLaterAccept: the operations outside its promise (for kv: put and cas). */
  resets?(input: Input, output: Output): boolean;
  /** Operations with different labels are independent (P-compositionality); absent = one partition. */
  partition?(input: Input): string;
  describeOperation(input: Input, output: Output): string;
  describeState(state: State): string;
}

/** A model whose type parameters are erased, for registries and reports. */
// Methods are bivariant in their parameters, so every Model<S, I, O> is assignable here.
export type SomeModel = Model<unknown, unknown, unknown>;

/** FNV-1a over a string's UTF-16 code units, then a finalizer. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return mix32(h);
}

/** Murmur3's 32-bit finalizer: spreads every input bit over the output. */
export function mix32(value: number): number {
  let h = value | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

/** Combines two hashes, order-sensitive. */
export function combineHash(a: number, b: number): number {
  return mix32(Math.imul(a ^ 0x9e3779b9, 0x01000193) + b);
}

/**
 * Interns values to small integers so register-like models keep their state in one number.
 * Id 0 is reserved for nothing; ids are handed out in first-seen order (deterministic).
 */
export class Interner {
  private readonly ids = new Map<string, number>();
  private readonly texts: string[] = [""];
  id(key: string): number {
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.texts.length;
      this.ids.set(key, id);
      this.texts.push(key);
    }
    return id;
  }
  /** Ids handed out so far, plus one (id 0 is reserved). */
  get size(): number {
    return this.texts.length;
  }
  text(id: number): string {
    return this.texts[id] ?? "?";
  }
}
