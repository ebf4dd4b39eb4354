// The HTML report: one self-contained file (inline CSS and SVG, nothing fetched at view
// time). For each partition shown, operations are bars on per-process lanes in real-time
// order, numbered by their place in the linearization found; for an illegal history the
// longest partial linearization is drawn and the operations that could not be placed are
// marked. Hovering a bar shows the operation and the model state before and after it.
import { assert } from "../../assert.ts";
import type { CheckResult, PartitionResult } from "../checker.ts";
import { describeLinearization } from "../checker.ts";
import type { History, Operation } from "../history.ts";
import type { Model } from "../model.ts";
import { ModelInputError } from "../model.ts";
import { showValue } from "../value.ts";

/** Limits that keep a report of a huge history viewable. */
const PARTITIONS_SHOWN_MAX = 24;
const OPERATIONS_SHOWN_MAX = 4000;
const LANE_HEIGHT_PX = 26;
const COLUMN_WIDTH_PX = 30;
const LEFT_MARGIN_PX = 90;

interface BarInfo {
  order: number | undefined;
  kind: "linearized" | "stuck-not-allowed" | "stuck-dead-end" | "unplaced" | "open";
  before?: string;
  after?: string;
  note?: string;
}

export interface HtmlReportOptions {
  readonly title?: string;
}

