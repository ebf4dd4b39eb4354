// Scans seeds 1..N for every planted Raft and lease bug (bug on, then the same seed with the bug
// off) and prints the rows of docs/PLANTED-BUGS.md. Not a test: run it by hand after changing the
// core, the driver, leases or a profile, then update the seed lists in planted-bug-configs.ts and
// lease-bug-configs.ts.
//   node --import tsx test/core/sim/scan-planted-bugs.ts [N=50] [bug]

import { runSimulation } from "../../../src/core/sim/simulation.ts";
import { LEASE_PLANTED_BUG_CONFIGS } from "./lease-bug-configs.ts";
import { PLANTED_BUG_CONFIGS } from "./planted-bug-configs.ts";

const seedCount = Number(process.argv[2] ?? 50);
const only = process.argv[3];
for (const config of [...PLANTED_BUG_CONFIGS, ...LEASE_PLANTED_BUG_CONFIGS]) {
  if (only !== undefined && config.bug !== only) continue;
  const caught: number[] = [];
  const other: string[] = [];
  const offFailures: string[] = [];
  const startedMs = performance.now();
  for (let seed = 1; seed <= seedCount; seed++) {
    const options = config.options(seed);
    const on = runSimulation({ ...options, plantedBugs: new Set([config.bug]) }).failure;
    if (on?.property === config.property) caught.push(seed);
    else if (on !== undefined) other.push(`${seed}:${on.property}`);
    const off = runSimulation(options).failure;
    if (off !== undefined) offFailures.push(`${seed}:${off.property}: ${off.message}`);
  }
  const seconds = ((performance.now() - startedMs) / 1000).toFixed(1);
  console.log(
    `| ${config.bug} | ${config.property} | ${caught[0] ?? "-"} | ${caught.length}/${seedCount} | ${other.join(" ") || "-"} | ${offFailures.length} | ${seconds}s |`,
  );
  console.log(`    caught by seeds: ${caught.join(" ")}`);
  for (const failure of offFailures) console.log(`    bug off: ${failure}`);
}
