// "host:port" parsing for listen and peer addresses, with one-line errors for bad input.

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export class AddressError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AddressError";
  }
}

/** Parses "host:port" or "[v6]:port"; port 0 is allowed (pick a free port). */
export function parseHostPort(text: string): HostPort {
  const match = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(text.trim());
  if (match === null) throw new AddressError(`invalid address ${JSON.stringify(text)}: expected HOST:PORT`);
  const host = match[1] ?? match[2]!;
  const port = Number(match[3]);
  if (port > 65_535) throw new AddressError(`invalid address ${JSON.stringify(text)}: port ${port} is above 65535`);
  return { host, port };
}

export function formatHostPort(address: HostPort): string {
  return address.host.includes(":") ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}
