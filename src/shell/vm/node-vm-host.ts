// What the API layer may ask of the VMs that run on this node, whatever backend runs them: the
// runtime holds one when it runs the orchestrator (`blixard node --vm-backend ...`), none when
// it does not. The VM API reads a VM's console here when the VM is on this node, and asks the
// VM's node otherwise.

import type { VmId } from "../../core/cluster/types.ts";

/** Bytes one console read may return (a stream reads in pieces of at most this). */
export const CONSOLE_READ_BYTES_MAX = 64 * 1024;

export interface ConsoleChunk {
  /** UTF-8 text of console.log from `offset` (each line starts with the host's ISO 8601 timestamp). */
  readonly text: string;
  /** Where the next read continues. */
  readonly nextOffset: number;
  /** The file's size now (a reader at nextOffset == size is caught up). */
  readonly sizeBytes: number;
}

export interface NodeVmHost {
  /** The backend in use, as `blixard up` and node status show it: "qemu (kvm)", "qemu (tcg: ...)", "process". */
  readonly description: string;
  /** console.log of a VM this node has (or had) from `offset`, at most bytesMax (<= CONSOLE_READ_BYTES_MAX); undefined when this node has no files for it. */
  readConsole(vmId: VmId, offset: number, bytesMax: number): ConsoleChunk | undefined;
}
