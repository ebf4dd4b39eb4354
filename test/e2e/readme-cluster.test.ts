// The README's "Run a cluster" block, run as a user pastes it: in bash, from an empty directory,
// with only the ports moved (to free ones) and `npx blixard` / `node bin/blixard.js` pointed at this
// checkout. It must make a CA, start three TLS nodes with a bootstrap token, wait for the cluster,
// write and read a key (through the CLI and curl), and stop every node cleanly with `kill %1 %2 %3`.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { portFree } from "../support/free-port.ts";
import { BLIXARD_BIN } from "../support/run-cli.ts";

const README = resolve(import.meta.dirname, "../../README.md");
const BLOCK_TIMEOUT_MS = 150_000;

/** The first ```sh block after the "## Run a cluster" heading. */
function runClusterBlock(readme: string): string {
  const section = readme.indexOf("\n## Run a cluster");
  assert.ok(section >= 0, "README has a 'Run a cluster' section");
  const start = readme.indexOf("```sh\n", section);
  const end = readme.indexOf("\n```", start + 6);
  assert.ok(start > section && end > start, "the section has a sh block");
  return readme.slice(start + 6, end + 1);
}

/** Two port prefixes P, Q such that P1..P3 and Q1..Q3 (as decimal strings) are free loopback ports. */
async function freePortPrefixes(): Promise<readonly [number, number]> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const peer = 1000 + Math.floor(Math.random() * 2200);
    const api = peer + 1;
    const ports = [1, 2, 3].flatMap((id) => [peer * 10 + id, api * 10 + id]);
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return [peer, api];
  }
  throw new Error("no free ports for the README cluster after 50 tries");
}

const workDir = mkdtempSync(join(tmpdir(), "blixard-readme-"));
let bashGroup: number | undefined;
after(() => {
  if (bashGroup !== undefined) {
    try {
      process.kill(-bashGroup, "SIGKILL");
    } catch {
      // the block's processes are gone already
    }
  }
  rmSync(workDir, { recursive: true, force: true });
});

test("the README's cluster block runs as pasted: waits for the cluster, serves, and stops cleanly", { timeout: BLOCK_TIMEOUT_MS + 10_000 }, async () => {
  const [peerPrefix, apiPrefix] = await freePortPrefixes();
  const block = runClusterBlock(readFileSync(README, "utf8"));
  assert.match(block, /kill %1 %2 %3/, "the block stops its nodes");
  const script = block
    .replaceAll("127.0.0.1:700", `127.0.0.1:${peerPrefix}`)
    .replaceAll("127.0.0.1:800", `127.0.0.1:${apiPrefix}`)
    .replaceAll("npx blixard", `node ${BLIXARD_BIN}`)
    .replaceAll("node bin/blixard.js", `node ${BLIXARD_BIN}`);
  assert.doesNotMatch(script, /:700|:800/, "every port was moved");

  const env: Record<string, string> = { ...process.env, BLIXARD_CONTEXT: join(workDir, "context.yaml") } as Record<string, string>;
  for (const name of ["BLIXARD_ENDPOINT", "BLIXARD_ENDPOINTS", "BLIXARD_TOKEN"]) delete env[name];
  // -e: a failing line fails the test (an interactive paste would go on; the README must not need that).
  const bash = spawn("bash", ["-e", "-c", script], { cwd: workDir, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  bashGroup = bash.pid;
  let stdout = "";
  let stderr = "";
  bash.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  bash.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => bashGroup !== undefined && process.kill(-bashGroup, "SIGKILL"), BLOCK_TIMEOUT_MS);
  const code = await new Promise<number | null>((done) => bash.once("close", done));
  clearTimeout(timer);
  const logs = [1, 2, 3].map((id) => {
    try {
      return readFileSync(join(workDir, "data", `n${id}.log`), "utf8");
    } catch {
      return "";
    }
  });
  const context = `stdout:\n${stdout}\nstderr:\n${stderr}\nlog of node 1 (tail):\n${logs[0]!.slice(-3000)}`;
  assert.equal(code, 0, context);
  assert.match(stdout, /"value":\s*"hello"/, `curl read the key back\n${context}`);
  for (const [i, log] of logs.entries()) assert.match(log, /"msg":"node stopped"/, `node ${i + 1} stopped cleanly\n${log.slice(-2000)}`);
  for (const prefix of [peerPrefix, apiPrefix]) {
    for (const id of [1, 2, 3]) assert.ok(await portFree(prefix * 10 + id), `port ${prefix * 10 + id} is free again`);
  }
});
