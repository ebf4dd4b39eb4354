// Simulated clients: each runs one operation at a time (put, get through ReadIndex,
// compare-and-set, and with mix.txn list-append transactions, transaction-history.ts) against the node it believes leads, follows leader hints (a refusal's, and
// the node that served an ok), retries
// requests that were certainly refused (bounded), and records every operation in the
// history with true simulated time. An operation whose outcome is unknown (timed out,
// or the node answered "unknown") is recorded as info (so is a cas refused on every attempt:
// for cas, "fail" means "the compare failed"), and the client continues under
// a fresh process number, as in Jepsen. Clients use true time: they are the observer.

import { assert, unreachable } from "../assert.ts";
import type { NodeId } from "../raft/types.ts";
import type { ClientRequest, RequestOutcome } from "../replica/request-types.ts";
import { outcomeProblem, requestFor, type ClientOperation, type TxnMicroOp } from "./client-protocol.ts";
import type { EventQueue } from "./event-queue.ts";
import type { History, HistoryEvent, HistoryValue } from "./history.ts";
import type { Prng } from "./prng.ts";
import type { TransactionHistory, TxnMicroResult } from "./transaction-history.ts";
import { KV_VALUE_BYTES_MAX } from "../replica/kv-state-machine.ts";

export interface WorkloadOptions {
  readonly clientCount: number;
  readonly keyCount: number;
  /** Pause between a client's operations, uniform in [min, max]. */
  readonly thinkTimeMs: readonly [number, number];
  /** An operation without a final answer after this long is info (writes) or fail (reads). */
  readonly operationTimeoutMs: number;
  /** Attempts per operation, each after a definite refusal. */
  readonly attemptsMax: number;
  /** Pause before the first retry; it doubles with every attempt, up to 1 s. */
  readonly retryBackoffMs: number;
  /** Probability that an operation starts at a random node rather than the believed leader (a load balancer in front). */
  readonly wanderProbability: number;
  /**
   * Operation mix, weights; txn (list-append transactions, default 0) needs the simulation's transaction history;
   * delete (one key, default 0) makes the key read as "" again.
   */
  readonly mix: { readonly get: number; readonly put: number; readonly cas: number; readonly txn?: number; readonly delete?: number };
  /** Transactions: list keys "l0".."l<n-1>", and 1 to microOpsMax micro-ops each, half appends and half reads. */
  readonly transactions?: TransactionOptions;
  /** Sizes of written values (a skewed mix, so appends fill up and get split). */
  readonly valueSizes: ValueSizes;
}

export interface TransactionOptions {
  readonly listKeyCount: number;
  readonly microOpsMax: number;
}

export const defaultTransactionOptions: TransactionOptions = { listKeyCount: 3, microOpsMax: 4 };

/** The mix of `blixard sim --workload txn`: registers and list-append transactions, as Jepsen's runs mix them. */
export const TRANSACTION_WORKLOAD_MIX: WorkloadOptions["mix"] = { get: 2, put: 2, cas: 2, txn: 4 };

/**
 * Written values are drawn from three bands by weight, each uniform in its byte range: most
 * small, some large, a few near the state machine's limit (KV_VALUE_BYTES_MAX). A value is
 * "c<client>-<n>" padded with dots to the drawn size (never shorter), so it stays unique.
 */
export interface ValueSizes {
  readonly small: ValueBand;
  readonly large: ValueBand;
  readonly nearLimit: ValueBand;
}

export interface ValueBand {
  readonly weight: number;
  readonly bytes: readonly [number, number];
}

/** Names only ("c<client>-<n>"): no padding, and no draws for it. */
export const unpaddedValueSizes: ValueSizes = {
  small: { weight: 1, bytes: [0, 0] },
  large: { weight: 0, bytes: [0, 0] },
  nearLimit: { weight: 0, bytes: [0, 0] },
};

/**
 * 90% of 0-32 bytes, 9.5% of 256 B-4 KiB, 0.5% within 1 KiB of the limit (a few per minute of the
 * standard scenario). Measured on the standard scenario: about 1.4x the cost of unpadded values;
 * 9% up to 8 KiB and 1% near the limit cost 2.3x.
 */
