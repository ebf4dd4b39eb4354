// Simulated orchestrator users: they set up tenants (one with a tight quota, so quota races
// happen) and an IP pool, then create, stop, start, update, migrate and delete VMs, and place
// pending VMs themselves (a plan read, then its placements committed, racing the controller's
// own: half unchecked, which the state machine must recheck entry by entry, half with the
// plan's check index, which it must refuse whole when stale), through the one request path
// (cluster and cluster-read requests), as the VM API will.
// Each client runs one operation at a time against the node it believes leads, follows leader
// hints, retries what was certainly not applied (bounded), and counts outcomes. A change that
// names a VM reads it first (linearizably) for its id and generation, then sends the change with
// that generation: a compare-and-set, so concurrent users race on purpose.
// Every VM operation is recorded in the users' history (registry-history.ts) for the VM registry
// model's linearizability check: reads (a page read as one read per VM, and, when the page holds
// every VM, one read of absence per other name), creates and the changes by generation. The
// placement commits are not: they are the users standing in for the controller, whose own
// changes the model takes as happening behind the users' backs. Nor are the operator's node
// changes (mix.drain): one node at a time is drained or cordoned, and returned to ready by a
// later drain operation; once the faults have stopped the operator does nothing more, so a drain
// still in force at the end has had the liveness bound to finish (Drain Completes).

import { AssertionFailure, assert } from "../assert.ts";
import { CLUSTER_PAGE_MAX, PLAN_VMS_MAX, type ClusterReadAnswer } from "../cluster/cluster-read.ts";
import { planToCommands } from "../scheduler/plan-commands.ts";
import type { ClusterCommand, ClusterResult, CommandEnvelope, Quota, VmRecord, VmSpec } from "../cluster/types.ts";
import type { NodeId } from "../raft/types.ts";
import type { ClientRequest, RequestOutcome } from "../replica/request-types.ts";
import type { EventQueue } from "./event-queue.ts";
import type { Prng } from "./prng.ts";
import type { RegistryFunction, RegistryHistory } from "./registry-history.ts";
import { vmSpecSchema } from "../cluster/schemas.ts";
import { writeCanonical } from "../cluster/canonical-json.ts";
import { hashString } from "../check/model.ts";
import type { Value } from "../check/value.ts";

export interface OrchestratorWorkloadOptions {
  readonly clientCount: number;
  /** VM names per tenant: few, so creates collide with existing names. */
  readonly namesPerTenant: number;
  readonly thinkTimeMs: readonly [number, number];
  /** A request without an answer after this long is given up (its effect unknown). */
  readonly requestTimeoutMs: number;
  /** Attempts per request, each after a definite refusal. */
  readonly attemptsMax: number;
  readonly mix: { readonly create: number; readonly stop: number; readonly start: number; readonly update: number; readonly migrate: number; readonly delete: number; readonly place: number; readonly drain?: number };
}

export const defaultOrchestratorWorkloadOptions: OrchestratorWorkloadOptions = {
  clientCount: 2,
  namesPerTenant: 12,
  thinkTimeMs: [100, 600],
  requestTimeoutMs: 3_000,
  attemptsMax: 5,
  mix: { create: 6, stop: 1, start: 2, update: 1, migrate: 1, delete: 2, place: 2 },
};

export const SIM_TENANTS: ReadonlyArray<{ readonly name: string; readonly quota: Quota }> = [
  { name: "acme", quota: { vmsMax: 40, vcpusMax: 64, memoryMibMax: 65_536, diskGibMax: 2_000, vmsPerNodeMax: 8 } },
  // Tight: a few VMs only, so concurrent creates race for the last of it.
  { name: "tiny", quota: { vmsMax: 3, vcpusMax: 4, memoryMibMax: 4_096, diskGibMax: 40, vmsPerNodeMax: 2 } },
];

export const SIM_IP_POOL = { name: "pool-a", cidr: "10.10.0.0/27", gateway: "10.10.0.1", reserved: ["10.10.0.2"] } as const;

/**
 * Operations the users' history must keep room for while the users run: each client may be one
 * page read away from recording a read of every VM of the page and of every other name.
 */
export function registryHistoryReserve(options: OrchestratorWorkloadOptions): number {
  return options.clientCount * (CLUSTER_PAGE_MAX + SIM_TENANTS.length * options.namesPerTenant + 1);
}

export interface OrchestratorWorkloadStats {
  requests: number;
  applied: number;
  rejected: number;
  notApplied: number;
  unknown: number;
  setupDone: boolean;
}

