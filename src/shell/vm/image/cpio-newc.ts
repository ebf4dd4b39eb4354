// The "newc" cpio archive (SVR4 without checksums) that the Linux kernel unpacks as its initramfs
// (Documentation/driver-api/early-userspace/buffer-format.rst). Written by our own code because
// cpio(1) is not on a fresh machine, and because only a writer of our own can put a device node
// (/dev/console) in the archive without root. Pure: bytes in, bytes out.
//
// Each entry: the 6-byte magic "070701", 13 fields of 8 hex digits (ino, mode, uid, gid, nlink,
// mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize with its NUL, check), the
// name and a NUL padded to a multiple of 4, the data padded to a multiple of 4; the archive ends
// with the entry "TRAILER!!!". Every field we write is fixed (uid 0, mtime 0, ino by position), so
// the same entries always give the same bytes: the image build is reproducible.

import { assert } from "../../../core/assert.ts";

export type CpioEntry =
  | { readonly kind: "directory"; readonly path: string; readonly mode: number }
  | { readonly kind: "file"; readonly path: string; readonly mode: number; readonly data: Uint8Array }
  | { readonly kind: "symlink"; readonly path: string; readonly target: string }
  | { readonly kind: "char-device"; readonly path: string; readonly mode: number; readonly major: number; readonly minor: number };

export const CPIO_LIMITS = {
  entriesMax: 100_000,
  pathBytesMax: 4_096,
  /** The filesize field is 32 bits. */
  fileBytesMax: 0xffff_ffff,
} as const;

const MAGIC = "070701";
const HEADER_BYTES = 110;
const TRAILER = "TRAILER!!!";
const S_IFMT = 0o170000;
const TYPE_BITS = { directory: 0o040000, file: 0o100000, symlink: 0o120000, "char-device": 0o020000 } as const;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

function pad4(length: number): number {
  return (4 - (length % 4)) % 4;
}

function hex8(value: number): string {
  assert(Number.isSafeInteger(value) && value >= 0 && value <= 0xffff_ffff, () => `cpio: field ${value} does not fit 8 hex digits`);
  return value.toString(16).padStart(8, "0");
}

function validatePath(path: string): void {
  assert(path !== "" && !path.startsWith("/") && !path.split("/").includes(".."), () => `cpio: path "${path}" must be relative, non-empty, without ".."`);
  assert(encoder.encode(path).length <= CPIO_LIMITS.pathBytesMax && !path.includes("\0"), () => `cpio: path "${path.slice(0, 40)}..." too long or holds a NUL`);
}

function header(fields: { ino: number; mode: number; nlink: number; size: number; rdevMajor: number; rdevMinor: number; nameBytes: number }): string {
  return MAGIC + [fields.ino, fields.mode, 0, 0, fields.nlink, 0, fields.size, 0, 0, fields.rdevMajor, fields.rdevMinor, fields.nameBytes, 0].map(hex8).join("");
}

