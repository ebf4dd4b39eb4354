// The VmLauncher of kind "qemu" (launch-plan.ts): one QEMU microvm process per instance, run by
// the guard. It resolves the image ("default" means this node's default image directory, from
// `blixard image build`), checks that its files exist (a missing one is named in the error), and
// builds the command line (qemu-command.ts). The guard stops a VM gracefully with QMP
// system_powerdown (the ACPI power button) and the console line BLIXARD-POWEROFF as well, for
// guests that do not handle ACPI.
//
// detectQemu() tells `blixard up` whether this host has QEMU at all; createDetectedQemuLauncher()
// probes KVM and the TSC frequency (accel-probe.ts) once per node start.

import { spawn } from "node:child_process";
import { accessSync, constants, existsSync, statSync } from "node:fs";
import { delimiter, isAbsolute, join } from "node:path";
import type { VmInstanceSpec } from "../../../core/agent/vm-backend.ts";
import { assert } from "../../../core/assert.ts";
import { DEFAULT_IMAGE, GUEST_LINES, type LaunchPlan, type VmLauncher } from "../launch-plan.ts";
import { IMAGE_INITRD_FILE, IMAGE_KERNEL_FILE } from "../image/image-dir.ts";
import { chooseAccel, hostTscKhz, type AccelChoice, type AccelProbeOptions } from "./accel-probe.ts";
import { buildQemuCommand, QEMU_BINARY, QMP_SOCKET_FILE, type ResolvedImage } from "./qemu-command.ts";

export interface QemuLauncherOptions {
  readonly accel: AccelChoice;
  /** The host's TSC kHz (tsc_early_khz under TCG). */
  readonly tscKhz: number;
  /** Where DEFAULT_IMAGE points: holds vmlinuz and initrd.img. */
  readonly imageDir: string;
  readonly qemuBinary?: string;
  /** Whether a regular file is there (injected by tests). */
  readonly fileExists?: (path: string) => boolean;
}

