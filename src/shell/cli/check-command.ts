// `blixard check FILE --model NAME [--format F] [--html report.html] [--timeout S]`:
// checks a recorded history for linearizability; with `--model list-append`, a transactional
// history for isolation anomalies (src/core/check/elle/), against `--consistency MODEL`.
// Exit codes: 0 linearizable (list-append: satisfies the model), 1 not, 2 unknown (budget ran out), 3 bad input
// (unreadable file, malformed history, unknown model or format, bad option value).
// Commander's own usage errors (an unknown flag) exit 2 through src/shell/cli/main.ts.
import { systemCheckResources } from "../os/check-resources.ts";
import { readFileSync, writeFileSync } from "node:fs";
import type { Command } from "commander";
import YAML from "yaml";
import {
  BadInputError,
  FORMAT_NAMES,
  MODEL_NAMES,
  ModelInputError,
  buildHistory,
  checkText,
  detectFormat,
  isModelName,
  parseEvents,
  readEdnValue,
  renderHtmlReport,
} from "../../core/check/index.ts";
import { CONSISTENCY_MODELS, checkListAppend, type ConsistencyModel, type ListAppendResult } from "../../core/check/elle/list-append.ts";
import type { CheckResult, FailSemantics, FormatName, History, SomeModel, Value } from "../../core/check/index.ts";

export const EXIT_LINEARIZABLE = 0;
export const EXIT_NOT_LINEARIZABLE = 1;
export const EXIT_UNKNOWN = 2;
export const EXIT_BAD_INPUT = 3;

const DEFAULT_TIMEOUT_S = 120;

interface CheckCommandOptions {
  model?: string;
  format?: string;
  html?: string;
  timeout?: string;
  failSemantics?: string;
  partition: boolean;
  initial?: string;
  json?: boolean;
  output?: string;
  consistency?: string;
}

class CheckInputError extends Error {}

export function registerCheckCommand(program: Command): void {
  program
    .command("check")
    .description("check a recorded history for linearizability (exit 0 linearizable, 1 not, 2 unknown, 3 bad input)")
    .argument("<file>", "history file")
    .option("-m, --model <name>", `model: ${MODEL_NAMES.join(", ")}, or list-append (transactions, checked for isolation anomalies as Elle does)`)
    .option("--consistency <model>", `list-append: the model the history must satisfy (${CONSISTENCY_MODELS.filter((m) => m !== "none").join(", ")}; default strict-serializable)`)
    .option("-f, --format <name>", `format: ${FORMAT_NAMES.join(", ")} (detected from the content when absent)`)
    .option("--html <path>", "write a self-contained HTML report")
    .option("-t, --timeout <seconds>", `time budget; the answer is unknown after it (default ${DEFAULT_TIMEOUT_S})`)
    .option("--fail-semantics <name>", "what :fail means: no-effect (Knossos) or compare-failed (a failed cas observed a different value); default per format")
    .option("--no-partition", "check the history as a whole instead of per key")
    .option("--initial <edn>", "initial value for register models (EDN; default 0, and nil for Jepsen log lines); nil: the register starts absent and a read of nil means absent (Jepsen's etcd semantics)")
    .option("-o, --output <FORMAT>", "table (the summary), json or yaml, as every other command", "table")
    .option("--json", "the same as -o json (kept for scripts written before -o)")
    .addHelpText("after", "\nExamples:\n  blixard check h.jsonl --model kv --html report.html\n  blixard check etcd.log --model cas-register          # Jepsen log lines: the register starts absent\n  blixard check txns.edn --model list-append --consistency serializable\n")
    .action((file: string, options: CheckCommandOptions) => {
      process.exitCode = runCheck(file, options);
    });
}

function runCheck(file: string, options: CheckCommandOptions): number {
  try {
    return check(file, options);
  } catch (error) {
    if (error instanceof BadInputError || error instanceof CheckInputError) {
      process.stderr.write(`blixard check: ${error.message}\n`);
      return EXIT_BAD_INPUT;
    }
    throw error;
  }
}

function check(file: string, options: CheckCommandOptions): number {
  if (options.model === undefined) throw new CheckInputError(`--model is required (one of ${MODEL_NAMES.join(", ")}, list-append)`);
  const modelName = options.model;
  if (modelName === "list-append") return checkTransactions(file, options);
  if (options.consistency !== undefined) throw new CheckInputError("--consistency: only --model list-append checks isolation");
  if (!isModelName(modelName)) throw new CheckInputError(`unknown model '${modelName}' (expected one of ${MODEL_NAMES.join(", ")})`);
  const format = options.format;
  if (format !== undefined && !(FORMAT_NAMES as readonly string[]).includes(format)) throw new CheckInputError(`unknown format '${format}' (expected one of ${FORMAT_NAMES.join(", ")})`);
  const failSemantics = options.failSemantics;
  if (failSemantics !== undefined && failSemantics !== "no-effect" && failSemantics !== "compare-failed") throw new CheckInputError(`unknown fail semantics '${failSemantics}' (expected no-effect or compare-failed)`);
  if (options.output !== undefined && !["table", "json", "yaml"].includes(options.output)) throw new CheckInputError(`-o: "${options.output.slice(0, 40)}" is not table, json or yaml`);
  const timeoutS = options.timeout === undefined ? DEFAULT_TIMEOUT_S : Number(options.timeout);
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new CheckInputError(`bad --timeout '${options.timeout}' (expected a positive number of seconds)`);
  let initial: Value | undefined;
  if (options.initial !== undefined) initial = readEdnValue(options.initial, "--initial", 1, 1);

  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "unreadable";
    throw new CheckInputError(`${file}: cannot read (${code})`);
  }
  // An empty file is a history nobody recorded (a wrong path, a run that wrote nothing): never a pass.
  if (text.trim() === "") throw new CheckInputError(`${file}: empty: no operations to check`);
  const { history, model, result, format: usedFormat } = checkText(text, file, {
    model: modelName,
    ...(format !== undefined ? { format: format as FormatName } : {}),
    ...(failSemantics !== undefined ? { failSemantics: failSemantics as FailSemantics } : {}),
    ...(initial !== undefined ? { initial } : {}),
    partition: options.partition,
    timeoutMs: timeoutS * 1000,
    resources: systemCheckResources,
  });
  if (options.html !== undefined) {
    try {
      writeFileSync(options.html, renderHtmlReport(history, model, result));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? "unwritable";
      throw new CheckInputError(`${options.html}: cannot write the report (${code})`);
    }
  }
  const output = options.json === true ? "json" : (options.output ?? "table");
  if (output === "json") process.stdout.write(JSON.stringify({ format: usedFormat, ...result }) + "\n");
  else if (output === "yaml") process.stdout.write(`---\n${YAML.stringify({ format: usedFormat, ...result }).trimEnd()}\n`);
  else process.stdout.write(summarize(history, model, result, usedFormat));
  return result.verdict === "ok" ? EXIT_LINEARIZABLE : result.verdict === "illegal" ? EXIT_NOT_LINEARIZABLE : EXIT_UNKNOWN;
}

