/**
 * An in-memory byte stream for engine tests: the server side is a `Transport` (what Connection
 * reads and writes), the other side a `MemoryClient` a test drives as the MQTT client, byte for
 * byte. No socket, no port, no kernel buffer: what the engine does with time (keepalive,
 * connect-timeout, the slow-consumer grace period) can then be tested under jest's fake timers.
 *
 * What it models of a `net.Socket`:
 * - pause()/resume(): while paused, what the client sends is buffered and delivered on resume
 *   (in order, one 'data' per client write), as a paused socket leaves bytes in the kernel.
 * - backpressure: while the client does not read (`client.stopReading()`), what the server writes
 *   stays in `writableLength`; write() returns false at or above `highWaterMark`; when the client
 *   reads, `writableLength` drops to 0 and 'drain' is emitted if a write had returned false.
 * - destroySoon(): closes once everything written was read; destroy(): closes now, dropping
 *   unread output. 'close' is emitted once, on the next tick (as net does).
 *
 * Client writes reach the server synchronously (a 'data' event inside client.send()), so a test
 * never waits for delivery; the server's output is batched on setImmediate (Engine.scheduleFlush),
 * which is why tests `await settle()` (or `client.next()`) before reading.
 */
import { EventEmitter } from 'node:events';
import type { Transport } from '../../src/core/connection/transport';
import { readPublish, toHex, type RawPacket, type ReceivedPublish } from './raw';

/** net.Socket's default writableHighWaterMark. */
const DEFAULT_HIGH_WATER_MARK = 16 * 1024;

let portSeq = 40000;

export class MemoryTransport extends EventEmitter implements Transport {
  readonly remoteAddress = '127.0.0.1';
  readonly remotePort = ++portSeq;
  destroyed = false;
  /** How often the server paused / resumed reading (what a test of backpressure asserts). */
  pauseCalls = 0;
  resumeCalls = 0;
  paused = false;
  /** The client's side of this stream. */
  readonly client: MemoryClient;

  /** Server output the client has not read yet. */
  private unread: Buffer[] = [];
  private unreadBytes = 0;
  private needDrain = false;
  /** Client input held while the server is paused. */
  private held: Buffer[] = [];
  private ending = false;
  private closeEmitted = false;

  constructor(readonly highWaterMark = DEFAULT_HIGH_WATER_MARK) {
    super();
    this.client = new MemoryClient(this);
  }

  get writableLength(): number {
    return this.unreadBytes;
  }

  // ---- Transport (the server's side) ----------------------------------------------------

  write(data: Buffer): boolean {
    if (this.destroyed || this.ending) return false;
    if (this.client.reading) {
      this.client.receive(data);
      return true;
    }
    this.unread.push(data);
    this.unreadBytes += data.length;
    if (this.unreadBytes >= this.highWaterMark) {
      this.needDrain = true;
      return false;
    }
    return true;
  }

  pause(): this {
    this.pauseCalls++;
    this.paused = true;
    return this;
  }

  resume(): this {
    this.resumeCalls++;
    this.paused = false;
    // Like a socket: what arrived while paused is delivered now, unless paused again meanwhile.
    while (!this.paused && !this.destroyed && this.held.length > 0) this.emit('data', this.held.shift()!);
    return this;
  }

  destroySoon(): void {
    if (this.destroyed) return;
    this.ending = true;
    if (this.unreadBytes === 0) this.destroy();
  }

  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.unread = [];
    this.unreadBytes = 0;
    this.held = [];
    process.nextTick(emitClose, this);
    return this;
  }

  setNoDelay(): this {
    return this;
  }

  // ---- called by the client side ------------------------------------------------------------

  /** Bytes from the client: delivered now, or held while the server is paused. */
  deliver(data: Buffer): void {
    if (this.destroyed || this.ending) return;
    if (this.paused || this.held.length > 0) this.held.push(data);
    else this.emit('data', data);
  }

  /** The client read everything pending: the buffer empties, 'drain' if a write returned false. */
  takeUnread(): Buffer[] {
    const out = this.unread;
    this.unread = [];
    this.unreadBytes = 0;
    if (this.ending && !this.destroyed) this.destroy();
    else if (this.needDrain && !this.destroyed) {
      this.needDrain = false;
      this.emit('drain');
    }
    return out;
  }

  /** Bytes the client sent that the server has not taken yet (it is paused). */
  get heldBytes(): number {
    let n = 0;
    for (const b of this.held) n += b.length;
    return n;
  }

  markClosed(): void {
    if (this.closeEmitted) return;
    this.closeEmitted = true;
    this.client.onClosed();
    this.emit('close');
  }
}

