// Blixard's linearizability checker: public API.
//
//   const history = buildHistory(parseJsonl(text, "run.jsonl"), { failSemantics: "compare-failed" });
//   const result = checkHistory(history, kvModel(), { stepLimit: 1_000_000 });  (a time budget also needs `resources`)
//   result.verdict // "ok" | "illegal" | "unknown"
//
// or, from text in any supported format: checkText(text, file, { model: "kv" }),
// or, for the simulator's key-value events: checkKvEvents(events, { stepLimit }).
export { BadInputError } from "./errors.ts";
export type { SourcePlace } from "./errors.ts";
export { buildHistory, EVENT_TYPES } from "./history.ts";
export type { BuildHistoryOptions, EventType, FailSemantics, History, OpEvent, Operation, OperationStatus } from "./history.ts";
export type { Model, Prepared, SomeModel } from "./model.ts";
export { badOperation, combineHash, hashString, Interner, mix32, ModelInputError } from "./model.ts";
export { checkHistory, describeLinearization, preparePartitions } from "./checker.ts";
export type { CheckOptions, CheckResources, CheckResult, PartitionResult, PartitionStatus, StuckOperation, StuckReason, Verdict } from "./checker.ts";
export { createModel, isModelName, MODEL_NAMES, counterModel, kvModel, multiRegisterModel, mutexModel, registerModel, setModel } from "./models/index.ts";
export type { ModelName, ModelOptions } from "./models/index.ts";
export { parseJsonl, writeJsonl, KV_FUNCTIONS } from "./formats/jsonl.ts";
export type { HistoryEvent, KvFunction } from "./formats/jsonl.ts";
export { parseEdnHistory, writeEdnHistory } from "./formats/jepsen-edn.ts";
export { parseJepsenLog, writeJepsenLog } from "./formats/jepsen-log.ts";
export { readEdnForms, readEdnValue, writeEdn } from "./formats/edn.ts";
export { detectFormat, parseEvents, DEFAULT_FAIL_SEMANTICS, FORMAT_NAMES } from "./formats/detect.ts";
export type { FormatName } from "./formats/detect.ts";
export { renderHtmlReport } from "./report/html.ts";
export { EdnChar, EdnMap, EdnSet, EdnSymbol, EdnTagged, Keyword, keyword, showValue, valueKey } from "./value.ts";
export type { Value } from "./value.ts";
export { checkKvEvents, checkText } from "./check-text.ts";
export type { CheckTextOptions, CheckTextResult } from "./check-text.ts";
