// Raft core throughput: a 3-node and a 5-node cluster driven in memory (no disk, no network
// latency, every Ready carried out at once), proposals in batches. Prints figures; asserts nothing.
//   npm run bench:raft-core

import { RawNode } from "../src/core/raft/raw-node.ts";
import type { Message, RaftConfig } from "../src/core/raft/types.ts";

const config: Omit<RaftConfig, "id" | "random"> = {
  electionTicks: 10,
  heartbeatTicks: 1,
  preVote: true,
  checkQuorum: true,
  maxMessageBytes: 64 * 1024,
  maxInflightMessages: 256,
  maxInflightBytes: 8 * 1024 * 1024,
  maxUncommittedBytes: 64 * 1024 * 1024,
  maxPendingReads: 1024,
};

function counterRandom(seed: number): { intBelow(bound: number): number } {
  let state = seed;
  return { intBelow: (bound) => (state = (state * 1103515245 + 12345) % 2147483648) % bound };
}

function run(nodeCount: number, proposals: number, batch: number, payloadBytes: number, print = true): void {
  const ids = Array.from({ length: nodeCount }, (_, i) => i + 1);
  const nodes = new Map(
    ids.map((id) => [
      id,
      new RawNode({ ...config, id, random: counterRandom(id) }, { hardState: { term: 0, vote: 0, commit: 0 }, snapshot: undefined, entries: [], confState: { voters: ids, learners: [] } }),
    ]),
  );
  const queue: Message[] = [];
  let stepped = 0;
  let applied = 0;
  const pump = (): void => {
    for (let progress = true; progress; ) {
      progress = false;
      for (const node of nodes.values()) {
        if (!node.hasReady()) continue;
        const rd = node.ready();
        queue.push(...rd.messagesBeforePersist, ...rd.messages);
        if (node === nodes.get(1)) applied += rd.committedEntries.length;
        node.advance();
        progress = true;
      }
      while (queue.length > 0) {
        const message = queue.shift()!;
        nodes.get(message.to)!.step(message);
        stepped += 1;
        progress = true;
      }
    }
  };
  const leader = nodes.get(1)!;
  leader.campaign();
  pump();
  const payload = new Uint8Array(payloadBytes);
  const started = performance.now();
  let proposed = 0;
  while (proposed < proposals) {
    for (let i = 0; i < batch; i += 1) {
      if (leader.propose(payload).ok) proposed += 1;
    }
    pump();
    leader.tick();
    pump();
  }
  const seconds = (performance.now() - started) / 1000;
  if (!print) return;
  console.log(
    `${nodeCount} nodes, ${proposals} proposals of ${payloadBytes} B in batches of ${batch}: ` +
      `${Math.round(applied / seconds).toLocaleString("en-US")} entries committed/s, ` +
      `${Math.round(stepped / seconds).toLocaleString("en-US")} messages stepped/s (${seconds.toFixed(2)} s)`,
  );
}

run(3, 20_000, 100, 64, false); // warm-up for the JIT
run(3, 100_000, 100, 64);
run(5, 100_000, 100, 64);
run(3, 50_000, 1, 64);
