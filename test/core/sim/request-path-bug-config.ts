// How the harness provokes the request path's planted bug forward-error-as-not-applied
// (src/core/replica/request-path.ts): forwards must get lost after they may have left (the
// leader crashes, is cut off, or the link loses them), and clients must then act on the false
// "not applied": retrying a compare-and-set that did apply (the retry's compare fails, so the
// history has a failed cas whose value is read), or giving up on a write that did apply.
// Most operations start at a random node, so most are forwarded.
import { FAULT_PROFILES } from "../../../src/core/sim/fault-profile.ts";
import { seedFromNumber } from "../../../src/core/sim/seed.ts";
import type { SimulationOptions } from "../../../src/core/sim/simulation.ts";

export function forwardBugOptions(seed: number, profile = "standard"): SimulationOptions {
  return {
    seed: seedFromNumber(seed),
    nodeCount: 3,
    durationMs: 15_000,
    profile: FAULT_PROFILES[profile]!,
    workload: { clientCount: 6, keyCount: 2, wanderProbability: 0.8, mix: { get: 3, put: 2, cas: 5 } },
  };
}
