// Fatal errors after start-up end a real `blixard node` process with ONE line on stderr naming
// the cause and a documented exit code (docs/OPERATIONS.md, "Exit codes"), never silence or
// a stack trace: a data directory that turned read-only passes start-up (the files it opens
// are writable) and fails at the first new file, about an election timeout later.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createApiClients } from "../../src/shell/api/client.ts";
import { EXIT_INTERNAL_ERROR, EXIT_STORAGE_FAILED } from "../../src/shell/cli/fatal-exit.ts";
import { freePort, waitFor } from "./process-cluster.ts";
import { ADMIN_TOKEN, BOOTSTRAP_TOKEN_FLAG } from "../support/admin-token.ts";

const BIN = resolve(import.meta.dirname, "../../bin/blixard.js");

interface Finished {
  readonly code: number | null;
  readonly stderr: string;
  readonly elapsedMs: number;
}

function runNode(args: string[], logFile: string, onStarted?: () => void): { finished: Promise<Finished>; kill: () => void } {
  const start = Date.now();
  const child = spawn(process.execPath, [BIN, "node", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  let stdout = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString("utf8");
    if (onStarted !== undefined && stdout.includes('"msg":"node started')) onStarted();
  });
  const finished = new Promise<Finished>((resolveExit) =>
    child.once("exit", (code) => {
      writeFileSync(logFile, stdout);
      resolveExit({ code, stderr, elapsedMs: Date.now() - start });
    }),
  );
  return { finished, kill: () => child.kill("SIGTERM") };
}

/** Makes `dir` refuse new entries while its files stay writable; undefined when this host cannot. */
function makeReadOnly(dir: string): (() => void) | undefined {
  if (process.getuid?.() === 0) {
    // root ignores permission bits: the immutable attribute refuses creating, renaming and removing entries.
    const set = spawnSync("chattr", ["+i", dir]);
    if (set.status !== 0) return undefined;
    return () => void spawnSync("chattr", ["-i", dir]);
  }
  chmodSync(dir, 0o555);
  return () => chmodSync(dir, 0o755);
}

describe("fatal errors after start-up", { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "blixard-fatal-"));
  let restore: (() => void) | undefined;
  after(() => {
    restore?.();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a data directory that turned read-only: one stderr line naming it, exit 4, no stack trace", async (context) => {
    const dataDir = join(dir, "n1");
    mkdirSync(dataDir);
    const peer = `127.0.0.1:${await freePort()}`;
    const api = `127.0.0.1:${await freePort()}`;
    const args = ["--id", "1", "--peer-listen", peer, "--api-listen", api, "--data-dir", dataDir, "--initial-cluster", `1=${peer}`, "--insecure", ...BOOTSTRAP_TOKEN_FLAG];

    const first = runNode(args, join(dir, "first.log"));
    const clients = createApiClients(api, { timeoutMs: 2_000, token: ADMIN_TOKEN.text });
    await waitFor("the first run to accept a write", 30_000, async () => ((await clients.kv.put({ key: "k", value: "v" })).index > 0n ? true : undefined));
    first.kill();
    assert.equal((await first.finished).code, 0);

    restore = makeReadOnly(dataDir);
    if (restore === undefined) return context.skip("cannot make a directory read-only here (chattr failed as root)");
    let started = false;
    const second = runNode(args, join(dir, "second.log"), () => (started = true));
    const result = await Promise.race([
      second.finished,
      new Promise<Finished>((_, reject) => setTimeout(() => reject(new Error("the node did not exit within 30 s")), 30_000).unref()),
    ]);
    assert.ok(started, `the node must pass start-up before it fails (stderr: ${result.stderr})`);
    assert.equal(result.code, EXIT_STORAGE_FAILED, result.stderr);
    const lines = result.stderr.trimEnd().split("\n");
    assert.equal(lines.length, 1, `exactly one line on stderr, got:\n${result.stderr}`);
    assert.match(lines[0]!, /^blixard node: fatal: storage failed while running/);
    assert.ok(lines[0]!.includes(dataDir), "the line names the data directory");
    assert.match(lines[0]!, /EPERM|EACCES|EROFS/, "the line names the operating system's refusal");
    assert.doesNotMatch(result.stderr, /\n\s+at /, "no stack trace");
    assert.ok(readFileSync(join(dir, "second.log"), "utf8").includes("node stopping: fatal storage error"), "the log has the details");
  });

  test("an uncaught error: one stderr line, exit 5, the stack only in the log", () => {
    const script = `
      import { installFatalHandlers } from ${JSON.stringify(resolve(import.meta.dirname, "../../src/shell/cli/fatal-exit.ts"))};
      installFatalHandlers({ debug() {}, info() {}, warn() {}, error(fields) { process.stdout.write(JSON.stringify(fields) + "\\n"); } });
      setTimeout(() => { throw new Error("boom\\nwith a second line"); }, 1);
    `;
    const run = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { encoding: "utf8", timeout: 30_000 });
    assert.equal(run.status, EXIT_INTERNAL_ERROR, run.stderr);
    assert.equal(run.stderr, "blixard node: fatal: internal error (a bug; the stack is in the log): boom with a second line\n");
    assert.match(run.stdout, /"stack":"Error: boom/);
  });
});
