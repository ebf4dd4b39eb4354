// The failpoint action language, after tikv's fail-rs: a point's actions are tasks chained with
// "->", each `[P%][N*]action[(arg)]`, and several points are `name=actions;name=actions`
// (BLIXARD_FAILPOINTS, docs/FAILPOINTS.md). Pure parsing and rendering: a bad spec is a value
// naming the 1-based column and the part that is wrong, never an exception, because it is
// operator input (the caller turns it into one line and exit 2).
//
// Probabilities are integer parts per million (a percentage with up to four decimals), so the
// decision to fire is an integer draw, the same on every engine.

import { assert } from "../assert.ts";

export const PARTS_PER_MILLION = 1_000_000;
/** A task's count (`N*`) is at most this: a limit like every other. */
export const FAILPOINT_COUNT_MAX = 1_000_000_000;
/** sleep(ms) and delay(ms) wait at most this long. */
export const FAILPOINT_SLEEP_MS_MAX = 3_600_000;
/** An argument (return's error, panic's or print's message) is at most this many characters. */
export const FAILPOINT_ARG_LENGTH_MAX = 256;
/** One spec names at most this many points, and one point chains at most this many tasks. */
export const FAILPOINT_POINTS_MAX = 64;
export const FAILPOINT_TASKS_MAX = 16;

/**
 * What a task does when it fires:
 *   off          nothing (the point does not fire);
 *   return(arg)  the code at the point takes its error path (arg: the error, e.g. EIO, or a value);
 *   panic(msg)   the process stops with an error naming the point and msg;
 *   crash        the process dies at once, as kill -9 would: no cleanup;
 *   sleep(ms)    the calling path waits ms before going on;
 *   delay(ms)    the same as sleep: fail-rs busy-waits for delay, and a single-threaded node
 *                cannot tell the difference, so Blixard keeps the name for compatibility only;
 *   pause        the path waits until the point is changed or cleared;
 *   print(msg)   a log line naming the point, and nothing else.
 */
export type FailpointAction =
  | { readonly kind: "off" }
  | { readonly kind: "return"; readonly arg: string | undefined }
  | { readonly kind: "panic"; readonly arg: string | undefined }
  | { readonly kind: "crash" }
  | { readonly kind: "sleep"; readonly ms: number }
  | { readonly kind: "delay"; readonly ms: number }
  | { readonly kind: "pause" }
  | { readonly kind: "print"; readonly arg: string | undefined };

export type FailpointActionKind = FailpointAction["kind"];
export const FAILPOINT_ACTION_KINDS: readonly FailpointActionKind[] = ["off", "return", "panic", "crash", "sleep", "delay", "pause", "print"];

/** One task of a chain: fires with partsPerMillion, at most count times (undefined: no limit). */
export interface FailpointTask {
  readonly partsPerMillion: number;
  readonly count: number | undefined;
  readonly action: FailpointAction;
}

export interface FailpointSetting {
  readonly name: string;
  readonly tasks: readonly FailpointTask[];
}

export type ParseResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

const NAME = /^[a-z][a-z0-9-]*(?:[./][a-z0-9-]+)*$/;
// No ( ) ; or > in an argument, so an argument can never hide a task or point separator.
const ARG = /^[A-Za-z0-9 _.,:+=-]*$/;

class SpecError {
  constructor(
    readonly column: number,
    readonly message: string,
  ) {}
}

/** Parses one point's chain (`20%3*return(EIO)->off`); `offset` is its 0-based column in the whole spec. */
export function parseFailpointActions(text: string, offset = 0): ParseResult<readonly FailpointTask[]> {
  try {
    return { ok: true, value: parseTasks(text, offset) };
  } catch (error) {
    if (error instanceof SpecError) return { ok: false, error: `column ${error.column + 1}: ${error.message}` };
    throw error;
  }
}

/** Parses `name=actions;name=actions` (empty parts between ';' are ignored; a name may appear once). */
export function parseFailpointSpec(text: string): ParseResult<readonly FailpointSetting[]> {
  try {
    const settings: FailpointSetting[] = [];
    let start = 0;
    for (const part of text.split(";")) {
      const partStart = start;
      start += part.length + 1;
      if (part.trim() === "") continue;
      const equals = part.indexOf("=");
      if (equals < 0) throw new SpecError(partStart, `"${clip(part)}" is not NAME=ACTIONS`);
      const name = part.slice(0, equals).trim();
      const nameColumn = partStart + part.indexOf(name === "" ? "=" : name);
      if (!NAME.test(name)) throw new SpecError(nameColumn, `"${clip(name)}" is not a failpoint name (lower-case words joined by '.', '-' or '/')`);
      if (settings.some((s) => s.name === name)) throw new SpecError(nameColumn, `failpoint ${name} is named twice`);
      if (settings.length === FAILPOINT_POINTS_MAX) throw new SpecError(partStart, `more than ${FAILPOINT_POINTS_MAX} failpoints`);
      settings.push({ name, tasks: parseTasks(part.slice(equals + 1), partStart + equals + 1) });
    }
    return { ok: true, value: settings };
  } catch (error) {
    if (error instanceof SpecError) return { ok: false, error: `column ${error.column + 1}: ${error.message}` };
    throw error;
  }
}