type Operation = keyof OrchestratorWorkloadOptions["mix"];

interface Client {
  readonly index: number;
  readonly endpoint: number;
  believedLeader: NodeId;
  requestId: number;
  request: ClientRequest | undefined;
  attempts: number;
  deadline: number;
  done: ((outcome: RequestOutcome) => void) | undefined;
  created: number;
}

export class OrchestratorWorkload {
  readonly stats: OrchestratorWorkloadStats = { requests: 0, applied: 0, rejected: 0, notApplied: 0, unknown: 0, setupDone: false };
  private readonly clients: Client[] = [];
  private stopInvokingAtUs = Number.POSITIVE_INFINITY;
  private nextRequestId = 1;
  private readonly operations: Operation[];
  private readonly weights: number[];
  /** No drain or cordon starts from this time on (returning the held node to ready still does). */
  private operatorUntilUs = Number.POSITIVE_INFINITY;
  /** The node the operator has drained or cordoned (maybe: its command's outcome may be unknown). */
  private heldNode: NodeId | undefined;
  /** Whether an operator change is in flight (its answer decides what is held). */
  private operatorBusy = false;

  constructor(
    private readonly queue: EventQueue,
    private readonly random: Prng,
    private readonly nodeIds: readonly NodeId[],
    firstEndpoint: number,
    private readonly options: OrchestratorWorkloadOptions,
    private readonly send: (fromEndpoint: number, toNode: NodeId, requestId: number, request: ClientRequest) => void,
    private readonly history: RegistryHistory,
  ) {
    assert(options.clientCount >= 1 && options.attemptsMax >= 1, "an orchestrator workload has clients and attempts");
    for (let i = 0; i < options.clientCount; i++) {
      this.clients.push({ index: i, endpoint: firstEndpoint + i, believedLeader: nodeIds[0]!, requestId: 0, request: undefined, attempts: 0, deadline: 0, done: undefined, created: 0 });
    }
    this.operations = Object.keys(options.mix).sort() as Operation[];
    this.weights = this.operations.map((operation) => options.mix[operation] ?? 0);
    assert(this.weights.some((weight) => weight > 0), "some operation has weight");
  }

  /** The endpoints this workload's clients use (the world's client endpoints after the others). */
  get endpoints(): readonly number[] {
    return this.clients.map((client) => client.endpoint);
  }

  owns(endpoint: number): boolean {
    return this.clients.some((client) => client.endpoint === endpoint);
  }

  start(stopInvokingAtUs: number, operatorUntilUs: number): void {
    // Either may lie before the start (a run shorter than the liveness bound invokes nothing).
    assert(!Number.isNaN(stopInvokingAtUs) && !Number.isNaN(operatorUntilUs), () => `the workload's deadlines are times: ${stopInvokingAtUs}, ${operatorUntilUs}`);
    this.stopInvokingAtUs = stopInvokingAtUs;
    this.operatorUntilUs = operatorUntilUs;
    const first = this.clients[0]!;
    // Client 0 sets the cluster up (tenants, then the pool); then every client starts.
    const setup: ClusterCommand[] = [
      ...SIM_TENANTS.map((tenant): ClusterCommand => ({ kind: "tenant-set", name: tenant.name, quota: tenant.quota })),
      { kind: "ip-pool-create", pool: { ...SIM_IP_POOL, reserved: [...SIM_IP_POOL.reserved] } },
    ];
    const step = (i: number): void => {
      if (i === setup.length) {
        this.stats.setupDone = true;
        for (const client of this.clients) this.scheduleNext(client);
        return;
      }
      this.command(first, setup[i]!, `setup-${i}`, (result) => {
        // Applied (ok or already there) moves on; anything else tries the same step again later.
        if (result === undefined) this.queue.after(500_000, () => step(i));
        else step(i + 1);
      });
    };
    this.queue.after(200_000, () => step(0));
  }

  /** An outcome reached one of this workload's endpoints. */
  receive(endpoint: number, requestId: number, outcome: RequestOutcome): void {
    const client = this.clients.find((candidate) => candidate.endpoint === endpoint);
    assert(client !== undefined, () => `endpoint ${endpoint} is not an orchestrator client`);
    if (client.requestId !== requestId || client.done === undefined) return; // late: given up already
    if (outcome.status === "ok") client.believedLeader = outcome.servedBy;
    if (outcome.status === "not-applied") {
      this.stats.notApplied += 1;
      if (outcome.leaderHint !== 0) client.believedLeader = outcome.leaderHint;
      else client.believedLeader = this.nodeIds[this.random.intBelow(this.nodeIds.length)]!;
      if (client.attempts < this.options.attemptsMax && this.queue.timeUs < client.deadline) {
        this.queue.after(50_000 * client.attempts, () => this.attempt(client));
        return;
      }
    }
    if (outcome.status === "unknown") this.stats.unknown += 1;
    const done = client.done;
    client.done = undefined;
    done(outcome);
  }