export const defaultValueSizes: ValueSizes = {
  small: { weight: 180, bytes: [0, 32] },
  large: { weight: 19, bytes: [256, 4 * 1024] },
  nearLimit: { weight: 1, bytes: [KV_VALUE_BYTES_MAX - 1024, KV_VALUE_BYTES_MAX] },
};

export const defaultWorkloadOptions: WorkloadOptions = {
  clientCount: 4,
  keyCount: 3,
  thinkTimeMs: [0, 100],
  operationTimeoutMs: 3_000,
  attemptsMax: 8,
  retryBackoffMs: 20,
  wanderProbability: 0.1,
  mix: { get: 4, put: 3, cas: 3 },
  valueSizes: defaultValueSizes,
};

export interface WorkloadStats {
  invoked: number;
  ok: number;
  fail: number;
  info: number;
  attempts: number;
  /** True time of the first ok completion, per phase marker (see markPhase). */
  firstOkAfterMarkUs: number;
}

interface Client {
  readonly index: number;
  readonly endpoint: number;
  process: number;
  believedLeader: NodeId;
  /** Makes written values unique: "c<client>-<n>". */
  valueSequence: number;
  operation: ClientOperation | undefined;
  requestId: number;
  attempts: number;
  deadlineUs: number;
  /**
   * The time of this client's one armed deadline event (0: none). An operation answered in time
   * leaves it armed; when it fires for an operation already over, it re-arms for the current one's
   * deadline (later: deadlines grow), so a client costs one deadline event per timeout, not one per operation.
   */
  deadlineArmedUs: number;
  /** Last value this client saw per key: its next cas expects it. */
  readonly lastSeen: Map<string, string>;
}

export class Workload {
  private readonly clients: Client[] = [];
  private nextRequestId = 1;
  private stopInvokingAtUs = Number.POSITIVE_INFINITY;
  private markUs = Number.POSITIVE_INFINITY;
  readonly stats: WorkloadStats = { invoked: 0, ok: 0, fail: 0, info: 0, attempts: 0, firstOkAfterMarkUs: -1 };

  constructor(
    private readonly queue: EventQueue,
    private readonly random: Prng,
    private readonly history: History,
    private readonly nodeIds: readonly NodeId[],
    /** Endpoint of client i is firstClientEndpoint + i. */
    private readonly firstClientEndpoint: number,
    private readonly options: WorkloadOptions,
    private readonly send: (fromEndpoint: number, toNode: NodeId, requestId: number, request: ClientRequest) => void,
    /** Sees every history event as it is recorded (the stale-read check). */
    private readonly onHistory: (event: HistoryEvent) => void,
    /** A reply without the shape its operation expects ("Client Protocol"); the reply is not used. */
    private readonly protocolViolation: (message: string) => void,
    /** Where transactions are recorded; required when mix.txn > 0. */
    private readonly transactions: TransactionHistory | undefined = undefined,
  ) {
    assert(options.clientCount > 0 && options.keyCount > 0 && options.attemptsMax > 0, "workload sizes must be positive");
    assert(options.thinkTimeMs[0] >= 0 && options.thinkTimeMs[0] <= options.thinkTimeMs[1], "think time is not a range");
    const txnWeight = options.mix.txn ?? 0;
    const deleteWeight = options.mix.delete ?? 0;
    assert(txnWeight >= 0 && deleteWeight >= 0 && options.mix.get + options.mix.put + options.mix.cas + txnWeight + deleteWeight > 0, "operation mix is empty");
    assert(txnWeight === 0 || transactions !== undefined, "transactions in the mix but no transaction history");
    const txn = options.transactions ?? defaultTransactionOptions;
    assert(txn.listKeyCount > 0 && txn.microOpsMax > 0, "transaction sizes must be positive");
    assert(options.wanderProbability >= 0 && options.wanderProbability <= 1, "wander probability outside [0, 1]");
    const sizes = options.valueSizes;
    assert(sizes.small.weight + sizes.large.weight + sizes.nearLimit.weight > 0, "value size bands have no weight");
    for (const band of [sizes.small, sizes.large, sizes.nearLimit]) {
      assert(band.weight >= 0 && band.bytes[0] >= 0 && band.bytes[0] <= band.bytes[1] && band.bytes[1] <= KV_VALUE_BYTES_MAX, "a value size band is out of range");
    }
    for (let i = 0; i < options.clientCount; i++) {
      this.clients.push({
        index: i,
        endpoint: firstClientEndpoint + i,
        process: i,
        believedLeader: random.pick(nodeIds),
        valueSequence: 0,
        operation: undefined,
        requestId: 0,
        attempts: 0,
        deadlineUs: 0,
        deadlineArmedUs: 0,
        lastSeen: new Map(),
      });
    }
  }

