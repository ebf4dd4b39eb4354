// The hosts of a harness run. With root and `ip`, each node gets its own network namespace
// (`bxj<pid>-n<id>`) with one veth into a bridge (`bxj<pid>-br`) in the harness's namespace; the
// bridge holds the harness's own address, so clients reach every node and are never partitioned
// (as Jepsen's control node). Partitions are nftables rules in each node's namespace (an input
// chain dropping the addresses it must not hear), so a fault touches only addresses inside the
// run's own namespaces. Without namespaces (not root, no `ip` or no `nft`) the hosts are loopback
// ports, and partitions are disabled: the caller prints which faults it cannot inject.
import { execFileSync, spawnSync } from "node:child_process";
import type { CleanupRegistry } from "./cleanup-registry.ts";

export const NAME_PREFIX = "bxj";
/** A run's names are `bxj<pid>-...`; interface names must fit Linux's 15 characters. */
export function runPrefix(pid: number): string {
  return `${NAME_PREFIX}${pid}-`;
}

/** Runs a command with a bound; throws one line naming the command and its stderr. */
export function run(command: string, args: readonly string[], timeoutMs = 10_000): string {
  const result = spawnSync(command, args, { encoding: "utf8", timeout: timeoutMs });
  if (result.error !== undefined) throw new Error(`${command} ${args.join(" ")}: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")}: exit ${result.status}: ${result.stderr.trim().split("\n")[0] ?? ""}`);
  return result.stdout;
}

