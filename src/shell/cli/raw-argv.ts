// Arguments that are not valid UTF-8 are refused, never rewritten. Node decodes argv as UTF-8
// and turns every invalid byte into U+FFFD before any code runs, so `kv put $'x\xff' A` and
// `kv put $'x\xfe' B` would write the same key "x\uFFFD". Only the raw bytes can tell them
// apart: on Linux they are in /proc/self/cmdline. Elsewhere U+FFFD itself is refused, with a
// message saying why (a genuine U+FFFD cannot be told from a rewritten byte there).
import { readFileSync } from "node:fs";

const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true });
/** /proc/self/cmdline is read once per command; a command line is far below this. */
const CMDLINE_BYTES_MAX = 4 * 1024 * 1024;

/** The raw command line (NUL-separated), or undefined where the platform does not give it. */
export function readRawCmdline(): Uint8Array | undefined {
  try {
    const bytes = readFileSync("/proc/self/cmdline");
    return bytes.length <= CMDLINE_BYTES_MAX ? bytes : undefined;
  } catch {
    return undefined;
  }
}

/** Why the command line cannot be used as given, or undefined. `argv` is what Node decoded (the fallback without `rawCmdline`, from readRawCmdline). */
export function invalidUtf8Argument(argv: readonly string[], rawCmdline: Uint8Array | undefined): string | undefined {
  if (rawCmdline !== undefined) {
    const parts = splitOnNul(rawCmdline);
    for (let i = 0; i < parts.length; i++) {
      try {
        STRICT_UTF8.decode(parts[i]!);
      } catch {
        const shown = new TextDecoder().decode(parts[i]!);
        return `argument ${JSON.stringify(shown)} is not valid UTF-8 (the bytes marked \uFFFD); keys and values must be valid UTF-8, and they are refused rather than rewritten`;
      }
    }
    return undefined;
  }
  const suspect = argv.find((argument) => argument.includes("\uFFFD"));
  return suspect === undefined
    ? undefined
    : `argument ${JSON.stringify(suspect)} holds U+FFFD, which is what Node makes of bytes that are not valid UTF-8; this platform cannot show the raw bytes, so it is refused rather than risk writing a rewritten key`;
}

function splitOnNul(bytes: Uint8Array): Uint8Array[] {
  const parts: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0) {
      parts.push(bytes.subarray(start, i));
      start = i + 1;
    }
  }
  if (start < bytes.length) parts.push(bytes.subarray(start));
  return parts;
}
