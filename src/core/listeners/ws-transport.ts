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

  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Socket,
  ) {
    super();
    this.remoteAddress = socket.remoteAddress;
    this.remotePort = socket.remotePort;
    socket.setNoDelay(true);
    ws.on('message', (data, isBinary) => {
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
