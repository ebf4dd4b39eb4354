// The initramfs writer: whatever entries go in come back out of the reader (fast-check), every
// entry and the archive are 4-byte aligned, the bytes are the same for the same entries, the
// reader refuses truncated or corrupt input, and GNU cpio (when this machine has it) lists the
// same names and types, so the format is newc and not merely our own reading of it.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fc from "fast-check";
import { readCpioNewc, writeCpioNewc, type CpioEntry } from "../../../../src/shell/vm/image/cpio-newc.ts";

const segment = fc.stringMatching(/^[a-zA-Z0-9._-]{1,12}$/).filter((s) => s !== "." && s !== ".." && s !== "TRAILER!!!");
const path = fc.array(segment, { minLength: 1, maxLength: 4 }).map((parts) => parts.join("/"));
const mode = fc.integer({ min: 0, max: 0o7777 });
const entry: fc.Arbitrary<CpioEntry> = fc.oneof(
  fc.record({ kind: fc.constant("directory" as const), path, mode }),
  fc.record({ kind: fc.constant("file" as const), path, mode, data: fc.uint8Array({ maxLength: 300 }) }),
  fc.record({ kind: fc.constant("symlink" as const), path, target: fc.string({ minLength: 1, maxLength: 40 }).filter((s) => !s.includes("\0")) }),
  fc.record({ kind: fc.constant("char-device" as const), path, mode, major: fc.integer({ min: 0, max: 4095 }), minor: fc.integer({ min: 0, max: 1_048_575 }) }),
);
const entries = fc.uniqueArray(entry, { selector: (e) => e.path, maxLength: 30 });

describe("cpio newc", () => {
  test("round-trips any entries, aligned and reproducible", () => {
    fc.assert(
      fc.property(entries, (input) => {
        const bytes = writeCpioNewc(input);
        assert.equal(bytes.length % 4, 0);
        assert.deepEqual(readCpioNewc(bytes), input.map((e) => ({ ...e })));
        assert.deepEqual(writeCpioNewc(input), bytes, "the same entries give the same bytes");
      }),
      { numRuns: 300 },
    );
  });

  test("refuses truncated, corrupt or trailer-less input", () => {
    const bytes = writeCpioNewc([{ kind: "file", path: "init", mode: 0o755, data: new TextEncoder().encode("#!/bin/sh\n") }]);
    assert.throws(() => readCpioNewc(bytes.subarray(0, 60)), /truncated/);
    assert.throws(() => readCpioNewc(bytes.subarray(0, 128)), /truncated|bad/);
    const corrupt = bytes.slice();
    corrupt[0] = 0x31;
    assert.throws(() => readCpioNewc(corrupt), /bad magic/);
    const trailerAt = bytes.length - 124;
    assert.throws(() => readCpioNewc(bytes.subarray(0, trailerAt)), /no trailer|truncated/);
  });

  test("rejects absolute paths, '..' and duplicates (a programmer error)", () => {
    assert.throws(() => writeCpioNewc([{ kind: "directory", path: "/etc", mode: 0o755 }]), /relative/);
    assert.throws(() => writeCpioNewc([{ kind: "directory", path: "a/../b", mode: 0o755 }]), /relative/);
    assert.throws(() => writeCpioNewc([{ kind: "directory", path: "a", mode: 0o755 }, { kind: "directory", path: "a", mode: 0o755 }]), /twice/);
  });

  test("GNU cpio lists what we wrote", (t) => {
    if (spawnSync("cpio", ["--version"]).status !== 0) {
      t.skip("cpio(1) is not installed: the cross-check needs it");
      return;
    }
    const archive = writeCpioNewc([
      { kind: "directory", path: "dev", mode: 0o755 },
      { kind: "char-device", path: "dev/console", mode: 0o600, major: 5, minor: 1 },
      { kind: "file", path: "init", mode: 0o755, data: new TextEncoder().encode("#!/bin/sh\necho hi\n") },
      { kind: "symlink", path: "sh", target: "busybox" },
    ]);
    const listed = spawnSync("cpio", ["-t", "-v", "--quiet"], { input: archive, encoding: "utf8" });
    assert.equal(listed.status, 0, listed.stderr);
    const lines = listed.stdout.trim().split("\n");
    assert.equal(lines.length, 4);
    assert.match(lines[0]!, /^drwxr-xr-x .* dev$/);
    assert.match(lines[1]!, /^crw------- .* 5,\s+1 .* dev\/console$/);
    assert.match(lines[2]!, /^-rwxr-xr-x .* 18 .* init$/);
    assert.match(lines[3]!, /^lrwxrwxrwx .* sh -> busybox$/);
  });
});
