// The default guest image for tests that boot real QEMU guests: built once per machine into a
// directory under the system's temp dir (ensureDefaultImage is atomic and idempotent), so every
// test file and run shares one build. Whether QEMU tests may be skipped: only when QEMU is
// missing AND $BLIXARD_REQUIRE_QEMU is not "1" (CI sets it, so a missing QEMU fails there).
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureDefaultImage } from "../../src/shell/vm/image/image-builder.ts";
import { findOnPath } from "../../src/shell/vm/qemu/qemu-launcher.ts";
import { QEMU_BINARY } from "../../src/shell/vm/qemu/qemu-command.ts";

export const TEST_IMAGE_DIR = join(tmpdir(), `blixard-test-image-${process.getuid?.() ?? 0}`);

/** undefined when QEMU tests can run; else why they are skipped. Throws when they must run and cannot. */
export function qemuSkipReason(): string | undefined {
  if (findOnPath(QEMU_BINARY) !== undefined) return undefined;
  const why = `${QEMU_BINARY} not on PATH (apt-get install -y --no-install-recommends qemu-system-x86 busybox-static)`;
  if (process.env.BLIXARD_REQUIRE_QEMU === "1") throw new Error(`BLIXARD_REQUIRE_QEMU=1 but ${why}`);
  return why;
}

export async function ensureTestImage(): Promise<string> {
  await ensureDefaultImage(TEST_IMAGE_DIR, () => {});
  return TEST_IMAGE_DIR;
}
