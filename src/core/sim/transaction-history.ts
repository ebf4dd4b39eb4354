// The list-append transactions of the simulated clients (workload.ts, mix.txn), recorded as
// Jepsen records them and checked at the end of the run by the Elle-style checker
// (src/core/check/elle/list-append.ts): each transaction is an :txn whose value is its
// micro-operations, [append k v] and [r k list] (the list read, or nil at invocation).
//   ok    the transaction committed; its reads are known;
//   fail  it certainly never applied (every attempt refused as not-applied);
//   info  its outcome is unknown (timed out, or answered unknown): it may have applied.
// Every transaction runs as one log entry, so the history must be strict serializable; any
// weaker model is the property Transaction Isolation, with the checker's explanation.
// Separate from the key-value history (history.ts) because the register model cannot read a
// multi-key transaction, and Elle cannot read a register.

import { assert } from "../assert.ts";
import { checkListAppend, type AnomalyType, type ConsistencyModel } from "../check/elle/list-append.ts";
import { BadInputError, buildHistory, keyword, ModelInputError, type OpEvent, type Value } from "../check/index.ts";
import type { TxnMicroOp } from "./client-protocol.ts";

/** A completed micro-op: an append, or a read with the list it returned. */
export type TxnMicroResult = { readonly f: "append"; readonly key: string; readonly value: string } | { readonly f: "r"; readonly key: string; readonly list: readonly string[] };

export class TransactionHistory {
  readonly events: OpEvent[] = [];
  private readonly outstanding = new Map<number, readonly TxnMicroOp[]>();

  /** @param capacity the most events kept; invoke() refuses once fewer than `reserve` slots remain, so pending transactions can always complete. */
  constructor(
    readonly capacity: number,
    private readonly reserve: number,
  ) {
    assert(capacity > reserve && reserve >= 0, "transaction history capacity must exceed its reserve");
  }

  get acceptsInvocations(): boolean {
    return this.events.length + this.reserve < this.capacity;
  }

  invoke(process: number, micro: readonly TxnMicroOp[], time: number): void {
    assert(this.acceptsInvocations, "transaction history is full");
    assert(micro.length > 0, "a transaction without micro-operations");
    assert(!this.outstanding.has(process), () => `process ${process} already has a transaction outstanding`);
    this.outstanding.set(process, micro);
    this.push({ process, type: "invoke", f: "txn", value: micro.map(invokedMicroOp), time });
  }

  /** ok with the completed micro-ops (reads filled in); fail or info with none (the invocation's stand). */
  complete(process: number, type: "ok" | "fail" | "info", results: readonly TxnMicroResult[] | undefined, time: number): void {
    const micro = this.outstanding.get(process);
    assert(micro !== undefined, () => `process ${process} completes a transaction it never invoked`);
    assert((type === "ok") === (results !== undefined), "only an ok transaction carries results");
    if (results !== undefined) {
      assert(results.length === micro.length, "a transaction's results do not match its micro-ops");
      for (let i = 0; i < micro.length; i++) assert(results[i]!.f === micro[i]!.f && results[i]!.key === micro[i]!.key, "a result of another micro-op");
    }
    this.outstanding.delete(process);
    const value: Value = results === undefined ? micro.map(invokedMicroOp) : results.map(completedMicroOp);
    this.push({ process, type, f: "txn", value, time });
  }

  private push(event: OpEvent): void {
    assert(this.events.length < this.capacity, () => `transaction history exceeds its capacity of ${this.capacity}`);
    this.events.push(event);
  }
}

// Micro-op names are keywords, as Jepsen writes them ([:append k v], [:r k list]): Elle reads only those.
const APPEND = keyword("append");
const READ = keyword("r");

function invokedMicroOp(micro: TxnMicroOp): Value {
  return micro.f === "append" ? [APPEND, micro.key, micro.value] : [READ, micro.key, null];
}

function completedMicroOp(micro: TxnMicroResult): Value {
  return micro.f === "append" ? [APPEND, micro.key, micro.value] : [READ, micro.key, [...micro.list]];
}

export interface TransactionSummary {
  readonly transactions: number;
  /** The strongest model the history satisfies ("strict-serializable" when it is correct). */
  readonly strongestModel: ConsistencyModel;
  readonly counts: Readonly<Partial<Record<AnomalyType, number>>>;
  /** The first anomaly, with the checker's explanation, when there is one. */
  readonly firstAnomaly: string | undefined;
  /** The history could not be read as one (a simulator or protocol bug: the run reports "Client Protocol"). */
  readonly malformed: string | undefined;
}

/** Elle's verdict on the transaction history. */
export function checkTransactions(events: readonly OpEvent[]): TransactionSummary {
  try {
    const result = checkListAppend(buildHistory(events, { file: "transactions", failSemantics: "no-effect" }));
    assert(result.strongestModel !== "strict-serializable" || result.anomalies.length === 0, "a strict serializable history with anomalies");
    const first = result.anomalies[0];
    return {
      transactions: result.transactions,
      strongestModel: result.strongestModel,
      counts: result.counts,
      firstAnomaly: first === undefined ? undefined : `${first.type}: ${first.explanation.join("; ")}`,
      malformed: undefined,
    };
  } catch (error) {
    if (!(error instanceof BadInputError) && !(error instanceof ModelInputError)) throw error;
    return { transactions: 0, strongestModel: "none", counts: {}, firstAnomaly: undefined, malformed: error.message };
  }
}
