// The catalogue of failpoints in core code (Environment.failpoint, BUGGIFY / fail-rs style):
// every named point, where it is, and what firing it means there. A point names a rare path
// that the simulator should reach; the simulator's driver (src/core/sim/failpoint-driver.ts)
// fires each with a per-run probability and reports how often each was evaluated and fired,
// so a point that no run reaches shows up as a gap. Production answers noFailpoints: one
// branch per point, never fired. A point's firing must be something the world could do
// anyway: it takes a legal path, never breaks a contract.

export const FAILPOINTS = {
  /**
   * src/core/replica/raft-channel.ts, send(): the outgoing Raft message is refused as if the
   * transport's per-peer queue were full (Transport.send returned false). Raft must recover
   * through retransmission, as it does when a real peer's queue overflows in a burst.
   */
  "raft-channel/send-refused": "an outgoing Raft message is refused as if the peer's send queue were full",
  /**
   * src/core/replica/replica.ts, maybeSnapshot(): the replica snapshots and compacts its log
   * now, however few entries it applied since the last snapshot. Lagging followers then need
   * a snapshot instead of entries, and requests whose entries were compacted away resolve as
   * "unknown": paths that a production node reaches only every snapshotEveryEntries entries.
   */
  "replica/snapshot-early": "the replica snapshots and compacts its log at once, whatever snapshotEveryEntries says",
} as const;

export type FailpointName = keyof typeof FAILPOINTS;
export const FAILPOINT_NAMES: readonly FailpointName[] = (Object.keys(FAILPOINTS) as FailpointName[]).sort();

export function isFailpointName(name: string): name is FailpointName {
  return Object.hasOwn(FAILPOINTS, name);
}
