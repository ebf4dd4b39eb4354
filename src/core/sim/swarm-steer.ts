// A steer for one swarm draw (coverage-guided swarm, docs/SIMULATION.md "Coverage"): the on/off
// dimensions of a seed's draw (swarm.ts) that are forced instead of drawn. The swarm still makes
// each dimension's own draw, then replaces its value; a family forced on then draws its rates, so
// later draws may differ from the blind run's. An empty steer is the blind draw, exactly. A steered
// run is reproduced by its seed and its steer's text (`--seed S --steer crash=1,pre-vote=0`).

import { assert } from "../assert.ts";

/** The draw's on/off dimensions: the fault families, then the tuning and workload switches. */
export const SWARM_DIMENSIONS = [
  "loss",
  "duplication",
  "reorder",
  "partition",
  "crash",
  "clock-offset",
  "clock-drift",
  "clock-jump",
  "clog",
  "loss-burst",
  "pause",
  "disk-full",
  "corruption",
  "membership",
  "pre-vote",
  "check-quorum",
  "read-heavy",
  "snapshot-often",
  "orchestrator",
] as const;
export type SwarmDimension = (typeof SWARM_DIMENSIONS)[number];

/** Forced values (absent: drawn as usual). */
export type SwarmSteer = Readonly<Partial<Record<SwarmDimension, boolean>>>;

/** A draw's value of every dimension, as it ran (steered or drawn). */
export type SwarmDimensions = Readonly<Record<SwarmDimension, boolean>>;

export function isSwarmDimension(name: string): name is SwarmDimension {
  return (SWARM_DIMENSIONS as readonly string[]).includes(name);
}

/** "crash=1,pre-vote=0" in SWARM_DIMENSIONS order; "" for no steer. */
export function formatSwarmSteer(steer: SwarmSteer): string {
  const parts: string[] = [];
  for (const name of SWARM_DIMENSIONS) {
    const value = steer[name];
    if (value !== undefined) parts.push(`${name}=${value ? 1 : 0}`);
  }
  assert(parts.length <= SWARM_DIMENSIONS.length, "one part per dimension at most");
  return parts.join(",");
}

/** Parses formatSwarmSteer's text; a one-line error naming what is wrong. */
export function parseSwarmSteer(text: string): SwarmSteer | { readonly error: string } {
  const steer: Partial<Record<SwarmDimension, boolean>> = {};
  if (text.trim() === "") return steer;
  for (const part of text.split(",")) {
    const match = /^([a-z-]+)=([01])$/.exec(part.trim());
    if (match === null) return { error: `"${part}" is not dimension=0 or dimension=1` };
    const name = match[1]!;
    if (!isSwarmDimension(name)) return { error: `unknown dimension "${name}" (one of: ${SWARM_DIMENSIONS.join(", ")})` };
    if (steer[name] !== undefined) return { error: `dimension "${name}" given twice` };
    steer[name] = match[2] === "1";
  }
  return steer;
}

export function isSwarmSteerError(parsed: SwarmSteer | { readonly error: string }): parsed is { readonly error: string } {
  return typeof (parsed as { error?: unknown }).error === "string";
}
