// The HTML timeline of one run (`blixard vopr --replay FILE --timeline OUT.html`): one self-contained
// file (inline SVG and CSS, no script, nothing fetched) showing, on one time axis, each node's role
// and term over time (down when crashed), the messages delivered to it (sampled, at most
// TIMELINE_MESSAGES_MAX), the nemesis's faults (fault-schedule.ts) with their durations, each client's
// operations (at most TIMELINE_OPERATIONS_MAX, coloured by outcome), and the point of violation.
// Hovering any mark shows its details (SVG <title>).

import type { FaultEvent } from "../../core/sim/fault-schedule.ts";
import { showValue } from "../../core/check/index.ts";
import { runSimulation, type ObservedNode, type SimulationOptions, type SimulationResult } from "../../core/sim/simulation.ts";
import { defaultWorkloadOptions } from "../../core/sim/workload.ts";

/** Bounds that keep the file small (a few MiB at most) whatever the run's length. */
export const TIMELINE_MESSAGES_MAX = 4_000;
export const TIMELINE_OPERATIONS_MAX = 3_000;
/** Deliveries kept while running, before sampling down to TIMELINE_MESSAGES_MAX. */
const DELIVERIES_KEPT_MAX = 2_000_000;
const ROLE_CHANGES_MAX = 100_000;

const WIDTH = 1360;
const LEFT = 110;
const NODE_ROW = 46;
const CLIENT_ROW = 14;
const ROLE_COLOURS: Record<string, string> = { leader: "#2e7d32", candidate: "#ef6c00", "pre-candidate": "#ffb74d", follower: "#90a4ae", down: "#b71c1c" };
const OUTCOME_COLOURS: Record<string, string> = { ok: "#43a047", fail: "#9e9e9e", info: "#fbc02d", pending: "#e0e0e0" };

/** A client operation's event as the timeline draws it, from either history. */
interface TimelineOperation {
  readonly process: number;
  readonly type: string;
  readonly time: number;
  readonly label: string;
}

interface Observation {
  readonly timeUs: number;
  readonly nodes: readonly ObservedNode[];
}

