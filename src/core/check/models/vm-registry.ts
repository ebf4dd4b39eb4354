// The VM registry as its users see it (docs/ORCHESTRATOR.md): one VM name of one tenant per
// partition (key "tenant/name"), read, created, stopped and started, updated, migrated and
// deleted through compare-and-set on the VM's generation.
//
// The cluster itself changes a VM too, behind its users' backs: the controller schedules it,
// agents report it started or stopped, a node that goes down sends it back to pending, a
// deleting VM is removed once its node has stopped it. Those changes are not in the users'
// history, so the model is exact only about what users alone control, and keeps lower bounds
// for the rest:
//   exact: whether the name exists (only users create and delete; a deleting VM may vanish at
//          any moment, so "going" admits both), the VM's id (its creation's log index; a later
//          VM of the same name has a larger one), desired state and spec (users alone change
//          them);
//   bound: the generation, which grows by one with every change from anyone: at least the
//          last one seen, so a read may never show an older one and a compare-and-set may never
//          succeed with a generation older than one already seen; and one that succeeds against
//          generation g leaves g (nothing to change) or g + 1, never more.
// A read is not read-only for the search: what it saw (an id, a generation, a deleting VM gone)
// narrows the state, so the model leaves out isReadOnly.
// A rejection says something too: "already-exists" needs the name taken; a create refused for
// quota, pool or limit passed the name check, so the name was free; "not-found" for a VM id
// needs that VM gone; "stale-generation" and "conflict" need it present.
//
// Operations (values are JSON, as the simulator records them):
//   vm-read        invoke null; ok null (absent) or [id, generation, desired, phase, specDigest]
//   vm-create      invoke [specDigest, desired]; ok ["ok", id, generation] or ["rejected", code]
//   vm-set-desired invoke [id, expectedGeneration, desired]; ok ["ok", generation] or ["rejected", code]
//   vm-update      invoke [id, expectedGeneration, specDigest]; likewise
//   vm-delete      invoke [id, expectedGeneration]; likewise
//   vm-migrate     invoke [id, expectedGeneration, targetNodeId]; likewise
// An expectedGeneration of 0 asks for no compare (the state machine's rule).
// fail: certainly not applied (dropped); info: unknown (it may have applied, once, or never).
import type { Operation } from "../history.ts";
import type { Model, Prepared } from "../model.ts";
import { assert } from "../../assert.ts";
import { badOperation, hashString, mix32 } from "../model.ts";
import { showValue, type Value } from "../value.ts";

const ABSENT = 0;
const PRESENT = 1;
/** Deleted by a user and not yet seen gone: it may still be read (phase deleting) or be gone. */
const GOING = 2;

export interface VmRegistryState {
  readonly status: typeof ABSENT | typeof PRESENT | typeof GOING;
  /** The VM's id, or 0 when unknown (created by an operation whose answer was lost). */
  readonly id: number;
  /** A lower bound on the VM's generation. */
  readonly generationMin: number;
  readonly desired: string;
  readonly spec: string;
}

/** What the operation asked (and, for a read, what it saw); the key is added beside it. */
export type VmRegistryCall =
  | { readonly op: "read"; readonly found: false }
  | { readonly op: "read"; readonly found: true; readonly id: number; readonly generation: number; readonly desired: string; readonly phase: string; readonly spec: string }
  | { readonly op: "create"; readonly spec: string; readonly desired: string }
  | { readonly op: "set-desired"; readonly id: number; readonly expectedGeneration: number; readonly desired: string }
  | { readonly op: "update"; readonly id: number; readonly expectedGeneration: number; readonly spec: string }
  | { readonly op: "delete"; readonly id: number; readonly expectedGeneration: number }
  | { readonly op: "migrate"; readonly id: number; readonly expectedGeneration: number; readonly targetNodeId: number };

export type VmRegistryInput = VmRegistryCall & { readonly key: string };

