// The Raft core's public surface: the RawNode behind the RaftCore interface, the conf-change
// encoding that entries carry, and the core's types.
export { RawNode } from "./raw-node.ts";
export {
  applyConfChange,
  confStateAfterEntries,
  confStatesEqual,
  decodeConfChange,
  encodeConfChange,
  tryDecodeConfChange,
  validateConfChange,
} from "./conf-change.ts";
export type { ConfChangeResult, DecodedConfChange } from "./conf-change.ts";
export { statusReaders } from "./status-readers.ts";
export type { StatusReaders } from "./status-readers.ts";
export { MAX_ENTRIES_PER_APPEND, MAX_SNAPSHOT_MEMBERS, MAX_TERM_OR_INDEX, validateMessage } from "./validate-message.ts";
export type * from "./types.ts";
