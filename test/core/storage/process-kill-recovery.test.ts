// Recovery after a process kill (CrashKind "process-kill"): the kernel still holds the dead
// incarnation's unsynced writes, so the restarted store reads them back. What open returns the
// replica treats as durable (it votes and acknowledges on it), so open must make it durable
// before calling back: a host crash right after must not take any of it away. The planted bug
// open-trusting-unsynced-reads skips that, and this test sees the loss.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { entries, hardState, makeWorld, openOk, persistNow, plain } from "./harness.ts";

const LOSE_ALL = { crashLoseWriteProbability: 1, crashTearWriteProbability: 0, crashLoseDirectoryOperationProbability: 1 };

function killedThenCrashed(planted: boolean) {
  const world = makeWorld(21, LOSE_ALL);
  const options = planted ? { plantedBugs: new Set(["open-trusting-unsynced-reads"] as const) } : {};
  const first = openOk(world, options);
  persistNow(world, first, { hardState: hardState(1, 1, 0) });
  persistNow(world, first, { entries: entries(1, 3, 1), hardState: hardState(1, 1, 3) });
  // Appended, never synced: only the kernel has these.
  persistNow(world, first, { entries: entries(4, 6, 1), hardState: hardState(1, 1, 3) }, false);
  world.disk.processKill();
  world.scheduler.clear();
  const afterKill = openOk(world, options);
  world.disk.crash();
  world.scheduler.clear();
  const afterHostCrash = openOk(world, options);
  return { afterKill: plain(afterKill.recovered.entries), afterHostCrash: plain(afterHostCrash.recovered.entries) };
}

describe("recovery after a process kill", () => {
  test("the unsynced writes the kernel kept are recovered, and open makes them durable: a host crash after it keeps them", () => {
    const { afterKill, afterHostCrash } = killedThenCrashed(false);
    assert.deepEqual(afterKill, plain(entries(1, 6, 1)), "a process kill keeps unsynced appends");
    assert.deepEqual(afterHostCrash, afterKill);
  });

  test("planted bug open-trusting-unsynced-reads: a host crash takes away entries the previous open returned", () => {
    const { afterKill, afterHostCrash } = killedThenCrashed(true);
    assert.deepEqual(afterKill, plain(entries(1, 6, 1)));
    assert.ok(afterHostCrash.length < afterKill.length, `recovered ${afterHostCrash.length} entries after the host crash`);
  });
});
