// Where this host keeps its default guest image, and the names of the image's files.
import { homedir } from "node:os";
import { join } from "node:path";

export const IMAGE_KERNEL_FILE = "vmlinuz";
export const IMAGE_INITRD_FILE = "initrd.img";
export const IMAGE_MANIFEST_FILE = "manifest.json";

/** $BLIXARD_IMAGE_DIR, else $XDG_CACHE_HOME/blixard/image, else ~/.cache/blixard/image (empty values count as unset). */
export function defaultImageDir(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): string {
  const explicit = env.BLIXARD_IMAGE_DIR;
  if (explicit !== undefined && explicit !== "") return explicit;
  const cache = env.XDG_CACHE_HOME;
  if (cache !== undefined && cache !== "") return join(cache, "blixard", "image");
  return join(home, ".cache", "blixard", "image");
}
