// The net points on the raft channel (src/core/replica/raft-channel.ts, docs/FAILPOINTS.md):
// net.send's return refuses the message (counted not sent); its delay sends the same bytes later
// through the Environment's timers (the channel never waits), at most RAFT_SENDS_DELAYED_MAX at
// once, beyond which a delayed send is refused; net.receive drops a well-formed message without
// calling it malformed.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { silentLogger, type Environment, type FailpointVerdict, type ReceiveVerdict } from "../../../src/core/env/environment.ts";
import type { FailpointName } from "../../../src/core/env/failpoints.ts";
import type { Message } from "../../../src/core/raft/types.ts";
import { RAFT_SENDS_DELAYED_MAX, RaftChannel } from "../../../src/core/replica/raft-channel.ts";
import { encodeMessage } from "../../../src/core/wire/codec.ts";

function harness(verdicts: Partial<Record<FailpointName, FailpointVerdict>>) {
  const sent: Uint8Array[] = [];
  const timers: { delayMs: number; callback: () => void }[] = [];
  const delivered: Message[] = [];
  let receiver: ((from: number, bytes: Uint8Array) => ReceiveVerdict) | undefined;
  const env = {
    nodeId: 1,
    log: silentLogger,
    failpoint: (name: FailpointName) => verdicts[name],
    timers: {
      after: (delayMs: number, callback: () => void) => timers.push({ delayMs, callback }),
      cancel: () => {},
    },
    transport: {
      send: (_channel: string, _to: number, bytes: Uint8Array) => (sent.push(bytes), true),
      receive: (_channel: string, handler: (from: number, bytes: Uint8Array) => ReceiveVerdict) => (receiver = handler),
    },
  } as unknown as Environment;
  const channel = new RaftChannel(env, (message) => delivered.push(message));
  return { channel, sent, timers, delivered, receive: (from: number, bytes: Uint8Array) => receiver!(from, bytes) };
}

const heartbeat = (from: number, to: number): Message => ({ type: "heartbeat", from, to, term: 1, commit: 0, readContext: 0 });

describe("raft channel failpoints", () => {
  test("net.send return: refused and counted; nothing leaves", () => {
    const h = harness({ "net.send": { kind: "return", arg: undefined } });
    h.channel.send(heartbeat(1, 2));
    assert.deepEqual([h.sent.length, h.channel.stats.notSent, h.channel.stats.sent], [0, 1, 0]);
  });

  test("net.send delay: the same bytes leave when the timer fires, not before; bounded", () => {
    const h = harness({ "net.send": { kind: "delay", ms: 50 } });
    h.channel.send(heartbeat(1, 2));
    assert.equal(h.sent.length, 0);
    assert.deepEqual(h.timers.map((t) => t.delayMs), [50]);
    h.timers.shift()!.callback();
    assert.deepEqual(h.sent, [encodeMessage(heartbeat(1, 2))]);
    assert.equal(h.channel.stats.sent, 1);
    for (let i = 0; i < RAFT_SENDS_DELAYED_MAX + 3; i++) h.channel.send(heartbeat(1, 2));
    assert.equal(h.timers.length, RAFT_SENDS_DELAYED_MAX, "at most the bound waits");
    assert.equal(h.channel.stats.notSent, 3, "beyond it, refused");
  });

  test("net.receive: a well-formed message is dropped as lost, not as malformed", () => {
    const h = harness({ "net.receive": { kind: "return", arg: undefined } });
    assert.equal(h.receive(2, encodeMessage(heartbeat(2, 1))), "ok");
    assert.deepEqual([h.delivered.length, h.channel.stats.received, h.channel.stats.malformed], [0, 1, 0]);
    const off = harness({});
    off.receive(2, encodeMessage(heartbeat(2, 1)));
    assert.equal(off.delivered.length, 1);
  });
});
