// Jepsen log lines as printed by jepsen.util in Jepsen's etcd register test:
//   INFO  jepsen.util - 3	:invoke	:cas	[2 4]
//   INFO  jepsen.util - 3	:fail	:cas	[2 4]
//   INFO  jepsen.util - 1	:fail	:read	:timed-out
//   INFO  jepsen.util - :nemesis	:info	:start	nil
// After "jepsen.util -", the fields are process, type, f and value (EDN), separated by any run
// of whitespace (Jepsen prints tabs; Porcupine's parser, and so this one, takes spaces too). The
// value is the rest of the line, so `[2 4]` keeps its inner space.
// Lines without "jepsen.util -" (other log output) are ignored. For that test's client
// `:fail :cas` means the compare failed and `:fail :read :timed-out` means unknown: use
// the "compare-failed" FailSemantics (the default for this format). Its register starts
// absent: a read of nil means absent (check-text.ts makes `--initial nil` this format's default).
import { BadInputError } from "../errors.ts";
import type { EventType, OpEvent } from "../history.ts";
import { EVENT_TYPES } from "../history.ts";
import { showValue } from "../value.ts";
import { readEdnValue } from "./edn.ts";

/** Where the fields start: "jepsen.util", a dash, and whitespace around it. */
const MARKER = /jepsen\.util\s+-\s+/;
/** process, type and f, then the value: any whitespace between them. */
const FIELDS = /^(\S+)(\s+)(\S+)(\s+)(\S+)(?:(\s+)([\s\S]*))?$/;

export function parseJepsenLog(text: string, file: string): OpEvent[] {
  const events: OpEvent[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i += 1) {
    const raw = lines[i].endsWith("\r") ? lines[i].slice(0, -1) : lines[i];
    const marker = MARKER.exec(raw);
    if (marker === null) continue;
    const lineNumber = i + 1;
    const start = marker.index + marker[0].length;
    const rest = raw.slice(start).trimEnd();
    const fields = FIELDS.exec(rest);
    if (fields === null) throw new BadInputError(file, lineNumber, start + 1, "expected process, type, f and value separated by whitespace");
    const processText = fields[1];
    const typeText = fields[3];
    const fText = fields[5];
    const typeColumn = start + 1 + processText.length + fields[2].length;
    const fColumn = typeColumn + typeText.length + fields[4].length;
    const valueColumn = fColumn + fText.length + (fields[6]?.length ?? 0);
    let process: number | string;
    if (/^-?\d+$/.test(processText)) process = Number(processText);
    else if (/^:[^\s]+$/.test(processText)) process = processText.slice(1);
    else throw new BadInputError(file, lineNumber, start + 1, `bad process '${processText}'`);
    const type = typeText.startsWith(":") ? typeText.slice(1) : typeText;
    if (!(EVENT_TYPES as readonly string[]).includes(type)) throw new BadInputError(file, lineNumber, typeColumn, `unknown type '${typeText}' (expected :invoke, :ok, :fail or :info)`);
    if (!/^:[^\s]+$/.test(fText)) throw new BadInputError(file, lineNumber, fColumn, `bad operation name '${fText}'`);
    const valueText = fields[7] ?? "";
    const value = valueText.length === 0 ? null : readEdnValue(valueText, file, lineNumber, valueColumn);
    events.push({ process, type: type as EventType, f: fText.slice(1), value, line: lineNumber, column: start + 1 });
  }
  return events;
}

export function writeJepsenLog(events: readonly OpEvent[]): string {
  return events
    .map((event) => `INFO  jepsen.util - ${typeof event.process === "number" ? event.process : `:${event.process}`}\t:${event.type}\t:${event.f}\t${showValue(event.value)}\n`)
    .join("");
}
