import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { leaseTimingOf, parseNodeVmFlags } from "../../../src/shell/cli/node-vm-flags.ts";
import { UsageError } from "../../../src/shell/cli/usage-error.ts";
import { controllerDeclareDownAfterUs, validateLeaseTiming } from "../../../src/core/agent/lease-timing.ts";

test("node VM flags: none runs no VMs, and VM-only flags without a backend are named", () => {
  assert.equal(parseNodeVmFlags({}, "/d"), undefined);
  assert.equal(parseNodeVmFlags({ vmBackend: "none" }, "/d"), undefined);
  assert.throws(() => parseNodeVmFlags({ leaseMs: "5000" }, "/d"), (e: unknown) => e instanceof UsageError && /^--lease-ms: only with --vm-backend/.test(e.message));
});

test("node VM flags: defaults, labels sorted, bad values named", () => {
  const flags = parseNodeVmFlags({ vmBackend: "process", label: ["zz=1", "aa=2"], zone: "z1" }, "/d");
  assert.ok(flags !== undefined);
  assert.equal(flags.vmsDir, "/d/vms");
  assert.equal(flags.leaseMs, 10_000);
  assert.equal(flags.cpuOvercommit, 4);
  assert.deepEqual(flags.labels, [{ key: "aa", value: "2" }, { key: "zz", value: "1" }]);
  assert.deepEqual(flags.topology, { datacenter: "local", zone: "z1", rack: "local" });
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ vmBackend: "docker" }, /^--vm-backend:/],
    [{ vmBackend: "qemu", leaseMs: "10" }, /^--lease-ms: at least 1000/],
    [{ vmBackend: "qemu", leaseMs: "1e4" }, /^--lease-ms: "1e4" is not a whole number/],
    [{ vmBackend: "qemu", reserveMemoryMib: "-1" }, /^--reserve-memory-mib:/],
    [{ vmBackend: "qemu", zone: "Zone A" }, /^--zone:/],
    [{ vmBackend: "qemu", label: ["nokey"] }, /^--label:/],
    [{ vmBackend: "qemu", label: ["a=1", "a=2"] }, /^--label: key "a" given twice/],
    [{ vmBackend: "qemu", cpuOvercommit: "0" }, /^--cpu-overcommit: at least 1/],
    [{ vmBackend: "qemu", cpuOvercommit: "11" }, /^--cpu-overcommit: 11 is more than 10/],
  ];
  for (const [input, message] of bad) assert.throws(() => parseNodeVmFlags(input, "/d"), (e: unknown) => e instanceof UsageError && message.test(e.message), JSON.stringify(input));
});

test("node VM flags: every lease from 1 s to an hour gives a valid timing, declared down no sooner than the lease", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1_000, max: 3_600_000 }), (leaseMs) => {
      const timing = leaseTimingOf(leaseMs);
      validateLeaseTiming(timing);
      assert.ok(controllerDeclareDownAfterUs(timing) >= timing.leaseDurationUs);
      assert.equal(timing.leaseDurationUs, leaseMs * 1_000);
    }),
  );
});
