import type { Socket } from 'node:net';

/**
 * Open sockets per peer address, across all listeners of one broker (max-connections-per-address).
 * A socket is counted from accept (before TLS, the WebSocket upgrade or CONNECT: what it costs
 * starts there) until it closes. IPv6 peers are counted by their /64, the block a single host or
 * customer usually holds; loopback peers only with limit-loopback-connections.
 */
export class AddressLimit {
  private readonly open = new Map<string, number>();

  constructor(
    /** 0 = no limit. */
    readonly max: number,
    readonly includeLoopback: boolean,
  ) {}

  /** Counts `socket` against its address, or returns false (nothing counted) when the address is at the limit. */
  admit(socket: Socket): boolean {
    if (this.max <= 0) return true;
    const address = socket.remoteAddress;
    if (address === undefined) return true; // already closed: nothing to hold
    if (!this.includeLoopback && isLoopbackAddress(address)) return true;
    const key = addressKey(address);
    const n = this.open.get(key) ?? 0;
    if (n >= this.max) return false;
    this.open.set(key, n + 1);
    const counted = socket as CountedSocket;
    counted[kAddressKey] = key;
    counted[kAddressLimit] = this;
    socket.once('close', onCountedSocketClose);
    return true;
  }

  /** Sockets open from `address` (by its counting key); for tests and diagnostics. */
  count(address: string): number {
    return this.open.get(addressKey(address)) ?? 0;
  }

  release(key: string): void {
    const n = this.open.get(key);
    if (n === undefined) return;
    if (n <= 1) this.open.delete(key);
    else this.open.set(key, n - 1);
  }
}

const kAddressKey = Symbol('nestmq.addressKey');
const kAddressLimit = Symbol('nestmq.addressLimit');
type CountedSocket = Socket & { [kAddressKey]: string; [kAddressLimit]: AddressLimit };

/** One shared listener for every counted socket: no closure per connection. */
function onCountedSocketClose(this: CountedSocket): void {
  this[kAddressLimit].release(this[kAddressKey]);
}

/** 127.0.0.0/8, ::1, and IPv4 loopback as an IPv4-mapped IPv6 address. */
export function isLoopbackAddress(address: string): boolean {
  const a = address.startsWith('::ffff:') ? address.slice(7) : address;
  return a === '::1' || a.startsWith('127.');
}

/** The counting key: an IPv4 address as it is (IPv4-mapped IPv6 unwrapped), an IPv6 address by its /64. */
export function addressKey(address: string): string {
  if (address.startsWith('::ffff:') && address.includes('.')) return address.slice(7);
  if (!address.includes(':')) return address;
  const zone = address.indexOf('%');
  const a = zone >= 0 ? address.slice(0, zone) : address;
  const double = a.indexOf('::');
  let groups: string[];
  if (double < 0) groups = a.split(':');
  else {
    const head = a.slice(0, double) === '' ? [] : a.slice(0, double).split(':');
    const tail = a.slice(double + 2) === '' ? [] : a.slice(double + 2).split(':');
    groups = [...head, ...new Array<string>(Math.max(0, 8 - head.length - tail.length)).fill('0'), ...tail];
  }
  return `${groups
    .slice(0, 4)
    .map((g) => (Number.parseInt(g, 16) || 0).toString(16))
    .join(':')}::/64`;
}
