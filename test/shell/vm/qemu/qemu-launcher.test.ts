// The qemu launcher: "default" resolves to the node's image directory, a missing image file is
// named (with the build command for the default image), the plan stops gracefully by QMP
// powerdown plus the console line and serves QMP in the VM's directory, the description names
// the accel and its reason; detectQemu finds a real QEMU and reports a missing one.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { VmInstanceSpec } from "../../../../src/core/agent/vm-backend.ts";
import type { VmImage } from "../../../../src/core/cluster/types.ts";
import { createDetectedQemuLauncher, createQemuLauncher, detectQemu } from "../../../../src/shell/vm/qemu/qemu-launcher.ts";
import { GUEST_LINES } from "../../../../src/shell/vm/launch-plan.ts";
import { vmSpec } from "../../../support/cluster-view-fixture.ts";

function instance(image: VmImage): VmInstanceSpec {
  return { vmId: 12, spec: { ...vmSpec({ id: 12, resources: { vcpus: 1, memoryMib: 128, diskGib: 1 } }), image }, addresses: [] };
}

describe("qemu launcher", () => {
  let dir: string;
  let imageDir: string;
  let vmDir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "blixard-launcher-"));
    imageDir = join(dir, "image");
    vmDir = join(dir, "vms", "12");
    mkdirSync(imageDir);
    mkdirSync(vmDir, { recursive: true });
    writeFileSync(join(imageDir, "vmlinuz"), "k");
    writeFileSync(join(imageDir, "initrd.img"), "i");
    writeFileSync(join(dir, "root.img"), "r");
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const tcg = () => createQemuLauncher({ accel: { accel: "tcg", reason: "tcg: /dev/kvm absent" }, tscKhz: 2_596_120, imageDir });

  test("the default image resolves to the image directory; QMP powerdown and the console line stop it", () => {
    const launcher = tcg();
    assert.equal(launcher.kind, "qemu");
    assert.equal(launcher.description, "qemu (tcg: /dev/kvm absent)");
    const plan = launcher.plan(instance({ kernel: "default", initrd: "default", rootDisk: "" }), vmDir);
    assert.ok("argv" in plan, JSON.stringify(plan));
    assert.equal(plan.argv[plan.argv.indexOf("-kernel") + 1], join(imageDir, "vmlinuz"));
    assert.equal(plan.argv[plan.argv.indexOf("-initrd") + 1], join(imageDir, "initrd.img"));
    assert.equal(plan.argv[plan.argv.indexOf("-accel") + 1], "tcg");
    assert.match(plan.argv[plan.argv.indexOf("-append") + 1]!, /blixard\.vm=12 tsc_early_khz=2596120/);
    assert.deepEqual(plan.gracefulStop, { kind: "qmp-powerdown", consoleLine: GUEST_LINES.poweroff });
    assert.equal(plan.qmpSocket, join(vmDir, "qmp.sock"));
    assert.deepEqual(plan.env, {});
    const own = launcher.plan(instance({ kernel: join(imageDir, "vmlinuz"), initrd: "default", rootDisk: join(dir, "root.img") }), vmDir);
    assert.ok("argv" in own);
    assert.ok(own.argv.includes(`file=${join(dir, "root.img")},if=none,id=root,format=raw`));
  });

  test("a missing or unusable image file is named", () => {
    const launcher = tcg();
    const emptyDir = join(dir, "no-image");
    const missingDefault = createQemuLauncher({ accel: { accel: "kvm", reason: "kvm" }, tscKhz: 0, imageDir: emptyDir }).plan(instance({ kernel: "default", initrd: "default", rootDisk: "" }), vmDir);
    assert.deepEqual(missingDefault, { error: `image.kernel: the default image's ${join(emptyDir, "vmlinuz")} does not exist on this node (run \`blixard image build --out ${emptyDir}\`)` });
    assert.deepEqual(launcher.plan(instance({ kernel: "default", initrd: "/nope/initrd", rootDisk: "" }), vmDir), { error: "image.initrd: /nope/initrd does not exist on this node" });
    assert.deepEqual(launcher.plan(instance({ kernel: "default", initrd: "default", rootDisk: "/nope/root.img" }), vmDir), { error: "image.rootDisk: /nope/root.img does not exist on this node" });
    assert.match((launcher.plan(instance({ kernel: "default", initrd: "default", rootDisk: "default" }), vmDir) as { error: string }).error, /^image\.rootDisk: there is no default root disk/);
    assert.match((launcher.plan(instance({ kernel: "vmlinuz", initrd: "default", rootDisk: "" }), vmDir) as { error: string }).error, /^image\.kernel: "vmlinuz" is not an absolute path/);
    assert.match((launcher.plan(instance({ kernel: "default", initrd: "default", rootDisk: "" }), "/vms/a,b") as { error: string }).error, /^vmDir: .*comma/);
  });

  test("the default image refuses less memory than it boots in, naming the field; an own kernel may take less", () => {
    const small = (image: VmImage, memoryMib: number): VmInstanceSpec => ({ vmId: 12, spec: { ...vmSpec({ id: 12, resources: { vcpus: 1, memoryMib, diskGib: 1 } }), image }, addresses: [] });
    const launcher = tcg();
    assert.deepEqual(launcher.plan(small({ kernel: "default", initrd: "default", rootDisk: "" }, 64), vmDir), { error: "resources.memoryMib: 64 MiB is too little for the default image under qemu (at least 80 MiB)" });
    assert.ok("argv" in launcher.plan(small({ kernel: "default", initrd: "default", rootDisk: "" }, 80), vmDir));
    assert.ok("argv" in launcher.plan(small({ kernel: join(imageDir, "vmlinuz"), initrd: "default", rootDisk: "" }, 64), vmDir));
  });

  test("KVM: the description and -accel kvm", () => {
    const launcher = createQemuLauncher({ accel: { accel: "kvm", reason: "kvm" }, tscKhz: 0, imageDir });
    assert.equal(launcher.description, "qemu (kvm)");
    const plan = launcher.plan(instance({ kernel: "default", initrd: "default", rootDisk: "" }), vmDir);
    assert.ok("argv" in plan);
    assert.equal(plan.argv[plan.argv.indexOf("-accel") + 1], "kvm");
  });

  test("createDetectedQemuLauncher probes: no KVM device is TCG, said in the description", async () => {
    const launcher = await createDetectedQemuLauncher({ imageDir, kvmDevice: join(dir, "no-kvm") });
    assert.equal(launcher.description, `qemu (tcg: ${join(dir, "no-kvm")} absent)`);
    const plan = launcher.plan(instance({ kernel: "default", initrd: "default", rootDisk: "" }), vmDir);
    assert.ok("argv" in plan);
    assert.match(plan.argv[plan.argv.indexOf("-append") + 1]!, / tsc_early_khz=\d+/);
  });

  test("detectQemu: the version line of a real QEMU, and a missing binary", async (t) => {
    const missing = await detectQemu("blixard-no-such-qemu");
    assert.deepEqual(missing, { available: false, reason: "blixard-no-such-qemu not found on PATH (apt-get install qemu-system-x86)" });
    if (spawnSync("qemu-system-x86_64", ["--version"]).status !== 0) {
      t.skip("qemu-system-x86_64 is not installed");
      return;
    }
    const found = await detectQemu();
    assert.ok(found.available, JSON.stringify(found));
    assert.match(found.version, /^QEMU emulator version \d+\.\d+/);
    assert.match(found.path, /\/qemu-system-x86_64$/);
  });
});
