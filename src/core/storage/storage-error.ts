// The errors a store reports to its caller. They are operating conditions, not
// programmer errors: the node stops with `message` as its one-line explanation.
//   corrupt            a checksum or a structural check failed on data that was durable
//                      (docs/STORAGE.md, "Corruption policy"): the node must not serve it;
//   identity-mismatch  the directory belongs to another node or cluster;
//   io                 the disk refused an operation (full, failing, missing file).

import type { DiskError } from "../env/environment.ts";

export type StorageErrorCode = "corrupt" | "identity-mismatch" | "io";

export class StorageError extends Error {
  constructor(
    readonly code: StorageErrorCode,
    message: string,
    /** The file concerned, when there is one. */
    readonly file?: string,
    /** The byte offset in `file` where the problem starts, for "corrupt". */
    readonly offset?: number,
  ) {
    super(message);
    this.name = "StorageError";
  }

  static corrupt(file: string, offset: number, what: string): StorageError {
    return new StorageError("corrupt", `storage corrupt: ${file} at offset ${offset}: ${what}`, file, offset);
  }

  static io(operation: string, file: string, error: DiskError): StorageError {
    return new StorageError("io", `storage ${operation} of ${file} failed: ${error.code}: ${error.message}`, file);
  }
}