export type VmRegistryOutput =
  | { readonly kind: "read" }
  | { readonly kind: "unknown" }
  /** id: create's new VM (0 for the others). */
  | { readonly kind: "ok"; readonly id: number; readonly generation: number }
  | { readonly kind: "rejected"; readonly code: string };

const INITIAL: VmRegistryState = { status: ABSENT, id: 0, generationMin: 0, desired: "", spec: "" };

/** Create's refusals that come after its name check: the name was free when it was applied. */
const CREATE_REFUSALS_AFTER_NAME_CHECK: ReadonlySet<string> = new Set(["quota-exceeded", "limit-exceeded", "pool-exhausted"]);

function count(value: Value | undefined, what: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) badOperation(`${what}: expected a non-negative integer, found ${showValue(value ?? null)}`);
  return value;
}

function text(value: Value | undefined, what: string): string {
  if (typeof value !== "string") badOperation(`${what}: expected a string, found ${showValue(value ?? null)}`);
  return value;
}

function tuple(value: Value, length: number, what: string): readonly Value[] {
  if (!Array.isArray(value) || value.length !== length) badOperation(`${what}: expected an array of ${length}, found ${showValue(value)}`);
  return value as readonly Value[];
}

function prepareCall(op: Operation): VmRegistryCall {
  const f = op.f;
  if (f === "vm-read") {
    const value = op.completeValue;
    if (value === null) return { op: "read", found: false };
    const [id, generation, desired, phase, spec] = tuple(value, 5, "vm-read's value");
    return { op: "read", found: true, id: count(id, "id"), generation: count(generation, "generation"), desired: text(desired, "desired"), phase: text(phase, "phase"), spec: text(spec, "spec") };
  }
  if (f === "vm-create") {
    const [spec, desired] = tuple(op.invokeValue, 2, "vm-create's invocation");
    return { op: "create", spec: text(spec, "spec"), desired: text(desired, "desired") };
  }
  if (f === "vm-set-desired") {
    const [id, generation, desired] = tuple(op.invokeValue, 3, "vm-set-desired's invocation");
    return { op: "set-desired", id: count(id, "id"), expectedGeneration: count(generation, "expectedGeneration"), desired: text(desired, "desired") };
  }
  if (f === "vm-update") {
    const [id, generation, spec] = tuple(op.invokeValue, 3, "vm-update's invocation");
    return { op: "update", id: count(id, "id"), expectedGeneration: count(generation, "expectedGeneration"), spec: text(spec, "spec") };
  }
  if (f === "vm-delete") {
    const [id, generation] = tuple(op.invokeValue, 2, "vm-delete's invocation");
    return { op: "delete", id: count(id, "id"), expectedGeneration: count(generation, "expectedGeneration") };
  }
  if (f === "vm-migrate") {
    const [id, generation, target] = tuple(op.invokeValue, 3, "vm-migrate's invocation");
    return { op: "migrate", id: count(id, "id"), expectedGeneration: count(generation, "expectedGeneration"), targetNodeId: count(target, "targetNodeId") };
  }
  return badOperation(`unknown operation :${f} (expected vm-read, vm-create, vm-set-desired, vm-update, vm-delete or vm-migrate)`);
}

function prepareOutput(op: Operation, input: VmRegistryCall): VmRegistryOutput {
  if (input.op === "read") return { kind: "read" };
  if (op.status === "info") return { kind: "unknown" };
  const value = op.completeValue;
  if (Array.isArray(value) && value[0] === "rejected") return { kind: "rejected", code: text(tuple(value, 2, `${op.f}'s rejection`)[1], "code") };
  if (input.op === "create") {
    const [status, id, generation] = tuple(value, 3, "vm-create's answer");
    if (status !== "ok") badOperation(`vm-create's answer: expected ["ok", id, generation] or ["rejected", code], found ${showValue(value)}`);
    return { kind: "ok", id: count(id, "id"), generation: count(generation, "generation") };
  }
  const [status, generation] = tuple(value, 2, `${op.f}'s answer`);
  if (status !== "ok") badOperation(`${op.f}'s answer: expected ["ok", generation] or ["rejected", code], found ${showValue(value)}`);
  return { kind: "ok", id: 0, generation: count(generation, "generation") };
}