function has(command: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${command}`], { encoding: "utf8" }).status === 0;
}

export type NetworkKind = "namespaces" | "loopback";

export interface NetworkAvailability {
  readonly kind: NetworkKind;
  /** Why namespaces are not used, when they are not. */
  readonly reason?: string;
}

export function probeNetwork(): NetworkAvailability {
  if (process.getuid?.() !== 0) return { kind: "loopback", reason: "not root" };
  if (!has("ip")) return { kind: "loopback", reason: "no ip command (iproute2)" };
  if (!has("nft")) return { kind: "loopback", reason: "no nft command (Debian package nftables)" };
  return { kind: "namespaces" };
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Removes namespaces and links of earlier runs whose harness process is gone (names `bxj<pid>-`). */
export function removeStale(): string[] {
  const removed: string[] = [];
  const stale = (name: string): boolean => {
    const match = /^bxj(\d+)-/.exec(name);
    return match !== null && Number(match[1]) !== process.pid && !pidAlive(Number(match[1]));
  };
  for (const line of run("ip", ["netns", "list"]).split("\n")) {
    const name = line.split(" ")[0] ?? "";
    if (stale(name)) {
      spawnSync("ip", ["netns", "pids", name], { encoding: "utf8" }).stdout?.split("\n").filter((p) => p !== "").forEach((p) => spawnSync("kill", ["-9", p]));
      spawnSync("ip", ["netns", "del", name]);
      removed.push(name);
    }
  }
  for (const line of run("ip", ["-o", "link", "show"]).split("\n")) {
    const name = /^\d+: ([^:@]+)/.exec(line)?.[1] ?? "";
    if (stale(name)) {
      spawnSync("ip", ["link", "del", name]);
      removed.push(name);
    }
  }
  return removed;
}

export interface Host {
  readonly id: number;
  /** The address the node listens on and its peers dial. */
  readonly address: string;
  /** The namespace, or undefined on loopback. */
  readonly namespace: string | undefined;
}

/** A partition: for each node id, the node ids it cannot hear from (symmetric when built by `grudge`). */
export type Grudge = ReadonlyMap<number, ReadonlySet<number>>;

export class Network {
  readonly hosts = new Map<number, Host>();
  private readonly prefix: string;
  private readonly subnet: string;

  private constructor(
    readonly kind: NetworkKind,
    private readonly cleanup: CleanupRegistry,
  ) {
    this.prefix = runPrefix(process.pid);
    // One /24 per run inside 10.77.0.0/16 (a private range this harness owns): the first one from
    // the pid's on that no interface of this machine uses (concurrent runs must not share one).
    this.subnet = `10.77.${kind === "namespaces" ? freeThirdOctet(process.pid % 250) : 0}`;
  }

  static create(kind: NetworkKind, ids: readonly number[], cleanup: CleanupRegistry): Network {
    const network = new Network(kind, cleanup);
    if (kind === "namespaces") network.build(ids);
    else for (const id of ids) network.hosts.set(id, { id, address: "127.0.0.1", namespace: undefined });
    return network;
  }

  get bridgeAddress(): string {
    return `${this.subnet}.1`;
  }

  private build(ids: readonly number[]): void {
    const bridge = `${this.prefix}br`;
    this.cleanup.tellReaper(`link ${bridge}`);
    run("ip", ["link", "add", bridge, "type", "bridge"]);
    this.cleanup.add(`link ${bridge}`, () => void run("ip", ["link", "del", bridge]));
    run("ip", ["addr", "add", `${this.bridgeAddress}/24`, "dev", bridge]);
    run("ip", ["link", "set", bridge, "up"]);
    for (const id of ids) this.addHost(id);
  }

  /** Adds a namespace host for `id` (also used for nodes that join later). */
  addHost(id: number): Host {
    if (this.kind === "loopback") {
      const host = { id, address: "127.0.0.1", namespace: undefined };
      this.hosts.set(id, host);
      return host;
    }
    if (id < 1 || id > 200) throw new Error(`node id ${id} outside 1..200 (its address is ${this.subnet}.(10+id))`);
    const namespace = `${this.prefix}n${id}`;
    const outside = `${this.prefix}v${id}`;
    this.cleanup.tellReaper(`netns ${namespace}`);
    this.cleanup.tellReaper(`link ${outside}`);
    run("ip", ["netns", "add", namespace]);
    this.cleanup.add(`netns ${namespace}`, () => {
      // Any process left in it (a node the harness lost track of) dies with it.
      for (const pid of spawnSync("ip", ["netns", "pids", namespace], { encoding: "utf8" }).stdout.split("\n").filter((p) => p !== "")) spawnSync("kill", ["-9", pid]);
      run("ip", ["netns", "del", namespace]);
    });
    run("ip", ["link", "add", outside, "type", "veth", "peer", "name", "eth0", "netns", namespace]);
    this.cleanup.add(`link ${outside}`, () => void spawnSync("ip", ["link", "del", outside]));
    run("ip", ["link", "set", outside, "master", `${this.prefix}br`]);
    run("ip", ["link", "set", outside, "up"]);
    const address = `${this.subnet}.${10 + id}`;
    const inside = (...args: string[]): string => run("ip", ["netns", "exec", namespace, ...args]);
    inside("ip", "addr", "add", `${address}/24`, "dev", "eth0");
    inside("ip", "link", "set", "lo", "up");
    inside("ip", "link", "set", "eth0", "up");
    inside("nft", "add", "table", "inet", "bxj");
    inside("nft", "add chain inet bxj input { type filter hook input priority 0 ; policy accept ; }");
    const host = { id, address, namespace };
    this.hosts.set(id, host);
    return host;
  }

  /** The command prefix that runs a program in `id`'s namespace (empty on loopback). */
  execPrefix(id: number): string[] {
    const namespace = this.hosts.get(id)?.namespace;
    return namespace === undefined ? [] : ["ip", "netns", "exec", namespace];
  }

  get canPartition(): boolean {
    return this.kind === "namespaces";
  }

  /** Replaces every node's rules with `grudge` (an empty grudge heals). */
  partition(grudge: Grudge): void {
    if (!this.canPartition) throw new Error("partitions need network namespaces");
    for (const host of this.hosts.values()) {
      const namespace = host.namespace!;
      run("ip", ["netns", "exec", namespace, "nft", "flush", "chain", "inet", "bxj", "input"]);
      const blocked = [...(grudge.get(host.id) ?? [])].map((id) => this.hosts.get(id)?.address).filter((a): a is string => a !== undefined);
      // Only addresses of this run's own namespaces are ever named in a rule.
      for (const address of blocked) if (!address.startsWith(`${this.subnet}.`) || address === this.bridgeAddress) throw new Error(`refusing to block ${address}`);
      if (blocked.length > 0) run("ip", ["netns", "exec", namespace, "nft", `add rule inet bxj input ip saddr { ${blocked.join(", ")} } drop`]);
    }
  }

  heal(): void {
    if (this.canPartition) this.partition(new Map());
  }

  /** The rules in force, for the log (namespace -> ruleset text). */
  describeRules(): string {
    if (!this.canPartition) return "";
    return [...this.hosts.values()].map((h) => `${h.namespace}: ${execFileSync("ip", ["netns", "exec", h.namespace!, "nft", "list", "chain", "inet", "bxj", "input"], { encoding: "utf8" }).replace(/\s+/g, " ")}`).join("\n");
  }
}

/** Builds a symmetric grudge from components: nodes hear only the nodes they share a component with. */
export function grudgeOf(ids: readonly number[], canHear: (a: number, b: number) => boolean): Grudge {
  const grudge = new Map<number, Set<number>>();
  for (const a of ids) {
    const blocked = new Set<number>();
    for (const b of ids) if (a !== b && !(canHear(a, b) && canHear(b, a))) blocked.add(b);
    grudge.set(a, blocked);
  }
  return grudge;
}

function freeThirdOctet(from: number): number {
  const used = new Set([...run("ip", ["-o", "-4", "addr", "show"]).matchAll(/inet 10\.77\.(\d+)\./g)].map((m) => Number(m[1])));
  for (let i = 0; i < 250; i += 1) {
    const octet = (from + i) % 250;
    if (!used.has(octet)) return octet;
  }
  throw new Error("every 10.77.X.0/24 subnet is in use");
}
