// Scans seeds for the request path's planted bug forward-error-as-not-applied: with the bug
// on, which seeds' histories the linearizability checker finds illegal; with it off, that
// none are. Produced the seed list of test/core/sim/request-path-bugs.test.ts and the row in
// docs/PLANTED-BUGS.md. Usage: node --import tsx test/core/sim/scan-forward-bug.ts [seeds] [profile]
import { checkKvEvents } from "../../../src/core/check/index.ts";
import { runSimulation } from "../../../src/core/sim/simulation.ts";
import { forwardBugOptions } from "./request-path-bug-config.ts";

const seeds = Number(process.argv[2] ?? 20);
const profile = process.argv[3] ?? "standard";
let caught = 0;
for (let seed = 1; seed <= seeds; seed++) {
  const on = runSimulation({ ...forwardBugOptions(seed, profile), requestPathPlantedBugs: new Set(["forward-error-as-not-applied"]) });
  const verdictOn = on.failure !== undefined ? `failure ${on.failure.property}` : checkKvEvents(on.history, { stepLimit: 5_000_000 }).verdict;
  const off = runSimulation(forwardBugOptions(seed, profile));
  const verdictOff = off.failure !== undefined ? `failure ${off.failure.property}` : checkKvEvents(off.history, { stepLimit: 5_000_000 }).verdict;
  if (verdictOn === "illegal") caught++;
  console.log(`seed ${seed}: bug on ${verdictOn} (ops ${on.operations.invoked}, info ${on.operations.info}), bug off ${verdictOff}`);
}
console.log(`caught ${caught}/${seeds} (${profile})`);
