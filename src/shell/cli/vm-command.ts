// `blixard vm create|plan|list|get|start|stop|restart|delete|migrate|logs|events|watch`: the
// orchestrator's VMs through a node's VmService (docs/VM-API.md). Every write sends a fresh
// random request id (or --request-id), so a call the CLI or its user retries is applied once.
// Output: a table by default, -o json or -o yaml. Exit codes (api-output.ts, docs/OPERATIONS.md):
// 0 done, 1 not applied, 2 bad flags, 3 outcome unknown, 6 not found, 7 conflict, 8 invalid
// input (a spec file too), 9 unavailable.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { create } from "@bufbuild/protobuf";
import type { VmSpec } from "../../core/cluster/types.ts";
import {
  VmRefSchema,
  VmServiceConsoleResponseSchema,
  VmServiceCreateResponseSchema,
  VmServiceDeleteResponseSchema,
  VmServiceEventsResponseSchema,
  VmServiceGetResponseSchema,
  VmServiceListResponseSchema,
  VmServiceMigrateResponseSchema,
  VmServicePlanResponseSchema,
  VmServiceRestartResponseSchema,
  VmServiceStartResponseSchema,
  VmServiceStopResponseSchema,
  VmServiceWatchResponseSchema,
  type ClusterEvent,
  type VmRecord,
  type VmRef,
} from "../api/gen/blixard/v1/vm_pb.ts";
import { specToProto } from "../api/vm-proto.ts";
import { specFromDocument, specFromText, SPEC_DOCUMENT_BYTES_MAX } from "../api/vm-spec-input.ts";
import { addApiOptions, apiClients, EXIT_INVALID_INPUT, EXIT_NOT_APPLIED, formatMessage, formatTable, reportApiError, runApiCall, runApiCallAnswering, type ApiCommandOptions } from "./api-output.ts";
import { UsageError } from "./usage-error.ts";

/** `vm list` follows cursors for at most this many pages (50 VMs each). */
const LIST_PAGES_MAX = 200;
/** --wait polls the VM this often. */
const WAIT_POLL_MS = 500;
const WAIT_TIMEOUT_SECONDS_DEFAULT = "120";

interface VmRefOptions extends ApiCommandOptions {
  tenant?: string;
}

interface WriteOptions extends VmRefOptions {
  expectedGeneration?: string;
  requestId?: string;
}

/** NAME (with --tenant), or a VM id: an argument of digits only is an id. */
export function vmRefOf(arg: string, tenant: string | undefined): VmRef {
  if (/^\d+$/.test(arg)) {
    if (BigInt(arg) < 1n || BigInt(arg) > BigInt(Number.MAX_SAFE_INTEGER)) throw new UsageError(`vm: "${arg}" is not a valid id`);
    return create(VmRefSchema, { id: BigInt(arg), tenant: tenant ?? "" });
  }
  return create(VmRefSchema, { name: arg, tenant: tenant ?? "" });
}

function requestIdOf(options: { requestId?: string }): string {
  const given = options.requestId;
  if (given !== undefined && (given === "" || Buffer.byteLength(given) > 48)) throw new UsageError("--request-id: 1 to 48 bytes");
  return given ?? randomUUID();
}

function generationOf(options: { expectedGeneration?: string }): bigint {
  const text = options.expectedGeneration;
  if (text === undefined) return 0n;
  if (!/^\d+$/.test(text) || BigInt(text) > BigInt(Number.MAX_SAFE_INTEGER)) throw new UsageError(`--expected-generation: "${text}" is not a non-negative integer`);
  return BigInt(text);
}

function nonNegative(text: string, flag: string): bigint {
  if (!/^\d+$/.test(text) || BigInt(text) > BigInt(Number.MAX_SAFE_INTEGER)) throw new UsageError(`${flag}: "${text}" is not a non-negative integer`);
  return BigInt(text);
}

function positiveInt(text: string, flag: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1 || !Number.isSafeInteger(Number(text))) throw new UsageError(`${flag}: "${text}" is not a positive integer`);
  return Number(text);
}

/** "HOST:GUEST" or "HOST:GUEST/udp" -> a port forward of the spec document. */
export function parsePortForward(text: string): { protocol: string; hostPort: number; guestPort: number } {
  const match = /^(\d{1,5}):(\d{1,5})(?:\/(tcp|udp))?$/.exec(text);
  if (match === null) throw new UsageError(`--port: "${text}" is not HOST:GUEST (e.g. 8080:80, or 5353:53/udp)`);
  return { protocol: match[3] ?? "tcp", hostPort: Number(match[1]), guestPort: Number(match[2]) };
}

