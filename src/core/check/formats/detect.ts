// Format names and detection from content.
import type { FailSemantics, OpEvent } from "../history.ts";
import { parseEdnHistory } from "./jepsen-edn.ts";
import { parseJepsenLog } from "./jepsen-log.ts";
import { parseJsonl } from "./jsonl.ts";

export type FormatName = "edn" | "jepsen-log" | "jsonl";
export const FORMAT_NAMES: readonly FormatName[] = ["edn", "jepsen-log", "jsonl"];

/** What `:fail` means in each format unless the caller says otherwise. */
export const DEFAULT_FAIL_SEMANTICS: Readonly<Record<FormatName, FailSemantics>> = {
  edn: "no-effect",
  "jepsen-log": "compare-failed",
  jsonl: "compare-failed",
};

/**
 * Guesses the format: a line containing "jepsen.util -" means Jepsen log lines; a first
 * form starting with `{"` means JSON lines; anything else is read as EDN.
 */
export function detectFormat(text: string): FormatName {
  if (/jepsen\.util\s+-\s/.test(text.slice(0, 1 << 16))) return "jepsen-log";
  for (const line of text.split("\n", 1000)) {
    const trimmed = line.trim();
    if (trimmed.length === 0 || trimmed.startsWith(";")) continue;
    return /^\{\s*"/.test(trimmed) ? "jsonl" : "edn";
  }
  return "edn";
}

export function parseEvents(text: string, file: string, format: FormatName): OpEvent[] {
  switch (format) {
    case "edn":
      return parseEdnHistory(text, file);
    case "jepsen-log":
      return parseJepsenLog(text, file);
    case "jsonl":
      return parseJsonl(text, file);
  }
}
