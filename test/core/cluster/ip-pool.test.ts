import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { IpPool, formatIpv4, formatMac, parseCidr, parseIpv4, validatePoolSpec } from "../../../src/core/cluster/ip-pool.ts";

describe("ip pools", () => {
  test("IPv4 text and integers round-trip over the whole space; malformed text is refused", () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 4_294_967_295 }), (a) => assert.equal(parseIpv4(formatIpv4(a)), a)));
    for (const bad of ["", "1.2.3", "1.2.3.4.5", "256.0.0.1", "01.2.3.4", "1.2.3.-4", " 1.2.3.4", "1.2.3.4 ", "a.b.c.d", "1..3.4"]) assert.equal(parseIpv4(bad), undefined, bad);
    assert.equal(parseIpv4("255.255.255.255"), 4_294_967_295);
  });

  test("CIDR: prefix range, host bits, syntax", () => {
    assert.deepEqual(parseCidr("10.0.0.0/24"), { network: parseIpv4("10.0.0.0"), prefix: 24, size: 256 });
    assert.match(String(parseCidr("10.0.0.1/24")), /host bits set .*\(network is 10\.0\.0\.0\/24\)/);
    assert.match(String(parseCidr("10.0.0.0/31")), /prefix must be/);
    assert.match(String(parseCidr("10.0.0.0/7")), /prefix must be/);
    assert.match(String(parseCidr("10.0.0.0")), /must be A\.B\.C\.D\/P/);
    assert.match(String(parseCidr("10.0.0.0/+8")), /bad prefix/);
    assert.equal(validatePoolSpec({ name: "p", cidr: "10.0.0.0/24", gateway: "10.0.0.0", reserved: [] }, "pool"), "pool.gateway: 10.0.0.0 is not a host address of 10.0.0.0/24");
  });

  test("hands out the lowest free address, never network, broadcast, gateway or reserved, and never twice", () => {
    const pool = new IpPool({ name: "p", cidr: "10.0.0.0/29", gateway: "10.0.0.1", reserved: ["10.0.0.3"] }, 7);
    const handed: string[] = [];
    for (let vm = 1; ; vm++) {
      const a = pool.lowestFree();
      if (a === undefined) break;
      pool.hold(a, vm);
      handed.push(formatIpv4(a));
    }
    assert.deepEqual(handed, ["10.0.0.2", "10.0.0.4", "10.0.0.5", "10.0.0.6"]);
    pool.release(parseIpv4("10.0.0.5")!, 3);
    assert.equal(formatIpv4(pool.lowestFree()!), "10.0.0.5");
    assert.throws(() => pool.hold(parseIpv4("10.0.0.4")!, 9), /already held/);
    assert.throws(() => pool.hold(parseIpv4("10.0.0.7")!, 9), /not a host address/);
  });

  test("MACs are locally administered and unique per (pool number, address)", () => {
    assert.equal(formatMac(7, parseIpv4("10.0.0.2")!), "02:07:0a:00:00:02");
    fc.assert(
      fc.property(fc.nat(255), fc.nat(255), fc.integer({ min: 0, max: 4_294_967_295 }), fc.integer({ min: 0, max: 4_294_967_295 }), (p, q, a, b) => {
        assert.equal(formatMac(p, a) === formatMac(q, b), p === q && a === b);
      }),
    );
  });
});