  /** Starts every client; none invokes at or after `stopInvokingAtUs`. */
  start(stopInvokingAtUs: number): void {
    this.stopInvokingAtUs = stopInvokingAtUs;
    for (const client of this.clients) this.scheduleNext(client);
  }

  /** From now on, stats.firstOkAfterMarkUs records the first ok completion (liveness after healing). */
  markPhase(): void {
    this.markUs = this.queue.timeUs;
    this.stats.firstOkAfterMarkUs = -1;
  }

  /** Ends every outstanding operation at the end of the run: writes as info, reads as fail. */
  finish(): void {
    for (const client of this.clients) {
      if (client.operation === undefined) continue;
      this.complete(client, client.operation.f === "get" ? "fail" : "info", undefined);
    }
  }

  /** The request path's outcome of request `requestId` reached client endpoint `toEndpoint`. */
  receive(toEndpoint: number, requestId: number, outcome: RequestOutcome): void {
    const client = this.clients[toEndpoint - this.firstClientEndpoint];
    assert(client !== undefined, () => `no client at endpoint ${toEndpoint}`);
    if (client.operation === undefined || requestId !== client.requestId) return; // a late reply to an attempt we gave up on
    // Every field is checked before one is read: a wrong shape is a named failure, never a TypeError here.
    const problem = outcomeProblem(client.operation, outcome);
    if (problem !== undefined) {
      this.protocolViolation(`client ${client.index} (request ${client.requestId}): ${problem}`);
      return;
    }
    this.handleOutcome(client, outcome);
  }

  private handleOutcome(client: Client, outcome: RequestOutcome): void {
    const operation = client.operation!;
    switch (outcome.status) {
      case "ok": {
        // The node that served it leads (or, for a local read, is the one asked): go there next, as after
        // a not-applied hint, so a client a wander took to a follower is not forwarded from then on.
        client.believedLeader = outcome.servedBy;
        // outcomeProblem checked that the result is of the operation's kind.
        const result = outcome.result;
        if (operation.f === "txn") {
          assert(result.kind === "txn", () => `a transaction completed with a ${result.kind} result`);
          // outcomeProblem checked one result of the micro-op's own kind per micro-op.
          const done = operation.micro.map((micro, i): TxnMicroResult => {
            const answer = result.results[i]!;
            return micro.f === "append" ? micro : { f: "r", key: micro.key, list: answer.op === "read-list" ? answer.list : [] };
          });
          this.completeTransaction(client, "ok", done);
        } else if (result.kind === "get") {
          client.lastSeen.set(operation.key, result.value);
          this.complete(client, "ok", result.value);
        } else if (result.kind === "put") {
          client.lastSeen.set(operation.key, (operation as { readonly value: string }).value);
          this.complete(client, "ok", undefined);
        } else if (result.kind === "cas") {
          client.lastSeen.set(operation.key, result.swapped ? (operation as { readonly value: string }).value : result.current);
          this.complete(client, result.swapped ? "ok" : "fail", undefined);
        } else if (result.kind === "delete") {
          // Deleted now, or absent already (deleted 0): either way the key reads as "" after it.
          client.lastSeen.set(operation.key, "");
          this.complete(client, "ok", undefined);
        } else {
          assert(false, () => `a ${operation.f} completed with a ${result.kind} result`);
        }
        return;
      }
      case "not-applied": {
        // Certainly no effect: safe to try again, at the hinted leader or the next node.
        if (outcome.leaderHint !== 0 && outcome.leaderHint !== client.believedLeader) client.believedLeader = outcome.leaderHint;
        else client.believedLeader = this.nextNode(client.believedLeader);
        if (client.attempts >= this.options.attemptsMax) {
          // Every attempt was refused, so nothing happened. For get and put that is "fail"; for cas the
          // history format reserves "fail" for "the compare failed" (an observation of the value), so a
          // cas that never ran is recorded as info: sound, if less precise.
          // A transaction refused on every attempt never applied either: "fail", which Elle reads as never committed.
          return this.complete(client, operation.f === "cas" ? "info" : "fail", undefined);
        }
        // Replies to the refused attempt are ignored from now on; the retry gets a fresh id.
        client.requestId = this.nextRequestId++;
        const retryId = client.requestId;
        // Exponential backoff (capped at 1 s), so a client waits out an election instead of burning its attempts.
        // Doubling by multiplication (exact) rather than 2 ** n; it stops at the cap, so the loop is bounded by attemptsMax and by the cap.
        let backoffMs = this.options.retryBackoffMs;
        for (let doubling = 1; doubling < client.attempts && backoffMs < 1_000; doubling++) backoffMs *= 2;
        backoffMs = Math.min(backoffMs, 1_000);
        this.queue.after(backoffMs * 1000, () => {
          if (client.requestId !== retryId || client.operation === undefined) return;
          if (this.queue.timeUs >= client.deadlineUs) return;
          this.attempt(client);
        });
        return;
      }
      case "unknown":
        // Reads have no effect, so an unknown read is simply a failed one.
        this.complete(client, operation.f === "get" ? "fail" : "info", undefined);
        return;
      default:
        return unreachable(outcome, "client outcome");
    }
  }

