// The image build's pure parts: reading apt's output, a module's depends= from its ELF .modinfo
// (on a synthetic ELF file), the load order (dependencies first, cycles and missing modules
// named), the manifest's validation, the initramfs entries, and where the image lives; and the
// CLI's one-line error with exit code 1 when apt is not there.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { aptError, cloudKernelFromDepends, megabytes, newestCloudKernel, packageFacts } from "../../../../src/shell/vm/image/apt-output.ts";
import { moduleDepends, moduleLoadOrder, readModinfo } from "../../../../src/shell/vm/image/kernel-modules.ts";
import { parseImageManifest } from "../../../../src/shell/vm/image/image-manifest.ts";
import { initramfsEntries } from "../../../../src/shell/vm/image/initramfs.ts";
import { defaultImageDir } from "../../../../src/shell/vm/image/image-dir.ts";
import { main } from "../../../../src/shell/cli/main.ts";

/** A minimal ELF64 little-endian file with a null section, .modinfo and .shstrtab. */
function elfWithModinfo(modinfo: string): Uint8Array {
  const encoder = new TextEncoder();
  const names = encoder.encode("\0.modinfo\0.shstrtab\0");
  const info = encoder.encode(modinfo);
  const infoOffset = 64;
  const namesOffset = infoOffset + info.length;
  const sectionsOffset = Math.ceil((namesOffset + names.length) / 8) * 8;
  const bytes = new Uint8Array(sectionsOffset + 3 * 64);
  const view = new DataView(bytes.buffer);
  bytes.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
  view.setBigUint64(0x28, BigInt(sectionsOffset), true);
  view.setUint16(0x3a, 64, true);
  view.setUint16(0x3c, 3, true);
  view.setUint16(0x3e, 2, true);
  bytes.set(info, infoOffset);
  bytes.set(names, namesOffset);
  const section = (index: number, name: number, offset: number, size: number): void => {
    const at = sectionsOffset + index * 64;
    view.setUint32(at, name, true);
    view.setBigUint64(at + 0x18, BigInt(offset), true);
    view.setBigUint64(at + 0x20, BigInt(size), true);
  };
  section(1, 1, infoOffset, info.length);
  section(2, 10, namesOffset, names.length);
  return bytes;
}

