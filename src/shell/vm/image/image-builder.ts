// `blixard image build`: the default guest image from Debian packages only, installing nothing.
//   1. the kernel: linux-image-cloud-amd64's dependency (apt-cache depends; else the newest
//      linux-image-*-cloud-amd64), `apt-get download` + `dpkg -x`: vmlinuz and the modules the
//      init loads, with their dependencies read from each module (kernel-modules.ts);
//   2. busybox-static, the same way, for its one static binary;
//   3. initrd.img: our own newc cpio (cpio-newc.ts) of busybox, the init script (guest-init.sh,
//      embedded from this directory) and the modules, gzipped with node:zlib.
// The out directory holds vmlinuz, initrd.img and manifest.json. It is built in a temporary
// sibling and renamed into place, so a reader sees no image or a whole one; a valid image with the
// current init script is left alone (idempotent) unless forced.

import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { gzipSync } from "node:zlib";
import { aptError, cloudKernelFromDepends, megabytes, newestCloudKernel, packageFacts } from "./apt-output.ts";
import { writeCpioNewc } from "./cpio-newc.ts";
import { IMAGE_INITRD_FILE, IMAGE_KERNEL_FILE, IMAGE_MANIFEST_FILE } from "./image-dir.ts";
import { IMAGE_MANIFEST_FORMAT, parseImageManifest, type ImageManifest } from "./image-manifest.ts";
import { initramfsEntries } from "./initramfs.ts";
import { GUEST_MODULES_WANTED, moduleDepends, moduleLoadOrder, readModinfo } from "./kernel-modules.ts";

export const KERNEL_META_PACKAGE = "linux-image-cloud-amd64";
export const BUSYBOX_PACKAGE = "busybox-static";

export const IMAGE_BUILD_LIMITS = {
  /** apt-cache look-ups. */
  queryTimeoutMs: 60_000,
  /** One package download (the kernel is about 26 MB). */
  downloadTimeoutMs: 10 * 60_000,
  unpackTimeoutMs: 5 * 60_000,
  /** Output kept from one command, for its error line. */
  outputBytesMax: 256 * 1024,
  /** A kernel package holds a few thousand modules. */
  modulesScannedMax: 20_000,
} as const;

/** A failure of the build, as one line for the operator (apt-get missing, no network, package not found). */
export class ImageBuildError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ImageBuildError";
  }
}

export type Progress = (line: string) => void;

export interface BuildOptions {
  readonly outDir: string;
  readonly progress: Progress;
  /** Rebuild even when a valid image is there. */
  readonly force?: boolean;
}

export interface BuildResult {
  readonly dir: string;
  readonly manifest: ImageManifest;
  /** False when a valid image was already there. */
  readonly built: boolean;
}

