// Assertions for core code (TigerStyle): a violated assertion is a programmer
// error and crashes; in simulation it becomes a reported failure with its seed.
// Operating errors (a peer down, a full disk, bad input) are never asserted: they
// are handled and reported as values or typed errors.

export class AssertionFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AssertionFailure";
  }
}

export function assert(condition: unknown, message: string | (() => string) = "assertion failed"): asserts condition {
  if (!condition) {
    throw new AssertionFailure(typeof message === "function" ? message() : message);
  }
}

/** For the default branch of an exhaustive switch over a discriminated union. */
export function unreachable(value: never, what = "value"): never {
  throw new AssertionFailure(`unreachable: unexpected ${what} ${JSON.stringify(value)}`);
}