/** The invariant of every state: an absent name holds nothing; a VM has a desired state and a spec. */
function assertState(state: VmRegistryState): void {
  if (state.status === ABSENT) assert(state.id === 0 && state.generationMin === 0 && state.desired === "" && state.spec === "", "an absent name holds nothing");
  else assert(state.desired !== "" && state.spec !== "" && (state.id === 0 || state.generationMin >= 1), () => `a VM has a desired state, a spec and a generation: ${JSON.stringify(state)}`);
}

/** Whether the VM with `id` is this partition's current one (an unknown id matches any). */
function names(state: VmRegistryState, id: number): boolean {
  return state.status !== ABSENT && (state.id === 0 || state.id === id);
}

function read(state: VmRegistryState, input: Extract<VmRegistryInput, { op: "read" }>): VmRegistryState | undefined {
  if (!input.found) {
    if (state.status === PRESENT) return undefined;
    return state.status === GOING ? INITIAL : state;
  }
  if (!names(state, input.id) || input.generation < state.generationMin) return undefined;
  if (input.desired !== state.desired || input.spec !== state.spec) return undefined;
  // Only a user's delete makes a VM deleting, and a deleted one is never anything else again.
  if ((input.phase === "deleting") !== (state.status === GOING)) return undefined;
  return { ...state, id: input.id, generationMin: input.generation };
}

function create(state: VmRegistryState, input: Extract<VmRegistryInput, { op: "create" }>, output: VmRegistryOutput): VmRegistryState | undefined {
  const fresh = (id: number, generation: number): VmRegistryState => ({ status: PRESENT, id, generationMin: generation, desired: input.desired, spec: input.spec });
  switch (output.kind) {
    case "unknown":
      // Applied: a VM now exists (its id unknown until read). Rejected (name taken) is the same as never applied.
      return state.status === PRESENT ? state : fresh(0, 1);
    case "ok":
      if (state.status === PRESENT || output.generation < 1) return undefined;
      // Ids are creation indexes: a later VM of the same name has a larger one.
      if (state.id !== 0 && output.id <= state.id) return undefined;
      return fresh(output.id, output.generation);
    case "rejected":
      if (output.code === "already-exists") return state.status === ABSENT ? undefined : state;
      if (CREATE_REFUSALS_AFTER_NAME_CHECK.has(output.code)) {
        if (state.status === PRESENT) return undefined;
        return state.status === GOING ? INITIAL : state;
      }
      return state;
    case "read":
      return undefined;
  }
}

/** The state machine checks a VM id first (not-found), then the generation (stale-generation), then the change itself. */
function change(state: VmRegistryState, input: Exclude<VmRegistryInput, { op: "read" } | { op: "create" }>, output: VmRegistryOutput): VmRegistryState | undefined {
  const g = input.expectedGeneration;
  if (output.kind === "unknown") {
    if (!names(state, input.id)) return state;
    const generationMin = Math.max(state.generationMin, g);
    if (input.op === "delete") return { ...state, status: GOING, id: input.id, generationMin };
    if (state.status !== PRESENT) return state; // a deleting VM refuses other changes
    if (input.op === "set-desired") return { ...state, id: input.id, generationMin, desired: input.desired };
    if (input.op === "update") return { ...state, id: input.id, generationMin, spec: input.spec };
    return { ...state, id: input.id, generationMin };
  }
  if (output.kind === "ok") {
    // Applied: the VM had exactly generation g (0 asks for no compare), so g is at least every generation seen before.
    if (!names(state, input.id) || output.generation < Math.max(g, state.generationMin)) return undefined;
    // Each change of a record adds one to its generation: against g it leaves g (nothing to change) or g + 1.
    if (g !== 0 && (g < state.generationMin || output.generation > g + 1)) return undefined;
    const after = { ...state, id: input.id, generationMin: output.generation };
    if (input.op === "delete") return { ...after, status: GOING };
    if (state.status !== PRESENT) return undefined; // a deleting VM is only deleted again
    if (input.op === "set-desired") return { ...after, desired: input.desired };
    if (input.op === "update") return { ...after, spec: input.spec };
    return after;
  }
  if (output.kind !== "rejected") return undefined;
  if (output.code === "not-found") {
    if (input.op === "migrate" && input.targetNodeId !== 0) return state; // may name the target node
    if (state.status === PRESENT && state.id === input.id) return undefined;
    return state.status === GOING && state.id === input.id ? INITIAL : state;
  }
  // Past the id check: the VM with this id existed when the command was applied.
  if (output.code === "stale-generation" && g === 0) return undefined; // no compare was asked for
  if (output.code === "stale-generation" || output.code === "conflict" || output.code === "quota-exceeded") {
    return names(state, input.id) ? { ...state, id: input.id } : undefined;
  }
  return state;
}

