import { test } from "node:test";
import assert from "node:assert/strict";
import { Code, ConnectError, type Transport } from "@connectrpc/connect";
import { connectionRefused, createFailoverTransport } from "../../../src/shell/api/failover-transport.ts";

const refused = (): ConnectError => new ConnectError("connect ECONNREFUSED 127.0.0.1:1", Code.Unavailable, undefined, undefined, Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" }));

/** A transport whose unary answers `answer` (or throws it), counting calls. */
function fake(answer: unknown): Transport & { calls: number } {
  const transport = {
    calls: 0,
    unary: async () => {
      transport.calls += 1;
      if (answer instanceof Error) throw answer;
      return answer;
    },
    stream: async (_m: unknown, _s: unknown, _t: unknown, _h: unknown, input: AsyncIterable<unknown>) => {
      transport.calls += 1;
      const seen: unknown[] = [];
      for await (const message of input) seen.push(message);
      if (answer instanceof Error) throw answer;
      return { seen };
    },
  };
  return transport as unknown as Transport & { calls: number };
}

const call = (transport: Transport): Promise<unknown> => transport.unary(undefined as never, undefined, undefined, undefined, {} as never);

test("failover: a refused connection moves on to the next endpoint, and the one that answered is tried first next time", async () => {
  const first = fake(refused());
  const second = fake("ok-2");
  const transport = createFailoverTransport([first, second]);
  assert.equal(await call(transport), "ok-2");
  assert.equal(await call(transport), "ok-2");
  assert.deepEqual([first.calls, second.calls], [1, 2], "the refusing endpoint is not asked again while the other answers");
});

test("failover: any other failure is the caller's (it may have been applied): no second endpoint is tried", async () => {
  const timedOut = new ConnectError("the operation timed out", Code.DeadlineExceeded);
  const reset = new ConnectError("read ECONNRESET", Code.Unavailable, undefined, undefined, Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }));
  for (const failure of [timedOut, reset]) {
    const first = fake(failure);
    const second = fake("ok-2");
    await assert.rejects(call(createFailoverTransport([first, second])), (error: unknown) => error === failure);
    assert.equal(second.calls, 0, `${failure.rawMessage}: not retried elsewhere`);
  }
  assert.equal(connectionRefused(reset), false);
  assert.equal(connectionRefused(refused()), true);
});

test("failover: every endpoint refusing gives the last refusal; a stream's message is replayed to the next endpoint", async () => {
  const transport = createFailoverTransport([fake(refused()), fake(refused())]);
  await assert.rejects(call(transport), (error: unknown) => connectionRefused(error));
  const streaming = createFailoverTransport([fake(refused()), fake("ok")]);
  async function* one(): AsyncIterable<unknown> {
    yield { from: 7 };
  }
  const answer = (await streaming.stream(undefined as never, undefined, undefined, undefined, one() as never)) as unknown as { seen: unknown[] };
  assert.deepEqual(answer.seen, [{ from: 7 }]);
});
