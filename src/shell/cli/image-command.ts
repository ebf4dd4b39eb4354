// `blixard image build [--out DIR] [--force]`: the default guest image (vmlinuz, initrd.img,
// manifest.json) from Debian packages, installing nothing (src/shell/vm/image/image-builder.ts,
// docs/IMAGES.md). Progress lines go to stderr, the result line to stdout; a failure is one line
// on stderr and exit code 1 (EXIT_NOT_APPLIED, as for the CLI's other commands that did nothing).
import type { Command } from "commander";
import { EXIT_NOT_APPLIED } from "./api-output.ts";
import { UsageError } from "./usage-error.ts";
import { buildDefaultImage, ImageBuildError } from "../vm/image/image-builder.ts";
import { defaultImageDir } from "../vm/image/image-dir.ts";
import { oneLine } from "./fatal-exit.ts";

export function registerImageCommand(program: Command): void {
  const image = program.command("image").description("guest images for the qemu backend");
  image
    .command("build")
    .description("build the default guest image (Debian's cloud kernel and busybox-static, downloaded with apt-get, nothing installed)")
    .option("--out <DIR>", "where the image goes (default: $BLIXARD_IMAGE_DIR, else $XDG_CACHE_HOME/blixard/image, else ~/.cache/blixard/image)")
    .option("--force", "rebuild even when a valid image is already there", false)
    .addHelpText("after", "\nExample:\n  blixard image build --out /var/lib/blixard/image\n")
    .action(async (options: { out?: string; force: boolean }) => {
      if (options.out !== undefined && options.out.trim() === "") throw new UsageError("--out: empty directory name");
      const outDir = options.out ?? defaultImageDir();
      const startedMs = Date.now();
      try {
        const result = await buildDefaultImage({ outDir, force: options.force, progress: (line) => process.stderr.write(`${line}\n`) });
        const seconds = ((Date.now() - startedMs) / 1000).toFixed(1);
        process.stdout.write(`${result.built ? `built in ${seconds} s` : "already built"}: ${result.dir} (${result.manifest.kernelPackage} ${result.manifest.kernelPackageVersion})\n`);
      } catch (error) {
        if (!(error instanceof ImageBuildError)) throw error;
        process.stderr.write(`blixard image build: ${oneLine(error.message)}\n`);
        process.exitCode = EXIT_NOT_APPLIED;
      }
    });
}
