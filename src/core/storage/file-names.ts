// The names of a store's files (docs/STORAGE.md, "Files"). Indexes are 16 lower-case hex
// digits so that lexicographic order (Disk.list) is numeric order.

export const IDENTITY_FILE = "identity";
export const HARD_STATE_FILE = "hardstate";
export const TEMPORARY_SUFFIX = ".tmp";

const SEGMENT_PATTERN = /^wal-([0-9a-f]{16})\.log$/;
const SNAPSHOT_PATTERN = /^snapshot-([0-9a-f]{16})\.snap$/;

function hex16(index: number): string {
  return index.toString(16).padStart(16, "0");
}

export function segmentFileName(firstIndex: number): string {
  return `wal-${hex16(firstIndex)}.log`;
}

export function snapshotFileName(index: number): string {
  return `snapshot-${hex16(index)}.snap`;
}

/** The first index in a segment file's name, or undefined if `name` is not a segment. */
export function parseSegmentFileName(name: string): number | undefined {
  const match = SEGMENT_PATTERN.exec(name);
  return match === null ? undefined : safeIndex(Number.parseInt(match[1]!, 16));
}

/** The index in a snapshot file's name, or undefined if `name` is not a snapshot. */
export function parseSnapshotFileName(name: string): number | undefined {
  const match = SNAPSHOT_PATTERN.exec(name);
  return match === null ? undefined : safeIndex(Number.parseInt(match[1]!, 16));
}

function safeIndex(value: number): number | undefined {
  return Number.isSafeInteger(value) && value >= 1 ? value : undefined;
}
