/**
 * Raw MQTT 3.1.1 bytes for tests: a hand-written packet builder and a minimal frame reader,
 * written from the standard (chapters 2-3) and deliberately independent of src/core/protocol,
 * so that the broker's codec is never tested against itself (STYLE 9). The codec unit tests and
 * the conformance / end-to-end tests share this one module.
 *
 * Builders accept strings (encoded as UTF-8 by Node) or bytes (sent byte for byte, for the
 * ill-formed cases). The reader splits the byte stream into packets using only the fixed header
 * (type, flags, Remaining Length) and keeps every byte received, so tests can assert exact bytes,
 * "nothing arrived" and "closed without sending anything".
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import WebSocket from 'ws';
import { sleep } from './wait';

export type Text = string | Buffer;

/** `hex('C0 00')` -> <Buffer c0 00>; whitespace is ignored; anything but whole hex bytes throws. */
export function hex(s: string): Buffer {
  const clean = s.replace(/\s+/g, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(clean)) throw new Error(`bad hex: ${s}`);
  return Buffer.from(clean, 'hex');
}

/** Lower-case hex with a space between bytes, for readable assertion diffs. */
export function toHex(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');
}

function bytesOf(t: string | Uint8Array): Buffer {
  return typeof t === 'string' ? Buffer.from(t, 'utf8') : Buffer.from(t);
}

/** Remaining Length (section 2.2.3): 7 bits per byte, least significant first, top bit = more. */
export function remainingLength(n: number): number[] {
  const out: number[] = [];
  do {
    let digit = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) digit |= 0x80;
    out.push(digit);
  } while (n > 0);
  return out;
}

/** Remaining Length (section 2.2.3) as a Buffer. */
export function remainingLengthBytes(n: number): Buffer {
  return Buffer.from(remainingLength(n));
}

/** Two-byte big-endian integer. */
export function u16(n: number): Buffer {
  return Buffer.from([(n >> 8) & 0xff, n & 0xff]);
}

/** A length-prefixed field (UTF-8 string or binary data, section 1.5.3). */
export function field(t: string | Uint8Array): Buffer {
  const b = bytesOf(t);
  return Buffer.concat([u16(b.length), b]);
}

/** A packet: first byte (type << 4 | flags), Remaining Length computed from the body. */
export function packet(firstByte: number, ...body: (Buffer | number[])[]): Buffer {
  const b = Buffer.concat(body.map((x) => (Buffer.isBuffer(x) ? x : Buffer.from(x))));
  return Buffer.concat([Buffer.from([firstByte, ...remainingLength(b.length)]), b]);
}

/** First byte + minimal Remaining Length + body parts (bytes, byte arrays or hex strings). */
export function frame(firstByte: number, ...body: Array<Uint8Array | number[] | string>): Buffer {
  return packet(firstByte, ...body.map((b) => (typeof b === 'string' ? hex(b) : Buffer.from(b))));
}

/** Splits a packet into [first byte, header length, body] (valid Remaining Length assumed). */
export function unframe(bytes: Buffer): { firstByte: number; headerLength: number; body: Buffer } {
  let i = 1;
  while (bytes[i] & 0x80) i++;
  const headerLength = i + 1;
  return { firstByte: bytes[0], headerLength, body: bytes.subarray(headerLength) };
}

/** CONNECT variable header for protocol "MQTT" level 4 with the given flags and keepalive. */
export function connectHeader(flags: number, keepalive = 60): Buffer {
  return Buffer.concat([field('MQTT'), Buffer.from([4, flags]), u16(keepalive)]);
}

/** `bytes` split at the given cut points (taken modulo length + 1, deduplicated): the pieces of a random chunking. */
export function chunked(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  out.push(bytes.subarray(prev));
  return out;
}

export interface WillOptions {
  topic: Text;
  payload?: Text;
  qos?: number;
  retain?: boolean;
}

