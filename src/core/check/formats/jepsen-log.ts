// Jepsen log lines as printed by jepsen.util in Jepsen's etcd register test:
//   INFO  jepsen.util - 3	:invoke	:cas	[2 4]
//   INFO  jepsen.util - 3	:fail	:cas	[2 4]
//   INFO  jepsen.util - 1	:fail	:read	:timed-out
//   INFO  jepsen.util - :nemesis	:info	:start	nil
// Fields after "jepsen.util - " are separated by tabs: process, type, f, value (EDN).
// Lines without "jepsen.util - " (other log output) are ignored. For that test's client
// `:fail :cas` means the compare failed and `:fail :read :timed-out` means unknown: use
// the "compare-failed" FailSemantics (the default for this format).
import { BadInputError } from "../errors.ts";
import type { EventType, OpEvent } from "../history.ts";
import { EVENT_TYPES } from "../history.ts";
import { showValue } from "../value.ts";
import { readEdnValue } from "./edn.ts";

const MARKER = "jepsen.util - ";

export function parseJepsenLog(text: string, file: string): OpEvent[] {
  const events: OpEvent[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i += 1) {
    const raw = lines[i].endsWith("\r") ? lines[i].slice(0, -1) : lines[i];
    const at = raw.indexOf(MARKER);
    if (at < 0) continue;
    const lineNumber = i + 1;
    const start = at + MARKER.length;
    const fields = raw.slice(start).split("\t");
    if (fields.length < 3) throw new BadInputError(file, lineNumber, start + 1, "expected tab-separated process, type, f and value");
    const columns: number[] = [];
    let column = start + 1;
    for (const field of fields) {
      columns.push(column);
      column += field.length + 1;
    }
    const processText = fields[0].trim();
    let process: number | string;
    if (/^-?\d+$/.test(processText)) process = Number(processText);
    else if (/^:[^\s]+$/.test(processText)) process = processText.slice(1);
    else throw new BadInputError(file, lineNumber, columns[0], `bad process '${processText}'`);
    const typeText = fields[1].trim();
    const type = typeText.startsWith(":") ? typeText.slice(1) : typeText;
    if (!(EVENT_TYPES as readonly string[]).includes(type)) throw new BadInputError(file, lineNumber, columns[1], `unknown type '${typeText}' (expected :invoke, :ok, :fail or :info)`);
    const fText = fields[2].trim();
    if (!/^:[^\s]+$/.test(fText)) throw new BadInputError(file, lineNumber, columns[2], `bad operation name '${fText}'`);
    const valueText = fields.slice(3).join("\t");
    const value = valueText.trim().length === 0 ? null : readEdnValue(valueText, file, lineNumber, columns[3] ?? column);
    events.push({ process, type: type as EventType, f: fText.slice(1), value, line: lineNumber, column: start + 1 });
  }
  return events;
}

export function writeJepsenLog(events: readonly OpEvent[]): string {
  return events
    .map((event) => `INFO  jepsen.util - ${typeof event.process === "number" ? event.process : `:${event.process}`}\t:${event.type}\t:${event.f}\t${showValue(event.value)}\n`)
    .join("");
}