  // ---- operations ------------------------------------------------------------------------

  private scheduleNext(client: Client): void {
    const [min, max] = this.options.thinkTimeMs;
    const delayUs = (min + this.random.intBelow(max - min + 1)) * 1000;
    if (this.queue.timeUs + delayUs >= this.stopInvokingAtUs) return;
    // A full history stops the users: an operation left out of it would make the rest unexplainable.
    if (!this.history.acceptsInvocations) return;
    this.queue.after(delayUs, () => this.invoke(client));
  }

  private invoke(client: Client): void {
    const operation = this.operations[this.pickWeighted()]!;
    const tenant = SIM_TENANTS[this.random.intBelow(SIM_TENANTS.length)]!.name;
    const name = `vm-${this.random.intBelow(this.options.namesPerTenant)}`;
    const next = (): void => this.scheduleNext(client);
    if (operation === "create") {
      client.created += 1;
      const spec = this.spec(tenant, name);
      const recorded = this.history.invoke("vm-create", `${tenant}/${name}`, [specDigest(spec), "running"], this.queue.timeUs);
      this.command(client, { kind: "vm-create", spec, desired: "running" }, `c${client.index}-create-${client.created}`, next, recorded);
      return;
    }
    if (operation === "place") return this.place(client, next);
    if (operation === "drain") return this.operate(client, next);
    this.readVm(client, tenant, name, (vm) => {
      if (vm === undefined) return next();
      const command = this.change(operation, vm);
      if (command === undefined) return next();
      const recorded = this.history.invoke(REGISTRY_FUNCTION[command.kind]!, `${vm.spec.tenant}/${vm.spec.name}`, changeValue(command), this.queue.timeUs);
      this.command(client, command, "", next, recorded);
    });
  }

  /** An index into `operations`, with probability proportional to its weight (integer draw). */
  private pickWeighted(): number {
    let total = 0;
    for (const weight of this.weights) total += weight;
    let draw = this.random.intBelow(total);
    for (let i = 0; i < this.weights.length; i++) {
      draw -= this.weights[i]!;
      if (draw < 0) return i;
    }
    return unreachableIndex();
  }

  private change(operation: Operation, vm: VmRecord): ClusterCommand | undefined {
    const expectedGeneration = vm.generation;
    switch (operation) {
      case "stop":
        return { kind: "vm-set-desired", vmId: vm.id, expectedGeneration, desired: "stopped" };
      case "start":
        return { kind: "vm-set-desired", vmId: vm.id, expectedGeneration, desired: "running" };
      case "update":
        return { kind: "vm-update", vmId: vm.id, expectedGeneration, spec: { ...vm.spec, kernelCmdline: `console=ttyS0 gen=${expectedGeneration}` } };
      case "migrate":
        return { kind: "vm-migrate", vmId: vm.id, expectedGeneration, targetNodeId: 0 };
      case "delete":
        return { kind: "vm-delete", vmId: vm.id, expectedGeneration };
      case "place":
      case "create":
      case "drain":
        return undefined;
    }
  }

  /** The operator, before operatorUntilUs: returns the held node to ready, or drains or cordons one. One change at a time. */
  private operate(client: Client, next: () => void): void {
    // Once the faults stop the held node stays as it is: a drain in force then is judged at the end.
    if (this.queue.timeUs >= this.operatorUntilUs || this.operatorBusy) return next();
    const held = this.heldNode;
    // A drain stays in force for a while (three of these operations on average), long enough to finish.
    if (held !== undefined && this.random.intBelow(3) !== 0) return next();
    const nodeId = held ?? this.nodeIds[this.random.intBelow(this.nodeIds.length)]!;
    const state = held !== undefined ? "ready" : this.random.intBelow(3) === 0 ? "cordoned" : "draining";
    // Held before the answer: an unknown outcome may still have applied, and must be undone later.
    this.heldNode = nodeId;
    this.operatorBusy = true;
    this.command(client, { kind: "node-set-state", nodeId, state }, "", (result) => {
      assert(this.operatorBusy && this.heldNode === nodeId, "one operator change at a time, on the held node");
      this.operatorBusy = false;
      // A return to ready applied, or any change the state machine refused: nothing is held.
      if ((state === "ready" && result !== undefined) || result?.status === "rejected") this.heldNode = undefined;
      next();
    });
  }