export interface ConnectOptions {
  clientId?: Text;
  clean?: boolean;
  keepalive?: number;
  will?: WillOptions;
  username?: Text;
  password?: Text;
  protocolName?: Text;
  level?: number;
  /** Replaces the computed Connect Flags byte (the payload still follows the options above). */
  flags?: number;
  /** Bytes appended after the last payload field. */
  extra?: Buffer;
}

/** CONNECT (section 3.1). Defaults: "MQTT", level 4, clean=1, keepalive 0, client id "raw". */
export function connect(o: ConnectOptions = {}): Buffer {
  const clean = o.clean ?? true;
  let flags = clean ? 0x02 : 0;
  const payload: Buffer[] = [field(o.clientId ?? 'raw')];
  if (o.will) {
    flags |= 0x04 | ((o.will.qos ?? 0) << 3) | (o.will.retain ? 0x20 : 0);
    payload.push(field(o.will.topic), field(o.will.payload ?? ''));
  }
  if (o.username !== undefined) {
    flags |= 0x80;
    payload.push(field(o.username));
  }
  if (o.password !== undefined) {
    flags |= 0x40;
    payload.push(field(o.password));
  }
  if (o.extra) payload.push(o.extra);
  return packet(
    0x10,
    field(o.protocolName ?? 'MQTT'),
    [o.level ?? 4, o.flags ?? flags],
    u16(o.keepalive ?? 0),
    ...payload,
  );
}

export interface PublishOptions {
  topic: Text;
  payload?: Text;
  qos?: number;
  retain?: boolean;
  dup?: boolean;
  /** Packet id; required by QoS 1/2 (0 is sent as given, for the violation tests). */
  id?: number;
}

/** PUBLISH (section 3.3). The packet id is present exactly when qos > 0. */
export function publish(o: PublishOptions): Buffer {
  const qos = o.qos ?? 0;
  const first = 0x30 | (o.dup ? 0x08 : 0) | (qos << 1) | (o.retain ? 0x01 : 0);
  const parts: Buffer[] = [field(o.topic)];
  if (qos > 0) parts.push(u16(o.id ?? 1));
  parts.push(bytesOf(o.payload ?? ''));
  return packet(first, ...parts);
}

/** SUBSCRIBE (flags 0010): [filter, requested QoS byte] pairs. */
export function subscribe(id: number, ...subs: [Text, number][]): Buffer {
  return packet(0x82, u16(id), ...subs.map(([f, q]) => Buffer.concat([field(f), Buffer.from([q])])));
}

/** UNSUBSCRIBE (flags 0010). */
export function unsubscribe(id: number, ...filters: Text[]): Buffer {
  return packet(0xa2, u16(id), ...filters.map(field));
}

export const puback = (id: number): Buffer => packet(0x40, u16(id));
export const pubrec = (id: number): Buffer => packet(0x50, u16(id));
export const pubrel = (id: number): Buffer => packet(0x62, u16(id));
export const pubcomp = (id: number): Buffer => packet(0x70, u16(id));
export const PINGREQ = hex('c0 00');
export const DISCONNECT = hex('e0 00');

// ---- what the server is expected to send ----

export const connack = (sessionPresent: 0 | 1, code: number): Buffer => Buffer.from([0x20, 0x02, sessionPresent, code]);
export const suback = (id: number, ...codes: number[]): Buffer => packet(0x90, u16(id), codes);
export const unsuback = (id: number): Buffer => packet(0xb0, u16(id));
export const PINGRESP = hex('d0 00');

/** Packet type numbers (section 2.2.1). */
export const T = {
  CONNECT: 1, CONNACK: 2, PUBLISH: 3, PUBACK: 4, PUBREC: 5, PUBREL: 6, PUBCOMP: 7,
  SUBSCRIBE: 8, SUBACK: 9, UNSUBSCRIBE: 10, UNSUBACK: 11, PINGREQ: 12, PINGRESP: 13, DISCONNECT: 14,
} as const;

// ---- reading ----

