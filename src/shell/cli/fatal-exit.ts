// How a `blixard node` process dies when it must: ONE line on stderr naming the cause, then a
// documented exit code (docs/OPERATIONS.md, "Exit codes"), at any time, not only at start-up.
// The details (a stack, for a bug) go to the JSON log on stdout, never to stderr: an operator
// or a supervisor reads one line and one code.
import type { Logger } from "../../core/env/environment.ts";

/** A failure to start: a port in use, a foreign or corrupt data directory, a join that failed. */
export const EXIT_STARTUP_FAILED = 1;
/** Storage failed while the node ran (a write, rename or fsync refused: a read-only or failing data directory). */
export const EXIT_STORAGE_FAILED = 4;
/** An uncaught error or a failed assertion: a bug. The stack is in the log. */
export const EXIT_INTERNAL_ERROR = 5;

/** After the line is written, the node gets this long to stop cleanly before the process exits anyway. */
export const FATAL_STOP_GRACE_MS = 5_000;

/** `text` on one line (a message may hold newlines), bounded so a line stays a line. */
export function oneLine(text: string): string {
  const flat = text.replace(/\s*[\r\n]+\s*/g, " ").trim();
  return flat.length <= FATAL_LINE_CHARS_MAX ? flat : `${flat.slice(0, FATAL_LINE_CHARS_MAX - 3)}...`;
}
const FATAL_LINE_CHARS_MAX = 2_000;

let reported = false;

/** Writes the one line (only the first report of a process counts) and sets the exit code. */
export function reportFatal(line: string, exitCode: number): void {
  if (reported) return;
  reported = true;
  process.stderr.write(`${oneLine(line)}\n`);
  process.exitCode = exitCode;
}

/**
 * Uncaught errors and unhandled rejections end the process with one line and
 * EXIT_INTERNAL_ERROR instead of Node's stack trace on stderr (the stack goes to the log).
 */
export function installFatalHandlers(log: Logger): void {
  const die = (error: unknown): void => {
    const message = error instanceof Error ? error.message : String(error);
    log.error({ error: message, stack: error instanceof Error ? error.stack : undefined }, "internal error: the process exits");
    reportFatal(`blixard node: fatal: internal error (a bug; the stack is in the log): ${message}`, EXIT_INTERNAL_ERROR);
    process.exit(EXIT_INTERNAL_ERROR);
  };
  process.on("uncaughtException", die);
  process.on("unhandledRejection", die);
}