  private spec(tenant: string, name: string): VmSpec {
    const groups = ["", "db", "web"] as const;
    const group = groups[this.random.intBelow(groups.length)]!;
    return {
      tenant,
      name,
      resources: { vcpus: 1 + this.random.intBelow(2), memoryMib: 256 * (1 + this.random.intBelow(4)), diskGib: 1 + this.random.intBelow(10) },
      image: { kernel: "/images/vmlinux", initrd: "/images/initrd.img", rootDisk: "" },
      kernelCmdline: "console=ttyS0",
      interfaces: this.random.intBelow(2) === 0 ? [] : [{ mode: "user", ipPool: SIM_IP_POOL.name, portForwards: [] }],
      priority: this.random.intBelow(3) * 100,
      preemptible: this.random.intBelow(3) === 0,
      restartPolicy: "always",
      healthCheck: { kind: "process" },
      antiAffinity: group === "" ? { group: "", mode: "soft", weight: 1, maxPerNode: 1 } : group === "db" ? { group, mode: "hard", weight: 1, maxPerNode: 1 } : { group, mode: "soft", weight: 50, maxPerNode: 1 },
      constraints: [],
    };
  }

  /**
   * Reads the first page of VMs, plans one pending VM of it (drawn), and commits the plan, checked
   * or not by a coin. One VM, not all: its plan puts it where the controller's plan for all of them
   * may put another, so the two commits race for the same room.
   */
  private place(client: Client, next: () => void): void {
    const invokeUs = this.queue.timeUs;
    this.request(client, { kind: "cluster-read", read: { what: "vms", tenant: "", afterId: 0, limit: CLUSTER_PAGE_MAX } }, (outcome) => {
      if (outcome.status !== "ok" || outcome.result.kind !== "cluster-read" || outcome.result.answer.what !== "vms") return next();
      this.recordPage(outcome.result.answer.vms, outcome.result.answer.more, invokeUs);
      const pending = outcome.result.answer.vms.filter((vm) => vm.phase === "pending" && vm.desired === "running").map((vm) => vm.id);
      if (pending.length === 0) return next();
      const chosen = pending[this.random.intBelow(pending.length)]!;
      assert(PLAN_VMS_MAX >= 1, "a plan read takes at least one VM");
      this.request(client, { kind: "cluster-read", read: { what: "plan", vmIds: [chosen] } }, (planned) => {
        if (planned.status !== "ok" || planned.result.kind !== "cluster-read" || planned.result.answer.what !== "plan") return next();
        const answer = planned.result.answer;
        const split = planToCommands(answer.plan, this.random.intBelow(2) === 0 ? "controller" : "checked");
        if (split.kind !== "ok" || split.commands.length === 0) return next();
        this.command(client, split.commands[0]!, "", next);
      });
    });
  }

  /**
   * A page of every tenant's VMs, as one read per VM over the page read's interval; a page that
   * holds them all (no more) also read every other name the users use as absent.
   */
  private recordPage(vms: readonly VmRecord[], more: boolean, invokeUs: number): void {
    const seen = new Set<string>();
    for (const vm of vms) {
      const key = `${vm.spec.tenant}/${vm.spec.name}`;
      assert(!seen.has(key), () => `a page of VMs holds ${key} twice`);
      seen.add(key);
      this.history.record("vm-read", key, null, invokeUs, "ok", readValue(vm), this.queue.timeUs);
    }
    if (more) return;
    for (const tenant of SIM_TENANTS) {
      for (let i = 0; i < this.options.namesPerTenant; i++) {
        const key = `${tenant.name}/vm-${i}`;
        if (!seen.has(key)) this.history.record("vm-read", key, null, invokeUs, "ok", null, this.queue.timeUs);
      }
    }
  }

  /** A linearizable read of one VM: its record, or undefined (absent, or the read failed). */
  private readVm(client: Client, tenant: string, name: string, then: (vm: VmRecord | undefined) => void): void {
    const recorded = this.history.invoke("vm-read", `${tenant}/${name}`, null, this.queue.timeUs);
    this.request(client, { kind: "cluster-read", read: { what: "vm", tenant, name } }, (outcome) => {
      if (outcome.status !== "ok") {
        this.history.complete(recorded, outcome.status === "not-applied" ? "fail" : "info", null, this.queue.timeUs);
        return then(undefined);
      }
      assert(outcome.result.kind === "cluster-read", "a cluster read answers a cluster read");
      const answer: ClusterReadAnswer = outcome.result.answer;
      assert(answer.what === "vm", "a vm read answers a vm");
      this.history.complete(recorded, "ok", answer.vm === null ? null : readValue(answer.vm), this.queue.timeUs);
      then(answer.vm ?? undefined);
    });
  }