function parseTasks(text: string, offset: number): FailpointTask[] {
  const tasks: FailpointTask[] = [];
  let start = 0;
  for (const part of text.split("->")) {
    if (tasks.length === FAILPOINT_TASKS_MAX) throw new SpecError(offset + start, `more than ${FAILPOINT_TASKS_MAX} tasks chained with ->`);
    tasks.push(parseTask(part, offset + start));
    start += part.length + 2;
  }
  assert(tasks.length >= 1, "split always yields one part");
  return tasks;
}

function parseTask(raw: string, column: number): FailpointTask {
  const leading = raw.length - raw.trimStart().length;
  let text = raw.trim();
  let at = column + leading;
  if (text === "") throw new SpecError(at, "an empty action (give off, return, panic, crash, sleep(MS), delay(MS), pause or print)");
  let partsPerMillion = PARTS_PER_MILLION;
  const percent = /^(\d{1,3})(?:\.(\d{1,4}))?%/.exec(text);
  if (percent !== null) {
    partsPerMillion = Number(percent[1]) * 10_000 + Number((percent[2] ?? "").padEnd(4, "0"));
    if (partsPerMillion > PARTS_PER_MILLION) throw new SpecError(at, `${percent[0]} is more than 100%`);
    text = text.slice(percent[0].length);
    at += percent[0].length;
  } else if (/^[\d.]+%/.test(text)) {
    throw new SpecError(at, `"${clip(text.slice(0, text.indexOf("%") + 1))}" is not a percentage (0 to 100, at most 4 decimals)`);
  }
  let count: number | undefined;
  const times = /^(\d{1,10})\*/.exec(text);
  if (times !== null) {
    count = Number(times[1]);
    if (count < 1 || count > FAILPOINT_COUNT_MAX) throw new SpecError(at, `count ${times[1]} is outside 1..${FAILPOINT_COUNT_MAX}`);
    text = text.slice(times[0].length);
    at += times[0].length;
  }
  const call = /^([a-z]+)(?:\((.*)\))?$/.exec(text);
  if (call === null) throw new SpecError(at, `"${clip(text)}" is not ACTION or ACTION(ARG)`);
  const [, kind, arg] = call;
  if (arg !== undefined && !ARG.test(arg)) throw new SpecError(at + kind.length + 1, `argument "${clip(arg)}": use letters, digits, spaces and _ . , : + = - only`);
  if (arg !== undefined && arg.length > FAILPOINT_ARG_LENGTH_MAX) throw new SpecError(at + kind.length + 1, `argument longer than ${FAILPOINT_ARG_LENGTH_MAX} characters`);
  return { partsPerMillion, count, action: parseAction(kind, arg, at) };
}

function parseAction(kind: string, arg: string | undefined, at: number): FailpointAction {
  const noArg = (action: FailpointAction): FailpointAction => {
    if (arg !== undefined) throw new SpecError(at, `${kind} takes no argument`);
    return action;
  };
  switch (kind) {
    case "off":
      return noArg({ kind: "off" });
    case "crash":
      return noArg({ kind: "crash" });
    case "pause":
      return noArg({ kind: "pause" });
    case "return":
    case "panic":
    case "print":
      return { kind, arg };
    case "sleep":
    case "delay": {
      if (arg === undefined || !/^\d{1,7}$/.test(arg) || Number(arg) > FAILPOINT_SLEEP_MS_MAX) throw new SpecError(at, `${kind} needs whole milliseconds 0..${FAILPOINT_SLEEP_MS_MAX}: ${kind}(MS)`);
      return { kind, ms: Number(arg) };
    }
    default:
      throw new SpecError(at, `unknown action "${clip(kind)}" (one of ${FAILPOINT_ACTION_KINDS.join(", ")})`);
  }
}

function clip(text: string): string {
  return text.length > 60 ? `${text.slice(0, 60)}...` : text;
}

/** The canonical text of a chain: parseFailpointActions(renderFailpointActions(t)) gives t back. */
export function renderFailpointActions(tasks: readonly FailpointTask[]): string {
  assert(tasks.length >= 1 && tasks.length <= FAILPOINT_TASKS_MAX, "a chain holds 1 to FAILPOINT_TASKS_MAX tasks");
  return tasks.map(renderTask).join("->");
}

export function renderFailpointSpec(settings: readonly FailpointSetting[]): string {
  return settings.map((s) => `${s.name}=${renderFailpointActions(s.tasks)}`).join(";");
}

function renderTask(task: FailpointTask): string {
  assert(Number.isSafeInteger(task.partsPerMillion) && task.partsPerMillion >= 0 && task.partsPerMillion <= PARTS_PER_MILLION, "probability in parts per million");
  let out = "";
  if (task.partsPerMillion < PARTS_PER_MILLION) {
    const whole = Math.floor(task.partsPerMillion / 10_000);
    const fraction = String(task.partsPerMillion % 10_000).padStart(4, "0").replace(/0+$/, "");
    out += fraction === "" ? `${whole}%` : `${whole}.${fraction}%`;
  }
  if (task.count !== undefined) out += `${task.count}*`;
  const action = task.action;
  switch (action.kind) {
    case "off":
    case "crash":
    case "pause":
      return out + action.kind;
    case "return":
    case "panic":
    case "print":
      return out + action.kind + (action.arg === undefined ? "" : `(${action.arg})`);
    case "sleep":
    case "delay":
      return `${out}${action.kind}(${action.ms})`;
    default: {
      const unreachable: never = action;
      return unreachable;
    }
  }
}