/** The archive of `entries`, in their order (a directory must come before what it holds), with the trailer. */
export function writeCpioNewc(entries: readonly CpioEntry[]): Uint8Array {
  assert(entries.length <= CPIO_LIMITS.entriesMax, () => `cpio: ${entries.length} entries, over ${CPIO_LIMITS.entriesMax}`);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const push = (bytes: Uint8Array): void => {
    chunks.push(bytes);
    total += bytes.length;
  };
  const pushEntry = (ino: number, mode: number, nlink: number, name: string, data: Uint8Array, rdevMajor = 0, rdevMinor = 0): void => {
    const nameBytes = encoder.encode(`${name}\0`);
    push(encoder.encode(header({ ino, mode, nlink, size: data.length, rdevMajor, rdevMinor, nameBytes: nameBytes.length })));
    push(nameBytes);
    push(new Uint8Array(pad4(HEADER_BYTES + nameBytes.length)));
    push(data);
    push(new Uint8Array(pad4(data.length)));
  };
  const seen = new Set<string>();
  entries.forEach((entry, index) => {
    validatePath(entry.path);
    assert(!seen.has(entry.path), () => `cpio: path "${entry.path}" twice`);
    seen.add(entry.path);
    const ino = index + 1;
    switch (entry.kind) {
      case "directory":
        pushEntry(ino, TYPE_BITS.directory | (entry.mode & 0o7777), 2, entry.path, new Uint8Array(0));
        break;
      case "file":
        assert(entry.data.length <= CPIO_LIMITS.fileBytesMax, () => `cpio: ${entry.path} is over 4 GiB`);
        pushEntry(ino, TYPE_BITS.file | (entry.mode & 0o7777), 1, entry.path, entry.data);
        break;
      case "symlink":
        assert(entry.target !== "", () => `cpio: symlink ${entry.path} has an empty target`);
        pushEntry(ino, TYPE_BITS.symlink | 0o777, 1, entry.path, encoder.encode(entry.target));
        break;
      case "char-device":
        pushEntry(ino, TYPE_BITS["char-device"] | (entry.mode & 0o7777), 1, entry.path, new Uint8Array(0), entry.major, entry.minor);
        break;
    }
  });
  pushEntry(0, 0, 1, TRAILER, new Uint8Array(0));
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  assert(offset === total && total % 4 === 0, "cpio: the archive is a whole number of 4-byte words");
  return out;
}

/** Reads an archive written by writeCpioNewc (or any newc archive of these four kinds); throws on malformed input. */
export function readCpioNewc(bytes: Uint8Array): CpioEntry[] {
  const entries: CpioEntry[] = [];
  let offset = 0;
  const field = (at: number, index: number): number => {
    const text = decoder.decode(bytes.subarray(at + 6 + index * 8, at + 14 + index * 8));
    if (!/^[0-9a-fA-F]{8}$/.test(text)) throw new Error(`cpio: bad header field ${index} at byte ${at}`);
    return parseInt(text, 16);
  };
  for (;;) {
    if (entries.length > CPIO_LIMITS.entriesMax) throw new Error(`cpio: more than ${CPIO_LIMITS.entriesMax} entries`);
    if (offset + HEADER_BYTES > bytes.length) throw new Error(`cpio: truncated header at byte ${offset} (no trailer)`);
    if (decoder.decode(bytes.subarray(offset, offset + 6)) !== MAGIC) throw new Error(`cpio: bad magic at byte ${offset}`);
    const mode = field(offset, 1);
    const size = field(offset, 6);
    const rdevMajor = field(offset, 9);
    const rdevMinor = field(offset, 10);
    const nameBytes = field(offset, 11);
    if (nameBytes < 1 || nameBytes > CPIO_LIMITS.pathBytesMax + 1) throw new Error(`cpio: bad name size ${nameBytes} at byte ${offset}`);
    const nameStart = offset + HEADER_BYTES;
    const dataStart = nameStart + nameBytes + pad4(HEADER_BYTES + nameBytes);
    const next = dataStart + size + pad4(size);
    if (dataStart + size > bytes.length) throw new Error(`cpio: truncated entry at byte ${offset}`);
    if (bytes[nameStart + nameBytes - 1] !== 0) throw new Error(`cpio: name at byte ${offset} is not NUL-terminated`);
    const path = decoder.decode(bytes.subarray(nameStart, nameStart + nameBytes - 1));
    const data = bytes.slice(dataStart, dataStart + size);
    offset = next;
    if (path === TRAILER) break;
    const permissions = mode & 0o7777;
    switch (mode & S_IFMT) {
      case TYPE_BITS.directory:
        entries.push({ kind: "directory", path, mode: permissions });
        break;
      case TYPE_BITS.file:
        entries.push({ kind: "file", path, mode: permissions, data });
        break;
      case TYPE_BITS.symlink:
        entries.push({ kind: "symlink", path, target: decoder.decode(data) });
        break;
      case TYPE_BITS["char-device"]:
        entries.push({ kind: "char-device", path, mode: permissions, major: rdevMajor, minor: rdevMinor });
        break;
      default:
        throw new Error(`cpio: ${path}: unsupported file type ${(mode & S_IFMT).toString(8)}`);
    }
  }
  assert(offset <= bytes.length, "cpio: read within the archive");
  return entries;
}
