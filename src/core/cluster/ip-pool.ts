// IPv4 pools: an address and a MAC per VM interface, in integer math (an address is a number
// 0..2^32-1, never a signed 32-bit value). Never handed out: the network and broadcast
// addresses, the gateway, the reserved ones. Rule: the lowest free address first. A MAC is
// unique per (pool, address): locally administered 02, the pool's number (0..255, unique among
// existing pools), then the 32-bit address, so two pools never share a MAC even if a pool is
// removed and another takes its number (a pool is removed only when it holds no address).

import { assert } from "../assert.ts";
import type { IpPoolSpec, VmId } from "./types.ts";

const ADDRESS_SPACE = 4_294_967_296;
/** Prefixes allowed for a pool: /8 (16M addresses) to /30 (two usable). */
export const POOL_PREFIX_MIN = 8;
export const POOL_PREFIX_MAX = 30;

/** Parses dotted-quad IPv4 ("10.0.0.1"; no leading zeros, no spaces), or undefined. */
export function parseIpv4(textAddress: string): number | undefined {
  const parts = textAddress.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (part.length === 0 || part.length > 3) return undefined;
    if (part.length > 1 && part.charCodeAt(0) === 48) return undefined;
    let octet = 0;
    for (let i = 0; i < part.length; i++) {
      const c = part.charCodeAt(i);
      if (c < 48 || c > 57) return undefined;
      octet = octet * 10 + (c - 48);
    }
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  assert(value >= 0 && value < ADDRESS_SPACE, "ipv4 out of range");
  return value;
}

export function formatIpv4(address: number): string {
  assert(Number.isSafeInteger(address) && address >= 0 && address < ADDRESS_SPACE, () => `not an ipv4 address: ${address}`);
  const a = Math.floor(address / 16_777_216);
  const b = Math.floor(address / 65_536) % 256;
  const c = Math.floor(address / 256) % 256;
  return `${a}.${b}.${c}.${address % 256}`;
}

export interface Cidr {
  readonly network: number;
  readonly prefix: number;
  /** Addresses in the block, network and broadcast included. */
  readonly size: number;
}

/** Parses "A.B.C.D/P" with P in POOL_PREFIX_MIN..POOL_PREFIX_MAX and no host bits set; an error message otherwise. */
export function parseCidr(cidr: string): Cidr | string {
  const slash = cidr.indexOf("/");
  if (slash < 0) return `must be A.B.C.D/P, got ${JSON.stringify(cidr)}`;
  const network = parseIpv4(cidr.slice(0, slash));
  const prefixText = cidr.slice(slash + 1);
  if (network === undefined) return `bad address in ${JSON.stringify(cidr)}`;
  if (!/^[0-9]{1,2}$/.test(prefixText)) return `bad prefix in ${JSON.stringify(cidr)}`;
  const prefix = Number(prefixText);
  if (prefix < POOL_PREFIX_MIN || prefix > POOL_PREFIX_MAX) return `prefix must be /${POOL_PREFIX_MIN}../${POOL_PREFIX_MAX}, got /${prefix}`;
  let size = 1;
  for (let i = 0; i < 32 - prefix; i++) size *= 2;
  if (network % size !== 0) return `host bits set in ${JSON.stringify(cidr)} (network is ${formatIpv4(network - (network % size))}/${prefix})`;
  return { network, prefix, size };
}

/** Why a pool spec is not a valid pool (the message names the field), or undefined. */
export function validatePoolSpec(pool: IpPoolSpec, path: string): string | undefined {
  const cidr = parseCidr(pool.cidr);
  if (typeof cidr === "string") return `${path}.cidr: ${cidr}`;
  const gateway = parseIpv4(pool.gateway);
  if (gateway === undefined) return `${path}.gateway: not an IPv4 address, got ${JSON.stringify(pool.gateway)}`;
  const inside = (a: number): boolean => a > cidr.network && a < cidr.network + cidr.size - 1;
  if (!inside(gateway)) return `${path}.gateway: ${pool.gateway} is not a host address of ${pool.cidr}`;
  for (let i = 0; i < pool.reserved.length; i++) {
    const reserved = parseIpv4(pool.reserved[i]!);
    if (reserved === undefined) return `${path}.reserved[${i}]: not an IPv4 address, got ${JSON.stringify(pool.reserved[i])}`;
    if (!inside(reserved)) return `${path}.reserved[${i}]: ${pool.reserved[i]} is not a host address of ${pool.cidr}`;
  }
  return undefined;
}