export function renderHtmlReport<State, Input, Output>(history: History, model: Model<State, Input, Output>, result: CheckResult, options: HtmlReportOptions = {}): string {
  const title = options.title ?? `Linearizability: ${history.file}`;
  const ordered = orderPartitions(result);
  const shown = ordered.slice(0, PARTITIONS_SHOWN_MAX);
  const sections = shown.map((p) => renderPartition(history, model, result, p));
  const verdictText = result.verdict === "ok" ? "linearizable" : result.verdict === "illegal" ? "NOT linearizable" : "unknown";
  const summary = [
    `<p class="verdict ${result.verdict}">${escapeHtml(verdictText)}</p>`,
    `<table class="facts">`,
    fact("file", history.file),
    fact("model", result.model),
    fact("operations checked", String(result.operationCount)),
    fact("operations dropped", `${result.droppedCount} (failed, or reads with unknown results)`),
    fact("partitions", String(result.partitions.length)),
    fact("search steps", String(result.steps)),
    fact("time", `${result.elapsedMs.toFixed(1)} ms`),
    result.illegalPartition !== undefined ? fact("illegal partition", result.illegalPartition) : "",
    result.reason !== undefined ? fact("why unknown", result.reason) : "",
    `</table>`,
    ordered.length > shown.length ? `<p>Showing ${shown.length} of ${ordered.length} partitions.</p>` : "",
  ].join("\n");
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(title)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; } h2 { font-size: 1.1em; margin-top: 2em; }
.verdict { font-size: 1.4em; font-weight: bold; } .verdict.ok { color: #1a7f37; } .verdict.illegal { color: #c62828; } .verdict.unknown { color: #b26a00; }
table.facts td { padding: 0 1em 0 0; } table.facts td:first-child { color: #666; }
.lanes { overflow-x: auto; border: 1px solid #ddd; padding: 4px; background: #fafafa; }
svg text { font: 11px monospace; pointer-events: none; }
rect.bar { stroke: #333; stroke-width: 0.5; } rect.bar:hover { stroke-width: 2; }
rect.linearized { fill: #8fd19e; } rect.stuck-not-allowed { fill: #ef9a9a; } rect.stuck-dead-end { fill: #ffcc80; }
rect.unplaced { fill: #e0e0e0; } rect.open { fill: #b3c7f7; }
.legend span { display: inline-block; padding: 0 .6em; margin-right: .5em; border: 1px solid #999; }
ol.steps li { font-family: monospace; white-space: pre-wrap; }
</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
${summary}
<p class="legend"><span style="background:#8fd19e">linearized (number = order)</span><span style="background:#ef9a9a">cannot be next: the model rejects it</span><span style="background:#ffcc80">could be next, but leads nowhere</span><span style="background:#e0e0e0">not placed</span><span style="background:#b3c7f7">unknown outcome, not placed</span></p>
${sections.join("\n")}
</body>
</html>
`;
}

function orderPartitions(result: CheckResult): PartitionResult[] {
  const rank = (p: PartitionResult): number => (p.status === "illegal" ? 0 : p.status === "unknown" ? 1 : p.status === "ok" ? 2 : 3);
  return [...result.partitions].sort((a, b) => rank(a) - rank(b));
}

function renderPartition<State, Input, Output>(history: History, model: Model<State, Input, Output>, result: CheckResult, partition: PartitionResult): string {
  const ops = partition.operationIds.slice(0, OPERATIONS_SHOWN_MAX).map((id) => history.operations[id]);
  const bars = new Map<number, BarInfo>();
  for (const op of ops) bars.set(op.id, { order: undefined, kind: op.status === "info" ? "open" : "unplaced" });
  const sequence = partition.status === "ok" ? partition.linearization ?? [] : partition.longest?.[0] ?? [];
  const described = describeLinearization(history, model, sequence);
  described.forEach((step, i) => {
    const bar = bars.get(step.operationId);
    if (bar !== undefined) Object.assign(bar, { order: i + 1, kind: "linearized", before: step.before, after: step.after });
  });
  const stateAfterPrefix = described.length > 0 ? described[described.length - 1].after : model.describeState(model.init());
  for (const stuck of partition.stuck ?? []) {
    const bar = bars.get(stuck.operationId);
    if (bar === undefined) continue;
    bar.kind = stuck.reason === "not-allowed" ? "stuck-not-allowed" : "stuck-dead-end";
    bar.before = stateAfterPrefix;
    bar.note = stuck.reason === "not-allowed" ? "the model rejects it in this state" : "allowed here, but every way on from there fails";
  }

  const heading = `<h2>Partition ${escapeHtml(partition.label)}: ${escapeHtml(partition.status)} (${partition.operationIds.length} operations, ${partition.steps} steps, ${partition.cacheEntries} configurations)</h2>`;
  const truncated = partition.operationIds.length > ops.length ? `<p>Showing the first ${ops.length} operations.</p>` : "";
  const svg = renderLanes(history, model, ops, bars);
  let steps = "";
  if (described.length > 0) {
    const what = partition.status === "ok" ? "Linearization found" : "Longest partial linearization";
    const items = described.map((s) => `<li>${escapeHtml(`${s.operation}    ${s.before} -> ${s.after}`)}</li>`).join("\n");
    steps = `<details${partition.status !== "ok" ? " open" : ""}><summary>${what} (${described.length} operations)</summary><ol class="steps">${items}</ol></details>`;
  }
  let stuckList = "";
  if (partition.status === "illegal") {
    const items = (partition.stuck ?? []).map((s) => {
      const op = history.operations[s.operationId];
      return `<li>${escapeHtml(`${describeOperation(model, op)} (process ${op.process}, line ${op.invokeLine ?? "?"}): ${s.reason === "not-allowed" ? "the model rejects it" : "allowed, but leads nowhere"}`)}</li>`;
    });
    stuckList = `<p>After the longest partial linearization the state is <code>${escapeHtml(stateAfterPrefix)}</code>; none of these can come next:</p><ul>${items.join("\n")}</ul>`;
    const others = (partition.longest ?? []).length - 1;
    if (others > 0) stuckList += `<p>${others} other partial linearization(s) of the same length were found.</p>`;
  }
  return [heading, truncated, svg, stuckList, steps].join("\n");
}

function renderLanes<State, Input, Output>(history: History, model: Model<State, Input, Output>, ops: readonly Operation[], bars: Map<number, BarInfo>): string {
  // Columns: the distinct event positions of this partition, in real-time order.
  const positions = new Set<number>();
  for (const op of ops) {
    positions.add(op.invokeIndex);
    positions.add(op.completeEventIndex >= 0 ? op.completeEventIndex : history.eventCount);
  }
  const columns = [...positions].sort((a, b) => a - b);
  const columnOf = new Map(columns.map((p, i) => [p, i]));
  const processes = [...new Set(ops.map((op) => op.process))].sort(compareProcess);
  const laneOf = new Map(processes.map((p, i) => [p, i]));
  const width = LEFT_MARGIN_PX + (columns.length + 1) * COLUMN_WIDTH_PX;
  const height = (processes.length + 1) * LANE_HEIGHT_PX;
  const parts: string[] = [];
  processes.forEach((p, i) => {
    parts.push(`<text x="4" y="${i * LANE_HEIGHT_PX + 17}">process ${escapeHtml(String(p))}</text>`);
    parts.push(`<line x1="${LEFT_MARGIN_PX}" x2="${width}" y1="${i * LANE_HEIGHT_PX + 22}" y2="${i * LANE_HEIGHT_PX + 22}" stroke="#eee"/>`);
  });
  for (const op of ops) {
    const bar = bars.get(op.id);
    assert(bar !== undefined, "every shown operation has a bar");
    const start = columnOf.get(op.invokeIndex)!;
    const end = columnOf.get(op.completeEventIndex >= 0 ? op.completeEventIndex : history.eventCount)!;
    const x = LEFT_MARGIN_PX + start * COLUMN_WIDTH_PX;
    const w = Math.max(6, (end - start) * COLUMN_WIDTH_PX + COLUMN_WIDTH_PX - 4);
    const y = laneOf.get(op.process)! * LANE_HEIGHT_PX + 4;
    const lines = [
      describeOperation(model, op),
      `process ${op.process}, ${op.status}${op.completeEventIndex < 0 ? " (never completed)" : ""}, lines ${op.invokeLine ?? "?"}-${op.completeLine ?? "?"}`,
      op.invokeTime !== undefined ? `time ${op.invokeTime} - ${op.completeTime ?? "?"}` : "",
      bar.order !== undefined ? `linearized #${bar.order}` : "",
      bar.before !== undefined ? `state before: ${bar.before}` : "",
      bar.after !== undefined ? `state after: ${bar.after}` : "",
      bar.note ?? "",
    ].filter((l) => l.length > 0);
    parts.push(`<g><title>${escapeHtml(lines.join("\n"))}</title><rect class="bar ${bar.kind}" x="${x}" y="${y}" width="${w}" height="${LANE_HEIGHT_PX - 8}" rx="3"/>`);
    const label = `${bar.order !== undefined ? `#${bar.order} ` : ""}${shortLabel(op)}`;
    parts.push(`<text x="${x + 3}" y="${y + 13}">${escapeHtml(label.slice(0, Math.max(1, Math.floor(w / 7))))}</text></g>`);
  }
  return `<div class="lanes"><svg width="${width}" height="${height}">${parts.join("")}</svg></div>`;
}

function describeOperation<State, Input, Output>(model: Model<State, Input, Output>, op: Operation): string {
  try {
    const prepared = op.status === "fail" ? "drop" : model.prepare(op);
    if (prepared !== "drop") return model.describeOperation(prepared.input, prepared.output);
  } catch (error) {
    if (!(error instanceof ModelInputError)) throw error;
  }
  return shortLabel(op);
}

function shortLabel(op: Operation): string {
  const value = op.status === "ok" && op.completeValue !== null ? op.completeValue : op.invokeValue;
  return `${op.f}${op.key !== undefined ? ` ${op.key}` : ""} ${showValue(value)}`;
}

function compareProcess(a: number | string, b: number | string): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  if (typeof a === "number") return -1;
  if (typeof b === "number") return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function fact(name: string, value: string): string {
  return `<tr><td>${escapeHtml(name)}</td><td>${escapeHtml(value)}</td></tr>`;
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}
