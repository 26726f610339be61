/**
 * Helpers for the MQTT 5 tests: MQTT.js clients with protocolVersion 5, and decoding of raw
 * server packets with mqtt-packet (an independent implementation of the v5 codec).
 */
import mqtt, { type IClientOptions, type IConnackPacket, type MqttClient } from 'mqtt';
import { encodePacketV5 } from '../../src/core/protocol/encoder-v5';
import { PacketType, type ConnectPacket } from '../../src/core/protocol/packets';
import type { RawPacket } from './raw';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const mqttPacket: { parser(opts: { protocolVersion: number }): { on(e: string, f: (p: unknown) => void): void; parse(b: Buffer): number } } = require('mqtt-packet');

/** A raw packet decoded as MQTT 5 by mqtt-packet. */
export function decodeV5<T = Record<string, unknown>>(p: RawPacket | Buffer): T {
  const parser = mqttPacket.parser({ protocolVersion: 5 });
  let out: unknown;
  let error: unknown;
  parser.on('packet', (x) => (out = x));
  parser.on('error', (e) => (error = e));
  parser.parse(Buffer.isBuffer(p) ? p : p.bytes);
  if (error !== undefined) throw error;
  return out as T;
}

/** A level 5 CONNECT's bytes. */
export function connectV5(o: Partial<ConnectPacket> = {}): Buffer {
  return encodePacketV5({
    type: PacketType.CONNECT,
    protocolName: 'MQTT',
    protocolLevel: 5,
    cleanSession: true,
    keepalive: 60,
    clientId: 'raw5',
    will: null,
    username: null,
    password: null,
    ...o,
  });
}

export interface V5Connected {
  client: MqttClient;
  connack: IConnackPacket;
}

/** An MQTT.js v5 client, resolved on CONNACK (rejects on a refusal). Callers end it. */
export function connectMqtt5(port: number, o: IClientOptions = {}): Promise<V5Connected> {
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000, ...o });
  return new Promise((resolve, reject) => {
    client.once('connect', (connack) => resolve({ client, connack }));
    client.once('error', (err) => {
      client.end(true);
      reject(err);
    });
  });
}

/** Ends a client gracefully (DISCONNECT) and waits for it. */
export function endGracefully(client: MqttClient): Promise<void> {
  return new Promise((resolve) => client.end(false, {}, () => resolve()));
}

/** The Reason Code of the last packet `c` received, which must be a server DISCONNECT without Session Expiry Interval (its Reason String, if any, is not checked). */
export function lastDisconnect(c: { history: RawPacket[] }): number {
  const d = decodeV5<{ cmd: string; reasonCode: number; properties?: { sessionExpiryInterval?: number } }>(c.history[c.history.length - 1]);
  if (d.cmd !== 'disconnect') throw new Error(`last packet is ${d.cmd}, not disconnect`);
  // v5 [MQTT-3.14.2-2] a server DISCONNECT never carries a Session Expiry Interval.
  if (d.properties?.sessionExpiryInterval !== undefined) throw new Error('server DISCONNECT with a Session Expiry Interval');
  return d.reasonCode;
}
