// Waiting on a condition in tests that talk to real sockets or processes: poll until it holds,
// fail naming what was awaited once the deadline passes. Never a fixed sleep.
import assert from "node:assert/strict";

export async function waitUntil(what: string, condition: () => boolean, deadlineMs = 10_000, intervalMs = 10): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > deadlineMs) assert.fail(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
