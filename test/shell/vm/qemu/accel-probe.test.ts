// The accel probe: an absent /dev/kvm is TCG at once; a device that opens but whose probe guest
// stays silent (a fake qemu that hangs) is TCG after the timeout, with that QEMU killed in time;
// a probe guest that speaks is KVM; the probe firmware really prints its line (under TCG, where
// it works everywhere); and the TSC frequency parses from /proc/cpuinfo and the kernel log.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chooseAccel, hostTscKhz, probeFirmware, TSC_KHZ_FALLBACK, tscKhzFromCpuinfo, tscKhzFromKernelLog } from "../../../../src/shell/vm/qemu/accel-probe.ts";
import { waitUntil } from "../../../support/wait-until.ts";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("accel probe", () => {
  let dir: string;
  let device: string;
  const pids: number[] = [];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "blixard-accel-"));
    device = join(dir, "kvm");
    writeFileSync(device, ""); // Opens read-write, like a working /dev/kvm.
  });
  after(() => {
    for (const pid of pids) if (alive(pid)) process.kill(pid, "SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });
  const fakeQemu = (name: string, body: string): string => {
    const path = join(dir, name);
    writeFileSync(path, `#!/bin/sh\necho $$ > "${path}.pid"\n${body}\n`);
    chmodSync(path, 0o755);
    return path;
  };

  test("no /dev/kvm: TCG, saying so, without starting QEMU", async () => {
    const qemu = fakeQemu("never", "exit 1");
    const choice = await chooseAccel({ kvmDevice: join(dir, "absent"), qemuBinary: qemu });
    assert.deepEqual(choice, { accel: "tcg", reason: `tcg: ${join(dir, "absent")} absent` });
    assert.ok(!existsSync(`${qemu}.pid`), "no QEMU was started");
  });

  test("a device that opens but a probe guest that hangs: TCG after the timeout, its QEMU killed", { timeout: 10_000 }, async () => {
    const qemu = fakeQemu("hangs", "exec sleep 60");
    const started = Date.now();
    const choice = await chooseAccel({ kvmDevice: device, qemuBinary: qemu, probeTimeoutMs: 800 });
    const elapsedMs = Date.now() - started;
    assert.equal(choice.accel, "tcg");
    assert.equal(choice.reason, `tcg: ${device} opened but the probe guest printed nothing within 0.8 s (nested virtualization?)`);
    assert.ok(elapsedMs >= 790 && elapsedMs < 2_000, `decided in ${elapsedMs} ms`);
    const pid = Number(readFileSync(`${qemu}.pid`, "utf8"));
    pids.push(pid);
    await waitUntil("the hung probe QEMU to be gone", () => !alive(pid), 2_000);
  });

  test("a probe guest that speaks: KVM", async () => {
    const qemu = fakeQemu("speaks", 'printf "K\\n"; exec sleep 60');
    const choice = await chooseAccel({ kvmDevice: device, qemuBinary: qemu, probeTimeoutMs: 3_000 });
    assert.deepEqual(choice, { accel: "kvm", reason: "kvm" });
    const pid = Number(readFileSync(`${qemu}.pid`, "utf8"));
    pids.push(pid);
    await waitUntil("the probe QEMU to be gone", () => !alive(pid), 2_000);
  });

  test("firmware that speaks but a guest kernel that hangs (kvm-pvm): TCG after the kernel stage's timeout, both QEMUs gone", { timeout: 10_000 }, async () => {
    // The fake tells the two stages apart by -kernel in its arguments.
    const qemu = fakeQemu("pvm", 'case " $* " in *" -kernel "*) echo $$ > "$0.kernel.pid"; printf "Probing EDD (edd=off to disable)... ok\\n"; exec sleep 60;; esac\nprintf "K\\n"; exec sleep 60');
    const guest = { kernelPath: join(dir, "vmlinuz"), initrdPath: join(dir, "initrd.img") };
    const choice = await chooseAccel({ kvmDevice: device, qemuBinary: qemu, probeTimeoutMs: 3_000, guest, kernelProbeTimeoutMs: 800 });
    assert.equal(choice.accel, "tcg");
    assert.equal(choice.reason, `tcg: ${device} opened and the probe firmware spoke, but the guest kernel did not reach its init within 0.8 s (a KVM that runs real mode only: kvm-pvm?)`);
    for (const file of [`${qemu}.pid`, `${qemu}.kernel.pid`]) {
      const pid = Number(readFileSync(file, "utf8"));
      pids.push(pid);
      await waitUntil(`the probe QEMU ${file} to be gone`, () => !alive(pid), 2_000);
    }
  });

  test("firmware that speaks and a guest kernel that reaches its init (the line split across writes): KVM", { timeout: 10_000 }, async () => {
    const qemu = fakeQemu("boots", 'case " $* " in *" -kernel "*) printf "[    0.000000] Linux version 6.1\\n[    0.9] Run /i"; sleep 0.2; printf "nit as init process\\n"; exec sleep 60;; esac\nprintf "K\\n"; exec sleep 60');
    const guest = { kernelPath: join(dir, "vmlinuz"), initrdPath: join(dir, "initrd.img") };
    const choice = await chooseAccel({ kvmDevice: device, qemuBinary: qemu, probeTimeoutMs: 3_000, guest, kernelProbeTimeoutMs: 5_000 });
    assert.deepEqual(choice, { accel: "kvm", reason: "kvm" });
  });

  test("a QEMU that fails at once: TCG naming its error", async () => {
    const qemu = fakeQemu("fails", 'echo "qemu-system-x86_64: failed to initialize kvm: Permission denied" >&2; exit 1');
    const choice = await chooseAccel({ kvmDevice: device, qemuBinary: qemu, probeTimeoutMs: 3_000 });
    assert.equal(choice.accel, "tcg");
    assert.match(choice.reason, /exited \(code 1\): qemu-system-x86_64: failed to initialize kvm: Permission denied$/);
  });

  test("the probe firmware prints its line on a real QEMU (under TCG)", { timeout: 15_000 }, async (t) => {
    if (spawnSync("qemu-system-x86_64", ["--version"]).status !== 0) {
      t.skip("qemu-system-x86_64 is not installed");
      return;
    }
    const firmware = join(dir, "probe.bin");
    writeFileSync(firmware, probeFirmware());
    const child = spawn("qemu-system-x86_64", ["-M", "microvm", "-accel", "tcg", "-m", "16", "-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio", "-bios", firmware], { stdio: ["ignore", "pipe", "ignore"] });
    try {
      let out = "";
      child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString("latin1")));
      await waitUntil("the probe firmware's K line", () => out.includes("K\n"), 10_000);
    } finally {
      child.kill("SIGKILL");
    }
  });

  test("the TSC frequency from /proc/cpuinfo, the kernel log, or the fallback", () => {
    assert.equal(tscKhzFromCpuinfo("processor\t: 0\ncpu MHz\t\t: 2596.120\ncpu MHz\t\t: 1200.000\n"), 2_596_120);
    assert.equal(tscKhzFromCpuinfo("cpu MHz : 3000\n"), 3_000_000);
    assert.equal(tscKhzFromCpuinfo("cpu MHz : 2400.5\n"), 2_400_500);
    assert.equal(tscKhzFromCpuinfo("model name: x\n"), undefined);
    assert.equal(tscKhzFromKernelLog("[0.0] tsc: Detected 2596.120 MHz processor\n[1.2] tsc: Refined TSC clocksource calibration: 2596.119 MHz\n"), 2_596_119);
    assert.equal(tscKhzFromKernelLog("[0.0] tsc: Detected 2596.120 MHz processor\n"), 2_596_120);
    assert.deepEqual(hostTscKhz(() => undefined), { khz: TSC_KHZ_FALLBACK, source: "fallback (no cpu MHz in /proc/cpuinfo)" });
    assert.deepEqual(hostTscKhz((path) => (path === "/proc/cpuinfo" ? "cpu MHz : 2000.000\n" : undefined)), { khz: 2_000_000, source: "/proc/cpuinfo" });
  });
});
