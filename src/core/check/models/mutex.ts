// A mutex: `acquire` succeeds only when free, `release` only when held. (A lock's owner is
// not modelled, as in Porcupine's and Knossos' mutex models.)
import type { Operation } from "../history.ts";
import type { Model, Prepared } from "../model.ts";
import { badOperation } from "../model.ts";

export function mutexModel(): Model<boolean, boolean, null> {
  return {
    name: "mutex",
    prepare(op: Operation): Prepared<boolean, null> {
      if (op.f === "acquire") return { input: true, output: null };
      if (op.f === "release") return { input: false, output: null };
      return badOperation(`unknown operation :${op.f} (expected acquire or release)`);
    },
    init: () => false,
    step: (locked, acquire) => (acquire ? (locked ? undefined : true) : locked ? false : undefined),
    hash: (locked) => (locked ? 1 : 0),
    equal: (a, b) => a === b,
    describeOperation: (acquire) => (acquire ? "acquire" : "release"),
    describeState: (locked) => (locked ? "held" : "free"),
  };
}
