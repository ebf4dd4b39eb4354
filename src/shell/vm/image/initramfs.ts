// The default image's initramfs: busybox, the init script, the kernel modules it loads and the
// one device node the kernel needs before init runs (/dev/console, for init's stdin and stdout).
// Pure: the entries from their bytes; the builder reads the files and gzips the archive.
import { assert } from "../../../core/assert.ts";
import type { CpioEntry } from "./cpio-newc.ts";

export interface InitramfsInput {
  readonly busybox: Uint8Array;
  readonly init: Uint8Array;
  /** Modules in load order, each as <name>.ko under lib/modules. */
  readonly modules: readonly { readonly name: string; readonly data: Uint8Array }[];
}

const DIRECTORIES = ["bin", "dev", "etc", "lib", "lib/modules", "proc", "root", "run", "sbin", "sys", "tmp", "usr", "usr/bin", "usr/sbin"] as const;

export function initramfsEntries(input: InitramfsInput): CpioEntry[] {
  assert(input.busybox.length > 0 && input.init.length > 0, "initramfsEntries: busybox and init are not empty");
  const entries: CpioEntry[] = DIRECTORIES.map((path) => ({ kind: "directory", path, mode: path === "tmp" ? 0o1777 : 0o755 }));
  entries.push({ kind: "char-device", path: "dev/console", mode: 0o600, major: 5, minor: 1 });
  entries.push({ kind: "char-device", path: "dev/null", mode: 0o666, major: 1, minor: 3 });
  entries.push({ kind: "file", path: "bin/busybox", mode: 0o755, data: input.busybox });
  // The init's "#!/bin/sh" must resolve before busybox --install has made the other links.
  entries.push({ kind: "symlink", path: "bin/sh", target: "busybox" });
  entries.push({ kind: "file", path: "init", mode: 0o755, data: input.init });
  const names = new Set<string>();
  for (const module of input.modules) {
    assert(/^[a-z0-9_]+$/.test(module.name) && !names.has(module.name), () => `initramfsEntries: module name "${module.name}" is plain and listed once`);
    names.add(module.name);
    entries.push({ kind: "file", path: `lib/modules/${module.name}.ko`, mode: 0o644, data: module.data });
  }
  const order = input.modules.map((module) => `${module.name}\n`).join("");
  entries.push({ kind: "file", path: "lib/modules/load-order", mode: 0o644, data: new TextEncoder().encode(order) });
  return entries;
}