  private scheduleNext(client: Client): void {
    const [min, max] = this.options.thinkTimeMs;
    const delayUs = this.random.intBetween(min * 1000, max * 1000);
    this.queue.after(delayUs, () => this.invoke(client));
  }

  private invoke(client: Client): void {
    assert(client.operation === undefined, "client invokes with an operation outstanding");
    const now = this.queue.timeUs;
    if (now >= this.stopInvokingAtUs || !this.history.acceptsInvocations) return;
    if (this.transactions !== undefined && !this.transactions.acceptsInvocations) return;
    const operation = this.nextOperation(client);
    client.operation = operation;
    client.attempts = 0;
    client.deadlineUs = now + this.options.operationTimeoutMs * 1000;
    if (this.random.chance(this.options.wanderProbability)) client.believedLeader = this.random.pick(this.nodeIds);
    if (operation.f === "txn") this.transactions!.invoke(client.process, operation.micro, now);
    else {
      this.onHistory(this.history.invoke(client.process, operation.f, operation.key, writtenOf(operation), now));
    }
    this.stats.invoked++;
    this.armDeadline(client);
    this.attempt(client);
  }

  /** Arms the client's deadline event for its operation's deadline, unless one is armed (for an earlier deadline). */
  private armDeadline(client: Client): void {
    if (client.deadlineArmedUs !== 0) return;
    assert(client.deadlineUs >= this.queue.timeUs, "a client's deadline is in the past");
    client.deadlineArmedUs = client.deadlineUs;
    this.queue.at(client.deadlineUs, () => this.deadlinePassed(client));
  }

  private deadlinePassed(client: Client): void {
    assert(client.deadlineArmedUs === this.queue.timeUs, "a client's deadline event fired at another time than armed");
    client.deadlineArmedUs = 0;
    const operation = client.operation;
    if (operation === undefined) return; // the operation it was armed for ended; the next one arms its own
    if (this.queue.timeUs < client.deadlineUs) return this.armDeadline(client); // a later operation's
    // No final answer in time: a write may still apply (info); a read had no effect (fail).
    this.complete(client, operation.f === "get" ? "fail" : "info", undefined);
  }

  private attempt(client: Client): void {
    assert(client.operation !== undefined, "attempt without an operation");
    client.attempts++;
    this.stats.attempts++;
    client.requestId = this.nextRequestId++;
    this.send(client.endpoint, client.believedLeader, client.requestId, requestFor(client.operation));
  }

  private complete(client: Client, type: "ok" | "fail" | "info", readValue: string | undefined): void {
    const operation = client.operation!;
    if (operation.f === "txn") {
      assert(type !== "ok", "an ok transaction completes with its results");
      return this.completeTransaction(client, type, undefined);
    }
    const value = operation.f === "get" ? (type === "ok" ? readValue! : null) : writtenOf(operation);
    this.onHistory(this.history.complete(client.process, type, value, this.queue.timeUs));
    this.completed(client, type);
  }

