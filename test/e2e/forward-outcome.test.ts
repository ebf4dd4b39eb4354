// Real processes: a compare-and-set sent to a follower is forwarded to the leader (over the
// peer transport's client channel), and the leader is killed with SIGKILL a few milliseconds
// later. The write may or may not have been applied, so the only answers allowed are success
// and deadline_exceeded ("outcome unknown"). Before the request path, the follower passed the
// forwarding connection's error through ("socket hang up" as aborted, documented as "not
// applied"), and a client retrying by that contract applied a cas twice.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { ProcessCluster, sleep, waitFor } from "./process-cluster.ts";

const ELECTION_DEADLINE_MS = 15_000;
const KILL_DELAYS_MS = [0, 2, 5, 10];

describe("three node processes: a forwarded write whose leader dies", { timeout: 180_000 }, () => {
  const cluster = new ProcessCluster("forward-outcome");

  before(async () => {
    await cluster.bootstrap([1, 2, 3]);
  });
  after(async () => {
    await cluster.cleanup();
  });

  test("is acknowledged or unknown (deadline_exceeded), never reported as not applied", async () => {
    const outcomes: string[] = [];
    for (const [round, delayMs] of KILL_DELAYS_MS.entries()) {
      const leader = await cluster.waitForLeader([1, 2, 3], ELECTION_DEADLINE_MS);
      const follower = [1, 2, 3].find((id) => id !== leader)!;
      const key = `forwarded-${round}`;
      // Warm the follower's connection to the leader, so the forward leaves at once.
      await cluster.put(`warm-${round}`, "w", 10_000, [follower]);
      const answer = cluster
        .client(follower)
        .kv.compareAndSet({ key, expected: "", value: `v${round}` }, { timeoutMs: 30_000 })
        .then(
          (response) => ({ code: "ok" as const, succeeded: response.succeeded }),
          (error: unknown) => ({ code: Code[ConnectError.from(error).code], message: ConnectError.from(error).rawMessage }),
        );
      if (delayMs > 0) await sleep(delayMs);
      await cluster.stop(leader, "SIGKILL");
      const outcome = await answer;
      outcomes.push(`${delayMs} ms: ${JSON.stringify(outcome)}`);
      assert.ok(outcome.code === "ok" || outcome.code === "DeadlineExceeded", `kill after ${delayMs} ms: ${JSON.stringify(outcome)}`);
      if (outcome.code === "DeadlineExceeded") assert.match((outcome as { message: string }).message, /outcome unknown/);
      // Whatever the answer, the key holds the value or nothing: never anything else.
      const survivors = [1, 2, 3].filter((id) => id !== leader);
      await cluster.waitForLeader(survivors, ELECTION_DEADLINE_MS);
      const value = await waitFor(`read ${key}`, 10_000, () => cluster.get(survivors[0]!, key));
      if (outcome.code === "ok") assert.equal(value, `v${round}`);
      else assert.ok(value === "" || value === `v${round}`, `unknown cas left ${JSON.stringify(value)}`);
      cluster.start(leader);
    }
    // Reported for the record (which delays the leader answered in time).
    process.stdout.write(`# outcomes: ${outcomes.join("; ")}\n`);
  });
});