describe("image build parts", () => {
  test("apt output: the cloud kernel from depends or the newest from search, version and size, the error line", () => {
    assert.equal(cloudKernelFromDepends("linux-image-cloud-amd64\n  Depends: linux-image-6.1.0-50-cloud-amd64\n"), "linux-image-6.1.0-50-cloud-amd64");
    assert.equal(cloudKernelFromDepends("linux-image-cloud-amd64\n"), undefined);
    const search = "linux-image-6.1.0-9-cloud-amd64 - Linux 6.1 for x86-64 cloud\nlinux-image-6.1.0-50-cloud-amd64 - Linux 6.1\nlinux-image-6.1.0-50-cloud-amd64-dbg - Debug\nlinux-image-5.10.0-30-cloud-amd64 - Linux 5.10\n";
    assert.equal(newestCloudKernel(search), "linux-image-6.1.0-50-cloud-amd64");
    assert.equal(newestCloudKernel(""), undefined);
    assert.deepEqual(packageFacts("Package: x\nVersion: 6.1.176-1\nSize: 26484304\n"), { version: "6.1.176-1", sizeBytes: 26_484_304 });
    assert.equal(packageFacts("N: Unable to locate package x\n"), undefined);
    assert.equal(megabytes(26_484_304), "26 MB");
    assert.equal(megabytes(928_188), "0.9 MB");
    assert.equal(aptError("W: something\nE: Unable to locate package nope\n"), "Unable to locate package nope");
    assert.equal(aptError("Err:1 http://x bookworm/main amd64 x\n  Temporary failure resolving 'x'\n"), "Temporary failure resolving 'x'");
  });

  test("a module's depends= from its .modinfo; not an ELF file is an error", () => {
    const info = readModinfo(elfWithModinfo("license=GPL\0depends=virtio_ring,virtio,net_failover\0name=virtio_net\0vermagic=6.1.0 SMP\0"));
    assert.deepEqual(moduleDepends(info), ["virtio_ring", "virtio", "net_failover"]);
    assert.deepEqual(info.get("name"), ["virtio_net"]);
    assert.deepEqual(moduleDepends(readModinfo(elfWithModinfo("depends=\0name=virtio\0"))), []);
    assert.throws(() => readModinfo(new TextEncoder().encode("#!/bin/sh\n".repeat(10))), /not an ELF file/);
  });

  test("load order: dependencies first, in the wanted order; a missing module and a cycle are named", () => {
    const graph: Record<string, string[]> = { virtio: [], virtio_ring: [], virtio_mmio: ["virtio", "virtio_ring"], failover: [], net_failover: ["failover"], virtio_net: ["virtio_ring", "virtio", "net_failover"] };
    assert.deepEqual(moduleLoadOrder(["virtio_net", "virtio_mmio"], (name) => graph[name]), { order: ["virtio_ring", "virtio", "failover", "net_failover", "virtio_net", "virtio_mmio"] });
    assert.deepEqual(moduleLoadOrder(["virtio_net"], (name) => (name === "failover" ? undefined : graph[name])), { error: "module failover is not in the kernel package (needed by net_failover)" });
    const cyclic: Record<string, string[]> = { a: ["b"], b: ["a"] };
    assert.deepEqual(moduleLoadOrder(["a"], (name) => cyclic[name]), { error: "module dependency cycle: a -> b -> a" });
  });

  test("the manifest: valid, and each missing piece named", () => {
    const valid = {
      format: 1,
      kernelPackage: "linux-image-6.1.0-50-cloud-amd64",
      kernelPackageVersion: "6.1.176-1",
      kernelRelease: "6.1.0-50-cloud-amd64",
      busyboxPackageVersion: "1:1.35.0-4",
      modules: ["virtio"],
      initSha256: "a".repeat(64),
      files: [
        { name: "vmlinuz", bytes: 10, sha256: "b".repeat(64) },
        { name: "initrd.img", bytes: 5, sha256: "c".repeat(64) },
      ],
    };
    assert.deepEqual(parseImageManifest(JSON.stringify(valid)), valid);
    assert.match((parseImageManifest("{") as { error: string }).error, /^not JSON/);
    assert.deepEqual(parseImageManifest(JSON.stringify({ ...valid, format: 2 })), { error: "format 2, expected 1" });
    assert.deepEqual(parseImageManifest(JSON.stringify({ ...valid, kernelPackage: "" })), { error: "kernelPackage missing" });
    assert.deepEqual(parseImageManifest(JSON.stringify({ ...valid, files: [valid.files[0]] })), { error: "files: no valid entry for initrd.img" });
  });

  test("initramfs entries: directories, /dev/console, busybox and /bin/sh, init, modules and their order", () => {
    const bytes = (text: string) => new TextEncoder().encode(text);
    const entries = initramfsEntries({ busybox: bytes("ELF"), init: bytes("#!/bin/sh\n"), modules: [{ name: "virtio", data: bytes("a") }, { name: "virtio_mmio", data: bytes("b") }] });
    const byPath = new Map(entries.map((entry) => [entry.path, entry]));
    assert.deepEqual(byPath.get("dev/console"), { kind: "char-device", path: "dev/console", mode: 0o600, major: 5, minor: 1 });
    assert.deepEqual(byPath.get("bin/sh"), { kind: "symlink", path: "bin/sh", target: "busybox" });
    assert.equal(byPath.get("init")?.kind, "file");
    const order = byPath.get("lib/modules/load-order");
    assert.ok(order?.kind === "file");
    assert.equal(new TextDecoder().decode(order.data), "virtio\nvirtio_mmio\n");
    assert.ok(entries.findIndex((entry) => entry.path === "dev") < entries.findIndex((entry) => entry.path === "dev/console"), "a directory before its contents");
  });

  test("the default image directory: BLIXARD_IMAGE_DIR, then XDG_CACHE_HOME, then ~/.cache", () => {
    assert.equal(defaultImageDir({ BLIXARD_IMAGE_DIR: "/srv/image", XDG_CACHE_HOME: "/c" }, "/home/u"), "/srv/image");
    assert.equal(defaultImageDir({ BLIXARD_IMAGE_DIR: "", XDG_CACHE_HOME: "/c" }, "/home/u"), "/c/blixard/image");
    assert.equal(defaultImageDir({}, "/home/u"), "/home/u/.cache/blixard/image");
  });

  test("blixard image build without apt: one line on stderr, exit code 1", async () => {
    const dir = mkdtempSync(join(tmpdir(), "blixard-image-noapt-"));
    const path = process.env.PATH;
    const write = process.stderr.write.bind(process.stderr);
    let stderr = "";
    process.stderr.write = ((chunk: string) => {
      stderr += chunk;
      return true;
    }) as typeof process.stderr.write;
    try {
      process.env.PATH = join(dir, "empty-bin");
      const code = await main(["image", "build", "--out", join(dir, "image")]);
      assert.equal(code, 1);
    } finally {
      process.env.PATH = path;
      process.stderr.write = write;
      process.exitCode = 0;
      rmSync(dir, { recursive: true, force: true });
    }
    const lines = stderr.trim().split("\n");
    assert.equal(lines[lines.length - 1], "blixard image build: apt-cache is not installed: the image build needs Debian's apt-get and dpkg");
  });
});
