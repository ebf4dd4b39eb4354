// The QEMU command line, flag by flag: the machine, accel, memory and vCPUs from the spec, the
// console on stdio with no monitor, the QMP socket in the VM's directory, the kernel command
// line (the VM's id, tsc_early_khz under TCG only, root= for a root disk), loopback-only port
// forwards and MACs from IP assignments; and each unsafe input rejected naming its field.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { VmInstanceSpec } from "../../../../src/core/agent/vm-backend.ts";
import type { NetworkInterfaceSpec } from "../../../../src/core/cluster/types.ts";
import { buildQemuCommand, type QemuCommandInput } from "../../../../src/shell/vm/qemu/qemu-command.ts";
import { vmSpec } from "../../../support/cluster-view-fixture.ts";

function input(overrides: { interfaces?: NetworkInterfaceSpec[]; kernelCmdline?: string; accel?: "kvm" | "tcg"; rootDisk?: string; vmDir?: string; kernel?: string; addresses?: VmInstanceSpec["addresses"] } = {}): QemuCommandInput {
  const spec = { ...vmSpec({ id: 7, resources: { vcpus: 2, memoryMib: 256, diskGib: 1 } }), kernelCmdline: overrides.kernelCmdline ?? "", interfaces: overrides.interfaces ?? [] };
  return {
    instance: { vmId: 7, spec, addresses: overrides.addresses ?? [] },
    accel: overrides.accel ?? "tcg",
    tscKhz: 2_596_120,
    image: { kernelPath: overrides.kernel ?? "/img/vmlinuz", initrdPath: "/img/initrd.img", rootDiskPath: overrides.rootDisk ?? "" },
    vmDir: overrides.vmDir ?? "/var/lib/blixard/vms/7",
  };
}

function argvOf(value: QemuCommandInput): readonly string[] {
  const command = buildQemuCommand(value);
  assert.ok("argv" in command, `expected an argv, got ${JSON.stringify(command)}`);
  return command.argv;
}

function errorOf(value: QemuCommandInput): string {
  const command = buildQemuCommand(value);
  assert.ok("error" in command, `expected an error, got ${JSON.stringify(command)}`);
  return command.error;
}

/** The value after each occurrence of `flag`. */
function values(argv: readonly string[], flag: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length - 1; i++) if (argv[i] === flag) out.push(argv[i + 1]!);
  return out;
}

