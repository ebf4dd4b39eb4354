// Clock faults on a real `blixard node` process (docs/FAILPOINTS.md, "Clock faults"), set through
// the admin path the Jepsen nemesis uses and observed in the node's status: a wall clock offset,
// bump and strobe move the node's wall reading; a drift makes its monotonic clock run fast or slow
// against the test's own clock; a drift beyond the bound is refused in one line (the CLI) and
// with InvalidArgument (the API); a token that is not an admin's is refused with PermissionDenied;
// and the node keeps serving writes and reads throughout.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { Code, ConnectError } from "@connectrpc/connect";
import { createApiClients } from "../../src/shell/api/client.ts";
import { EXIT_PERMISSION_DENIED } from "../../src/shell/cli/api-output.ts";
import { ProcessCluster, sleep, waitFor } from "./process-cluster.ts";
import { runCli } from "../support/run-cli.ts";

const DEADLINE_MS = 30_000;
/** A status round trip on a loaded machine, and the skew of reading Date.now() on either side of it. */
const SLACK_MS = 3_000;

describe("clock faults on a real node", { timeout: 180_000 }, () => {
  const cluster = new ProcessCluster("clock-faults", 50, 10, "info", { insecure: true });
  after(() => cluster.cleanup());

  const status = async (): Promise<{ wallShiftMs: number; monotonicUs: number; realUs: number }> => {
    const before = performance.now();
    const wallBefore = Date.now();
    const node = (await cluster.client(1).cluster.status({ localOnly: true })).nodes[0]!;
    // The reading was taken somewhere inside the round trip: take its middle.
    return { wallShiftMs: Number(node.wallTimeMs) - (wallBefore + Date.now()) / 2, monotonicUs: Number(node.monotonicUs), realUs: ((before + performance.now()) / 2) * 1000 };
  };

  test("the wall clock's offset, bump and strobe show in status; clear brings the host's time back; a non-admin is refused", async () => {
    await cluster.bootstrap([1]);
    await cluster.waitForLeader([1], DEADLINE_MS);
    await cluster.put("k", "before", DEADLINE_MS);
    const endpoint = `http://${cluster.nodes.get(1)!.api}`;
    const cli = (...args: string[]) => runCli(["node", "failpoint", ...args, "--endpoint", endpoint]);
    assert.ok(Math.abs((await status()).wallShiftMs) < SLACK_MS);

    const operator = await cluster.client(1).token.createToken({ role: "operator", tenant: "", ttlSeconds: 0n });
    const refused = await runCli(["node", "failpoint", "set", "clock.wall", "return(offset:+3600000)", "--endpoint", endpoint], { env: { BLIXARD_TOKEN: operator.token } });
    assert.equal(refused.code, EXIT_PERMISSION_DENIED, refused.stderr);
    const operatorClient = createApiClients(cluster.nodes.get(1)!.api, { timeoutMs: 3_000, token: operator.token });
    await assert.rejects(operatorClient.failpoint.set({ name: "clock.monotonic", actions: "return(drift:+50000)" }), (e: unknown) => e instanceof ConnectError && e.code === Code.PermissionDenied);
    assert.ok(Math.abs((await status()).wallShiftMs) < SLACK_MS, "the refused call changed nothing");

    const set = await cli("set", "clock.wall", "return(offset:+3600000)");
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /^node 1: clock\.wall=return\(offset:\+3600000\)$/m);
    assert.ok(Math.abs((await status()).wallShiftMs - 3_600_000) < SLACK_MS);
    const bumped = await cli("set", "clock.wall", "return(bump:-7200000)");
    assert.equal(bumped.code, 0, bumped.stderr);
    assert.match(bumped.stdout, /clock\.wall=return\(offset:-3600000\)/, "the state in force after the step");
    assert.ok(Math.abs((await status()).wallShiftMs + 3_600_000) < SLACK_MS);
    await cluster.put("k", "during", DEADLINE_MS);

    // A strobe of 10 minutes every 50 ms around the offset: both halves show up in status.
    assert.equal((await cli("set", "clock.wall", "return(offset:0 strobe:+600000,50,20000)")).code, 0);
    const seen = new Set<string>();
    await waitFor("both halves of the strobe", DEADLINE_MS, async () => {
      const shift = (await status()).wallShiftMs;
      if (Math.abs(shift) < SLACK_MS) seen.add("host");
      if (Math.abs(shift - 600_000) < SLACK_MS) seen.add("shifted");
      return seen.size === 2 ? true : undefined;
    });
    const listed = JSON.parse((await cli("list", "-o", "json")).stdout) as { failpoints: { name: string; actions: string; evaluated: string; fired: string }[] };
    const wall = listed.failpoints.find((p) => p.name === "clock.wall");
    assert.match(wall?.actions ?? "", /^return\(offset:0 strobe:\+600000,50,\d+\)$/, JSON.stringify(listed));
    assert.ok(Number(wall!.fired) > 0 && Number(wall!.fired) <= Number(wall!.evaluated), JSON.stringify(wall));

    const cleared = await cli("clear", "clock.wall");
    assert.equal(cleared.code, 0, cleared.stderr);
    assert.match(cleared.stdout, /clock\.wall cleared/);
    for (let i = 0; i < 5; i++) assert.ok(Math.abs((await status()).wallShiftMs) < SLACK_MS, "no strobe left after the clear");
    assert.equal(await cluster.get(1, "k"), "during");
  });

  test("a drift runs the node's monotonic clock fast or slow against real time, never backwards; beyond the bound it is refused", async () => {
    const endpoint = `http://${cluster.nodes.get(1)!.api}`;
    const cli = (...args: string[]) => runCli(["node", "failpoint", ...args, "--endpoint", endpoint]);
    const beyond = await cli("set", "clock.monotonic", "return(drift:+150000)");
    assert.equal(beyond.code, 2, beyond.stderr);
    assert.equal(beyond.stderr.trimEnd().split("\n").length, 1, beyond.stderr);
    assert.match(beyond.stderr, /drift \+150000 ppm is beyond the drift bound of 100000 ppm either way/);
    await assert.rejects(cluster.client(1).failpoint.set({ name: "clock.monotonic", actions: "return(drift:-100001)" }), (e: unknown) => e instanceof ConnectError && e.code === Code.InvalidArgument && /beyond the drift bound/.test(e.rawMessage));

    /** The node's monotonic rate against the test's clock over `ms` of real time. */
    let last = (await status()).monotonicUs;
    const rate = async (ms: number): Promise<number> => {
      const a = await status();
      await sleep(ms); // time must pass to measure a rate: nothing is awaited here
      const b = await status();
      assert.ok(a.monotonicUs >= last && b.monotonicUs >= a.monotonicUs, "the monotonic clock never goes back");
      last = b.monotonicUs;
      return (b.monotonicUs - a.monotonicUs) / (b.realUs - a.realUs);
    };
    assert.equal((await cli("set", "clock.monotonic", "return(drift:+100000)")).code, 0);
    const fast = await rate(3_000);
    assert.equal((await cli("set", "clock.monotonic", "return(drift:-100000)")).code, 0);
    const slow = await rate(3_000);
    assert.equal((await cli("clear", "clock.monotonic")).code, 0);
    const normal = await rate(3_000);
    // 10% either way, measured through round trips of a few ms: well clear of each other.
    assert.ok(fast > 1.05 && fast < 1.15, `fast: ${fast}`);
    assert.ok(slow > 0.85 && slow < 0.95, `slow: ${slow}`);
    assert.ok(normal > 0.97 && normal < 1.03, `cleared: ${normal}`);
    await cluster.put("k", "after", DEADLINE_MS);
    assert.equal(await cluster.get(1, "k"), "after");
  });
});
