// The qemu-system-x86_64 command line for one VM instance: pure, so every flag is unit-tested
// (docs/IMAGES.md says why each one is there). QEMU parses most option values as
// comma-separated key=value lists, so a path with a comma (or any string with a newline or a
// control character) could smuggle in options of its own: such input is rejected, naming the
// field, rather than escaped.
//
// Networking: one netdev per interface, built by netdevArgs() from the interface's mode. Only
// "user" (QEMU's user-mode stack, port forwards bound to 127.0.0.1) exists today; tap and bridge
// are new cases of that one switch, each returning its own -netdev value.

import type { IpAssignment, NetworkInterfaceSpec, PortForward } from "../../../core/cluster/types.ts";
import type { VmInstanceSpec } from "../../../core/agent/vm-backend.ts";
import { assert, unreachable } from "../../../core/assert.ts";
import { UNIX_SOCKET_PATH_BYTES_MAX } from "../launch-plan.ts";

export type Accel = "kvm" | "tcg";

export const QEMU_BINARY = "qemu-system-x86_64";

/** The QMP socket's file name inside the VM's directory (launch-plan.ts lists the VM's files). */
export const QMP_SOCKET_FILE = "qmp.sock";

/** What the guest needs on every boot: the serial console, no reboot loop, no PCI probing on microvm. */
export const BASE_KERNEL_CMDLINE = "console=ttyS0 quiet panic=-1 pci=off";

/** Bounds on what one command line may hold (CLUSTER_LIMITS bounds the spec; these bound our output). */
export const QEMU_COMMAND_LIMITS = {
  /** Linux's x86 COMMAND_LINE_SIZE is 2048 bytes. */
  kernelCmdlineBytesMax: 2_048,
  /** A TSC faster than 10 GHz or slower than 1 MHz is a misreading. */
  tscKhzMin: 1_000,
  tscKhzMax: 10_000_000,
} as const;

/** Image files as found on this host (the launcher resolves "default" and checks they exist). */
export interface ResolvedImage {
  readonly kernelPath: string;
  readonly initrdPath: string;
  /** "" when the VM boots from its initrd alone. */
  readonly rootDiskPath: string;
}

export interface QemuCommandInput {
  readonly instance: VmInstanceSpec;
  readonly accel: Accel;
  /** The host's TSC frequency in kHz: tsc_early_khz under TCG (ignored under KVM). */
  readonly tscKhz: number;
  readonly image: ResolvedImage;
  /** The VM's directory (absolute): the QMP socket lives in it. */
  readonly vmDir: string;
  /** argv[0]; QEMU_BINARY (found on PATH) unless given. */
  readonly qemuBinary?: string;
}

export type QemuCommand = { readonly argv: readonly string[] } | { readonly error: string };

// Control characters (newline included) end or split a value wherever QEMU or the kernel reads it.
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;
const MAC_PATTERN = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/** Why `value` cannot stand inside a QEMU option list (commas allowed only when `commasAllowed`), or undefined. */
export function unsafeOptionValue(field: string, value: string, commasAllowed = false): string | undefined {
  if (CONTROL_CHARACTER.test(value)) return `${field}: contains a newline or control character, which QEMU's command line cannot carry`;
  if (!commasAllowed && value.includes(",")) return `${field}: "${value}" contains a comma, which would break QEMU's option syntax`;
  return undefined;
}

function requirePath(field: string, path: string): string | undefined {
  if (path === "") return `${field}: empty path`;
  if (!path.startsWith("/")) return `${field}: "${path}" is not an absolute path`;
  return unsafeOptionValue(field, path);
}

