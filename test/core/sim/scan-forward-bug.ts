// Scans seeds for the request path's planted bug forward-error-as-not-applied: with the bug
// on, which property catches it (the run's linearizability check, or No Stale Read); with it
// off, that every seed passes. Produced the seed list of test/core/sim/request-path-bugs.test.ts
// and the row in docs/PLANTED-BUGS.md.
// Usage: node --import tsx test/core/sim/scan-forward-bug.ts [seeds] [profile]
import { runSimulation } from "../../../src/core/sim/simulation.ts";
import { forwardBugOptions } from "./request-path-bug-config.ts";

const seeds = Number(process.argv[2] ?? 20);
const profile = process.argv[3] ?? "standard";
const caughtBy = new Map<string, number>();
let offFailures = 0;
for (let seed = 1; seed <= seeds; seed++) {
  const on = runSimulation({ ...forwardBugOptions(seed, profile), requestPathPlantedBugs: new Set(["forward-error-as-not-applied"]) });
  const off = runSimulation(forwardBugOptions(seed, profile));
  const onText = on.failure?.property ?? `passed (${on.linearizability.verdict})`;
  if (on.failure !== undefined) caughtBy.set(on.failure.property, (caughtBy.get(on.failure.property) ?? 0) + 1);
  if (off.failure !== undefined) offFailures++;
  console.log(`seed ${seed}: bug on ${onText}; bug off ${off.failure?.property ?? "passed"} (forwards ${off.requestPath.forwarded}, lost ${off.requestPath.forwardsTimedOut}, ops ${off.operations.invoked})`);
}
console.log(`${profile}: caught by ${JSON.stringify(Object.fromEntries(caughtBy))} of ${seeds}; bug off failures ${offFailures}`);
