// The clock faults' language (docs/FAILPOINTS.md, "Clock faults"): the points `clock.wall` and
// `clock.monotonic` of a real node take one `return(ARG)` whose argument says how its clock is
// wrong, in the fail-rs sense of return: the point hands back a value. Pure parsing and rendering:
// a bad argument is a value naming what is wrong, never an exception (it is operator input).
//
//   clock.wall=return(offset:MS)                  the wall clock reads MS ms ahead (negative: behind);
//   clock.wall=return(bump:MS)                    the offset in force steps by MS once (an NTP step);
//   clock.wall=return(strobe:DELTA,PERIOD,DURATION)  for DURATION ms, the wall clock flips every PERIOD
//                                                 ms between the offset in force and that plus DELTA;
//   clock.wall=return(offset:MS strobe:DELTA,PERIOD,DURATION)  both at once (what `list` renders);
//   clock.monotonic=return(drift:PPM)             the monotonic clock and the timers run PPM parts per
//                                                 million fast (negative: slow), within CLOCK_DRIFT_BOUND_PPM.

import { CLOCK_DRIFT_BOUND_PPM } from "../../core/env/environment.ts";
import { PARTS_PER_MILLION, type FailpointSetting } from "../../core/failpoints/failpoint-spec.ts";

export const CLOCK_WALL_POINT = "clock.wall";
export const CLOCK_MONOTONIC_POINT = "clock.monotonic";
/** In name order. */
export const CLOCK_POINT_NAMES = [CLOCK_MONOTONIC_POINT, CLOCK_WALL_POINT] as const;
export type ClockPointName = (typeof CLOCK_POINT_NAMES)[number];

/** An offset, a bump, a strobe's delta: at most 30 days either way, and the offset a bump leaves too. */
export const CLOCK_OFFSET_MS_MAX = 30 * 24 * 3_600_000;
/** A strobe flips at most every millisecond and at least every minute. */
export const CLOCK_STROBE_PERIOD_MS_MIN = 1;
export const CLOCK_STROBE_PERIOD_MS_MAX = 60_000;
/** A strobe lasts at most an hour. */
export const CLOCK_STROBE_DURATION_MS_MAX = 3_600_000;

export interface ClockStrobe {
  readonly deltaMs: number;
  readonly periodMs: number;
  readonly durationMs: number;
}

export type WallClockChange =
  | { readonly kind: "offset"; readonly offsetMs: number; readonly strobe: ClockStrobe | undefined }
  | { readonly kind: "bump"; readonly deltaMs: number }
  | { readonly kind: "strobe"; readonly strobe: ClockStrobe };

export interface MonotonicClockChange {
  readonly kind: "drift";
  readonly ppm: number;
}

export type ClockChange = { readonly point: "clock.wall"; readonly change: WallClockChange } | { readonly point: "clock.monotonic"; readonly change: MonotonicClockChange };

export type ClockSpecResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

export function isClockPointName(name: string): name is ClockPointName {
  return (CLOCK_POINT_NAMES as readonly string[]).includes(name);
}

const WALL_USAGE = "return(offset:MS), return(bump:MS), return(strobe:DELTA_MS,PERIOD_MS,DURATION_MS) or return(offset:MS strobe:DELTA_MS,PERIOD_MS,DURATION_MS)";
const MONOTONIC_USAGE = "return(drift:PPM)";

/** What a clock point's setting asks for, or one line saying why it cannot be set. */
export function clockChangeOf(setting: FailpointSetting): ClockSpecResult<ClockChange> {
  const name = setting.name;
  if (!isClockPointName(name)) return { ok: false, error: `${name.slice(0, 60)} is not a clock point (${CLOCK_POINT_NAMES.join(", ")})` };
  const usage = name === CLOCK_WALL_POINT ? WALL_USAGE : MONOTONIC_USAGE;
  const task = setting.tasks[0];
  // A clock is wrong until cleared: probabilities, counts and chains mean nothing for it.
  if (setting.tasks.length !== 1 || task === undefined || task.partsPerMillion !== PARTS_PER_MILLION || task.count !== undefined || task.action.kind !== "return" || task.action.arg === undefined) {
    return { ok: false, error: `${name} takes exactly one ${usage}, without a probability, a count or a chain (clear it to take the fault away)` };
  }
  const arg = task.action.arg;
  if (name === CLOCK_MONOTONIC_POINT) {
    const drift = /^drift:([+-]?\d{1,7})$/.exec(arg);
    if (drift === null) return { ok: false, error: `${name}: "${clip(arg)}" is not ${MONOTONIC_USAGE} (PPM: parts per million, negative for a slow clock)` };
    const ppm = Number(drift[1]);
    if (Math.abs(ppm) > CLOCK_DRIFT_BOUND_PPM) {
      return { ok: false, error: `${name}: drift ${signed(ppm)} ppm is beyond the drift bound of ${CLOCK_DRIFT_BOUND_PPM} ppm either way (CLOCK_DRIFT_BOUND_PPM, docs/CLOCKS.md): every lease assumes no monotonic clock is further off` };
    }
    return { ok: true, value: { point: CLOCK_MONOTONIC_POINT, change: { kind: "drift", ppm: ppm + 0 } } };
  }
  const wall = parseWall(arg);
  return wall.ok ? { ok: true, value: { point: CLOCK_WALL_POINT, change: wall.value } } : { ok: false, error: `${name}: ${wall.error}` };
}

