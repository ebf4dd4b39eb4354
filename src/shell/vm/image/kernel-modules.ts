// Which kernel modules the default image's init loads, and in which order. A Debian kernel
// package ships no modules.dep (depmod writes it at install time, and we install nothing), so
// each module's dependencies are read from its own ELF .modinfo section ("depends=a,b"), and the
// load order is the dependency closure of the wanted modules, dependencies first. Pure.

import { assert } from "../../../core/assert.ts";

/** What the init needs: virtio-mmio devices (network, block) and the ACPI power button as an input event. */
export const GUEST_MODULES_WANTED = ["virtio", "virtio_ring", "virtio_mmio", "virtio_blk", "failover", "net_failover", "virtio_net", "button", "evdev"] as const;

/** A module's dependency chain deeper than this is a cycle or a misreading. */
const CLOSURE_MODULES_MAX = 256;

const decoder = new TextDecoder("latin1");

/** The key=value strings of an ELF64 little-endian module's .modinfo section; throws if it is not one. */
export function readModinfo(ko: Uint8Array): Map<string, string[]> {
  const view = new DataView(ko.buffer, ko.byteOffset, ko.byteLength);
  if (ko.length < 64 || ko[0] !== 0x7f || ko[1] !== 0x45 || ko[2] !== 0x4c || ko[3] !== 0x46) throw new Error("not an ELF file");
  if (ko[4] !== 2 || ko[5] !== 1) throw new Error("not a 64-bit little-endian ELF file");
  const sectionsOffset = Number(view.getBigUint64(0x28, true));
  const sectionHeaderBytes = view.getUint16(0x3a, true);
  const sectionCount = view.getUint16(0x3c, true);
  const namesIndex = view.getUint16(0x3e, true);
  if (sectionHeaderBytes < 64 || namesIndex >= sectionCount || sectionsOffset + sectionCount * sectionHeaderBytes > ko.length) throw new Error("bad ELF section table");
  const section = (index: number): { name: number; offset: number; size: number } => {
    const at = sectionsOffset + index * sectionHeaderBytes;
    return { name: view.getUint32(at, true), offset: Number(view.getBigUint64(at + 0x18, true)), size: Number(view.getBigUint64(at + 0x20, true)) };
  };
  const names = section(namesIndex);
  const nameOf = (offset: number): string => {
    const start = names.offset + offset;
    let end = start;
    while (end < ko.length && end < names.offset + names.size && ko[end] !== 0) end++;
    return decoder.decode(ko.subarray(start, end));
  };
  for (let i = 0; i < sectionCount; i++) {
    const header = section(i);
    if (nameOf(header.name) !== ".modinfo") continue;
    if (header.offset + header.size > ko.length) throw new Error(".modinfo runs past the end of the file");
    const info = new Map<string, string[]>();
    for (const entry of decoder.decode(ko.subarray(header.offset, header.offset + header.size)).split("\0")) {
      const equals = entry.indexOf("=");
      if (equals <= 0) continue;
      const key = entry.slice(0, equals);
      info.set(key, [...(info.get(key) ?? []), entry.slice(equals + 1)]);
    }
    return info;
  }
  throw new Error("no .modinfo section");
}

/** A module's dependencies ("" or absent depends= means none), in the order the module lists them. */
export function moduleDepends(info: Map<string, string[]>): string[] {
  const value = info.get("depends")?.[0] ?? "";
  return value.split(",").filter((name) => name !== "");
}

/**
 * The load order for `wanted`: every module after its dependencies; among modules that are free
 * to go, the order of `wanted` and then of each depends= list (depth first). `dependsOf` returns
 * undefined for a module the kernel package does not have.
 */
export function moduleLoadOrder(wanted: readonly string[], dependsOf: (name: string) => readonly string[] | undefined): { readonly order: readonly string[] } | { readonly error: string } {
  const order: string[] = [];
  const done = new Set<string>();
  const visiting = new Set<string>();
  const visit = (name: string, path: readonly string[]): string | undefined => {
    if (done.has(name)) return undefined;
    if (visiting.has(name)) return `module dependency cycle: ${[...path, name].join(" -> ")}`;
    if (path.length > CLOSURE_MODULES_MAX) return `module dependency chain deeper than ${CLOSURE_MODULES_MAX}`;
    const depends = dependsOf(name);
    if (depends === undefined) return `module ${name} is not in the kernel package${path.length > 0 ? ` (needed by ${path[path.length - 1]})` : ""}`;
    visiting.add(name);
    for (const dependency of depends) {
      const problem = visit(dependency, [...path, name]);
      if (problem !== undefined) return problem;
    }
    visiting.delete(name);
    done.add(name);
    order.push(name);
    return undefined;
  };
  for (const name of wanted) {
    const problem = visit(name, []);
    if (problem !== undefined) return { error: problem };
  }
  assert(order.length === done.size && wanted.every((name) => done.has(name)), "moduleLoadOrder: every wanted module is in the order once");
  return { order };
}
