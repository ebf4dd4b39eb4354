import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { CHANNEL_NAMES } from "../../../src/core/env/environment.ts";
import { CHANNEL_TAGS, decodeChannelPayload, encodeChannelFrame, wireSizeBytes } from "../../../src/core/wire/channel-frame.ts";
import { FrameDecoder } from "../../../src/core/wire/frame.ts";

describe("channel frames", () => {
  test("property: any channel's bytes round-trip through frame, decoder and channel split, at the wire size", () => {
    fc.assert(
      fc.property(fc.array(fc.record({ channel: fc.constantFrom(...CHANNEL_NAMES), bytes: fc.uint8Array({ maxLength: 300 }) }), { maxLength: 20 }), (messages) => {
        const frames = messages.map((m) => encodeChannelFrame(m.channel, m.bytes, 300));
        frames.forEach((frame, i) => assert.equal(frame.length, wireSizeBytes(messages[i]!.bytes.length)));
        const stream = Buffer.concat(frames);
        const decoder = new FrameDecoder(301);
        const result = decoder.push(new Uint8Array(stream));
        assert.ok(result.ok);
        const decoded = result.payloads.map((payload) => decodeChannelPayload(payload));
        assert.deepEqual(
          decoded.map((d) => (d.ok ? { channel: d.channel, bytes: Array.from(d.bytes) } : d.error)),
          messages.map((m) => ({ channel: m.channel, bytes: Array.from(m.bytes) })),
        );
      }),
    );
  });

  test("the checksum covers the channel tag", () => {
    const frame = encodeChannelFrame("raft", new Uint8Array([1, 2, 3]), 100);
    frame[8] = CHANNEL_TAGS.client;
    const result = new FrameDecoder(101).push(frame);
    assert.equal(result.ok, false);
  });

  test("an unknown tag and an empty payload are error values", () => {
    assert.equal(decodeChannelPayload(new Uint8Array([0])).ok, false);
    assert.equal(decodeChannelPayload(new Uint8Array([99, 1])).ok, false);
    assert.equal(decodeChannelPayload(new Uint8Array([])).ok, false);
  });

  test("a message above the frame limit is refused by the encoder (the transports check first)", () => {
    assert.throws(() => encodeChannelFrame("client", new Uint8Array(101), 100), /frame limit/);
  });
});
