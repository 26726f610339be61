import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { Transport } from '../connection/transport';

/**
 * Adapts a `ws` WebSocket to the Transport byte stream. Frames are reassembled as a stream, so
 * one frame may hold several packets or part of one [MQTT-6.0.0-2]; a text frame closes the
 * connection [MQTT-6.0.0-1].
 */
export class WebSocketTransport extends EventEmitter implements Transport {
  readonly remoteAddress?: string;
  readonly remotePort?: number;
  private closed = false;
  /** No message has arrived yet: the first one (CONNECT) has the smaller frame limit. */
  awaitingFirstMessage = true;

  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Socket,
    /**
     * Largest first message, then largest message (bytes). ws buffers a whole frame before we see
     * it, so the CONNECT limit (max-connect-packet-size) must be its frame limit too, or a client
     * could hold max-packet-size before login. ws has one limit per server: its receiver's
     * (private) `_maxPayload` is narrowed for this socket, and restored after the first message.
     */
    private readonly frameLimits: { first: number; rest: number } | null = null,
  ) {
    super();
    if (frameLimits !== null && frameLimits.first < frameLimits.rest) this.setFrameLimit(frameLimits.first);
    this.remoteAddress = socket.remoteAddress;
    this.remotePort = socket.remotePort;
    socket.setNoDelay(true);
    ws.on('message', (data, isBinary) => {
      if (this.awaitingFirstMessage) {
        this.awaitingFirstMessage = false;
        if (this.frameLimits !== null && this.frameLimits.first < this.frameLimits.rest) this.setFrameLimit(this.frameLimits.rest);
      }
      if (!isBinary) {
        this.destroy();
        return;
      }
      this.emit('data', Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer));
    });
    ws.on('close', () => this.finish());
    ws.on('error', (err) => this.emit('error', err));
    socket.on('drain', () => this.emit('drain'));
  }

  private setFrameLimit(bytes: number): void {
    const receiver = (this.ws as unknown as { _receiver?: { _maxPayload?: unknown } })._receiver;
    if (receiver !== undefined && typeof receiver._maxPayload === 'number') receiver._maxPayload = bytes;
  }

  get writableLength(): number {
    return this.socket.writableLength + this.ws.bufferedAmount;
  }

  get destroyed(): boolean {
    return this.closed;
  }

  write(data: Buffer): boolean {
    if (this.closed) return false;
    this.ws.send(data, { binary: true });
    return this.socket.writableLength === 0 || !this.socket.writableNeedDrain;
  }

  pause(): this {
    this.ws.pause();
    return this;
  }

  resume(): this {
    this.ws.resume();
    return this;
  }

  destroySoon(): void {
    if (this.closed) return;
    this.ws.close(1000);
    // A peer that never answers the close handshake is cut off.
    setTimeout(() => this.destroy(), 2000).unref();
  }

  destroy(): this {
    if (!this.closed) this.ws.terminate();
    this.finish();
    return this;
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.emit('close');
  }
}
