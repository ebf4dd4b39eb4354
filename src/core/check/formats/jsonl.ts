// Blixard's own history format, written by the simulator: JSON lines, one event per line.
//   {"process":3,"type":"invoke","f":"cas","key":"k2","value":["a","b"],"time":1234567}
// - process: a non-negative integer (the client);
// - type: invoke | ok | fail | info;
// - f: get | put | cas | append | delete, on a string-valued key-value map where every key starts
//   as "" (so a deleted key reads as "" again);
// - key: the key (a string);
// - value: get: null at invocation, the string read at ok; put/append: the string written;
//   delete: null;
//   cas: [expected, new] (ok = swapped; fail = the compare failed, so no effect); info: the
//   invocation's value (the outcome is unknown);
// - time: simulated time in microseconds (an integer), for display: order is file order.
// Blank lines are ignored. Check these histories with the `kv` model.
// The orchestrator users' histories (`blixard sim --workload orchestrator --vm-history FILE`) use
// the same lines with f vm-read | vm-create | vm-set-desired | vm-update | vm-delete | vm-migrate
// and JSON values the `vm-registry` model reads (src/core/check/models/vm-registry.ts); the model,
// not this reader, checks those values' shapes.
import { BadInputError } from "../errors.ts";
import type { EventType } from "../history.ts";

export type KvFunction = "get" | "put" | "cas" | "append" | "delete";
export const KV_FUNCTIONS: readonly KvFunction[] = ["get", "put", "cas", "append", "delete"];
export type VmRegistryFunction = "vm-read" | "vm-create" | "vm-set-desired" | "vm-update" | "vm-delete" | "vm-migrate";
export const VM_REGISTRY_FUNCTIONS: readonly VmRegistryFunction[] = ["vm-read", "vm-create", "vm-set-desired", "vm-update", "vm-delete", "vm-migrate"];
const FUNCTIONS: readonly string[] = [...KV_FUNCTIONS, ...VM_REGISTRY_FUNCTIONS];

/** A JSON value as the vm-registry model's operations carry it. */
export type JsonValue = string | number | boolean | null | readonly JsonValue[];

export interface HistoryEvent {
  readonly process: number;
  readonly type: EventType;
  readonly f: KvFunction | VmRegistryFunction;
  readonly key: string;
  readonly value: string | null | readonly [string, string] | JsonValue;
  readonly time: number;
  /** 1-based line in the source file; set by parseJsonl, ignored by writeJsonl. */
  readonly line?: number;
}

const TYPES: readonly string[] = ["invoke", "ok", "fail", "info"];

/** Parses Blixard JSON lines. Throws BadInputError naming file, line and column. */
export function parseJsonl(text: string, fileName: string): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i].endsWith("\r") ? lines[i].slice(0, -1) : lines[i];
    if (line.trim().length === 0) continue;
    const lineNumber = i + 1;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      const { offset, reason } = findJsonError(line);
      throw new BadInputError(fileName, lineNumber, offset + 1, `malformed JSON: ${reason}`);
    }
    events.push(eventFromJson(parsed, fileName, lineNumber, line));
  }
  return events;
}

function eventFromJson(parsed: unknown, file: string, line: number, text: string): HistoryEvent {
  const column = (field: string): number => {
    const at = text.indexOf(`"${field}"`);
    return at < 0 ? 1 : at + 1;
  };
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new BadInputError(file, line, 1, "expected a JSON object");
  const record = parsed as Record<string, unknown>;
  const { process, type, f, key, value, time } = record;
  if (typeof process !== "number" || !Number.isSafeInteger(process) || process < 0) throw new BadInputError(file, line, column("process"), `"process" must be a non-negative integer, found ${JSON.stringify(process) ?? "nothing"}`);
  if (typeof type !== "string" || !TYPES.includes(type)) throw new BadInputError(file, line, column("type"), `"type" must be invoke, ok, fail or info, found ${JSON.stringify(type) ?? "nothing"}`);
  if (typeof f !== "string" || !FUNCTIONS.includes(f)) throw new BadInputError(file, line, column("f"), `unknown operation ${JSON.stringify(f) ?? "(none)"} (expected get, put, cas, append or delete, or ${VM_REGISTRY_FUNCTIONS.join(", ")})`);
  if (typeof key !== "string") throw new BadInputError(file, line, column("key"), `"key" must be a string, found ${JSON.stringify(key) ?? "nothing"}`);
  if (typeof time !== "number" || !Number.isSafeInteger(time)) throw new BadInputError(file, line, column("time"), `"time" must be an integer (microseconds), found ${JSON.stringify(time) ?? "nothing"}`);
  if ((VM_REGISTRY_FUNCTIONS as readonly string[]).includes(f)) {
    if (!isJsonValue(value, 0)) throw new BadInputError(file, line, column("value"), `"value" must be JSON without objects, found ${JSON.stringify(value) ?? "nothing"}`);
    return { process, type: type as EventType, f: f as VmRegistryFunction, key, value: value as JsonValue, time, line };
  }
  const valueOk =
    value === null ||
    typeof value === "string" ||
    (Array.isArray(value) && value.length === 2 && typeof value[0] === "string" && typeof value[1] === "string");
  if (!valueOk) throw new BadInputError(file, line, column("value"), `"value" must be null, a string or [expected, new], found ${JSON.stringify(value) ?? "nothing"}`);
  if (f === "cas" && type !== "ok" && type !== "fail" && !Array.isArray(value)) throw new BadInputError(file, line, column("value"), `cas needs "value": [expected, new]`);
  return { process, type: type as EventType, f: f as KvFunction, key, value: value as HistoryEvent["value"], time, line };
}

