// The "No Stale Read" property, checked incrementally as the history grows: a read
// never returns a value older than a write acknowledged before the read was invoked.
// (A full linearizability check lives in src/core/check; this register check is cheap
// enough to run on every completion.)
//
// Values written by the workload are unique, so a value read names its write w. The
// read is stale when some write w2 to the same key was acknowledged before the read
// was invoked and w2 was invoked after w was acknowledged: then w precedes w2 precedes
// the read in real time, and the read cannot see w. Reading the initial "" is stale
// when any write to the key was acknowledged before the read was invoked. Reading a
// value no operation could have written (never written, or only by a cas that
// failed) also breaks the property: it is the oldest kind of wrong.
//
// A delete writes "" again, which is no unique value, so a read of "" may name the initial
// state or any delete of the key. Such a read is stale only when every one of them is: no
// delete is unresolved (invoked and neither ok nor fail, which may take effect at any time),
// and some write acknowledged before the read was invoked was invoked after the last delete
// was acknowledged. A delete overwrites like any write, so it also makes older values stale.

import { assert } from "../assert.ts";
import type { HistoryEvent } from "./history.ts";

interface WriteRecord {
  readonly key: string;
  readonly invokeUs: number;
  ackUs: number; // -1 until acknowledged
  failed: boolean;
}

interface KeyWrites {
  /** Acknowledged writes in acknowledgement order (true time never goes back, so this is sorted by ackUs). */
  readonly ackUs: number[];
  /** prefixMaxInvokeUs[i] = max invokeUs over acknowledged writes 0..i; prefixValue[i] names that write. */
  readonly prefixMaxInvokeUs: number[];
  readonly prefixValue: string[];
}

/** A key's deletes, as far as a read of "" needs them. */
interface KeyDeletes {
  /** Invoked and not yet ok or fail (an info one stays unresolved for good). */
  unresolved: number;
  /** When the last acknowledged delete was acknowledged (-1: none); acknowledgements come in time order. */
  lastAckUs: number;
}

export class StaleReadChecker {
  private readonly writes = new Map<string, WriteRecord>();
  private readonly deletes = new Map<string, KeyDeletes>();
  /** The name a delete outstanding at a process goes by in `writes` (NUL never occurs in a workload's value). */
  private readonly deleteNames = new Map<number, string>();
  private deleteCount = 0;
  private readonly keys = new Map<string, KeyWrites>();
  private readonly invocations = new Map<number, HistoryEvent>();
  private checkedReads = 0;

  get readsChecked(): number {
    return this.checkedReads;
  }

  /** Feeds the next history event; returns a one-line violation, or undefined. */
  observe(event: HistoryEvent): string | undefined {
    if (event.type === "invoke") {
      this.invocations.set(event.process, event);
      if (event.f === "delete") {
        const name = `\u0000delete ${++this.deleteCount}`;
        this.deleteNames.set(event.process, name);
        this.writes.set(name, { key: event.key, invokeUs: event.time, ackUs: -1, failed: false });
        this.deletesOf(event.key).unresolved++;
      } else if (event.f !== "get") {
        const value = writtenValue(event);
        if (this.writes.has(value)) assert(false, `workload wrote the value "${value}" twice; values must be unique`);
        this.writes.set(value, { key: event.key, invokeUs: event.time, ackUs: -1, failed: false });
      }
      return undefined;
    }
    const invocation = this.invocations.get(event.process);
    assert(invocation !== undefined, "completion without invocation");
    this.invocations.delete(event.process);
    if (invocation.f === "delete") {
      const name = this.deleteNames.get(event.process)!;
      assert(name !== undefined, "a delete completes without its invocation's name");
      this.deleteNames.delete(event.process);
      const deletes = this.deletesOf(invocation.key);
      if (event.type !== "info") deletes.unresolved--;
      assert(deletes.unresolved >= 0, "more deletes resolved than invoked");
      const write = this.writes.get(name)!;
      if (event.type === "ok") {
        this.acknowledge(name, write, event.time);
        deletes.lastAckUs = event.time;
      }
      if (event.type === "fail") write.failed = true;
      return undefined;
    }
    if (invocation.f !== "get") {
      const write = this.writes.get(writtenValue(invocation))!;
      if (event.type === "ok") this.acknowledge(writtenValue(invocation), write, event.time);
      if (event.type === "fail") write.failed = true;
      return undefined;
    }
    if (event.type !== "ok") return undefined;
    this.checkedReads++;
    assert(typeof event.value === "string", "a get's ok value must be a string");
    return this.checkRead(invocation.key, event.value, invocation.time, event.time);
  }