function emitClose(t: MemoryTransport): void {
  t.markClosed();
}

/** One turn of the real event loop (the engine's output batch is flushed on setImmediate). */
export function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A few event-loop turns: enough for batched output, process.nextTick closes and promise hooks. */
export async function settle(turns = 3): Promise<void> {
  for (let i = 0; i < turns; i++) await tick();
}

/**
 * The MQTT client's end of a MemoryTransport: send bytes, read framed packets. Reading is on by
 * default; `stopReading()` makes a slow reader whose unread bytes pile up on the server side.
 */
export class MemoryClient {
  /** Packets received and not yet taken. */
  readonly inbox: RawPacket[] = [];
  /** Every packet received. */
  readonly history: RawPacket[] = [];
  closed = false;
  reading = true;
  private pending: Buffer = Buffer.alloc(0);

  constructor(readonly transport: MemoryTransport) {}

  send(...data: Buffer[]): void {
    if (this.closed) throw new Error('send on a closed memory connection');
    this.transport.deliver(data.length === 1 ? data[0] : Buffer.concat(data));
  }

  /** Stop reading: the server's writes pile up in its writableLength. */
  stopReading(): void {
    this.reading = false;
  }

  /** Read everything the server wrote so far (emits 'drain' on the server side if it waited). */
  read(): void {
    for (const b of this.transport.takeUnread()) this.receive(b);
  }

  /** Read, and from now on read every write as it happens. */
  startReading(): void {
    this.reading = true;
    this.read();
  }

  /** The client goes away without DISCONNECT (a network failure, as the server sees it). */
  destroy(): void {
    this.transport.destroy();
  }

  /** Framing by the fixed header alone (type/flags byte, Remaining Length), as RawClient does. */
  receive(data: Buffer): void {
    this.pending = this.pending.length === 0 ? data : Buffer.concat([this.pending, data]);
    for (;;) {
      const p = this.pending;
      if (p.length < 2) return;
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
        if (i > 4) throw new Error(`server sent a Remaining Length over 4 bytes: ${toHex(p.subarray(0, 6))}`);
        return;
      }
      if (p.length < i + len) return;
      const bytes = p.subarray(0, i + len);
      const pkt: RawPacket = { type: p[0] >> 4, flags: p[0] & 0x0f, body: bytes.subarray(i), bytes };
      this.inbox.push(pkt);
      this.history.push(pkt);
      this.pending = p.subarray(i + len);
    }
  }

  onClosed(): void {
    this.closed = true;
  }

  /** The next packet, waiting up to `turns` event-loop turns for it; throws if none comes. */
  async next(turns = 10): Promise<RawPacket> {
    for (let i = 0; this.inbox.length === 0 && i < turns; i++) await tick();
    const p = this.inbox.shift();
    if (p === undefined) throw new Error(`no packet within ${turns} turns${this.closed ? ' (connection closed)' : ''}`);
    return p;
  }

  /** The next packet, asserting its exact bytes. */
  async expect(bytes: Buffer, turns = 10): Promise<void> {
    const p = await this.next(turns);
    expect(toHex(p.bytes)).toBe(toHex(bytes));
  }

  async nextPublish(turns = 10): Promise<ReceivedPublish> {
    return readPublish(await this.next(turns));
  }

  /** Every packet taken so far as hex (for "nothing else arrived" assertions). */
  untaken(): string[] {
    return this.inbox.map((p) => toHex(p.bytes));
  }
}