/** Nesting bound for a value, so a hostile file cannot recurse deeply. */
const JSON_VALUE_DEPTH_MAX = 8;

function isJsonValue(value: unknown, depth: number): value is JsonValue {
  if (value === null || typeof value === "string" || typeof value === "boolean") return true;
  if (typeof value === "number") return Number.isFinite(value);
  return Array.isArray(value) && depth < JSON_VALUE_DEPTH_MAX && value.every((item) => isJsonValue(item, depth + 1));
}

/** Writes events as JSON lines, in the field order of the format's definition. */
export function writeJsonl(events: readonly HistoryEvent[]): string {
  let out = "";
  for (const event of events) {
    out += JSON.stringify({ process: event.process, type: event.type, f: event.f, key: event.key, value: event.value, time: event.time }) + "\n";
  }
  return out;
}

/**
 * Finds where a line stops being valid JSON (JSON.parse does not report a column on
 * every Node version): a small recursive-descent scanner over one line.
 */
export function findJsonError(text: string): { offset: number; reason: string } {
  let pos = 0;
  class Stop {
    constructor(
      readonly offset: number,
      readonly reason: string,
    ) {}
  }
  const fail = (reason: string): never => {
    throw new Stop(pos, reason);
  };
  const space = (): void => {
    while (pos < text.length && " \t\r\n".includes(text[pos])) pos += 1;
  };
  const literal = (word: string): void => {
    if (text.startsWith(word, pos)) pos += word.length;
    else fail(`unexpected ${describe(pos)}`);
  };
  const describe = (at: number): string => (at >= text.length ? "end of line" : `'${text[at]}'`);
  const string = (): void => {
    pos += 1;
    for (;;) {
      if (pos >= text.length) fail("unterminated string");
      const ch = text[pos];
      if (ch === '"') {
        pos += 1;
        return;
      }
      if (ch === "\\") {
        const escape = text[pos + 1];
        if (escape === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(pos + 2, pos + 6))) fail("bad \\u escape");
          pos += 6;
        } else if (escape !== undefined && '"\\/bfnrt'.includes(escape)) pos += 2;
        else fail("bad escape");
      } else if (ch < " ") fail("control character in string");
      else pos += 1;
    }
  };
  const number = (): void => {
    const match = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(pos));
    if (match === null) fail(`unexpected ${describe(pos)}`);
    else pos += match[0].length;
  };
  const value = (depth: number): void => {
    if (depth > 100) fail("nesting too deep");
    space();
    const ch = text[pos];
    if (ch === "{") {
      pos += 1;
      space();
      if (text[pos] === "}") {
        pos += 1;
        return;
      }
      for (;;) {
        space();
        if (text[pos] !== '"') fail(`expected a property name, found ${describe(pos)}`);
        string();
        space();
        if (text[pos] !== ":") fail(`expected ':', found ${describe(pos)}`);
        pos += 1;
        value(depth + 1);
        space();
        if (text[pos] === ",") pos += 1;
        else if (text[pos] === "}") {
          pos += 1;
          return;
        } else fail(`expected ',' or '}', found ${describe(pos)}`);
      }
    } else if (ch === "[") {
      pos += 1;
      space();
      if (text[pos] === "]") {
        pos += 1;
        return;
      }
      for (;;) {
        value(depth + 1);
        space();
        if (text[pos] === ",") pos += 1;
        else if (text[pos] === "]") {
          pos += 1;
          return;
        } else fail(`expected ',' or ']', found ${describe(pos)}`);
      }
    } else if (ch === '"') string();
    else if (ch === "t") literal("true");
    else if (ch === "f") literal("false");
    else if (ch === "n") literal("null");
    else number();
  };
  try {
    value(0);
    space();
    if (pos < text.length) fail(`unexpected ${describe(pos)} after the value`);
    return { offset: 0, reason: "invalid JSON" };
  } catch (error) {
    if (error instanceof Stop) return { offset: error.offset, reason: error.reason };
    throw error;
  }
}
