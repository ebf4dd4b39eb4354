// The CLI refuses arguments that are not valid UTF-8 instead of letting Node rewrite them to
// U+FFFD (so `kv put $'x\xff' A` and `kv put $'x\xfe' B` can no longer write one key).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { invalidUtf8Argument } from "../../../src/shell/cli/raw-argv.ts";

const BIN = resolve(import.meta.dirname, "../../../bin/blixard.js");

describe("raw argv", () => {
  test("bytes that are not UTF-8 are found in the raw command line", () => {
    const raw = (...parts: Uint8Array[]): Uint8Array => Buffer.concat(parts.flatMap((part) => [Buffer.from(part), Buffer.from([0])]));
    const ok = raw(Buffer.from("node"), Buffer.from("kv"), Buffer.from("x\uFFFD"));
    assert.equal(invalidUtf8Argument(["kv", "x\uFFFD"], ok), undefined, "a genuine U+FFFD passes where the raw bytes are known");
    for (const byte of [0xff, 0xfe]) {
      const bad = raw(Buffer.from("node"), Buffer.from("kv"), Buffer.from([0x78, byte]));
      assert.match(invalidUtf8Argument(["kv", "x\uFFFD"], bad) ?? "", /is not valid UTF-8/);
    }
  });

  test("without the raw command line, U+FFFD itself is refused and the message says why", () => {
    assert.match(invalidUtf8Argument(["kv", "put", "x\uFFFD", "A"], undefined) ?? "", /what Node makes of bytes that are not valid UTF-8/);
    assert.equal(invalidUtf8Argument(["kv", "put", "x", "A"], undefined), undefined);
  });

  test("blixard kv put $'x\\xff' A exits 2 with one line, before any request is sent", { skip: process.platform !== "linux" }, () => {
    for (const escaped of ["x\\xff", "x\\xfe"]) {
      // Node cannot pass invalid bytes in argv itself: bash's $'...' does.
      const run = spawnSync("bash", ["-c", `exec "$0" "$1" kv put $'${escaped}' A --endpoint=http://127.0.0.1:9`, process.execPath, BIN], { encoding: "utf8", timeout: 30_000 });
      assert.equal(run.status, 2, run.stderr);
      assert.equal(run.stderr.trimEnd().split("\n").length, 1, run.stderr);
      assert.match(run.stderr, /is not valid UTF-8/);
    }
  });
});
