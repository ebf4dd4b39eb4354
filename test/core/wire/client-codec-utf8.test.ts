// The client channel refuses keys and values that are not valid UTF-8, and the request path's
// validation refuses what no UTF-8 encoding can carry (lone surrogates) and over-long keys on
// reads as on writes: the same rules as the Connect services (test/shell/api/invalid-utf8-and-limits.test.ts).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { decodeClientFrame, encodeClientFrame } from "../../../src/core/wire/client-codec.ts";
import { validateRequest, type ClientRequest } from "../../../src/core/replica/request-types.ts";
import { KV_KEY_BYTES_MAX, validateKvCommand } from "../../../src/core/replica/kv-state-machine.ts";

/** A request frame for put("x?", "A") whose key's second byte is replaced by `byte`. */
function putFrameWithKeyByte(byte: number): Uint8Array {
  const bytes = encodeClientFrame({ kind: "request", origin: 7, requestId: 1, hops: 0, request: { kind: "put", key: "xy", value: "A" } });
  const at = bytes.indexOf(0x79); // "y"
  assert.ok(at > 0);
  const copy = Uint8Array.from(bytes);
  copy[at] = byte;
  return copy;
}

describe("client channel: UTF-8 and key limits", () => {
  test("x\\xff and x\\xfe are refused, not decoded to the same key", () => {
    for (const byte of [0xff, 0xfe]) {
      const decoded = decodeClientFrame(putFrameWithKeyByte(byte));
      assert.equal(decoded.ok, false);
      if (!decoded.ok) assert.match(decoded.error, /UTF-8/);
    }
    assert.equal(decodeClientFrame(putFrameWithKeyByte(0x7a)).ok, true, "a valid byte decodes");
  });

  test("lone surrogates are refused in keys, values and expected values, and a genuine U+FFFD is a key like any other", () => {
    const invalid: ClientRequest[] = [
      { kind: "put", key: "x\ud800", value: "A" },
      { kind: "put", key: "x\udfff", value: "B" },
      { kind: "put", key: "k", value: "\ud800" },
      { kind: "cas", key: "k", expected: "a\udc00b", value: "" },
      { kind: "get", key: "\ud83d" },
      { kind: "get-local", key: "x\ude00" },
    ];
    for (const request of invalid) assert.match(validateRequest(request) ?? "", /not valid UTF-8/, JSON.stringify(request));
    assert.equal(validateRequest({ kind: "put", key: "x\uFFFD", value: "\u{1F600}" }), undefined);
    assert.equal(validateKvCommand({ op: "put", key: "\u{1F600}".repeat(KV_KEY_BYTES_MAX / 4), value: "" }), undefined, "a surrogate pair is 4 UTF-8 bytes");
    assert.match(validateKvCommand({ op: "put", key: "\u{1F600}".repeat(KV_KEY_BYTES_MAX / 4) + "a", value: "" }) ?? "", /1025 bytes/);
  });

  test("a get of an over-long key is refused like a put", () => {
    const key = "k".repeat(KV_KEY_BYTES_MAX + 1);
    const put = validateRequest({ kind: "put", key, value: "v" });
    assert.match(put ?? "", /exceeds the limit/);
    assert.equal(validateRequest({ kind: "get", key }), put);
    assert.equal(validateRequest({ kind: "get-local", key }), put);
    assert.equal(validateRequest({ kind: "get", key: "k".repeat(KV_KEY_BYTES_MAX) }), undefined);
  });
});
