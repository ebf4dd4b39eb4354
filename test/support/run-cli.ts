// The `blixard` command as the tests run it: a child process, awaited (never spawnSync: tests that
// run a node in their own process would block it), bounded in time, with stdin when given. By
// default it sees the harness's admin token, no endpoint from the environment and no context file.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ADMIN_TOKEN } from "./admin-token.ts";

export const BLIXARD_BIN = resolve(import.meta.dirname, "../../bin/blixard.js");
const CLI_TIMEOUT_MS = 120_000;

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  /** Replaces variables of the default environment (or adds to it). */
  readonly env?: Readonly<Record<string, string>>;
  readonly input?: string;
}

export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliRun> {
  const env = { ...process.env, BLIXARD_ENDPOINT: "", BLIXARD_TOKEN: ADMIN_TOKEN.text, BLIXARD_CONTEXT: join(tmpdir(), "blixard-test-no-context.yaml"), ...options.env };
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [BLIXARD_BIN, ...args], { stdio: ["pipe", "pipe", "pipe"], env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), CLI_TIMEOUT_MS);
    child.once("error", fail);
    child.once("close", (code) => {
      clearTimeout(timer);
      done({ code: code ?? 1, stdout, stderr });
    });
    child.stdin.end(options.input ?? "");
  });
}

/** A usage error as the CLI must give one: exit 2, nothing on stdout, one stderr line matching `pattern`. */
export function expectUsageError(run: CliRun, pattern: RegExp, label: string): void {
  assert.equal(run.code, 2, `${label}: ${run.stdout}${run.stderr}`);
  assert.equal(run.stdout, "", label);
  assert.equal(run.stderr.trimEnd().split("\n").length, 1, run.stderr);
  assert.match(run.stderr.trim(), pattern);
}
