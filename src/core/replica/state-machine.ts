// The application replicated by Raft, as the replica driver sees it. Commands are
// bytes because they live in the log; queries and results never leave the node,
// so they are plain values. Every method is deterministic: replicas that apply the
// same commands in the same order reach the same state (State Machine Safety rests on it).

export interface StateMachine<Result, Query, QueryResult> {
  /** Applies one committed command (never empty: the driver skips leaders' no-op entries). */
  apply(index: number, command: Uint8Array): Result;
  /** Answers a read against the current applied state, without changing it. */
  query(query: Query): QueryResult;
  /** The whole state, serialized deterministically (same state, same bytes). */
  snapshot(): Uint8Array;
  /** Replaces the whole state with a snapshot produced by snapshot() on some replica. */
  restore(snapshot: Uint8Array): void;
}
