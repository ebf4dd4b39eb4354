// manifest.json of a built image: what it was built from and the sha256 of each file, so a node
// can tell a whole image from a half-copied or stale one.
import { IMAGE_INITRD_FILE, IMAGE_KERNEL_FILE } from "./image-dir.ts";

export const IMAGE_MANIFEST_FORMAT = 1;

export interface ImageFileEntry {
  readonly name: string;
  readonly bytes: number;
  readonly sha256: string;
}

export interface ImageManifest {
  readonly format: number;
  /** linux-image-6.1.0-50-cloud-amd64 */
  readonly kernelPackage: string;
  /** The package's Debian version, 6.1.176-1. */
  readonly kernelPackageVersion: string;
  /** The kernel release (its modules directory), 6.1.0-50-cloud-amd64. */
  readonly kernelRelease: string;
  readonly busyboxPackageVersion: string;
  /** Modules in the initrd, in load order. */
  readonly modules: readonly string[];
  /** sha256 of the init script, so a changed script makes the image stale. */
  readonly initSha256: string;
  /** vmlinuz and initrd.img. */
  readonly files: readonly ImageFileEntry[];
}

const SHA256 = /^[0-9a-f]{64}$/;

/** The manifest in `text`, or why it is not one. */
export function parseImageManifest(text: string): ImageManifest | { readonly error: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { error: `not JSON (${(error as Error).message})` };
  }
  const m = value as Partial<ImageManifest> | null;
  if (m === null || typeof m !== "object") return { error: "not an object" };
  if (m.format !== IMAGE_MANIFEST_FORMAT) return { error: `format ${String(m.format)}, expected ${IMAGE_MANIFEST_FORMAT}` };
  for (const key of ["kernelPackage", "kernelPackageVersion", "kernelRelease", "busyboxPackageVersion", "initSha256"] as const) {
    if (typeof m[key] !== "string" || m[key] === "") return { error: `${key} missing` };
  }
  if (!Array.isArray(m.modules) || !m.modules.every((name) => typeof name === "string")) return { error: "modules is not a list of names" };
  if (!Array.isArray(m.files)) return { error: "files missing" };
  for (const name of [IMAGE_KERNEL_FILE, IMAGE_INITRD_FILE]) {
    const entry = m.files.find((file) => file?.name === name);
    if (entry === undefined || !Number.isSafeInteger(entry.bytes) || entry.bytes <= 0 || typeof entry.sha256 !== "string" || !SHA256.test(entry.sha256)) return { error: `files: no valid entry for ${name}` };
  }
  return m as ImageManifest;
}