describe("qemu command line", () => {
  test("a TCG instance: microvm, accel, memory, vCPUs, no defaults, console on stdio, QMP socket, kernel and initrd", () => {
    const argv = argvOf(input());
    assert.equal(argv[0], "qemu-system-x86_64");
    assert.deepEqual(values(argv, "-M"), ["microvm,isa-serial=on,acpi=on,rtc=on"]);
    assert.deepEqual(values(argv, "-accel"), ["tcg"]);
    assert.deepEqual(values(argv, "-cpu"), []);
    assert.deepEqual(values(argv, "-m"), ["256"]);
    assert.deepEqual(values(argv, "-smp"), ["2"]);
    for (const flag of ["-nodefaults", "-no-user-config", "-no-reboot"]) assert.ok(argv.includes(flag), flag);
    assert.deepEqual(values(argv, "-display"), ["none"]);
    assert.deepEqual(values(argv, "-sandbox"), ["on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"]);
    assert.deepEqual(values(argv, "-chardev"), ["stdio,id=console,signal=off"]);
    assert.deepEqual(values(argv, "-serial"), ["chardev:console"]);
    assert.ok(!argv.includes("-monitor") && !argv.includes("-nographic"), "no monitor on stdio");
    assert.deepEqual(values(argv, "-qmp"), ["unix:/var/lib/blixard/vms/7/qmp.sock,server=on,wait=off"]);
    assert.deepEqual(values(argv, "-kernel"), ["/img/vmlinuz"]);
    assert.deepEqual(values(argv, "-initrd"), ["/img/initrd.img"]);
    assert.deepEqual(values(argv, "-append"), ["console=ttyS0 quiet panic=-1 pci=off blixard.vm=7 tsc_early_khz=2596120"]);
    assert.deepEqual(values(argv, "-drive"), []);
    assert.deepEqual(values(argv, "-netdev"), []);
  });

  test("KVM: -cpu host and no tsc_early_khz; the spec's kernel command line comes last", () => {
    const argv = argvOf(input({ accel: "kvm", kernelCmdline: "  init=/sbin/init loglevel=7 " }));
    assert.deepEqual(values(argv, "-accel"), ["kvm"]);
    assert.deepEqual(values(argv, "-cpu"), ["host"]);
    assert.deepEqual(values(argv, "-append"), ["console=ttyS0 quiet panic=-1 pci=off blixard.vm=7 init=/sbin/init loglevel=7"]);
  });

  test("a root disk is virtio-blk on the microvm bus, raw unless .qcow2, with root=/dev/vda unless the spec says root=", () => {
    const argv = argvOf(input({ rootDisk: "/disks/root.img" }));
    assert.deepEqual(values(argv, "-drive"), ["file=/disks/root.img,if=none,id=root,format=raw"]);
    assert.deepEqual(values(argv, "-device"), ["virtio-blk-device,drive=root"]);
    assert.match(values(argv, "-append")[0]!, / root=\/dev\/vda$/);
    const own = argvOf(input({ rootDisk: "/disks/root.qcow2", kernelCmdline: "root=/dev/vda1 rw" }));
    assert.deepEqual(values(own, "-drive"), ["file=/disks/root.qcow2,if=none,id=root,format=qcow2"]);
    assert.match(values(own, "-append")[0]!, /tsc_early_khz=2596120 root=\/dev\/vda1 rw$/);
  });

  test("user networking per interface: loopback-only forwards, MACs from the interfaces that have an IP pool", () => {
    const argv = argvOf(
      input({
        interfaces: [
          { mode: "user", ipPool: "", portForwards: [{ protocol: "tcp", hostPort: 18080, guestPort: 80 }, { protocol: "udp", hostPort: 15353, guestPort: 53 }] },
          { mode: "user", ipPool: "pool-a", portForwards: [] },
        ],
        addresses: [{ pool: "pool-a", address: "10.0.0.5", mac: "52:54:00:AB:00:05" }],
      }),
    );
    assert.deepEqual(values(argv, "-netdev"), ["user,id=n0,hostfwd=tcp:127.0.0.1:18080-:80,hostfwd=udp:127.0.0.1:15353-:53", "user,id=n1"]);
    assert.deepEqual(values(argv, "-device"), ["virtio-net-device,netdev=n0", "virtio-net-device,netdev=n1,mac=52:54:00:ab:00:05"]);
  });

  test("unsafe input is rejected, naming the field", () => {
    assert.match(errorOf(input({ kernel: "/img/vm,linuz" })), /^image\.kernel: .*comma/);
    assert.match(errorOf(input({ rootDisk: "/d/root.img,file=/etc/shadow" })), /^image\.rootDisk: .*comma/);
    assert.match(errorOf(input({ vmDir: "/vms/a,b" })), /^vmDir: .*comma/);
    assert.match(errorOf(input({ vmDir: "/vms/a\nb" })), /^vmDir: .*newline/);
    assert.match(errorOf(input({ kernel: "relative/vmlinuz" })), /^image\.kernel: .*not an absolute path/);
    assert.match(errorOf(input({ kernelCmdline: "quiet\ninit=/evil" })), /^spec\.kernelCmdline: .*newline/);
    assert.match(errorOf(input({ kernelCmdline: "x".repeat(2_100) })), /^spec\.kernelCmdline: .*over the kernel's 2048/);
    assert.match(errorOf(input({ vmDir: `/${"d".repeat(120)}` })), /^vmDir: the QMP socket path .* too long/);
    const forward = (hostPort: number) => [{ mode: "user" as const, ipPool: "", portForwards: [{ protocol: "tcp" as const, hostPort, guestPort: 80 }] }];
    assert.match(errorOf(input({ interfaces: forward(0) })), /^spec\.interfaces\[0\]\.portForwards\[0\]\.hostPort: 0 is not a port/);
    assert.match(errorOf(input({ interfaces: forward(70_000) })), /hostPort: 70000/);
    const twice = [{ mode: "user" as const, ipPool: "", portForwards: [{ protocol: "tcp" as const, hostPort: 9000, guestPort: 80 }, { protocol: "tcp" as const, hostPort: 9000, guestPort: 81 }] }];
    assert.match(errorOf(input({ interfaces: twice })), /portForwards\[1\]: host port tcp 9000 is forwarded twice/);
    const badMac = input({ interfaces: [{ mode: "user", ipPool: "p", portForwards: [] }], addresses: [{ pool: "p", address: "10.0.0.2", mac: "52:54:00:zz:00:01,x=y" }] });
    assert.match(errorOf(badMac), /^addresses\[0\]\.mac: /);
    assert.match(errorOf({ ...input(), tscKhz: 0 }), /^tscKhz: 0 /);
    assert.doesNotThrow(() => argvOf({ ...input({ accel: "kvm" }), tscKhz: 0 }), "the TSC frequency matters under TCG only");
  });
});