/** The init script, embedded from the repository (src/shell/vm/image/guest-init.sh). */
export function guestInitScript(): Uint8Array {
  return readFileSync(new URL("./guest-init.sh", import.meta.url));
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

interface CommandResult {
  readonly code: number | null;
  readonly output: string;
}

/** Runs a command without a shell, output captured (bounded), killed after timeoutMs; ENOENT is an ImageBuildError naming the tool. */
function run(argv: readonly string[], cwd: string, timeoutMs: number): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, LC_ALL: "C" } });
    let output = "";
    const take = (chunk: Buffer): void => {
      if (output.length < IMAGE_BUILD_LIMITS.outputBytesMax) output += chunk.toString("utf8");
    };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new ImageBuildError(`${argv.join(" ")}: no answer within ${Math.round(timeoutMs / 1000)} s (no network?)`));
    }, timeoutMs);
    child.on("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (error.code === "ENOENT") reject(new ImageBuildError(`${argv[0]} is not installed: the image build needs Debian's apt-get and dpkg`));
      else reject(new ImageBuildError(`${argv[0]}: ${error.message}`));
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

async function query(argv: readonly string[], cwd: string): Promise<string> {
  const result = await run(argv, cwd, IMAGE_BUILD_LIMITS.queryTimeoutMs);
  if (result.code !== 0) throw new ImageBuildError(`${argv.join(" ")}: ${aptError(result.output)}`);
  return result.output;
}

/** The kernel package to take: the meta-package's dependency, else the newest one apt knows. */
async function resolveKernelPackage(work: string): Promise<string> {
  const depends = await run(["apt-cache", "depends", KERNEL_META_PACKAGE], work, IMAGE_BUILD_LIMITS.queryTimeoutMs);
  const fromMeta = depends.code === 0 ? cloudKernelFromDepends(depends.output) : undefined;
  if (fromMeta !== undefined) return fromMeta;
  const search = await query(["apt-cache", "search", "--names-only", "^linux-image-[0-9].*-cloud-amd64$"], work);
  const newest = newestCloudKernel(search);
  if (newest === undefined) throw new ImageBuildError(`package ${KERNEL_META_PACKAGE} not found, nor any linux-image-*-cloud-amd64 (run apt-get update first?)`);
  return newest;
}

/** Downloads one package into work and unpacks it into work/<name>; returns its version. */
async function fetchPackage(name: string, work: string, progress: Progress): Promise<{ readonly version: string; readonly root: string }> {
  const show = await run(["apt-cache", "show", "--no-all-versions", name], work, IMAGE_BUILD_LIMITS.queryTimeoutMs);
  const facts = show.code === 0 ? packageFacts(show.output) : undefined;
  if (facts === undefined) throw new ImageBuildError(`package ${name} not found (run apt-get update first?): ${aptError(show.output)}`);
  progress(`downloading ${name} ${facts.version} (${megabytes(facts.sizeBytes)})...`);
  const download = await run(["apt-get", "download", "-q", name], work, IMAGE_BUILD_LIMITS.downloadTimeoutMs);
  const deb = readdirSync(work).find((file) => file.startsWith(`${name}_`) && file.endsWith(".deb"));
  if (download.code !== 0 || deb === undefined) throw new ImageBuildError(`could not download ${name}: ${aptError(download.output)}`);
  const root = join(work, name);
  mkdirSync(root);
  const unpack = await run(["dpkg", "-x", deb, root], work, IMAGE_BUILD_LIMITS.unpackTimeoutMs);
  if (unpack.code !== 0) throw new ImageBuildError(`dpkg -x ${deb}: ${aptError(unpack.output)}`);
  rmSync(join(work, deb), { force: true });
  return { version: facts.version, root };
}

function firstExisting(paths: readonly string[]): string | undefined {
  return paths.find((path) => existsSync(path));
}

/** Every <name>.ko under dir (names with '-' read as '_', as the kernel does), bounded. */
function indexModules(dir: string): Map<string, string> {
  const found = new Map<string, string>();
  const stack = [dir];
  let scanned = 0;
  let compressed = "";
  while (stack.length > 0) {
    const current = stack.pop()!;
    for (const entry of readdirSync(current, { withFileTypes: true })) {
      const path = join(current, entry.name);
      if (entry.isDirectory()) stack.push(path);
      else if (entry.name.endsWith(".ko")) {
        if (++scanned > IMAGE_BUILD_LIMITS.modulesScannedMax) throw new ImageBuildError(`more than ${IMAGE_BUILD_LIMITS.modulesScannedMax} modules under ${dir}`);
        found.set(entry.name.slice(0, -3).replace(/-/g, "_"), path);
      } else if (/\.ko\.(xz|zst|gz)$/.test(entry.name)) {
        compressed = entry.name;
      }
    }
  }
  if (found.size === 0 && compressed !== "") throw new ImageBuildError(`the kernel package's modules are compressed (${compressed}): only plain .ko modules are supported`);
  return found;
}

/** Whether dir holds a whole image built with the current init script (hashes checked). */
export function readValidImage(dir: string, init: Uint8Array = guestInitScript()): ImageManifest | { readonly error: string } {
  const manifestPath = join(dir, IMAGE_MANIFEST_FILE);
  if (!existsSync(manifestPath)) return { error: `no ${IMAGE_MANIFEST_FILE} in ${dir}` };
  const manifest = parseImageManifest(readFileSync(manifestPath, "utf8"));
  if ("error" in manifest) return { error: `${manifestPath}: ${manifest.error}` };
  if (manifest.initSha256 !== sha256(init)) return { error: `${dir} was built with another init script` };
  for (const file of manifest.files) {
    const path = join(dir, file.name);
    if (!existsSync(path)) return { error: `${path} is missing` };
    if (sha256(readFileSync(path)) !== file.sha256) return { error: `${path} does not match its sha256 in the manifest` };
  }
  return manifest;
}

/** Builds the default image into options.outDir (see the file comment). */
export async function buildDefaultImage(options: BuildOptions): Promise<BuildResult> {
  const { outDir, progress } = options;
  const init = guestInitScript();
  if (options.force !== true) {
    const existing = readValidImage(outDir, init);
    if (!("error" in existing)) {
      progress(`image already built in ${outDir} (${existing.kernelPackage} ${existing.kernelPackageVersion}); --force rebuilds it`);
      return { dir: outDir, manifest: existing, built: false };
    }
  }
  const work = mkdtempSync(join(tmpdir(), "blixard-image-"));
  const parent = dirname(outDir);
  mkdirSync(parent, { recursive: true });
  const staging = join(parent, `.${basename(outDir)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
  try {
    progress(`resolving the kernel package (apt-cache depends ${KERNEL_META_PACKAGE})...`);
    const kernelPackage = await resolveKernelPackage(work);
    const kernel = await fetchPackage(kernelPackage, work, progress);
    const busybox = await fetchPackage(BUSYBOX_PACKAGE, work, progress);

    const modulesRoot = firstExisting([join(kernel.root, "lib", "modules"), join(kernel.root, "usr", "lib", "modules")]);
    const releases = modulesRoot === undefined ? [] : readdirSync(modulesRoot).sort();
    if (modulesRoot === undefined || releases.length !== 1) throw new ImageBuildError(`${kernelPackage}: expected one lib/modules/<release> directory, found ${releases.length}`);
    const kernelRelease = releases[0]!;
    const vmlinuz = firstExisting([join(kernel.root, "boot", `vmlinuz-${kernelRelease}`), join(kernel.root, "usr", "lib", "linux", `vmlinuz-${kernelRelease}`)]);
    if (vmlinuz === undefined) throw new ImageBuildError(`${kernelPackage}: no boot/vmlinuz-${kernelRelease} in the package`);
    const busyboxPath = firstExisting([join(busybox.root, "bin", "busybox"), join(busybox.root, "usr", "bin", "busybox")]);
    if (busyboxPath === undefined) throw new ImageBuildError(`${BUSYBOX_PACKAGE}: no bin/busybox in the package`);

    const modules = indexModules(join(modulesRoot, kernelRelease));
    const dependsCache = new Map<string, readonly string[]>();
    const order = moduleLoadOrder(GUEST_MODULES_WANTED, (name) => {
      const path = modules.get(name);
      if (path === undefined) return undefined;
      if (!dependsCache.has(name)) dependsCache.set(name, moduleDepends(readModinfo(readFileSync(path))));
      return dependsCache.get(name);
    });
    if ("error" in order) throw new ImageBuildError(`${kernelPackage}: ${order.error}`);
    progress(`writing ${IMAGE_INITRD_FILE}: busybox, the init script and ${order.order.length} modules (${order.order.join(", ")})...`);
    const archive = writeCpioNewc(
      initramfsEntries({ busybox: readFileSync(busyboxPath), init, modules: order.order.map((name) => ({ name, data: readFileSync(modules.get(name)!) })) }),
    );
    const initrd = gzipSync(archive, { level: 9 });
    const kernelBytes = readFileSync(vmlinuz);

    mkdirSync(staging);
    writeFileSync(join(staging, IMAGE_KERNEL_FILE), kernelBytes);
    writeFileSync(join(staging, IMAGE_INITRD_FILE), initrd);
    const manifest: ImageManifest = {
      format: IMAGE_MANIFEST_FORMAT,
      kernelPackage,
      kernelPackageVersion: kernel.version,
      kernelRelease,
      busyboxPackageVersion: busybox.version,
      modules: order.order,
      initSha256: sha256(init),
      files: [
        { name: IMAGE_KERNEL_FILE, bytes: kernelBytes.length, sha256: sha256(kernelBytes) },
        { name: IMAGE_INITRD_FILE, bytes: initrd.length, sha256: sha256(initrd) },
      ],
    };
    writeFileSync(join(staging, IMAGE_MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
    installStaging(staging, outDir);
    progress(`image ready in ${outDir}: ${IMAGE_KERNEL_FILE} ${megabytes(kernelBytes.length)}, ${IMAGE_INITRD_FILE} ${megabytes(initrd.length)} (${kernelPackage} ${kernel.version})`);
    return { dir: outDir, manifest, built: true };
  } finally {
    rmSync(work, { recursive: true, force: true });
    rmSync(staging, { recursive: true, force: true });
  }
}

/**
 * Renames the staged image into place; an old directory is moved aside first and removed after.
 * Two builds racing for one directory (two nodes of one host starting at once): the loser finds a
 * whole image there, built by the winner, and keeps it.
 */
function installStaging(staging: string, outDir: string): void {
  const raced = (error: unknown): boolean => {
    const code = (error as NodeJS.ErrnoException).code;
    return (code === "ENOTEMPTY" || code === "EEXIST" || code === "ENOENT") && !("error" in readValidImage(outDir));
  };
  if (existsSync(outDir)) {
    if (!statSync(outDir).isDirectory()) throw new ImageBuildError(`${outDir} exists and is not a directory`);
    const aside = `${staging}.old`;
    try {
      renameSync(outDir, aside);
    } catch (error) {
      if (raced(error)) return;
      throw error;
    }
    try {
      renameSync(staging, outDir);
    } catch (error) {
      if (raced(error)) {
        rmSync(aside, { recursive: true, force: true });
        return;
      }
      renameSync(aside, outDir);
      throw error;
    }
    rmSync(aside, { recursive: true, force: true });
    return;
  }
  try {
    renameSync(staging, outDir);
  } catch (error) {
    if (!raced(error)) throw error;
  }
}

/** For `blixard up`: the default image in dir, built first (and said so) when it is missing or stale. */
export async function ensureDefaultImage(dir: string, progress: Progress): Promise<BuildResult> {
  const existing = readValidImage(dir);
  if (!("error" in existing)) return { dir, manifest: existing, built: false };
  progress(`the default guest image is not ready (${existing.error}): building it (blixard image build --out ${dir})...`);
  return buildDefaultImage({ outDir: dir, progress, force: true });
}
