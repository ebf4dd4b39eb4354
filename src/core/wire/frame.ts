// Framing of the peer byte stream: every payload travels as
//   u32 big-endian payload length | u32 big-endian CRC32C(payload) | payload
// The length is checked against a limit before any byte of the payload is buffered,
// and the checksum catches corruption that TCP's weak checksum lets through. A bad
// frame is reported as an error value; the connection that carried it is closed.
import { assert } from "../assert.ts";
import { crc32c } from "../storage/crc32c.ts";

export const FRAME_HEADER_BYTES = 8;

/** Default bound on one frame's payload: large enough for a snapshot of a full kv map. */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024;

export function encodeFrame(payload: Uint8Array, maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES): Uint8Array {
  assert(payload.length <= maxFrameBytes, () => `frame payload ${payload.length} exceeds ${maxFrameBytes}`);
  const frame = new Uint8Array(FRAME_HEADER_BYTES + payload.length);
  const view = new DataView(frame.buffer);
  view.setUint32(0, payload.length, false);
  view.setUint32(4, crc32c(payload), false);
  frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

export type FrameResult = { readonly ok: true; readonly payloads: Uint8Array[] } | { readonly ok: false; readonly error: string };

/** Reassembles frames from stream chunks of any size. After an error it must not be used again. */
export class FrameDecoder {
  private chunks: Uint8Array[] = [];
  private bufferedBytes = 0;
  private failed = false;

  constructor(private maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES) {
    assert(maxFrameBytes > 0 && maxFrameBytes <= 0xffff_ffff, "maxFrameBytes out of range");
  }

  /** The bound on one frame's payload now in force. */
  get limitBytes(): number {
    return this.maxFrameBytes;
  }

  /**
   * Changes the frame limit: a connection starts with a small one until its peer's hello is
   * verified (src/shell/os/tcp-transport.ts). Frames still buffered are judged by the new limit.
   */
  setLimit(maxFrameBytes: number): void {
    assert(!this.failed, "FrameDecoder used after an error");
    assert(Number.isSafeInteger(maxFrameBytes) && maxFrameBytes > 0 && maxFrameBytes <= 0xffff_ffff, () => `frame limit ${maxFrameBytes} out of range`);
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Bytes held for a frame not yet complete. */
  get pendingBytes(): number {
    return this.bufferedBytes;
  }

  /** Appends `chunk` and returns the complete frames, at most `payloadsMax` (the rest stays buffered). */
  push(chunk: Uint8Array, payloadsMax: number = Number.MAX_SAFE_INTEGER): FrameResult {
    assert(!this.failed, "FrameDecoder used after an error");
    assert(payloadsMax >= 1, "payloadsMax must be at least 1");
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.bufferedBytes += chunk.length;
    }
    const payloads: Uint8Array[] = [];
    while (this.bufferedBytes >= FRAME_HEADER_BYTES && payloads.length < payloadsMax) {
      const header = this.peek(FRAME_HEADER_BYTES);
      const view = new DataView(header.buffer, header.byteOffset, FRAME_HEADER_BYTES);
      const length = view.getUint32(0, false);
      const checksum = view.getUint32(4, false);
      if (length > this.maxFrameBytes) {
        this.failed = true;
        return { ok: false, error: `frame length ${length} exceeds limit ${this.maxFrameBytes}` };
      }
      if (this.bufferedBytes < FRAME_HEADER_BYTES + length) break;
      const frame = this.take(FRAME_HEADER_BYTES + length);
      const payload = frame.subarray(FRAME_HEADER_BYTES);
      const actual = crc32c(payload);
      if (actual !== checksum) {
        this.failed = true;
        return { ok: false, error: `frame checksum mismatch: header says ${checksum}, payload has ${actual}` };
      }
      payloads.push(payload);
    }
    return { ok: true, payloads };
  }

  /** The first `bytes` buffered bytes, without consuming them. */
  private peek(bytes: number): Uint8Array {
    const first = this.chunks[0]!;
    if (first.length >= bytes) return first.subarray(0, bytes);
    this.coalesce();
    return this.chunks[0]!.subarray(0, bytes);
  }

  private take(bytes: number): Uint8Array {
    assert(bytes <= this.bufferedBytes, "take beyond buffered bytes");
    if (this.chunks[0]!.length < bytes) this.coalesce();
    const first = this.chunks[0]!;
    const out = first.subarray(0, bytes);
    if (first.length === bytes) this.chunks.shift();
    else this.chunks[0] = first.subarray(bytes);
    this.bufferedBytes -= bytes;
    return out;
  }

  private coalesce(): void {
    const merged = new Uint8Array(this.bufferedBytes);
    let offset = 0;
    for (const chunk of this.chunks) {
      merged.set(chunk, offset);
      offset += chunk.length;
    }
    this.chunks = [merged];
  }
}
