// Jepsen histories in EDN: one vector or list of operation maps, or one map per line.
// `{:process 0, :type :invoke, :f :cas, :value [1 2]}`; Porcupine's key-value logs add
// `:key "0"`. Non-client events (`:process :nemesis`) are kept here and skipped by
// buildHistory.
import { BadInputError } from "../errors.ts";
import type { EventType, OpEvent } from "../history.ts";
import { EVENT_TYPES } from "../history.ts";
import type { Value } from "../value.ts";
import { EdnMap, EdnSymbol, Keyword, keyword, showValue } from "../value.ts";
import { readEdnForms } from "./edn.ts";

/** Parses a Jepsen EDN history. Throws BadInputError naming file, line and column. */
export function parseEdnHistory(text: string, file: string): OpEvent[] {
  const forms = readEdnForms(text, file);
  const events: OpEvent[] = [];
  for (const form of forms) {
    if (Array.isArray(form.value)) {
      const items = form.value as readonly Value[];
      const places = form.elementPlaces ?? [];
      items.forEach((item, i) => events.push(eventFromMap(item, file, places[i]?.line ?? form.line, places[i]?.column ?? form.column)));
    } else {
      events.push(eventFromMap(form.value, file, form.line, form.column));
    }
  }
  return events;
}

const KW_PROCESS = keyword("process");
const KW_TYPE = keyword("type");
const KW_F = keyword("f");
const KW_VALUE = keyword("value");
const KW_KEY = keyword("key");
const KW_TIME = keyword("time");
const KW_ERROR = keyword("error");

function eventFromMap(value: Value, file: string, line: number, column: number): OpEvent {
  if (!(value instanceof EdnMap)) throw new BadInputError(file, line, column, `expected an operation map, found ${truncate(showValue(value))}`);
  // One pass over the entries (a history has one map per event).
  let process: Value | undefined;
  let type: Value | undefined;
  let f: Value | undefined;
  let key: Value | undefined;
  let time: Value | undefined;
  let error: Value | undefined;
  let opValue: Value | undefined;
  // Keywords are interned, so identity comparisons suffice for the usual keys.
  for (const [k, v] of value.entries) {
    if (k === KW_PROCESS) process = v;
    else if (k === KW_TYPE) type = v;
    else if (k === KW_F) f = v;
    else if (k === KW_VALUE) opValue = v;
    else if (k === KW_KEY) key = v;
    else if (k === KW_TIME) time = v;
    else if (k === KW_ERROR) error = v;
  }
  let processValue: number | string;
  if (typeof process === "number" && Number.isInteger(process)) processValue = process;
  else if (process instanceof Keyword || process instanceof EdnSymbol) processValue = process.name;
  else if (typeof process === "string" && process.length > 0) processValue = process;
  else throw new BadInputError(file, line, column, process === undefined ? "operation has no :process" : `bad :process ${truncate(showValue(process))}`);
  const typeName = nameOf(type);
  if (typeName === undefined || !(EVENT_TYPES as readonly string[]).includes(typeName)) {
    throw new BadInputError(file, line, column, type === undefined ? "operation has no :type" : `unknown :type ${truncate(showValue(type))} (expected :invoke, :ok, :fail or :info)`);
  }
  const fName = nameOf(f);
  if (fName === undefined) throw new BadInputError(file, line, column, f === undefined ? "operation has no :f" : `bad :f ${truncate(showValue(f))}`);
  // One object shape for every event (absent fields are undefined), which keeps reading fast.
  return {
    process: processValue,
    type: typeName as EventType,
    f: fName,
    key: key === undefined || key === null ? undefined : typeof key === "string" ? key : showValue(key),
    value: opValue ?? null,
    time: typeof time === "number" ? time : undefined,
    error,
    line,
    column,
  };
}

function nameOf(value: Value | undefined): string | undefined {
  if (value instanceof Keyword || value instanceof EdnSymbol) return value.name;
  if (typeof value === "string" && value.length > 0) return value;
  return undefined;
}

function truncate(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** Writes events as one EDN map per line (readable by Knossos and by parseEdnHistory). */
export function writeEdnHistory(events: readonly OpEvent[]): string {
  const lines = events.map((event) => {
    const entries: Array<readonly [Value, Value]> = [
      [keyword("process"), typeof event.process === "number" ? event.process : keyword(event.process)],
      [keyword("type"), keyword(event.type)],
      [keyword("f"), keyword(event.f)],
    ];
    if (event.key !== undefined) entries.push([keyword("key"), event.key]);
    entries.push([keyword("value"), event.value]);
    if (event.time !== undefined) entries.push([keyword("time"), event.time]);
    if (event.error !== undefined) entries.push([keyword("error"), event.error]);
    return showValue(new EdnMap(entries));
  });
  return lines.length === 0 ? "" : lines.join("\n") + "\n";
}
