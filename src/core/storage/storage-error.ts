// The errors a store reports to its caller. They are operating conditions, not
// programmer errors. All but "no-space" stop the node with `message` as its one-line
// explanation.
//   corrupt            a checksum or a structural check failed on data that was durable
//                      (docs/STORAGE.md, "Corruption policy"): the node must not serve it;
//   identity-mismatch  the directory belongs to another node or cluster;
//   io                 the disk refused an operation (failing, missing file), or a flush failed
//                      (even with ENOSPC: after a failed fsync the page cache's state is unknown);
//   no-space           a write, truncate or rename found the disk full (ENOSPC, EDQUOT). The store
//                      undid what the operation left half done, stays consistent and open, and
//                      the same call may be retried (docs/STORAGE.md, "A full disk").

import type { DiskError } from "../env/environment.ts";

export type StorageErrorCode = "corrupt" | "identity-mismatch" | "io" | "no-space";

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

  /**
   * The error for a failed write, truncate or rename: "no-space" when the disk is full (the
   * caller may retry once the store undid the partial operation), else "io".
   */
  static ofWrite(operation: string, file: string, error: DiskError): StorageError {
    if (error.code !== "ENOSPC") return StorageError.io(operation, file, error);
    return new StorageError("no-space", `storage ${operation} of ${file} failed: no space left on device (${error.message})`, file);
  }
}