/** Replays the run while recording what the timeline shows, and renders it. */
export function recordTimeline(options: SimulationOptions): { readonly result: SimulationResult; readonly html: string } {
  const observations: Observation[] = [];
  const deliveries: Array<[number, number]> = [];
  let deliveriesSeen = 0;
  const result = runSimulation({
    ...options,
    observeNodes: (timeUs, nodes) => {
      if (observations.length < ROLE_CHANGES_MAX) observations.push({ timeUs, nodes });
    },
    trace: (line) => {
      // "<timeUs> deliver <node> <type> <c>": a message arriving at a node.
      const parts = line.split(" ");
      if (parts[1] !== "deliver") return;
      deliveriesSeen++;
      if (deliveries.length < DELIVERIES_KEPT_MAX) deliveries.push([Number(parts[0]), Number(parts[2])]);
    },
  });
  return { result, html: renderTimeline(options, result, observations, deliveries, deliveriesSeen) };
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function faultEnd(event: FaultEvent): number {
  switch (event.kind) {
    case "none":
    case "clock-jump":
      return event.atUs;
    case "crash":
      return event.atUs + event.downtimeUs;
    default:
      return event.atUs + event.durationUs;
  }
}

function faultDetail(event: FaultEvent): string {
  switch (event.kind) {
    case "none":
      return "none";
    case "partition":
      return `partition (${event.shape}) around node ${event.node}, ${event.blocked.length} links cut, ${(event.durationUs / 1000).toFixed(0)} ms`;
    case "crash":
      return `${event.crashKind} of node ${event.node}, down ${(event.downtimeUs / 1000).toFixed(0)} ms`;
    case "clock-jump":
      return `clock of node ${event.node} jumps ${(event.deltaUs / 1000).toFixed(0)} ms`;
    case "clog":
      return `node ${event.node}'s ${event.outbound ? "outbound" : "inbound"} links clogged ${(event.durationUs / 1000).toFixed(0)} ms`;
    case "loss-burst":
      return `loss burst around node ${event.node}, ${(event.durationUs / 1000).toFixed(0)} ms`;
    case "pause":
      return `node ${event.node} paused ${(event.durationUs / 1000).toFixed(0)} ms`;
    case "disk-full":
      return `node ${event.node}'s disk full (${event.slackBytes} bytes left), ${(event.durationUs / 1000).toFixed(0)} ms`;
  }
}

export function renderTimeline(options: SimulationOptions, result: SimulationResult, observations: readonly Observation[], deliveries: ReadonlyArray<readonly [number, number]>, deliveriesSeen: number): string {
  const endUs = Math.max(result.simulatedUs, 1);
  const x = (timeUs: number): number => LEFT + ((WIDTH - LEFT - 10) * Math.min(Math.max(timeUs, 0), endUs)) / endUs;
  const px = (value: number): string => value.toFixed(1);
  const clients = options.workload?.clientCount ?? defaultWorkloadOptions.clientCount;
  const nodeIds = Array.from({ length: options.nodeCount }, (_, i) => i + 1);
  const nodesTop = 40;
  const clientsTop = nodesTop + nodeIds.length * NODE_ROW + 30;
  const height = clientsTop + clients * CLIENT_ROW + 60;
  const svg: string[] = [];

  // Axis: ten ticks in simulated seconds.
  for (let i = 0; i <= 10; i++) {
    const t = (endUs * i) / 10;
    svg.push(`<line x1="${px(x(t))}" y1="${nodesTop - 8}" x2="${px(x(t))}" y2="${height - 30}" class="grid"/><text x="${px(x(t))}" y="${nodesTop - 12}" class="tick">${(t / 1e6).toFixed(2)} s</text>`);
  }

  // Nodes: role segments between observed changes.
  for (const id of nodeIds) {
    const top = nodesTop + (id - 1) * NODE_ROW;
    svg.push(`<text x="8" y="${top + 16}" class="label">node ${id}</text>`);
    let startUs = 0;
    let state = { role: "follower", term: 0 };
    const segment = (untilUs: number): void => {
      if (untilUs <= startUs && untilUs !== endUs) return;
      svg.push(`<rect x="${px(x(startUs))}" y="${top + 4}" width="${px(Math.max(x(untilUs) - x(startUs), 0.5))}" height="16" fill="${ROLE_COLOURS[state.role] ?? "#607d8b"}" class="role"><title>node ${id}: ${state.role}, term ${state.term}, ${(startUs / 1e6).toFixed(6)}-${(untilUs / 1e6).toFixed(6)} s</title></rect>`);
    };
    for (const observation of observations) {
      const node = observation.nodes[id - 1];
      if (node === undefined || (node.role === state.role && node.term === state.term)) continue;
      segment(observation.timeUs);
      startUs = observation.timeUs;
      state = { role: node.role, term: node.term };
    }
    segment(endUs);
  }

  // Messages: every k-th delivery, so at most TIMELINE_MESSAGES_MAX.
  const stride = Math.max(1, Math.ceil(deliveries.length / TIMELINE_MESSAGES_MAX));
  let messagesShown = 0;
  for (let i = 0; i < deliveries.length; i += stride) {
    const [timeUs, node] = deliveries[i]!;
    if (node < 1 || node > nodeIds.length) continue;
    const top = nodesTop + (node - 1) * NODE_ROW;
    svg.push(`<line x1="${px(x(timeUs))}" y1="${top + 22}" x2="${px(x(timeUs))}" y2="${top + 28}" class="message"/>`);
    messagesShown++;
  }

  // Faults: a bar over their duration and a marker at their start, on the victim's row.
  const faults = result.faultSchedule.filter((event) => event.kind !== "none");
  for (const event of faults) {
    const top = nodesTop + (event.node - 1) * NODE_ROW;
    const detail = escapeHtml(faultDetail(event));
    svg.push(
      `<g class="fault"><rect x="${px(x(event.atUs))}" y="${top + 31}" width="${px(Math.max(x(faultEnd(event)) - x(event.atUs), 2))}" height="6" class="fault-bar fault-${event.kind}"/><circle cx="${px(x(event.atUs))}" cy="${top + 34}" r="4" class="fault-mark"/><title>${(event.atUs / 1e6).toFixed(6)} s: ${detail}</title></g>`,
    );
  }

  // Client operations: invocation to completion, one lane per client.
  svg.push(`<text x="8" y="${clientsTop - 8}" class="label">clients</text>`);
  let operationsShown = 0;
  // An ok completion's label shows what it read; any other, the invocation's.
  const drawOperation = (invoke: TimelineOperation, endTimeUs: number, outcome: string, label = invoke.label): void => {
    if (operationsShown >= TIMELINE_OPERATIONS_MAX) return;
    operationsShown++;
    const lane = invoke.process % clients;
    const top = clientsTop + lane * CLIENT_ROW;
    svg.push(
      `<rect x="${px(x(invoke.time))}" y="${top}" width="${px(Math.max(x(endTimeUs) - x(invoke.time), 1))}" height="${CLIENT_ROW - 3}" fill="${OUTCOME_COLOURS[outcome]}" class="op"><title>process ${invoke.process}: ${escapeHtml(label)} -> ${outcome}, ${(invoke.time / 1e6).toFixed(6)}-${(endTimeUs / 1e6).toFixed(6)} s</title></rect>`,
    );
  };
  // The registers' history, then the list-append transactions' (the same clients run both, one operation at a time).
  const registerOperations = result.history.map((event): TimelineOperation => ({ process: event.process, type: event.type, time: event.time, label: `${event.f} ${event.key} ${JSON.stringify(event.value)}` }));
  const transactionOperations = (result.transactions?.history ?? []).map((event): TimelineOperation => ({ process: Number(event.process), type: event.type, time: event.time ?? 0, label: `txn ${showValue(event.value)}` }));
  for (const operations of [registerOperations, transactionOperations]) {
    const open = new Map<number, TimelineOperation>();
    for (const event of operations) {
      if (event.type === "invoke") open.set(event.process, event);
      else {
        const invoke = open.get(event.process);
        open.delete(event.process);
        if (invoke !== undefined) drawOperation(invoke, event.time, event.type, event.type === "ok" ? event.label : invoke.label);
      }
    }
    for (const invoke of [...open.values()].sort((a, b) => a.process - b.process)) drawOperation(invoke, endUs, "pending");
  }

  // The violation.
  const failure = result.failure;
  if (failure !== undefined) {
    const at = px(x(failure.simulatedTimeUs));
    svg.push(`<g class="violation"><line x1="${at}" y1="${nodesTop - 8}" x2="${at}" y2="${height - 30}"/><text x="${at}" y="${height - 14}" text-anchor="end">${escapeHtml(failure.property)} violated at ${(failure.simulatedTimeUs / 1e6).toFixed(6)} s</text><title>${escapeHtml(failure.message)}</title></g>`);
  }

  const legend = [
    ...Object.entries(ROLE_COLOURS).map(([role, colour]) => `<span class="key" style="background:${colour}"></span>${role}`),
    ...Object.entries(OUTCOME_COLOURS).map(([outcome, colour]) => `<span class="key" style="background:${colour}"></span>op ${outcome}`),
    `<span class="key" style="background:#6a1b9a"></span>fault`,
    `<span class="key" style="background:#d50000"></span>violation`,
  ].join(" &nbsp; ");
  const title = `Blixard run: seed ${escapeHtml(options.seed.text)}, ${options.nodeCount} nodes, ${(result.simulatedUs / 1e6).toFixed(3)} s simulated`;
  const summary =
    `${faults.length} faults, ${result.operations.invoked} operations (${operationsShown} shown), ${deliveriesSeen} messages delivered (${messagesShown} of those to nodes shown), trace hash ${result.traceHash}` +
    (failure === undefined ? ", no violation" : `; <b>${escapeHtml(failure.property)}</b>: ${escapeHtml(failure.message)}`);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title}</title>
<style>
body{font:13px system-ui,sans-serif;margin:16px;color:#212121}
h1{font-size:17px;margin:0 0 4px} p{margin:2px 0 8px}
.key{display:inline-block;width:12px;height:12px;vertical-align:middle;margin-right:4px;border:1px solid #0003}
.grid{stroke:#eceff1} .tick{font-size:10px;fill:#607d8b;text-anchor:middle} .label{font-size:12px;fill:#37474f}
.message{stroke:#1e88e5;stroke-width:1;opacity:.5}
.fault-bar{fill:#6a1b9a;opacity:.45} .fault-mark{fill:#6a1b9a}
.violation line{stroke:#d50000;stroke-width:2} .violation text{fill:#d50000;font-weight:bold}
</style></head>
<body>
<h1>${title}</h1>
<p>${summary}</p>
<p>${legend}</p>
<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}">
${svg.join("\n")}
</svg>
</body></html>
`;
}
