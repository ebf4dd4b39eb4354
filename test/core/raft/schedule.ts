// Random fault schedules for property tests: a fast-check arbitrary of commands and the runner
// that plays them against a Cluster, whose checks run after every step.

import fc from "fast-check";
import type { Message, NodeId, PlantedBug, RaftConfig } from "../../../src/core/raft/types.ts";
import { Cluster, type CrashPoint } from "./harness.ts";

export type Command =
  | { readonly kind: "tick"; readonly node: number; readonly times: number }
  | { readonly kind: "tick-all" }
  | { readonly kind: "deliver-all" }
  | { readonly kind: "deliver"; readonly pick: number; readonly count: number }
  | { readonly kind: "duplicate"; readonly pick: number }
  | { readonly kind: "drop"; readonly pick: number }
  | { readonly kind: "propose"; readonly node: number }
  | { readonly kind: "read"; readonly node: number }
  | { readonly kind: "campaign"; readonly node: number }
  | { readonly kind: "transfer"; readonly node: number }
  | { readonly kind: "hold"; readonly node: number; readonly commands: number }
  | { readonly kind: "partition"; readonly mask: number }
  | { readonly kind: "heal" }
  | { readonly kind: "crash"; readonly node: number; readonly point: CrashPoint }
  | { readonly kind: "deliver-crash"; readonly pick: number; readonly point: CrashPoint }
  | { readonly kind: "conf-change"; readonly change: "add-learner" | "promote" | "remove"; readonly node: number }
  | { readonly kind: "restart"; readonly node: number }
  | { readonly kind: "compact"; readonly node: number };

export function commandArbitrary(nodeCount: number, withConfChanges = false): fc.Arbitrary<Command> {
  const node = fc.integer({ min: 1, max: nodeCount });
  const crashPoint = fc.constantFrom<CrashPoint>("between-readies", "before-persist", "after-persist");
  const confChange = fc.record({ kind: fc.constant("conf-change" as const), change: fc.constantFrom("add-learner" as const, "promote" as const, "remove" as const), node });
  return fc.oneof(
    { weight: withConfChanges ? 2 : 0, arbitrary: confChange },
    { weight: 6, arbitrary: fc.record({ kind: fc.constant("deliver" as const), pick: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("tick" as const), node, times: fc.integer({ min: 1, max: 6 }) }) },
    { weight: 2, arbitrary: fc.constant({ kind: "tick-all" as const }) },
    { weight: 4, arbitrary: fc.constant({ kind: "deliver-all" as const }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("duplicate" as const), pick: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("drop" as const), pick: fc.nat() }) },
    { weight: 5, arbitrary: fc.record({ kind: fc.constant("propose" as const), node }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant("read" as const), node }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("campaign" as const), node }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("transfer" as const), node }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("hold" as const), node, commands: fc.integer({ min: 1, max: 10 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("partition" as const), mask: fc.nat({ max: (1 << nodeCount) - 1 }) }) },
    { weight: 1, arbitrary: fc.constant({ kind: "heal" as const }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("crash" as const), node, point: crashPoint }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("deliver-crash" as const), pick: fc.nat(), point: crashPoint }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("restart" as const), node }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("compact" as const), node }) },
  );
}

export interface ScheduleOptions {
  readonly nodeCount: number;
  /** Bootstrap voters (default: every node); the other nodes start as joiners with an empty membership. */
  readonly voterCount?: number;
  readonly plantedBugs?: readonly PlantedBug[];
  readonly config?: Partial<Omit<RaftConfig, "id" | "random">>;
  /** See ClusterOptions.sendEverythingEarly. */
  readonly sendEverythingEarly?: boolean;
  /** Sees every message sent (see Cluster.onSend). */
  readonly onSend?: (message: Message) => void;
}