  /**
   * Sends a command; `then` gets the state machine's verdict, or undefined when it was not applied
   * or its fate is unknown. `recorded`: its operation in the users' history (-1: not recorded).
   */
  private command(client: Client, body: ClusterCommand, requestId: string, then: (result: ClusterResult | undefined) => void, recorded = -1): void {
    const envelope: CommandEnvelope = { stampUs: this.queue.timeUs, requestId, body };
    this.request(client, { kind: "cluster", envelope }, (outcome) => {
      if (outcome.status !== "ok") {
        if (recorded >= 0) this.history.complete(recorded, outcome.status === "not-applied" ? "fail" : "info", null, this.queue.timeUs);
        return then(undefined);
      }
      assert(outcome.result.kind === "cluster", "a cluster command answers a cluster result");
      const result = outcome.result.result;
      if (result.status === "ok") this.stats.applied += 1;
      else this.stats.rejected += 1;
      if (recorded >= 0) this.history.complete(recorded, "ok", answerValue(body, result), this.queue.timeUs);
      then(result);
    });
  }

  private request(client: Client, request: ClientRequest, done: (outcome: RequestOutcome) => void): void {
    assert(client.done === undefined, "one request per client at a time");
    client.request = request;
    client.attempts = 0;
    client.done = done;
    client.deadline = this.queue.timeUs + this.options.requestTimeoutMs * 1000;
    this.queue.after(this.options.requestTimeoutMs * 1000, () => {
      if (client.done !== done) return; // answered already (this request's `done` is unique to it)
      client.done = undefined;
      this.stats.unknown += 1;
      done({ status: "unknown", reason: "timeout", detail: "no answer before the client's deadline" });
    });
    this.attempt(client);
  }

  private attempt(client: Client): void {
    assert(client.request !== undefined, "an attempt has a request");
    if (client.done === undefined) return;
    client.attempts += 1;
    client.requestId = this.nextRequestId++;
    this.stats.requests += 1;
    this.send(client.endpoint, client.believedLeader, client.requestId, client.request);
  }
}

/** The history's functions for the commands users send by generation. */
const REGISTRY_FUNCTION: Partial<Record<ClusterCommand["kind"], RegistryFunction>> = {
  "vm-set-desired": "vm-set-desired",
  "vm-update": "vm-update",
  "vm-delete": "vm-delete",
  "vm-migrate": "vm-migrate",
};

/** A spec as the model compares it: a hash of its canonical form, in hex. */
function specDigest(spec: VmSpec): string {
  return (hashString(writeCanonical(spec, vmSpecSchema)) >>> 0).toString(16).padStart(8, "0");
}

/** What a read saw, in the model's terms: [id, generation, desired, phase, spec digest]. */
function readValue(vm: VmRecord): Value {
  assert(vm.id > 0 && vm.generation >= 1, "a VM read has an id and a generation");
  return [vm.id, vm.generation, vm.desired, vm.phase, specDigest(vm.spec)];
}

/** A change's invocation value (vm-registry.ts names each). */
function changeValue(command: ClusterCommand): Value {
  switch (command.kind) {
    case "vm-set-desired":
      return [command.vmId, command.expectedGeneration, command.desired];
    case "vm-update":
      return [command.vmId, command.expectedGeneration, specDigest(command.spec)];
    case "vm-delete":
      return [command.vmId, command.expectedGeneration];
    case "vm-migrate":
      return [command.vmId, command.expectedGeneration, command.targetNodeId];
    default:
      throw new AssertionFailure(`${command.kind} is not a change users make by generation`);
  }
}

/** The state machine's verdict in the model's terms: ["ok", id, generation] for a create, ["ok", generation] for a change, ["rejected", code]. */
function answerValue(body: ClusterCommand, result: ClusterResult): Value {
  if (result.status === "rejected") return ["rejected", result.code];
  assert(result.detail.kind === "vm", () => `${body.kind} answers its VM`);
  const vm = result.detail.vm;
  return body.kind === "vm-create" ? ["ok", vm.id, vm.generation] : ["ok", vm.generation];
}

function unreachableIndex(): never {
  throw new AssertionFailure("a weighted draw fell outside its weights");
}