/** The -append value: the base line, the VM's id, tsc_early_khz under TCG, root= for a root disk, then the spec's own words. */
export function kernelCmdline(input: QemuCommandInput): string | { readonly error: string } {
  const spec = input.instance.spec;
  const unsafe = unsafeOptionValue("spec.kernelCmdline", spec.kernelCmdline, true);
  if (unsafe !== undefined) return { error: unsafe };
  const words = [BASE_KERNEL_CMDLINE, `blixard.vm=${input.instance.vmId}`];
  if (input.accel === "tcg") {
    if (!Number.isSafeInteger(input.tscKhz) || input.tscKhz < QEMU_COMMAND_LIMITS.tscKhzMin || input.tscKhz > QEMU_COMMAND_LIMITS.tscKhzMax) {
      return { error: `tscKhz: ${input.tscKhz} is not a TSC frequency in kHz (${QEMU_COMMAND_LIMITS.tscKhzMin}..${QEMU_COMMAND_LIMITS.tscKhzMax})` };
    }
    words.push(`tsc_early_khz=${input.tscKhz}`);
  }
  const own = spec.kernelCmdline.trim();
  if (input.image.rootDiskPath !== "" && !/(^|\s)root=/.test(own)) words.push("root=/dev/vda");
  if (own !== "") words.push(own);
  const line = words.join(" ");
  if (Buffer.byteLength(line, "utf8") > QEMU_COMMAND_LIMITS.kernelCmdlineBytesMax) {
    return { error: `spec.kernelCmdline: the kernel command line would be ${Buffer.byteLength(line, "utf8")} bytes, over the kernel's ${QEMU_COMMAND_LIMITS.kernelCmdlineBytesMax}` };
  }
  return line;
}

function portForwardValue(field: string, forward: PortForward): string | { readonly error: string } {
  for (const [name, port] of [["hostPort", forward.hostPort], ["guestPort", forward.guestPort]] as const) {
    if (!Number.isSafeInteger(port) || port < 1 || port > 65_535) return { error: `${field}.${name}: ${port} is not a port (1..65535)` };
  }
  if (forward.protocol !== "tcp" && forward.protocol !== "udp") return { error: `${field}.protocol: "${String(forward.protocol)}" is not tcp or udp` };
  // Bound to loopback only: a VM's forwarded port is never reachable from other hosts.
  return `hostfwd=${forward.protocol}:127.0.0.1:${forward.hostPort}-:${forward.guestPort}`;
}

/** The -netdev value of interface `index` (id n<index>), by mode: the one place a new mode (tap, bridge) goes. */
export function netdevArgs(iface: NetworkInterfaceSpec, index: number): string | { readonly error: string } {
  assert(Number.isSafeInteger(index) && index >= 0, "netdevArgs: index is a non-negative integer");
  const field = `spec.interfaces[${index}]`;
  switch (iface.mode) {
    case "user": {
      const parts = [`user`, `id=n${index}`];
      const seen = new Set<string>();
      for (let i = 0; i < iface.portForwards.length; i++) {
        const forward = iface.portForwards[i]!;
        const value = portForwardValue(`${field}.portForwards[${i}]`, forward);
        if (typeof value !== "string") return value;
        const key = `${forward.protocol}:${forward.hostPort}`;
        if (seen.has(key)) return { error: `${field}.portForwards[${i}]: host port ${forward.protocol} ${forward.hostPort} is forwarded twice` };
        seen.add(key);
        parts.push(value);
      }
      return parts.join(",");
    }
    default:
      return unreachable(iface.mode, "interface mode");
  }
}

/** Which IP assignment belongs to each interface: one per interface with an ipPool, in interface order. */
export function interfaceAddresses(interfaces: readonly NetworkInterfaceSpec[], addresses: readonly IpAssignment[]): readonly (IpAssignment | undefined)[] {
  const out: (IpAssignment | undefined)[] = [];
  let next = 0;
  for (const iface of interfaces) {
    if (iface.ipPool !== "" && next < addresses.length) out.push(addresses[next++]);
    else out.push(undefined);
  }
  assert(out.length === interfaces.length, "interfaceAddresses: one entry per interface");
  return out;
}

