// KVM or TCG for this host, decided at node start (never cached across starts: a host can gain or
// lose /dev/kvm between them). /dev/kvm opening read-write is not enough: under some nested
// virtualization layers the device opens and a KVM guest then hangs forever. So the probe boots a
// guest under KVM and waits for it to speak.
//
// The probe guest is 64 KiB of firmware of our own (probeFirmware()): at the x86 reset vector it
// writes "K\n" to the first serial port and halts. It needs no kernel or image, and under KVM it
// speaks within milliseconds; the probe gives it probeTimeoutMs (5 s), then kills its QEMU.
// Speaking in real mode is not enough either: under a paravirtualized KVM (kvm-pvm, seen on this
// project's CI machines) the firmware speaks and a Linux guest then hangs in its first 64-bit
// instructions, printing nothing. So when the node's default image is there, a second stage boots
// its kernel under KVM and waits (kernelProbeTimeoutMs, 10 s) for the kernel to reach its init
// ("Run /init"), then kills it.
//
// Also here: the host's TSC frequency in kHz, for tsc_early_khz under TCG (a microvm guest under
// TCG otherwise hangs calibrating its clock).

import { spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { assert } from "../../../core/assert.ts";
import { QEMU_BINARY, type Accel } from "./qemu-command.ts";

export const ACCEL_PROBE_TIMEOUT_MS = 5_000;
/** A Linux guest under a KVM that works reaches its init in well under a second; this leaves room for a loaded host. */
export const KERNEL_PROBE_TIMEOUT_MS = 10_000;
/** What the kernel prints when it hands over to the initrd's init: the end of the boot a hung KVM never reaches. */
const KERNEL_PROBE_LINE = "Run /init";
/** After a kill, how long the probe waits for QEMU to be gone before it gives up waiting. */
const KILL_WAIT_MS = 500;
const PROBE_OUTPUT_BYTES_MAX = 4_096;

export interface AccelChoice {
  readonly accel: Accel;
  /** "kvm", or "tcg: <why not kvm>" (one line, for node status and the launcher's description). */
  readonly reason: string;
}

export interface AccelProbeOptions {
  readonly qemuBinary?: string;
  readonly kvmDevice?: string;
  readonly probeTimeoutMs?: number;
  /** The guest kernel and initrd the second stage boots under KVM; without them only the firmware speaks. */
  readonly guest?: { readonly kernelPath: string; readonly initrdPath: string };
  readonly kernelProbeTimeoutMs?: number;
}

/** 64 KiB of firmware (QEMU wants a multiple of 64 KiB) whose reset vector prints "K\n" on COM1 and halts. */
export function probeFirmware(): Uint8Array {
  const firmware = new Uint8Array(65_536).fill(0xf4); // hlt everywhere else
  const code = [
    0xba, 0xf8, 0x03, // mov dx, 0x3f8   (COM1's transmit register)
    0xb0, 0x4b, //       mov al, 'K'
    0xee, //             out dx, al
    0xb0, 0x0a, //       mov al, '\n'
    0xee, //             out dx, al
    0xf4, //             hlt
    0xeb, 0xfd, //       jmp back to hlt
  ];
  firmware.set(code, 0xfff0); // The reset vector: 16 bytes below 4 GiB, the end of the image.
  assert(firmware.length % 65_536 === 0 && firmware[0xfff0] === 0xba, "probeFirmware: 64 KiB with code at the reset vector");
  return firmware;
}

/** Why /dev/kvm cannot be used, or undefined when it opens read-write. */
export function kvmDeviceProblem(device: string): string | undefined {
  try {
    closeSync(openSync(device, "r+"));
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return `${device} absent`;
    if (code === "EACCES" || code === "EPERM") return `${device} not accessible read-write (${code}: is this user in group kvm?)`;
    return `${device} cannot be opened (${code ?? (error as Error).message})`;
  }
}

/** Boots the probe guest under KVM: true when it printed its line within timeoutMs; QEMU is killed either way. */
export async function probeGuestSpeaks(qemuBinary: string, timeoutMs: number): Promise<{ readonly spoke: boolean; readonly detail: string }> {
  assert(timeoutMs > 0 && timeoutMs <= 60_000, "probeGuestSpeaks: a timeout within a minute");
  const dir = mkdtempSync(join(tmpdir(), "blixard-accel-probe-"));
  try {
    const firmware = join(dir, "probe.bin");
    writeFileSync(firmware, probeFirmware());
    const argv = ["-M", "microvm", "-accel", "kvm", "-cpu", "host", "-m", "16", "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-serial", "stdio", "-bios", firmware];
    return await runUntilLine(qemuBinary, argv, "K\n", timeoutMs, `the probe guest printed nothing within ${Math.round(timeoutMs / 100) / 10} s (nested virtualization?)`, "the probe guest spoke", "the KVM probe guest's QEMU");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Boots the guest kernel under KVM: true when it reached its init within timeoutMs; QEMU is killed either way. */
export async function probeKernelBoots(qemuBinary: string, guest: NonNullable<AccelProbeOptions["guest"]>, timeoutMs: number): Promise<{ readonly spoke: boolean; readonly detail: string }> {
  assert(timeoutMs > 0 && timeoutMs <= 60_000, "probeKernelBoots: a timeout within a minute");
  assert(guest.kernelPath !== "" && guest.initrdPath !== "", "probeKernelBoots: a kernel and an initrd");
  const argv = [
    "-M", "microvm,isa-serial=on,acpi=on,rtc=on", "-accel", "kvm", "-cpu", "host", "-m", "256", "-smp", "1",
    "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-serial", "stdio",
    "-kernel", guest.kernelPath, "-initrd", guest.initrdPath, "-append", "console=ttyS0 earlyprintk=ttyS0 reboot=t panic=-1",
  ];
  return runUntilLine(qemuBinary, argv, KERNEL_PROBE_LINE, timeoutMs, `the guest kernel did not reach its init within ${Math.round(timeoutMs / 100) / 10} s (a KVM that runs real mode only: kvm-pvm?)`, "the guest kernel booted", "the KVM kernel probe's QEMU");
}

/** Runs QEMU until its serial output holds `line` (true) or timeoutMs passes or it exits (false); QEMU is killed either way. */
function runUntilLine(qemuBinary: string, argv: readonly string[], line: string, timeoutMs: number, silent: string, spokeDetail: string, what: string): Promise<{ readonly spoke: boolean; readonly detail: string }> {
  return new Promise((resolve) => {
    const child = spawn(qemuBinary, argv, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let settled = false;
    const finish = (spoke: boolean, detail: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
        const giveUp = setTimeout(() => resolve({ spoke, detail }), KILL_WAIT_MS);
        child.once("exit", () => {
          clearTimeout(giveUp);
          resolve({ spoke, detail });
        });
      } else {
        resolve({ spoke, detail });
      }
    };
    const timer = setTimeout(() => finish(false, silent), timeoutMs);
    child.stdout.on("data", (chunk: Buffer) => {
      // The last bytes only: a line split across chunks is still found, and the buffer stays bounded.
      stdout = (stdout + chunk.toString("latin1")).slice(-PROBE_OUTPUT_BYTES_MAX);
      if (stdout.includes(line)) finish(true, spokeDetail);
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString("utf8")).slice(0, PROBE_OUTPUT_BYTES_MAX);
    });
    child.on("error", (error) => finish(false, `${qemuBinary}: ${error.message}`));
    child.on("exit", (code, signal) => {
      const said = stderr.split("\n").map((text) => text.trim()).filter((text) => text !== "" && !/warning:/.test(text))[0];
      finish(false, `${what} exited (${signal ?? `code ${code}`})${said === undefined ? "" : `: ${said}`}`);
    });
  });
}

/** KVM when /dev/kvm opens read-write and a KVM guest speaks in time; otherwise TCG with the reason. */
export async function chooseAccel(options: AccelProbeOptions = {}): Promise<AccelChoice> {
  const device = options.kvmDevice ?? "/dev/kvm";
  const problem = kvmDeviceProblem(device);
  if (problem !== undefined) return { accel: "tcg", reason: `tcg: ${problem}` };
  const qemu = options.qemuBinary ?? QEMU_BINARY;
  const probe = await probeGuestSpeaks(qemu, options.probeTimeoutMs ?? ACCEL_PROBE_TIMEOUT_MS);
  if (!probe.spoke) return { accel: "tcg", reason: `tcg: ${device} opened but ${probe.detail}` };
  if (options.guest === undefined) return { accel: "kvm", reason: "kvm" };
  const boot = await probeKernelBoots(qemu, options.guest, options.kernelProbeTimeoutMs ?? KERNEL_PROBE_TIMEOUT_MS);
  if (boot.spoke) return { accel: "kvm", reason: "kvm" };
  return { accel: "tcg", reason: `tcg: ${device} opened and the probe firmware spoke, but ${boot.detail}` };
}

/** kHz from a "cpu MHz : 2596.120" line of /proc/cpuinfo (the first CPU's), by string arithmetic. */
export function tscKhzFromCpuinfo(text: string): number | undefined {
  const match = /^cpu MHz\s*:\s*(\d+)(?:\.(\d+))?\s*$/m.exec(text);
  if (match === null) return undefined;
  const khz = Number(match[1]) * 1_000 + Number((match[2] ?? "").padEnd(3, "0").slice(0, 3));
  return khz > 0 ? khz : undefined;
}

/** kHz from the kernel log: the refined calibration ("tsc: Refined TSC clocksource calibration: 2596.119 MHz"), else "tsc: Detected 2596.120 MHz processor". */
export function tscKhzFromKernelLog(text: string): number | undefined {
  const refined = [...text.matchAll(/tsc: Refined TSC clocksource calibration: (\d+)\.(\d{3}) MHz/g)];
  const detected = [...text.matchAll(/tsc: Detected (\d+)\.(\d{3}) MHz/g)];
  const match = refined[refined.length - 1] ?? detected[detected.length - 1];
  if (match === undefined) return undefined;
  return Number(match[1]) * 1_000 + Number(match[2]);
}

/** When nothing tells the frequency: a wrong value only makes the guest's early clock run at the wrong rate. */
export const TSC_KHZ_FALLBACK = 2_000_000;

/** The host's TSC kHz and where it came from: /proc/cpuinfo, else the boot log's tsc line (/var/log/dmesg), else the fallback. */
export function hostTscKhz(readText: (path: string) => string | undefined = readTextFile): { readonly khz: number; readonly source: string } {
  const fromCpuinfo = tscKhzFromCpuinfo(readText("/proc/cpuinfo") ?? "");
  if (fromCpuinfo !== undefined) return { khz: fromCpuinfo, source: "/proc/cpuinfo" };
  const fromLog = tscKhzFromKernelLog(readText("/var/log/dmesg") ?? "");
  if (fromLog !== undefined) return { khz: fromLog, source: "/var/log/dmesg" };
  return { khz: TSC_KHZ_FALLBACK, source: "fallback (no cpu MHz in /proc/cpuinfo)" };
}

function readTextFile(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}