/** Plays `commands`; throws SafetyViolation (or a core AssertionFailure) on the first violation. */
export function runSchedule(commands: readonly Command[], options: ScheduleOptions): Cluster {
  const ids = Array.from({ length: options.nodeCount }, (_, i) => i + 1);
  const voters = ids.slice(0, options.voterCount ?? options.nodeCount);
  const joiners = ids.slice(voters.length);
  const c = new Cluster({
    voters,
    joiners,
    plantedBugs: options.plantedBugs,
    sendEverythingEarly: options.sendEverythingEarly,
    config: { electionTicks: 6, heartbeatTicks: 2, ...options.config },
  });
  c.onSend = options.onSend;
  let proposals = 0;
  const releaseAt = new Map<NodeId, number>();
  for (const [position, command] of commands.entries()) {
    for (const [id, at] of [...releaseAt]) {
      if (at > position) continue;
      releaseAt.delete(id);
      c.release(id);
    }
    switch (command.kind) {
      case "tick":
        c.tick(command.node, command.times);
        break;
      case "tick-all":
        c.tickAll();
        break;
      case "deliver-all":
        c.stabilize();
        break;
      case "deliver":
        for (let i = 0; i < command.count && c.queue.length > 0; i += 1) c.deliver((command.pick + i) % c.queue.length);
        break;
      case "duplicate":
        if (c.queue.length > 0) c.deliverDuplicate(command.pick % c.queue.length);
        break;
      case "drop":
        if (c.queue.length > 0) c.drop(command.pick % c.queue.length);
        break;
      case "propose": {
        // Clients mostly find the leader; sometimes they ask a random node (which refuses).
        const target = command.node % 2 === 0 ? (c.leader() ?? command.node) : command.node;
        if (c.up(target)) {
          proposals += 1;
          c.propose(target, `p${proposals}@${target}`);
        }
        break;
      }
      case "read":
        if (c.up(command.node)) c.readIndex(command.node);
        break;
      case "campaign":
        if (c.up(command.node)) {
          c.core(command.node).campaign();
          c.processReady(command.node);
        }
        break;
      case "transfer": {
        const leader = c.leader();
        if (leader !== undefined) {
          c.core(leader).transferLeadership(command.node);
          c.processReady(leader);
        }
        break;
      }
      case "hold":
        // The node's next Ready waits (a slow fsync) while the next few commands run.
        c.hold(command.node);
        releaseAt.set(command.node, position + command.commands);
        break;
      case "partition": {
        const inside: NodeId[] = ids.filter((id) => (command.mask & (1 << (id - 1))) !== 0);
        c.partition(inside, ids.filter((id) => !inside.includes(id)));
        break;
      }
      case "heal":
        c.heal();
        break;
      case "crash":
        c.crash(command.node, command.point);
        break;
      case "deliver-crash":
        // The target reacts to a message and crashes in the middle of the Ready it produced.
        if (c.queue.length > 0) c.deliverAndCrash(command.pick % c.queue.length, command.point);
        break;
      case "conf-change": {
        const leader = c.leader();
        if (leader !== undefined) c.proposeConfChange(leader, { type: command.change, nodeId: command.node });
        break;
      }
      case "restart": {
        const down = ids.filter((id) => !c.up(id));
        if (down.length > 0) c.restart(down[command.node % down.length]!);
        break;
      }
      case "compact":
        if (c.up(command.node)) c.compact(command.node);
        break;
    }
  }
  return c;
}

/**
 * After the faults stop (partitions healed, every node restarted, no message lost), the cluster
 * elects a leader and every member applies a new proposal. Throws when it does not.
 */
export function checkLiveness(c: Cluster, maxTicks = 1_000): void {
  c.heal();
  c.dropFilter = undefined;
  for (const id of c.ids()) c.restart(id);
  for (const id of c.ids()) c.release(id);
  const payload = "liveness-probe";
  let leader: NodeId | undefined;
  let proposed = false;
  const done = c.runUntil(() => {
    const current = c.leader();
    if (current === undefined) return false;
    if (!proposed || current !== leader) {
      leader = current;
      // The application snapshots so that joining nodes can learn their membership.
      c.compact(current);
      proposed = c.propose(current, payload);
      return false;
    }
    const conf = c.core(current).status().confState;
    return [...conf.voters, ...conf.learners].every((id) => c.node(id).appliedData.includes(payload));
  }, maxTicks);
  if (!done) {
    const states = c.ids().map((id) => {
      const s = c.core(id).status();
      return `${id}:${s.role}/t${s.hardState.term}/c${s.hardState.commit}/last${s.lastIndex}/applied${c.node(id).appliedIndex}/conf${s.confState.voters}|${s.confState.learners}`;
    });
    throw new Error(`no progress after the faults stopped: ${states.join(" ")}`);
  }
}
