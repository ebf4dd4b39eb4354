// How a node's log reads (`blixard node --log-format json|pretty|auto`): pino's JSON lines, one
// record per line, for machines (a file, journald, a log shipper); or the same records as
// readable lines for a person at a terminal:
//
//   2026-12-02 04:58:00.123Z INFO  node 1: leader changed  from=2 to=3 term=7
//
// auto (the default) is pretty when stdout is a terminal and JSON otherwise, as kubectl and
// nomad do. The pretty form is a small formatter on pino's output rather than pino-pretty: no
// new dependency, no worker thread (pino's transports run in one, and a fatal exit could lose
// the last lines), and the line is written synchronously, like pino's own default destination.
import { writeSync } from "node:fs";

export type LogFormat = "json" | "pretty";

export const LOG_FORMATS = ["json", "pretty", "auto"] as const;

/** The format `--log-format` asks for, or undefined when the text is not one of LOG_FORMATS. */
export function resolveLogFormat(text: string, stdoutIsTerminal: boolean): LogFormat | undefined {
  if (text === "json" || text === "pretty") return text;
  if (text === "auto") return stdoutIsTerminal ? "pretty" : "json";
  return undefined;
}

/** pino's numeric levels, as a person reads them (padded to one width). */
const LEVEL_NAMES: ReadonlyMap<number, string> = new Map([
  [10, "TRACE"],
  [20, "DEBUG"],
  [30, "INFO "],
  [40, "WARN "],
  [50, "ERROR"],
  [60, "FATAL"],
]);

/** Fields every record has, shown in the line's head instead of as key=value. */
const HEAD_FIELDS = new Set(["level", "time", "pid", "hostname", "msg", "node"]);

/** One field's value at most this long (a stack, a long error), so that a line stays readable. */
export const FIELD_CHARS_MAX = 1_000;
/** A whole line at most this long. */
export const LINE_CHARS_MAX = 8_000;

/** One pino record (a parsed JSON line) as one readable line, without the newline. */
export function formatPrettyRecord(record: Readonly<Record<string, unknown>>): string {
  const time = typeof record.time === "number" ? new Date(record.time).toISOString().replace("T", " ") : "-";
  const level = typeof record.level === "number" ? (LEVEL_NAMES.get(record.level) ?? String(record.level)) : String(record.level ?? "-");
  const node = record.node === undefined || record.node === null ? "" : ` node ${String(record.node)}:`;
  const message = typeof record.msg === "string" ? record.msg : "";
  // Fields in the order the record has them: the order the code wrote them in.
  const fields: string[] = [];
  for (const [key, value] of Object.entries(record)) {
    if (HEAD_FIELDS.has(key) || value === undefined) continue;
    fields.push(`${key}=${formatValue(value)}`);
  }
  const line = `${time} ${level}${node} ${oneLine(message)}${fields.length === 0 ? "" : `  ${fields.join(" ")}`}`;
  return line.length <= LINE_CHARS_MAX ? line : `${line.slice(0, LINE_CHARS_MAX - 3)}...`;
}

function formatValue(value: unknown): string {
  const text = typeof value === "string" ? (/^[^\s"=]+$/.test(value) ? value : JSON.stringify(value)) : (JSON.stringify(value) ?? String(value));
  // JSON.stringify already escaped newlines in strings; an object's own text has none.
  const flat = oneLine(text);
  return flat.length <= FIELD_CHARS_MAX ? flat : `${flat.slice(0, FIELD_CHARS_MAX - 3)}...`;
}

function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, "\\n");
}

/**
 * A pino destination that writes each record as a pretty line to file descriptor `fd`
 * (synchronously). A chunk that is not a JSON record is written as it came.
 */
export function prettyDestination(fd = 1): { write(chunk: string): boolean } {
  return {
    write(chunk: string): boolean {
      let out = "";
      for (const line of chunk.split("\n")) {
        if (line === "") continue;
        let record: unknown;
        try {
          record = JSON.parse(line);
        } catch {
          record = undefined;
        }
        out += `${typeof record === "object" && record !== null ? formatPrettyRecord(record as Record<string, unknown>) : line}\n`;
      }
      if (out !== "") writeFully(fd, Buffer.from(out, "utf8"));
      return true;
    },
  };
}

/** A terminal or pipe in non-blocking mode may take part of a write, or none (EAGAIN): wait a millisecond and go on, within a bound. */
function writeFully(fd: number, bytes: Buffer): void {
  let offset = 0;
  for (let attempt = 0; offset < bytes.length && attempt < WRITE_ATTEMPTS_MAX; attempt++) {
    try {
      offset += writeSync(fd, bytes, offset);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EAGAIN") return; // stdout closed: nobody reads the log
      Atomics.wait(SLEEP_CELL, 0, 0, 1);
    }
  }
}
/** About ten seconds of a reader that does not read, then the rest of the record is dropped. */
const WRITE_ATTEMPTS_MAX = 10_000;
const SLEEP_CELL = new Int32Array(new SharedArrayBuffer(4));
