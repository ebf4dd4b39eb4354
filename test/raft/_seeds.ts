import { runSimulation } from "../../src/sim/simulation.ts";
import { faultProfile, FAULT_PROFILE_NAMES } from "../../src/sim/fault-profile.ts";
import { parseSeed } from "../../src/sim/seed.ts";
const from = Number(process.argv[2] ?? 1), to = Number(process.argv[3] ?? 20);
console.log(FAULT_PROFILE_NAMES);
for (const profile of FAULT_PROFILE_NAMES) for (let s = from; s <= to; s++) {
  try {
    const r = runSimulation({ seed: parseSeed(String(s)), nodeCount: 5, durationMs: 20000, profile: faultProfile(profile) } as never);
    if (r.failure) console.log(profile, s, "FAIL", r.failure.property, r.failure.message.slice(0, 300));
  } catch (e) { console.log(profile, s, "THROW", String((e as Error).stack).slice(0, 600)); }
}
console.log("done");