export interface RawPacket {
  type: number;
  flags: number;
  /** Variable header and payload. */
  body: Buffer;
  /** The whole packet as received. */
  bytes: Buffer;
}

export interface ReceivedPublish {
  topic: string;
  topicBytes: Buffer;
  payload: Buffer;
  qos: number;
  dup: boolean;
  retain: boolean;
  /** Packet id, or undefined for QoS 0 (which has none [MQTT-2.3.1-5]). */
  id: number | undefined;
  flags: number;
}

/** Decodes a received PUBLISH (section 3.3) from its fixed header flags and body. */
export function readPublish(p: RawPacket): ReceivedPublish {
  if (p.type !== T.PUBLISH) throw new Error(`expected PUBLISH, got ${toHex(p.bytes)}`);
  const b = p.body;
  const len = (b[0] << 8) | b[1];
  const topicBytes = b.subarray(2, 2 + len);
  const qos = (p.flags >> 1) & 3;
  let off = 2 + len;
  let id: number | undefined;
  if (qos > 0) {
    id = (b[off] << 8) | b[off + 1];
    off += 2;
  }
  return {
    topic: topicBytes.toString('utf8'),
    topicBytes,
    payload: b.subarray(off),
    qos,
    dup: (p.flags & 0x08) !== 0,
    retain: (p.flags & 0x01) !== 0,
    id,
    flags: p.flags,
  };
}

/** Id of an acknowledgement-shaped packet (PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK, SUBACK). */
export function idOf(p: RawPacket): number {
  return (p.body[0] << 8) | p.body[1];
}


/**
 * One raw connection (TCP socket or WebSocket). Every byte received is kept (`received`), split
 * into packets queued in `inbox` until a test takes them with next().
 */
export class RawClient {
  /** Every byte received, in order. */
  received = Buffer.alloc(0);
  /** Packets received and not yet taken by next(). */
  readonly inbox: RawPacket[] = [];
  /** Every packet received. */
  readonly history: RawPacket[] = [];
  closed = false;
  closedAt = 0;
  /** Set when the bytes received do not frame as MQTT packets (a server bug). */
  framingError: string | null = null;
  private pending = Buffer.alloc(0);
  private waiters: (() => void)[] = [];

  private constructor(
    private readonly write: (b: Buffer) => void,
    private readonly end: () => void,
    /** The WebSocket, for WebSocket clients. */
    readonly ws: WebSocket | null,
  ) {}

  /** A TCP connection; resolves once connected. */
  static tcp(port: number, host = '127.0.0.1'): Promise<RawClient> {
    const socket = net.connect(port, host);
    socket.setNoDelay(true);
    return RawClient.fromSocket(socket, 'connect');
  }