/** The whole argv, or the first reason it cannot be built safely (naming the field). */
export function buildQemuCommand(input: QemuCommandInput): QemuCommand {
  const { instance, image, vmDir } = input;
  const spec = instance.spec;
  assert(Number.isSafeInteger(instance.vmId) && instance.vmId > 0, "buildQemuCommand: vmId is a positive integer");
  for (const [field, path] of [["vmDir", vmDir], ["image.kernel", image.kernelPath], ["image.initrd", image.initrdPath]] as const) {
    const problem = requirePath(field, path);
    if (problem !== undefined) return { error: problem };
  }
  if (image.rootDiskPath !== "") {
    const problem = requirePath("image.rootDisk", image.rootDiskPath);
    if (problem !== undefined) return { error: problem };
  }
  const qmpSocket = `${vmDir.replace(/\/+$/, "")}/${QMP_SOCKET_FILE}`;
  if (Buffer.byteLength(qmpSocket, "utf8") > UNIX_SOCKET_PATH_BYTES_MAX) {
    return { error: `vmDir: the QMP socket path ${qmpSocket} is over ${UNIX_SOCKET_PATH_BYTES_MAX} bytes, too long for a unix socket` };
  }
  const { vcpus, memoryMib } = spec.resources;
  if (!Number.isSafeInteger(vcpus) || vcpus < 1 || vcpus > 255) return { error: `spec.resources.vcpus: ${vcpus} is not in 1..255 (microvm's limit)` };
  if (!Number.isSafeInteger(memoryMib) || memoryMib < 16) return { error: `spec.resources.memoryMib: ${memoryMib} is under the 16 MiB a kernel needs` };
  const append = kernelCmdline(input);
  if (typeof append !== "string") return append;

  const argv: string[] = [
    input.qemuBinary ?? QEMU_BINARY,
    "-name", `blixard-vm-${instance.vmId},process=blixard-vm-${instance.vmId}`,
    "-M", "microvm,isa-serial=on,acpi=on,rtc=on",
    "-accel", input.accel,
    ...(input.accel === "kvm" ? ["-cpu", "host"] : []),
    "-m", String(memoryMib),
    "-smp", String(vcpus),
    "-nodefaults", "-no-user-config", "-no-reboot",
    "-display", "none",
    // seccomp: a guest that took over QEMU still cannot exec, raise privileges or use obsolete syscalls.
    "-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
    // The console is QEMU's stdio (the guard reads stdout, writes stdin); signal=off so a ^C on
    // that stream is a byte for the guest, not a kill for QEMU. No monitor anywhere but QMP.
    "-chardev", "stdio,id=console,signal=off",
    "-serial", "chardev:console",
    "-qmp", `unix:${qmpSocket},server=on,wait=off`,
    "-kernel", image.kernelPath,
    "-initrd", image.initrdPath,
    "-append", append,
  ];
  if (image.rootDiskPath !== "") {
    const format = image.rootDiskPath.endsWith(".qcow2") ? "qcow2" : "raw";
    // The format is stated, never probed: a raw disk whose guest wrote a qcow2 header stays raw.
    argv.push("-drive", `file=${image.rootDiskPath},if=none,id=root,format=${format}`);
    argv.push("-device", "virtio-blk-device,drive=root");
  }
  if (spec.interfaces.length > 8) return { error: `spec.interfaces: ${spec.interfaces.length} interfaces, over 8` };
  const macs = interfaceAddresses(spec.interfaces, instance.addresses);
  for (let i = 0; i < spec.interfaces.length; i++) {
    const netdev = netdevArgs(spec.interfaces[i]!, i);
    if (typeof netdev !== "string") return netdev;
    const assignment = macs[i];
    let device = `virtio-net-device,netdev=n${i}`;
    if (assignment !== undefined) {
      if (!MAC_PATTERN.test(assignment.mac)) return { error: `addresses[${i}].mac: "${assignment.mac}" is not a MAC address` };
      device += `,mac=${assignment.mac.toLowerCase()}`;
    }
    argv.push("-netdev", netdev, "-device", device);
  }
  assert(argv.includes("-nodefaults") && !argv.includes("-monitor"), "buildQemuCommand: no default devices and no monitor on stdio");
  return { argv };
}