function parseWall(arg: string): ClockSpecResult<WallClockChange> {
  const clauses = arg.split(" ").filter((c) => c !== "");
  const [first, second] = clauses;
  if (first === undefined || clauses.length > 2) return { ok: false, error: `"${clip(arg)}" is not ${WALL_USAGE}` };
  if (first.startsWith("offset:")) {
    const offsetMs = milliseconds("offset", first.slice("offset:".length));
    if (!offsetMs.ok) return offsetMs;
    if (second === undefined) return { ok: true, value: { kind: "offset", offsetMs: offsetMs.value, strobe: undefined } };
    if (!second.startsWith("strobe:")) return { ok: false, error: `"${clip(second)}": after an offset only a strobe may follow (${WALL_USAGE})` };
    const strobe = parseStrobe(second.slice("strobe:".length));
    return strobe.ok ? { ok: true, value: { kind: "offset", offsetMs: offsetMs.value, strobe: strobe.value } } : strobe;
  }
  if (second !== undefined) return { ok: false, error: `"${clip(arg)}": only offset:MS may be followed by a strobe (${WALL_USAGE})` };
  if (first.startsWith("bump:")) {
    const deltaMs = milliseconds("bump", first.slice("bump:".length));
    return deltaMs.ok ? { ok: true, value: { kind: "bump", deltaMs: deltaMs.value } } : deltaMs;
  }
  if (first.startsWith("strobe:")) {
    const strobe = parseStrobe(first.slice("strobe:".length));
    return strobe.ok ? { ok: true, value: { kind: "strobe", strobe: strobe.value } } : strobe;
  }
  return { ok: false, error: `"${clip(arg)}" is not ${WALL_USAGE}` };
}

function parseStrobe(text: string): ClockSpecResult<ClockStrobe> {
  const parts = text.split(",");
  if (parts.length !== 3) return { ok: false, error: `strobe "${clip(text)}" is not DELTA_MS,PERIOD_MS,DURATION_MS` };
  const deltaMs = milliseconds("strobe delta", parts[0]!);
  if (!deltaMs.ok) return deltaMs;
  const periodMs = wholeMs("strobe period", parts[1]!, CLOCK_STROBE_PERIOD_MS_MIN, CLOCK_STROBE_PERIOD_MS_MAX);
  if (!periodMs.ok) return periodMs;
  const durationMs = wholeMs("strobe duration", parts[2]!, 1, CLOCK_STROBE_DURATION_MS_MAX);
  if (!durationMs.ok) return durationMs;
  return { ok: true, value: { deltaMs: deltaMs.value, periodMs: periodMs.value, durationMs: durationMs.value } };
}

/** A signed whole number of milliseconds within CLOCK_OFFSET_MS_MAX either way. */
function milliseconds(what: string, text: string): ClockSpecResult<number> {
  if (!/^[+-]?\d{1,10}$/.test(text)) return { ok: false, error: `${what} "${clip(text)}" is not a whole number of milliseconds (a sign is allowed)` };
  const ms = Number(text) + 0; // + 0 turns -0 into 0
  if (Math.abs(ms) > CLOCK_OFFSET_MS_MAX) return { ok: false, error: `${what} ${signed(ms)} ms is beyond ${CLOCK_OFFSET_MS_MAX} ms (30 days) either way` };
  return { ok: true, value: ms };
}

function wholeMs(what: string, text: string, min: number, max: number): ClockSpecResult<number> {
  if (!/^\d{1,10}$/.test(text) || Number(text) < min || Number(text) > max) return { ok: false, error: `${what} "${clip(text)}" must be whole milliseconds ${min}..${max}` };
  return { ok: true, value: Number(text) };
}

/** The argument that sets `change` again: clockChangeOf of a return(renderClockArg(c)) gives c back. */
export function renderWallArg(change: WallClockChange): string {
  switch (change.kind) {
    case "offset":
      return `offset:${signed(change.offsetMs)}${change.strobe === undefined ? "" : ` strobe:${renderStrobe(change.strobe)}`}`;
    case "bump":
      return `bump:${signed(change.deltaMs)}`;
    case "strobe":
      return `strobe:${renderStrobe(change.strobe)}`;
    default: {
      const unreachable: never = change;
      return unreachable;
    }
  }
}

export function renderMonotonicArg(change: MonotonicClockChange): string {
  return `drift:${signed(change.ppm)}`;
}

function renderStrobe(strobe: ClockStrobe): string {
  return `${signed(strobe.deltaMs)},${strobe.periodMs},${strobe.durationMs}`;
}

function signed(n: number): string {
  return n > 0 ? `+${n}` : String(n);
}

function clip(text: string): string {
  return text.length > 60 ? `${text.slice(0, 60)}...` : text;
}