function regularFileExists(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The least guest memory the default image boots in. */
export const DEFAULT_IMAGE_MEMORY_MIB_MIN = 80;

/** The host paths of an instance's image, or the first one that is missing. */
export function resolveImage(instance: VmInstanceSpec, imageDir: string, fileExists: (path: string) => boolean = regularFileExists): ResolvedImage | { readonly error: string } {
  const image = instance.spec.image;
  const resolve = (field: "kernel" | "initrd", value: string, defaultFile: string): string | { error: string } => {
    if (value === "") return { error: `image.${field}: empty (give a path, or "${DEFAULT_IMAGE}" for the node's default image)` };
    const path = value === DEFAULT_IMAGE ? join(imageDir, defaultFile) : value;
    if (!isAbsolute(path)) return { error: `image.${field}: "${value}" is not an absolute path` };
    if (!fileExists(path)) {
      return { error: value === DEFAULT_IMAGE ? `image.${field}: the default image's ${path} does not exist on this node (run \`blixard image build --out ${imageDir}\`)` : `image.${field}: ${path} does not exist on this node` };
    }
    return path;
  };
  // Measured (docs/IMAGES.md): with less, the default kernel cannot unpack its initramfs and QEMU exits at once.
  if (image.kernel === DEFAULT_IMAGE && instance.spec.resources.memoryMib < DEFAULT_IMAGE_MEMORY_MIB_MIN) {
    return { error: `resources.memoryMib: ${instance.spec.resources.memoryMib} MiB is too little for the default image under qemu (at least ${DEFAULT_IMAGE_MEMORY_MIB_MIN} MiB)` };
  }
  const kernelPath = resolve("kernel", image.kernel, IMAGE_KERNEL_FILE);
  if (typeof kernelPath !== "string") return kernelPath;
  const initrdPath = resolve("initrd", image.initrd, IMAGE_INITRD_FILE);
  if (typeof initrdPath !== "string") return initrdPath;
  if (image.rootDisk === DEFAULT_IMAGE) return { error: `image.rootDisk: there is no default root disk (leave it empty to boot from the initrd)` };
  if (image.rootDisk !== "") {
    if (!isAbsolute(image.rootDisk)) return { error: `image.rootDisk: "${image.rootDisk}" is not an absolute path` };
    if (!fileExists(image.rootDisk)) return { error: `image.rootDisk: ${image.rootDisk} does not exist on this node` };
  }
  return { kernelPath, initrdPath, rootDiskPath: image.rootDisk };
}

export function createQemuLauncher(options: QemuLauncherOptions): VmLauncher {
  assert(options.accel.reason === "kvm" || options.accel.reason.startsWith("tcg"), "createQemuLauncher: the reason starts with the accel");
  const fileExists = options.fileExists ?? regularFileExists;
  return {
    kind: "qemu",
    description: `qemu (${options.accel.reason})`,
    plan(instance: VmInstanceSpec, vmDir: string): LaunchPlan | { readonly error: string } {
      const image = resolveImage(instance, options.imageDir, fileExists);
      if ("error" in image) return image;
      const command = buildQemuCommand({ instance, accel: options.accel.accel, tscKhz: options.tscKhz, image, vmDir, qemuBinary: options.qemuBinary });
      if ("error" in command) return command;
      const plan: LaunchPlan = {
        argv: command.argv,
        env: {},
        gracefulStop: { kind: "qmp-powerdown", consoleLine: GUEST_LINES.poweroff },
        qmpSocket: join(vmDir, QMP_SOCKET_FILE),
      };
      assert(plan.argv.some((arg) => arg.includes(plan.qmpSocket)), "plan: QEMU serves QMP on the plan's socket");
      return plan;
    },
  };
}

/**
 * Probes the accel (the firmware, then the default image's kernel when the image is there: at most
 * 5 s plus 10 s, well under a second each on a host whose KVM works) and the TSC frequency, then
 * makes the launcher. Nothing is cached across node starts.
 */
export async function createDetectedQemuLauncher(options: { readonly imageDir: string; readonly qemuBinary?: string } & AccelProbeOptions): Promise<VmLauncher> {
  const kernelPath = join(options.imageDir, IMAGE_KERNEL_FILE);
  const initrdPath = join(options.imageDir, IMAGE_INITRD_FILE);
  const guest = options.guest ?? (regularFileExists(kernelPath) && regularFileExists(initrdPath) ? { kernelPath, initrdPath } : undefined);
  const accel = await chooseAccel({ ...options, guest });
  const tsc = hostTscKhz();
  return createQemuLauncher({ accel, tscKhz: tsc.khz, imageDir: options.imageDir, qemuBinary: options.qemuBinary });
}

export type QemuDetection =
  | { readonly available: true; readonly path: string; readonly version: string }
  | { readonly available: false; readonly reason: string };

const DETECT_TIMEOUT_MS = 5_000;

/** The executable `name` resolves to on PATH (or itself when it has a slash), or undefined. */
export function findOnPath(name: string, path: string = process.env.PATH ?? ""): string | undefined {
  const candidates = name.includes("/") ? [name] : path.split(delimiter).filter((dir) => dir !== "").map((dir) => join(dir, name));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Whether qemu-system-x86_64 is on PATH, and its version line, for `blixard up` to choose a backend. */
export async function detectQemu(binary: string = QEMU_BINARY): Promise<QemuDetection> {
  const path = findOnPath(binary);
  if (path === undefined) return { available: false, reason: `${binary} not found on PATH (apt-get install qemu-system-x86)` };
  return new Promise((resolve) => {
    const child = spawn(path, ["--version"], { stdio: ["ignore", "pipe", "ignore"] });
    let output = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      resolve({ available: false, reason: `${path} --version gave no answer within ${DETECT_TIMEOUT_MS / 1000} s` });
    }, DETECT_TIMEOUT_MS);
    child.stdout.on("data", (chunk: Buffer) => {
      if (output.length < 4_096) output += chunk.toString("utf8");
    });
    child.on("error", (error) => {
      clearTimeout(timer);
      resolve({ available: false, reason: `${path}: ${error.message}` });
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      const version = output.split("\n")[0]?.trim() ?? "";
      if (code === 0 && version !== "") resolve({ available: true, path, version });
      else resolve({ available: false, reason: `${path} --version failed (exit code ${code})` });
    });
  });
}
