// The start-refusal checks on their own: refusals on corrupted disks are the fault model at
// work (up to f of 2f+1); a refusal on a clean disk, or one more than f, is a failure.
// (The planted bugs torn-tail-as-corrupt and consent-to-corrupt-every-node show them firing in
// whole runs: planted-bugs.test.ts.)

import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { StartRefusalCheck } from "../../../src/core/sim/start-refusal-check.ts";

const refusal = (nodeId: number) => ({ nodeId, simulatedTimeUs: 1_000, message: "storage corrupt: wal at offset 8: bad checksum" });

describe("start-refusal checks", () => {
  test("up to f refusals on corrupted disks pass", () => {
    const check = new StartRefusalCheck(5, () => true);
    assert.equal(check.refused(refusal(1)), undefined);
    assert.equal(check.refused(refusal(4)), undefined);
  });

  test("a refusal on a disk that was never corrupted is Clean Disk Starts", () => {
    const check = new StartRefusalCheck(5, (id) => id !== 3);
    assert.equal(check.refused(refusal(1)), undefined);
    const violation = check.refused(refusal(3));
    assert.equal(violation?.property, "Clean Disk Starts");
    assert.match(violation!.message, /node 3 .*never corrupted/);
  });

  test("more than f refusals is Minority Refusals, even on corrupted disks, and it wins over Clean Disk Starts", () => {
    const corrupted = new StartRefusalCheck(3, () => true);
    assert.equal(corrupted.refused(refusal(2)), undefined);
    assert.equal(corrupted.refused(refusal(3))?.property, "Minority Refusals");
    const clean = new StartRefusalCheck(3, (id) => id === 1);
    assert.equal(clean.refused(refusal(1)), undefined);
    assert.equal(clean.refused(refusal(2))?.property, "Minority Refusals");
  });

  test("one node alone may never refuse (f = 0)", () => {
    assert.equal(new StartRefusalCheck(1, () => true).refused(refusal(1))?.property, "Minority Refusals");
  });
});