/** One line on stderr and exit 8: a spec the CLI refused before sending it. */
class InvalidSpec extends Error {}

function specFromFile(path: string): VmSpec {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new UsageError(`-f: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (text.length > SPEC_DOCUMENT_BYTES_MAX) throw new InvalidSpec(`${path}: larger than ${SPEC_DOCUMENT_BYTES_MAX} bytes`);
  const parsed = specFromText(text);
  if (!parsed.ok) throw new InvalidSpec(`${path}: ${parsed.error}`);
  return parsed.spec;
}

interface CreateOptions extends WriteOptions {
  file?: string;
  vcpus?: string;
  memory?: string;
  disk?: string;
  port: string[];
  antiAffinity?: string;
  stopped?: boolean;
  wait?: boolean;
  timeout: string;
}

/** The spec of `vm create`: from -f, or from NAME and the flags (through the same document rules). */
export function specOfCreate(name: string | undefined, options: CreateOptions): VmSpec {
  if (options.file !== undefined) {
    if (name !== undefined || options.vcpus !== undefined || options.memory !== undefined || options.disk !== undefined || options.port.length > 0 || options.antiAffinity !== undefined) {
      throw new UsageError("give -f FILE or NAME with --vcpus/--memory/..., not both");
    }
    const spec = specFromFile(options.file);
    return options.tenant === undefined ? spec : { ...spec, tenant: options.tenant };
  }
  if (name === undefined) throw new UsageError("give NAME (with --vcpus and --memory) or -f FILE");
  const document: Record<string, unknown> = {
    name,
    resources: {
      vcpus: options.vcpus === undefined ? 1 : positiveIntOrRaw(options.vcpus),
      memoryMib: options.memory === undefined ? 256 : positiveIntOrRaw(options.memory),
      diskGib: options.disk === undefined ? 0 : positiveIntOrRaw(options.disk),
    },
  };
  if (options.tenant !== undefined) document.tenant = options.tenant;
  if (options.port.length > 0) document.interfaces = [{ mode: "user", portForwards: options.port.map(parsePortForward) }];
  if (options.antiAffinity !== undefined) document.antiAffinity = { group: options.antiAffinity, mode: "hard", maxPerNode: 1 };
  const parsed = specFromDocument(document);
  if (!parsed.ok) throw new InvalidSpec(parsed.error);
  return parsed.spec;
}

/** A number flag as the document's number when it is one (so the spec rules name the field), else the text. */
function positiveIntOrRaw(text: string): number | string {
  return /^\d+$/.test(text) ? Number(text) : text;
}

// ---- tables ----------------------------------------------------------------------------

function vmRows(vms: readonly VmRecord[]): string {
  return formatTable(
    ["ID", "TENANT", "NAME", "PHASE", "DESIRED", "NODE", "VCPUS", "MEMORY", "GEN", "REASON"],
    vms.map((vm) => [
      String(vm.id),
      vm.spec?.tenant ?? "",
      vm.spec?.name ?? "",
      vm.phase,
      vm.desired,
      vm.nodeId === 0n ? "-" : String(vm.nodeId),
      String(vm.spec?.resources?.vcpus ?? 0n),
      `${vm.spec?.resources?.memoryMib ?? 0n}Mi`,
      String(vm.generation),
      vm.reason,
    ]),
  );
}

function vmDetail(vm: VmRecord | undefined): string {
  if (vm === undefined) return "";
  const spec = vm.spec;
  const forwards = (spec?.interfaces ?? []).flatMap((nic) => nic.portForwards.map((f) => `${f.hostPort}:${f.guestPort}/${f.protocol}`));
  const lines: Array<[string, string]> = [
    ["id", String(vm.id)],
    ["tenant", spec?.tenant ?? ""],
    ["name", spec?.name ?? ""],
    ["phase", vm.phase],
    ["desired", vm.desired],
    ["node", vm.nodeId === 0n ? "-" : String(vm.nodeId)],
    ["generation", String(vm.generation)],
    ["resources", `${spec?.resources?.vcpus ?? 0n} vcpus, ${spec?.resources?.memoryMib ?? 0n} MiB, ${spec?.resources?.diskGib ?? 0n} GiB disk`],
    ["image", `kernel ${spec?.image?.kernel ?? ""}, initrd ${spec?.image?.initrd ?? ""}${spec?.image?.rootDisk ? `, root disk ${spec.image.rootDisk}` : ""}`],
    ["ports", forwards.length === 0 ? "-" : forwards.join(" ")],
    ["restart policy", spec?.restartPolicy ?? ""],
    ["anti-affinity", spec?.antiAffinity?.group ? `${spec.antiAffinity.group} (${spec.antiAffinity.mode})` : "-"],
    ["observed", `${vm.observed?.phase ?? "unknown"}${vm.observed?.detail ? `: ${vm.observed.detail}` : ""}`],
    ["restarts", String(vm.restarts)],
    ["reason", vm.reason === "" ? "-" : vm.reason],
  ];
  return lines.map(([key, value]) => `${`${key}:`.padEnd(16)}${value}`).join("\n");
}

function eventRows(events: readonly ClusterEvent[]): string {
  return formatTable(
    ["INDEX", "KIND", "VM", "NODE", "DETAIL"],
    events.map((e) => [String(e.index), e.kind, e.vmId === 0n ? "-" : String(e.vmId), e.nodeId === 0n ? "-" : String(e.nodeId), e.detail]),
  );
}

function withExample(command: Command, ...examples: string[]): Command {
  return command.addHelpText("after", `\nExample${examples.length > 1 ? "s" : ""}:\n${examples.map((e) => `  $ ${e}`).join("\n")}`);
}

/** Runs a command body that may refuse a spec (exit 8) before any call. */
function guarded<Args extends unknown[]>(body: (...args: Args) => Promise<void>): (...args: Args) => Promise<void> {
  return async (...args) => {
    try {
      await body(...args);
    } catch (error) {
      if (!(error instanceof InvalidSpec)) throw error;
      process.stderr.write(`blixard: InvalidArgument: ${error.message}\n`);
      process.exitCode = EXIT_INVALID_INPUT;
    }
  };
}

async function waitForRunning(options: CreateOptions, ref: VmRef, timeoutSeconds: number): Promise<void> {
  const clients = apiClients(options);
  const started = Date.now();
  const deadline = started + timeoutSeconds * 1000;
  const tty = process.stderr.isTTY === true;
  let lastLine = "";
  const progress = (line: string, final: boolean): void => {
    if (tty) process.stderr.write(`\r\u001b[2K${line}${final ? "\n" : ""}`);
    else if (line !== lastLine || final) process.stderr.write(`${line}\n`);
    lastLine = line;
  };
  for (;;) {
    let vm: VmRecord | undefined;
    try {
      vm = (await clients.vm.get({ vm: ref })).vm;
    } catch (error) {
      if (tty) process.stderr.write("\n");
      reportApiError(error, clients);
      return;
    }
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const where = vm?.nodeId ? ` on node ${vm.nodeId}` : "";
    if (vm?.phase === "running") return progress(`vm ${vm.spec?.tenant}/${vm.spec?.name}: running${where} (${seconds} s)`, true);
    if (vm?.phase === "failed") {
      progress(`vm ${vm.spec?.tenant}/${vm.spec?.name}: failed: ${vm.reason} (${seconds} s)`, true);
      process.exitCode = EXIT_NOT_APPLIED;
      return;
    }
    // Seconds change every poll: a TTY line shows them, a log gets a line per phase only.
    const line = `waiting for vm ${vm?.spec?.tenant}/${vm?.spec?.name}: ${vm?.phase}${where}${vm?.reason ? ` (${vm.reason})` : ""}`;
    if (tty) progress(`${line} ${seconds} s`, false);
    else progress(line, false);
    if (Date.now() >= deadline) {
      if (tty) process.stderr.write("\n");
      process.stderr.write(`blixard: vm ${vm?.spec?.tenant}/${vm?.spec?.name} is still ${vm?.phase} after ${timeoutSeconds} s (--timeout); it was created and keeps going\n`);
      process.exitCode = EXIT_NOT_APPLIED;
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS));
  }
}

/** A server stream printed message by message until it ends, the user stops it, or it fails. */
async function runStream<M>(options: ApiCommandOptions, open: (clients: ReturnType<typeof apiClients>, signal: AbortSignal) => AsyncIterable<M>, print: (message: M) => void): Promise<void> {
  const clients = apiClients(options);
  const abort = new AbortController();
  const stop = (): void => abort.abort();
  process.once("SIGINT", stop);
  try {
    for await (const message of open(clients, abort.signal)) print(message);
  } catch (error) {
    if (!abort.signal.aborted) reportApiError(error, clients);
  } finally {
    process.off("SIGINT", stop);
  }
}

export function registerVmCommand(program: Command): void {
  const vm = program.command("vm").description("create, inspect and change the orchestrator's VMs (docs/VM-API.md)");
  withExample(vm, "blixard vm create web --vcpus 1 --memory 256 --wait", "blixard vm list", "blixard vm logs web -f");

  const writeOptions = (command: Command): Command =>
    addApiOptions(command)
      .option("--tenant <TENANT>", "the VM's tenant (default: a tenant token's own, else \"default\")")
      .option("--expected-generation <N>", "apply only if the VM is still at this generation (compare-and-set; default: its current one)")
      .option("--request-id <ID>", "idempotency key (default: a fresh random one per invocation)");
  const readOptions = (command: Command): Command => addApiOptions(command).option("--tenant <TENANT>", "the VM's tenant (default: a tenant token's own, else \"default\")");

  withExample(
    addApiOptions(vm.command("create [name]").description("create a VM from flags or from a spec file (-f vm.yaml); it starts unless --stopped"))
      .option("-f, --file <FILE>", "a YAML or JSON spec (docs/VM-API.md, \"The spec file\")")
      .option("--vcpus <N>", "vCPUs (default 1)")
      .option("--memory <MIB>", "memory in MiB (default 256)")
      .option("--disk <GIB>", "disk in GiB (default 0)")
      .option("--tenant <TENANT>", "the VM's tenant (default: a tenant token's own, else \"default\")")
      .option("--port <HOST:GUEST>", "forward a host port to the guest (repeatable; HOST:GUEST/udp for udp)", (value: string, all: string[]) => [...all, value], [] as string[])
      .option("--anti-affinity <GROUP>", "never on one node with another VM of this group (hard, one per node)")
      .option("--stopped", "create it with desired state stopped")
      .option("--wait", "show progress until it is running or failed (bounded by --timeout)")
      .option("--timeout <SECONDS>", "how long --wait waits", WAIT_TIMEOUT_SECONDS_DEFAULT)
      .option("--request-id <ID>", "idempotency key (default: a fresh random one per invocation)"),
    "blixard vm create web --vcpus 1 --memory 256 --port 8080:80 --wait",
    "blixard vm create -f vm.yaml",
  ).action(
    guarded(async (name: string | undefined, options: CreateOptions) => {
      const spec = specOfCreate(name, options);
      const requestId = requestIdOf(options);
      const timeoutSeconds = positiveInt(options.timeout, "--timeout");
      const response = await runApiCallAnswering(
        options,
        VmServiceCreateResponseSchema,
        (clients) => clients.vm.create({ spec: specToProto(spec), createStopped: options.stopped === true, requestId }),
        (r) => `created vm ${r.vm?.spec?.tenant}/${r.vm?.spec?.name} (id ${r.vm?.id}, ${r.vm?.phase}, index ${r.index})`,
      );
      if (response?.vm !== undefined && options.wait === true && options.stopped !== true) await waitForRunning(options, create(VmRefSchema, { id: response.vm.id }), timeoutSeconds);
    }),
  );

  withExample(
    addApiOptions(vm.command("plan").description("the scheduler's dry run for a spec: which node and why, with the check index"))
      .requiredOption("-f, --file <FILE>", "a YAML or JSON spec")
      .option("--tenant <TENANT>", "the VM's tenant")
      .option("--commit", "commit the plan's placement (an existing pending VM) if nothing changed since its check index")
      .option("--request-id <ID>", "idempotency key for --commit"),
    "blixard vm plan -f vm.yaml",
    "blixard vm plan -f vm.yaml --commit",
  ).action(
    guarded(async (options: ApiCommandOptions & { file: string; tenant?: string; commit?: boolean; requestId?: string }) => {
      const parsed = specFromFile(options.file);
      const spec = options.tenant === undefined ? parsed : { ...parsed, tenant: options.tenant };
      const requestId = requestIdOf(options);
      await runApiCall(
        options,
        VmServicePlanResponseSchema,
        (clients) => clients.vm.plan({ spec: specToProto(spec), commit: options.commit === true, requestId }),
        (r) => {
          const head = `${r.decision}${r.nodeId !== 0n ? ` on node ${r.nodeId}` : ""} (check index ${r.checkIndex}${r.vmId === 0n ? ", a new vm" : `, vm ${r.vmId}`})`;
          const why = r.explanation === "" ? [] : [`  ${r.explanation}`];
          const excluded = r.exclusions.map((x) => `  excluded by ${x.filter}: ${x.nodes} node(s)`);
          const evictions = r.evictions.map((e) => `  evicts vm ${e.vmId} (generation ${e.expectedGeneration})`);
          const committed = r.committed ? [`committed at index ${r.commitIndex}: placed ${r.placed.join(",") || "-"}, skipped ${r.skipped.join(",") || "-"}`] : [];
          return [head, ...why, ...excluded, ...evictions, ...committed].join("\n");
        },
      );
    }),
  );

  withExample(
    addApiOptions(vm.command("list").description("VMs, filtered (every page, in id order)"))
      .option("--tenant <TENANT>", "only this tenant's")
      .option("--node <ID>", "only those on this node")
      .option("--phase <PHASE>", "only those in this phase (pending, scheduled, starting, running, stopping, stopped, failed, deleting)")
      .option("--label <KEY=VALUE>", "only those constrained to nodes with this label"),
    "blixard vm list --phase running -o json",
  ).action(async (options: ApiCommandOptions & { tenant?: string; node?: string; phase?: string; label?: string }) => {
    const nodeId = options.node === undefined ? 0n : nonNegative(options.node, "--node");
    await runApiCall(
      options,
      VmServiceListResponseSchema,
      async (clients) => {
        // Every page, bounded: the answer is one list (its index is the last page's).
        const all: VmRecord[] = [];
        let cursor = 0n;
        let index = 0n;
        for (let page = 0; page < LIST_PAGES_MAX; page++) {
          const r = await clients.vm.list({ tenant: options.tenant ?? "", nodeId, phase: options.phase ?? "", label: options.label ?? "", cursor });
          all.push(...r.vms);
          index = r.index;
          cursor = r.nextCursor;
          if (cursor === 0n) break;
        }
        return create(VmServiceListResponseSchema, { vms: all, nextCursor: cursor, index });
      },
      (r) => vmRows(r.vms),
    );
  });

  withExample(readOptions(vm.command("get <vm>").description("one VM by NAME (with --tenant) or by id (digits only)")), "blixard vm get web", "blixard vm get 42 -o yaml").action(
    (arg: string, options: VmRefOptions) => runApiCall(options, VmServiceGetResponseSchema, (clients) => clients.vm.get({ vm: vmRefOf(arg, options.tenant) }), (r) => vmDetail(r.vm)),
  );

  const oneLine = (verb: string) => (r: { vm?: VmRecord; index: bigint }) => `${verb} vm ${r.vm?.spec?.tenant}/${r.vm?.spec?.name}: ${r.vm?.phase}, desired ${r.vm?.desired} (generation ${r.vm?.generation}, index ${r.index})`;

  withExample(writeOptions(vm.command("start <vm>").description("set desired running")), "blixard vm start web").action((arg: string, options: WriteOptions) =>
    runApiCall(options, VmServiceStartResponseSchema, (c) => c.vm.start({ vm: vmRefOf(arg, options.tenant), expectedGeneration: generationOf(options), requestId: requestIdOf(options) }), oneLine("started")),
  );
  withExample(writeOptions(vm.command("stop <vm>").description("set desired stopped (the node stops it gracefully)")), "blixard vm stop web").action((arg: string, options: WriteOptions) =>
    runApiCall(options, VmServiceStopResponseSchema, (c) => c.vm.stop({ vm: vmRefOf(arg, options.tenant), expectedGeneration: generationOf(options), requestId: requestIdOf(options) }), oneLine("stopped")),
  );
  withExample(
    writeOptions(vm.command("restart <vm>").description("stop, wait until stopped, start again (a cold restart in place, not a migration)")).option(
      "--stop-timeout-ms <MS>",
      "how long to wait for the stop",
      "30000",
    ),
    "blixard vm restart web",
  ).action((arg: string, options: WriteOptions & { stopTimeoutMs: string }) => {
    const stopTimeoutMs = positiveInt(options.stopTimeoutMs, "--stop-timeout-ms");
    // The stop may take the whole stop timeout: the call's own deadline must cover it.
    const timeoutMs = String(Math.max(Number(options.timeoutMs), stopTimeoutMs + 10_000));
    return runApiCall(
      { ...options, timeoutMs },
      VmServiceRestartResponseSchema,
      (c) => c.vm.restart({ vm: vmRefOf(arg, options.tenant), expectedGeneration: generationOf(options), requestId: requestIdOf(options), stopTimeoutMs }),
      oneLine("restarted"),
    );
  });
  withExample(writeOptions(vm.command("delete <vm>").description("delete a VM (its node stops it, then the record goes)")), "blixard vm delete web").action((arg: string, options: WriteOptions) =>
    runApiCall(options, VmServiceDeleteResponseSchema, (c) => c.vm.delete({ vm: vmRefOf(arg, options.tenant), expectedGeneration: generationOf(options), requestId: requestIdOf(options) }), oneLine("deleting")),
  );
  withExample(
    writeOptions(vm.command("migrate <vm>").description("cold migration: stop it where it runs, place it again")).option("--to <NODE>", "the node to move it to (default: where the scheduler says)"),
    "blixard vm migrate web --to 2",
  ).action((arg: string, options: WriteOptions & { to?: string }) =>
    runApiCall(
      options,
      VmServiceMigrateResponseSchema,
      (c) => c.vm.migrate({ vm: vmRefOf(arg, options.tenant), targetNodeId: options.to === undefined ? 0n : nonNegative(options.to, "--to"), expectedGeneration: generationOf(options), requestId: requestIdOf(options) }),
      oneLine("migrating"),
    ),
  );

  withExample(
    readOptions(vm.command("logs <vm>").description("the VM's serial console (each line stamped with the host's clock)"))
      .option("-f, --follow", "keep printing new output until Ctrl-C")
      .option("--offset <BYTES>", "start at this byte of the log", "0"),
    "blixard vm logs web -f",
  ).action((arg: string, options: VmRefOptions & { follow?: boolean; offset: string }) => {
    const ref = vmRefOf(arg, options.tenant);
    const offset = nonNegative(options.offset, "--offset");
    return runStream(
      options,
      // A followed log has no deadline of its own: Ctrl-C ends it.
      (clients, signal) => clients.vm.console({ vm: ref, offset, follow: options.follow === true }, { signal, timeoutMs: options.follow === true ? 0 : Number(options.timeoutMs) }),
      (chunk) => process.stdout.write(options.output === "table" ? chunk.text : `${formatMessage(options.output, VmServiceConsoleResponseSchema, chunk)}\n`),
    );
  });

  withExample(
    addApiOptions(vm.command("events").description("one page of cluster events (a tenant token sees its own VMs' only)"))
      .option("--after <INDEX>", "events after this index", "0")
      .option("--limit <N>", "at most this many (1..50)", "50")
      .option("--vm <ID>", "only this VM's"),
    "blixard vm events --after 120",
  ).action((options: ApiCommandOptions & { after: string; limit: string; vm?: string }) =>
    runApiCall(
      options,
      VmServiceEventsResponseSchema,
      (c) => c.vm.events({ afterIndex: nonNegative(options.after, "--after"), limit: positiveInt(options.limit, "--limit"), vmId: options.vm === undefined ? 0n : nonNegative(options.vm, "--vm") }),
      (r) => `${eventRows(r.events)}${r.truncated ? "\n(older events were dropped: list the VMs again)" : ""}\nnext: --after ${r.nextAfterIndex}`,
    ),
  );

  withExample(
    addApiOptions(vm.command("watch").description("cluster events as they happen, from an index, until Ctrl-C"))
      .option("--from <INDEX>", "events after this index (0: the oldest kept)", "0")
      .option("--vm <ID>", "only this VM's"),
    "blixard vm watch --from 120 -o json",
  ).action((options: ApiCommandOptions & { from: string; vm?: string }) => {
    const afterIndex = nonNegative(options.from, "--from");
    const vmId = options.vm === undefined ? 0n : nonNegative(options.vm, "--vm");
    return runStream(
      options,
      (clients, signal) => clients.vm.watch({ afterIndex, vmId }, { signal, timeoutMs: 0 }),
      (message) => {
        if (options.output !== "table") {
          process.stdout.write(`${formatMessage(options.output, VmServiceWatchResponseSchema, message)}\n`);
          return;
        }
        if (message.truncated) process.stdout.write("(events were dropped before they could be sent: list the VMs again)\n");
        for (const e of message.events) process.stdout.write(`${e.index}  ${e.kind}  ${e.vmId === 0n ? "-" : `vm ${e.vmId}`}  ${e.nodeId === 0n ? "-" : `node ${e.nodeId}`}  ${e.detail}\n`);
      },
    );
  });
}
