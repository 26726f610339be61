/**
 * The byte stream under one MQTT connection. `net.Socket` and `tls.TLSSocket` satisfy it as
 * they are; the WebSocket listener adapts a `ws` socket to it. Connection needs nothing else.
 */
export interface Transport {
  readonly remoteAddress?: string;
  readonly remotePort?: number;
  readonly writableLength: number;
  readonly destroyed: boolean;
  write(data: Buffer): boolean;
  pause(): this;
  resume(): this;
  /** Flush what was written, then close. */
  destroySoon(): void;
  destroy(): this;
  setNoDelay?(noDelay?: boolean): this;
  on(event: 'data', listener: (chunk: Buffer) => void): this;
  on(event: 'drain' | 'close' | 'end', listener: () => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  off(event: 'end', listener: () => void): this;
}