  /** A TLS connection (certificate not verified: test certificates); resolves once the handshake completed. */
  static tls(port: number, options: tls.ConnectionOptions = {}): Promise<RawClient> {
    const socket = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false, ...options });
    return RawClient.fromSocket(socket, 'secureConnect');
  }

  private static fromSocket(socket: net.Socket, ready: 'connect' | 'secureConnect'): Promise<RawClient> {
    const c = new RawClient(
      (b) => void (socket.destroyed ? undefined : socket.write(b)),
      () => void socket.destroy(),
      null,
    );
    c.resetSocket = () => void socket.resetAndDestroy();
    socket.on('data', (d) => c.onBytes(d));
    socket.on('close', () => c.onClosed());
    // ECONNRESET / EPIPE after the server closed: 'close' follows and records it.
    socket.on('error', () => undefined);
    return new Promise((resolve, reject) => {
      socket.once(ready, () => resolve(c));
      socket.once('error', reject);
    });
  }

  /** A WebSocket connection offering `protocols`; resolves once the handshake completed. */
  static websocket(url: string, protocols: string[] = ['mqtt']): Promise<RawClient> {
    const ws = new WebSocket(url, protocols);
    const c = new RawClient(
      (b) => void (ws.readyState === WebSocket.OPEN ? ws.send(b, { binary: true }) : undefined),
      () => void ws.terminate(),
      ws,
    );
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
      const b = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      if (!isBinary) c.framingError = `server sent a text frame: ${b.toString()}`;
      c.onBytes(b);
    });
    ws.on('close', () => c.onClosed());
    ws.on('error', () => c.onClosed());
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(c));
      ws.once('error', reject);
    });
  }

  private onBytes(d: Buffer): void {
    this.received = Buffer.concat([this.received, d]);
    this.pending = Buffer.concat([this.pending, d]);
    // Frame by the fixed header alone: type/flags byte, then at most 4 Remaining Length bytes.
    for (;;) {
      const p = this.pending;
      if (p.length < 2) break;
      let len = 0;
      let mul = 1;
      let i = 1;
      let complete = false;
      for (; i < p.length && i <= 4; i++) {
        len += (p[i] & 0x7f) * mul;
        mul *= 128;
        if ((p[i] & 0x80) === 0) {
          complete = true;
          i++;
          break;
        }
      }
      if (!complete) {
        if (i > 4) this.framingError = `Remaining Length over 4 bytes: ${toHex(p.subarray(0, 6))}`;
        break;
      }
      if (p.length < i + len) break;
      const bytes = p.subarray(0, i + len);
      const pkt: RawPacket = { type: p[0] >> 4, flags: p[0] & 0x0f, body: bytes.subarray(i), bytes };
      this.inbox.push(pkt);
      this.history.push(pkt);
      this.pending = p.subarray(i + len);
    }
    this.wake();
  }

  private onClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.closedAt = Date.now();
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolves when `ready()` returns a value other than undefined; rejects after `ms`. */
  private until<R>(ready: () => R | undefined, ms: number, what: () => string): Promise<R> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        let r: R | undefined;
        try {
          r = ready();
        } catch (err) {
          clearTimeout(timer);
          reject(err);
          return;
        }
        if (r !== undefined) {
          clearTimeout(timer);
          resolve(r);
        } else {
          this.waiters.push(check);
        }
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((f) => f !== check);
        reject(new Error(what()));
      }, ms);
      check();
    });
  }

  send(...data: Buffer[]): void {
    this.write(Buffer.concat(data));
  }

  /** The next packet; rejects if none arrives within `ms` or the connection closes first. */
  next(ms = 2000): Promise<RawPacket> {
    return this.until(
      () => {
        if (this.inbox.length > 0) return this.inbox.shift()!;
        if (this.closed) throw new Error(`connection closed while waiting for a packet (received so far: ${toHex(this.received)})`);
        return undefined;
      },
      ms,
      () => `no packet within ${ms} ms`,
    );
  }

  /** The next packet, asserting its exact bytes. */
  async expect(bytes: Buffer, ms = 2000): Promise<void> {
    const p = await this.next(ms);
    expect(toHex(p.bytes)).toBe(toHex(bytes));
  }

  /** The next `n` packets. */
  async take(n: number, ms = 3000): Promise<RawPacket[]> {
    const out: RawPacket[] = [];
    const deadline = Date.now() + ms;
    for (let i = 0; i < n; i++) out.push(await this.next(Math.max(1, deadline - Date.now())));
    return out;
  }

  /** The next PUBLISH, decoded. */
  async nextPublish(ms = 2000): Promise<ReceivedPublish> {
    return readPublish(await this.next(ms));
  }

  /**
   * Waits `ms` and asserts that no packet arrived (nor was left untaken). Only for what a timer
   * would cause; otherwise expectNothing() proves the same by an event, without the wait.
   */
  async nothing(ms = 200): Promise<void> {
    await sleep(ms);
    expect(this.inbox.map((p) => toHex(p.bytes))).toEqual([]);
  }

  /**
   * Asserts that nothing arrived and nothing is on its way, by an event rather than a wall-clock
   * window: a PINGREQ round trip on each open `sender` first (the broker handles a connection's
   * packets strictly in order, so once its PINGRESP is back everything that sender sent earlier
   * has been handled and routed), then one on this client, whose PINGRESP must be the very next
   * packet: the broker writes a connection's output in order, so anything queued for this client
   * earlier would arrive ahead of it. Not for time-based deliveries (retries, timers).
   */
  async expectNothing(...senders: RawClient[]): Promise<void> {
    for (const s of senders) if (!s.closed) await s.pingRoundTrip();
    expect(this.inbox.map((p) => toHex(p.bytes))).toEqual([]);
    this.send(PINGREQ);
    const p = await this.next();
    expect(toHex(p.bytes)).toBe(toHex(PINGRESP));
  }

  /**
   * Sends PINGREQ and waits for its PINGRESP, keeping any other packet that arrives first in the
   * inbox: once it resolves, the broker has handled every packet this client sent before.
   */
  async pingRoundTrip(ms = 2000): Promise<void> {
    const before = this.inbox.length;
    this.send(PINGREQ);
    await this.until(
      () => {
        const i = this.inbox.findIndex((p, k) => k >= before && p.type === T.PINGRESP);
        if (i >= 0) return this.inbox.splice(i, 1);
        if (this.closed) throw new Error('connection closed while waiting for PINGRESP');
        return undefined;
      },
      ms,
      () => `no PINGRESP within ${ms} ms`,
    );
  }

  /** The server accepted a CONNECT (sent CONNACK 0x00): PINGREQ is allowed. */
  get accepted(): boolean {
    return this.history.some((p) => p.type === T.CONNACK && p.body[1] === 0);
  }

  /** Resolves once the server closed the connection; rejects after `ms`. */
  waitClosed(ms = 2000): Promise<void> {
    return this.until(() => (this.closed ? true : undefined), ms, () => `connection still open after ${ms} ms`).then(() => undefined);
  }

  /** Asserts that the server closed the connection and sent nothing more (no untaken packet). */
  async expectClosed(ms = 2000): Promise<void> {
    await this.waitClosed(ms);
    expect(this.inbox.map((p) => toHex(p.bytes))).toEqual([]);
    expect(this.framingError).toBeNull();
  }

  /** Asserts EOF with zero bytes ever received: "closed without CONNACK". */
  async expectClosedSilently(ms = 2000): Promise<void> {
    await this.waitClosed(ms);
    expect(toHex(this.received)).toBe('');
  }

  /** Sends CONNECT and asserts the CONNACK bytes (default: accepted, Session Present 0). */
  async connect(o: ConnectOptions = {}, expected: Buffer = connack(0, 0)): Promise<void> {
    this.send(connect(o));
    await this.expect(expected);
  }

  /** SUBSCRIBE and assert the SUBACK (default: every requested QoS granted). */
  async subscribe(id: number, ...subs: [Text, number][]): Promise<void> {
    this.send(subscribe(id, ...subs));
    await this.expect(suback(id, ...subs.map(([, q]) => q)));
  }

  /** Publishes and completes the QoS flow as a client (PUBACK, or PUBREC/PUBREL/PUBCOMP). */
  async publish(o: PublishOptions): Promise<void> {
    this.send(publish(o));
    const qos = o.qos ?? 0;
    const id = o.id ?? 1;
    if (qos === 1) await this.expect(puback(id));
    if (qos === 2) {
      await this.expect(pubrec(id));
      this.send(pubrel(id));
      await this.expect(pubcomp(id));
    }
  }

  /** Closes from our side without DISCONNECT (a network failure, as far as the server knows). */
  destroy(): void {
    this.end();
  }

  /** TCP only: aborts the connection with a RST instead of a FIN. */
  reset(): void {
    if (this.resetSocket === null) throw new Error('reset() needs a TCP connection');
    this.resetSocket();
  }

  private resetSocket: (() => void) | null = null;
}
