// The node's log formats (src/shell/node/log-format.ts): the pretty line's parts, auto's choice,
// and a real `blixard node` that writes pretty lines with --log-format pretty (and on a
// terminal by default), JSON with json, and still one stderr line on a fatal error.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, type Server } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { FIELD_CHARS_MAX, formatPrettyRecord, resolveLogFormat } from "../../../src/shell/node/log-format.ts";
import { freePort } from "../../e2e/process-cluster.ts";
import { waitUntil } from "../../support/wait-until.ts";

const BIN = resolve(import.meta.dirname, "../../../bin/blixard.js");

describe("the pretty line", () => {
  test("time, level, node and message first, then the fields as key=value in their order", () => {
    const line = formatPrettyRecord({ level: 30, time: Date.UTC(2026, 11, 2, 4, 58, 0, 123), pid: 7, hostname: "h", node: "1", from: 2, to: 3, term: 7, msg: "leader changed" });
    assert.equal(line, "2026-12-02 04:58:00.123Z INFO  node 1: leader changed  from=2 to=3 term=7");
  });

  test("strings with spaces are quoted, objects are JSON, newlines never split the line, long values are cut", () => {
    const line = formatPrettyRecord({ level: 50, time: 0, msg: "two\nlines", error: "disk full", stack: "Error: x\n    at y", members: { voters: [1, 2] }, big: "x".repeat(5_000) });
    assert.ok(!line.includes("\n"), line);
    assert.match(line, /^1970-01-01 00:00:00\.000Z ERROR two\\nlines {2}error="disk full" stack="Error: x\\n {4}at y" members=\{"voters":\[1,2\]\} big=x+\.\.\.$/);
    assert.equal(/big=(x+\.\.\.)$/.exec(line)?.[1]?.length, FIELD_CHARS_MAX);
  });

  test("auto is pretty on a terminal and JSON otherwise; anything else is refused", () => {
    assert.equal(resolveLogFormat("auto", true), "pretty");
    assert.equal(resolveLogFormat("auto", false), "json");
    assert.equal(resolveLogFormat("json", true), "json");
    assert.equal(resolveLogFormat("pretty", false), "pretty");
    assert.equal(resolveLogFormat("xml", false), undefined);
  });
});

interface Run {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  readonly exited: Promise<number | null>;
}

function run(command: string, args: readonly string[]): Run {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], detached: true });
  const result: Run = {
    child,
    stdout: "",
    stderr: "",
    exited: new Promise((done) => child.once("exit", (code) => done(code))),
  };
  child.stdout!.on("data", (chunk: Buffer) => (result.stdout += chunk.toString("utf8")));
  child.stderr!.on("data", (chunk: Buffer) => (result.stderr += chunk.toString("utf8")));
  return result;
}

describe("blixard node --log-format", { timeout: 90_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "blixard-log-format-"));
  const runs: Run[] = [];
  let blocker: Server | undefined;
  after(() => {
    for (const r of runs) {
      if (r.child.exitCode === null && r.child.pid !== undefined) {
        try {
          process.kill(-r.child.pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
    }
    blocker?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function nodeArgs(name: string): Promise<string[]> {
    const peer = `127.0.0.1:${await freePort()}`;
    const api = `127.0.0.1:${await freePort()}`;
    return ["node", "--id", "1", "--peer-listen", peer, "--api-listen", api, "--data-dir", join(dir, name), "--initial-cluster", `1=${peer}`, "--insecure", "--tick-ms", "20"];
  }

  async function startAndStop(command: string, args: readonly string[], stopped: RegExp): Promise<Run> {
    const r = run(command, args);
    runs.push(r);
    await waitUntil("the node's start line", () => /node started/.test(r.stdout), 30_000);
    process.kill(-r.child.pid!, "SIGTERM");
    assert.equal(await r.exited, 0, r.stderr);
    assert.match(r.stdout, stopped);
    return r;
  }

  test("pretty: readable lines, no JSON", async () => {
    const r = await startAndStop(process.execPath, [BIN, ...(await nodeArgs("pretty")), "--log-format", "pretty"], /node stopped/);
    const lines = r.stdout.trimEnd().split("\n");
    assert.ok(lines.length >= 2, r.stdout);
    for (const line of lines) assert.match(line, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z (INFO |WARN |DEBUG|ERROR) node 1: /, line);
    assert.ok(lines.some((line) => / node 1: node started INSECURE .* dataDir=/.test(line)), r.stdout);
  });

  test("json, and auto when stdout is a pipe: one JSON record per line", async () => {
    for (const format of ["json", "auto"]) {
      const r = await startAndStop(process.execPath, [BIN, ...(await nodeArgs(format)), "--log-format", format], /"msg":"node stopped"/);
      for (const line of r.stdout.trimEnd().split("\n")) assert.equal(typeof (JSON.parse(line) as { msg?: unknown }).msg, "string", line);
    }
  });

  test("auto on a terminal: pretty (script(1) gives the node a pseudo-terminal)", async (context) => {
    const args = [BIN, ...(await nodeArgs("tty"))].map((a) => `'${a}'`).join(" ");
    const probe = run("script", ["-qec", "true", "/dev/null"]);
    if ((await probe.exited) !== 0) return context.skip("script(1) cannot make a pseudo-terminal here");
    const r = run("script", ["-qec", `${process.execPath} ${args}`, "/dev/null"]);
    runs.push(r);
    await waitUntil("the node's pretty start line", () => / node 1: node started/.test(r.stdout), 30_000);
    assert.doesNotMatch(r.stdout, /"msg":/);
    process.kill(-r.child.pid!, "SIGTERM");
    await r.exited;
  });

  test("a fatal error is still one line on stderr (a port in use), and a bad format is a usage error", async () => {
    blocker = createServer();
    await new Promise<void>((done) => blocker!.listen(0, "127.0.0.1", done));
    const port = (blocker.address() as { port: number }).port;
    const args = await nodeArgs("fatal");
    args[args.indexOf("--api-listen") + 1] = `127.0.0.1:${port}`;
    const r = run(process.execPath, [BIN, ...args, "--log-format", "pretty"]);
    runs.push(r);
    assert.equal(await r.exited, 1, r.stderr);
    const lines = r.stderr.trimEnd().split("\n");
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^blixard node: .*address already in use/);
    const bad = run(process.execPath, [BIN, ...(await nodeArgs("bad")), "--log-format", "xml"]);
    runs.push(bad);
    assert.equal(await bad.exited, 2);
    assert.equal(bad.stderr, 'blixard: --log-format: "xml" is not one of json, pretty, auto\n');
  });
});
