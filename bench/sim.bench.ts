// npm run bench:sim — how fast the simulator runs a 5-node cluster, in events per wall
// second and time acceleration (simulated seconds per wall second). Prints figures; asserts
// nothing (docs/SIMULATION.md records them with the machine they came from).
//
// Standard scenario: 5 nodes, fault profile "standard", the default workload (4 clients,
// think time 0-100 ms, 40% get / 30% put / 30% cas over 3 keys), simReplicaOptions with the
// profile's 50 ms ticks, 60 s of simulated time per seed, seeds 1-5 after one warm-up run.

import { cpus } from "node:os";
import { runSimulation, type SimulationOptions } from "../src/sim/simulation.ts";
import { FAULT_PROFILES } from "../src/sim/fault-profile.ts";
import { seedFromNumber } from "../src/sim/seed.ts";

interface Scenario {
  readonly name: string;
  readonly options: (seed: number) => SimulationOptions;
}

const scenarios: Scenario[] = [
  {
    name: "standard: 5 nodes, standard faults, 4 clients (think 0-100 ms)",
    options: (seed) => ({ seed: seedFromNumber(seed), nodeCount: 5, durationMs: 60_000, profile: FAULT_PROFILES.standard! }),
  },
  {
    name: "light: 5 nodes, standard faults, 2 clients (think 0.5-2 s)",
    options: (seed) => ({
      seed: seedFromNumber(seed),
      nodeCount: 5,
      durationMs: 60_000,
      profile: FAULT_PROFILES.standard!,
      workload: { clientCount: 2, thinkTimeMs: [500, 2_000] },
    }),
  },
  {
    name: "idle: 5 nodes, no faults, no clients' load (ticks and heartbeats only)",
    options: (seed) => ({
      seed: seedFromNumber(seed),
      nodeCount: 5,
      durationMs: 60_000,
      profile: FAULT_PROFILES.none!,
      workload: { clientCount: 1, thinkTimeMs: [60_000, 60_000] },
    }),
  },
];

const seeds = [1, 2, 3, 4, 5];
console.log(`node ${process.version}, ${cpus().length} cpus (${cpus()[0]?.model ?? "unknown"})`);
runSimulation(scenarios[0]!.options(99)); // warm-up: JIT
for (const scenario of scenarios) {
  let events = 0;
  let simulatedUs = 0;
  let operations = 0;
  const startedMs = performance.now();
  for (const seed of seeds) {
    const result = runSimulation(scenario.options(seed));
    if (result.failure !== undefined) console.log(`  seed ${seed}: VIOLATION ${result.failure.property}: ${result.failure.message}`);
    events += result.events;
    simulatedUs += result.simulatedUs;
    operations += result.operations.ok + result.operations.fail + result.operations.info;
  }
  const wallS = (performance.now() - startedMs) / 1000;
  const simulatedS = simulatedUs / 1e6;
  console.log(scenario.name);
  console.log(
    `  ${seeds.length} runs, ${simulatedS.toFixed(0)} s simulated in ${wallS.toFixed(2)} s wall: ` +
      `${Math.round(events / wallS).toLocaleString("en-US")} events/s, ${Math.round(simulatedS / wallS).toLocaleString("en-US")}x acceleration, ` +
      `${Math.round(events / simulatedS)} events per simulated s, ${Math.round(operations / simulatedS)} client ops per simulated s`,
  );
}
