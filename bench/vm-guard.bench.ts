// The guard's share of a VM start and the host memory of one idle VM on the process backend:
//   start-to-spawn  from the backend's spawn() of the guard to the guard's spawn of the VM (the
//                   "[guard] spawned" line's timestamp), over RUNS sequential starts;
//                   (and how much of it is node's own start, to the guard's first line);
//   RSS             VmRSS of one idle guard and of its built-in process guest, after 2 s.
// A few seconds on a quiet machine: node --import tsx bench/vm-guard.bench.ts [runs] [ms between the backend's starts]
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GUARD_SCRIPT } from "../src/shell/vm/host-backend.ts";
import { PROCESS_GUEST_SCRIPT } from "../src/shell/vm/process/process-launcher.ts";
import { DEFAULT_IMAGE, type GuardState, type LaunchFile } from "../src/shell/vm/launch-plan.ts";
import { HostVmBackend } from "../src/shell/vm/host-backend.ts";
import { ProcessLauncher } from "../src/shell/vm/process/process-launcher.ts";
import { systemMonotonicClock } from "../src/shell/os/system-environment.ts";
import type { BackendReport } from "../src/core/agent/vm-backend.ts";
import { testVmSpec } from "../test/core/agent/test-vm-spec.ts";

const RUNS = Number(process.argv[2] ?? "10");
/** Pause between the backend's starts (0: back to back, when each start waits for the spare started by the one before). */
const SPACING_MS = Number(process.argv[3] ?? "500");
const vmsDir = mkdtempSync(join(tmpdir(), "bvm-bench-"));
const fenceFile = join(vmsDir, "fence.json");
writeFileSync(fenceFile, JSON.stringify({ deadlineNs: String(process.hrtime.bigint() + 600_000_000_000n) }));

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const state = (vmDir: string): GuardState | undefined => {
  try {
    return JSON.parse(readFileSync(join(vmDir, "state.json"), "utf8")) as GuardState;
  } catch {
    return undefined;
  }
};
const rssKib = (pid: number): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? "0");

const spawnMs: number[] = [];
/** From spawn() to the guard's first line: node's own start and the guard's module load. */
const bootMs: number[] = [];
const pids: number[] = [];
try {
  for (let run = 1; run <= RUNS; run++) {
    const vmDir = join(vmsDir, String(run));
    mkdirSync(vmDir);
    const launch: LaunchFile = {
      vmId: run,
      token: { nodeId: 1, epoch: 1, placement: 1 },
      plan: { argv: [process.execPath, PROCESS_GUEST_SCRIPT], env: { BLIXARD_VM_ID: String(run) }, gracefulStop: { kind: "signal", signal: "SIGTERM" }, qmpSocket: "" },
      fenceFile,
      fencePollMs: 100,
      consoleBytesMax: 1 << 20,
    };
    writeFileSync(join(vmDir, "launch.json"), JSON.stringify(launch));
    const startedMs = Date.now();
    spawn(process.execPath, [GUARD_SCRIPT, vmDir], { detached: true, stdio: "ignore" }).unref();
    for (let i = 0; i < 5_000 && !(state(vmDir)?.childPid ?? 0); i++) await sleep(1);
    const consoleText = readFileSync(join(vmDir, "console.log"), "utf8");
    const spawned = /^(\S+) \[guard\] spawned/m.exec(consoleText);
    const begun = /^(\S+) \[guard\] start/m.exec(consoleText);
    spawnMs.push(Date.parse(spawned![1]) - startedMs);
    bootMs.push(Date.parse(begun![1]) - startedMs);
    const { guardPid, childPid } = state(vmDir)!;
    pids.push(guardPid, childPid);
    if (run < RUNS) {
      process.kill(-childPid, "SIGKILL");
      await sleep(100);
    }
  }
  await sleep(2_000);
  const guardPid = pids.at(-2)!;
  const childPid = pids.at(-1)!;
  const sorted = [...spawnMs].sort((a, b) => a - b);
  console.log(`guard start-to-spawn over ${RUNS} runs: min ${sorted[0]} ms, median ${sorted[Math.floor(RUNS / 2)]} ms, max ${sorted.at(-1)} ms`);
  const boots = [...bootMs].sort((a, b) => a - b);
  console.log(`  of which node's start until the guard's first line: median ${boots[Math.floor(RUNS / 2)]} ms`);
  console.log(`idle RSS: guard ${Math.round(rssKib(guardPid) / 1024)} MiB, process guest ${Math.round(rssKib(childPid) / 1024)} MiB`);
  // Through the backend: start() to the "running" report (tokens.json fsync, launch.json, the guard, the spawn).
  const backendDir = join(vmsDir, "backend");
  const silent = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
  const backend = new HostVmBackend({ vmsDir: backendDir, launcher: new ProcessLauncher(), monotonicNowUs: systemMonotonicClock.nowUs, log: silent });
  const reports: BackendReport[] = [];
  backend.subscribe((report) => reports.push(report));
  backend.armFence(systemMonotonicClock.nowUs() + 600_000_000);
  const startMs: number[] = [];
  for (let run = 1; run <= RUNS; run++) {
    backend.create({ vmId: run, spec: { ...testVmSpec, image: { ...testVmSpec.image, kernel: DEFAULT_IMAGE } }, addresses: [] });
    while (!reports.some((r) => r.kind === "created" && r.vmId === run)) await sleep(1);
    const begunMs = performance.now();
    backend.start(run, { nodeId: 1, epoch: 1, placement: 1 });
    const isRunning = (r: BackendReport): boolean => r.kind === "instance" && r.status.vmId === run && r.status.state === "running";
    while (!reports.some(isRunning)) await sleep(1);
    startMs.push(performance.now() - begunMs);
    backend.kill(run);
    while (!reports.some((r) => r.kind === "instance" && r.status.vmId === run && r.status.state === "stopped")) await sleep(1);
    await sleep(SPACING_MS); // starts spaced out: the spare guard started after one start is ready for the next
  }
  backend.close();
  const starts = [...startMs].sort((a, b) => a - b);
  console.log(`backend start() to running over ${RUNS} runs ${SPACING_MS} ms apart: min ${starts[0].toFixed(0)} ms, median ${starts[Math.floor(RUNS / 2)].toFixed(0)} ms, max ${starts.at(-1)!.toFixed(0)} ms`);
} finally {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
  rmSync(vmsDir, { recursive: true, force: true });
}