  private completeTransaction(client: Client, type: "ok" | "fail" | "info", results: readonly TxnMicroResult[] | undefined): void {
    assert(client.operation?.f === "txn", "a transaction's completion for another operation");
    this.transactions!.complete(client.process, type, results, this.queue.timeUs);
    this.completed(client, type);
  }

  /** What every completion does after it is recorded: counts, a new process after info, the next operation. */
  private completed(client: Client, type: "ok" | "fail" | "info"): void {
    const now = this.queue.timeUs;
    client.operation = undefined;
    client.requestId = 0;
    if (type === "ok") {
      this.stats.ok++;
      if (now >= this.markUs && this.stats.firstOkAfterMarkUs < 0) this.stats.firstOkAfterMarkUs = now;
    } else if (type === "fail") this.stats.fail++;
    else {
      this.stats.info++;
      // The outcome is unknown, so this process stays "pending" forever; continue as a new one.
      client.process += this.options.clientCount;
      client.believedLeader = this.random.pick(this.nodeIds);
    }
    this.scheduleNext(client);
  }

  private nextOperation(client: Client): ClientOperation {
    const key = `k${this.random.intBelow(this.options.keyCount)}`;
    const { get, put, cas } = this.options.mix;
    const txn = this.options.mix.txn ?? 0;
    // Transactions, then deletes, come last in the draw, so a mix without them draws exactly as before they existed.
    const draw = this.random.intBelow(get + put + cas + txn + (this.options.mix.delete ?? 0));
    if (draw >= get + put + cas + txn) return { f: "delete", key };
    if (draw >= get + put + cas) return this.nextTransaction(client);
    if (draw < get) return { f: "get", key };
    const value = this.padded(`c${client.index}-${++client.valueSequence}`);
    if (draw < get + put) return { f: "put", key, value };
    return { f: "cas", key, expected: client.lastSeen.get(key) ?? "", value };
  }

  /** 1 to microOpsMax micro-ops on random list keys, each an append (of a unique, unpadded value) or a read. */
  private nextTransaction(client: Client): ClientOperation {
    assert((this.options.mix.txn ?? 0) > 0, "a transaction drawn from a mix without them");
    const { listKeyCount, microOpsMax } = this.options.transactions ?? defaultTransactionOptions;
    const count = 1 + this.random.intBelow(microOpsMax);
    const micro: TxnMicroOp[] = [];
    for (let i = 0; i < count; i++) {
      const key = `l${this.random.intBelow(listKeyCount)}`;
      micro.push(this.random.intBelow(2) === 0 ? { f: "append", key, value: `c${client.index}-${++client.valueSequence}` } : { f: "r", key });
    }
    return { f: "txn", micro };
  }

  /** The unique name padded with dots to a drawn size (dots never occur in a name, so padded values stay unique). */
  private padded(name: string): string {
    const { small, large, nearLimit } = this.options.valueSizes;
    // No padding at all draws nothing (like chance(0)), so such a workload's stream is the unpadded one.
    if (large.weight === 0 && nearLimit.weight === 0 && small.bytes[1] === 0) return name;
    const draw = this.random.intBelow(small.weight + large.weight + nearLimit.weight);
    const band = draw < small.weight ? small : draw < small.weight + large.weight ? large : nearLimit;
    const sizeBytes = this.random.intBetween(band.bytes[0], band.bytes[1]);
    const value = sizeBytes > name.length ? name + ".".repeat(sizeBytes - name.length) : name;
    assert(value.length <= KV_VALUE_BYTES_MAX, "a drawn value exceeds the state machine's limit");
    return value;
  }

  private nextNode(current: NodeId): NodeId {
    const at = this.nodeIds.indexOf(current);
    return this.nodeIds[(at + 1) % this.nodeIds.length]!;
  }
}

/** The history's value of a write: put's string, cas's [expected, new], null for a delete (and a get's invocation). */
function writtenOf(operation: Exclude<ClientOperation, { readonly f: "txn" }>): HistoryValue {
  switch (operation.f) {
    case "get":
    case "delete":
      return null;
    case "put":
      return operation.value;
    case "cas":
      return [operation.expected, operation.value] as const;
    default:
      return unreachable(operation, "register operation");
  }
}
