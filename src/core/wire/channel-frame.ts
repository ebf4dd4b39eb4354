// The peer connection's frames after the hello: every frame carries one channel's message,
//   u32 length | u32 CRC32C | u8 channel tag | the channel's bytes
// (frame.ts's framing, with the tag as the payload's first byte, covered by the checksum).
// The hello itself stays a bare frame (codec.ts): the wire version it carries says which
// layout follows, so a peer of another version is refused before any channel frame.
//
// The frame limit bounds a channel's bytes (what Transport.send is handed), in both worlds:
// the TCP transport refuses a larger message, and so does the simulated network.
// wireSizeBytes is what one message costs on a link (queue bounds, simulated bandwidth).

import { assert } from "../assert.ts";
import { CHANNEL_NAMES, type ChannelName } from "../env/environment.ts";
import { crc32c } from "../storage/crc32c.ts";
import { FRAME_HEADER_BYTES } from "./frame.ts";

export const CHANNEL_TAG_BYTES = 1;

/** Stable numbers: they are on the wire (a change needs a WIRE_VERSION bump). */
export const CHANNEL_TAGS: Readonly<Record<ChannelName, number>> = { raft: 1, client: 2, agent: 3 };

function channelOfTag(tag: number): ChannelName | undefined {
  switch (tag) {
    case 1:
      return "raft";
    case 2:
      return "client";
    case 3:
      return "agent";
    default:
      return undefined;
  }
}

/** Bytes one message of `payloadBytes` channel bytes occupies on a link: header, tag, bytes. */
export function wireSizeBytes(payloadBytes: number): number {
  assert(Number.isSafeInteger(payloadBytes) && payloadBytes >= 0, "a payload size is a non-negative integer");
  return FRAME_HEADER_BYTES + CHANNEL_TAG_BYTES + payloadBytes;
}

/** The whole frame for one channel message (one allocation); the caller checked the frame limit. */
export function encodeChannelFrame(channel: ChannelName, bytes: Uint8Array, maxFrameBytes: number): Uint8Array {
  assert(bytes.length <= maxFrameBytes, () => `a ${channel} message of ${bytes.length} bytes exceeds the frame limit ${maxFrameBytes}`);
  const payloadLength = CHANNEL_TAG_BYTES + bytes.length;
  const frame = new Uint8Array(FRAME_HEADER_BYTES + payloadLength);
  frame[FRAME_HEADER_BYTES] = CHANNEL_TAGS[channel];
  frame.set(bytes, FRAME_HEADER_BYTES + CHANNEL_TAG_BYTES);
  const view = new DataView(frame.buffer);
  view.setUint32(0, payloadLength, false);
  view.setUint32(4, crc32c(frame, FRAME_HEADER_BYTES, frame.length), false);
  assert(frame.length === wireSizeBytes(bytes.length), "channel frame size mismatch");
  return frame;
}

export type ChannelPayload =
  | { readonly ok: true; readonly channel: ChannelName; readonly bytes: Uint8Array }
  | { readonly ok: false; readonly error: string };

/** Splits a frame payload (FrameDecoder's output) into its channel and bytes; an unknown tag is an error value. */
export function decodeChannelPayload(payload: Uint8Array): ChannelPayload {
  if (payload.length < CHANNEL_TAG_BYTES) return { ok: false, error: "an empty frame after the hello" };
  const channel = channelOfTag(payload[0]!);
  if (channel === undefined) return { ok: false, error: `unknown channel tag ${payload[0]}` };
  return { ok: true, channel, bytes: payload.subarray(CHANNEL_TAG_BYTES) };
}

// Every channel name has a tag that maps back to it (checked once, at load).
for (const name of CHANNEL_NAMES) assert(channelOfTag(CHANNEL_TAGS[name]) === name, () => `channel ${name} has no tag that maps back to it`);
