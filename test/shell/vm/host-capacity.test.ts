// The node's capacity from the host, less the reserve: whole units rounded down, never negative.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { capacityFromHost, defaultHostReserve, hostCapacity, readHostResources } from "../../../src/shell/vm/host-capacity.ts";

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

describe("host capacity", () => {
  test("examples: rounded down to whole MiB and GiB, less the reserve", () => {
    const host = { cpuCount: 8, memoryBytes: 16 * GIB + MIB - 1, diskFreeBytes: 100 * GIB + GIB - 1 };
    assert.deepEqual(capacityFromHost(host, { vcpus: 1, memoryMib: 512, diskGib: 2 }), { vcpus: 7, memoryMib: 16 * 1024 - 512, diskGib: 98 });
    assert.deepEqual(capacityFromHost(host, { vcpus: 0, memoryMib: 0, diskGib: 0 }), { vcpus: 8, memoryMib: 16 * 1024, diskGib: 100 });
  });

  test("a reserve bigger than the host leaves zero, never a negative", () => {
    assert.deepEqual(capacityFromHost({ cpuCount: 2, memoryBytes: 256 * MIB, diskFreeBytes: GIB }, { vcpus: 4, memoryMib: 512, diskGib: 2 }), { vcpus: 0, memoryMib: 0, diskGib: 0 });
  });

  test("property: capacity + reserve covers the host's whole units exactly, or capacity is zero", () => {
    const resources = fc.record({ cpuCount: fc.nat(1_024), memoryBytes: fc.nat(2 ** 45), diskFreeBytes: fc.nat(2 ** 50) });
    const reserve = fc.record({ vcpus: fc.nat(64), memoryMib: fc.nat(1 << 20), diskGib: fc.nat(1 << 12) });
    fc.assert(
      fc.property(resources, reserve, (host, keep) => {
        const capacity = capacityFromHost(host, keep);
        const wholeMib = Math.floor(host.memoryBytes / MIB);
        const wholeGib = Math.floor(host.diskFreeBytes / GIB);
        for (const value of Object.values(capacity)) assert.ok(Number.isSafeInteger(value) && value >= 0);
        assert.equal(capacity.vcpus, host.cpuCount >= keep.vcpus ? host.cpuCount - keep.vcpus : 0);
        assert.equal(capacity.memoryMib, wholeMib >= keep.memoryMib ? wholeMib - keep.memoryMib : 0);
        assert.equal(capacity.diskGib, wholeGib >= keep.diskGib ? wholeGib - keep.diskGib : 0);
      }),
    );
  });

  test("bad inputs are programmer errors", () => {
    assert.throws(() => capacityFromHost({ cpuCount: -1, memoryBytes: 0, diskFreeBytes: 0 }, defaultHostReserve), /cpuCount/);
    assert.throws(() => capacityFromHost({ cpuCount: 1, memoryBytes: 0.5, diskFreeBytes: 0 }, defaultHostReserve), /memoryBytes/);
    assert.throws(() => capacityFromHost({ cpuCount: 1, memoryBytes: 0, diskFreeBytes: 0 }, { vcpus: 0, memoryMib: -1, diskGib: 0 }), /memoryMib/);
  });

  test("reads this host", () => {
    const dir = mkdtempSync(join(tmpdir(), "bcap-"));
    try {
      const host = readHostResources(dir);
      assert.equal(host.cpuCount, cpus().length);
      assert.ok(host.memoryBytes > 0 && host.diskFreeBytes >= 0);
      const capacity = hostCapacity(dir, { vcpus: 0, memoryMib: 0, diskGib: 0 });
      assert.equal(capacity.vcpus, cpus().length);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
