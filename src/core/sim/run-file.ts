// A run file: one simulation run written down whole (`blixard vopr --replay FILE`), every option
// the run was given and its explicit fault schedule (fault-schedule.ts), so it replays with nothing
// else, whatever later changes to the swarm's draws. JSON, with three tags for what JSON lacks:
// {"$set": [...]} for a Set (planted bugs), {"$number": "Infinity"} for a non-finite number, and the
// seed as its text. The expected failure's property is kept beside the options, so a replay can say
// whether it still reproduces.

import { isFailpointName } from "../env/failpoints.ts";
import { AssertionFailure } from "../assert.ts";
import { validateFaultProfile } from "./fault-profile.ts";
import { validateFaultSchedule } from "./fault-schedule.ts";
import { isSeed, parseSeed } from "./seed.ts";
import { DURATION_MS_MAX, NODE_COUNT_MAX, type SimulationOptions } from "./simulation.ts";

export const RUN_FILE_FORMAT = "blixard-run/1";
/** A run file's size bound: a schedule at its bound is a few MiB. */
export const RUN_FILE_BYTES_MAX = 64 * 1024 * 1024;

export interface RunFile {
  readonly options: SimulationOptions;
  /** The property the run failed with when it was written, or undefined for a clean run. */
  readonly property: string | undefined;
  /** Free-form facts about where the run came from (the VOPR's seed, the original's size). */
  readonly note: string;
}

function encodeValue(_key: string, value: unknown): unknown {
  if (value instanceof Set) return { $set: [...(value as Set<unknown>)].sort() };
  if (typeof value === "number" && !Number.isFinite(value)) return { $number: String(value) };
  return value;
}

function decodeValue(_key: string, value: unknown): unknown {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record);
    if (keys.length === 1 && keys[0] === "$set" && Array.isArray(record.$set)) return new Set(record.$set);
    if (keys.length === 1 && keys[0] === "$number" && (record.$number === "Infinity" || record.$number === "-Infinity")) return Number(record.$number);
  }
  return value;
}

export function encodeRunFile(file: RunFile): string {
  const { seed, trace: _trace, reproduceCommand: _reproduce, ...rest } = file.options;
  return `${JSON.stringify({ format: RUN_FILE_FORMAT, property: file.property ?? null, note: file.note, seed: seed.text, options: rest }, encodeValue, 1)}\n`;
}

/** The run a file holds, or one line naming what is wrong with it. */
export function decodeRunFile(text: string): RunFile | { readonly error: string } {
  if (text.length > RUN_FILE_BYTES_MAX) return { error: `larger than ${RUN_FILE_BYTES_MAX} bytes` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text, decodeValue);
  } catch (error) {
    return { error: `not JSON (${error instanceof Error ? error.message : String(error)})` };
  }
  if (parsed === null || typeof parsed !== "object") return { error: "not a JSON object" };
  const file = parsed as Record<string, unknown>;
  if (file.format !== RUN_FILE_FORMAT) return { error: `format is ${JSON.stringify(file.format)}, expected "${RUN_FILE_FORMAT}"` };
  if (typeof file.seed !== "string") return { error: "seed: missing" };
  const seed = parseSeed(file.seed);
  if (!isSeed(seed)) return { error: `seed: ${seed.error}` };
  if (file.options === null || typeof file.options !== "object") return { error: "options: missing" };
  const options = { ...(file.options as Omit<SimulationOptions, "seed">), seed } as SimulationOptions;
  if (!Number.isSafeInteger(options.nodeCount) || options.nodeCount < 1 || options.nodeCount > NODE_COUNT_MAX) return { error: `options.nodeCount: not an integer in 1..${NODE_COUNT_MAX}` };
  if (!Number.isSafeInteger(options.durationMs) || options.durationMs < 1 || options.durationMs > DURATION_MS_MAX) return { error: `options.durationMs: not an integer in 1..${DURATION_MS_MAX}` };
  if (options.profile === null || typeof options.profile !== "object") return { error: "options.profile: missing" };
  if (options.faultSchedule !== undefined && !Array.isArray(options.faultSchedule)) return { error: "options.faultSchedule: not a list" };
  // Failpoints by name and probability (docs/FAILPOINTS.md); a file from before a rename names points that are gone.
  if (options.failpoints !== undefined) {
    if (options.failpoints === null || typeof options.failpoints !== "object") return { error: "options.failpoints: not an object" };
    for (const [name, probability] of Object.entries(options.failpoints)) {
      if (!isFailpointName(name)) return { error: `options.failpoints: no failpoint ${JSON.stringify(name.slice(0, 60))}` };
      if (typeof probability !== "number" || !(probability >= 0 && probability <= 1)) return { error: `options.failpoints.${name}: not a probability in [0, 1]` };
    }
  }
  if (options.syncPoints !== undefined && options.syncPoints !== "riding" && options.syncPoints !== "strict") return { error: "options.syncPoints: not riding or strict" };
  try {
    validateFaultProfile(options.profile);
    if (options.faultSchedule !== undefined) validateFaultSchedule(options.faultSchedule, options.nodeCount);
  } catch (error) {
    if (error instanceof AssertionFailure || error instanceof TypeError) return { error: `options: ${error.message}` };
    throw error;
  }
  const property = file.property === null || file.property === undefined ? undefined : String(file.property);
  return { options, property, note: typeof file.note === "string" ? file.note : "" };
}
