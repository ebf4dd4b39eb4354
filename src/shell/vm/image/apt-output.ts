// Reading what apt-cache and apt-get print, for the image build: pure functions of their text.

/** The kernel's real package name from `apt-cache depends linux-image-cloud-amd64` ("  Depends: linux-image-6.1.0-50-cloud-amd64"). */
export function cloudKernelFromDepends(text: string): string | undefined {
  for (const line of text.split("\n")) {
    const match = /^\s*\|?Depends:\s*(linux-image-[0-9][^\s<>]*-cloud-amd64)\s*$/.exec(line);
    if (match !== null) return match[1];
  }
  return undefined;
}

/**
 * The newest kernel package among `apt-cache search --names-only` lines ("linux-image-6.1.0-50-cloud-amd64 - Linux 6.1 ..."),
 * by the numbers in the kernel release (6.1.0-50 > 6.1.0-9), for when the meta-package is missing.
 */
export function newestCloudKernel(searchText: string): string | undefined {
  const names: { name: string; numbers: number[] }[] = [];
  for (const line of searchText.split("\n")) {
    const match = /^(linux-image-([0-9][0-9.-]*[0-9])-cloud-amd64)(\s|$)/.exec(line);
    if (match === null || match[1]!.includes("-dbg")) continue;
    names.push({ name: match[1]!, numbers: match[2]!.split(/[.-]/).map(Number) });
  }
  names.sort((a, b) => {
    for (let i = 0; i < Math.max(a.numbers.length, b.numbers.length); i++) {
      const difference = (b.numbers[i] ?? -1) - (a.numbers[i] ?? -1);
      if (difference !== 0) return difference;
    }
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  });
  return names[0]?.name;
}

/** Version and size (bytes) from `apt-cache show --no-all-versions PACKAGE`. */
export function packageFacts(showText: string): { readonly version: string; readonly sizeBytes: number } | undefined {
  const version = /^Version:\s*(\S+)\s*$/m.exec(showText)?.[1];
  const size = /^Size:\s*(\d+)\s*$/m.exec(showText)?.[1];
  if (version === undefined || size === undefined) return undefined;
  return { version, sizeBytes: Number(size) };
}

/** "26 MB", "0.9 MB": a download size for a progress line (decimal megabytes, as apt prints them). */
export function megabytes(bytes: number): string {
  const mb = bytes / 1_000_000;
  return `${mb >= 10 ? Math.round(mb) : Math.round(mb * 10) / 10} MB`;
}

/** The first apt error line ("E: ...") of its output, or its last non-empty line, as one line. */
export function aptError(output: string): string {
  const lines = output.split("\n").map((line) => line.trim()).filter((line) => line !== "");
  const error = lines.find((line) => line.startsWith("E: ")) ?? lines[lines.length - 1] ?? "no output";
  return error.replace(/^E: /, "");
}
