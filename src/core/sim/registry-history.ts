// The orchestrator users' history, for the VM registry model (src/core/check/models/vm-registry.ts):
// every operation a simulated user made on a VM, with the true simulated times of its invocation
// and completion. Operations are kept as records and turned into events at the end, in time order
// (an invocation before a completion at the same instant, so two operations that touch are taken
// as concurrent: never a false alarm). That lets one page read of many VMs become one read per VM,
// all over the page read's own interval, although which VMs it covers is known only at its answer.
//
// Each operation gets its own process number: the model needs no process identity, and a page
// read's reads are concurrent with each other.

import { assert } from "../assert.ts";
import type { OpEvent } from "../check/history.ts";
import type { Value } from "../check/value.ts";

export type RegistryFunction = "vm-read" | "vm-create" | "vm-set-desired" | "vm-update" | "vm-delete" | "vm-migrate";

/** ok: answered (a refusal by the state machine is an ok answer ["rejected", code]); fail: certainly not applied; info: unknown. */
export type RegistryOutcome = "ok" | "fail" | "info";

interface RegistryOperation {
  readonly f: RegistryFunction;
  readonly key: string;
  readonly invokeValue: Value;
  readonly invokeUs: number;
  outcome: RegistryOutcome | undefined;
  completeValue: Value;
  completeUs: number;
}

export class RegistryHistory {
  private readonly operations: RegistryOperation[] = [];

  /** @param capacity the most operations kept; acceptsInvocations is false once fewer than `reserve` remain, so the operations in flight can always be recorded. */
  constructor(
    readonly capacity: number,
    private readonly reserve: number,
  ) {
    assert(Number.isSafeInteger(capacity) && capacity > reserve && reserve >= 0, "a registry history's capacity exceeds its reserve");
  }

  get acceptsInvocations(): boolean {
    return this.operations.length + this.reserve < this.capacity;
  }

  get size(): number {
    return this.operations.length;
  }

  /** Starts an operation; returns its handle for complete(). */
  invoke(f: RegistryFunction, key: string, value: Value, timeUs: number): number {
    assert(this.operations.length < this.capacity, () => `the registry history exceeds its capacity of ${this.capacity}`);
    assert((f === "vm-read") === (value === null) && key.includes("/"), () => `a registry invocation is keyed tenant/name and only a read has no value: ${f} ${key}`);
    this.operations.push({ f, key, invokeValue: value, invokeUs: timeUs, outcome: undefined, completeValue: null, completeUs: 0 });
    return this.operations.length - 1;
  }

  complete(handle: number, outcome: RegistryOutcome, value: Value, timeUs: number): void {
    const operation = this.operations[handle];
    assert(operation !== undefined && operation.outcome === undefined, () => `registry operation ${handle} completes once`);
    assert(timeUs >= operation.invokeUs, "a registry operation completes after its invocation");
    operation.outcome = outcome;
    operation.completeValue = value;
    operation.completeUs = timeUs;
  }

  /** An operation that began at `invokeUs` and is answered now, recorded in one step (a page read's part). */
  record(f: RegistryFunction, key: string, invokeValue: Value, invokeUs: number, outcome: RegistryOutcome, value: Value, completeUs: number): void {
    this.complete(this.invoke(f, key, invokeValue, invokeUs), outcome, value, completeUs);
  }

  /** The history as checker events in time order; an operation still open has only its invocation (unknown). */
  events(): OpEvent[] {
    const marks: Array<{ readonly timeUs: number; readonly completion: boolean; readonly handle: number }> = [];
    for (let handle = 0; handle < this.operations.length; handle++) {
      const operation = this.operations[handle]!;
      marks.push({ timeUs: operation.invokeUs, completion: false, handle });
      if (operation.outcome !== undefined) marks.push({ timeUs: operation.completeUs, completion: true, handle });
    }
    // Ties: invocations first, then by handle (the order operations were recorded): a stated, input-only rule.
    marks.sort((a, b) => a.timeUs - b.timeUs || Number(a.completion) - Number(b.completion) || a.handle - b.handle);
    const events: OpEvent[] = marks.map(({ timeUs, completion, handle }) => {
      const operation = this.operations[handle]!;
      if (!completion) return { process: handle, type: "invoke", f: operation.f, key: operation.key, value: operation.invokeValue, time: timeUs };
      return { process: handle, type: operation.outcome!, f: operation.f, key: operation.key, value: operation.completeValue, time: timeUs };
    });
    assert(events.length <= 2 * this.operations.length, "at most two events per operation");
    return events;
  }
}
