// A TxnRequest (proto) as the core's KvTxn, or the first field that is not one of the
// allowed words, named by its place (compare[2].target). The limits and the key and value
// rules are the core's (validateRequest), checked after this, on every path alike.

import { KV_COMPARE_NUMBER_TARGETS, KV_COMPARE_OPS, KV_TXN_COMPARES_MAX, KV_TXN_OPS_MAX, type KvCompare, type KvTxn, type KvTxnOp } from "../../core/replica/kv-txn.ts";
import type { TxnRequest } from "./gen/blixard/v1/kv_pb.ts";

const OPS = ["put", "delete", "get", "append", "read-list"] as const;

export function kvTxnFromProto(request: TxnRequest): KvTxn | string {
  // The counts first, so a huge request is refused before its fields are looked at.
  if (request.compare.length > KV_TXN_COMPARES_MAX) return `compare: ${request.compare.length} clauses exceeds the limit of ${KV_TXN_COMPARES_MAX}`;
  if (request.success.length > KV_TXN_OPS_MAX) return `success: ${request.success.length} operations exceeds the limit of ${KV_TXN_OPS_MAX}`;
  if (request.failure.length > KV_TXN_OPS_MAX) return `failure: ${request.failure.length} operations exceeds the limit of ${KV_TXN_OPS_MAX}`;
  const compares: KvCompare[] = [];
  for (const [i, clause] of request.compare.entries()) {
    const where = `compare[${i}]`;
    if (clause.target !== "value" && clause.target !== "exists" && !KV_COMPARE_NUMBER_TARGETS.some((known) => known === clause.target)) {
      return `${where}.target: must be one of value ${KV_COMPARE_NUMBER_TARGETS.join(" ")} exists, got "${clause.target}"`;
    }
    if (clause.target === "exists") {
      compares.push({ target: "exists", key: clause.key, exists: clause.exists });
      continue;
    }
    const op = KV_COMPARE_OPS.find((known) => known === clause.op);
    if (op === undefined) return `${where}.op: must be one of ${KV_COMPARE_OPS.join(" ")}, got "${clause.op}"`;
    if (clause.target === "value") {
      if (op !== "==" && op !== "!=") return `${where}.op: a value compare is == or !=, got "${op}"`;
      compares.push({ target: "value", key: clause.key, op, value: clause.value });
      continue;
    }
    const target = KV_COMPARE_NUMBER_TARGETS.find((known) => known === clause.target)!;
    if (clause.number > BigInt(Number.MAX_SAFE_INTEGER)) return `${where}.number: ${clause.number} is out of range`;
    compares.push({ target, key: clause.key, op, number: Number(clause.number) });
  }
  const branch = (name: string, ops: TxnRequest["success"]): KvTxnOp[] | string => {
    const out: KvTxnOp[] = [];
    for (const [i, one] of ops.entries()) {
      const op = OPS.find((known) => known === one.op);
      if (op === undefined) return `${name}[${i}].op: must be one of ${OPS.join(" ")}, got "${one.op}"`;
      if (op === "put" || op === "append") out.push({ op, key: one.key, value: one.value });
      else if (one.value !== "") return `${name}[${i}].value: a ${op} takes no value`;
      else out.push({ op, key: one.key });
    }
    return out;
  };
  const success = branch("success", request.success);
  if (typeof success === "string") return success;
  const failure = branch("failure", request.failure);
  if (typeof failure === "string") return failure;
  return { compares, success, failure };
}
