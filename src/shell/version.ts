// Blixard's version, read once from package.json (the one place it is written), for `--version`,
// `blixard version` and each node's status.
import { readFileSync } from "node:fs";

export const BLIXARD_VERSION: string = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;