  private acknowledge(value: string, write: WriteRecord, ackUs: number): void {
    write.ackUs = ackUs;
    let writes = this.keys.get(write.key);
    if (writes === undefined) {
      writes = { ackUs: [], prefixMaxInvokeUs: [], prefixValue: [] };
      this.keys.set(write.key, writes);
    }
    const n = writes.ackUs.length;
    assert(n === 0 || writes.ackUs[n - 1]! <= ackUs, "acknowledgements out of time order");
    const previousMax = n === 0 ? -1 : writes.prefixMaxInvokeUs[n - 1]!;
    writes.ackUs.push(ackUs);
    if (write.invokeUs > previousMax) {
      writes.prefixMaxInvokeUs.push(write.invokeUs);
      writes.prefixValue.push(value);
    } else {
      writes.prefixMaxInvokeUs.push(previousMax);
      writes.prefixValue.push(writes.prefixValue[n - 1]!);
    }
  }

  private checkRead(key: string, value: string, readInvokeUs: number, readOkUs: number): string | undefined {
    const latest = this.latestBefore(key, readInvokeUs);
    if (value === "") {
      if (latest === undefined) return undefined;
      const deletes = this.deletes.get(key);
      if (deletes === undefined) return `get ${key} invoked at ${readInvokeUs}us returned the initial "" although "${latest.value}" was acknowledged before it`;
      if (deletes.unresolved > 0 || latest.invokeUs <= deletes.lastAckUs) return undefined;
      return `get ${key} invoked at ${readInvokeUs}us returned "" although ${describeWrite(latest.value)} was acknowledged before it and invoked after the last delete was acknowledged (at ${deletes.lastAckUs}us)`;
    }
    const write = this.writes.get(value);
    if (write === undefined || write.key !== key) return `get ${key} at ${readOkUs}us returned "${value}", which no operation wrote to ${key}`;
    if (write.failed) return `get ${key} at ${readOkUs}us returned "${value}", written only by a cas that failed`;
    if (write.ackUs < 0 || latest === undefined) return undefined;
    if (write.ackUs < latest.invokeUs) {
      return `get ${key} invoked at ${readInvokeUs}us returned "${value}" (acknowledged at ${write.ackUs}us), older than ${describeWrite(latest.value)} (invoked at ${latest.invokeUs}us, acknowledged before the read)`;
    }
    return undefined;
  }

  private deletesOf(key: string): KeyDeletes {
    let deletes = this.deletes.get(key);
    if (deletes === undefined) {
      deletes = { unresolved: 0, lastAckUs: -1 };
      this.deletes.set(key, deletes);
    }
    return deletes;
  }

  /** Among writes to `key` acknowledged strictly before `timeUs`, the one invoked last. */
  private latestBefore(key: string, timeUs: number): { value: string; invokeUs: number } | undefined {
    const writes = this.keys.get(key);
    if (writes === undefined) return undefined;
    // Binary search: count of acknowledgements with ackUs < timeUs.
    let low = 0;
    let high = writes.ackUs.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (writes.ackUs[mid]! < timeUs) low = mid + 1;
      else high = mid;
    }
    if (low === 0) return undefined;
    return { value: writes.prefixValue[low - 1]!, invokeUs: writes.prefixMaxInvokeUs[low - 1]! };
  }
}

function writtenValue(event: HistoryEvent): string {
  if (event.f === "put") {
    assert(typeof event.value === "string", "put value must be a string");
    return event.value;
  }
  assert(Array.isArray(event.value), "cas value must be [expected, new]");
  return (event.value as readonly [string, string])[1];
}

/** A write as a read's report names it: its value, or "a delete". */
function describeWrite(name: string): string {
  return name.startsWith("\u0000delete ") ? "a delete" : `"${name}"`;
}
