import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { mkdtempSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Broker, type BrokerConfigInput, type BrokerOptions } from '../../src';

/**
 * NESTMQ_TEST_BACKEND=sqlite runs every TestBroker on a fresh SQLite database (the "sqlite" jest
 * project runs the conformance suite that way), unless the test sets `persistence` itself.
 */
function backendFromEnv(config: BrokerConfigInput): BrokerConfigInput {
  if (process.env.NESTMQ_TEST_BACKEND !== 'sqlite' || config.persistence !== undefined) return {};
  const dir = mkdtempSync(join(tmpdir(), 'nestmq-test-'));
  return { persistence: { backend: 'sqlite', path: join(dir, 'nestmq.db') } };
}

/** A fresh broker on an ephemeral loopback port; `close()` stops it and every client opened through it. */
export class TestBroker {
  readonly clients: MqttClient[] = [];
  readonly sockets: net.Socket[] = [];

  private constructor(readonly broker: Broker) {}

  static async start(config: BrokerConfigInput = {}, options?: BrokerOptions): Promise<TestBroker> {
    const broker = new Broker(
      { listeners: { default: { type: 'tcp', bind: '127.0.0.1:0' } }, ...backendFromEnv(config), ...config },
      options,
    );
    await broker.start();
    return new TestBroker(broker);
  }

  get port(): number {
    return this.broker.port();
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** An MQTT.js client, connected (resolves on CONNACK). */
  async client(options: IClientOptions = {}): Promise<MqttClient> {
    const c = mqtt.connect(this.url, { reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 4, ...options });
    this.clients.push(c);
    await new Promise<void>((resolve, reject) => {
      c.once('connect', () => resolve());
      c.once('error', reject);
      c.once('close', () => reject(new Error('closed before CONNACK')));
    });
    return c;
  }

  /** A raw TCP socket to the broker. */
  async socket(): Promise<net.Socket> {
    const s = net.connect(this.port, '127.0.0.1');
    this.sockets.push(s);
    await new Promise<void>((resolve, reject) => {
      s.once('connect', resolve);
      s.once('error', reject);
    });
    return s;
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.end(true);
    for (const s of this.sockets) s.destroy();
    await this.broker.shutdown();
  }
}

/** Resolves with the next message matching the topic (or any), rejects after `ms`. */
export function nextMessage(client: MqttClient, ms = 3000): Promise<{ topic: string; payload: Buffer; packet: mqtt.IPublishPacket }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('message', on);
      reject(new Error('no message within ' + ms + ' ms'));
    }, ms);
    const on = (topic: string, payload: Buffer, packet: mqtt.IPublishPacket): void => {
      clearTimeout(timer);
      client.off('message', on);
      resolve({ topic, payload, packet });
    };
    client.on('message', on);
  });
}

/** Collects messages for `ms` milliseconds (a wall-clock window: prefer recordMessages / receivedDuring). */
export function collect(client: MqttClient, ms: number): Promise<{ topic: string; payload: Buffer; packet: mqtt.IPublishPacket }[]> {
  const got: { topic: string; payload: Buffer; packet: mqtt.IPublishPacket }[] = [];
  const on = (topic: string, payload: Buffer, packet: mqtt.IPublishPacket): void => void got.push({ topic, payload, packet });
  client.on('message', on);
  return new Promise((resolve) =>
    setTimeout(() => {
      client.off('message', on);
      resolve(got);
    }, ms),
  );
}

/**
 * A request/response with the broker that changes nothing: UNSUBSCRIBE of a filter nobody uses,
 * which the broker still answers [MQTT-3.10.4-5]. The broker handles a connection's packets in
 * order and writes its output in order, so once this resolves everything the broker had sent
 * `client` before has arrived, and everything `client` sent before has been handled.
 */
export async function roundTrip(client: MqttClient): Promise<void> {
  await client.unsubscribeAsync('nestmq-test/round-trip');
}

type Received = { topic: string; payload: Buffer; packet: mqtt.IPublishPacket };

/**
 * Starts recording the messages `client` receives; the returned function ends the recording
 * after a round trip (see roundTrip) and returns it: "what arrived" without a wall-clock window.
 */
export function recordMessages(client: MqttClient): () => Promise<Received[]> {
  const got: Received[] = [];
  const on = (topic: string, payload: Buffer, packet: mqtt.IPublishPacket): void => void got.push({ topic, payload, packet });
  client.on('message', on);
  return async () => {
    try {
      await roundTrip(client);
    } finally {
      client.off('message', on);
    }
    return got;
  };
}

/** The messages `client` receives while `action` runs, up to a round trip after it (see recordMessages). */
export async function receivedDuring(client: MqttClient, action: () => Promise<unknown> = async () => undefined): Promise<Received[]> {
  const stop = recordMessages(client);
  await action();
  return stop();
}

// Re-exported: tests import sleep from here.
export { sleep } from './wait';
