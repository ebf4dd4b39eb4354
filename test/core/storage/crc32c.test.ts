import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { crc32c } from "../../../src/core/storage/crc32c.ts";

/** The textbook bitwise CRC32C, to check the sliced implementation against. */
function reference(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? 0x82f63b78 ^ (crc >>> 1) : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

describe("crc32c", () => {
  test("check value of \"123456789\" is 0xE3069283", () => {
    assert.equal(crc32c(new TextEncoder().encode("123456789")), 0xe3069283);
  });

  test("RFC 3720 appendix B.4 test patterns", () => {
    assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa, "32 bytes of zeros");
    assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43, "32 bytes of ones");
    assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e, "32 incrementing bytes");
    assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c, "32 decrementing bytes");
  });

  test("empty input is 0", () => {
    assert.equal(crc32c(new Uint8Array(0)), 0);
  });

  test("matches the bitwise reference on random inputs, any range, and continues across splits", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.nat(), (data, a, b) => {
        const start = data.length === 0 ? 0 : a % (data.length + 1);
        const end = start + (b % (data.length - start + 1));
        assert.equal(crc32c(data, start, end), reference(data.subarray(start, end)));
        const middle = Math.floor((start + end) / 2);
        assert.equal(crc32c(data, middle, end, crc32c(data, start, middle)), crc32c(data, start, end));
      }),
      { numRuns: 300 },
    );
  });
});
