// `blixard ... | head`: when the reader of its output goes away the command ends quietly with
// SIGPIPE's exit code (141), never with a stack trace for an unhandled EPIPE (bin/blixard.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { BLIXARD_BIN } from "../../support/run-cli.ts";

test("a closed stdout ends the command with exit 141 and nothing on stderr", { timeout: 60_000 }, async () => {
  // --trace /dev/stdout writes long after head has gone (a shell pipe, which /dev/stdout can open). The output
  // must be far larger than a pipe's buffer (64 KiB on Linux): 5 simulated seconds wrote 57 KiB, which could all fit
  // in the pipe before head exited, and the command then ended with 0. 60 seconds write about 780 KiB.
  const script = `"${process.execPath}" "${BLIXARD_BIN}" sim --seed 1 --time 60s --trace /dev/stdout | head -1 >/dev/null; exit \${PIPESTATUS[0]}`;
  const child = spawn("bash", ["-c", script], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((done) => child.once("close", done));
  assert.equal(code, 141, stderr);
  assert.doesNotMatch(stderr, /EPIPE|at .*\(/, "no stack trace");
});
