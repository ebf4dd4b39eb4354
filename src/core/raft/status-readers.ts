// The single-field readers of RaftCore (currentTerm, commitIndex, ...) derived from a status()
// function: for test doubles and other RaftCore stand-ins that only know how to build a status.
// RawNode implements the readers directly, without allocating.

import type { RaftCore, RaftStatus } from "./types.ts";

export type StatusReaders = Pick<RaftCore, "currentTerm" | "currentRole" | "currentLeader" | "commitIndex" | "appliedIndex" | "lastIndex" | "snapshotIndex">;

export function statusReaders(status: () => RaftStatus): StatusReaders {
  return {
    currentTerm: () => status().hardState.term,
    currentRole: () => status().role,
    currentLeader: () => status().leaderId,
    commitIndex: () => status().hardState.commit,
    appliedIndex: () => status().applied,
    lastIndex: () => status().lastIndex,
    snapshotIndex: () => status().snapshotIndex,
  };
}
