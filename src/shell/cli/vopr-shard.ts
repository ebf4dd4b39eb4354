// `blixard vopr --shard I/N` (docs/SIMULATION.md, "Shards"): a batch's seeds split across N
// processes, machines or pods, so an existing batch engine runs them (a Kubernetes Indexed Job,
// whose JOB_COMPLETION_INDEX is 0..N-1; Nomad batch jobs; plain parallel processes). Shard I takes
// the seeds at positions I, I + N, I + 2N, ... of the batch: every shard gets a like mix of seeds,
// and together they are the batch, each seed exactly once. `blixard vopr merge` adds their
// reports up (vopr-report-file.ts).

import { assert } from "../../core/assert.ts";
import { UsageError } from "./usage-error.ts";

/** More shards than this is a mistake, not a plan (Kubernetes caps an Indexed Job's parallelism at 10^5). */
export const VOPR_SHARDS_MAX = 100_000;

export interface VoprShard {
  /** 0-based, like a Kubernetes Indexed Job's completion index. */
  readonly index: number;
  readonly count: number;
}

/** "I/N" with 0 <= I < N <= VOPR_SHARDS_MAX; a UsageError naming what is wrong otherwise. */
export function parseShard(text: string): VoprShard {
  const match = /^(\d{1,6})\/(\d{1,6})$/.exec(text.trim());
  if (match === null) throw new UsageError(`--shard: "${text}" is not I/N (shard I of N, 0 <= I < N; example: 0/4)`);
  const index = Number(match[1]);
  const count = Number(match[2]);
  if (count < 1 || count > VOPR_SHARDS_MAX) throw new UsageError(`--shard: "${text}": the shard count ${count} is not in 1..${VOPR_SHARDS_MAX}`);
  if (index >= count) throw new UsageError(`--shard: "${text}": shard index ${index} is not below the shard count ${count} (shards are 0..${count - 1})`);
  return { index, count };
}

/** The shard's seeds of the batch, in batch order. */
export function shardSeeds(seeds: readonly string[], shard: VoprShard): string[] {
  assert(shard.index >= 0 && shard.index < shard.count, "a parsed shard");
  const out: string[] = [];
  for (let position = shard.index; position < seeds.length; position += shard.count) out.push(seeds[position]!);
  assert(out.length === Math.max(0, Math.ceil((seeds.length - shard.index) / shard.count)), "the shard holds every count-th seed");
  return out;
}
