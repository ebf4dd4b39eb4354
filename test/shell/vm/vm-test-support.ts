// Shared by the guard and host backend tests: temporary VM directories, launch and fence files,
// starting guards, and cleaning up every process they started (guards, VMs, fixture scripts)
// even when a test fails.

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { GuardState, LaunchFile, LaunchPlan } from "../../../src/shell/vm/launch-plan.ts";
import { GUARD_SCRIPT } from "../../../src/shell/vm/host-backend.ts";
import { PROCESS_GUEST_SCRIPT } from "../../../src/shell/vm/process/process-launcher.ts";
import type { Logger } from "../../../src/core/env/environment.ts";

const NS_PER_MS = 1_000_000n;

/** Temporary directories and processes of one test file; clean() in `after` removes and kills them all. */
export class VmTestScope {
  private readonly dirs: string[] = [];
  private readonly processes: ChildProcess[] = [];

  /** A fresh, short directory (unix socket paths are limited to 107 bytes). */
  tempDir(): string {
    const dir = mkdtempSync(join(tmpdir(), "bvm-"));
    this.dirs.push(dir);
    return dir;
  }

  track(child: ChildProcess): ChildProcess {
    this.processes.push(child);
    return child;
  }

  /** Starts the guard for vmDir, detached as the backend does. */
  startGuard(vmDir: string): ChildProcess {
    return this.track(spawn(process.execPath, [GUARD_SCRIPT, vmDir], { detached: true, stdio: "ignore" }));
  }

  /** Kills every process started here and every guard and VM found in the directories' state files, then removes the directories. */
  clean(): void {
    for (const child of this.processes) killGroupAndProcess(child.pid);
    for (const dir of this.dirs) {
      for (const state of guardStatesUnder(dir)) {
        killGroupAndProcess(state.childPid);
        killGroupAndProcess(state.guardPid);
      }
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

function killGroupAndProcess(pid: number | undefined): void {
  if (pid === undefined || pid <= 0) return;
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, "SIGCONT");
      process.kill(target, "SIGKILL");
    } catch {
      // gone
    }
  }
}

function guardStatesUnder(dir: string): GuardState[] {
  const states: GuardState[] = [];
  const walk = (at: string, depth: number): void => {
    if (depth > 3 || !existsSync(at)) return;
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(join(at, entry.name), depth + 1);
      else if (entry.name === "state.json") {
        try {
          states.push(JSON.parse(readFileSync(join(at, entry.name), "utf8")) as GuardState);
        } catch {
          // half written: nothing to kill from it
        }
      }
    }
  };
  walk(dir, 0);
  return states;
}

export function nowNs(): bigint {
  return process.hrtime.bigint();
}

export function writeFence(fenceFile: string, deadlineNs: bigint): void {
  writeFileSync(`${fenceFile}.tmp`, JSON.stringify({ deadlineNs: deadlineNs.toString() }));
  renameSync(`${fenceFile}.tmp`, fenceFile);
}

export function fenceInMs(fenceFile: string, ms: number): bigint {
  const deadline = nowNs() + BigInt(ms) * NS_PER_MS;
  writeFence(fenceFile, deadline);
  return deadline;
}

export function guestPlan(vmId: number, env: Record<string, string> = {}): LaunchPlan {
  return {
    argv: [process.execPath, PROCESS_GUEST_SCRIPT],
    env: { BLIXARD_VM_ID: String(vmId), BLIXARD_VM_NAME: `vm-${vmId}`, ...env },
    gracefulStop: { kind: "console", line: "BLIXARD-POWEROFF" },
    qmpSocket: "",
  };
}

/** Writes <vmsDir>/<vmId>/launch.json and returns the VM's directory. */
export function writeLaunch(vmsDir: string, vmId: number, overrides: Partial<LaunchFile> = {}): string {
  const vmDir = join(vmsDir, String(vmId));
  mkdirSync(vmDir, { recursive: true });
  const launch: LaunchFile = {
    vmId,
    token: { nodeId: 1, epoch: 1, placement: 1 },
    plan: guestPlan(vmId),
    fenceFile: join(vmsDir, "fence.json"),
    fencePollMs: 100,
    consoleBytesMax: 1024 * 1024,
    ...overrides,
  };
  writeFileSync(join(vmDir, "launch.json"), JSON.stringify(launch));
  return vmDir;
}

export function readState(vmDir: string): GuardState | undefined {
  try {
    return JSON.parse(readFileSync(join(vmDir, "state.json"), "utf8")) as GuardState;
  } catch {
    return undefined;
  }
}

export function readConsoleLog(vmDir: string): string {
  try {
    return readFileSync(join(vmDir, "console.log"), "utf8");
  } catch {
    return "";
  }
}

export function processAlive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie (dead, not yet reaped by its parent) counts as dead.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

/** Lines of console.log that are the VM's own (not the guard's notes), without their timestamps. */
export function vmLines(consoleText: string): string[] {
  return consoleText
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => line.slice(line.indexOf(" ") + 1))
    .filter((line) => !line.startsWith("[guard] "));
}

export const silentLog: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

/** A logger that keeps what it is told (tests assert on warnings). */
export function recordingLog(): Logger & { readonly lines: string[] } {
  const lines: string[] = [];
  const keep = (level: string) => (fields: Record<string, unknown>, message: string) => lines.push(`${level} ${message} ${JSON.stringify(fields)}`);
  return { lines, debug: keep("debug"), info: keep("info"), warn: keep("warn"), error: keep("error") };
}