export function formatMac(poolNumber: number, address: number): string {
  assert(Number.isInteger(poolNumber) && poolNumber >= 0 && poolNumber <= 255, "pool number out of range");
  const hex = (byte: number): string => byte.toString(16).padStart(2, "0");
  const a = Math.floor(address / 16_777_216);
  const b = Math.floor(address / 65_536) % 256;
  const c = Math.floor(address / 256) % 256;
  return `02:${hex(poolNumber)}:${hex(a)}:${hex(b)}:${hex(c)}:${hex(address % 256)}`;
}

/** One pool's addresses: which are held by which VM, and where the search for a free one starts. */
export class IpPool {
  readonly spec: IpPoolSpec;
  /** 0..255, unique among existing pools; the MAC's second byte. */
  readonly poolNumber: number;
  readonly cidr: Cidr;
  private readonly excluded = new Set<number>();
  private readonly held = new Map<number, VmId>();
  /** Every address below it is held or never handed out (the lowest-free-first search starts here). */
  private freeHint: number;

  constructor(spec: IpPoolSpec, poolNumber: number) {
    const cidr = parseCidr(spec.cidr);
    assert(typeof cidr !== "string", () => `ip pool ${spec.name}: ${String(cidr)}`);
    this.spec = spec;
    this.poolNumber = poolNumber;
    this.cidr = cidr;
    this.excluded.add(parseIpv4(spec.gateway)!);
    for (const reserved of spec.reserved) this.excluded.add(parseIpv4(reserved)!);
    this.freeHint = this.firstHost;
  }

  get firstHost(): number {
    return this.cidr.network + 1;
  }

  /** The broadcast address (never handed out). */
  get broadcast(): number {
    return this.cidr.network + this.cidr.size - 1;
  }

  get heldCount(): number {
    return this.held.size;
  }

  overlaps(other: Cidr): boolean {
    return this.cidr.network < other.network + other.size && other.network < this.cidr.network + this.cidr.size;
  }

  holder(address: number): VmId | undefined {
    return this.held.get(address);
  }

  /** Whether the pool would ever hand out this address (not network, broadcast, gateway, reserved). */
  isHostAddress(address: number): boolean {
    return address >= this.firstHost && address < this.broadcast && !this.excluded.has(address);
  }

  /**
   * The lowest free address, or undefined when the pool is exhausted. Does not hold it.
   * withoutCheck (the planted bug ip-allocated-without-check): the lowest host address, held or not.
   */
  lowestFree(withoutCheck = false): number | undefined {
    if (withoutCheck) {
      for (let a = this.firstHost; a < this.broadcast; a++) if (!this.excluded.has(a)) return a;
      return undefined;
    }
    for (let a = this.freeHint; a < this.broadcast; a++) {
      if (this.excluded.has(a) || this.held.has(a)) continue;
      this.freeHint = a;
      return a;
    }
    this.freeHint = this.broadcast;
    return undefined;
  }

  hold(address: number, vmId: VmId, withoutCheck = false): void {
    assert(this.isHostAddress(address), () => `ip pool ${this.spec.name}: ${formatIpv4(address)} is not a host address`);
    assert(withoutCheck || !this.held.has(address), () => `ip pool ${this.spec.name}: ${formatIpv4(address)} already held by vm ${this.held.get(address)}`);
    this.held.set(address, vmId);
  }

  /** lenient (only with the planted bug ip-allocated-without-check): an address another VM holds is left alone. */
  release(address: number, vmId: VmId, lenient = false): void {
    if (lenient && this.held.get(address) !== vmId) return;
    assert(this.held.get(address) === vmId, () => `ip pool ${this.spec.name}: ${formatIpv4(address)} is not held by vm ${vmId}`);
    this.held.delete(address);
    if (address < this.freeHint) this.freeHint = address;
    assert(!this.held.has(address), "ip pool release failed");
  }
}