/** The VM registry model: P-compositional by key (one VM name of one tenant per partition). */
export function vmRegistryModel(): Model<VmRegistryState, VmRegistryInput, VmRegistryOutput> {
  return {
    name: "vm-registry",
    prepare(op: Operation): Prepared<VmRegistryInput, VmRegistryOutput> {
      if (op.key === undefined) badOperation(`:${op.f} needs a key ("tenant/name")`);
      // A read whose answer is unknown constrains nothing.
      if (op.f === "vm-read" && op.status !== "ok") return "drop";
      const call = prepareCall(op);
      return { input: { ...call, key: op.key }, output: prepareOutput(op, call) };
    },
    init: () => INITIAL,
    step(state, input, output) {
      assertState(state);
      const after = input.op === "read" ? read(state, input) : input.op === "create" ? create(state, input, output) : change(state, input, output);
      if (after !== undefined) {
        assertState(after);
        // The same VM's generation never goes back; only a new VM of the name (or none) starts over.
        assert(after.id !== state.id || after.status === ABSENT || after.generationMin >= state.generationMin, "a VM's generation bound only grows");
      }
      return after;
    },
    partition: (input) => input.key,
    hash: (state) => mix32(hashString(`${state.status}|${state.id}|${state.generationMin}|${state.desired}|${state.spec}`)),
    equal: (a, b) => a.status === b.status && a.id === b.id && a.generationMin === b.generationMin && a.desired === b.desired && a.spec === b.spec,
    describeOperation(input, output) {
      const answer = output.kind === "ok" ? ` -> ok${output.id !== 0 ? ` id ${output.id}` : ""} gen ${output.generation}` : output.kind === "rejected" ? ` -> rejected ${output.code}` : output.kind === "unknown" ? " -> unknown" : "";
      switch (input.op) {
        case "read":
          return input.found ? `read: id ${input.id} gen ${input.generation} ${input.desired} ${input.phase} spec ${input.spec}` : "read: absent";
        case "create":
          return `create ${input.desired} spec ${input.spec}${answer}`;
        case "set-desired":
          return `set-desired ${input.desired} id ${input.id} if gen ${input.expectedGeneration}${answer}`;
        case "update":
          return `update spec ${input.spec} id ${input.id} if gen ${input.expectedGeneration}${answer}`;
        case "delete":
          return `delete id ${input.id} if gen ${input.expectedGeneration}${answer}`;
        case "migrate":
          return `migrate id ${input.id} if gen ${input.expectedGeneration}${answer}`;
      }
    },
    describeState(state) {
      if (state.status === ABSENT) return "absent";
      const id = state.id === 0 ? "id unknown" : `id ${state.id}`;
      return `${state.status === GOING ? "deleting or gone" : "present"}: ${id}, gen >= ${state.generationMin}, ${state.desired}, spec ${state.spec}`;
    },
  };
}