/** `--model list-append`: the Elle-style isolation check. Exit 0 when the history satisfies --consistency, 1 when not. */
function checkTransactions(file: string, options: CheckCommandOptions): number {
  const required = options.consistency ?? "strict-serializable";
  if (!(CONSISTENCY_MODELS as readonly string[]).includes(required) || required === "none") {
    throw new CheckInputError(`--consistency: "${required.slice(0, 40)}" is not one of ${CONSISTENCY_MODELS.filter((m) => m !== "none").join(", ")}`);
  }
  if (options.output !== undefined && !["table", "json", "yaml"].includes(options.output)) throw new CheckInputError(`-o: "${options.output.slice(0, 40)}" is not table, json or yaml`);
  const format = options.format;
  if (format !== undefined && !(FORMAT_NAMES as readonly string[]).includes(format)) throw new CheckInputError(`unknown format '${format}' (expected one of ${FORMAT_NAMES.join(", ")})`);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new CheckInputError(`${file}: cannot read (${(error as NodeJS.ErrnoException).code ?? "unreadable"})`);
  }
  if (text.trim() === "") throw new CheckInputError(`${file}: empty: no operations to check`);
  const usedFormat = (format as FormatName | undefined) ?? detectFormat(text);
  // A transaction's :fail never committed, whatever the format says of a failed cas.
  const history = buildHistory(parseEvents(text, file, usedFormat), { file, failSemantics: "no-effect" });
  let result: ListAppendResult;
  try {
    result = checkListAppend(history);
  } catch (error) {
    if (error instanceof ModelInputError) throw new CheckInputError(`${file}: ${error.message}`);
    throw error;
  }
  const satisfied = CONSISTENCY_MODELS.indexOf(result.strongestModel) <= CONSISTENCY_MODELS.indexOf(required as ConsistencyModel);
  const output = options.json === true ? "json" : (options.output ?? "table");
  const record = { format: usedFormat, required, satisfied, ...result };
  if (output === "json") process.stdout.write(JSON.stringify(record) + "\n");
  else if (output === "yaml") process.stdout.write(`---\n${YAML.stringify(record).trimEnd()}\n`);
  else {
    const counts = Object.entries(result.counts).map(([type, count]) => `${type} x${count}`).join(", ");
    const lines = [`${file}: ${satisfied ? "" : "NOT "}${required} (strongest model satisfied: ${result.strongestModel}; ${result.transactions} transactions, format ${usedFormat})`];
    if (counts !== "") lines.push(`  anomalies: ${counts}`);
    for (const anomaly of result.anomalies.slice(0, 10)) {
      lines.push(`  ${anomaly.type}: ops ${anomaly.operations.join(", ")}`);
      for (const step of anomaly.explanation) lines.push(`    ${step}`);
    }
    process.stdout.write(lines.join("\n") + "\n");
  }
  return satisfied ? EXIT_LINEARIZABLE : EXIT_NOT_LINEARIZABLE;
}

function summarize(history: History, model: SomeModel, result: CheckResult, format: FormatName): string {
  const lines: string[] = [];
  const head = `${history.file}: ${result.verdict === "ok" ? "linearizable" : result.verdict === "illegal" ? "NOT linearizable" : "unknown"}`;
  lines.push(`${head} (model ${result.model}, format ${format}, ${result.operationCount} operations in ${result.partitions.length} partition(s), ${result.steps} steps, ${result.elapsedMs.toFixed(0)} ms)`);
  if (result.reason !== undefined) lines.push(`  ${result.reason}`);
  if (result.verdict === "illegal") {
    const partition = result.partitions.find((p) => p.status === "illegal");
    if (partition !== undefined) {
      lines.push(`  partition ${partition.label}: longest partial linearization has ${partition.longest?.[0]?.length ?? 0} of ${partition.operationIds.length} operations; cannot be next:`);
      for (const stuck of (partition.stuck ?? []).slice(0, 10)) {
        const op = history.operations[stuck.operationId];
        const prepared = model.prepare(op);
        const what = prepared === "drop" ? op.f : model.describeOperation(prepared.input, prepared.output);
        lines.push(`    ${what} (process ${op.process}, line ${op.invokeLine ?? "?"}): ${stuck.reason === "not-allowed" ? "rejected by the model" : "leads nowhere"}`);
      }
    }
  }
  return lines.join("\n") + "\n";
}
