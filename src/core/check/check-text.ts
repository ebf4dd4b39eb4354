// One call from file text to verdict: detect or take the format, parse, build, check.
import type { CheckOptions, CheckResult } from "./checker.ts";
import { checkHistory } from "./checker.ts";
import type { FormatName } from "./formats/detect.ts";
import { DEFAULT_FAIL_SEMANTICS, detectFormat, parseEvents } from "./formats/detect.ts";
import type { FailSemantics, History } from "./history.ts";
import { buildHistory } from "./history.ts";
import type { SomeModel } from "./model.ts";
import type { HistoryEvent } from "./formats/jsonl.ts";
import type { ModelName, ModelOptions } from "./models/index.ts";
import { createModel, kvModel } from "./models/index.ts";

export interface CheckTextOptions extends CheckOptions, ModelOptions {
  readonly model: ModelName;
  /** Detected from the content when absent. */
  readonly format?: FormatName;
  /** Defaults per format: DEFAULT_FAIL_SEMANTICS. */
  readonly failSemantics?: FailSemantics;
}

export interface CheckTextResult {
  readonly format: FormatName;
  readonly history: History;
  readonly model: SomeModel;
  readonly result: CheckResult;
}

/** Parses and checks a history file's text. Throws BadInputError for bad input. */
export function checkText(text: string, file: string, options: CheckTextOptions): CheckTextResult {
  const format = options.format ?? detectFormat(text);
  const events = parseEvents(text, file, format);
  const history = buildHistory(events, { file, failSemantics: options.failSemantics ?? DEFAULT_FAIL_SEMANTICS[format] });
  // Jepsen's etcd test (the log format's source) and Porcupine's etcd model start the register absent.
  const model = createModel(options.model, options.initial === undefined && format === "jepsen-log" ? { ...options, initial: null } : options);
  const result = checkHistory(history, model, options);
  return { format, history, model, result };
}

/**
 * Checks Blixard key-value events (the simulator's workload) with the kv model, per key,
 * with the JSON-lines semantics (a failed cas failed its compare). Throws BadInputError
 * for an impossible history (a completion without an invocation, ...).
 */
export function checkKvEvents(events: readonly HistoryEvent[], options: CheckOptions & { readonly file?: string } = {}): CheckResult {
  const history = buildHistory(events, { file: options.file ?? "<simulation>", failSemantics: DEFAULT_FAIL_SEMANTICS.jsonl });
  return checkHistory(history, kvModel(), options);
}
